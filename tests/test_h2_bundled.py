"""Ratio from the fits of the bundled clean and defective datasets vs their generating parameters.

Runs when the repository holds saved fits of the physical model for the bundled synthetic
datasets: ``fits/<name containing 'clean'>/summary.json`` and
``fits/<name containing 'defective'>/summary.json`` (layout: docs/h2.md §5). The generating
parameters are the ``generating_parameters`` attribute (JSON, ``interface`` block) of the
bundled dataset ``datasets/<fit folder name>*.nc`` written by
:mod:`hotcarrier.physics.simulate`, else the presets. Skipped, with the reason, while those
files are absent.
"""

import json
from pathlib import Path

import pytest

from hotcarrier.h2 import H2Inputs, h2_ratio, load_fit
from hotcarrier.physics.parameters import preset

ROOT = Path(__file__).resolve().parents[1]


def _find(role: str):
    for s in sorted((ROOT / "fits").glob("*/summary.json")):
        name = s.parent.name.lower()
        if role in name and not (role == "clean" and "defective" in name):
            return s
    return None


def _truth(summary: Path, role: str) -> H2Inputs:
    """The generating parameters (preset + the file's ``interface`` block) and true Φ_inj."""
    p = preset(role)
    for nc in sorted((ROOT / "datasets").glob(f"{summary.parent.name}*.nc")):
        xr = pytest.importorskip("xarray")
        with xr.open_dataset(nc) as ds:
            gp = ds.attrs.get("generating_parameters")
            phi = ds.attrs.get("true_injection_quantum_yield")
        if isinstance(gp, str):
            block = json.loads(gp).get("interface", {})
            p = p.replace(**{k: float(v) for k, v in block.items() if hasattr(p, k)})
            return H2Inputs(p, phi_inj=None if phi is None else float(phi))
    return H2Inputs(p)


def test_ratio_from_bundled_fits_covers_generating_ratio():
    c, d = _find("clean"), _find("defective")
    if c is None or d is None:
        pytest.skip("no saved fits of the bundled clean/defective datasets under fits/ yet")
    res = h2_ratio(str(c), str(d), n_samples=1000)
    if res.ci95 is None:
        pytest.skip(f"{c} / {d} carry no stderr: no interval to test")
    true = h2_ratio(_truth(c, "clean"), _truth(d, "defective")).value  # 517 (V11)
    lo, hi = res.ci95
    assert lo < true < hi, (res.value, res.ci95, true)


# Snapshot of the summaries that hotcarrier.physics.physfit wrote (2026-11-24) for data simulated
# from the presets (hotcarrier.physics.simulate.simulate_to_file(..., seed=1)) and fitted with
# fits/au_cds_{clean,defective}/model.toml — the layout and numbers of a real physical fit.
def _entry(v, se, unit, fixed=False):
    return {"value": v, "stderr": se, "unit": unit, "fixed": fixed}


_COMMON = {"tau_ee_fs": _entry(40.0, None, "fs", True),
           "tau_trec_ns": _entry(1.0, None, "ns", True), "phi_B_eV": _entry(0.8, None, "eV", True), "eta_rad": _entry(0.005, None, "–", True),
           "hbar_omega_eV": _entry(2.1, None, "eV", True)}
SNAPSHOT = {
    "clean": {
        "parameters": {
            "tau_bet_ps": _entry(1.99729, 0.0189691, "ps"),
            "tau_sep_ps": _entry(14.4594, 0.313705, "ps"),
            "irf_fwhm_fs": _entry(161.307, 11.9528, "fs"),
            "t0_ps": _entry(0.0607505, 0.0166587, "ps"),
            "tau_ref_ps": _entry(98.9930, 0.724336, "ps"),
            "eta_cid": _entry(0.194486, 0.00354852, "–"),
            "tau_inj_fs": _entry(32.4838, 1.64382, "fs"),
            "N_it_cm2": _entry(1e10, None, "cm⁻²", True), **_COMMON},
        "derived": {"injection_quantum_yield": {
            "value": 0.467958, "stderr": 0.00853818, "ci95": [0.451866, 0.491768],
            "ci_method": "profile likelihood (Δχ² = 3.84)"}}},
    "defective": {
        "parameters": {
            "tau_bet_ps": _entry(1.99767, 0.256892, "ps"),
            "tau_sep_ps": _entry(12.9576, 2.28947, "ps"),
            "irf_fwhm_fs": _entry(158.777, 15.8666, "fs"),
            "t0_ps": _entry(0.00536625, 0.0156044, "ps"),
            "tau_ref_ps": _entry(98.9906, 0.725159, "ps"),
            "N_it_cm2": _entry(9.65798e12, 7.02714e12, "cm⁻²"),
            "eta_cid": _entry(0.0183372, 0.00163323, "–"),
            "tau_inj_fs": _entry(331.462, 33.7059, "fs"), **_COMMON},
        "derived": {"injection_quantum_yield": {
            "value": 0.0834422, "stderr": 0.00743186, "ci95": [0.0687702, 0.0973672],
            "ci_method": "profile likelihood (Δχ² = 3.84)"}}},
}


def test_ratio_from_physical_fit_snapshot_covers_generating_ratio(tmp_path):
    paths = {}
    for role, data in SNAPSHOT.items():
        (tmp_path / role).mkdir()
        (tmp_path / role / "summary.json").write_text(json.dumps(data))
        paths[role] = str(tmp_path / role)
    res = h2_ratio(paths["clean"], paths["defective"], n_samples=1000)
    inp = load_fit(paths["defective"], base="defective")
    # instrument fields and the sub-IRF split (η_CID, τ_inj) are not propagated
    assert inp.names == ("tau_bet_ps", "tau_sep_ps", "N_it_cm2", "phi_inj")
    # Φ_inj error: the profile half-width (0.0143/1.96 = 0.00730) vs stderr 0.00743 → larger
    assert inp.cov[-1, -1] == pytest.approx(0.00743186**2)
    true = h2_ratio().value  # data simulated from the presets: 517.16
    assert round(res.value) == 477
    lo, hi = res.ci95
    assert lo < true < hi
    assert lo < res.value < hi


def test_a_fit_without_yield_or_interface_parameters_is_refused(tmp_path):
    """A global/target-analysis summary carries lifetimes only: using it as an H₂ input would
    silently predict from the preset defaults, so it is refused with the fix."""
    from hotcarrier.errors import FitResultError

    summary = {"schema": "hotcarrier.fit/1", "model": {"type": "target"}, "converged": True,
               "parameters": {"tau1": {"value": 2.0, "stderr": 0.1, "unit": "ps"}}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(FitResultError, match=r"(?s)neither an injection quantum yield.*"
                                             r"target fit.*physical-model fit"):
        load_fit(tmp_path)

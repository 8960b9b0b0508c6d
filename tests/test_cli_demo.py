"""`hotcarrier demo` (README quick start, command 1) runs end to end and prints real results.

The bundled data come from an independent numpy generator (datasets/generate.py) with known
truth: Φ_inj 0.4812 / 0.0910 (spec V1/V2) and a cross-section ratio q_ref = 1.12 that the fit
only knows as the prior 1.00 ± 0.15 — so the fitted Φ_inj is expected ≈ 11 % low and only the
total interval, which carries the prior, is asked to cover the truth."""

import json
import math
import warnings

import pytest

from hotcarrier.cli import main


@pytest.mark.slow  # ~2 min CPU: four decay models × two interfaces compiled; the default run
# fits the same bundled data with the decay route through the CLI below
def test_demo_prints_yields_and_ratio(tmp_path, capsys):
    from hotcarrier.h2 import H2Inputs, h2_ratio
    from hotcarrier.physics.parameters import preset

    rc = main(["demo", "--out", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Φ_inj" in out and "clean/defective H2 ratio" in out and "limited by" in out
    s = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    rows = s["injection_quantum_yield"]
    for name, true in (("au_cds_clean", 0.4812), ("au_cds_defective", 0.0910)):
        d = rows[name]
        assert d["true"] == true and d["true_q_ref"] == 1.12
        # the generator's truth inside the total 95 % interval
        assert d["ci95_total"][0] <= true <= d["ci95_total"][1], (name, d)
        # with the calibration error the fit cannot see divided out (Φ̂ ∝ 1/q_ref), the truth
        # is inside the statistical ⊕ model-choice interval: the decay modelling is right
        k = d["true_q_ref"] / d["q_ref_prior"][0]
        assert d["ci95"][0] * k <= true <= d["ci95"][1] * k, (name, d)
        assert d["dominant"] in d["variance_share"]
    # H₂ ratio: QE_H2 ∝ Φ_inj at 2.1 eV (no CdS absorption), so the ratio from the fits is the
    # presets' ratio scaled by the Φ_inj ratio, and its log-σ is the two Φ_inj log-σ's
    # (statistical ⊕ model choice ⊕ ρ_abs; q_ref cancels) in quadrature — the independent check
    # that the Φ_inj uncertainty is what is propagated
    c, d = rows["au_cds_clean"], rows["au_cds_defective"]
    presets = h2_ratio("clean", "defective", uncertainty="none").value
    equal_phi = h2_ratio(H2Inputs(preset("clean"), phi_inj=1.0),
                         H2Inputs(preset("defective"), phi_inj=1.0), uncertainty="none").value
    assert s["h2_ratio"]["value"] == pytest.approx(equal_phi * c["value"] / d["value"], rel=1e-6)
    sd = [math.log(r["ci95_between_samples"][1] / r["value"]) / 1.959964 for r in (c, d)]
    assert s["h2_ratio"]["stderr_log"] == pytest.approx(math.hypot(*sd), rel=1e-6)
    # the truth: the generating Φ_inj with the presets' slower steps — the presets' 517 (V11)
    assert s["h2_ratio_true"] == pytest.approx(equal_phi * 0.4812 / 0.0910, rel=1e-6)
    assert abs(s["h2_ratio_presets"] - 517) < 1.0
    assert s["h2_ratio_true"] == pytest.approx(presets, rel=2e-3)
    lo, hi = s["h2_ratio"]["ci95"]
    assert lo <= s["h2_ratio_true"] <= hi
    assert (tmp_path / "demo" / "h2_ratio.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "au_cds_clean" / "summary.json").exists()


def test_fit_cli_dispatches_physical_model_files(tmp_path, capsys):
    """``hotcarrier fit DATA --model fits/.../model.toml`` (the flexible-decay route) reports
    the total interval, which covers the generator's truth (the rigid chain's dispatch:
    tests/test_physics_fit.py)."""
    from hotcarrier.bundled import dataset_path, fits_dir
    from hotcarrier.errors import NonlinearRegimeWarning

    # the bundled file with one decay model instead of its family of four (each compiles for
    # ~15 s CPU; the family is fitted by the demo test above and tests/test_physics_decay.py)
    text = (fits_dir() / "au_cds_defective" / "model.toml").read_text(encoding="utf-8")
    assert "family = true" in text
    model = tmp_path / "model.toml"
    model.write_text(text.replace("family = true", "family = false"), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(["fit", str(dataset_path("au_cds_defective.nc")), "--model", str(model),
                   "--out", str(tmp_path / "f"), "--no-figure", "--no-report"])
    assert rc == 0
    # 37–184 absorbed photons per particle (realistic fluences): the fit says so
    assert any(issubclass(w.category, NonlinearRegimeWarning)
               and "photons per particle" in str(w.message) for w in caught)
    assert "total" in capsys.readouterr().out
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert s["model"]["route"] == "decay"
    phi = s["derived"]["injection_quantum_yield"]
    # generated with Φ_inj = 0.0910 (spec V2) and q_ref = 1.12 (datasets/generate.py)
    assert phi["ci95_total"][0] < 0.0910 < phi["ci95_total"][1]
    assert phi["ci95_statistical"][0] < phi["value"] < phi["ci95_statistical"][1]

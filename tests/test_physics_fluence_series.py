"""Φ_inj at ρ → 0 from a fluence series in the flexible-decay route (issue 12, realistic
fluences): the per-fluence t = 0⁺ amplitudes are fitted by the nonlinear amplitude model.

The data come from an independent numpy/scipy generator written here, not from the package's
model: the injected electrons per particle follow the closed form of charging (spec §6.4,
§14b) — photo-injection per absorbed photon Φ(n) = η_CID + Φ_hot·max(0, 1 − δn/(ħω − φ_B)),
each shell electron raising the barrier by δ = 8.6 mV (ħω = 2.1 eV, φ_B = 0.8 eV, η_CID = 0.20,
Φ_hot = 0.28, so Φ_inj(ρ → 0) = 0.48), integrated in closed form over the absorbed photons
N = 17.6 per µJ cm⁻² (590 nm, check V14) — and the traces are a tri-exponential decay
1.5/40/800 ps (the fit uses two exponentials + a plateau) convolved with the IRF through the
scipy kernel exp(k²σ²/2 − kτ)·Φ_N. At 2–50 µJ cm⁻² the apparent yield falls from 0.465 to
0.264 (−45 %), so a linear extrapolation of it to ρ → 0 is biased low; the nonlinear one is
not.
"""

import math
import warnings

import numpy as np
import pytest
from test_physics_decay import _multi  # the same independent scipy kernel

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.physics.fit import fit_physical
from hotcarrier.physics.modelfile import PhysicalModel

PHI0, ETA_CID = 0.48, 0.20  # true Φ_inj at ρ → 0 and its direct (charging-immune) part
SHIFT_EV, GAP_EV = 0.0086, 2.1 - 0.8  # barrier rise per electron; ħω − φ_B
PHOTONS_PER_UJ = 17.6  # ⟨N_abs⟩ per µJ cm⁻² at 590 nm (V14)
SAMPLE = [(0.5, 1.5), (0.3, 40.0), (0.2, 800.0)]
REF = [(0.6, 20.0), (0.4, 500.0)]


def injected_electrons(n_abs):
    """Electrons injected per particle after N absorbed photons (closed form of
    dn/dN = η_CID + Φ_hot·max(0, 1 − δn/gap): exponential approach, then η_CID alone once the
    barrier has risen by the whole gap)."""
    n_abs = np.asarray(n_abs, float)
    hot = PHI0 - ETA_CID
    b = hot * SHIFT_EV / GAP_EV  # per photon
    n_c = GAP_EV / SHIFT_EV  # electrons that close the hot channel
    n_at = PHI0 / b * (1 - math.exp(-b * 1e300)) if b * n_c >= PHI0 else None
    N_c = -math.log1p(-b * n_c / PHI0) / b if n_at is None else math.inf
    early = PHI0 * -np.expm1(-b * np.minimum(n_abs, N_c)) / b
    return np.where(n_abs <= N_c, early, n_c + ETA_CID * (n_abs - N_c))


def _series(fluences, t, noise, seed):
    """Sample traces at ``fluences`` (µJ cm⁻²; ρ_abs = 2e11 cm⁻³ per µJ cm⁻²) and a reference,
    κ = 1 mOD per 10¹² cm⁻³, q_ref = 1."""
    rng = np.random.default_rng(seed)
    out = {}
    shape = _multi(t, SAMPLE, 0.03)
    w = np.full((t.size, 1), 1 / noise)
    for f in fluences:
        n_abs = PHOTONS_PER_UJ * f
        phi_app = injected_electrons(n_abs) / n_abs
        rho = 0.2 * f
        y = phi_app * rho * shape + rng.normal(0, noise, t.size)
        out[f"s{f:g}"] = make_ta_dataset(
            t, [4800.0], y[:, None], signal_units="mOD", weight=w,
            attrs={"hotcarrier_role": "sample", "probe": "midir",
                   "absorbed_photon_density_cm3": rho * 1e12, "pump_fluence_uJ_cm2": float(f),
                   "pump_wavelength_nm": 590.0})
    y = _multi(t, REF, -0.02) + rng.normal(0, noise, t.size)
    out["ref"] = make_ta_dataset(
        t, [4800.0], y[:, None], signal_units="mOD", weight=w,
        attrs={"hotcarrier_role": "reference", "probe": "midir",
               "absorbed_photon_density_cm3": 1e12, "pump_absorbance": 0.3})
    return out


def _model(family=False, charging="auto"):
    return PhysicalModel.from_dict({
        "model": {"type": "hotcarrier"},
        "free": {"injection_quantum_yield": [0.001, 2.0], "irf_fwhm_fs": [80.0, 250.0],
                 "t0_ps": [-0.3, 0.3], "t0_ref_ps": [-0.3, 0.3]},
        "decay": {"sample": "exp2", "reference": "exp2", "rise": False, "family": family,
                  "fluence_extrapolation": "nonlinear", "charging": charging},
        "systematics": {"q_ref": [1.0, 0.15], "sample": {"fluence": 0.05}},
        "uncertainty": {"profile": False}, "fit": {"max_iter": 100}})


def test_generator_matches_spec_table():
    """The closed form gives the §6.4 charging drop within its stated overestimate: Φ_app
    0.474 / 0.416 at 1 / 10 µJ cm⁻² in the ODE; the closed form is a little lower."""
    n = PHOTONS_PER_UJ * np.array([1.0, 10.0, 50.0])
    phi = injected_electrons(n) / n
    assert 0.465 < phi[0] < 0.475 and 0.40 < phi[1] < 0.416 and 0.24 < phi[2] < 0.29
    assert math.isclose(injected_electrons(1e-3) / 1e-3, PHI0, rel_tol=1e-4)


def test_nonlinear_fluence_extrapolation_recovers_phi():
    """Four fluences 2–50 µJ cm⁻², small traces at the issue's realistic signal-to-noise (25 on
    the strongest trace): the nonlinear extrapolation covers 0.48 with its statistical interval
    (measured 0.454 [0.404, 0.510]); the linear one is low and its interval misses (0.416
    [0.385, 0.446])."""
    t = np.concatenate([np.linspace(-0.6, -0.1, 4), np.arange(20) * 0.08,
                        np.geomspace(1.7, 1500.0, 24)])
    ds = _series([2.0, 10.0, 25.0, 50.0], t, noise=0.1, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_physical(ds, _model())
    d = res.derived["injection_quantum_yield"]
    ex = d["fluence_extrapolation"]
    assert ex["method"] == "nonlinear" and ex["charging_free"]
    lo, hi = d["ci95_statistical"]
    assert lo < PHI0 < hi and abs(d["value"] / PHI0 - 1) < 0.1
    lin = ex["linear"]
    assert lin["value"] < 0.9 * PHI0 and lin["ci95"][1] < PHI0
    assert ex["nonlinear_vs_linear_relative"] > 0.05  # Φ_nl / Φ_lin − 1
    # the per-fluence apparent yields follow the generator (decay-model bias aside)
    truth = [injected_electrons(PHOTONS_PER_UJ * f) / (PHOTONS_PER_UJ * f)
             for f in (2.0, 10.0, 25.0, 50.0)]
    for p, want in zip(ex["per_fluence"], truth):
        assert abs(p["apparent_yield"] - want) < 3 * p["stderr"], (p, want)
    # the systematics budget is built on the extrapolated value
    tot = d["ci95_total"]
    assert tot[0] < lo and tot[1] > hi and d["dominant"] == "q_ref"


@pytest.mark.slow
def test_nonlinear_extrapolation_high_snr_family():
    """Six fluences 2–50 µJ cm⁻², signal-to-noise 250, the decay family (exp1, exp2, exp3,
    ratedist; the data are tri-exponential). The nonlinear extrapolation is within 3 % of
    0.48 — its remaining bias is the difference between the generator's closed-form charging
    and the TTM's (the TTM drops ~20 % less per electron at low fluence, absorbed by a fitted
    charging strength but not in shape) — where the linear one is > 10 % low."""
    t = np.concatenate([np.linspace(-0.8, -0.1, 6), np.arange(40) * 0.06,
                        np.geomspace(2.5, 2000.0, 50)])
    ds = _series([2.0, 5.0, 10.0, 20.0, 35.0, 50.0], t, noise=0.01, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_physical(ds, _model(family=True))
    d = res.derived["injection_quantum_yield"]
    ex = d["fluence_extrapolation"]
    print(f"nonlinear {d['value']:.4f} {d['ci95_statistical']}  linear {ex['linear']['value']:.4f} "
          f"{ex['linear']['ci95']}  charging {ex['charging_mV_per_electron']:.2f} mV  "
          f"χ²_red {ex['chi2_reduced']:.2f}")
    assert abs(d["value"] / PHI0 - 1) < 0.03
    assert ex["linear"]["value"] < 0.9 * PHI0 and ex["linear"]["ci95"][1] < PHI0
    assert res.summary()["model_choice"]["members"][0]["sample_decay"] == "exp1"


def test_bad_extrapolation_options():
    """Bad [decay] values and a sample without its fluence fail before any fit, in one error."""
    from hotcarrier.errors import FitError, ModelError

    with pytest.raises(ModelError, match="fluence_extrapolation.*nonlinear.*charging"):
        PhysicalModel.from_dict({"model": {"type": "hotcarrier"},
                                 "decay": {"fluence_extrapolation": "cubic", "charging": "x"}})
    t = np.linspace(-0.5, 10.0, 12)
    ds = _series([2.0, 10.0], t, noise=0.01, seed=1)
    del ds["s2"].attrs["pump_fluence_uJ_cm2"]
    with pytest.raises(FitError, match=r"sample dataset\(s\) s2: .*pump_fluence_uJ_cm2"):
        fit_physical(ds, _model())
    # the pump wavelength: missing on one sample, or two wavelengths in one series
    ds = _series([2.0, 10.0], t, noise=0.01, seed=1)
    del ds["s2"].attrs["pump_wavelength_nm"]
    with pytest.raises(FitError, match=r"sample dataset\(s\) s2: no pump wavelength.*give "
                                       r"pump_wavelength_nm"):
        fit_physical(ds, _model())
    ds = _series([2.0, 10.0], t, noise=0.01, seed=1)
    ds["s2"].attrs["pump_wavelength_nm"] = 520.0
    with pytest.raises(FitError, match=r"differ \(.*520 nm.*590 nm|differ \(.*590 nm.*520 nm"):
        fit_physical(ds, _model())
    # none at all: said before anything is compiled (18.43 photons per µJ cm⁻² then)
    from hotcarrier.errors import HotcarrierWarning

    ds = _series([2.0, 10.0], t, noise=0.01, seed=1)
    for d in ds.values():
        d.attrs.pop("pump_wavelength_nm", None)  # (the reference has none)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HotcarrierWarning)
        with pytest.raises(HotcarrierWarning, match="no pump wavelength.*18.43"):
            fit_physical(ds, _model())


def test_series_without_charging_takes_charging_to_zero():
    """A series whose apparent yield does not fall (no charging, e.g. a sample that discharges
    within the pump) at 2–50 µJ cm⁻²: with the charging strength free (auto, ≥ 3 fluences) the
    data take it to ~0 and Φ_inj is their common value; the preset's fixed 8.6 mV would put it
    13 % high. Same compiled program as the route test above (4 fluences)."""
    from hotcarrier.physics.decayfit import fluence_series_yield
    from hotcarrier.physics.parameters import CLEAN

    f = np.array([2.0, 10.0, 25.0, 50.0])
    phi_app = PHI0 + np.array([0.004, -0.003, 0.002, -0.001])
    cov = np.diag(np.full(4, 0.005**2)) + 0.3 * 0.005**2  # a shared-reference part
    out = fluence_series_yield(phi_app, cov, f, PHOTONS_PER_UJ * f, CLEAN, pump_nm=590.0)
    assert out["charging_free"] and out["charging_mV_per_electron"] < 0.5
    lo, hi = out["ci95"]
    assert lo < PHI0 < hi and hi / lo < 1.1
    assert abs(out["linear"]["curvature_z"]) < 2

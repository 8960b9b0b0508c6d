"""The shared engine's mechanisms, each at its own level: the Levenberg–Marquardt loop (known
optimum, pins, a stall), the one profile routine (on an exact parabola), the one delta method
(stacked = one by one), the bounded transform, and the one summary schema over both model
kinds (a target fit and a physical-model fit)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from hotcarrier.fitting.optimize import STATUS_MESSAGES, levenberg_marquardt
from hotcarrier.fitting.params import near_bound, to_physical, to_unconstrained
from hotcarrier.fitting.result import PARAMETER_KEYS, SUMMARY_KEYS, SUMMARY_SCHEMA
from hotcarrier.fitting.uncertainty import profile_interval, propagate_covariance

T = np.linspace(0.0, 5.0, 40)  # NumPy: module constants are built before float64 is on


def _decay(x, y):
    """Residual and exact Jacobian of a·exp(−k t) − y."""
    e = jnp.exp(-x[1] * T)
    return x[0] * e - y, jnp.stack([e, -x[0] * T * e], axis=1), ()


def test_lm_pin_mask_gives_the_conditional_optimum():
    y = 2.0 * jnp.exp(-0.7 * T)
    # k pinned at 0.5: the amplitude's optimum is the linear least-squares one, Σye/Σe²
    res = levenberg_marquardt(_decay, jnp.array([1.0, 0.5]), y, free=jnp.array([True, False]))
    e = np.exp(-0.5 * np.asarray(T))
    assert bool(res.converged)
    assert float(res.x[1]) == 0.5
    np.testing.assert_allclose(float(res.x[0]), float(np.sum(np.asarray(y) * e) / np.sum(e * e)),
                               rtol=1e-10)
    # vmapped over pin masks: one compiled program, per-item pins
    masks = jnp.array([[True, True], [True, False]])
    batch = jax.vmap(lambda m: levenberg_marquardt(_decay, jnp.array([1.0, 0.5]), y, free=m))(
        masks)
    np.testing.assert_allclose(batch.x[0], [2.0, 0.7], rtol=1e-8)
    np.testing.assert_allclose(batch.x[1], res.x, rtol=1e-12)


def test_lm_stall_is_never_converged():
    """A Jacobian of the wrong sign makes every trial step uphill: the loop must stop with
    the stall status (4), not call the start 'converged'."""
    y = 2.0 * jnp.exp(-0.7 * T)

    def wrong(x, y):
        r, J, aux = _decay(x, y)
        return r, -J, aux

    res = levenberg_marquardt(wrong, jnp.array([1.0, 0.2]), y, max_iter=500)
    assert int(res.status) == 4 and not bool(res.converged)
    assert "stalled" in STATUS_MESSAGES[4]


def test_profile_interval_is_exact_on_a_parabola():
    v0, sigma, cost0 = 0.3, 0.02, 5.0

    def refit(v, state):  # profiled cost of a linear model: an exact parabola
        return cost0 + 0.5 * ((v - v0) / sigma) ** 2, state

    (lo, hi), grid, delta = profile_interval(refit, v0, 0.8 * sigma, 0.5, cost0=cost0)
    assert lo == pytest.approx(v0 - sigma, rel=1e-12) and hi == pytest.approx(v0 + sigma, rel=1e-12)
    assert np.all(np.diff(grid) > 0) and delta[np.argmin(np.abs(grid - v0))] == 0.0
    # 95 %: Δcost = 1.92 → ±1.96σ; a bound cuts the upper side; extrapolation beyond few steps
    (lo, hi), *_ = profile_interval(refit, v0, 0.8 * sigma, 1.92, cost0=cost0,
                                    bounds=(0.0, v0 + sigma), max_steps=6)
    assert lo == pytest.approx(v0 - math.sqrt(2 * 1.92) * sigma, rel=1e-12)
    assert hi == v0 + sigma
    (lo, hi), *_ = profile_interval(refit, v0, 0.1 * sigma, 1.92, cost0=cost0, max_steps=3,
                                    extrapolate=True)
    assert hi == pytest.approx(v0 + math.sqrt(2 * 1.92) * sigma, rel=1e-12)
    (lo, hi), *_ = profile_interval(refit, v0, 0.1 * sigma, 1.92, cost0=cost0, max_steps=3)
    assert (lo, hi) == (-math.inf, math.inf)  # not reached and not extrapolated


def test_delta_method_stacked_equals_one_by_one():
    rng = np.random.default_rng(0)
    k, m, n = 5, 3, 4
    J = rng.normal(size=(k, m, n))
    A = rng.normal(size=(k, n, n))
    cov = A @ np.swapaxes(A, 1, 2)
    ident = np.ones((k, n), bool)
    ident[2, 1] = False  # item 2: parameter 1 undetermined
    cov[2, 1, :] = cov[2, :, 1] = np.nan
    J[2, 0, 1] = 0.0  # output 0 of item 2 does not use it: stays finite
    stacked, _ = propagate_covariance(None, None, cov, ident, jac=J)
    for i in range(k):
        one, _ = propagate_covariance(None, None, cov[i], ident[i], jac=J[i])
        np.testing.assert_array_equal(np.isnan(one), np.isnan(stacked[i]))
        np.testing.assert_allclose(np.nan_to_num(one), np.nan_to_num(stacked[i]), rtol=1e-14)
    assert np.isfinite(stacked[2, 0, 0]) and np.isnan(stacked[2, 1, 1])
    # and with a transform: autodiff Jacobian, linear map is exact
    B = rng.normal(size=(2, n))
    out, jac = propagate_covariance(lambda x: jnp.asarray(B) @ x, np.zeros(n), cov[0])
    np.testing.assert_allclose(out, B @ cov[0] @ B.T, rtol=1e-12)


@pytest.mark.parametrize("lo,hi,log", [(0.0, 1.0, False), (5.0, 2000.0, True),
                                       (0.0, math.inf, False), (-math.inf, 0.0, False),
                                       (-math.inf, math.inf, False)])
def test_bounded_transform_round_trip(lo, hi, log):
    for v in (0.2, 50.0, -3.0):
        if not lo < v < hi:
            continue
        raw = to_unconstrained(v, lo, hi, log)
        assert float(to_physical(jnp.asarray(raw), lo, hi, log)) == pytest.approx(v, rel=1e-12)
    # traced bounds (bounds as data: one program for every model file's bounds)
    f = jax.jit(lambda r, a, b: to_physical(r, a, b, log))
    if math.isfinite(lo) and math.isfinite(hi):
        assert float(f(0.0, lo, hi)) == pytest.approx(
            math.sqrt(lo * hi) if log else 0.5 * (lo + hi))
    assert near_bound(0.995, 0.0, 1.0) and not near_bound(0.5, 0.0, 1.0)


def _target_result():
    """A sequential two-lifetime fit to a noisy map generated by the same model.

    The model, delay and wavelength grids of tests/test_batch.py (its
    ``test_single_fit_matches_hotcarrier_fit`` fits the same structure and shape): in a full
    run the compiled fit programs are read back from the run's compilation cache."""
    from test_batch import WL, T, model, noisy

    from hotcarrier import fit
    from hotcarrier.dataset import make_ta_dataset

    return fit(make_ta_dataset(T, WL, noisy(1, seed=5)[0], signal_units="mOD"), model())


def _physical_result():
    from hotcarrier import fit
    from hotcarrier.bundled import fits_dir
    from hotcarrier.physics.simulate import simulate_bundle

    # the rigid chain on data of its own form (the flexible route: tests/test_cli_demo.py)
    return fit(simulate_bundle("clean", seed=20240601, include_visible=False),
               fits_dir() / "au_cds_clean" / "model_rigid.toml")


@pytest.mark.parametrize("make,kind", [(_target_result, "target"),
                                       (_physical_result, "hotcarrier")])
def test_one_summary_schema_for_every_model(make, kind, tmp_path):
    res = make()
    res.write(tmp_path, figure=False)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["schema"] == SUMMARY_SCHEMA
    assert list(s)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    assert s["model"]["type"] == kind and isinstance(s["model"]["name"], str)
    assert s["converged"] is True and s["status"] in (0, 1, 5)
    assert s["chi2_reduced"] == pytest.approx(2 * s["cost"] / s["dof"], rel=1e-12)
    assert s["rmse"] == pytest.approx(math.sqrt(s["chi2_reduced"]), rel=1e-12)
    assert s["dof"] == s["n_data"] - s["n_free"] - s["n_amplitudes"]
    assert s["n_free"] == sum(p["free"] for p in s["parameters"].values())
    for p in s["parameters"].values():
        assert set(PARAMETER_KEYS) <= set(p)
    # a result read back from disk carries the same summary
    from hotcarrier.fitting.result import FitResult

    assert FitResult.from_netcdf(tmp_path / "result.nc").summary() == s


def test_pdg_rounding_of_reported_values():
    from hotcarrier.fitting.result import pdg_round

    assert pdg_round(0.094, 0.0052) == ("0.094", "0.005")  # 520: one significant digit
    assert pdg_round(145.03, 2.94) == ("145.0", "2.9")  # 294: two
    assert pdg_round(7.04e12, 0.61e12) == ("7.0e+12", "0.6e+12")  # densities: scientific
    assert pdg_round(3.2e-7, 1.3e-8) == ("3.20e-07", "0.13e-07")
    assert pdg_round(1.0, None) == ("1", "n/a")


def test_printed_table_gives_bounds_in_the_unit_of_the_value():
    # a time in ps shown in fs (t0 = 25 fs) has its bounds in fs too, not "(-0.5, 0.5)"
    from hotcarrier.fitting.result import FitResult, parameter_entry

    params = {"t0_ps": parameter_entry(0.025, 0.020, "ps", free=True, bounds=(-0.5, 0.5)),
              "tau_ps": parameter_entry(29.0, 4.0, "ps", free=True, bounds=(0.2, 1e4))}
    summary = {"converged": True, "n_iterations": 9, "message": "", "rmse": 1.0,
               "chi2_reduced": 1.0, "model": {"name": "m"}, "cost": 1.0, "n_data": 640,
               "n_free": 2, "wall_time_s": 1.0, "parameters": params}
    text = repr(FitResult(xr.Dataset(), summary))
    rows = {ln.split()[0]: ln.split() for ln in text.splitlines()[3:]}
    assert rows["t0_ps"][1:] == ["25", "20", "fs", "(-500,", "500)"]
    assert rows["tau_ps"][1:] == ["29", "4", "ps", "(0.2,", "10000)"]

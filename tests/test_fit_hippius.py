"""Parity with pyglotaran 0.7.5 on the real Hippius data (shared/data/README.md).

The full target fit to convergence runs in the default suite (one module-scoped fit, ~30–50 s
including compilation on 2 cores); the two-dataset variant is marked slow.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier import fit

HIPPIUS = "glotaran_hippius/demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
MODEL = "fits/hippius/model.toml"
# pyglotaran 0.7.5 converged (README): value, standard error
REF_COST = 0.002325821353
REF = {"b": (0.14774115, 0.002294), "k3": (0.34617702, 0.0102), "k4": (0.040610509, 0.0003706),
       "k5": (0.020014372, 7.84e-5), "mu0": (1.2026061, 0.0007835),
       "sigma": (0.061707706, 0.0002503), "d1": (0.28498609, None), "d2": (-0.0806747, None),
       "d3": (0.013417219, None)}


@pytest.fixture(scope="module")
def hippius(shared_data, request):
    root = request.config.rootpath
    return fit(shared_data / HIPPIUS, root / MODEL)


def test_cost_matches_pyglotaran(hippius):
    s = hippius.summary()
    assert s["converged"]
    # issue #3: within 0.1 % of pyglotaran's converged cost (we reach it to ~2e-7)
    assert abs(s["cost"] / REF_COST - 1) < 1e-3
    # RMSE uses pyglotaran's dof = N − n_free − n_amplitudes (README: 2.015432e-4)
    assert s["rmse"] == pytest.approx(2.015432e-4, rel=1e-5)
    assert s["n_data"] == 335 * 346 and s["n_amplitudes"] == 346 * 4


def test_parameters_and_errors_match_pyglotaran(hippius):
    p = hippius.parameters
    for name, (v, se) in REF.items():
        got = p[name]["value"]
        # issue #3: each free rate / IRF parameter within 1 % or within its standard error
        assert abs(got - v) <= max(0.01 * abs(v), p[name]["stderr"]), name
        if se is not None:
            # standard errors within 20 % of pyglotaran's (measured: 0.988–1.000)
            assert p[name]["stderr"] / se == pytest.approx(1.0, abs=0.2), name
    assert hippius.covariance_ok and p["ksum"]["fixed"] and p["ksum"]["stderr"] is None
    # the expression parameters get delta-method errors: k1 = b·ksum
    assert p["k1"]["stderr"] == pytest.approx(p["b"]["stderr"] * 9.49943878184853, rel=1e-6)


def test_result_outputs(hippius, tmp_path):
    from hotcarrier.fitting.result import FitResult

    out = hippius.write(tmp_path / "out")
    for f in ("result.nc", "summary.json", "overview.png"):
        assert (out / f).is_file()
    back = FitResult.from_netcdf(out / "result.nc")
    assert back.summary() == hippius.summary()
    ds = back.dataset
    assert ds["fit"].dims == ("delay", "wavelength") and ds["sas"].sizes["species"] == 5
    # s3's spectrum equals s2's (the relation, factor 1)
    np.testing.assert_allclose(ds["sas"].sel(species="s3"), ds["sas"].sel(species="s2"))
    assert "FitResult  converged" in repr(hippius) and "not identifiable" not in repr(hippius)


def test_run_away_parameter_is_flagged_not_zero(hippius):
    # at a point where k3 ran away (s2 empties instantly) the data cannot determine k3;
    # the Jacobian must say so (pyglotaran would print a standard error of 0)
    from hotcarrier.target.fit import uncertainties

    s = hippius.setup
    th = np.array(hippius.theta)
    th[s.model.parameters.free_names.index("k3")] = np.log(1e9)
    cr, cov = uncertainties(s, jnp.asarray(th), hippius.summary()["n_amplitudes"], 1.0)
    names = s.model.parameters.free_names
    assert not cr.identifiable[names.index("k3")]
    assert np.isnan(cr.stderr[names.index("k3")])
    assert cr.identifiable[names.index("k5")] and cr.stderr[names.index("k5")] > 0


@pytest.mark.slow
def test_profile_interval_close_to_stderr(hippius):
    (lo, hi), grid, prof = hippius.profile("k5")
    se = hippius.parameters["k5"]["stderr"]
    v = hippius.parameters["k5"]["value"]
    # nearly linear parameter: profile interval ≈ ±1σ (within 20 %)
    assert (v - lo) / se == pytest.approx(1, abs=0.2) and (hi - v) / se == pytest.approx(1, abs=0.2)


# pyglotaran 0.7.5 on the same reconstructed two-dataset model (run here, TRF, clp linking
# tolerance 0.1 nm): cost 33241.31459, value and standard error
REF2 = {"b": (0.26226047, 0.0040090), "k3": (0.32852639, 0.0087989),
        "k4": (0.042480019, 0.00070480), "k5": (0.019636352, 0.00011240),
        "mu0_co": (1.1981799, 0.00064824), "mu0_c2o": (0.66369108, 0.00063473),
        "sigma": (0.060612612, 0.00026217), "d1": (0.29345293, 0.0019919),
        "d2": (-0.059579820, 0.0020583), "d3": (-0.0022583463, 0.0012517),
        "scale_c2o": (1.1959434, 0.00056092)}


@pytest.mark.slow
def test_two_datasets_match_pyglotaran(shared_data, request):
    root = request.config.rootpath
    res = fit([shared_data / "glotaran_hippius/2016co_tol.ascii",
               shared_data / "glotaran_hippius/2016c2o_tol.ascii"],
              root / "fits/hippius_two_datasets/model.toml")
    s = res.summary()
    assert s["converged"] and abs(s["cost"] / 33241.31459 - 1) < 1e-3
    for name, (v, se) in REF2.items():
        p = res.parameters[name]
        assert abs(p["value"] - v) <= max(0.01 * abs(v), p["stderr"]), name
        assert p["stderr"] / se == pytest.approx(1.0, abs=0.2), name

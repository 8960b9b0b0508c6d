"""Shape bucketing: maps of similar size share one compiled program (issue: fast from the
first second). The padded delays and wavelengths carry weight 0, so the cost, gradient and
Jacobian are those of the measured cells alone — checked here against the unpadded arrays —
and every result has the data's own shape."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erfc

from hotcarrier import fit
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.fitting import compiled
from hotcarrier.fitting.compiled import bucket
from hotcarrier.target.fit import setup
from hotcarrier.target.model import TargetModel
from hotcarrier.target.objective import Objective, build_problem


def test_bucket_sizes():
    assert [bucket(n) for n in (1, 16, 17, 31, 33, 37, 335, 346, 1000)] == \
        [1, 16, 17, 31, 34, 38, 336, 352, 1024]
    for n in range(1, 5000):
        b = bucket(n)
        assert n <= b <= 1.0625 * n and bucket(b) == b


def _map(n_t, n_w, seed=0):
    rng = np.random.default_rng(seed)
    t = np.concatenate([np.linspace(-0.5, 2.0, n_t // 2),
                        np.geomspace(2.2, 300.0, n_t - n_t // 2)])
    wl = np.linspace(460.0, 700.0, n_w)
    k, sig = np.array([1 / 1.2, 1 / 35.0]), 0.15 / 2.3548  # ps⁻¹; IRF σ (FWHM 150 fs)
    tt, kk = t[:, None], k[None, :]  # decays ⊗ Gaussian (parallel: DAS), closed form
    c = 0.5 * np.exp(-kk * tt + 0.5 * (kk * sig) ** 2) \
        * erfc((kk * sig**2 - tt) / (sig * np.sqrt(2)))
    s = np.stack([np.exp(-0.5 * ((wl - 520) / 30) ** 2),
                  -0.6 * np.exp(-0.5 * ((wl - 640) / 40) ** 2)])
    return make_ta_dataset(t, wl, 1e-2 * c @ s + rng.normal(0, 1e-4, (n_t, n_w)),
                           signal_units="OD")


@pytest.mark.parametrize("dispersive", [False, True])
def test_padded_objective_equals_unpadded(dispersive):
    model = TargetModel.from_scheme("sequential", [1.5, 40.0], irf_fwhm=0.15,
                                    t0_per_wavelength=dispersive)
    s = setup(_map(37, 33), model)  # padded to 38 × 34
    assert s.problem.n_delays == (37,) and s.problem.n_wavelengths == (33,)
    assert s.arrays["y"][0].shape == (34, 38)
    plain = build_problem(s.model, s.datasets, pad=False)
    assert plain.arrays["y"][0].shape == (33, 37)
    with jax.enable_x64(True):
        th = jnp.asarray(s.theta0) * 1.05
        obj_p = s.objective
        obj_u = Objective.for_problem(s.model, plain, "eigen")
        rp, Jp, _ = obj_p._jit_evaluate(th, s.arrays)  # residual and Jacobian, one program
        ru, Ju, _ = obj_u._jit_evaluate(th, plain.arrays)
    np.testing.assert_allclose(rp @ rp, ru @ ru, rtol=1e-13)  # 2 × cost
    np.testing.assert_allclose(np.sort(np.abs(rp))[-ru.size:], np.sort(np.abs(ru)), rtol=1e-12,
                               atol=1e-15)  # the padded cells' residuals are exactly 0
    assert np.count_nonzero(rp) == np.count_nonzero(ru)
    np.testing.assert_allclose(Jp.T @ Jp, Ju.T @ Ju, rtol=1e-10,
                               atol=1e-12 * np.max(np.abs(Ju.T @ Ju)))
    np.testing.assert_allclose(Jp.T @ rp, Ju.T @ ru, rtol=1e-10,
                               atol=1e-12 * np.max(np.abs(Ju.T @ ru)))
    assert plain.n_data == s.problem.n_data


def test_similar_maps_share_compiled_programs():
    model = TargetModel.from_scheme("parallel", [1.5, 40.0], irf_fwhm=0.15)
    a = fit(_map(38, 34, seed=1), model)  # compiles (or loads) the programs for 38 × 34
    n_programs = len(compiled._MEMORY)
    b = fit(_map(37, 33, seed=2), model)  # a smaller map in the same bucket: nothing new
    assert len(compiled._MEMORY) == n_programs
    assert a.summary()["converged"] and b.summary()["converged"]
    assert dict(b.dataset["fit"].sizes) == {"delay": 37, "wavelength": 33}
    assert b.dataset["population"].sizes["delay"] == 37
    assert np.all(np.isfinite(b.dataset["residual"].values))
    # the same numbers as the fit on unpadded arrays: cost = ½Σ residual² of the data cells
    np.testing.assert_allclose(b.summary()["cost"],
                               0.5 * float(np.sum(b.dataset["residual"].values ** 2)), rtol=1e-10)
    # and it recovers the generator's lifetimes (closed-form decays ⊗ Gaussian above)
    for name, true in (("tau1", 1.2), ("tau2", 35.0)):
        p = b.summary()["parameters"][name]
        assert abs(p["value"] - true) < 3 * p["stderr"], (name, p)

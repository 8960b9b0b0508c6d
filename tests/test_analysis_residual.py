"""Residual SVD verdict: only noise left → "no structure left"; a component too few → flagged."""

import numpy as np
import pytest

from hotcarrier.analysis.lda import lda_kernel
from hotcarrier.analysis.residual import mp_median, noise_verdict, residual_svd
from hotcarrier.dataset import make_ta_dataset

DELAYS = np.concatenate([np.linspace(-1.0, 2.0, 40), np.geomspace(2.1, 500.0, 50)])  # ps
WLS = np.linspace(450.0, 700.0, 30)  # nm
TAUS = np.array([0.8, 8.0, 80.0])  # ps
NOISE = 2e-4  # OD


def _map(seed=0):
    """90 × 30 map of three decays ⊗ IRF (FWHM 0.12 ps) with Gaussian noise (OD)."""
    rng = np.random.default_rng(seed)
    das = 1e-2 * np.array([[1.0], [-0.7], [0.5]]) * np.exp(
        -0.5 * ((WLS - np.array([[500.0], [580.0], [650.0]])) / 40.0) ** 2)
    sig = lda_kernel(DELAYS, TAUS, 0.0, 0.12) @ das
    return make_ta_dataset(DELAYS, WLS, sig + rng.normal(0, NOISE, sig.shape))


def test_marchenko_pastur_median_and_pure_noise():
    assert mp_median(1.0) == pytest.approx(0.6528, abs=1e-4)  # Gavish & Donoho 2014, Table
    rng = np.random.default_rng(1)
    for m, n in ((300, 300), (90, 30), (400, 120)):
        s = np.linalg.svd(rng.normal(0, 0.5, (m, n)), compute_uv=False)
        v = noise_verdict(s, m, n)
        # median estimator: relative spread ~1/√(mn); the largest value sits at the edge
        assert v["sigma"] == pytest.approx(0.5, rel=0.05)
        assert 0.9 < v["ratio"][0] < v["threshold"] / v["edge"]
        assert v["n_structured"] == 0 and v["verdict"].startswith("no structure left")


def _projection_residual(ds, taus):
    """Residual of variable projection at fixed lifetimes: what a fit leaves at its optimum."""
    C = lda_kernel(DELAYS, np.asarray(taus), 0.0, 0.12)
    D = ds["signal"].values
    return ds["signal"].copy(data=D - C @ np.linalg.lstsq(C, D, rcond=None)[0])


def test_projection_verdicts():
    ds = _map(seed=4)
    right = residual_svd(_projection_residual(ds, TAUS))
    assert right.attrs["noise_n_structured"] == 0, right.attrs["noise_verdict"]
    assert right.attrs["noise_sigma"] == pytest.approx(NOISE, rel=0.1)
    # the best two-lifetime projection on a grid still leaves the third decay
    grid = np.geomspace(0.3, 300, 13)
    worst = min((residual_svd(_projection_residual(ds, [a, b]))
                 for i, a in enumerate(grid) for b in grid[i + 1:]),
                key=lambda r: float(r["singular_value"][0]))
    assert worst.attrs["noise_n_structured"] >= 1 and float(worst["ratio"][0]) > 3
    assert "a component is missing" in worst.attrs["noise_verdict"]


@pytest.fixture(scope="module")
def fits():
    from hotcarrier import fit
    from hotcarrier.target.model import TargetModel

    ds = _map()
    out = {}
    for n, guess in ((3, [1.0, 10.0, 100.0]), (2, [2.0, 50.0])):
        m = TargetModel.from_scheme("parallel", guess, irf_fwhm=0.12, fix_irf=True, t0=0.0,
                                    fix_t0=True)
        out[n] = fit(ds, m)
    return out


@pytest.mark.slow  # two target-model compilations (~20–40 s on 2 shared cores)
def test_right_number_of_components_leaves_no_structure(fits):
    r = fits[3].residual_svd()
    assert r.attrs["noise_n_structured"] == 0, r.attrs["noise_verdict"]
    assert r.attrs["noise_sigma"] == pytest.approx(NOISE, rel=0.1)
    assert r.attrs["noise_verdict"].startswith("no structure left")
    assert "residual SVD: no structure left" in repr(fits[3])
    assert r["lsv"].dims == ("delay", "component") and r["rsv"].dims == ("component", "wavelength")


@pytest.mark.slow
def test_a_component_too_few_is_flagged(fits):
    r = fits[2].residual_svd()
    assert r.attrs["noise_n_structured"] >= 1
    assert r["ratio"].values[0] > 5
    assert "a component is missing" in r.attrs["noise_verdict"]
    assert "structure left: the first residual component carries" in repr(fits[2])


def test_masked_cells_and_weights():
    ds = _map(seed=2)
    res = ds["signal"].copy(data=np.random.default_rng(3).normal(0, 1.0, ds["signal"].shape))
    res[:5, :] = np.nan  # rows the fit skipped are dropped
    w = res.copy(data=np.full(res.shape, 2.0))
    r = residual_svd(res, w)
    assert r.attrs["shape"] == [85, 30]
    assert r.attrs["noise_sigma"] == pytest.approx(2.0, rel=0.1)


def test_mp_median_halves_the_density():
    # independent check of the closed form: quadrature of the Marchenko–Pastur density
    from scipy.integrate import quad

    for beta in (0.01, 0.3, 0.968, 1.0):
        lo, hi = (1 - beta**0.5) ** 2, (1 + beta**0.5) ** 2

        def pdf(x, lo=lo, hi=hi, beta=beta):
            return np.sqrt(max((hi - x) * (x - lo), 0.0)) / (2 * np.pi * beta * x)

        m = mp_median(beta)
        assert lo < m < hi
        assert quad(pdf, lo, m, epsabs=1e-13, epsrel=1e-13, limit=500)[0] == pytest.approx(
            0.5, abs=1e-10), beta

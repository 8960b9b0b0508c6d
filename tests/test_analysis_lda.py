"""Lifetime-density analysis: lifetimes recovered as density peaks, exact Tikhonov, EN optimality."""

import json

import numpy as np
import pytest
from test_analysis_residual import TAUS, _map

from hotcarrier.analysis.lda import elastic_net, lda_kernel, lifetime_density, tikhonov_path
from hotcarrier.errors import OptionError


@pytest.fixture(scope="module")
def ds():
    return _map()  # 90 delays × 30 wavelengths, τ = 0.8, 8, 80 ps, IRF 0.12 ps, SNR 50


def test_tikhonov_lcurve_recovers_three_lifetimes(ds):
    r = lifetime_density(ds, irf_fwhm=0.12, n_lifetimes=100)
    inner = r["peak_lifetime"].values[~r["peak_at_edge"].values]
    assert inner.size == 3
    np.testing.assert_allclose(inner, TAUS, rtol=0.10)  # the done-when; measured ≤ 0.6 %
    assert r.attrs["alpha"] == r.attrs["alpha_lcurve"] and r.attrs["criterion"] == "lcurve"
    i = int(np.argmin(np.abs(r["alpha"].values - r.attrs["alpha_lcurve"])))
    assert r["curvature"].values[i] == np.nanmax(r["curvature"].values[2:-2])
    assert r.attrs["rmse"] == pytest.approx(2e-4, rel=0.15)  # fit at the noise level
    g = lifetime_density(ds, irf_fwhm=0.12, n_lifetimes=100, criterion="gcv")
    assert g.attrs["alpha"] == g.attrs["alpha_gcv"] == float(g["alpha"][int(np.argmin(g["gcv"].values))])


def test_tikhonov_filter_factors_equal_the_normal_equations():
    rng = np.random.default_rng(0)
    K, D = lda_kernel(np.linspace(-1, 50, 40), np.geomspace(0.1, 100, 12), 0.0, 0.2), \
        rng.normal(size=(40, 3))
    res2, sol2, gcv, solve = tikhonov_path(K, D, [0.3])
    A = np.linalg.solve(K.T @ K + 0.09 * np.eye(12), K.T @ D)
    np.testing.assert_allclose(solve(0.3), A, rtol=1e-9, atol=1e-12)
    assert res2[0] == pytest.approx(((K @ A - D) ** 2).sum(), rel=1e-9)
    assert sol2[0] == pytest.approx((A**2).sum(), rel=1e-9)
    H = K @ np.linalg.solve(K.T @ K + 0.09 * np.eye(12), K.T)
    assert gcv[0] == pytest.approx(res2[0] / (3 * np.trace(np.eye(40) - H)) ** 2, rel=1e-9)


def test_elastic_net_optimality_and_peaks(ds):
    K = lda_kernel(ds["delay"].values, np.geomspace(0.06, 1000, 40), 0.0, 0.12)
    D = ds["signal"].values
    a, rho = 1e-3, 0.9
    A = elastic_net(K, D, [a], rho, eps=1e-8, max_iter=20000)[0]
    g = K.T @ (D - K @ A) - a * (1 - rho) * A  # KKT: = αρ·sign(A) on the support, |g| ≤ αρ off
    on = A != 0
    np.testing.assert_allclose(g[on], a * rho * np.sign(A[on]), atol=1e-3 * a)
    assert np.abs(g[~on]).max() <= a * rho * 1.001
    r = lifetime_density(ds, irf_fwhm=0.12, n_lifetimes=60, method="elastic-net")
    peaks = r["peak_lifetime"].values
    assert peaks.size == 3
    # measured: 0.79, 8.2, 87 ps — the elastic net biases the slowest peak by ~9 %
    np.testing.assert_allclose(peaks, TAUS, rtol=0.15)


def test_bad_options_name_the_input(ds):
    with pytest.raises(OptionError, match="method='ridge'.*\n.*alpha=-1"):
        lifetime_density(ds, method="ridge", alpha=-1)
    with pytest.raises(OptionError, match="tau_min=5.*tau_max=1"):
        lifetime_density(ds, tau_min=5, tau_max=1)


def test_cli_writes_lda_outputs(ds, tmp_path, capsys):
    from hotcarrier.cli import main
    from hotcarrier.io import save_ta

    save_ta(ds, tmp_path / "map.nc")
    out = tmp_path / "lda"
    assert main(["lda", str(tmp_path / "map.nc"), "--irf-fwhm", "0.12", "--n-lifetimes", "100",
                 "--out", str(out)]) == 0
    s = json.loads((out / "lda.json").read_text())
    assert {"alpha", "alpha_lcurve", "alpha_gcv", "peak_lifetimes_ps", "gcv"} <= set(s)
    assert (out / "lda.png").stat().st_size > 0 and (out / "lda.nc").stat().st_size > 0
    assert "peaks (ps):" in capsys.readouterr().out
    assert main(["lda", str(tmp_path / "map.nc"), "--tmin", "10", "--tmax", "1",
                 "--out", str(out)]) == 2
    assert "tau_min=10.0" in capsys.readouterr().err


def test_real_map_smoke(shared_data):
    from hotcarrier.io import load_ta

    ds = load_ta(shared_data / "glotaran_hippius" /
                 "demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii")
    r = lifetime_density(ds, irf_fwhm=0.1, t0=0.0, n_lifetimes=80)
    assert r.sizes["wavelength"] == 346 and np.isfinite(r["density"].values).all()
    assert r["peak_lifetime"].size >= 2

"""Fluence dependence, linear-regime warning and fluence-series fits (spec §6.4–6.5, V16)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.errors import NonlinearRegimeWarning
from hotcarrier.physics.fluence import (
    _profile_nodes,
    check_linear_regime,
    estimated_yield_deviation,
    fit_fluence_series,
    injected_amplitude,
    low_fluence_slope,
    photons_per_fluence,
)
from hotcarrier.physics.injection import injection_quantum_yield
from hotcarrier.physics.parameters import CLEAN

with jax.enable_x64(True):  # at import, before the per-test float64 switch (conftest.py)
    PHI_LIN = float(injection_quantum_yield(CLEAN))  # 0.4812 (V1)
SERIES_F = np.array([0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0])  # µJ cm⁻²


@pytest.fixture(scope="module")
def series_amplitude():
    """Model t = 0⁺ amplitudes (electrons per particle) of the default particle."""
    return np.asarray(injected_amplitude(CLEAN, jnp.asarray(SERIES_F)))


def test_warns_outside_linear_regime():
    """§6.5: charging lowers Φ_inj by 14 % at 10 µJ cm⁻² → NonlinearRegimeWarning."""
    with pytest.warns(NonlinearRegimeWarning, match=r"F = 10 µJ cm⁻².*-13\.6 %"):
        rep = check_linear_regime(CLEAN, [0.05, 0.1, 10.0])
    assert rep.linear.tolist() == [True, True, False]
    np.testing.assert_allclose(rep.phi, [0.4809, 0.481, 0.416], atol=5e-4)  # V16 numbers
    # charging shift of the injected count at 10 µJ cm⁻²: 76.6 e⁻ × 8.63 mV = 0.66 eV
    assert 0.6 < rep.charging_shift_eV[2] < 0.7


def test_no_warning_in_linear_regime():
    """V16: ⟨N_abs⟩ ≤ 2 (F ≤ 0.108 µJ cm⁻²) stays within 1 % — no warning (filterwarnings=error)."""
    rep = check_linear_regime(CLEAN, [0.02, 0.05, 0.1])
    assert rep.all_linear
    assert np.all(np.abs(rep.deviation) < 0.01)
    assert round(float(rep.phi[2]), 3) == 0.481


def test_closed_form_charging_estimate():
    # no charge, no deviation; monotone; conservative vs the ODE (−15.4 % vs −13.6 % at 184)
    assert float(estimated_yield_deviation(CLEAN, 0.0)) == 0.0
    d = np.asarray(estimated_yield_deviation(CLEAN, jnp.array([1.0, 18.4, 184.3, 1843.0])))
    assert np.all(np.diff(d) < 0)
    assert -0.16 < d[2] < -0.136
    with pytest.raises(ValueError, match="all_above"):
        estimated_yield_deviation(CLEAN, 1.0, model="fowler")


def test_profile_quadrature_moments():
    """κ∫₀¹u^{κ−1}u^k du = κ/(κ+k): Gauss–Jacobi is exact for k ≤ 2n−1 at any κ."""
    for ratio in (0.7, 1.0, 2.0, 5.0):
        kappa = ratio**2
        u, w = _profile_nodes(ratio, 12)
        for k in (0, 1, 2, 3, 23):
            np.testing.assert_allclose(np.sum(w * u**k), kappa / (kappa + k), rtol=1e-13)
    u, w = _profile_nodes(None, 12)
    assert u.tolist() == [1.0] and w.tolist() == [1.0]


def test_low_fluence_slope_exact_quadratic():
    f = np.array([0.1, 0.2, 0.5, 1.0, 2.0])
    a = 8.87 * f - 0.11 * f**2
    est = low_fluence_slope(f, a, sigma=np.full(5, 0.01), photons_per_fluence=18.43)
    assert abs(est.slope - 8.87) < 1e-10 and abs(est.curvature + 0.11) < 1e-10
    assert abs(est.phi_inj - 8.87 / 18.43) < 1e-12
    assert not est.consistent_with_linear
    with pytest.raises(ValueError, match="more than 2"):
        low_fluence_slope(f[:2], a[:2])


def test_low_fluence_slope_linear_noise():
    rng = np.random.default_rng(1)
    f = np.linspace(0.05, 0.5, 10)
    a = 8.87 * f + rng.normal(0, 0.02, f.size)
    est = low_fluence_slope(f, a, sigma=np.full(f.size, 0.02))
    assert abs(est.slope - 8.87) < 3 * est.slope_stderr  # 3σ: unbiased estimator
    lin = low_fluence_slope(f, a, sigma=np.full(f.size, 0.02), quadratic=False)
    assert abs(lin.slope - 8.87) < 3 * lin.slope_stderr


def test_low_fluence_slope_recovers_phi_from_model(series_amplitude):
    """Slope of the model amplitudes at ≤ 1 µJ cm⁻² (⟨N_abs⟩ ≤ 18) gives Φ_inj to 0.2 %.

    The quadratic term absorbs the leading charging curvature; the residual bias is the cubic
    term, ≈ (βN)²/12 ~ 1e-3 at N = 18 (closed-form estimate, β = 1.87e-3 per photon).
    """
    low = SERIES_F <= 1.0
    est = low_fluence_slope(SERIES_F[low], series_amplitude[low],
                            photons_per_fluence=photons_per_fluence(CLEAN))
    assert abs(est.phi_inj / PHI_LIN - 1) < 2e-3
    # the full series is visibly nonlinear; its naive linear slope is biased low
    naive = low_fluence_slope(SERIES_F, series_amplitude, quadratic=False,
                              photons_per_fluence=photons_per_fluence(CLEAN))
    assert naive.phi_inj < 0.95 * PHI_LIN


def test_global_fluence_series_fit_round_trip(series_amplitude):
    """Fit (η_CID, τ_inj) of the nonlinear model to a noisy fluence series (1 % noise)."""
    rng = np.random.default_rng(7)
    sigma = 0.01 * series_amplitude
    data = series_amplitude + rng.normal(0, 1, sigma.size) * sigma
    fit = fit_fluence_series(SERIES_F, data, CLEAN.replace(eta_cid=0.1, tau_inj_fs=60.0),
                             free=("eta_cid", "tau_inj_fs"), sigma=sigma)
    assert fit.converged
    # recovery within 3 standard errors (errors from the Gauss–Newton covariance)
    assert abs(fit.values["eta_cid"] - 0.20) < 3 * fit.stderr["eta_cid"]
    assert abs(fit.values["tau_inj_fs"] - 30.0) < 3 * fit.stderr["tau_inj_fs"]
    assert abs(fit.phi_inj - PHI_LIN) < 3 * fit.phi_inj_stderr
    assert fit.phi_inj_stderr < 0.01  # Φ_inj is well determined even if η_CID/τ_inj correlate
    assert 0.1 < fit.chi2_reduced < 4.0
    # the same fit with the covariance diag(σ²) (same compiled program): identical
    fit_c = fit_fluence_series(SERIES_F, data, CLEAN.replace(eta_cid=0.1, tau_inj_fs=60.0),
                               free=("eta_cid", "tau_inj_fs"), covariance=np.diag(sigma**2))
    assert fit_c.values["eta_cid"] == pytest.approx(fit.values["eta_cid"], rel=1e-10)
    assert fit_c.phi_inj_stderr == pytest.approx(fit.phi_inj_stderr, rel=1e-8)
    lo, hi = fit.phi_inj_ci95  # Wald in ln Φ
    assert math.isclose(math.log(hi / fit.phi_inj), fit.phi_inj_stderr / fit.phi_inj * 1.959964,
                        rel_tol=1e-5) and lo < fit.phi_inj < hi
    with pytest.raises(KeyError, match="unknown parameter"):
        fit_fluence_series(SERIES_F, data, CLEAN, free=("nope",))
    with pytest.raises(ValueError, match="do not free eta_cid"):
        fit_fluence_series(SERIES_F, data, CLEAN, free=("injection_quantum_yield", "eta_cid"))


def test_low_fluence_slope_generalised_least_squares():
    """With a full covariance the slope is the GLS estimate (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹a, written here
    with numpy's solve; a diagonal covariance equals the σ weights."""
    rng = np.random.default_rng(3)
    f = np.array([1.0, 2.0, 5.0, 10.0, 20.0])
    a = 8.8 * f - 0.05 * f**2 + rng.normal(0, 0.2, f.size)
    sd = 0.02 * a
    cov = 0.5 * np.outer(sd, sd) + np.diag(0.5 * sd**2)  # a common-scale part (shared reference)
    est = low_fluence_slope(f, a, covariance=cov, photons_per_fluence=18.43)
    X = np.stack([f, f**2], axis=1)
    ci = np.linalg.inv(cov)
    coef = np.linalg.solve(X.T @ ci @ X, X.T @ ci @ a)
    err = np.sqrt(np.diag(np.linalg.inv(X.T @ ci @ X)))
    assert est.slope == pytest.approx(coef[0], rel=1e-10)
    assert est.curvature == pytest.approx(coef[1], rel=1e-8)
    assert est.slope_stderr == pytest.approx(err[0], rel=1e-8)
    diag = low_fluence_slope(f, a, covariance=np.diag(sd**2))
    assert diag.slope == pytest.approx(low_fluence_slope(f, a, sd).slope, rel=1e-12)
    with pytest.raises(ValueError, match="not both"):
        low_fluence_slope(f, a, sd, covariance=cov)

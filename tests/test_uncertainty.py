"""Gauss–Newton covariance against linear regression, identifiability, delta method, profile."""

import jax
import jax.numpy as jnp
import numpy as np

from hotcarrier.fitting.uncertainty import (
    gauss_newton_covariance,
    profile_interval,
    propagate_covariance,
)


def _line_data():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 200)
    y = 1.5 + 2.0 * x + rng.normal(0, 0.1, x.size)
    return x, y


def test_linear_regression_matches_ols():
    x, y = _line_data()
    A = np.c_[np.ones_like(x), x]
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    r = A @ beta - y
    cov_ols = np.linalg.inv(A.T @ A) * (r @ r) / (x.size - 2)
    res = gauss_newton_covariance(A, 0.5 * r @ r, x.size)
    np.testing.assert_allclose(res.covariance, cov_ols, rtol=1e-10)  # identical formula
    assert res.identifiable.all() and res.dof == 198


def test_non_identifiable_is_flagged_not_zero():
    x, y = _line_data()
    # third parameter duplicates the intercept; fourth has no effect at all
    A = np.c_[np.ones_like(x), x, 2 * np.ones_like(x), np.zeros_like(x)]
    res = gauss_newton_covariance(A, 1.0, x.size)
    assert list(res.identifiable) == [False, True, False, False]
    assert np.isnan(res.stderr[[0, 2, 3]]).all() and res.stderr[1] > 0


def test_delta_method_and_profile():
    x, y = _line_data()
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def resid(p, x, y):
        return p[0] + jnp.exp(p[1]) * x - y  # slope stored as its log

    A = np.c_[np.ones_like(x), x]
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    p = jnp.array([beta[0], np.log(beta[1])])
    r = np.asarray(resid(p, xj, yj))
    J = jax.jacfwd(resid)(p, xj, yj)  # residual Jacobian (forward mode)
    res = gauss_newton_covariance(J, 0.5 * r @ r, x.size)
    cov_phys, _ = propagate_covariance(lambda q: jnp.array([q[0], jnp.exp(q[1])]), p, res.covariance)
    cov_ols = np.linalg.inv(A.T @ A) * (r @ r) / (x.size - 2)
    np.testing.assert_allclose(cov_phys, cov_ols, rtol=1e-8)  # linear model: delta method exact

    def loss(q, x, y):
        rr = q[0] + q[1] * x - y
        return 0.5 * jnp.sum(rr * rr)

    se = np.sqrt(cov_ols[1, 1])

    def pinned(a, b, x, y):  # the loss of the intercept ``a`` at the pinned slope ``b``
        return loss(jnp.stack([a[0], b]), x, y)

    def refit(slope, intercept):  # the intercept re-optimised at a pinned slope
        from hotcarrier.fitting.optimize import minimize

        # one loss object for every step: minimize's program is keyed by it (a new lambda
        # per step compiled a new program per step)
        r = minimize(pinned, jnp.atleast_1d(intercept), jnp.asarray(slope), xj, yj)
        return float(r.fun), r.x[0]

    cost0 = float(loss(jnp.asarray(beta), xj, yj))
    (lo, hi), grid, prof = profile_interval(refit, float(beta[1]), se / 2, res.rmse**2 / 2,
                                            cost0=cost0, warm=float(beta[0]))
    # linear model: the profile is an exact parabola and the √Δcost interpolation is exact,
    # so the 68 % interval is ±1 stderr to the optimiser's precision
    np.testing.assert_allclose([lo, hi], [beta[1] - se, beta[1] + se], rtol=1e-6)
    assert np.all(prof >= -1e-12) and grid.size >= 5


def test_stacked_covariances_equal_the_single_fit_function():
    """gauss_newton_covariances (a batch's JᵀJ stack) = gauss_newton_covariance per item:
    regular items inverted together, a rank-deficient one flagged, a non-finite one skipped."""
    from hotcarrier.fitting.uncertainty import gauss_newton_covariance, gauss_newton_covariances

    rng = np.random.default_rng(3)
    jacs = [rng.normal(size=(60, 4)) * [1.0, 1e3, 1e-2, 5.0] for _ in range(3)]
    jacs[1][:, 3] = 2.0 * jacs[1][:, 0]  # parameters 0 and 3 not separately determined
    jtj = np.stack([J.T @ J for J in jacs] + [np.full((4, 4), np.nan)])
    cost = np.array([0.3, 0.5, 0.2, np.nan])
    n_data = np.array([60, 60, 60, 60])
    n_amp = np.array([10, 10, 10, 10])
    cov, ident = gauss_newton_covariances(jtj, cost, n_data, n_amp)
    for i, J in enumerate(jacs):
        ref = gauss_newton_covariance(J, cost[i], 60, 10)
        np.testing.assert_array_equal(ident[i], ref.identifiable)
        # (item 1 goes through a square root of JᵀJ: agreement to its conditioning)
        np.testing.assert_allclose(cov[i], ref.covariance, rtol=1e-7, equal_nan=True)
    assert ident[1].tolist() == [False, True, True, False]
    assert not ident[3].any() and np.all(np.isnan(cov[3]))

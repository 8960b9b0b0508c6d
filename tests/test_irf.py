"""IRF kernels against quadrature, limits, finite differences and invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy.integrate import quad
from scipy.special import erfc
from scipy.special import erfcx as scipy_erfcx

from hotcarrier.irf import erfcx, exp_conv_gauss, exp_conv_gauss_confluent, gaussian_irf


def exp_conv_gauss_deriv2(t, rate, t0, sigma):
    """∂²c/∂k² = G_σ ⊗ t²e^{−kt}: forward-mode autodiff of −(confluent kernel)."""
    def f(k):
        return -exp_conv_gauss_confluent(t, k, t0, sigma)

    k = jnp.asarray(rate, dtype=float)
    return jax.jvp(f, (k,), (jnp.ones_like(k),))[1]


def _quad(t, k, t0, s, n=0):
    """∫ G_s(t - t0 - u) uⁿ e^{-ku} du over u > 0, by adaptive quadrature on ±12 σ."""
    def f(u):
        return np.exp(-0.5 * ((t - t0 - u) / s) ** 2) / (s * np.sqrt(2 * np.pi)) * u**n * np.exp(-k * u)

    lo = max(0.0, t - t0 - 12 * s)
    hi = max(lo + 1e-12, t - t0 + 12 * s)
    return quad(f, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=200)[0]


CASES = [(0.0, 0.05), (1.3, 0.07), (50.0, 0.05), (0.02, 0.06), (9.5, 0.06)]
DELAYS = [-0.3, -0.05, 0.0, 0.02, 0.1, 0.5, 3.0]


@pytest.mark.parametrize("k,s", CASES)
def test_kernels_match_quadrature(k, s):
    # quad reaches ~1e-13 relative; 1e-12 absolute covers both kernel and quadrature error
    for t in DELAYS:
        np.testing.assert_allclose(float(exp_conv_gauss(t, k, 0.01, s)), _quad(t, k, 0.01, s),
                                   atol=1e-12)
        np.testing.assert_allclose(float(exp_conv_gauss_confluent(t, k, 0.01, s)),
                                   _quad(t, k, 0.01, s, 1), atol=1e-12)
        np.testing.assert_allclose(float(exp_conv_gauss_deriv2(t, k, 0.01, s)),
                                   _quad(t, k, 0.01, s, 2), atol=1e-12)


def test_limits():
    t = jnp.linspace(-1, 5, 61)
    # rate 0: integrated Gaussian, exact identity (erfcx·exp == erfc to rounding)
    np.testing.assert_allclose(exp_conv_gauss(t, 0.0, 0.2, 0.1), 0.5 * erfc(-(t - 0.2) / (0.1 * np.sqrt(2))),
                               atol=1e-15)
    # sigma -> 0: plain exponential step; at σ = 1e-6 ps the correction is O(kσ) ~ 1e-6
    tt = jnp.linspace(0.01, 5, 50)
    np.testing.assert_allclose(exp_conv_gauss(tt, 1.5, 0.0, 1e-6), np.exp(-1.5 * tt), rtol=1e-5)


def test_confluent_is_minus_rate_derivative():
    t = jnp.linspace(-1.0, 3.0, 41)
    g = jax.jacfwd(lambda k: exp_conv_gauss(t, k, 0.1, 0.07))(1.3)
    # both exact closed forms: agree to rounding
    np.testing.assert_allclose(-g, exp_conv_gauss_confluent(t, 1.3, 0.1, 0.07), atol=1e-14)


def test_kernel_gradients():
    T = jnp.linspace(-1.0, 3.0, 40)  # spans the branch switch
    check_grads(jax.jit(lambda k, s, t0: exp_conv_gauss(T, k, t0, s)), (1.3, 0.07, 0.1), order=1,
                modes=["fwd", "rev"])
    check_grads(jax.jit(lambda k, s, t0: exp_conv_gauss_confluent(T, k, t0, s)), (1.3, 0.07, 0.1),
                order=1, modes=["fwd", "rev"])
    for f in (exp_conv_gauss, exp_conv_gauss_confluent):
        # jitted: one program for the three rates (eager, every op of the gradient dispatches)
        g = jax.jit(jax.grad(lambda k, s: f(jnp.array([-1e3, -1.0, 0.0, 1e3]), k, 0.0, s).sum(),
                             argnums=(0, 1)))
        for k in (0.0, 50.0, 5e4):
            assert all(np.isfinite(v) for v in g(k, 0.05))


@given(rate=st.floats(0, 1e3), sigma=st.floats(1e-3, 1.0))
def test_kernel_is_a_bounded_signal(rate, sigma):
    y = exp_conv_gauss(jnp.linspace(-50, 50, 201), rate, 0.0, sigma)
    assert jnp.all(jnp.isfinite(y)) and jnp.all((y >= 0) & (y <= 1))
    h = exp_conv_gauss_confluent(jnp.linspace(-50, 50, 201), rate, 0.0, sigma)
    assert jnp.all(jnp.isfinite(h)) and jnp.all(h >= 0)


def test_gaussian_irf_derivatives():
    t = jnp.linspace(-0.5, 0.5, 101)
    g = gaussian_irf(t, 0.05, 0.1)
    # window is -5.5σ..+4.5σ: the missing tail is 3.4e-6; trapezoid error is far smaller
    assert abs(float(jnp.trapezoid(g, t)) - 1.0) < 5e-6
    for n in (1, 2, 3):
        ad = jax.vmap(lambda x: _nth(lambda y: gaussian_irf(y, 0.05, 0.1), n)(x))(t)
        np.testing.assert_allclose(gaussian_irf(t, 0.05, 0.1, order=n), ad, rtol=1e-10, atol=1e-9)


def _nth(f, n):
    for _ in range(n):
        f = jax.grad(f)
    return f


def test_erfcx_against_scipy_on_its_whole_domain():
    # dense where the rational approximation changes character, logarithmic out to 1e8,
    # and the band 26.54–26.64 where jax.scipy.special.erfcx (jax 0.10.2) returns 0
    x = np.concatenate([np.linspace(0.0, 30.0, 30001), np.linspace(26.5, 26.7, 2001),
                        np.geomspace(30.0, 1e8, 2000)])
    ours = np.asarray(jax.jit(erfcx)(jnp.asarray(x)))
    np.testing.assert_allclose(ours, scipy_erfcx(x), rtol=2e-15, atol=0)
    # derivative (closed form) against a central difference of scipy's erfcx
    xs = np.array([0.3, 1.0, 4.0, 26.6, 300.0])
    h = 1e-6 * np.maximum(xs, 1.0)
    fd = (scipy_erfcx(xs + h) - scipy_erfcx(xs - h)) / (2 * h)
    d = jax.jit(jax.vmap(jax.grad(erfcx)))(jnp.asarray(np.append(xs, 0.0)))
    np.testing.assert_allclose(d[:-1], fd, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(d[-1], -2.0 / np.sqrt(np.pi), rtol=1e-15)  # erfcx′(0)


def test_kernel_near_the_irf_for_a_very_fast_rate():
    # k = 600 ps⁻¹, σ = 60 fs: delays where erfcx's argument z = (kσ² − τ)/(σ√2) lies in
    # 26.54–26.64, where an erfcx built from exp(z²)·erfc(z) underflows (the kernel of
    # jax.scipy.special.erfcx returned 0 there instead of ~3e-3)
    k, s = 600.0, 0.06
    for z in (26.56, 26.60, 26.63):
        t = k * s * s - z * s * np.sqrt(2.0)
        np.testing.assert_allclose(float(exp_conv_gauss(t, k, 0.0, s)), _quad(t, k, 0.0, s),
                                   rtol=1e-10, atol=1e-15)

"""Gaussian instrument response and analytic exponential ⊗ Gaussian kernels.

All functions are pure JAX (arrays in, arrays out), broadcast over their arguments and keep
finite values and finite gradients for every delay, rate ≥ 0 and width > 0. Units: ps and ps⁻¹.

Conventions follow pyglotaran: the IRF is a *unit-area* Gaussian of standard deviation
``sigma`` centred at ``t0``; the decay kernel is

    c(t) = ½ · exp(−k(t − t0) + k²σ²/2) · [1 + erf((t − t0 − kσ²)/(σ√2))].
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import erfc, erfcx

SQRT2 = math.sqrt(2.0)
SQRT_PI = math.sqrt(math.pi)
SQRT_2PI = math.sqrt(2.0 * math.pi)

__all__ = [
    "exp_conv_gauss",
    "exp_conv_gauss_moments",
    "exp_conv_gauss_confluent",
    "exp_conv_gauss_deriv",
    "gaussian_irf",
]


def gaussian_irf(t, t0, sigma, order: int = 0):
    """Unit-area Gaussian IRF or its ``order``-th time derivative.

    Parameters
    ----------
    t : Array, ps
        Delays.
    t0 : float or Array, ps
        IRF centre.
    sigma : float or Array, ps
        Standard deviation (> 0).
    order : int
        0 gives the density; n ≥ 1 its n-th derivative with respect to ``t`` (ps⁻ⁿ⁻¹),
        via the probabilists' Hermite polynomials: G⁽ⁿ⁾(τ) = (−1)ⁿ Heₙ(τ/σ) G(τ)/σⁿ.

    Returns
    -------
    Array, ps⁻¹⁻ⁿ
        Broadcast shape of the inputs.

    Notes
    -----
    Used for the coherent-artefact term (pyglotaran uses the IRF and its first two
    derivatives). Exact everywhere; underflows to 0 beyond ~38 σ.
    """
    x = (t - t0) / sigma
    g = jnp.exp(-0.5 * x * x) / (sigma * SQRT_2PI)
    # He_0 = 1, He_1 = x, He_{n+1} = x He_n − n He_{n−1}
    he_prev, he = jnp.ones_like(x), x
    if order == 0:
        return g
    for n in range(1, order):
        he_prev, he = he, x * he - n * he_prev
    return (-1.0) ** order * he * g / sigma**order


def _kernel_parts(tau, rate, sigma):
    """c(τ), the Gaussian density G_σ(τ) and h₁ = G_σ ⊗ (t e^{−kt}) from ONE erfcx.

    With z = (kσ² − τ)/(σ√2), w = erfcx(|z|) and E = exp(−τ²/(2σ²)):
    z ≥ 0 (early tail): c = ½·E·w and h₁ = σ²G·(1 − √π·z·w) (no cancellation);
    z < 0: c = e^{−kτ + k²σ²/2} − ½·E·w (= ½·e^{…}·erfc(z); both terms ≤ 1, c ≥ half the
    first) and h₁ = (τ − kσ²)·c + σ²G (both terms positive). Inputs of the unused branch are
    clipped into its own domain, so neither branch produces inf/NaN.
    """
    s2 = sigma * sigma
    z = (rate * s2 - tau) / (sigma * SQRT2)
    early = z >= 0.0
    w = erfcx(jnp.abs(z))
    E = jnp.exp(-0.5 * (tau / sigma) ** 2)
    tau_l = jnp.where(early, rate * s2, tau)  # exponent ≤ −k²σ²/2 ≤ 0 on the late branch
    A = jnp.exp(-rate * tau_l + 0.5 * (rate * sigma) ** 2)
    c = jnp.where(early, 0.5 * E * w, A - 0.5 * E * w)
    G = E / (sigma * SQRT_2PI)
    z_e = jnp.where(early, z, 0.0)
    h1 = jnp.where(early, s2 * G * jnp.maximum(1.0 - SQRT_PI * z_e * w, 0.0),
                   (tau - rate * s2) * c + s2 * G)
    return c, G, h1


@jax.custom_jvp
def _kernel(tau, rate, sigma):
    return _kernel_parts(tau, rate, sigma)[0]


@_kernel.defjvp
def _kernel_jvp(primals, tangents):
    # closed-form derivatives (no autodiff through erfcx): with G the IRF density,
    # ∂c/∂τ = G − k·c, ∂c/∂k = −h₁ (the confluent kernel) and, as G_σ obeys the heat
    # equation ∂G/∂σ = σ·∂²G/∂τ², ∂c/∂σ = σ·∂²c/∂τ² = −(τ/σ)·G − kσ·(G − k·c)
    tau, rate, sigma = primals
    dtau, drate, dsigma = tangents
    c, G, h1 = _kernel_parts(tau, rate, sigma)
    dc_dtau = G - rate * c
    dc_dsigma = -(tau / sigma) * G - rate * sigma * dc_dtau
    return c, dc_dtau * dtau - h1 * drate + dc_dsigma * dsigma


def exp_conv_gauss(t, rate, t0, sigma):
    """Unit-amplitude exponential decay convolved with a unit-area Gaussian IRF.

    Parameters
    ----------
    t : Array, ps
        Pump–probe delays.
    rate : float or Array, ps⁻¹
        Decay rate k ≥ 0; 0 gives the integrated Gaussian ½·erfc(−(t − t0)/(σ√2)).
    t0 : float or Array, ps
        IRF centre (time zero).
    sigma : float or Array, ps
        IRF standard deviation (FWHM / 2.3548); must be > 0.

    Returns
    -------
    Array, dimensionless
        Broadcast shape of the inputs; within [0, 1].

    Notes
    -----
    With τ = t − t0 and z = (kσ² − τ)/(σ√2) one erfcx serves both algebraically equal forms
    (see ``_kernel_parts``): z ≥ 0 (early tail, where the naive form is ∞ × 0):
    ½·exp(−τ²/(2σ²))·erfcx(z); z < 0: exp(−kτ + k²σ²/2) − ½·exp(−τ²/(2σ²))·erfcx(−z).
    Derivatives with respect to t, t0, k and σ are closed forms in the same quantities
    (``jax.custom_jvp``), so forward and reverse mode never differentiate through erfcx and
    stay finite everywhere. Relative error ~1e-14 against high-precision arithmetic for
    kσ up to 5000 (jax-notes.md).
    """
    dtype = jnp.result_type(t, rate, t0, sigma, float)
    return _kernel(jnp.asarray(t - t0, dtype), jnp.asarray(rate, dtype),
                   jnp.asarray(sigma, dtype))


def exp_conv_gauss_confluent(t, rate, t0, sigma):
    """Gaussian IRF convolved with t·exp(−k t) (the confluent, equal-rate kernel).

    This is −∂/∂k of :func:`exp_conv_gauss`; it appears when two compartments of a chain
    decay with equal rates (degenerate eigenvalues).

    Parameters
    ----------
    t : Array, ps
        Delays.
    rate : float or Array, ps⁻¹
        Rate k ≥ 0.
    t0 : float or Array, ps
        IRF centre.
    sigma : float or Array, ps
        IRF standard deviation (> 0).

    Returns
    -------
    Array, ps
        h(t) = ∫ G_σ(t − t0 − s) s e^{−ks} ds over s > 0; ≥ 0.

    Notes
    -----
    h = (τ − kσ²)·c + σ²·G_σ(τ), with c the kernel of :func:`exp_conv_gauss` and G_σ the
    unit-area Gaussian density (checked against quadrature in tests). For z ≥ 0
    (τ ≤ kσ²) the two terms cancel; there the equal form h = σ²·G_σ(τ)·[1 − √π·z·erfcx(z)]
    is used, accurate in absolute terms (|error| ≲ 1e-16·σ²G_σ) and never negative.
    For z < 0 both terms are positive (no cancellation).
    """
    tau = t - t0
    s2 = sigma * sigma
    z = (rate * s2 - tau) / (sigma * SQRT2)
    early = z >= 0.0
    tau_e = jnp.where(early, tau, 0.0)
    z_e = jnp.where(early, z, 0.0)
    tau_l = jnp.where(early, rate * s2 + sigma, tau)
    z_l = jnp.where(early, -1.0 / SQRT2, z)
    g_e = jnp.exp(-0.5 * (tau_e / sigma) ** 2) / (sigma * SQRT_2PI)
    h_early = s2 * g_e * jnp.maximum(1.0 - SQRT_PI * z_e * erfcx(z_e), 0.0)
    c_l = 0.5 * jnp.exp(-rate * tau_l + 0.5 * (rate * sigma) ** 2) * erfc(z_l)
    g_l = jnp.exp(-0.5 * (tau_l / sigma) ** 2) / (sigma * SQRT_2PI)
    h_late = (tau_l - rate * s2) * c_l + s2 * g_l
    return jnp.where(early, h_early, h_late)


def exp_conv_gauss_deriv(t, rate, t0, sigma, order: int):
    """``order``-th derivative of :func:`exp_conv_gauss` with respect to the rate.

    Parameters
    ----------
    t, rate, t0, sigma : Array
        As in :func:`exp_conv_gauss` (ps, ps⁻¹, ps, ps).
    order : int
        0 (the kernel), 1 (−confluent kernel) or higher (forward-mode autodiff of the
        confluent kernel; used only for ≥ 3-fold degenerate rates).

    Returns
    -------
    Array, psⁿ
        ∂ⁿc/∂kⁿ = (−1)ⁿ · (G_σ ⊗ tⁿe^{−kt}).
    """
    if order == 0:
        return exp_conv_gauss(t, rate, t0, sigma)
    if order == 1:
        return -exp_conv_gauss_confluent(t, rate, t0, sigma)

    def f(k):
        return -exp_conv_gauss_confluent(t, k, t0, sigma)

    for _ in range(order - 1):
        f = _dk(f)
    return f(jnp.asarray(rate, dtype=jnp.result_type(float)))


def _dk(f):
    def df(k):
        return jax.jvp(f, (k,), (jnp.ones_like(k),))[1]

    return df


def exp_conv_gauss_moments(t, rate, t0, sigma, order: int):
    """Kernels h_n = G_σ ⊗ (tⁿ e^{−kt}) = (−1)ⁿ ∂ⁿc/∂kⁿ for n = 0..order, sharing one erfc/erfcx.

    Parameters
    ----------
    t, rate, t0, sigma : Array
        As in :func:`exp_conv_gauss` (broadcast together).
    order : int
        Highest moment.

    Returns
    -------
    Array (order + 1, *broadcast shape), psⁿ

    Notes
    -----
    h₀ = c, h₁ the confluent kernel, and the recurrence
    h_{n+1} = (τ − kσ²)·h_n + n·σ²·h_{n−1} (n ≥ 1; integration by parts of the Gaussian).
    For τ > kσ² all terms are positive; for τ < kσ² (the early tail, where every h_n is
    ≲ σⁿ⁺¹G_σ) the recurrence cancels, with absolute error ~1e-16·σⁿ⁺¹·G_σ — negligible for
    fitting. One evaluation of the special functions serves every order, which keeps the
    compiled program small.
    """
    tau = t - t0
    s2 = sigma * sigma
    h0, _, h1 = _kernel_parts(tau, rate, sigma)  # one erfcx serves every order
    out = [h0, h1] if order >= 1 else [h0]
    a = tau - rate * s2
    for n in range(1, order):
        out.append(a * out[n] + n * s2 * out[n - 1])
    return jnp.stack(out)

"""Linear compartmental kinetics H → C → T/L with a Gaussian IRF, closed form (spec §5).

State y = (H, C, T, L) per absorbed photon (multiply by N_abs,Au for numbers per particle):

    dH/dt = η_LD f_>^eff s(t) − (k_inj + k_ee) H
    dC/dt = η_CID s(t) + k_inj H − (k_BET + k_trap + k_sep) C          (e_T = 0, spec §5.2)
    dT/dt = k_trap C − k_Trec T
    dL/dt = k_sep C − k_L L ,   k_L = k_CR + k_hs + k_H + m k₁ f_CB   (µs; ≈ 0 on the TA window)

s(t) = unit-area Gaussian pump–probe cross-correlation of width σ (FWHM = 2.3548 σ), centred at
t0. K is lower-triangular (e_T = 0: deep-trap re-emission ≈ 2 s⁻¹ is neglected), so the
IRF-convolved solution is a sum of exp⊗Gaussian kernels g(τ; k, σ) (:mod:`hotcarrier.irf`):

    H = b_H g(k_H)
    C = b_C g(k_C) + b_H k_inj D(k_H, k_C)
    T = k_trap [ b_C D(k_C, k_T) + b_H k_inj D₂(k_H, k_C, k_T) ]
    L = k_sep  [ b_C D(k_C, k_L) + b_H k_inj D₂(k_H, k_C, k_L) ]

with the divided differences D(a, b) = (g(a) − g(b))/(b − a) (the convolution of the Bateman
function (e^{−at} − e^{−bt})/(b − a)) and D₂(a, b, c) = (D(a, b) − D(b, c))/(c − a). For
|a − b| ≤ 1e-5 (a + b) the confluent kernel g₁(k̄) = −∂g/∂k at the mean rate replaces D (the
degenerate-rate limit; relative error O((a−b)²/k²) ≈ 1e-11), so the model stays finite and
differentiable through rate crossings. A three-fold degeneracy k_H = k_C = k_T is not
handled (it cannot occur within the bounds of spec §11: k_H ≥ 10 ps⁻¹ > k_C > k_T).

Every trap-dependent quantity is Poisson-averaged over the trap count m (spec §8.4); the sum
runs over m = 0 … n_max, a static integer (default ⌈λ + 12√λ + 30⌉ from the concrete λ).

The generic route y = V diag(g(−λ_i)) V⁻¹ b with analytic (Bateman) eigenvectors of a
lower-triangular K (:func:`bateman_eigenvectors`, :func:`convolved_populations_eig`) is
also provided (used with the explicit plasmon compartment), and a diffrax stiff-ODE solution
(:func:`ode_populations`) serves as the **test oracle only**.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..irf import exp_conv_gauss, exp_conv_gauss_confluent
from ..units import fwhm_to_sigma
from . import traps
from .injection import hot_electron_branch

SPECIES = ("H", "C", "T", "L")
"""Names of the kinetic compartments, in the order of the state vector."""


class Rates(NamedTuple):
    """Rates (ps⁻¹) and source weights (per absorbed photon) of the linear chain."""

    b_H: jax.Array  # η_LD f_>^eff, –
    b_C: jax.Array  # η_CID, –
    k_inj: jax.Array  # injection, ps⁻¹
    k_H: jax.Array  # total decay of H: k_inj + k_ee, ps⁻¹
    k_bet: jax.Array  # back electron transfer, ps⁻¹
    k_sep: jax.Array  # C → L, ps⁻¹
    k1: jax.Array  # capture rate per trap, ps⁻¹
    k_T: jax.Array  # trapped-electron recombination k_Trec (+ e_T = 0), ps⁻¹
    k_L0: jax.Array  # trap-free decay of L: k_CR + k_hs + k_H, ps⁻¹
    k1_fcb: jax.Array  # k₁ f_CB: per-trap loss of L electrons, ps⁻¹


def chain_rates(p, model: str = "all_above") -> Rates:
    """Rates of the linear chain from :class:`InterfaceParams` (spec §5.2, §8), ps⁻¹."""
    k1 = traps.k1_per_ps(p)
    k_L0 = 1e-6 * (1.0 / p.tau_cr_us + 1.0 / p.tau_hs_us + 1.0 / p.tau_H_us)
    return Rates(
        b_H=hot_electron_branch(p, model), b_C=p.eta_cid, k_inj=p.k_inj,
        k_H=p.k_inj + p.k_ee, k_bet=p.k_bet, k_sep=p.k_sep, k1=k1, k_T=p.k_trec,
        k_L0=k_L0, k1_fcb=k1 * p.f_cb,
    )


def rate_matrix(p, m=0.0, model: str = "all_above"):
    """K (4×4, ps⁻¹) of dy/dt = K y + b s(t) for a particle with ``m`` traps (spec §5.2)."""
    r = chain_rates(p, model)
    k_trap = m * r.k1
    k_C = r.k_bet + k_trap + r.k_sep
    k_L = r.k_L0 + m * r.k1_fcb
    z = jnp.zeros(())
    return jnp.array([
        [-r.k_H, z, z, z],
        [r.k_inj, -k_C, z, z],
        [z, k_trap, -r.k_T, z],
        [z, r.k_sep, z, -k_L],
    ])


def source_vector(p, model: str = "all_above"):
    """b = (η_LD f_>^eff, η_CID, 0, 0) per absorbed photon (spec §5.2), –."""
    r = chain_rates(p, model)
    z = jnp.zeros(())
    return jnp.stack([jnp.asarray(r.b_H, float), jnp.asarray(r.b_C, float), z, z])


# ----------------------------------------------------------------------------- kernels
def _dd(ga, gb, t, a, b, t0, sigma):
    """D(a, b) from precomputed kernels g(a), g(b); confluent kernel where a ≈ b."""
    d = b - a
    near = jnp.abs(d) <= 1e-5 * (jnp.abs(a) + jnp.abs(b)) + 1e-300
    d_safe = jnp.where(near, 1.0, d)
    conf = exp_conv_gauss_confluent(t, 0.5 * (a + b), t0, sigma)
    return jnp.where(near, conf, (ga - gb) / d_safe)


_dd_stacked = _dd  # same formula; named for the stacked (leading-axis) use


def divided_difference(t, a, b, t0, sigma):
    """D(a, b) = (g(a) − g(b))/(b − a): IRF ⊗ (e^{−at} − e^{−bt})/(b − a); g₁ when a ≈ b.

    Parameters
    ----------
    t : Array, ps
        Delays.
    a, b : Array, ps⁻¹
        Rates (broadcast with ``t``).
    t0, sigma : float or Array, ps
        IRF centre and standard deviation.

    Returns
    -------
    Array, ps
    """
    return _dd(exp_conv_gauss(t, a, t0, sigma), exp_conv_gauss(t, b, t0, sigma), t, a, b,
               t0, sigma)


def divided_difference2(t, a, b, c, t0, sigma):
    """D₂(a, b, c) = (D(a, b) − D(b, c))/(c − a): IRF ⊗ 3-level Bateman function / (rates).

    Equals Σ_i e^{−k_i t}/Π_{j≠i}(k_j − k_i) convolved with the IRF; needs a ≠ c (the chain
    uses a = k_H, the largest rate, and c the smallest), any b.
    """
    return (divided_difference(t, a, b, t0, sigma)
            - divided_difference(t, b, c, t0, sigma)) / (c - a)


def _sigma(p, sigma):
    return fwhm_to_sigma(p.irf_fwhm_fs * 1e-3) if sigma is None else sigma


def convolved_populations_m(t, p, m, *, model: str = "all_above", t0=0.0, sigma=None):
    """IRF-convolved (H, C, T, L) per absorbed photon for particles with ``m`` traps.

    Parameters
    ----------
    t : Array (N,), ps
        Delays.
    p : InterfaceParams
        Parameters.
    m : float or Array (M,)
        Trap counts; an array gives a leading axis.
    model : str
        Barrier-crossing model.
    t0 : float, ps
        Time zero (IRF centre).
    sigma : float, ps, optional
        IRF standard deviation; default from ``p.irf_fwhm_fs``.

    Returns
    -------
    Array (4, N) or (4, M, N), electrons per absorbed photon
    """
    s = _sigma(p, sigma)
    r = chain_rates(p, model)
    t = jnp.asarray(t, float)
    m = jnp.asarray(m, float)
    mm = jnp.atleast_1d(m)[..., None]  # (M, 1): rates broadcast against t (N,)
    k_trap = mm * r.k1
    k_C = r.k_bet + r.k_sep + k_trap
    k_L = r.k_L0 + mm * r.k1_fcb
    # four kernels and three divided differences cover the whole chain; each kind of kernel is
    # evaluated in ONE stacked call (a small XLA graph compiles several times faster)
    ones = jnp.ones_like(k_C)
    g4 = exp_conv_gauss(t, jnp.stack([r.k_H * ones, k_C, r.k_T * ones, k_L]), t0, s)
    gH, gC, gT, gL = g4[0], g4[1], g4[2], g4[3]
    a3 = jnp.stack([r.k_H * ones, k_C, k_C])
    b3 = jnp.stack([k_C, r.k_T * ones, k_L])
    d3 = _dd_stacked(jnp.stack([gH, gC, gC]), jnp.stack([gC, gT, gL]), t, a3, b3, t0, s)
    D_HC, D_CT, D_CL = d3[0], d3[1], d3[2]
    H = r.b_H * gH
    C = r.b_C * gC + r.b_H * r.k_inj * D_HC
    T = k_trap * (r.b_C * D_CT + r.b_H * r.k_inj * (D_HC - D_CT) / (r.k_T - r.k_H))
    L = r.k_sep * (r.b_C * D_CL + r.b_H * r.k_inj * (D_HC - D_CL) / (k_L - r.k_H))
    H = jnp.broadcast_to(H, C.shape)
    y = jnp.stack([H, C, T, L])
    return y[:, 0] if m.ndim == 0 else y


def populations(t, p, *, model: str = "all_above", t0=0.0, sigma=None, n_max: int | None = None,
                quadrature: int | None = None):
    """Poisson-averaged IRF-convolved populations (H, C, T, L) per absorbed photon (spec §5.3, §8.4).

    Parameters
    ----------
    t : Array (N,), ps
        Delays.
    p : InterfaceParams
        Parameters (floats or traced arrays).
    model : str
        Barrier-crossing model of spec §4.2.
    t0 : float, ps
        Time zero.
    sigma : float, ps, optional
        IRF standard deviation (default from ``p.irf_fwhm_fs``).
    n_max : int, optional
        Static truncation of the trap-count sum; default ⌈λ + 12√λ + 30⌉ from the concrete
        λ = ``p.mean_traps`` (pass it explicitly under ``jit`` when N_it is traced).
    quadrature : int, optional
        Use an n-node Gauss–Poisson quadrature (:func:`traps.gauss_poisson_nodes`) instead of
        the truncated sum: the fitter's fast path (agrees to < 1e-10, tested).

    Returns
    -------
    Array (4, N), electrons per absorbed photon
    """
    if quadrature is not None:
        return _populations_quad(jnp.asarray(t, float), p, t0, _sigma(p, sigma), quadrature,
                                 model)
    n = traps.m_max(p.mean_traps) if n_max is None else n_max
    return _populations(jnp.asarray(t, float), p, t0, _sigma(p, sigma), n, model)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _populations_quad(t, p, t0, sigma, n_nodes, model):
    x, w = traps.gauss_poisson_nodes(p.mean_traps, n_nodes)
    y = convolved_populations_m(t, p, x, model=model, t0=t0, sigma=sigma)
    return jnp.einsum("m,smn->sn", w, y)


@functools.partial(jax.jit, static_argnums=(4, 5))
def _populations(t, p, t0, sigma, n_max, model):
    w = traps.poisson_weights(p.mean_traps, n_max)
    y = convolved_populations_m(t, p, traps.trap_counts(n_max), model=model, t0=t0, sigma=sigma)
    return jnp.einsum("m,smn->sn", w, y)


# ------------------------------------------------------------- generic Bateman eigen route
def bateman_eigenvectors(K):
    """Eigenvalues and analytic eigenvectors of a lower-triangular K (distinct diagonal).

    Bateman recursion: for eigenvalue λ_j = K_jj, v_j[i] = 0 (i < j), v_j[j] = 1 and
    v_j[i] = Σ_{l=j}^{i−1} K_il v_j[l] / (λ_j − K_ii) for i > j. Differentiable (no
    ``jnp.linalg.eig``, whose non-symmetric eigenvectors have no derivatives in JAX).

    Returns
    -------
    lam : Array (n,), ps⁻¹
    V : Array (n, n), unit lower-triangular, columns are eigenvectors
    """
    n = K.shape[0]
    lam = jnp.diagonal(K)
    cols = []
    for j in range(n):
        v = [jnp.zeros(()) for _ in range(n)]
        v[j] = jnp.ones(())
        for i in range(j + 1, n):
            acc = sum(K[i, l] * v[l] for l in range(j, i))
            v[i] = acc / (lam[j] - K[i, i])
        cols.append(jnp.stack(v))
    return lam, jnp.stack(cols, axis=1)


def convolved_populations_eig(t, K, b, t0, sigma):
    """y(τ) = V diag(g(τ; −λ_i, σ)) V⁻¹ b for lower-triangular K (distinct rates), spec §5.3.

    Returns
    -------
    Array (n, N)
    """
    lam, V = bateman_eigenvectors(K)
    c = jax.scipy.linalg.solve_triangular(V, b, lower=True, unit_diagonal=True)
    g = exp_conv_gauss(jnp.asarray(t, float)[None, :], -lam[:, None], t0, sigma)
    return V @ (c[:, None] * g)


def plasmon_populations(t, p, T1_fs, *, model: str = "all_above", t0=0.0, sigma=None,
                        m=0.0):
    """(P, H, C, T, L) per absorbed photon with the explicit plasmon compartment (spec §3).

    dP/dt = s(t) − P/T1 feeds H with η_LD f_>^eff P/T1 and C with η_CID P/T1; for T1 ≪ σ
    the result tends to :func:`convolved_populations_m`. Fixed trap count ``m``.
    """
    s = _sigma(p, sigma)
    K4 = rate_matrix(p, m, model)
    b4 = source_vector(p, model)
    kP = 1e3 / T1_fs
    K = jnp.zeros((5, 5)).at[1:, 1:].set(K4).at[0, 0].set(-kP).at[1:, 0].set(kP * b4)
    b = jnp.zeros(5).at[0].set(1.0)
    return convolved_populations_eig(t, K, b, t0, s)


# ----------------------------------------------------------------- ODE test oracle
def ode_populations(t, p, m=0.0, *, model: str = "all_above", t0=0.0, sigma=None,
                    rtol=1e-11, atol=1e-13):
    """Populations and the cumulative injection flux by stiff ODE integration (TEST ORACLE).

    Integrates dy/dt = K y + b G_σ(t − t0) (diffrax Kvaerno5, PID controller) from
    t0 − 12σ with y = 0, augmented by dΦ/dt = η_CID G_σ + k_inj H, so the last row is
    ∫ injection flux dt up to each time (spec §5.4, V4).

    Returns
    -------
    Array (5, N): H, C, T, L, cumulative injected electrons per absorbed photon
    """
    import diffrax

    s = _sigma(p, sigma)
    K = rate_matrix(p, m, model)
    b = source_vector(p, model)
    r = chain_rates(p, model)

    def rhs(tt, y, args):
        src = jnp.exp(-0.5 * ((tt - t0) / s) ** 2) / (s * jnp.sqrt(2 * jnp.pi))
        dy = K @ y[:4] + b * src
        return jnp.concatenate([dy, jnp.atleast_1d(r.b_C * src + r.k_inj * y[0])])

    t = jnp.asarray(t, float)
    t_start = jnp.minimum(t0 - 12.0 * s, t[0])
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs), diffrax.Kvaerno5(), t0=t_start, t1=t[-1], dt0=s / 20,
        y0=jnp.zeros(5), saveat=diffrax.SaveAt(ts=t),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, dtmax=s / 2
                                                  if False else None),
        max_steps=200_000)
    return sol.ys.T

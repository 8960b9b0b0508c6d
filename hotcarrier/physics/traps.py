"""SRH capture at interfacial traps and the Poisson average over the trap count (spec §8).

Units: k₁ and trap rates in ps⁻¹ for the ultrafast module (``*_per_s`` variants in s⁻¹).

* capture rate per trap k₁ = σ_n v_th / V_sh (SRH, Sze [L]); 1.559e9 s⁻¹ for the defaults [C];
* a particle with m traps traps CB electrons at k_trap(m) = m k₁;
* mean traps per particle λ = N_it A_int (0.0707 clean, 70.7 defective [C]);
* ensemble averages ⟨Q⟩ = Σ_m Poisson(m; λ) Q(m), truncated at m_max = ⌈λ + 12√λ + 30⌉ (§8.4).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy


def k1_per_ps(p):
    """Capture rate per trap k₁ = σ_n v_th / V_sh, ps⁻¹ (1.559e-3 ps⁻¹ default [C])."""
    return p.k1_per_s * 1e-12


def trap_rate(p, m):
    """Trapping rate k_trap(m) = m k₁ of a particle with ``m`` traps, ps⁻¹."""
    return m * k1_per_ps(p)


def m_max(lam) -> int:
    """Truncation m_max = ⌈λ + 12√λ + 30⌉ of the Poisson sum (spec §8.4); ``lam`` concrete."""
    lam = float(lam)
    return int(math.ceil(lam + 12.0 * math.sqrt(lam) + 30.0))


def trap_counts(n_max: int):
    """The trap counts m = 0 … n_max as a float array."""
    return jnp.arange(n_max + 1, dtype=float)


def poisson_weights(lam, n_max: int):
    """Poisson(m; λ) for m = 0 … n_max (differentiable in λ), –.

    The tail beyond n_max = :func:`m_max` (λ) is below 1e-20 for every λ, so the weights sum to
    1 to float64 precision (tested).
    """
    m = trap_counts(n_max)
    return jnp.exp(xlogy(m, lam) - lam - gammaln(m + 1.0))


def poisson_average(q_of_m, lam, n_max: int):
    """⟨Q⟩ = Σ_m Poisson(m; λ) Q(m); ``q_of_m`` maps the array of m (shape (M,)) to (M, …)."""
    w = poisson_weights(lam, n_max)
    q = q_of_m(trap_counts(n_max))
    return jnp.tensordot(w, q, axes=(0, 0))


def trap_free_fraction(p):
    """Fraction of particles without interfacial traps e^{−λ} (0.932 clean [C]), –."""
    return jnp.exp(-p.mean_traps)


def long_lived_fraction(p, n_max: int | None = None):
    """Poisson-averaged φ_LL = ⟨k_sep/(k_sep + k_BET + m k₁)⟩ (spec §5.2), –.

    The long-lived plateau per absorbed photon is Φ_inj φ_LL (bridge to the H2 model, §9.4b).
    ``n_max`` defaults to :func:`m_max` (λ) and must be given when λ is traced.
    """
    n = m_max(p.mean_traps) if n_max is None else n_max
    k1 = k1_per_ps(p)
    return poisson_average(lambda m: p.k_sep / (p.k_sep + p.k_bet + m * k1), p.mean_traps, n)


def trapped_fraction(p, n_max: int | None = None):
    """Poisson-averaged fraction of injected electrons that end in deep traps, –."""
    n = m_max(p.mean_traps) if n_max is None else n_max
    k1 = k1_per_ps(p)
    return poisson_average(lambda m: m * k1 / (p.k_sep + p.k_bet + m * k1), p.mean_traps, n)


def back_transfer_fraction(p, n_max: int | None = None):
    """Poisson-averaged fraction of injected electrons lost by back electron transfer, –."""
    n = m_max(p.mean_traps) if n_max is None else n_max
    k1 = k1_per_ps(p)
    return poisson_average(lambda m: p.k_bet / (p.k_sep + p.k_bet + m * k1), p.mean_traps, n)


def gauss_poisson_nodes(lam, n_nodes: int = 24):
    """Gauss quadrature for the Poisson(λ) measure (Gauss–Charlier, Golub–Welsch).

    Σ_m Poisson(m; λ) F(m) ≈ Σ_i w_i F(x_i), exact for polynomials F of degree ≤ 2n − 1. The
    Jacobi matrix of the monic Charlier polynomials has diagonal α_k = k + λ and off-diagonal
    √(kλ) (k = 1 … n−1); nodes are its eigenvalues, weights the squared first components of
    the eigenvectors (``eigh``: symmetric, hence differentiable in λ).

    Used by the fitter as a fast, smooth stand-in for the truncated sum of spec §8.4 (24
    nodes instead of up to ~200 terms for the defective λ = 70.7); the trap-dependent
    observables are smooth in m (k_trap = m k₁) and agree with the exact truncated sum to
    < 1e-10 (tested). λ ≥ 0; for λ = 0 all weight sits on the node 0.

    Returns
    -------
    nodes : Array (n,)
        Trap counts (non-integer quadrature nodes), –.
    weights : Array (n,)
        Sum to 1.
    """
    lam = jnp.asarray(lam, float)
    k = jnp.arange(n_nodes, dtype=float)
    off = jnp.sqrt(k[1:] * lam)
    J = jnp.diag(k + lam) + jnp.diag(off, 1) + jnp.diag(off, -1)
    x, V = jnp.linalg.eigh(J)
    return jnp.maximum(x, 0.0), V[0, :] ** 2

"""SRH capture at interfacial traps and the Poisson average over the trap count (spec §8).

Units: k₁ and trap rates in ps⁻¹ for the ultrafast module (``*_per_s`` variants in s⁻¹).

* capture rate per trap k₁ = σ_n v_th / V_sh (SRH, Sze [L]); 1.559e9 s⁻¹ for the defaults [C];
* a particle with m traps traps CB electrons at k_trap(m) = m k₁;
* mean traps per particle λ = N_it A_int (0.0707 clean, 70.7 defective [C]);
* ensemble averages ⟨Q⟩ = Σ_m Poisson(m; λ) Q(m), truncated at m_max = ⌈λ + 12√λ + 30⌉ (§8.4).

This module is the one home of the Poisson average (the ultrafast model and the H2 model both
call it). **Term-count convention:** a truncation is given by ``n_max``, the *largest trap count
included*; every sum runs over m = 0 … n_max, i.e. ``n_max + 1`` terms. :func:`m_max` is the
spec's n_max for one λ; :func:`padded_m_max` rounds it up so that ``n_max + 1`` is a multiple of
64 (few distinct compiled shapes when λ varies). The neglected tail Σ_{m > m_max} Poisson(m; λ)
is below 1e-20 for every λ ≥ 0, so the truncated sum is the exact average to float64 round-off
(tests/test_traps_poisson.py: ≤ 1e-13 against closed-form Poisson averages for λ = 0 … 707).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy

from ..errors import ModelError

__all__ = [
    "back_transfer_fraction",
    "gauss_poisson_nodes",
    "k1_per_ps",
    "long_lived_fraction",
    "m_max",
    "padded_m_max",
    "poisson_average",
    "poisson_weights",
    "trap_counts",
    "trap_free_fraction",
    "trapped_fraction",
]

def k1_per_ps(p):
    """Capture rate per trap k₁ = σ_n v_th / V_sh, ps⁻¹ (1.559e-3 ps⁻¹ default [C])."""
    return p.k1_per_s * 1e-12


def m_max(lam) -> int:
    """Largest trap count of the Poisson sum, m_max = ⌈λ + 12√λ + 30⌉ (spec §8.4), a Python int.

    ``lam`` (mean traps per particle, –) must be concrete: call at the edge, outside ``jit``.
    m_max = 202 for the defective λ = 70.69, 31 for λ = 0.07 (``m_max + 1`` terms).
    """
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ModelError(f"mean trap number λ = N_it·A_int = {lam} must be finite and ≥ 0; "
                         "check N_it_cm2 (≥ 0) and R1_nm (> 0)")
    return int(math.ceil(lam + 12.0 * math.sqrt(lam) + 30.0))


def padded_m_max(*lams: float, multiple: int = 64) -> int:
    """An ``n_max`` ≥ :func:`m_max` of every λ given, with ``n_max + 1`` a multiple of ``multiple``.

    Rounding the term count up keeps the number of distinct compiled shapes small when λ
    varies (sweeps, sampling); extra terms only add Poisson tail weight below 1e-20, so they
    never reduce accuracy. 255 for the defective λ = 70.7, 63 for the clean λ = 0.07.
    """
    n_terms = max(m_max(x) for x in lams) + 1
    return multiple * math.ceil(n_terms / multiple) - 1


def trap_counts(n_max: int):
    """The trap counts m = 0 … n_max as a float array (``n_max + 1`` entries), –."""
    return jnp.arange(n_max + 1, dtype=float)


def poisson_weights(lam, n_max: int):
    """Poisson(m; λ) = λ^m e^{−λ}/m! for m = 0 … n_max (differentiable in λ), –.

    Evaluated in log space (``xlogy``, ``gammaln``), so λ = 0 and m ~ 10³ are safe, then
    divided by their sum. For n_max ≥ :func:`m_max` (λ) the neglected tail is below 1e-20, so
    the division changes the exact weights by less than that; it removes the common rounding
    of the log-space terms (≈ 5e-13 at λ = 707), leaving ~1e-15 (tests/test_traps_poisson.py).
    """
    m = trap_counts(n_max)
    w = jnp.exp(xlogy(m, lam) - lam - gammaln(m + 1.0))
    return w / jnp.sum(w)


def poisson_average(q_of_m, lam, n_max: int):
    """Ensemble average ⟨Q⟩ = Σ_{m=0}^{n_max} Poisson(m; λ) Q(m) over the trap count (spec §8.4).

    ``q_of_m`` maps the trap counts m (shape (n_max + 1,), float) to Q(m) of shape
    (n_max + 1, …); ``lam`` = λ = N_it A_int may be traced (differentiable); ``n_max`` (static)
    is the largest trap count included (:func:`m_max` or :func:`padded_m_max` of λ).
    """
    w = poisson_weights(lam, n_max)
    q = q_of_m(trap_counts(n_max))
    return jnp.tensordot(w, q, axes=(0, 0))


def trap_free_fraction(p):
    """Fraction of particles without interfacial traps e^{−λ} (0.932 clean [C]), –."""
    return jnp.exp(-p.mean_traps)


def _branch_fraction(p, n_max, branch):
    """⟨k_b(m)/(k_sep + k_BET + m k₁)⟩ over the trap count; ``branch(m, k1)`` gives k_b, ps⁻¹."""
    n = m_max(p.mean_traps) if n_max is None else n_max
    k1 = k1_per_ps(p)
    return poisson_average(lambda m: branch(m, k1) / (p.k_sep + p.k_bet + m * k1),
                           p.mean_traps, n)


def long_lived_fraction(p, n_max: int | None = None):
    """Poisson-averaged φ_LL = ⟨k_sep/(k_sep + k_BET + m k₁)⟩ (spec §5.2), –.

    The long-lived plateau per absorbed photon is Φ_inj φ_LL (bridge to the H2 model, §9.4b).
    ``n_max`` defaults to :func:`m_max` (λ) and must be given when λ is traced.
    """
    return _branch_fraction(p, n_max, lambda m, k1: p.k_sep)


def trapped_fraction(p, n_max: int | None = None):
    """Poisson-averaged fraction of injected electrons that end in deep traps, –."""
    return _branch_fraction(p, n_max, lambda m, k1: m * k1)


def back_transfer_fraction(p, n_max: int | None = None):
    """Poisson-averaged fraction of injected electrons lost by back electron transfer, –."""
    return _branch_fraction(p, n_max, lambda m, k1: p.k_bet)


def gauss_poisson_nodes(lam, n_nodes: int = 24):
    """Gauss quadrature (nodes, weights) of the Poisson(λ) measure (Gauss–Charlier, Golub–Welsch).

    Σ_m Poisson(m; λ) F(m) ≈ Σ_i w_i F(x_i), exact for polynomials of degree ≤ 2n − 1: the
    Jacobi matrix of the monic Charlier polynomials (diagonal k + λ, off-diagonal √(kλ)) is
    diagonalised by ``eigh`` (differentiable in λ). The fitter's fast stand-in for the truncated
    sum of §8.4 (agrees to < 1e-10, tested); λ ≥ 0 (λ = 0: all weight on node 0). Nodes are
    non-integer trap counts; weights sum to 1.
    """
    lam = jnp.asarray(lam, float)
    k = jnp.arange(n_nodes, dtype=float)
    off = jnp.sqrt(k[1:] * lam)
    J = jnp.diag(k + lam) + jnp.diag(off, 1) + jnp.diag(off, -1)
    x, V = jnp.linalg.eigh(J)
    return jnp.maximum(x, 0.0), V[0, :] ** 2

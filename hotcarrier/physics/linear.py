"""Linear compartmental kinetics H → C → T/L with a Gaussian IRF, closed form (spec §5).

State y = (H, C, T, L) per absorbed photon (multiply by N_abs,Au for numbers per particle):

    dH/dt = η_LD f_>^eff s(t) − (k_inj + k_ee) H
    dC/dt = η_CID s(t) + k_inj H − (k_BET + k_trap + k_sep) C          (e_T = 0, spec §5.2)
    dT/dt = k_trap C − k_Trec T
    dL/dt = k_sep C − k_L L ,   k_L = k_CR + k_hs + k_H + m k₁ f_CB   (µs; ≈ 0 on the TA window)

s(t) = unit-area Gaussian pump–probe cross-correlation of width σ (FWHM = 2.3548 σ), centred at
t0. With e_T = 0 (deep-trap re-emission ≈ 2 s⁻¹ is neglected) the chain is acyclic: it is the
scheme :data:`CHAIN` solved by the package's one kinetics solver,
:func:`hotcarrier.kinetics.convolved_populations` — a sum of exp⊗Gaussian kernels
g(τ; k, σ) (:mod:`hotcarrier.irf`) weighted by divided differences over the decay rates of
each transfer path (Bateman), with a Taylor branch for equal or nearly equal rates, so the
model stays finite and differentiable through rate crossings. Written out:

    H = b_H g(k_H)
    C = b_C g(k_C) + b_H k_inj D(k_H, k_C)
    T = k_trap [ b_C D(k_C, k_T) + b_H k_inj D₂(k_H, k_C, k_T) ]
    L = k_sep  [ b_C D(k_C, k_L) + b_H k_inj D₂(k_H, k_C, k_L) ]

with D(a, b) = (g(a) − g(b))/(b − a) and D₂(a, b, c) = (D(a, b) − D(b, c))/(c − a)
(tests/test_physics_linear.py keeps these formulas as an independent oracle).

Every trap-dependent quantity is Poisson-averaged over the trap count m (spec §8.4); the sum
runs over m = 0 … n_max, a static integer (default ⌈λ + 12√λ + 30⌉ from the concrete λ), or
over Gauss–Poisson quadrature nodes (the fitter's fast path). The explicit plasmon
compartment (spec §3) is the scheme with P in front (:func:`plasmon_populations`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import kinetics
from ..units import fwhm_to_sigma
from . import traps
from .injection import hot_electron_branch

__all__ = ["CHAIN", "Rates", "chain_rates", "transfer_rates", "rate_matrix", "source_vector",
           "irf_sigma_ps", "convolved_populations_m", "populations", "PLASMON_CHAIN",
           "plasmon_populations"]


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
    k_ee: jax.Array  # above-barrier e–e relaxation (H → below the barrier), ps⁻¹


def chain_rates(p, model: str = "all_above") -> Rates:
    """Rates of the linear chain from :class:`InterfaceParams` (spec §5.2, §8), ps⁻¹."""
    k1 = traps.k1_per_ps(p)
    k_L0 = 1e-6 * (1.0 / p.tau_cr_us + 1.0 / p.tau_hs_us + 1.0 / p.tau_H_us)
    return Rates(
        b_H=hot_electron_branch(p, model), b_C=p.eta_cid, k_inj=p.k_inj,
        k_H=p.k_inj + p.k_ee, k_bet=p.k_bet, k_sep=p.k_sep, k1=k1, k_T=p.k_trec,
        k_L0=k_L0, k1_fcb=k1 * p.f_cb, k_ee=p.k_ee,
    )


# --------------------------------------------------------------------- kinetic scheme
CHAIN = kinetics.Scheme(4, (
    (0, 1),  # H → C     k_inj
    (0, None),  # H → ∅  k_ee (relaxation below the barrier)
    (1, None),  # C → ∅  k_BET
    (1, 3),  # C → L     k_sep
    (1, 2),  # C → T     k_trap = m k₁
    (2, None),  # T → ∅  k_Trec
    (3, None),  # L → ∅  k_L = k_L0 + m k₁ f_CB
))
"""The chain H → C → T/L of spec §5.2 as a :class:`hotcarrier.kinetics.Scheme` (compartments
H, C, T, L; transfer rates from :func:`transfer_rates`)."""


def transfer_rates(r: Rates, m=0.0):
    """Rates (ps⁻¹) of the transfers of :data:`CHAIN` for a particle with ``m`` traps (a
    Gauss–Poisson node may be non-integer), shape (7,); ``r`` from :func:`chain_rates`."""
    rates = (r.k_inj, r.k_ee, r.k_bet, r.k_sep, m * r.k1, r.k_T, r.k_L0 + m * r.k1_fcb)
    return jnp.stack([jnp.asarray(k, float) for k in rates])


def _source(r: Rates):
    """b = (b_H, b_C, 0, 0) from :class:`Rates`, per absorbed photon."""
    z = jnp.zeros(())
    return jnp.stack([jnp.asarray(r.b_H, float), jnp.asarray(r.b_C, float), z, z])


def rate_matrix(p, m=0.0, model: str = "all_above"):
    """K (4×4, ps⁻¹) of dy/dt = K y + b s(t) for a particle with ``m`` traps (spec §5.2)."""
    return kinetics.rate_matrix(CHAIN.n, CHAIN.transfers, transfer_rates(chain_rates(p, model), m))


def source_vector(p, model: str = "all_above"):
    """b = (η_LD f_>^eff, η_CID, 0, 0) per absorbed photon (spec §5.2), –."""
    return _source(chain_rates(p, model))


def irf_sigma_ps(p, sigma=None):
    """IRF standard deviation σ (ps): ``sigma`` if given, else from ``p.irf_fwhm_fs`` (fs)
    (the one place the physical model turns its cross-correlation FWHM into σ)."""
    return fwhm_to_sigma(p.irf_fwhm_fs * 1e-3) if sigma is None else sigma


def convolved_populations_m(t, p, m, *, model: str = "all_above", t0=0.0, sigma=None):
    """IRF-convolved (H, C, T, L) per absorbed photon for particles with ``m`` traps.

    :data:`CHAIN` solved by :func:`hotcarrier.kinetics.convolved_populations`, one rate set
    per trap count. ``t`` (N,) delays in ps; ``m`` a float or an (M,) array (leading axis);
    ``t0`` IRF centre and ``sigma`` IRF standard deviation in ps (default from
    ``p.irf_fwhm_fs``). Returns (4, N) or (4, M, N), electrons per absorbed photon.
    """
    s = irf_sigma_ps(p, sigma)
    r = chain_rates(p, model)
    m = jnp.asarray(m, float)
    rates = jax.vmap(lambda mi: transfer_rates(r, mi))(jnp.atleast_1d(m))  # (M, 7)
    # the trap counts are a batch of rate sets: one kinetics branch for all of them
    y = kinetics.convolved_populations(CHAIN, jnp.asarray(t, float), rates, _source(r), t0, s)
    y = jnp.moveaxis(y, -1, 0)  # (4, M, N)
    return y[:, 0] if m.ndim == 0 else y


def populations(t, p, *, model: str = "all_above", t0=0.0, sigma=None, n_max: int | None = None,
                quadrature: int | None = None):
    """Poisson-averaged IRF-convolved (H, C, T, L) per absorbed photon, (4, N) (spec §5.3, §8.4).

    ``t`` delays, ``t0`` time zero and ``sigma`` IRF standard deviation in ps (as in
    :func:`convolved_populations_m`). ``n_max``: static truncation of the trap-count sum,
    default ⌈λ + 12√λ + 30⌉ from the concrete λ (pass it under ``jit`` when N_it is traced);
    ``quadrature=n``: n-node Gauss–Poisson quadrature instead, the fitter's fast path (agrees
    to < 1e-10, tested).
    """
    if quadrature is None and n_max is None:
        n_max = traps.m_max(p.mean_traps)
    return _populations(jnp.asarray(t, float), p, t0, irf_sigma_ps(p, sigma), n_max, quadrature,
                        model)


@functools.partial(jax.jit, static_argnums=(4, 5, 6))
def _populations(t, p, t0, sigma, n_max, quadrature, model):
    if quadrature is None:
        m, w = traps.trap_counts(n_max), traps.poisson_weights(p.mean_traps, n_max)
    else:
        m, w = traps.gauss_poisson_nodes(p.mean_traps, quadrature)
    y = convolved_populations_m(t, p, m, model=model, t0=t0, sigma=sigma)
    return jnp.einsum("m,smn->sn", w, y)


# ------------------------------------------------------------- explicit plasmon compartment
PLASMON_CHAIN = kinetics.Scheme(5, (
    (0, 1),  # P → H     b_H / T1
    (0, 2),  # P → C     b_C / T1
    (0, None),  # P → ∅  (1 − b_H − b_C) / T1 (radiation, below-barrier hot electrons)
    *((s + 1, None if t is None else t + 1) for s, t in CHAIN.transfers),
))
"""(P, H, C, T, L): the plasmon compartment in front of :data:`CHAIN` (spec §3)."""


def plasmon_populations(t, p, T1_fs, *, model: str = "all_above", t0=0.0, sigma=None,
                        m=0.0):
    """(P, H, C, T, L) per absorbed photon with the explicit plasmon compartment (spec §3), (5, N).

    dP/dt = s(t) − P/T1 (``T1_fs`` in fs) feeds H with η_LD f_>^eff P/T1 and C with η_CID P/T1;
    for T1 ≪ σ the result tends to :func:`convolved_populations_m` (``m`` fixed trap count,
    ``t``, ``t0``, ``sigma`` in ps as there).
    """
    r = chain_rates(p, model)
    kP = 1e3 / T1_fs  # ps⁻¹
    rates = jnp.concatenate([jnp.stack([kP * r.b_H, kP * r.b_C, kP * (1.0 - r.b_H - r.b_C)]),
                             transfer_rates(r, m)])
    p0 = jnp.zeros(5).at[0].set(1.0)
    return kinetics.convolved_populations(PLASMON_CHAIN, jnp.asarray(t, float), rates, p0, t0,
                                          irf_sigma_ps(p, sigma)).T


"""Barrier crossing of hot electrons at the Au/CdS interface (spec §4.2–4.4).

All energies in eV, measured above the Au Fermi level unless stated. The nascent electron
distribution of intraband (Landau) excitation at ħω is flat on [0, ħω] (spec §4.1,
``dist="flat"``). Four crossing models give the per-electron probability P(E) of an electron
at energy E > φ_B and the crossing fraction f_> = (1/ħω) ∫_{φ_B}^{ħω} P(E) dE:

=============  ======================================  =================================
model          P(E)                                    f_> (ħω = 2.1, φ_B = 0.8 eV) [C]
=============  ======================================  =================================
fowler         (E − φ_B)/(4 E_F)                       (ħω−φ_B)²/(8 E_F ħω) = 0.0182
escape_cone    ½[1 − √((E_F+φ_B)/(E_F+E))]             numeric quadrature     = 0.0144
hemisphere     ½                                       (ħω−φ_B)/(2ħω)         = 0.3095
all_above      1 (kinetic competition, §4.4; default)  (ħω−φ_B)/ħω            = 0.6190
=============  ======================================  =================================

E_F(Au) = 5.53 eV [L] (Ashcroft–Mermin). Sources: Fowler 1931 [V citation]; Scales & Berini
2010 [V]; Leenheer et al. 2014 [V]. Everything here is pure ``jax.numpy``: jit-, vmap- and
grad-compatible (the escape-cone integral uses fixed Gauss–Legendre nodes, so it is
differentiable in ħω, φ_B and E_F).
"""

from __future__ import annotations

import numpy as np
import jax.numpy as jnp

__all__ = ["MODELS", "crossing_probability", "crossing_fraction", "effective_crossing_fraction",
           "energy_resolved_hot_yield"]

MODELS = ("fowler", "escape_cone", "hemisphere", "all_above")
"""Names of the barrier-crossing models of spec §4.2 (``all_above`` is the default)."""

_GL_ORDER = 64
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_ORDER)  # nodes/weights on [-1, 1]


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown barrier model {model!r}; choose one of {MODELS}")


def crossing_probability(E_eV, phi_B_eV, E_F_eV=5.53, model: str = "all_above"):
    """Per-electron probability P(E) ∈ [0, 1] of crossing the barrier (spec §4.2 table), –.

    ``E_eV`` above the Au Fermi level, barrier ``phi_B_eV`` (Au E_F → CdS CB offset, §4.5) and
    Fermi energy ``E_F_eV`` (5.53 eV [L]) in eV; ``model`` one of :data:`MODELS`. 0 for E ≤ φ_B.
    """
    _check_model(model)
    E = jnp.asarray(E_eV)
    above = E > phi_B_eV
    if model == "fowler":
        p = (E - phi_B_eV) / (4.0 * E_F_eV)
    elif model == "escape_cone":
        # clip inside the square root so the discarded branch stays finite under grad
        e_safe = jnp.maximum(E, phi_B_eV)
        p = 0.5 * (1.0 - jnp.sqrt((E_F_eV + phi_B_eV) / (E_F_eV + e_safe)))
    elif model == "hemisphere":
        p = 0.5 * jnp.ones_like(E)
    else:
        p = jnp.ones_like(E)
    return jnp.where(above, p, 0.0)


def _quadrature(fn, lo, hi):
    """∫_lo^hi fn(E) dE with fixed 64-point Gauss–Legendre nodes (smooth integrands)."""
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    E = mid + half * jnp.asarray(_GL_X)
    return half * jnp.sum(jnp.asarray(_GL_W) * fn(E))


def crossing_fraction(hbar_omega_eV, phi_B_eV, E_F_eV=5.53, model: str = "all_above"):
    """Barrier-crossing fraction f_> ∈ [0, 1] for a flat distribution on [0, ħω] (spec §4.2), –.

    Energies in eV as in :func:`crossing_probability`; 0 when φ_B ≥ ħω. ``escape_cone``
    integrates P(E) with 64 Gauss–Legendre nodes on [φ_B, ħω], equal to the analytic
    antiderivative (ħω−φ_B)/2 − √(E_F+φ_B)(√(E_F+ħω) − √(E_F+φ_B)) to machine precision (tested).
    """
    _check_model(model)
    w = jnp.asarray(hbar_omega_eV, dtype=float)
    phi = jnp.asarray(phi_B_eV, dtype=float)
    excess = jnp.maximum(w - phi, 0.0)
    if model == "fowler":
        return excess**2 / (8.0 * E_F_eV * w)
    if model == "hemisphere":
        return excess / (2.0 * w)
    if model == "all_above":
        return excess / w
    hi = phi + excess  # = max(ħω, φ_B): empty interval when the barrier is above ħω
    integral = _quadrature(
        lambda E: crossing_probability(E, phi, E_F_eV, "escape_cone"), phi, hi)
    return integral / w


def effective_crossing_fraction(f_gt, xi_ib=0.0, f_ib=0.0):
    """Interband-suppressed crossing fraction f_>^eff = (1 − ξ_ib) f_> + ξ_ib f_>,ib (spec §4.3), –.

    ``f_gt``: intraband f_>(ħω); ``xi_ib`` = Im ε_ib / Im ε_Au, the interband share of the Au
    absorption ([C], ≈ 0 at 2.1 eV); ``f_ib``: crossing fraction of interband electrons (0 [A]:
    d-band excitation leaves electrons near E_F).
    """
    return (1.0 - xi_ib) * f_gt + xi_ib * f_ib


def energy_resolved_hot_yield(hbar_omega_eV, phi_B_eV, k_inj, k_ee_ref, E_F_eV=5.53,
                              model: str = "all_above", E_ref_eV=1.0):
    """(1/ħω) ∫_{φ_B}^{ħω} P(E) k_inj / (k_inj + k_ee(E)) dE (spec §4.4, ``energy_resolved``), –.

    Multiply by η_LD (and the interband factor) to obtain Φ_hot. Energies in eV; ``k_inj``
    (= t_int ν_s) and ``k_ee_ref`` in ps⁻¹, with k_ee(E) = k_ee,ref (E/E_ref)² (Fermi-liquid
    law [L], E_ref = 1 eV in the spec).
    """
    _check_model(model)
    w = jnp.asarray(hbar_omega_eV, dtype=float)
    phi = jnp.asarray(phi_B_eV, dtype=float)
    hi = phi + jnp.maximum(w - phi, 0.0)

    def integrand(E):
        kee = k_ee_ref * (E / E_ref_eV) ** 2
        return crossing_probability(E, phi, E_F_eV, model) * k_inj / (k_inj + kee)

    return _quadrature(integrand, phi, hi) / w

"""Plasmon decay branching and the optional explicit plasmon compartment (spec §3).

Homogeneous linewidth (energy FWHM) decomposition [V] (AuNR@TiO2 study, Sci. Adv. 2024)::

    Γ_hom = Γ_bulk + Γ_surf + Γ_rad + Γ_CID ,   T2 = 2ħ/Γ_hom ,   T1 = ħ/Γ_hom = T2/2
    η_LD = (Γ_bulk + Γ_surf)/Γ_hom ,  η_rad = Γ_rad/Γ_hom ,  η_CID = Γ_CID/Γ_hom ,  Σ η = 1

Because T1 (2–7 fs) ≪ IRF (≥ 80 fs) the plasmon is adiabatically eliminated by default: the
hot-carrier source follows the pump envelope. :func:`plasmon_response` gives the explicit
compartment dP/dt = s(t) − P/T1 convolved with the Gaussian IRF for sub-20-fs work; its decay
flux P/T1 replaces the pump envelope as the source of the H and C compartments
(:func:`hotcarrier.physics.linear.plasmon_populations`).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..units import HBAR_EVS

__all__ = ["branching_from_linewidths", "dephasing_time_fs", "energy_decay_time_fs", "branching",
           "simplex_from_unconstrained", "plasmon_response"]


def branching_from_linewidths(gamma_bulk_eV, gamma_surf_eV, gamma_rad_eV, gamma_cid_eV):
    """Branching ratios (η_LD, η_rad, η_CID) from linewidth contributions (eV, FWHM), spec §3.

    Returns
    -------
    tuple of Array, dimensionless
        (η_LD, η_rad, η_CID), summing to 1.
    """
    total = gamma_bulk_eV + gamma_surf_eV + gamma_rad_eV + gamma_cid_eV
    return (gamma_bulk_eV + gamma_surf_eV) / total, gamma_rad_eV / total, gamma_cid_eV / total


def dephasing_time_fs(gamma_hom_eV):
    """T2 = 2ħ/Γ_hom, fs (Γ_hom = 0.2 eV ⇒ 6.6 fs [C])."""
    return 2.0 * HBAR_EVS / gamma_hom_eV * 1e15


def energy_decay_time_fs(gamma_hom_eV):
    """T1 = ħ/Γ_hom = T2/2, fs (no pure dephasing; Γ_hom = 0.2 eV ⇒ 3.3 fs [C])."""
    return HBAR_EVS / gamma_hom_eV * 1e15


def branching(p):
    """(η_LD, η_rad, η_CID) of an :class:`InterfaceParams` (η_LD = 1 − η_rad − η_CID), –."""
    return p.eta_ld, p.eta_rad, p.eta_cid


def simplex_from_unconstrained(z_rad, z_cid):
    """Map two unconstrained reals to (η_LD, η_rad, η_CID) on the simplex (softmax, spec §13)."""
    z = jnp.stack([jnp.zeros_like(jnp.asarray(z_rad, float)), z_rad, z_cid])
    e = jnp.exp(z - jnp.max(z))
    e = e / jnp.sum(e)
    return e[0], e[1], e[2]


def plasmon_response(t_ps, T1_fs, sigma_ps, t0_ps=0.0):
    """Plasmon population P(t) per absorbed photon with a Gaussian pump, spec §3 option.

    dP/dt = G_σ(t − t0) − P/T1 ⇒ P = T1 · g(t; 1/T1, σ), the exp⊗Gaussian kernel.

    Parameters
    ----------
    t_ps : Array, ps
        Times.
    T1_fs : float, fs
        Plasmon energy decay time.
    sigma_ps : float, ps
        Pump envelope standard deviation.
    t0_ps : float, ps
        Pump centre.

    Returns
    -------
    Array, quanta per absorbed photon
    """
    from ..irf import exp_conv_gauss

    T1 = T1_fs * 1e-3
    return T1 * exp_conv_gauss(jnp.asarray(t_ps), 1.0 / T1, t0_ps, sigma_ps)

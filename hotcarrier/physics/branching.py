"""Plasmon decay branching from linewidths (spec §3).

Homogeneous linewidth (energy FWHM) decomposition [V] (AuNR@TiO2 study, Sci. Adv. 2024)::

    Γ_hom = Γ_bulk + Γ_surf + Γ_rad + Γ_CID ,   T2 = 2ħ/Γ_hom ,   T1 = ħ/Γ_hom = T2/2
    η_LD = (Γ_bulk + Γ_surf)/Γ_hom ,  η_rad = Γ_rad/Γ_hom ,  η_CID = Γ_CID/Γ_hom ,  Σ η = 1

Because T1 (2–7 fs) ≪ IRF (≥ 80 fs) the plasmon is adiabatically eliminated by default; the
explicit compartment dP/dt = s(t) − P/T1 is :func:`hotcarrier.physics.linear.plasmon_populations`.
"""

from __future__ import annotations

from ..units import HBAR_EVS

__all__ = ["branching_from_linewidths", "dephasing_time_fs", "energy_decay_time_fs"]


def branching_from_linewidths(gamma_bulk_eV, gamma_surf_eV, gamma_rad_eV, gamma_cid_eV):
    """Branching ratios (η_LD, η_rad, η_CID), summing to 1, from linewidth contributions (eV,
    FWHM), spec §3, –."""
    total = gamma_bulk_eV + gamma_surf_eV + gamma_rad_eV + gamma_cid_eV
    return (gamma_bulk_eV + gamma_surf_eV) / total, gamma_rad_eV / total, gamma_cid_eV / total


def dephasing_time_fs(gamma_hom_eV):
    """T2 = 2ħ/Γ_hom, fs (Γ_hom = 0.2 eV ⇒ 6.6 fs [C])."""
    return 2.0 * HBAR_EVS / gamma_hom_eV * 1e15


def energy_decay_time_fs(gamma_hom_eV):
    """T1 = ħ/Γ_hom = T2/2, fs (no pure dephasing; Γ_hom = 0.2 eV ⇒ 3.3 fs [C])."""
    return HBAR_EVS / gamma_hom_eV * 1e15

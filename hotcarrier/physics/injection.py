"""Injection quantum yield Φ_inj of the linear model (spec §4.4, §5.4).

    Φ_inj = η_CID + η_LD · f_>^eff · k_inj / (k_inj + k_ee)      (linear regime, Φ_th ≈ 0)

the gross internal injection yield per photon absorbed by the metal, i.e. (1/N_abs,Au) times
the time integral of the injection fluxes η_CID s(t) + k_inj H(t). The barrier used is the
pinned barrier φ_B + Δφ_pin (spec §4.5, §8.5). Pure ``jax.numpy``; works on an
:class:`~hotcarrier.physics.parameters.InterfaceParams` holding floats or JAX arrays, so it
can be jitted, vmapped over parameter sets and differentiated.

Reference values [C]: clean defaults 0.4812, defective 0.0910 (spec §12 V1, V2).
"""

from __future__ import annotations

from .barrier import (
    crossing_fraction,
    effective_crossing_fraction,
    energy_resolved_hot_yield,
)
from .parameters import InterfaceParams

__all__ = ["barrier_height", "effective_fraction", "hot_electron_branch", "hot_injection_yield",
           "injection_quantum_yield", "phi_max", "params_with_yield"]


def barrier_height(p: InterfaceParams):
    """Effective barrier φ_B + Δφ_pin, eV (spec §4.5)."""
    return p.phi_B_eV + p.dphi_pin_eV


def effective_fraction(p: InterfaceParams, model: str = "all_above"):
    """Interband-suppressed barrier-crossing fraction f_>^eff at ħω (spec §4.2–4.3), –."""
    f = crossing_fraction(p.hbar_omega_eV, barrier_height(p), p.E_F_eV, model)
    return effective_crossing_fraction(f, p.xi_ib, p.f_ib)


def hot_electron_branch(p: InterfaceParams, model: str = "all_above"):
    """Source weight of above-barrier hot electrons b_H = η_LD f_>^eff per absorbed photon, –."""
    return p.eta_ld * effective_fraction(p, model)


def hot_injection_yield(p: InterfaceParams, model: str = "all_above",
                        energy_resolved: bool = False):
    """Hot-electron part Φ_hot of the injection yield (spec §4.4), –.

    ``energy_resolved=True`` uses k_ee(E) = k_ee (E/1 eV)² inside the energy integral
    (k_ee = 1/τ_ee taken as the rate at 1 eV above E_F).
    """
    if energy_resolved:
        core = energy_resolved_hot_yield(p.hbar_omega_eV, barrier_height(p), p.k_inj, p.k_ee,
                                         p.E_F_eV, model)
        core = (1.0 - p.xi_ib) * core + p.xi_ib * p.f_ib * p.k_inj / (p.k_inj + p.k_ee)
        return p.eta_ld * core
    return hot_electron_branch(p, model) * p.k_inj / (p.k_inj + p.k_ee)


def injection_quantum_yield(p: InterfaceParams, model: str = "all_above",
                            energy_resolved: bool = False):
    """Injection quantum yield Φ_inj per photon absorbed by the Au core (spec §5.4), –.

    Φ_inj = η_CID + η_LD f_>^eff k_inj/(k_inj + k_ee) with the barrier-crossing ``model`` of
    §4.2 (``energy_resolved``: the energy-resolved competition of §4.4); 0.4812 for ``CLEAN``,
    0.0910 for ``DEFECTIVE``.
    """
    return p.eta_cid + hot_injection_yield(p, model, energy_resolved)


def phi_max(p: InterfaceParams, model: str = "all_above"):
    """Largest Φ_inj reachable at fixed direct share χ = η_CID/Φ_inj (k_inj → ∞), –."""
    chi = p.eta_cid / injection_quantum_yield(p, model)
    f = hot_electron_branch(p, model) / p.eta_ld
    return (1.0 - p.eta_rad) * f / (1.0 - chi + chi * f)


def params_with_yield(p: InterfaceParams, phi, model: str = "all_above") -> InterfaceParams:
    """``p`` with η_CID and τ_inj set so that Φ_inj = ``phi`` at fixed χ = η_CID/Φ_inj and τ_ee.

    η_CID = χΦ; the hot-electron part (1 − χ)Φ = η_LD f_>^eff k_inj/(k_inj + k_ee) fixes k_inj.
    """
    chi = p.eta_cid / injection_quantum_yield(p, model)
    eta_cid = chi * phi
    q = p.replace(eta_cid=eta_cid)
    r = (1.0 - chi) * phi / hot_electron_branch(q, model)
    k_inj = r * q.k_ee / (1.0 - r)
    return q.replace(tau_inj_fs=1e3 / k_inj)

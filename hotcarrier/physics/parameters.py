"""Physical parameters of an Au@CdS particle and its interface, with units and sources.

Values and sources follow table 11 of the physics specification (``docs/physics.md``);
tags: [V] read in a source, [L] literature not re-read, [C] computed, [A] assumption.
``InterfaceParams`` is a JAX pytree (every field is a leaf), so it passes through ``jit``,
``vmap`` and ``grad``; use :func:`dataclasses.replace` to change values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

import jax
import jax.numpy as jnp

from ..errors import ParameterNameError
from ..units import KB_EV

__all__ = [
    "CLEAN",
    "DEFECTIVE",
    "PRESETS",
    "RHO_AU_G_CM3",
    "RHO_CDS_G_CM3",
    "InterfaceParams",
    "field_units",
    "preset",
]

RHO_AU_G_CM3 = 19.32
"""Density of Au, g cm⁻³ [L] CRC (spec §9.3)."""
RHO_CDS_G_CM3 = 4.82
"""Density of CdS, g cm⁻³ [L] CRC (spec §9.3)."""


def _rate(time_field: str, per_ps: float, doc: str) -> property:
    """Read-only rate ``per_ps / time_field`` in ps⁻¹ (``per_ps`` = 1e3 for fs, 1e-3 for ns)."""
    return property(lambda self: per_ps / getattr(self, time_field), doc=doc)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class InterfaceParams:
    """Parameters of one Au@CdS particle type (spec §11). Units in each field's comment."""

    # --- geometry and excitation ---
    R1_nm: float = 7.5  # Au core radius, nm [A] (TEM)
    d_shell_nm: float = 5.0  # CdS shell thickness, nm [A] (TEM)
    hbar_omega_eV: float = 2.1  # pump / illumination photon energy, eV (LSPR 2.09 eV [C])
    # --- plasmon decay branching (spec §3) ---
    eta_rad: float = 0.005  # radiative branching, – [C] σ_sca/σ_ext
    eta_cid: float = 0.20  # direct interfacial (CID/PICTT) branching, – [V] ref 10; [A]
    # --- barrier crossing (spec §4) ---
    phi_B_eV: float = 0.80  # Au/CdS band offset, eV [L] Schottky–Mott; [A]
    dphi_pin_eV: float = 0.0  # Fermi-level pinning shift, eV [A]
    E_F_eV: float = 5.53  # Au Fermi energy above band bottom, eV [L] Ashcroft–Mermin
    v_F_m_s: float = 1.40e6  # Au Fermi velocity, m s⁻¹ [L]
    xi_ib: float = 0.0  # interband share of Au absorption at ħω, – [C] (≈0 at 2.1 eV)
    f_ib: float = 0.0  # crossing fraction of interband electrons, – [A]
    # --- ultrafast kinetics (spec §4.4, §5) ---
    tau_ee_fs: float = 40.0  # above-barrier e–e relaxation, fs [A]
    tau_inj_fs: float = 30.0  # injection time 1/k_inj, fs [A] calibrated to Φ_inj = 0.48
    tau_bet_ps: float = 2.0  # back electron transfer, ps [A]; ps-scale [V] Tada 2016
    tau_sep_ps: float = 15.0  # transfer to long-lived state, ps [A]
    tau_trec_ns: float = 1.0  # trapped-electron recombination with the Au hole, ns [A]
    # --- interface traps (spec §8) ---
    sigma_n_cm2: float = 1e-15  # electron capture cross-section, cm² [L] Sze
    v_th_cm_s: float = 1e7  # thermal velocity, cm s⁻¹ [L] conventional
    N_it_cm2: float = 1e10  # interface trap density, cm⁻² [A] (clean)
    E_s_eV: float = 0.30  # shallow-state depth of long-lived electrons, eV [A]
    temperature_K: float = 300.0  # ambient temperature, K
    # --- slow steady-state processes (spec §9) ---
    tau_cr_us: float = 50.0  # slow charge recombination, µs [V] Lian JCP 2023 (4.7–149 µs)
    tau_hs_us: float = 10.0  # hole scavenging of the Au hole, µs [A]
    tau_H_us: float = 100.0  # proton reduction by a shell electron, µs [A]
    tau_loss2_ms: float = 10.0  # other loss of a charged particle's electron, ms [A]
    # --- optional CdS band-gap channel (spec §9.3) ---
    tau_hsX_ps: float = 100.0  # hole scavenging at the shell surface, ps [A]
    tau_X_ns: float = 1.0  # CdS exciton loss, ns [A]
    k_XAu_ps: float = 0.0  # electron transfer CdS → buried Au core, ps⁻¹ [A]
    E_g_eV: float = 2.4  # CdS band gap, eV [V]
    # --- nonlinear metal module (spec §6) ---
    tau_th_ps: float = 0.5  # non-thermal reservoir thermalisation 1/a, ps [V] Sun 1994
    tau_b_ps: float = 1.0  # non-thermal → lattice 1/b, ps [A]
    gamma_e: float = 67.6  # electron heat-capacity coefficient, J m⁻³ K⁻² [C] Martin 1973
    G_eph: float = 2.5e16  # electron–phonon coupling, W m⁻³ K⁻¹ [L]
    C_l: float = 2.49e6  # lattice heat capacity, J m⁻³ K⁻¹ [L] CRC
    tau_env_ps: float = 100.0  # heat release to solvent, ps [A] Hu & Hartland scaling
    A_star: float = 24.0  # Richardson constant, A cm⁻² K⁻² [L] Sze, m* = 0.2
    eps_r: float = 8.9  # CdS static permittivity, – [L]
    # --- instrument ---
    irf_fwhm_fs: float = 150.0  # pump–probe cross-correlation FWHM, fs [A]

    # ---------------- derived quantities (work on floats and JAX arrays) ----------------
    @property
    def eta_ld(self):
        """Landau-damping branching η_LD = 1 − η_rad − η_CID, –."""
        return 1.0 - self.eta_rad - self.eta_cid

    k_ee = _rate("tau_ee_fs", 1e3, "Above-barrier e–e relaxation rate, ps⁻¹.")
    k_inj = _rate("tau_inj_fs", 1e3, "Injection rate, ps⁻¹.")
    k_bet = _rate("tau_bet_ps", 1.0, "Back-electron-transfer rate, ps⁻¹.")
    k_sep = _rate("tau_sep_ps", 1.0, "Rate of transfer to the long-lived state, ps⁻¹.")
    k_trec = _rate("tau_trec_ns", 1e-3, "Trapped-electron recombination rate, ps⁻¹.")

    # Particle geometry: the one definition of every size the model uses (spec §2, §8.1, §9.3).
    # Concentric spheres: Au core of radius R1, CdS shell out to R2 = R1 + d_shell.
    @property
    def R2_nm(self):
        """Outer (shell) radius R2 = R1 + d_shell, nm (12.5 default)."""
        return self.R1_nm + self.d_shell_nm

    @property
    def area_int_cm2(self):
        """Au/CdS interface area A_int = 4πR1², cm² (7.07e-12 default, spec §8.1 [C])."""
        r = self.R1_nm * 1e-7
        return 4.0 * math.pi * r * r

    @property
    def volume_core_cm3(self):
        """Au-core volume V_c = 4πR1³/3, cm³ (1.767e-18 default; spec §6.1)."""
        r1 = self.R1_nm * 1e-7
        return 4.0 * math.pi * r1**3 / 3.0

    @property
    def volume_shell_cm3(self):
        """CdS shell volume V_sh = 4π(R2³ − R1³)/3, cm³ (6.41e-18 default, spec §8.1 [C])."""
        r1 = self.R1_nm * 1e-7
        r2 = self.R2_nm * 1e-7
        return 4.0 * math.pi * (r2**3 - r1**3) / 3.0

    @property
    def particle_mass_g(self):
        """Mass of one particle ρ_Au V_c + ρ_CdS V_sh, g (6.50e-17 default; spec §9.3 [C])."""
        return RHO_AU_G_CM3 * self.volume_core_cm3 + RHO_CDS_G_CM3 * self.volume_shell_cm3

    @property
    def mean_traps(self):
        """Mean interfacial traps per particle λ = N_it A_int, – (0.0707 clean [C])."""
        return self.N_it_cm2 * self.area_int_cm2

    @property
    def k1_per_s(self):
        """Capture rate per trap k₁ = σ_n v_th / V_sh, s⁻¹ (1.559e9 default [C])."""
        return self.sigma_n_cm2 * self.v_th_cm_s / self.volume_shell_cm3

    @property
    def f_cb(self):
        """Thermal CB occupation of a shallow-state electron exp(−E_s/k_BT), – (spec §8.3)."""
        return jnp.exp(-self.E_s_eV / (KB_EV * self.temperature_K))

    def replace(self, **changes) -> InterfaceParams:
        """A copy with some fields changed (names as the fields)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ParameterNameError(f"unknown parameter(s) {sorted(unknown)}; use field names "
                                     f"of InterfaceParams: {[f.name for f in fields(self)]}")
        return dataclasses.replace(self, **changes)


CLEAN = InterfaceParams()
"""Clean, non-epitaxial cation-exchange interface (spec §10–11)."""

DEFECTIVE = InterfaceParams(eta_cid=0.02, tau_inj_fs=300.0, N_it_cm2=1e13)
"""Defective, conventionally grown interface (spec §10–11)."""

PRESETS = {"clean": CLEAN, "defective": DEFECTIVE}


def preset(name: str) -> InterfaceParams:
    """The named parameter preset (``clean`` or ``defective``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterNameError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}"
                                 ) from None


def field_units() -> dict[str, str]:
    """Map field name → unit string, read from the field-name suffix."""
    suffix = {"_nm": "nm", "_eV": "eV", "_fs": "fs", "_ps": "ps", "_ns": "ns", "_us": "µs",
              "_ms": "ms", "_cm2": "cm⁻²", "_K": "K", "_m_s": "m s⁻¹", "_cm_s": "cm s⁻¹"}
    out = {f.name: next((u for suf, u in reversed(suffix.items()) if f.name.endswith(suf)), "–")
           for f in fields(InterfaceParams)}
    out.update({"sigma_n_cm2": "cm²", "k_XAu_ps": "ps⁻¹", "gamma_e": "J m⁻³ K⁻²",
                "G_eph": "W m⁻³ K⁻¹", "C_l": "J m⁻³ K⁻¹", "A_star": "A cm⁻² K⁻²"})
    return out

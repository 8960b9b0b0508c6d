"""Excitation of Au@CdS particles: photons per area, per particle and per volume (spec §2, §7.1).

The one home of the photon bookkeeping shared by the ultrafast model (pump pulses, µJ cm⁻²),
the calibrated Φ_inj route (absorbed photons per cm³) and the steady-state H2 model (CW
irradiance, mW cm⁻²). Particle geometry (core volume, interface area, mass) lives on
:class:`~hotcarrier.physics.parameters.InterfaceParams`. Pure arithmetic: works on floats,
NumPy and JAX arrays (traced too).

* photon fluence F/ħω (photons cm⁻²) and photon flux I/ħω (photons cm⁻² s⁻¹);
* ⟨N_abs⟩ = F σ_abs/ħω, photons absorbed per particle (spec §2 A.4: ≈ 18.4 per µJ cm⁻² at
  590 nm for the default geometry [C]); with ``pump_nm`` the cross-section σ_abs(λ_pump) of
  the particle's geometry comes from the optics module (:mod:`hotcarrier.physics.optics`,
  spec §2; bulk Johnson–Christy damping like table A.4) and ħω = hc/λ_pump;
* ρ_abs = (F/ħω)(1 − 10^{−A})/ℓ, photons absorbed per cm³ of sample (spec §7.1).

The model's defaults keep the spec's σ_abs = 6.2e-12 cm² with ħω = 2.1 eV (18.43 per
µJ cm⁻²), the number behind the checks V9 and V16 and the §6.4 table. It is the rounded peak
σ_ext of table A.4 (6.26e-12 cm² at 594.5 nm); the optics module gives σ_abs = 5.93e-12 cm²
at 590 nm (17.6 per µJ cm⁻², 4.4 % less) and 6.21e-12 cm² at the 594.5 nm peak (18.6).
"""

from __future__ import annotations

from .._x64 import x64
from ..units import Q_E, nm_to_ev
from .parameters import CLEAN, InterfaceParams

__all__ = [
    "PHOTONS_PER_PARTICLE_PER_UJ_CM2",
    "SIGMA_ABS_590_CM2",
    "absorbed_photon_density",
    "absorption_cross_section_cm2",
    "fluence_for_photons",
    "mean_absorbed_photons",
    "photon_fluence_cm2",
    "photon_flux_cm2_s",
    "photons_per_fluence",
]

SIGMA_ABS_590_CM2 = 6.2e-12
"""Absorption cross-section σ_abs of the default Au@CdS particle (R1 = 7.5 nm, 5 nm shell) at
its plasmon resonance (594 nm; used at 590 nm), cm² [C] (spec §2 A.4, §11): the peak σ_ext of
table A.4 rounded (optics module: 6.26e-12 cm² at 594.5 nm; σ_abs(590 nm) = 5.93e-12 cm²)."""


def photon_fluence_cm2(fluence_uJ_cm2, photon_energy_eV):
    """Photons per unit area in a pulse F/ħω, photons cm⁻² (F in µJ cm⁻², ħω in eV)."""
    return fluence_uJ_cm2 * 1e-6 / (photon_energy_eV * Q_E)


def photon_flux_cm2_s(irradiance_mW_cm2, photon_energy_eV):
    """Photon flux of continuous illumination I/ħω, photons cm⁻² s⁻¹ (spec §9.3).

    I in mW cm⁻², (mean) ħω in eV; 1.9e6 photons per particle per s are absorbed at
    100 mW cm⁻², 590 nm and σ_abs = 6.2e-12 cm² (spec §9.5 [C]).
    """
    return irradiance_mW_cm2 * 1e-3 / (photon_energy_eV * Q_E)


def absorbed_photon_density(fluence_uJ_cm2, pump_nm, absorbance, path_cm):
    """Absorbed photons per volume ρ_abs = (F/ħω)(1 − 10^{−A})/ℓ, photons cm⁻³ (spec §7.1).

    F in µJ cm⁻², pump vacuum wavelength in nm, A the decadic absorbance (OD) at the pump,
    path length ℓ in cm.
    """
    return photon_fluence_cm2(fluence_uJ_cm2, nm_to_ev(pump_nm)) * (1.0 - 10.0 ** (-absorbance)) \
        / path_cm


def absorption_cross_section_cm2(pump_nm, p: InterfaceParams | None = None, *,
                                 surface_damping_A=0.0):
    """σ_abs of the particle of ``p`` (default ``CLEAN``: R1 = 7.5 nm, R2 = 12.5 nm) in water at
    the vacuum wavelength ``pump_nm`` (nm), cm² (spec §2 A.1; :func:`optics.cross_sections`).

    ``surface_damping_A`` = 0: bulk Johnson–Christy damping, as table A.4 and the spec's 18.4
    photons per µJ cm⁻²; None: the optics default (A = 0.3 for R1 < 10 nm, 12 % less at
    590 nm). 5.93e-12 cm² at 590 nm for the default particle."""
    from .optics import cross_sections  # lazily: reading data files must not import JAX

    p = CLEAN if p is None else p
    return cross_sections(pump_nm, p.R1_nm, p.R2_nm, surface_damping_A=surface_damping_A).abs


def mean_absorbed_photons(fluence_uJ_cm2, p: InterfaceParams | None = None,
                          sigma_abs_cm2: float | None = None, *, pump_nm=None,
                          surface_damping_A=0.0):
    """Mean photons absorbed per particle ⟨N_abs⟩ = F σ_abs / ħω (spec §2 A.4).

    F in µJ cm⁻². Without ``pump_nm``: ħω from ``p`` (default ``CLEAN``, 2.1 eV) and σ_abs =
    ``sigma_abs_cm2`` (default 6.2e-12 cm², 18.43 per µJ cm⁻²; spec ≈ 18.4). With ``pump_nm``
    (vacuum wavelength, nm): ħω = hc/λ and σ_abs(λ) of ``p``'s geometry from the optics module
    (:func:`absorption_cross_section_cm2`) unless ``sigma_abs_cm2`` is given; 17.6 per
    µJ cm⁻² at 590 nm, 18.6 at 594 nm, 1.9 at 520 nm for the default particle."""
    if pump_nm is None:
        hw = (CLEAN if p is None else p).hbar_omega_eV
        sigma = SIGMA_ABS_590_CM2 if sigma_abs_cm2 is None else sigma_abs_cm2
    else:
        hw = nm_to_ev(pump_nm)
        sigma = (absorption_cross_section_cm2(pump_nm, p, surface_damping_A=surface_damping_A)
                 if sigma_abs_cm2 is None else sigma_abs_cm2)
    return photon_fluence_cm2(fluence_uJ_cm2, hw) * sigma


def fluence_for_photons(n_abs, p: InterfaceParams | None = None,
                        sigma_abs_cm2: float | None = None, *, pump_nm=None,
                        surface_damping_A=0.0):
    """Fluence giving ⟨N_abs⟩ = ``n_abs`` photons per particle, µJ cm⁻² (inverse of
    :func:`mean_absorbed_photons`, spec §2 A.4)."""
    return n_abs / mean_absorbed_photons(1.0, p, sigma_abs_cm2, pump_nm=pump_nm,
                                         surface_damping_A=surface_damping_A)


def photons_per_fluence(p: InterfaceParams | None = None,
                        sigma_abs_cm2: float | None = None, *, pump_nm=None,
                        surface_damping_A=0.0) -> float:
    """dN_abs/dF, photons absorbed per particle per µJ cm⁻² (18.43 for the defaults, §2 A.4;
    with ``pump_nm`` from the optics module: 17.6 at 590 nm for the default particle; a pump
    outside the optical tables, 301–1498 nm, raises ModelError)."""
    if pump_nm is not None and sigma_abs_cm2 is None:
        from .optics import check_wavelength_nm

        check_wavelength_nm(pump_nm, "pump wavelength")
    with x64():  # a float: the optics tables are evaluated in float64
        return float(mean_absorbed_photons(1.0, p, sigma_abs_cm2, pump_nm=pump_nm,
                                           surface_damping_A=surface_damping_A))


PHOTONS_PER_PARTICLE_PER_UJ_CM2 = photons_per_fluence()
"""⟨N_abs⟩ per µJ cm⁻² of the default particle at ħω = 2.1 eV, photons (18.43; spec §2 A.4 [C]
quotes ≈ 18.4)."""

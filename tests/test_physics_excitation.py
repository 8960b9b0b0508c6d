"""Photon bookkeeping (spec §2 A.4, §7.1, §9.3, §9.5) and particle geometry (§8.1, §9.3).

Reference values are recomputed here from SI constants (h, c, e) and the sphere formulas, and
compared with the numbers the spec quotes ([C], 3 significant digits).
"""

import math

import numpy as np
import pytest

from hotcarrier.errors import HotcarrierError, ModelError, ParameterNameError
from hotcarrier.h2 import particles_per_gram
from hotcarrier.physics import ttm
from hotcarrier.physics.excitation import (
    PHOTONS_PER_PARTICLE_PER_UJ_CM2,
    SIGMA_ABS_590_CM2,
    absorbed_photon_density,
    fluence_for_photons,
    mean_absorbed_photons,
    photon_fluence_cm2,
    photon_flux_cm2_s,
    photons_per_fluence,
)
from hotcarrier.physics.parameters import CLEAN, InterfaceParams, preset

H_J_S = 6.62607015e-34  # Planck constant, J s (SI exact)
C_M_S = 299_792_458.0  # m s⁻¹ (SI exact)
E_C = 1.602176634e-19  # J per eV (SI exact)


def _sig(x, n=3):
    return float(f"{x:.{n - 1}e}")


def test_geometry_of_the_default_particle():
    # spec §8.1 [C]: A_int = 7.07e-12 cm², V_sh = 6.41e-18 cm³; §9.3: 1.54e16 particles per g
    r1, r2 = 7.5e-7, 12.5e-7  # cm
    assert CLEAN.R2_nm == 12.5
    assert math.isclose(CLEAN.area_int_cm2, 4 * math.pi * r1**2, rel_tol=1e-15)
    assert math.isclose(CLEAN.volume_core_cm3, 4 / 3 * math.pi * r1**3, rel_tol=1e-15)
    assert math.isclose(CLEAN.volume_shell_cm3, 4 / 3 * math.pi * (r2**3 - r1**3), rel_tol=1e-15)
    assert _sig(CLEAN.area_int_cm2) == 7.07e-12 and _sig(CLEAN.volume_shell_cm3) == 6.41e-18
    mass = 19.32 * 4 / 3 * math.pi * r1**3 + 4.82 * 4 / 3 * math.pi * (r2**3 - r1**3)
    assert math.isclose(CLEAN.particle_mass_g, mass, rel_tol=1e-15)
    assert _sig(float(particles_per_gram(CLEAN))) == 1.54e16
    # the TTM's SI and cm views are the same quantities
    assert math.isclose(ttm.core_volume_m3(CLEAN), CLEAN.volume_core_cm3 * 1e-6, rel_tol=1e-15)


def test_photons_per_particle_per_fluence():
    # spec §2 A.4 [C]: ⟨N_abs⟩ = F σ_abs/ħω ≈ 18.4 per µJ cm⁻² (590 nm, default geometry)
    exact = 1e-6 * 6.2e-12 / (2.1 * E_C)
    assert math.isclose(float(mean_absorbed_photons(1.0, CLEAN)), exact, rel_tol=1e-14)
    assert math.isclose(photons_per_fluence(), exact, rel_tol=1e-14)
    assert math.isclose(PHOTONS_PER_PARTICLE_PER_UJ_CM2, exact, rel_tol=1e-14)
    assert round(PHOTONS_PER_PARTICLE_PER_UJ_CM2, 1) == 18.4
    np.testing.assert_allclose(mean_absorbed_photons(np.array([0.1, 10.0]), CLEAN),
                               [0.1 * exact, 10 * exact], rtol=1e-14)
    # ħω and σ_abs enter as F σ/ħω; the inverse returns the fluence
    p = InterfaceParams(hbar_omega_eV=2.5)
    assert math.isclose(float(mean_absorbed_photons(2.0, p, 1e-12)), 2e-18 / (2.5 * E_C),
                        rel_tol=1e-14)
    assert math.isclose(float(fluence_for_photons(100.0, p, 1e-12)), 100.0 * 2.5 * E_C / 1e-18,
                        rel_tol=1e-14)
    # the old entry points are the same function
    assert ttm.mean_absorbed_photons is mean_absorbed_photons
    from hotcarrier.physics import fluence

    assert fluence.photons_per_fluence is photons_per_fluence


def test_absorbed_photon_density_and_flux():
    # spec §7.1: ρ_abs = (F/ħω)(1 − 10^−A)/ℓ with ħω = hc/λ
    e_photon = H_J_S * C_M_S / 590e-9  # J
    rho = 0.1e-6 / e_photon * (1 - 10**-0.5) / 0.1
    # units.H_EVS is CODATA's 10-digit h/e (2e-10 below h/e from the exact SI values)
    assert math.isclose(float(absorbed_photon_density(0.1, 590.0, 0.5, 0.1)), rho, rel_tol=1e-9)
    assert math.isclose(photon_fluence_cm2(1.0, 2.0), 1e-6 / (2 * E_C), rel_tol=1e-15)
    from hotcarrier.physics import calibration

    assert calibration.absorbed_photon_density is absorbed_photon_density
    # spec §9.5 [C]: 100 mW cm⁻² at 590 nm on σ_abs = 6.2e-12 cm² → g = 1.9e6 s⁻¹ per particle
    flux = photon_flux_cm2_s(100.0, 1e9 * H_J_S * C_M_S / E_C / 590.0)
    assert math.isclose(flux, 0.1 / e_photon, rel_tol=1e-14)
    assert _sig(flux * SIGMA_ABS_590_CM2, 3) == 1.84e6  # §9.5 quotes 1.9e6 (3 % high)


def test_unknown_names_are_hotcarrier_errors():
    with pytest.raises(ParameterNameError, match="unknown preset 'dirty'.*clean"):
        preset("dirty")
    with pytest.raises(ModelError, match=r"unknown parameter\(s\) \['R3_nm'\]"):
        CLEAN.replace(R3_nm=1.0)
    with pytest.raises(KeyError):  # still a failed look-up for callers that catch KeyError
        preset("dirty")
    assert issubclass(ParameterNameError, HotcarrierError)

"""The one unit system of hotcarrier and explicit conversions.

Internal units: time in ps (ultrafast) or s (steady state), rates in ps⁻¹ or s⁻¹, energies in eV,
wavelength in nm, temperatures in K, lengths in nm (geometry) or cm (trap densities, cross-
sections), heat capacities in J m⁻³ K⁻¹.
"""

from __future__ import annotations

import math

__all__ = ["HBAR_EVS", "H_EVS", "C_M_S", "KB_EV", "KB_J", "Q_E", "EPS0", "N_A", "HC_EV_NM",
           "TIME_TO_PS", "ev_to_nm", "nm_to_ev", "wavenumber_to_nm", "FWHM_PER_SIGMA",
           "fwhm_to_sigma", "SIGNAL_UNITS", "pdg_round", "natural_time", "format_time"]

# --- physical constants (CODATA 2018, exact where SI defines them) ---
HBAR_EVS = 6.582119569e-16  # ħ, eV s
H_EVS = 4.135667696e-15  # h, eV s
C_M_S = 299_792_458.0  # speed of light, m s⁻¹
KB_EV = 8.617333262e-5  # Boltzmann constant, eV K⁻¹
KB_J = 1.380649e-23  # Boltzmann constant, J K⁻¹
Q_E = 1.602176634e-19  # elementary charge, C (also J per eV)
EPS0 = 8.8541878128e-12  # vacuum permittivity, F m⁻¹
N_A = 6.02214076e23  # Avogadro constant, mol⁻¹
HC_EV_NM = H_EVS * C_M_S * 1e9  # h c, eV nm (≈ 1239.84)

# --- time ---
TIME_TO_PS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "µs": 1e6, "ms": 1e9, "s": 1e12}
"""Factor that converts a time in the key's unit to ps."""


def ev_to_nm(energy_ev):
    """Photon energy (eV) to vacuum wavelength (nm)."""
    return HC_EV_NM / energy_ev


def nm_to_ev(wavelength_nm):
    """Vacuum wavelength (nm) to photon energy (eV)."""
    return HC_EV_NM / wavelength_nm


def wavenumber_to_nm(wavenumber_cm):
    """Wavenumber (cm⁻¹) to vacuum wavelength (nm)."""
    return 1e7 / wavenumber_cm


FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # ≈ 2.35482


def fwhm_to_sigma(fwhm):
    """Gaussian full width at half maximum to standard deviation (same unit)."""
    return fwhm / FWHM_PER_SIGMA


# --- signal units ---
SIGNAL_UNITS = {"OD": 1.0, "mOD": 1e-3, "uOD": 1e-6, "µOD": 1e-6, "dT/T": None, "%dT/T": None}
"""Signal units accepted in a TA dataset; the factor converts to OD (None: not an absorbance)."""


# --- numbers for people -------------------------------------------------------------------

def pdg_round(value: float, err: float | None) -> tuple[str, str]:
    """Round ``value ± err`` to the error's leading digits (PDG convention).

    The three leading digits of the error decide: 100–354 → two significant digits,
    355–949 → one, 950–999 → rounded up to 1000 with two.
    """
    if err is None or not math.isfinite(err) or err <= 0:
        return f"{value:.6g}", "n/a" if err is None or not math.isfinite(err) else "0"
    e = math.floor(math.log10(err))
    lead = int(round(err / 10 ** (e - 2)))
    if lead >= 1000:
        lead //= 10
        e += 1
    nd = 2 if lead < 355 else 1
    if lead >= 950:
        nd, err = 2, 10 ** (e + 1)
        e += 1
    dec = -(e - nd + 1)
    ev = math.floor(math.log10(abs(value))) if value != 0 else e
    if ev >= 5 or ev <= -5:  # scientific, in the value's exponent: 7.0e+12 ± 0.6e+12
        m = max(ev - (e - nd + 1), 0)
        return f"{value / 10.0**ev:.{m}f}e{ev:+03d}", f"{err / 10.0**ev:.{m}f}e{ev:+03d}"
    if dec > 0:
        return f"{value:.{dec}f}", f"{err:.{dec}f}"
    q = 10 ** (-dec)
    return f"{round(value / q) * q:.0f}", f"{round(err / q) * q:.0f}"


def natural_time(value_ps: float) -> tuple[float, str]:
    """(scale, unit) for showing a time given in ps: fs below 1 ps, ps, ns from 1000 ps,
    µs from 10⁶ ps; divide by ``scale``."""
    a = abs(float(value_ps)) if value_ps is not None and math.isfinite(value_ps) else 1.0
    a = a or 1.0  # zero stays in ps
    return ((1e-3, "fs") if a < 1.0 else (1.0, "ps") if a < 1e3 else
            (1e3, "ns") if a < 1e6 else (1e6, "µs"))


def format_time(value_ps: float, err_ps: float | None = None) -> str:
    """``value ± err`` (ps in) in natural units, digits set by the uncertainty
    (:func:`pdg_round`); 4 significant digits without one."""
    if value_ps is None or not math.isfinite(value_ps):
        return "∞" if value_ps is not None and math.isinf(value_ps) else "n/a"
    scale, unit = natural_time(value_ps)
    if err_ps is None or not math.isfinite(err_ps) or err_ps <= 0:
        return f"{value_ps / scale:.4g} {unit}"
    v, e = pdg_round(value_ps / scale, err_ps / scale)
    return f"{v} ± {e} {unit}"

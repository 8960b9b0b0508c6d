"""Illumination spectra and the split of absorbed photons between the Au core and the CdS shell.

An edge module (NumPy, files); the H2 core only sees the arrays it produces. A
:class:`Spectrum` holds wavelengths (nm), the fraction of incident photons in each bin and
optionally the irradiance (mW cm⁻²) for the photon balance. Constructors: :func:`monochromatic`,
:func:`led` (Gaussian photon flux per nm), :func:`lamp` (long-pass filtered blackbody, default
5800 K ≈ Xe arc [A], or flat power per nm; 420–800 nm), :func:`from_file` (two columns: nm,
photon flux or power per nm) and :func:`parse_spectrum` (the CLI forms).

Absorption split (§9.3 needs σ_abs(λ), ξ_Au(λ), ξ_CdS(λ) from the optics of §2):
:class:`SimpleAbsorption` is a **documented simple model [A]**, not the Module-A calculation —
a Lorentzian Au band at the LSPR 2.09 eV (594 nm) [C, §2 A.4], FWHM 0.2 eV [A], peak
σ_abs,Au = 6.2e-12 cm² [C]; CdS share 0 below the band gap (λ > 517 nm for E_g = 2.4 eV [V]),
20 % at 500 nm and 26 % at 450 nm [C, §2 A.4], linear in λ between and held below 450 nm [A];
σ_abs = σ_abs,Au / (1 − ξ_CdS), ξ_Au = 1 − ξ_CdS. Any object with
``split(wavelength_nm) -> (sigma_abs_cm2, xi_au, xi_cds)`` can replace it (e.g.
:class:`TabulatedAbsorption` from a Module-A calculation).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SpectrumError
from ..physics.excitation import SIGMA_ABS_590_CM2
from ..units import HC_EV_NM, KB_EV, fwhm_to_sigma

__all__ = [
    "DEFAULT_ABSORPTION",
    "SimpleAbsorption",
    "Spectrum",
    "TabulatedAbsorption",
    "from_file",
    "lamp",
    "led",
    "monochromatic",
    "parse_spectrum",
]


@dataclass(frozen=True)
class Spectrum:
    """Incident photon spectrum: bin centres (vacuum wavelength, nm), fraction of incident photons
    per bin (normalised to sum 1), total irradiance (mW cm⁻², only for an absolute rate), label."""

    wavelength_nm: np.ndarray
    photon_fraction: np.ndarray
    irradiance_mW_cm2: float | None = None
    label: str = ""

    def __post_init__(self):
        wl = np.atleast_1d(np.asarray(self.wavelength_nm, dtype=float))
        w = np.atleast_1d(np.asarray(self.photon_fraction, dtype=float))
        problems = []
        if wl.shape != w.shape:
            problems.append(f"{wl.size} wavelengths but {w.size} weights")
        elif wl.size == 0:
            problems.append("no wavelengths")
        else:
            if not np.all(np.isfinite(wl)) or np.any(wl <= 0):
                problems.append("wavelengths must be finite and > 0 nm")
            if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                problems.append("weights must be finite, ≥ 0 and not all zero")
        if self.irradiance_mW_cm2 is not None and not self.irradiance_mW_cm2 > 0:
            problems.append(f"irradiance must be > 0 mW cm⁻², got {self.irradiance_mW_cm2}")
        if problems:
            raise SpectrumError(f"invalid spectrum {self.label!r}: " + "; ".join(problems))
        object.__setattr__(self, "wavelength_nm", wl)
        object.__setattr__(self, "photon_fraction", w / w.sum())

    @property
    def photon_energy_eV(self) -> np.ndarray:
        """Photon energy of each bin, eV."""
        return HC_EV_NM / self.wavelength_nm


def monochromatic(wavelength_nm: float | None = None, *, energy_eV: float | None = None,
                  irradiance_mW_cm2: float | None = None) -> Spectrum:
    """A single line, given by wavelength (nm) or photon energy (eV)."""
    if (wavelength_nm is None) == (energy_eV is None):
        raise SpectrumError("give exactly one of wavelength_nm or energy_eV")
    wl = float(wavelength_nm) if wavelength_nm is not None else HC_EV_NM / float(energy_eV)
    return Spectrum(np.array([wl]), np.array([1.0]), irradiance_mW_cm2,
                    f"monochromatic {wl:.1f} nm ({HC_EV_NM / wl:.3f} eV)")


def led(center_nm: float, fwhm_nm: float = 20.0, *, irradiance_mW_cm2: float | None = None,
        step_nm: float = 1.0) -> Spectrum:
    """A light-emitting diode: Gaussian photon flux per nm, ±2 FWHM, bins of ``step_nm`` (nm)."""
    if not (center_nm > 0 and fwhm_nm > 0 and step_nm > 0):
        raise SpectrumError(f"LED needs centre, FWHM and step > 0 nm; got {center_nm}, "
                            f"{fwhm_nm}, {step_nm}")
    sig = fwhm_to_sigma(fwhm_nm)
    wl = np.arange(max(center_nm - 2 * fwhm_nm, step_nm), center_nm + 2 * fwhm_nm + step_nm / 2,
                   step_nm)
    w = np.exp(-0.5 * ((wl - center_nm) / sig) ** 2)
    return Spectrum(wl, w, irradiance_mW_cm2, f"LED {center_nm:g} nm (FWHM {fwhm_nm:g} nm)")


def lamp(cutoff_nm: float = 420.0, upper_nm: float = 800.0, *, kind: str = "blackbody",
         temperature_K: float = 5800.0, irradiance_mW_cm2: float | None = None,
         step_nm: float = 2.0) -> Spectrum:
    """A lamp behind an ideal long-pass step at ``cutoff_nm`` [A], up to ``upper_nm``.

    ``kind="blackbody"``: photon flux per nm ∝ λ⁻⁴ / (exp(hc/λk_BT) − 1) at ``temperature_K``;
    ``kind="flat"``: flat power per nm (photon flux per nm ∝ λ).
    """
    if not (0 < cutoff_nm < upper_nm and step_nm > 0):
        raise SpectrumError(f"lamp needs 0 < cutoff < upper; got {cutoff_nm}, {upper_nm} nm")
    wl = np.arange(cutoff_nm + step_nm / 2, upper_nm, step_nm)
    if kind == "blackbody":
        if not temperature_K > 0:
            raise SpectrumError(f"blackbody temperature must be > 0 K, got {temperature_K}")
        w = wl**-4 / np.expm1(HC_EV_NM / (wl * KB_EV * temperature_K))
        desc = f"{temperature_K:g} K blackbody"
    elif kind == "flat":
        w = wl.copy()
        desc = "flat power"
    else:
        raise SpectrumError(f"unknown lamp kind {kind!r}; choose 'blackbody' or 'flat'")
    return Spectrum(wl, w, irradiance_mW_cm2,
                    f"lamp ({desc}) λ > {cutoff_nm:g} nm, up to {upper_nm:g} nm")


def from_file(path: str | Path, *, unit: str = "photons",
              irradiance_mW_cm2: float | None = None) -> Spectrum:
    """Read a two-column text spectrum: wavelength (nm), spectral photon flux or power per nm.

    ``#`` starts a comment; columns are separated by whitespace, commas or semicolons.
    ``unit="photons"`` or ``"W"`` (power per nm, converted with λ/hc). Only the shape matters
    (the level comes from ``irradiance_mW_cm2``); bins are the given points (use an even grid).
    """
    path = Path(path)
    fix = ("write two columns 'wavelength_nm value' (whitespace or comma separated, '#' for "
           "comments), wavelengths in nm, values ≥ 0")
    if not path.is_file():
        raise SpectrumError(f"{path}: spectrum file not found\n  fix: give an existing file; "
                            + fix)
    if unit not in ("photons", "W"):
        raise SpectrumError(f"unknown spectrum unit {unit!r}; choose 'photons' or 'W'")
    try:
        text = path.read_text().replace(",", " ").replace(";", " ")
        with warnings.catch_warnings():  # an empty table is reported below
            warnings.simplefilter("ignore", UserWarning)
            arr = np.loadtxt(io.StringIO(text), usecols=(0, 1), ndmin=2)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpectrumError(f"{path}: cannot read spectrum ({exc})\n  fix: {fix}") from None
    if len(arr) == 0:
        raise SpectrumError(f"{path}: no data rows\n  fix: {fix}")
    wl, val = arr[:, 0], arr[:, 1]
    if np.any(wl <= 0) or np.any(val < 0) or not np.all(np.isfinite(arr)) or val.sum() <= 0:
        raise SpectrumError(f"{path}: wavelengths must be > 0 nm and values ≥ 0 (not all 0)"
                            f"\n  fix: {fix}")
    if unit == "W":
        val = val * wl  # photons ∝ power × λ / hc
    order = np.argsort(wl)
    return Spectrum(wl[order], val[order], irradiance_mW_cm2, f"file {path.name} ({unit})")


def parse_spectrum(text: str, irradiance_mW_cm2: float | None = None) -> Spectrum:
    """Parse a command-line spectrum description.

    Forms: ``mono:590`` (nm) or ``mono:2.1eV``; ``led:450`` or ``led:450:20`` (centre, FWHM nm);
    ``lamp`` / ``lamp:420`` / ``lamp:420:800`` / ``lamp:420:800:flat`` (cut-on, upper nm, kind);
    ``file:PATH`` or ``file:PATH:W``; or an existing file path (photon units).
    """
    kind, _, rest = text.partition(":")
    args = [a for a in rest.split(":") if a] if rest else []
    hint = ("use mono:590, mono:2.1eV, led:450[:FWHM], lamp[:420[:800[:flat|blackbody]]], "
            "file:PATH[:W|photons] or a path to a two-column file")
    try:
        if kind == "mono":
            a = args[0]
            if a.lower().endswith("ev"):
                return monochromatic(energy_eV=float(a[:-2]), irradiance_mW_cm2=irradiance_mW_cm2)
            return monochromatic(float(a.removesuffix("nm")), irradiance_mW_cm2=irradiance_mW_cm2)
        if kind == "led":
            fwhm = float(args[1]) if len(args) > 1 else 20.0
            return led(float(args[0]), fwhm, irradiance_mW_cm2=irradiance_mW_cm2)
        if kind == "lamp":
            cut = float(args[0]) if args else 420.0
            up = float(args[1]) if len(args) > 1 else 800.0
            lk = args[2] if len(args) > 2 else "blackbody"
            return lamp(cut, up, kind=lk, irradiance_mW_cm2=irradiance_mW_cm2)
        if kind == "file":
            p, _, u = rest.rpartition(":") if rest.endswith((":W", ":photons")) else (rest, "", "")
            return from_file(p, unit=u or "photons", irradiance_mW_cm2=irradiance_mW_cm2)
    except (IndexError, ValueError) as exc:
        raise SpectrumError(f"cannot parse spectrum {text!r} ({exc}); {hint}") from None
    if Path(text).is_file():
        return from_file(text, irradiance_mW_cm2=irradiance_mW_cm2)
    raise SpectrumError(f"spectrum {text!r} is neither a known form nor an existing file; {hint}")


# ----------------------------------------------------------------------------- absorption split
@dataclass(frozen=True)
class SimpleAbsorption:
    """Documented simple absorption model [A] (module docstring); not Module A of §2.

    Peak Au cross-section (cm²), plasmon resonance and Lorentzian FWHM (eV), CdS band gap (eV),
    and the CdS share of σ_abs at anchor wavelengths ((nm, share) pairs).
    """

    sigma_peak_cm2: float = SIGMA_ABS_590_CM2
    lspr_eV: float = 2.09
    fwhm_eV: float = 0.2
    E_g_eV: float = 2.4
    cds_share: tuple = ((450.0, 0.26), (500.0, 0.20))

    def split(self, wavelength_nm):
        """(σ_abs in cm², ξ_Au, ξ_CdS) at the given wavelengths (NumPy arrays)."""
        wl = np.atleast_1d(np.asarray(wavelength_nm, dtype=float))
        e = HC_EV_NM / wl
        hw = 0.5 * self.fwhm_eV
        s_au = self.sigma_peak_cm2 / (1.0 + ((e - self.lspr_eV) / hw) ** 2)
        wl_g = HC_EV_NM / self.E_g_eV
        xs = [a for a, _ in self.cds_share] + [wl_g]
        ys = [b for _, b in self.cds_share] + [0.0]
        xi_cds = np.interp(wl, xs, ys, left=ys[0], right=0.0)
        xi_cds = np.where(e < self.E_g_eV, 0.0, xi_cds)
        return s_au / (1.0 - xi_cds), 1.0 - xi_cds, xi_cds


@dataclass(frozen=True)
class TabulatedAbsorption:
    """Absorption from tables (e.g. a Module-A optics calculation), linearly interpolated.

    ``wavelength_nm`` (nm), ``sigma_abs_cm2`` (total σ_abs, cm²) and ``xi_cds`` (CdS share of
    σ_abs, –) are equal-length sequences; ξ_Au = 1 − ξ_CdS.
    """

    wavelength_nm: tuple
    sigma_abs_cm2: tuple
    xi_cds: tuple

    def split(self, wavelength_nm):
        """(σ_abs in cm², ξ_Au, ξ_CdS) at the given wavelengths (NumPy arrays)."""
        wl = np.atleast_1d(np.asarray(wavelength_nm, dtype=float))
        s = np.interp(wl, self.wavelength_nm, self.sigma_abs_cm2)
        x = np.clip(np.interp(wl, self.wavelength_nm, self.xi_cds), 0.0, 1.0)
        return s, 1.0 - x, x


DEFAULT_ABSORPTION = SimpleAbsorption()

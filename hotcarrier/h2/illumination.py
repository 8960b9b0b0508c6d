"""Illumination spectra and the split of absorbed photons between the Au core and the CdS shell.

This is an edge module (NumPy, files); the H2 core only sees the arrays it produces.

A :class:`Spectrum` is a list of wavelengths (nm) with the **fraction of incident photons** in
each bin (sums to 1) and, optionally, the total irradiance (mW cm⁻²) used by the photon balance.
Constructors:

* :func:`monochromatic` — one line (the §9.4 reference case is 2.1 eV ≈ 590 nm);
* :func:`led` — a Gaussian line shape in photon flux per nm (centre, FWHM);
* :func:`lamp` — a long-pass filtered lamp: blackbody of a colour temperature (default
  5800 K, a Xe-arc-like white lamp [A]) or a spectrum flat in power per nm, between the filter
  cut-on (default 420 nm, "λ > 420 nm") and an upper wavelength (default 800 nm, beyond which
  the default particle absorbs little);
* :func:`from_file` — a two-column text file: wavelength (nm) and spectral photon flux or power
  per nm (``unit="photons"`` or ``"W"``; arbitrary scale).

Absorption split (spec §9.3 needs ξ_Au(λ), ξ_CdS(λ) and σ_abs(λ) from the optics of §2).
Until the quasi-static optics module is available, :class:`SimpleAbsorption` is a **documented
simple model [A]**, not the Module-A calculation:

* Au absorption: a Lorentzian in photon energy at the default LSPR 2.09 eV (594 nm) [C, §2 A.4]
  with FWHM 0.2 eV (the Γ_hom example of §3) [A] and peak σ_abs,Au = 6.2e-12 cm² [C, §2 A.4];
* CdS share of σ_abs: 0 below the band gap (λ > hc/E_g = 517 nm for E_g = 2.4 eV [V]),
  20 % at 500 nm and 26 % at 450 nm (spec §2 A.4 [C], default geometry), linearly interpolated
  in λ between these points and held at 26 % below 450 nm [A];
* σ_abs = σ_abs,Au / (1 − ξ_CdS), ξ_Au = 1 − ξ_CdS.

Any object with a method ``split(wavelength_nm) -> (sigma_abs_cm2, xi_au, xi_cds)`` can replace
it (e.g. :class:`TabulatedAbsorption` built from a Module-A calculation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SpectrumError
from ..physics.excitation import SIGMA_ABS_590_CM2, photon_flux_cm2_s
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
    """Incident photon spectrum.

    Attributes
    ----------
    wavelength_nm : ndarray, nm
        Bin centres (vacuum wavelength).
    photon_fraction : ndarray, –
        Fraction of incident photons in each bin; sums to 1.
    irradiance_mW_cm2 : float or None, mW cm⁻²
        Total incident irradiance, needed only for an absolute rate.
    label : str
        Human-readable description (used in reports).
    """

    wavelength_nm: np.ndarray
    photon_fraction: np.ndarray
    irradiance_mW_cm2: float | None = None
    label: str = ""
    meta: dict = field(default_factory=dict, compare=False)

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

    @property
    def mean_photon_energy_eV(self) -> float:
        """Photon-weighted mean photon energy, eV."""
        return float(np.sum(self.photon_fraction * self.photon_energy_eV))

    def photon_flux_cm2_s(self, irradiance_mW_cm2: float | None = None) -> float:
        """Total incident photon flux, photons cm⁻² s⁻¹ (irradiance / mean photon energy)."""
        irr = self.irradiance_mW_cm2 if irradiance_mW_cm2 is None else irradiance_mW_cm2
        if irr is None:
            raise SpectrumError(f"spectrum {self.label!r} has no irradiance; give "
                                "irradiance_mW_cm2 (e.g. --irradiance 100) for an absolute rate")
        return photon_flux_cm2_s(irr, self.mean_photon_energy_eV)

    def with_irradiance(self, irradiance_mW_cm2: float | None) -> Spectrum:
        """A copy with another total irradiance (mW cm⁻²)."""
        return Spectrum(self.wavelength_nm, self.photon_fraction, irradiance_mW_cm2, self.label,
                        self.meta)


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
    """A light-emitting diode: Gaussian photon flux per nm, ±2 FWHM, bins of ``step_nm``."""
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
    """A long-pass filtered lamp between ``cutoff_nm`` and ``upper_nm``.

    ``kind="blackbody"``: photon flux per nm ∝ λ⁻⁴ / (exp(hc/λk_BT) − 1) (Planck, colour
    temperature ``temperature_K``; 5800 K approximates a Xe arc lamp [A]).
    ``kind="flat"``: flat in power per nm, i.e. photon flux per nm ∝ λ.
    The filter is an ideal step at ``cutoff_nm`` [A].
    """
    if not (0 < cutoff_nm < upper_nm and step_nm > 0):
        raise SpectrumError(f"lamp needs 0 < cutoff < upper; got {cutoff_nm}, {upper_nm} nm")
    wl = np.arange(cutoff_nm + step_nm / 2, upper_nm, step_nm)
    if kind == "blackbody":
        if not temperature_K > 0:
            raise SpectrumError(f"blackbody temperature must be > 0 K, got {temperature_K}")
        x = HC_EV_NM / (wl * KB_EV * temperature_K)
        w = wl**-4 / np.expm1(x)
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

    Lines starting with ``#`` are comments; columns are separated by whitespace or commas.
    ``unit="photons"``: the second column is proportional to photons per nm; ``"W"``: to power
    per nm (converted to photons with λ/hc). Only the shape matters; the absolute level comes
    from ``irradiance_mW_cm2``. Bins are taken as the given points (use an even grid).
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
        text = path.read_text()
        rows = []
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.replace(",", " ").replace(";", " ").split()
            if len(parts) < 2:
                raise ValueError(f"line {line!r} has fewer than two columns")
            rows.append((float(parts[0]), float(parts[1])))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpectrumError(f"{path}: cannot read spectrum ({exc})\n  fix: {fix}") from None
    if len(rows) == 0:
        raise SpectrumError(f"{path}: no data rows\n  fix: {fix}")
    arr = np.array(rows)
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
    """Documented simple absorption model [A] (see module docstring); not Module A of §2.

    Parameters
    ----------
    sigma_peak_cm2 : float, cm²
        Peak Au absorption cross-section (6.2e-12, spec §2 A.4 [C]).
    lspr_eV : float, eV
        Plasmon resonance (2.09 eV, spec §2 A.4 [C]).
    fwhm_eV : float, eV
        Lorentzian FWHM in energy (0.2 eV [A], Γ_hom example of §3).
    E_g_eV : float, eV
        CdS band gap (2.4 eV [V]); no CdS absorption below it.
    cds_share : tuple of (nm, share) pairs
        CdS share of σ_abs at the anchor wavelengths (spec §2 A.4 [C]: 26 % at 450, 20 % at
        500 nm for the default 7.5/12.5 nm geometry).
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

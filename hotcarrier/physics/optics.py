"""Optics of an Au@CdS particle in water: cross-sections and where the photons go (spec §2).

Module A of the physics specification, quasi-static (R2 ≪ λ):

* dielectric functions from tables shipped in ``hotcarrier/physics/data`` — Au from Johnson &
  Christy 1972, CdS from Treharne et al. 2011 (refractiveindex.info database, CC0), n and k
  interpolated linearly in vacuum wavelength; NaN outside the tables (Au 188–1937 nm, CdS
  301–1498 nm); :func:`epsilon_au_jc`, :func:`epsilon_cds`;
* a Drude term fitted to the Au table at λ > 700 nm (:func:`au_drude_fit`; A.2) gives the
  interband part ε_ib = ε_JC − ε_Drude (:func:`interband_fraction`, A.3) and the surface
  (size) damping γ → γ_b + A ħv_F/L_eff, L_eff = 4R1/3 (:func:`epsilon_au`; A.2);
* coated-sphere polarisability α (A.1, Bohren & Huffman), σ_ext = k Im α,
  σ_sca = k⁴|α|²/6π, σ_abs = σ_ext − σ_sca with k = 2π n_m/λ (:func:`cross_sections`);
* the split of σ_abs between core and shell (A.3, :func:`absorption_partition`).

Units: wavelengths λ in nm (vacuum), radii in nm, α in nm³, cross-sections in cm². Pure JAX
functions of arrays, compiled with ``jax.jit`` (vmap and grad pass through; float64 when the
caller enables it).

Surface damping: on by default for R1 < 10 nm with A = :data:`SURFACE_DAMPING_A` (spec A.2,
A ∈ [0.1, 1] [A]); ``surface_damping_A=0`` gives bulk JC damping, the setting of the spec's
reference table A.4, of check V14 and of ⟨N_abs⟩ in :mod:`hotcarrier.physics.excitation`.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..units import HBAR_EVS, HC_EV_NM

__all__ = [
    "check_particle", "QUASI_STATIC_MAX_X",
    "AU_TABLE",
    "CDS_TABLE",
    "N_WATER",
    "SIZE_DAMPING_MAX_R1_NM",
    "SURFACE_DAMPING_A",
    "V_F_AU_M_S",
    "AbsorptionPartition",
    "CrossSections",
    "DrudeTerm",
    "absorption_partition",
    "au_drude_fit",
    "check_wavelength_nm",
    "coated_sphere_polarizability",
    "cross_sections",
    "epsilon_au",
    "epsilon_au_jc",
    "epsilon_cds",
    "interband_fraction",
    "load_nk_table",
    "lspr_peak_nm",
    "surface_damping_eV",
]

N_WATER = 1.333
"""Refractive index of the medium, water (spec §2 A.1), –."""
V_F_AU_M_S = 1.40e6
"""Fermi velocity of Au, m s⁻¹ [L] Ashcroft–Mermin (spec A.2)."""
SURFACE_DAMPING_A = 0.3
"""Surface-damping coefficient A of γ = γ_b + A v_F/L_eff, – [A] (spec A.2 range 0.1–1)."""
SIZE_DAMPING_MAX_R1_NM = 10.0
"""Surface damping is on by default for core radii below this, nm (spec A.2)."""
DRUDE_MIN_NM = 700.0
"""The Drude term is fitted to the Au table at wavelengths above this, nm (spec A.2)."""
_NM2_TO_CM2 = 1e-14


def load_nk_table(name: str) -> np.ndarray:
    """(N, 3) array of vacuum wavelength (nm), n, k from ``hotcarrier/physics/data/<name>``.

    The files keep the database rows verbatim (wavelength in µm); ``#`` lines state source,
    reference and licence."""
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    table = np.array([[float(v) for v in ln.split(",")] for ln in rows[1:]], dtype=float)
    table[:, 0] *= 1e3
    return table


AU_TABLE = load_nk_table("au_johnson_christy_1972.csv")
"""Au n, k (Johnson & Christy 1972): columns λ (nm), n, k; 49 rows, 188–1937 nm."""
CDS_TABLE = load_nk_table("cds_treharne_2011.csv")
"""CdS n, k (Treharne et al. 2011): columns λ (nm), n, k; 583 rows, 301–1498 nm."""


def check_wavelength_nm(wavelength_nm, what: str = "wavelength", *, bare: bool = False) -> None:
    """Raise :class:`~hotcarrier.errors.ModelError` unless every wavelength (nm) lies inside
    the tables (301–1498 nm with a CdS shell; 188–1937 nm for a ``bare`` Au sphere). For the
    edges (CLI, data); the pure functions return NaN outside instead."""
    from ..errors import ModelError

    table = AU_TABLE if bare else CDS_TABLE
    lo, hi = float(table[0, 0]), float(table[-1, 0])
    lam = np.atleast_1d(np.asarray(wavelength_nm, float))
    bad = lam[~((lam >= lo) & (lam <= hi))]
    if bad.size:
        raise ModelError(f"{what} {bad[0]:g} nm is outside the optical tables of "
                         f"hotcarrier.physics.optics ({lo:.1f}–{hi:.1f} nm"
                         f"{'' if bare else ' with a CdS shell'}); give a wavelength inside, "
                         "or the absorption cross-section itself")


QUASI_STATIC_MAX_X = 0.5
"""Largest size parameter x = 2π n_m R2/λ accepted by :func:`check_particle`: the coated-sphere
formula of spec A.1 is the small-particle limit (bare Au R = 20 nm, x = 0.32 at 521 nm: the Mie
series is already 15 % higher; above x ≈ 0.5 σ_sca/σ_ext passes 100 % and σ_abs turns
negative)."""


def check_particle(core_radius_nm, shell_radius_nm, wavelength_nm=None, *,
                   n_medium: float = N_WATER) -> None:
    """Raise :class:`~hotcarrier.errors.ModelError` unless 0 < R1 ≤ R2 (nm) and, with
    ``wavelength_nm``, the particle is small enough for the quasi-static formula at every
    wavelength (x = 2π n_m R2/λ ≤ :data:`QUASI_STATIC_MAX_X`). For the edges (CLI, data); the
    pure functions compute whatever they are given."""
    from ..errors import ModelError

    r1, r2 = float(core_radius_nm), float(shell_radius_nm)
    if not (np.isfinite(r1) and np.isfinite(r2) and 0 < r1 <= r2):
        raise ModelError(f"particle R1 = {r1:g} nm, R2 = {r2:g} nm: needs 0 < core radius R1 ≤ "
                         "outer radius R2 (R2 = R1 for a bare Au sphere)")
    if wavelength_nm is None:
        return
    lam = float(np.min(np.asarray(wavelength_nm, float)))
    x = 2 * np.pi * n_medium * r2 / lam
    if x > QUASI_STATIC_MAX_X:
        raise ModelError(f"particle R2 = {r2:g} nm at {lam:g} nm: size parameter 2π n R2/λ = "
                         f"{x:.2f} > {QUASI_STATIC_MAX_X}, outside the quasi-static coated-sphere "
                         "formula (spec §2 A.1, for particles much smaller than the wavelength); "
                         f"use R2 ≤ {QUASI_STATIC_MAX_X * lam / (2 * np.pi * n_medium):.0f} nm "
                         "at this wavelength, a longer wavelength, or a Mie code for larger "
                         "particles")


def _interp_nk(table, wavelength_nm, clip_k=False):
    lam = jnp.asarray(wavelength_nm, float)
    wl = jnp.asarray(table[:, 0], lam.dtype)
    n = jnp.interp(lam, wl, jnp.asarray(table[:, 1], lam.dtype))
    k = jnp.interp(lam, wl, jnp.asarray(table[:, 2], lam.dtype))
    if clip_k:
        k = jnp.maximum(k, 0.0)
    eps = (n + 1j * k) ** 2
    inside = (lam >= table[0, 0]) & (lam <= table[-1, 0])
    return jnp.where(inside, eps, jnp.nan)


@jax.jit
def epsilon_au_jc(wavelength_nm):
    """Complex dielectric function ε = (n + ik)² of Au from Johnson & Christy 1972, –.

    n and k are interpolated linearly in vacuum wavelength (nm); NaN outside 188–1937 nm."""
    return _interp_nk(AU_TABLE, wavelength_nm)


@jax.jit
def epsilon_cds(wavelength_nm):
    """Complex dielectric function ε = (n + ik)² of CdS from Treharne et al. 2011, –.

    n and k interpolated linearly in vacuum wavelength (nm); k < 0 (the fit's ±1e-17 noise
    beyond the gap) read as 0; NaN outside 301–1498 nm. n = 2.68 at 500 nm, 2.41 at 600 nm."""
    return _interp_nk(CDS_TABLE, wavelength_nm, clip_k=True)


# --------------------------------------------------------------------------- Drude term
class DrudeTerm(NamedTuple):
    """ε_D(ω) = ε_∞ − ω_p²/(ω² + iγω), ħω in eV: background ε_∞ (–), plasma energy ħω_p and
    bulk damping ħγ_b (eV), fitted to the Au table at λ > 700 nm (:func:`au_drude_fit`)."""

    eps_inf: float
    omega_p_eV: float
    gamma_eV: float

    def epsilon(self, photon_energy_eV, gamma_eV=None):
        """ε_D at photon energy ħω (eV), with damping ``gamma_eV`` (default: the bulk γ_b)."""
        g = self.gamma_eV if gamma_eV is None else gamma_eV
        w = jnp.asarray(photon_energy_eV, float)
        return self.eps_inf - self.omega_p_eV**2 / (w * (w + 1j * g))


@functools.cache
def au_drude_fit(min_wavelength_nm: float = DRUDE_MIN_NM) -> DrudeTerm:
    """Drude term fitted to the Johnson–Christy Au data at λ > ``min_wavelength_nm`` (spec A.2).

    Least squares of (ε_D − ε_JC)/|ε_JC| (real and imaginary parts) over the 10 table points
    above 700 nm; the literature Drude numbers are not used. Gives ε_∞ ≈ 9.0,
    ħω_p ≈ 8.92 eV, ħγ_b ≈ 0.074 eV. NumPy/SciPy, computed once."""
    from scipy.optimize import least_squares

    sel = AU_TABLE[:, 0] > min_wavelength_nm
    energy = HC_EV_NM / AU_TABLE[sel, 0]
    eps = (AU_TABLE[sel, 1] + 1j * AU_TABLE[sel, 2]) ** 2

    def residual(x):
        einf, wp, g = x
        r = (einf - wp**2 / (energy * (energy + 1j * g)) - eps) / np.abs(eps)
        return np.concatenate([r.real, r.imag])

    sol = least_squares(residual, [1.0, 9.0, 0.07], x_scale=[1.0, 1.0, 0.01])
    return DrudeTerm(*(float(v) for v in sol.x))


def surface_damping_eV(core_radius_nm, surface_damping_A=SURFACE_DAMPING_A,
                       v_F_m_s=V_F_AU_M_S):
    """Extra Drude damping ħΔγ = A ħv_F/L_eff with L_eff = 4R1/3, eV (spec A.2).

    0.028 eV for R1 = 7.5 nm and A = 0.3 (ħv_F = 0.9215 eV nm)."""
    hbar_vf_eV_nm = HBAR_EVS * v_F_m_s * 1e9
    return surface_damping_A * hbar_vf_eV_nm / (4.0 * jnp.asarray(core_radius_nm, float) / 3.0)


def _default_A(core_radius_nm, surface_damping_A):
    if surface_damping_A is None:
        return jnp.where(jnp.asarray(core_radius_nm) < SIZE_DAMPING_MAX_R1_NM,
                         SURFACE_DAMPING_A, 0.0)
    return surface_damping_A


@jax.jit
def epsilon_au(wavelength_nm, core_radius_nm=None, surface_damping_A=None,
               v_F_m_s=V_F_AU_M_S):
    """ε of an Au core of radius R1 (nm): JC data with the Drude damping raised by
    A ħv_F/L_eff (spec A.2), –.

    ``surface_damping_A`` None: A = 0.3 for R1 < 10 nm, else 0; 0 (or no radius): bulk JC.
    ε = ε_JC − ε_D(γ_b) + ε_D(γ_b + Δγ) (the interband part is left as measured)."""
    eps = epsilon_au_jc(wavelength_nm)
    if core_radius_nm is None:
        return eps
    A = _default_A(core_radius_nm, surface_damping_A)
    d = au_drude_fit()
    w = HC_EV_NM / jnp.asarray(wavelength_nm, float)
    dg = surface_damping_eV(core_radius_nm, A, v_F_m_s)
    return eps - d.epsilon(w) + d.epsilon(w, d.gamma_eV + dg)


@jax.jit
def interband_fraction(wavelength_nm, core_radius_nm=None, surface_damping_A=0.0):
    """Interband share of the Au core's absorption ξ_ib = Im ε_ib / Im ε1 (spec A.3, §4.3), –.

    ε_ib = ε_JC − ε_Drude,fit; ε1 is the core's ε (:func:`epsilon_au`; bulk JC by default),
    clipped to [0, 1] (the Drude fit overshoots Im ε_JC by a few % at some λ > 650 nm).
    0.95 at 450 nm, 0.61 at 590 nm, 0.25 at 650 nm for bulk JC."""
    lam = jnp.asarray(wavelength_nm, float)
    eps_ib = epsilon_au_jc(lam) - au_drude_fit().epsilon(HC_EV_NM / lam)
    eps1 = epsilon_au(lam, core_radius_nm, surface_damping_A)
    return jnp.clip(eps_ib.imag / eps1.imag, 0.0, 1.0)


# --------------------------------------------------------------------------- coated sphere
@jax.jit
def coated_sphere_polarizability(eps_core, eps_shell, eps_medium, core_radius_nm,
                                 shell_radius_nm):
    """Quasi-static polarisability of a coated sphere, nm³ (spec A.1; Bohren & Huffman §5.4).

    α = 4πR2³[(ε2−εm)(ε1+2ε2) + f(ε1−ε2)(εm+2ε2)] / [(ε2+2εm)(ε1+2ε2) + 2f(ε2−εm)(ε1−ε2)],
    f = (R1/R2)³; dipole p = εm E0 α/4π. R1 = R2 (or ε2 = εm) is a bare sphere."""
    e1, e2, em = (jnp.asarray(e, complex) for e in (eps_core, eps_shell, eps_medium))
    r2 = jnp.asarray(shell_radius_nm, float)
    f = (jnp.asarray(core_radius_nm, float) / r2) ** 3
    num = (e2 - em) * (e1 + 2 * e2) + f * (e1 - e2) * (em + 2 * e2)
    den = (e2 + 2 * em) * (e1 + 2 * e2) + 2 * f * (e2 - em) * (e1 - e2)
    return 4.0 * jnp.pi * r2**3 * num / den


class CrossSections(NamedTuple):
    """Extinction, scattering and absorption cross-sections of one particle, cm²."""

    ext: object
    sca: object
    abs: object


def _eps_pair(wavelength_nm, core_radius_nm, shell_radius_nm, surface_damping_A, eps_medium):
    """ε1 of the core and ε2 of the shell (the medium's for a bare sphere, R2 = R1)."""
    bare = jnp.asarray(shell_radius_nm) <= jnp.asarray(core_radius_nm)
    return (epsilon_au(wavelength_nm, core_radius_nm, surface_damping_A),
            jnp.where(bare, eps_medium + 0j, epsilon_cds(wavelength_nm)))


def _sections(lam, e1, e2, em, r1, r2, n_medium):
    alpha = coated_sphere_polarizability(e1, e2, em, r1, r2)
    k = 2.0 * jnp.pi * n_medium / lam
    ext = k * alpha.imag * _NM2_TO_CM2
    sca = k**4 * jnp.abs(alpha) ** 2 / (6.0 * jnp.pi) * _NM2_TO_CM2
    return CrossSections(ext, sca, ext - sca)


@jax.jit
def cross_sections(wavelength_nm, core_radius_nm, shell_radius_nm, *, n_medium=N_WATER,
                   surface_damping_A=None) -> CrossSections:
    """σ_ext, σ_sca, σ_abs (cm²) of Au(R1)@CdS(R2) in a medium of index n_m (spec A.1).

    Vacuum wavelength λ in nm (arrays broadcast with the radii; 301–1498 nm, a bare sphere
    188–1937 nm), radii in nm; R2 = R1 is a bare Au sphere. ``surface_damping_A``: None =
    spec default (A = 0.3 for R1 < 10 nm), 0 = bulk JC damping (table A.4, check V14).
    Default particle (7.5/12.5 nm, bulk): σ_ext peak 6.26e-12 cm² at 594.5 nm, σ_sca/σ_ext
    0.75 %; bare Au R = 5 nm: 5.10e-13 cm² at 520.9 nm."""
    lam = jnp.asarray(wavelength_nm, float)
    e1, e2 = _eps_pair(lam, core_radius_nm, shell_radius_nm, surface_damping_A, n_medium**2)
    return _sections(lam, e1, e2, n_medium**2, core_radius_nm, shell_radius_nm, n_medium)


class AbsorptionPartition(NamedTuple):
    """σ_abs split into the Au core and the CdS shell, cm², and the interband share ξ_ib of
    the core's absorption (–)."""

    abs: object
    abs_au: object
    abs_cds: object
    xi_ib: object

    @property
    def cds_share(self):
        """σ_abs,CdS / σ_abs, –."""
        return self.abs_cds / self.abs


@functools.partial(jax.jit, static_argnames=("method",))
def absorption_partition(wavelength_nm, core_radius_nm, shell_radius_nm, *, n_medium=N_WATER,
                         surface_damping_A=None, method="first_order") -> AbsorptionPartition:
    """Where the absorbed photons go (spec A.3): σ_abs, σ_abs,Au, σ_abs,CdS (cm²), ξ_ib (–).

    ``method='first_order'`` (the spec's): σ_abs,Au = σ_abs with Im ε2 := 0, σ_abs,CdS = rest.
    ``method='volume'``: the exact quasi-static split ∝ Im ε_i ∫|E|² dV over core and shell
    (uniform core field; shell field = uniform + dipole part, no cross term after the angular
    integral), scaled to sum to σ_abs. The shell share is larger by this measure (38.8 % vs
    24.2 % at 450 nm for 7.5/12.5 nm): the first-order split also counts the shell's
    screening of the core field as Au absorption."""
    lam = jnp.asarray(wavelength_nm, float)
    r1 = jnp.asarray(core_radius_nm, float)
    r2 = jnp.asarray(shell_radius_nm, float)
    em = n_medium**2
    e1, e2 = _eps_pair(lam, r1, r2, surface_damping_A, em)
    total = _sections(lam, e1, e2, em, r1, r2, n_medium).abs
    if method == "first_order":
        au = _sections(lam, e1, e2.real + 0j, em, r1, r2, n_medium).abs
    elif method == "volume":
        f = (r1 / r2) ** 3
        g = (e1 - e2) / (e1 + 2 * e2)
        b = 3 * em / (e2 * (1 + 2 * f * g) + 2 * em * (1 - f * g))  # uniform shell field / E0
        c = r1**3 * g * b  # shell dipole-field coefficient, nm³
        e_core = b * (1 - g)  # core field / E0
        p_au = e1.imag * jnp.abs(e_core) ** 2 * r1**3
        p_cds = e2.imag * (jnp.abs(b) ** 2 * (r2**3 - r1**3)
                           + 2 * jnp.abs(c) ** 2 * (r1**-3 - r2**-3))
        au = total * p_au / (p_au + p_cds)
    else:
        raise ValueError(f"method must be 'first_order' or 'volume'; got {method!r}")
    A = _default_A(r1, surface_damping_A)
    return AbsorptionPartition(total, au, total - au, interband_fraction(lam, r1, A))


def lspr_peak_nm(core_radius_nm, shell_radius_nm, *, n_medium=N_WATER, surface_damping_A=None,
                 lo_nm=450.0, hi_nm=800.0, step_nm=0.05):
    """Wavelength of the σ_ext maximum (the plasmon resonance), nm, on a ``step_nm`` grid
    between ``lo_nm`` and ``hi_nm`` (pure JAX; jit with the grid arguments static)."""
    n = math.floor((hi_nm - lo_nm) / step_nm) + 1
    lam = lo_nm + step_nm * jnp.arange(n)
    ext = cross_sections(lam, core_radius_nm, shell_radius_nm, n_medium=n_medium,
                         surface_damping_A=surface_damping_A).ext
    return lam[jnp.argmax(ext)]

"""QE of H2 evolution, absolute rate from a photon balance, validity check (spec §9.3, §9.5).

Pure core: :func:`qe_core`, :func:`occupancy_core`, :func:`predict_kernel` (jit/vmap/grad work).
Edge: :func:`excitation`, :func:`predict_h2` (NumPy, warnings, float64 via ``with_x64``).

    QE_H2 = ½ [ Φ̄_Au ⟨P_C→H2⟩ + ξ̄_CdS ⟨P_X→H2⟩ ]           (per absorbed photon; two e⁻ per H2)
    Φ̄_Au  = Σ_λ w_abs(λ) ξ_Au(λ) Φ_inj(λ),   ξ̄_CdS = Σ_λ w_abs(λ) ξ_CdS(λ)
    r_H2 [µmol g⁻¹ h⁻¹] = 3600·10⁶ / (N_A m_cat) · Σ_λ Q_abs(λ) QE_H2(λ)

w_abs(λ) is the distribution of *absorbed* photons over the spectrum (incident photon fraction ×
absorbed fraction, normalised). Φ_inj is the *gross* injection yield (§5.4); for the §9.4
reference case (monochromatic 2.1 eV, all absorbed by Au) QE_H2 = ½ Φ_inj ⟨P_C→H2⟩
(½·0.4812·0.0947 = 0.0228).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import device_array, with_x64
from ..errors import ModelError, NonlinearRegimeWarning, OptionError, SpectrumError
from ..physics.excitation import photon_flux_cm2_s
from ..physics.injection import injection_quantum_yield
from ..physics.parameters import InterfaceParams
from ..physics.traps import padded_m_max, poisson_average
from ..units import N_A
from . import markov
from .illumination import DEFAULT_ABSORPTION, Spectrum

__all__ = [
    "INJECTION_INPUTS",
    "OCCUPANCY_LIMIT",
    "Excitation",
    "H2Prediction",
    "PhotonBalance",
    "check_params",
    "excitation",
    "injection_spectrum",
    "kernel_inputs",
    "occupancy_core",
    "particles_per_gram",
    "predict_h2",
    "predict_kernel",
    "qe_core",
    "single_charge_occupancy",
]

OCCUPANCY_LIMIT = 0.1  # max mean long-lived excess electrons per particle, – (spec §9.5)
INJECTION_INPUTS = ("hbar_omega_eV", "eta_rad", "eta_cid", "phi_B_eV", "dphi_pin_eV", "E_F_eV",
                    "v_F_m_s", "xi_ib", "f_ib", "tau_ee_fs", "tau_inj_fs", "R1_nm")
"""InterfaceParams fields that enter Φ_inj (§4); a fitted Φ_inj replaces them in the H2 model."""


def particles_per_gram(p: InterfaceParams):
    """Particles per gram 1/:attr:`InterfaceParams.particle_mass_g`, g⁻¹ (1.54e16 default, §9.3)."""
    return 1.0 / p.particle_mass_g


# ----------------------------------------------------------------------------- injection
def injection_spectrum(p: InterfaceParams, energy_eV, phi_inj=None, model: str = "all_above"):
    """Φ_inj at each photon energy (array, –), pure JAX: the model yield, or with a fitted
    ``phi_inj`` (at the TA pump energy ``p.hbar_omega_eV``) phi_inj · Φ_model(E)/Φ_model(ħω) [A]."""
    energy_eV = jnp.atleast_1d(jnp.asarray(energy_eV, dtype=jnp.result_type(float)))
    shape = jax.vmap(lambda e: injection_quantum_yield(dataclasses.replace(p, hbar_omega_eV=e),
                                                       model))(energy_eV)
    if phi_inj is None:
        return shape
    return phi_inj * shape / injection_quantum_yield(p, model)


# ----------------------------------------------------------------------------- pure core
def qe_core(p: InterfaceParams, phi_au_eff, xi_cds_eff, n_max: int, cds_channel: bool = True):
    """QE_H2 and the Poisson-averaged fate probabilities (pure JAX).

    ``phi_au_eff`` = Φ̄_Au = Σ w_abs ξ_Au Φ_inj and ``xi_cds_eff`` = ξ̄_CdS = Σ w_abs ξ_CdS (–);
    ``n_max`` (static): largest trap count of the Poisson sum; ``cds_channel`` (static): include
    the CdS band-gap channel (§9.3). Returns ``qe_h2`` (H2 per absorbed photon), ``p_c_h2``
    ⟨P_C→H2⟩, ``p_x_h2`` ⟨P_X→H2⟩, ``phi_ll`` ⟨φ_LL⟩ and ``mean_traps`` λ.
    """
    r = markov.slow_rates(p)
    pc = _trap_average(markov.p_c_to_h2, r, n_max)
    px = _trap_average(markov.p_x_to_h2, r, n_max)
    x_term = xi_cds_eff * px if cds_channel else 0.0 * px
    qe = 0.5 * (phi_au_eff * pc + x_term)
    return {"qe_h2": qe, "p_c_h2": pc, "p_x_h2": px,
            "phi_ll": _trap_average(markov.phi_ll, r, n_max), "mean_traps": r.lam}


def _trap_average(fn, r: markov.SlowRates, n_max: int):
    """⟨fn(r, m)⟩ over m ~ Poisson(r.lam), m = 0 … n_max (spec §8.4; ``fn`` elementwise in m)."""
    return poisson_average(lambda m: fn(r, m), r.lam, n_max)


def _occupancy_time(r: markov.SlowRates, m, spec: bool = False):
    """Mean time (s) an injected electron spends in L or L*, per m.

    ``spec``: the §9.5 approximation φ_LL (τ_L + p_hs τ_H) with the L* lifetime τ_H = 1/k_H.
    """
    mkf = m * r.k1 * r.f_cb
    k_l = r.k_cr + r.k_hs + r.k_h + mkf
    k_ls = r.k_h if spec else r.k_h + r.k_loss2 + mkf
    return markov.phi_ll(r, m) * (1.0 / k_l + (r.k_hs / k_l) / k_ls)


def _occupancy_time_x(r: markov.SlowRates, m):
    """Mean time (s) a CdS-channel electron spends in L* (after hole scavenging), per m."""
    k_xt = r.k_hsx + r.k_x + r.k_xau + m * r.k1
    k_ls = r.k_h + r.k_loss2 + m * r.k1 * r.f_cb
    return r.k_hsx / k_xt / k_ls


def occupancy_core(p: InterfaceParams, phi_au_eff, xi_cds_eff, n_max: int,
                   cds_channel: bool = True, method: str = "exact"):
    """Mean long-lived excess electrons per particle per unit absorption rate g, s (pure JAX).

    Times g (photons absorbed per particle per s) this is the §9.5 occupancy: absorption flux ×
    mean time in {L, L*}, Poisson-averaged. ``method="exact"`` uses the L* lifetime
    1/(k_H + k_loss2 + m k₁ f_CB) (5 % below the spec at the clean defaults), ``"spec"`` 1/k_H.
    """
    r = markov.slow_rates(p)
    t_c = _trap_average(lambda r, m: _occupancy_time(r, m, method == "spec"), r, n_max)
    t_x = _trap_average(_occupancy_time_x, r, n_max)
    return phi_au_eff * t_c + (xi_cds_eff * t_x if cds_channel else 0.0)


# ----------------------------------------------------------------------------- edge
@dataclass(frozen=True)
class PhotonBalance:
    """Reactor photon balance for an absolute H2 rate (spec §9.3).

    Catalyst mass (g), illuminated area (cm²), incident irradiance (mW cm⁻²; else the
    spectrum's). With a measured decadic ``absorbance`` the absorbed fraction is
    (1 − 10^−A)·``catalyst_share`` (the catalyst's part of A) at every wavelength; without, a
    uniform non-scattering suspension of N_p = m_cat × particles per gram absorbs
    1 − exp(−N_p σ_abs(λ)/area). ``particles_per_gram`` (g⁻¹) overrides the geometric 1.54e16.
    """

    catalyst_mass_g: float
    illuminated_area_cm2: float
    irradiance_mW_cm2: float | None = None
    absorbance: float | None = None
    catalyst_share: float = 1.0
    particles_per_gram: float | None = None

    def __post_init__(self):
        problems = []
        if not self.catalyst_mass_g > 0:
            problems.append(f"catalyst_mass_g must be > 0, got {self.catalyst_mass_g}")
        if not self.illuminated_area_cm2 > 0:
            problems.append(f"illuminated_area_cm2 must be > 0, got {self.illuminated_area_cm2}")
        if self.absorbance is not None and not self.absorbance >= 0:
            problems.append(f"absorbance must be ≥ 0, got {self.absorbance}")
        if not 0 < self.catalyst_share <= 1:
            problems.append(f"catalyst_share must be in (0, 1], got {self.catalyst_share}")
        if problems:
            raise OptionError("photon balance (CLI: --mass, --area, --absorbance, "
                              "--catalyst-share) cannot be used:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Excitation:
    """Absorbed-photon description handed to the core (NumPy arrays over wavelength bins)."""

    energy_eV: np.ndarray  # photon energy per bin, eV
    w_abs: np.ndarray  # absorbed-photon distribution, sums to 1, –
    xi_au: np.ndarray  # Au share of absorption, –
    xi_cds: np.ndarray  # CdS share of absorption, –
    label: str
    absorbed_per_particle_s: float | None = None  # g, photons absorbed per particle per s
    absorbed_total_s: float | None = None  # Q_abs, photons absorbed per s in the reactor
    particles_per_gram: float | None = None


def excitation(p: InterfaceParams, spectrum: Spectrum | None = None, *, absorption=None,
               balance: PhotonBalance | None = None) -> Excitation:
    """Absorbed-photon distribution and (with a photon balance) absorption rates.

    Without a spectrum: the §9.4 reference case, monochromatic at ``p.hbar_omega_eV`` and
    entirely absorbed by the Au core (ξ_Au = 1, plasmon channel).
    """
    if spectrum is None:
        e, sigma = np.array([float(p.hbar_omega_eV)]), np.array([DEFAULT_ABSORPTION.sigma_peak_cm2])
        w_inc, xi_au, xi_cds = np.ones(1), np.ones(1), np.zeros(1)
        label = f"monochromatic {e[0]:g} eV, absorbed by the Au core (spec §9.4 reference)"
    else:
        sigma, xi_au, xi_cds = (np.asarray(a, float) for a in (
            absorption or DEFAULT_ABSORPTION).split(spectrum.wavelength_nm))
        e, w_inc, label = spectrum.photon_energy_eV, spectrum.photon_fraction, spectrum.label
    w_abs = w_inc * sigma
    if not w_abs.sum() > 0:
        raise SpectrumError(f"the particle absorbs nothing in the spectrum {label!r}; choose "
                            "a spectrum that overlaps the plasmon band (≈ 500–700 nm) or the "
                            "CdS band gap (< 517 nm)")
    exc = Excitation(np.asarray(e, float), w_abs / w_abs.sum(), xi_au, xi_cds, label)
    if balance is None:
        return exc
    irr = balance.irradiance_mW_cm2
    if irr is None and spectrum is not None:
        irr = spectrum.irradiance_mW_cm2
    if irr is None:
        raise OptionError("the photon balance needs an irradiance: give "
                          "irradiance_mW_cm2 (CLI: --irradiance) in mW cm⁻²")
    flux = photon_flux_cm2_s(irr, float(np.sum(w_inc * e)))  # photons cm⁻² s⁻¹
    ppg = (float(particles_per_gram(p)) if balance.particles_per_gram is None
           else balance.particles_per_gram)
    n_p = balance.catalyst_mass_g * ppg
    area = balance.illuminated_area_cm2
    if balance.absorbance is not None:
        f_abs = (1.0 - 10.0 ** (-balance.absorbance)) * balance.catalyst_share
    else:
        f_abs = -np.expm1(-n_p * sigma / area)
    q_lam = area * flux * w_inc * f_abs  # photons s⁻¹ absorbed per bin
    q_abs = float(q_lam.sum())
    if not q_abs > 0:
        raise OptionError("no photons are absorbed in this photon balance; check the "
                          "irradiance, catalyst mass, absorbance and catalyst share (> 0)")
    return dataclasses.replace(exc, w_abs=q_lam / q_abs, absorbed_per_particle_s=q_abs / n_p,
                               absorbed_total_s=q_abs, particles_per_gram=ppg)


@dataclass(frozen=True)
class H2Prediction:
    """Predicted H2 evolution of one particle type (all floats; units in the names)."""

    qe_h2: float  # H2 molecules per absorbed photon, –
    phi_inj: float  # effective gross injection yield per Au-absorbed photon, –
    p_c_h2: float  # ⟨P_C→H2⟩, –
    p_x_h2: float  # ⟨P_X→H2⟩ (CdS channel), –
    phi_ll: float  # ⟨φ_LL⟩, –
    mean_traps: float  # λ = N_it A_int, –
    xi_cds: float  # share of absorbed photons absorbed by CdS, –
    illumination: str
    rate_umol_g_h: float | None = None  # absolute rate, µmol g⁻¹ h⁻¹ (with a photon balance)
    absorbed_per_particle_s: float | None = None  # g, s⁻¹
    occupancy: float | None = None  # mean long-lived excess electrons per particle (§9.5), –
    linear_regime_ok: bool | None = None  # occupancy < 0.1

    def to_dict(self) -> dict:
        """Plain-JSON dictionary (NaN → None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in dataclasses.asdict(self).items()}


POSITIVE_FIELDS = ("tau_bet_ps", "tau_sep_ps", "tau_trec_ns", "sigma_n_cm2", "v_th_cm_s",
                   "temperature_K", "tau_cr_us", "tau_hs_us", "tau_H_us", "tau_loss2_ms",
                   "tau_hsX_ps", "tau_X_ns", "R1_nm", "d_shell_nm", "hbar_omega_eV")
NONNEGATIVE_FIELDS = ("N_it_cm2", "E_s_eV", "k_XAu_ps")


def check_params(p: InterfaceParams, what: str = "parameters") -> None:
    """Raise ModelError listing every H2-relevant field that is not finite/positive."""
    problems = []
    for name in POSITIVE_FIELDS + NONNEGATIVE_FIELDS:
        v = float(getattr(p, name))
        if not math.isfinite(v) or (v <= 0 if name in POSITIVE_FIELDS else v < 0):
            need = "> 0" if name in POSITIVE_FIELDS else "≥ 0"
            problems.append(f"{name} = {v:g} (must be finite and {need})")
    if problems:
        raise ModelError(f"{what} cannot be used by the H2 model:\n  - " + "\n  - ".join(problems))


@functools.partial(jax.jit, static_argnames=("n_max", "cds_channel", "mode", "model"))
def predict_kernel(p, phi_inj, energy_eV, w_au, xi_cds_eff, *, n_max, cds_channel, mode,
                   model):
    """Jitted QE core (compiled once per static combination; pure JAX, differentiable).

    ``mode``: ``"single"`` — Φ̄_Au = Σ w_au · phi_inj (one line at the fit's energy);
    ``"model"`` — Φ_inj(E) from the injection model (``phi_inj`` unused);
    ``"scaled"`` — the model's spectral shape scaled to the fitted ``phi_inj``.
    ``w_au`` = w_abs ξ_Au per bin; ``xi_cds_eff`` = Σ w_abs ξ_CdS.
    """
    if mode == "single":
        phi_eff = jnp.sum(w_au) * phi_inj
    elif mode == "model":
        phi_eff = jnp.sum(w_au * injection_spectrum(p, energy_eV, None, model))
    else:
        phi_eff = jnp.sum(w_au * injection_spectrum(p, energy_eV, phi_inj, model))
    return {**qe_core(p, phi_eff, xi_cds_eff, n_max, cds_channel), "phi_eff": phi_eff,
            "occ_per_g": occupancy_core(p, phi_eff, xi_cds_eff, n_max, cds_channel)}


def kernel_inputs(p: InterfaceParams, exc: Excitation, phi_inj):
    """Arguments of :func:`predict_kernel` after ``p`` (phi_inj, energy_eV, w_au, xi_cds_eff)
    and its ``mode`` ("single" when ``exc`` is one line at ``p.hbar_omega_eV``)."""
    single = exc.energy_eV.size == 1 and math.isclose(float(exc.energy_eV[0]),
                                                      float(p.hbar_omega_eV), rel_tol=1e-12)
    mode = "model" if phi_inj is None else ("single" if single else "scaled")
    return (device_array(1.0 if phi_inj is None else phi_inj, float),
            device_array(exc.energy_eV), device_array(exc.w_abs * exc.xi_au),
            device_array(np.sum(exc.w_abs * exc.xi_cds), float)), mode


@with_x64
def predict_h2(params: InterfaceParams, spectrum: Spectrum | None = None, *, phi_inj=None,
               absorption=None, photon_balance: PhotonBalance | None = None,
               cds_channel: bool = True, injection_model: str = "all_above") -> H2Prediction:
    """Predict QE_H2 (and, with a photon balance, the rate in µmol g⁻¹ h⁻¹) for one parameter set.

    Parameters
    ----------
    params : InterfaceParams
        Particle/interface parameters (e.g. ``CLEAN``, ``DEFECTIVE`` or a fitted set).
    spectrum : Spectrum, optional
        Illumination; default the §9.4 reference (2.1 eV, absorbed by the Au core).
    phi_inj : float, optional, –
        Gross injection yield at ``params.hbar_omega_eV`` (e.g. from a TA fit); default: the
        model value from :mod:`hotcarrier.physics.injection`.
    absorption : object with ``split(wavelength_nm)``, optional
        Absorption model (default :class:`~hotcarrier.h2.illumination.SimpleAbsorption`).
    photon_balance : PhotonBalance, optional
        Reactor photon balance for the absolute rate and the §9.5 validity check; warns
        (NonlinearRegimeWarning) when the mean long-lived excess electrons per particle ≥ 0.1.
    cds_channel : bool
        Include the optional CdS band-gap channel (§9.3).
    injection_model : str
        Barrier-crossing model passed to the injection module (§4.2).
    """
    check_params(params)
    if phi_inj is not None and not 0 < float(phi_inj) <= 1:
        raise ModelError(f"phi_inj = {phi_inj} must lie in (0, 1] (electrons injected per "
                         "absorbed photon); pass a yield, not a percentage")
    exc = excitation(params, spectrum, absorption=absorption, balance=photon_balance)
    args, mode = kernel_inputs(params, exc, phi_inj)
    out = {k: float(v) for k, v in predict_kernel(
        params, *args, n_max=padded_m_max(float(params.mean_traps)), cds_channel=cds_channel,
        mode=mode, model=injection_model).items()}
    rate = occ = None
    g = exc.absorbed_per_particle_s
    if photon_balance is not None:
        rate = 3600.0 * 1e6 * exc.particles_per_gram * g * out["qe_h2"] / N_A
        occ = g * out["occ_per_g"]
        if not occ < OCCUPANCY_LIMIT:
            warnings.warn(
                f"mean long-lived excess electrons per particle = {occ:.3g} at g = {g:.3g} "
                f"photons absorbed per particle per s exceeds {OCCUPANCY_LIMIT} (spec §9.5): "
                "the one-charge-per-particle H2 model is outside its validity; lower the "
                "irradiance or add charging and multi-electron kinetics",
                NonlinearRegimeWarning, stacklevel=3)
    xi_au_abs = float(np.sum(exc.w_abs * exc.xi_au))
    return H2Prediction(
        qe_h2=out["qe_h2"],
        phi_inj=out["phi_eff"] / xi_au_abs if xi_au_abs > 0 else float("nan"),
        p_c_h2=out["p_c_h2"], p_x_h2=out["p_x_h2"], phi_ll=out["phi_ll"],
        mean_traps=out["mean_traps"], xi_cds=float(args[3]), illumination=exc.label,
        rate_umol_g_h=rate, absorbed_per_particle_s=g, occupancy=occ,
        linear_regime_ok=None if occ is None else occ < OCCUPANCY_LIMIT)


@with_x64
def single_charge_occupancy(params: InterfaceParams, g_per_s, *, phi_inj=None,
                            injection_model: str = "all_above", method: str = "exact"):
    """Mean long-lived excess electrons per particle at absorption rate g (s⁻¹), §9.5 (Au only).

    Spec defaults [C]: 0.005 at g = 1e3, 0.05 at 1e4, 0.5 at 1e5, 9 at 1.9e6 s⁻¹ (clean).
    ``method="exact"`` (default): fundamental-matrix occupancy (4.6e-3 … 8.7);
    ``method="spec"``: the spec's formula with τ_H = 1/k_H (4.8e-3 … 9.0). Poisson-averaged.
    """
    if method not in ("exact", "spec"):
        raise OptionError(f"method = {method!r} is not an occupancy formula; choose 'exact' "
                          "(fundamental matrix) or 'spec' (the §9.5 formula)")
    phi = injection_quantum_yield(params, injection_model) if phi_inj is None else phi_inj
    n = padded_m_max(float(params.mean_traps))
    return np.asarray(g_per_s, float) * float(occupancy_core(params, phi, 0.0, n, False, method))

"""Transient-absorption observables of the linear model (spec §7).

Mid-IR (injected-electron free-carrier absorption, spec §7.1), per sample::

    ΔA_IR(τ) = κ ρ_abs [ C + r_LL L + r_T T ](τ − t0) ⊗ IRF + β_Au ρ_abs ΔT_e(τ − t0) ⊗ IRF
               + artefact(τ)

with ρ_abs the absorbed photon density (in 10¹² cm⁻³), κ = σ_CB ℓ / ln 10 expressed in mOD per
10¹² cm⁻³ CB electrons, r_LL = σ_LL/σ_CB = 1 [A] and r_T = σ_T/σ_CB = 0.2 [A] (trapped electrons
absorb weakly; Peng 2010 [V]). The reference (band-gap-excited CdS, one CB electron per absorbed
photon at 0⁺, spec §7.1 calibration) is ΔA_ref = κ q_ref ρ_ref [X_C + r_T X_T] with
X_C = g(τ; 1/τ_ref), X_T its trapped electrons, q_ref = σ_CB,ref/σ_CB,s (default 1).

Visible (spec §7.2): ΔA_vis(τ, λ) = Σ_s S_s(λ) ρ_abs y_s(τ − t0(λ)) + artefact(τ, λ) with species
N (non-thermal energy), ΔT_e, ΔT_l (Au LSPR bleach/broadening), CB = C + L and T (CdS band-edge
bleach near 480–515 nm). Chirp: t0(λ) = t00 + c1(λ − λ_ref) + c2(λ − λ_ref)² (spec §7.3).
Coherent artefact: a0 G_σ + a1 G'_σ + a2 G''_σ (spec §7.3).

Linear-regime metal response (the nonlinear three-temperature model is
:mod:`hotcarrier.physics.ttm`): the absorbed energy (1 − η_rad)ħω per photon enters the
non-thermal reservoir N, which thermalises into the electrons at a = 1/τ_th and directly into the
lattice at b = 1/τ_b; the electrons heat the lattice at k_eph = G/(γT0) and the lattice loses heat
to the solvent at 1/τ_env. In this linearisation the heat flow back from the lattice to the
electrons (relative size γT0/C_l ≈ 0.8 %) is neglected, so the chain N → T_e → T_l
(:data:`METAL_CHAIN`) stays acyclic and closed-form; T0 is the ambient temperature
``p.temperature_K``. Temperatures are per absorbed photon per particle (K). The metal chain, the
reference chain X → T (:data:`REFERENCE_CHAIN`) and the injected-electron chain
(:data:`hotcarrier.physics.linear.CHAIN`) are all solved by
:func:`hotcarrier.kinetics.convolved_populations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .. import kinetics
from ..irf import gaussian_irf
from ..units import Q_E
from . import linear

__all__ = ["ObservableParams", "METAL_CHAIN", "REFERENCE_CHAIN", "metal_response", "artefact",
           "artefact_basis", "midir_kinetics", "reference_kinetics", "reference_populations",
           "midir_signal", "reference_signal", "chirp_t0", "VISIBLE_SPECIES", "visible_species",
           "default_visible_spectra", "visible_signal"]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ObservableParams:
    """Parameters of the TA observables (spec §7); a JAX pytree. Units in the comments."""

    kappa_mOD: float = 1.0  # σ_CB ℓ/ln10: mOD per 10¹² cm⁻³ CB electrons [A] (calibrated)
    r_LL: float = 1.0  # σ_LL/σ_CB, – [A]
    r_T: float = 0.2  # σ_T/σ_CB, – [A]; Peng 2010 [V]
    beta_au_mOD_K: float = 0.004  # mid-IR metal (Drude) response, mOD per K per 10¹² cm⁻³ [A]
    t0_ps: float = 0.0  # time zero of the mid-IR sample traces, ps
    art_midir: tuple = (0.0, 0.0, 0.0)  # artefact a0 (mOD ps), a1 (mOD ps²), a2 per 10¹² cm⁻³
    # reference (band-gap-excited CdS, one CB electron per absorbed photon)
    q_ref: float = 1.0  # σ_CB,ref/σ_CB,sample, – [A]
    tau_ref_ps: float = 100.0  # CB-electron trapping in the reference, ps [V] Peng 2010 (~100 ps)
    tau_ref_trap_ns: float = 1.0  # decay of the reference's trapped electrons, ns [A]
    t0_ref_ps: float = 0.0  # reference time zero, ps
    art_ref: tuple = (0.0, 0.0, 0.0)  # reference artefact, as art_midir
    # visible chirp (spec §7.3)
    chirp_c1_ps_nm: float = 0.0  # ps nm⁻¹
    chirp_c2_ps_nm2: float = 0.0  # ps nm⁻²
    lambda_ref_nm: float = 550.0  # nm


METAL_CHAIN = kinetics.Scheme(3, (
    (0, 1),  # N → T_e     a = 1/τ_th (thermalisation)
    (0, 2),  # N → T_l     b = 1/τ_b (direct non-thermal → lattice)
    (1, 2),  # T_e → T_l   k_eph = G/(γT0)
    (2, None),  # T_l → ∅  1/τ_env (heat to the solvent)
))
"""Linearised metal chain: energy in the non-thermal reservoir, the electrons and the lattice."""


def metal_response(t, p, t0=0.0, sigma=None, T0=None):
    """Linear-regime (N, ΔT_e, ΔT_l) of the Au core per absorbed photon, IRF-convolved, (3, N).

    N as a fraction of ħω (–), ΔT_e and ΔT_l in K per absorbed photon per particle, from η_rad,
    ħω, R1, τ_th, τ_b, γ, G, C_l, τ_env of ``p`` (spec §6). ``t``, ``t0`` and ``sigma`` (IRF
    width, default from ``p.irf_fwhm_fs``) in ps; ``T0`` (K, C_e = γT0) default
    ``p.temperature_K``.
    """
    s = linear.irf_sigma_ps(p, sigma)
    T0 = p.temperature_K if T0 is None else T0
    k_eph = p.G_eph / (p.gamma_e * T0) * 1e-12  # ps⁻¹ (≈ 1.23 ps⁻¹ at 300 K)
    rates = jnp.stack([jnp.asarray(k, float) for k in
                       (1.0 / p.tau_th_ps, 1.0 / p.tau_b_ps, k_eph, 1.0 / p.tau_env_ps)])
    p0 = jnp.stack([jnp.asarray(1.0 - p.eta_rad, float), jnp.zeros(()), jnp.zeros(())])
    # energies per absorbed photon in units of ħω: (N, E_e, E_l)
    y = kinetics.convolved_populations(METAL_CHAIN, jnp.asarray(t, float), rates, p0, t0, s).T
    vc = p.volume_core_cm3 * 1e-6  # Au-core volume, m³
    e_ph = p.hbar_omega_eV * Q_E  # J
    return jnp.stack([y[0], y[1] * e_ph / (p.gamma_e * T0 * vc), y[2] * e_ph / (p.C_l * vc)])


def artefact(t, t0, sigma, amps):
    """Coherent artefact a0 G_σ + a1 G'_σ + a2 G''_σ (spec §7.3); ``amps`` = (a0, a1, a2)."""
    basis = artefact_basis(t, t0, sigma)
    return amps[0] * basis[0] + amps[1] * basis[1] + amps[2] * basis[2]


def artefact_basis(t, t0, sigma):
    """The three artefact shapes (G, G', G'') as an array (3, N)."""
    return jnp.stack([gaussian_irf(t, t0, sigma, k) for k in range(3)])


def midir_kinetics(t, p, o: ObservableParams, *, model="all_above", n_max=None, sigma=None,
                   quadrature=None):
    """Electron-absorption kinetics C + r_LL L + r_T T per absorbed photon at the sample t0."""
    y = linear.populations(t, p, model=model, t0=o.t0_ps, sigma=sigma, n_max=n_max,
                           quadrature=quadrature)
    return y[1] + o.r_LL * y[3] + o.r_T * y[2]


REFERENCE_CHAIN = kinetics.Scheme(2, (
    (0, 1),  # X → T   1/τ_ref (CB electrons trapped)
    (1, None),  # T → ∅  1/τ_ref,trap
))
"""CB electrons X of the band-gap-excited CdS reference and their trapped successors T."""


def reference_kinetics(t, p, o: ObservableParams, sigma=None):
    """CB + r_T·trapped electrons X_C + r_T X_T per absorbed photon of the band-gap reference
    (one CB electron at 0⁺), (N,), –: τ_ref, τ_ref,trap, r_T and time zero from ``o``, the IRF
    width from ``p`` (or ``sigma``, ps)."""
    y = reference_populations(t, p, o, o.t0_ref_ps, sigma)
    return y[0] + o.r_T * y[1]


def reference_populations(t, p, o: ObservableParams, t0, sigma=None):
    """CB electrons X_C and trapped electrons X_T (2, N) per absorbed photon of the band-gap
    reference at time zero ``t0`` (ps): τ_ref and τ_ref,trap from ``o``, the IRF width from
    ``p`` (or ``sigma``, ps)."""
    s = linear.irf_sigma_ps(p, sigma)
    rates = jnp.stack([jnp.asarray(1.0 / o.tau_ref_ps, float),
                       jnp.asarray(1e-3 / o.tau_ref_trap_ns, float)])
    return kinetics.convolved_populations(REFERENCE_CHAIN, jnp.asarray(t, float), rates,
                                          jnp.array([1.0, 0.0]), t0, s).T


def midir_signal(t, p, o: ObservableParams, rho_1e12, *, model="all_above", n_max=None):
    """Mid-IR ΔA of the sample (mOD) at absorbed photon density ``rho_1e12`` (10¹² cm⁻³)."""
    s = linear.irf_sigma_ps(p, None)
    kin = midir_kinetics(t, p, o, model=model, n_max=n_max)
    te = metal_response(t, p, o.t0_ps, s)[1]
    return rho_1e12 * (o.kappa_mOD * kin + o.beta_au_mOD_K * te
                       + artefact(t, o.t0_ps, s, o.art_midir))


def reference_signal(t, p, o: ObservableParams, rho_1e12):
    """Mid-IR ΔA of the calibration reference (mOD) at absorbed density ``rho_1e12``."""
    s = linear.irf_sigma_ps(p, None)
    return rho_1e12 * (o.kappa_mOD * o.q_ref * reference_kinetics(t, p, o)
                       + artefact(t, o.t0_ref_ps, s, o.art_ref))


def chirp_t0(wavelength_nm, o: ObservableParams):
    """Time zero per probe wavelength t0(λ) = t00 + c1(λ−λ_ref) + c2(λ−λ_ref)², ps."""
    d = jnp.asarray(wavelength_nm, float) - o.lambda_ref_nm
    return o.t0_ps + o.chirp_c1_ps_nm * d + o.chirp_c2_ps_nm2 * d * d


VISIBLE_SPECIES = ("N", "dTe", "dTl", "CB", "T")
"""Species of the visible model: non-thermal energy, ΔT_e, ΔT_l, CB(+L) electrons, trapped."""


def visible_species(t, p, t0, *, model="all_above", n_max=None, sigma=None, quadrature=None):
    """Visible-model species (5, N) per absorbed photon at time zero ``t0`` (scalar)."""
    s = linear.irf_sigma_ps(p, sigma)
    y = linear.populations(t, p, model=model, t0=t0, sigma=s, n_max=n_max,
                           quadrature=quadrature)
    m = metal_response(t, p, t0, s)
    return jnp.stack([m[0], m[1], m[2], y[1] + y[3], y[2]])


def default_visible_spectra(wavelength_nm, lspr_nm=594.0):
    """Synthetic species-associated spectra (5, W) in mOD per unit species per 10¹² cm⁻³.

    LSPR bleach with broadening wings for N, ΔT_e, ΔT_l (difference of Lorentzians around
    ``lspr_nm``), CdS band-edge bleach at 495 nm (Gaussian, 14 nm) for CB electrons and a weaker
    one for trapped electrons. Shapes are [A] (for synthetic data only; fits treat them free).
    """
    lam = jnp.asarray(wavelength_nm, float)

    def lor(w):
        return w**2 / ((lam - lspr_nm) ** 2 + w**2)

    broad = lor(48.0) - lor(40.0)  # negative at the centre, positive wings
    bleach_cds = -jnp.exp(-0.5 * ((lam - 495.0) / 14.0) ** 2)
    return jnp.stack([0.6 * broad, 0.08 * broad, 0.01 * broad, 0.5 * bleach_cds,
                      0.15 * bleach_cds])


def visible_signal(t, wavelength_nm, p, o: ObservableParams, rho_1e12, spectra,
                   art_amps=None, *, model="all_above", n_max=None):
    """Visible ΔA map (delay × wavelength, mOD) with chirp and coherent artefact."""
    s = linear.irf_sigma_ps(p, None)
    t0s = chirp_t0(wavelength_nm, o)

    def column(t0, spec, amps):
        y = visible_species(t, p, t0, model=model, n_max=n_max, sigma=s)
        return rho_1e12 * (spec @ y + artefact(t, t0, s, amps))

    if art_amps is None:
        art_amps = jnp.zeros((len(wavelength_nm), 3))
    return jax.vmap(column, in_axes=(0, 1, 0), out_axes=1)(t0s, spectra, art_amps)

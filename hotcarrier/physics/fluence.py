"""Fluence dependence of the injection yield; linear-regime check; fluence-series fits (§6.5).

Core charging (8.6 mV per electron, ≈ 18.4 absorbed photons per µJ cm⁻² at 590 nm) lowers
Φ_inj: 0.481 → 0.416 at 10 µJ cm⁻² (−14 %), 0.236 at 100 µJ cm⁻² (spec §6.4), so Φ_inj must
come from the low-fluence slope of the t = 0⁺ injected amplitude or from a global fit of the
nonlinear model to a fluence series (spec §6.5). Definitions (docs/physics-nonlinear.md §2):
Φ(F) = :attr:`TTMSolution.injection_yield` (photo-injected + thermionic, with charging);
A(F) = Φ(F) ⟨N_abs⟩(F), the t = 0⁺ amplitude in electrons per particle (injection ends within
the pump); F is the on-axis fluence, averaged over a Gaussian pump/probe profile as
S = κ ∫₀¹ u^{κ−1} S₁(F u) du, κ = (w_pu/w_pr)² (spec §2 A.5; ``beam_ratio=None``: S = S₁(F)).
The Poisson spread of N_abs between particles is not averaged (≈ −1e-3 relative on A).
The edge functions take the data's pump wavelength ``pump_nm``: then ħω = hc/λ_pump and
⟨N_abs⟩ = F σ_abs(λ_pump)/ħω with σ_abs from the optics module (spec §2; 17.6 photons per
µJ cm⁻² at 590 nm for the default particle) instead of the model's 18.43.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import brentq
from scipy.special import roots_jacobi

from .._x64 import with_x64, x64
from ..errors import ConvergenceWarning, NonlinearRegimeWarning
from ..fitting.optimize import STATUS_MESSAGES, levenberg_marquardt
from ..fitting.uncertainty import (gauss_newton_covariance, propagate_covariance,
                                   standard_errors)
from ..units import nm_to_ev
from . import excitation
from .excitation import (SIGMA_ABS_590_CM2, absorption_cross_section_cm2, mean_absorbed_photons,
                         photons_per_fluence)
from .injection import injection_quantum_yield, params_with_yield
from .optics import check_wavelength_nm
from .parameters import InterfaceParams
from .systematics import Z95
from .ttm import TTMConfig, charging_shift_per_electron_eV, solve_ttm_batch


def at_pump(p: InterfaceParams, pump_nm=None, sigma_abs_cm2=None, surface_damping_A=0.0):
    """(parameters, σ_abs in cm²) for a pump of vacuum wavelength ``pump_nm`` (nm).

    None: ``p`` and ``sigma_abs_cm2`` (default 6.2e-12 cm², the spec's 18.43 photons per
    µJ cm⁻²). Else ``p`` with ħω = hc/λ_pump and σ_abs(λ_pump) of its geometry from the
    optics module (bulk JC damping unless ``surface_damping_A``), unless ``sigma_abs_cm2``
    is given."""
    if pump_nm is None:
        return p, SIGMA_ABS_590_CM2 if sigma_abs_cm2 is None else sigma_abs_cm2
    pump_nm = float(pump_nm)
    if sigma_abs_cm2 is None:
        check_wavelength_nm(pump_nm, "pump_nm =")
    p = p.replace(hbar_omega_eV=nm_to_ev(pump_nm))
    if sigma_abs_cm2 is None:
        with x64():
            sigma_abs_cm2 = float(absorption_cross_section_cm2(
                pump_nm, p, surface_damping_A=surface_damping_A))
    return p, sigma_abs_cm2


def _profile_nodes(beam_ratio, n_nodes):
    """Nodes u ∈ (0, 1) and weights of κ∫₀¹u^{κ−1}(·)du (Gauss–Jacobi, weight u^{κ−1}).

    Exact for integrands polynomial in u of degree ≤ 2n−1, for any κ = (w_pu/w_pr)² > 0.
    """
    if beam_ratio is None:
        return np.ones(1), np.ones(1)
    kappa = float(beam_ratio) ** 2
    x, w = roots_jacobi(n_nodes, 0.0, kappa - 1.0)  # weight (1+x)^{κ−1} on [−1, 1]
    u = 0.5 * (x + 1.0)
    w = w * kappa / 2.0**kappa  # (1+x)^{κ−1} = 2^{κ−1} u^{κ−1}, du = dx/2
    return u, w


def injection_yield_vs_fluence(p: InterfaceParams, fluence_uJ_cm2, *, pump_fwhm_fs=100.0,
                               cfg: TTMConfig = TTMConfig(),
                               sigma_abs_cm2: float = SIGMA_ABS_590_CM2):
    """Φ_inj(F) with charging from the nonlinear model, injected electrons per absorbed photon.

    Pure JAX (needs float64 on); ``fluence_uJ_cm2`` 1-D in µJ cm⁻², ``pump_fwhm_fs`` in fs,
    ``sigma_abs_cm2`` in cm². 0.481 / 0.474 / 0.416 / 0.270 / 0.236 at 0.1 / 1 / 10 / 50 /
    100 µJ cm⁻² for the defaults.
    """
    f = jnp.atleast_1d(jnp.asarray(fluence_uJ_cm2, float))
    amp = injected_amplitude(p, f, pump_fwhm_fs=pump_fwhm_fs, cfg=cfg, sigma_abs_cm2=sigma_abs_cm2)
    return amp / mean_absorbed_photons(f, p, sigma_abs_cm2)


def injected_amplitude(p: InterfaceParams, fluence_uJ_cm2, *, beam_ratio=None, n_nodes=12,
                       pump_fwhm_fs=100.0, cfg: TTMConfig = TTMConfig(),
                       sigma_abs_cm2: float = SIGMA_ABS_590_CM2):
    """Predicted t = 0⁺ injected amplitude A(F) = Φ(F)·⟨N_abs⟩(F), electrons per particle.

    Pure JAX (jit/jacfwd through it); ``beam_ratio`` = w_pump/w_probe adds the pump-profile
    average of spec §2 A.5 with ``n_nodes`` Gauss–Jacobi nodes in u = F(r)/F (exact when A is
    a polynomial in F of degree ≤ 2n−1; the charging saturation is smooth in F).
    """
    f = jnp.atleast_1d(jnp.asarray(fluence_uJ_cm2, float))
    u, w = _profile_nodes(beam_ratio, n_nodes)
    local = (f[:, None] * jnp.asarray(u)[None, :]).reshape(-1)
    n_abs = mean_absorbed_photons(local, p, sigma_abs_cm2)
    sol = solve_ttm_batch(p, n_abs, ts=jnp.array([cfg.t_end_ps]), pump_fwhm_fs=pump_fwhm_fs,
                          cfg=cfg)
    amp = (sol.photo_injected[:, -1] + sol.thermionic[:, -1]).reshape(f.shape[0], -1)
    return amp @ jnp.asarray(w)


# ------------------------------------------------------------------ linear-regime check
@dataclass(frozen=True)
class LinearityReport:
    """Outcome of :func:`check_linear_regime` (numpy arrays, one entry per fluence): fluence
    (µJ cm⁻²), ⟨N_abs⟩, nonlinear Φ_inj(F) and the linear closed form (§5.4), deviation
    Φ/Φ_linear − 1, charging shift q Φ N_abs/C_eff (eV, upper bound of the barrier rise) and
    ``linear`` = |deviation| ≤ tol."""

    fluence_uJ_cm2: np.ndarray
    n_abs: np.ndarray
    phi: np.ndarray
    phi_linear: np.ndarray
    deviation: np.ndarray
    charging_shift_eV: np.ndarray
    linear: np.ndarray
    tol: float

    @property
    def all_linear(self) -> bool:
        """True when every fluence is inside the linear regime."""
        return bool(np.all(self.linear))


def estimated_yield_deviation(p: InterfaceParams, n_abs, model: str = "all_above"):
    """Closed-form estimate of Φ(N_abs)/Φ_lin − 1 from charging alone (no ODE), –.

    Injection during the pulse with instantaneous hot-electron crossing and no BET:
    dn/dN = Φ_lin − β n, β = η_LD k_inj/(k_inj + k_ee) (q/C_eff)/ħω (``all_above``: f_> is
    linear in φ), so Φ = Φ_lin (1 − e^{−βN})/(βN). It overestimates the drop slightly (BET
    and the finite H lifetime lower n_s during the pulse): −15.8 % vs −13.6 % (ODE) at 184
    photons. Valid for the ``all_above`` barrier; a screening tool, not a substitute for
    :func:`check_linear_regime`.
    """
    if model != "all_above":
        raise ValueError("the closed-form estimate assumes the all_above barrier model")
    beta = p.eta_ld * p.k_inj / (p.k_inj + p.k_ee) * charging_shift_per_electron_eV(p) \
        / p.hbar_omega_eV * (1.0 - p.xi_ib)
    x = beta * jnp.asarray(n_abs, float)
    xs = jnp.maximum(x, 1e-8)
    rel = jnp.where(x > 1e-8, -jnp.expm1(-xs) / xs, 1.0 - 0.5 * x)
    return rel - 1.0


@with_x64
def check_linear_regime(p: InterfaceParams, fluence_uJ_cm2, *, tol: float = 0.01,
                        pump_fwhm_fs=100.0, cfg: TTMConfig = TTMConfig(),
                        sigma_abs_cm2: float | None = None, pump_nm=None,
                        warn: bool = True) -> LinearityReport:
    """Is the linear model (spec §5) valid at these fluences (µJ cm⁻²)? Warn if not (§6.5).

    Compares Φ_inj(F) of the nonlinear model (charging on by default) with the linear closed
    form; where |Φ/Φ_lin − 1| > ``tol`` (1 %, the V16 criterion) and ``warn``, emits one
    :class:`~hotcarrier.errors.NonlinearRegimeWarning` naming the fluences, ⟨N_abs⟩, the
    deviation and the charging shift, and what to do. ``pump_nm``: the data's pump wavelength
    (nm; sets ħω and σ_abs, :func:`at_pump`); else σ_abs = 6.2e-12 cm² at ħω of ``p``.
    """
    p, sigma_abs_cm2 = at_pump(p, pump_nm, sigma_abs_cm2)
    f = np.atleast_1d(np.asarray(fluence_uJ_cm2, float))
    n_abs = np.asarray(mean_absorbed_photons(f, p, sigma_abs_cm2))
    phi = np.asarray(injection_yield_vs_fluence(p, f, pump_fwhm_fs=pump_fwhm_fs, cfg=cfg,
                                                sigma_abs_cm2=sigma_abs_cm2))
    phi_lin = float(injection_quantum_yield(p, cfg.barrier_model))
    dev = phi / phi_lin - 1.0
    shift = phi * n_abs * float(charging_shift_per_electron_eV(p))
    ok = np.abs(dev) <= tol
    report = LinearityReport(f, n_abs, phi, np.full_like(phi, phi_lin), dev, shift, ok, tol)
    if warn and not report.all_linear:
        bad = ", ".join(
            f"F = {fi:g} µJ cm⁻² (⟨N_abs⟩ = {ni:.3g}, Φ_inj = {pi:.4f}, {100 * di:+.1f} %, "
            f"charging up to {1e3 * si:.0f} mV)"
            for fi, ni, pi, di, si in zip(f[~ok], n_abs[~ok], phi[~ok], dev[~ok], shift[~ok]))
        f_max = _largest_linear_fluence(p, tol, sigma_abs_cm2)
        warnings.warn(
            f"excitation outside the linear regime (|ΔΦ_inj/Φ_inj| > {100 * tol:g} % vs the "
            f"linear value {phi_lin:.4f}): {bad}. Use the low-fluence slope of the t = 0⁺ "
            f"amplitude (fluence.low_fluence_slope) or fit the nonlinear model to the fluence "
            f"series (fluence.fit_fluence_series); linear below ≈ {f_max:.2g} µJ cm⁻² "
            f"(closed-form charging estimate).",
            NonlinearRegimeWarning, stacklevel=2)
    return report


def _largest_linear_fluence(p, tol, sigma_abs_cm2):
    """Fluence where the closed-form charging estimate reaches −tol, µJ cm⁻²."""
    def dev(n):
        return float(estimated_yield_deviation(p, n)) + tol

    if dev(1e6) > 0:
        return float("inf")
    return brentq(dev, 0.0, 1e6) / float(mean_absorbed_photons(1.0, p, sigma_abs_cm2))


# ------------------------------------------------------------------ low-fluence slope
@dataclass(frozen=True)
class SlopeEstimate:
    """Weighted fit A = s F + c F² (through the origin) of a fluence series.

    ``slope`` dA/dF at F → 0 (amplitude per µJ cm⁻²), ``curvature`` c (per (µJ cm⁻²)²; < 0 for
    charging saturation), each with its stderr; ``phi_inj`` = slope/(dN_abs/dF) when
    ``photons_per_fluence`` was given (else None); ``curvature_z`` = c/stderr(c).
    """

    slope: float
    slope_stderr: float
    curvature: float
    curvature_stderr: float
    phi_inj: float | None
    phi_inj_stderr: float | None
    curvature_z: float
    chi2_reduced: float

    @property
    def consistent_with_linear(self) -> bool:
        """|c| < 2 stderr(c): no detectable nonlinearity in the series."""
        return abs(self.curvature_z) < 2.0


def low_fluence_slope(fluence_uJ_cm2, amplitude, sigma=None, *, photons_per_fluence=None,
                      pump_nm=None, params: InterfaceParams | None = None,
                      quadratic: bool = True, covariance=None) -> SlopeEstimate:
    """Low-fluence slope of the t = 0⁺ amplitude (spec §6.5), numpy only.

    Weighted least squares through the origin of A_i = s F_i + c F_i² (``quadratic``) or
    A_i = s F_i: with the quadratic term the slope is unbiased to first order by the charging
    curvature. ``amplitude``: deconvolved t = 0⁺ amplitudes (electrons per particle for
    Φ_inj); ``sigma``: their absolute 1σ errors (None: χ²_red-scaled stderr);
    ``photons_per_fluence``: dN_abs/dF per µJ cm⁻² (18.43 for the defaults); or ``pump_nm``
    (the data's pump wavelength, nm): dN_abs/dF = σ_abs(λ_pump)/ħω of the particle of
    ``params`` (default CLEAN) from the optics module (17.6 at 590 nm). ``covariance``: the
    amplitudes' full covariance instead of ``sigma`` (generalised least squares, e.g. the
    correlated per-fluence amplitudes of one decay fit that share a reference).
    """
    if photons_per_fluence is None and pump_nm is not None:
        photons_per_fluence = excitation.photons_per_fluence(params, pump_nm=float(pump_nm))
    f = np.asarray(fluence_uJ_cm2, float)
    a = np.asarray(amplitude, float)
    if f.shape != a.shape or f.ndim != 1:
        raise ValueError(f"fluence and amplitude must be 1-D of equal length; got {f.shape} "
                         f"and {a.shape}")
    npar = 2 if quadratic else 1
    if f.size <= npar:
        raise ValueError(f"need more than {npar} fluences for this fit; got {f.size}")
    W = _whitening(a.size, sigma, covariance)
    X = np.stack([f, f**2], axis=1)[:, :npar]
    Xw, aw = W @ X, W @ a
    coef, *_ = np.linalg.lstsq(Xw, aw, rcond=None)
    resid = aw - Xw @ coef
    dof = f.size - npar
    chi2 = float(resid @ resid) / dof
    cov = np.linalg.inv(Xw.T @ Xw)
    if sigma is None and covariance is None:
        cov = cov * chi2
    err = np.sqrt(np.diag(cov))
    s, se = float(coef[0]), float(err[0])
    c, ce = (float(coef[1]), float(err[1])) if quadratic else (0.0, 0.0)
    z = c / ce if quadratic and ce > 0 else 0.0
    phi = phi_e = None
    if photons_per_fluence is not None:
        phi, phi_e = s / photons_per_fluence, se / photons_per_fluence
    return SlopeEstimate(s, se, c, ce, phi, phi_e, float(z), chi2)


def _whitening(n, sigma=None, covariance=None) -> np.ndarray:
    """W with WᵀW = Σ⁻¹ (n × n): L⁻¹ of the Cholesky factor of ``covariance``, diag(1/σ), or
    the identity (unit weights)."""
    if sigma is not None and covariance is not None:
        raise ValueError("give sigma or covariance, not both")
    if covariance is not None:
        c = np.asarray(covariance, float)
        if c.shape != (n, n):
            raise ValueError(f"covariance must be ({n}, {n}); got {c.shape}")
        return np.linalg.inv(np.linalg.cholesky(c))
    if sigma is not None:
        return np.diag(1.0 / np.broadcast_to(np.asarray(sigma, float), (n,)))
    return np.eye(n)


# ------------------------------------------------------------------ global fluence-series fit
@dataclass(frozen=True)
class FluenceSeriesFit:
    """Result of :func:`fit_fluence_series`: best-fit parameters, the free names with their
    values and standard errors (delta method from log space), the linear-regime Φ_inj of the
    best fit (§5.4) — Φ_inj at F → 0 — with its stderr and 95 % interval (delta method in
    ln Φ_inj), the charging shift q/C_eff per shell electron of the best fit (eV) and the
    best-fit amplitudes A(F_i)."""

    params: InterfaceParams
    free: tuple
    values: dict
    stderr: dict
    phi_inj: float
    phi_inj_stderr: float
    chi2_reduced: float
    n_iter: int
    converged: bool
    model_amplitude: np.ndarray
    phi_inj_ci95: tuple = (float("nan"), float("nan"))
    charging_shift_eV: float = float("nan")


YIELD = "injection_quantum_yield"
"""Pseudo-field of ``free``: Φ_inj at F → 0 itself, set by
:func:`~hotcarrier.physics.injection.params_with_yield` (η_CID and τ_inj at fixed direct share
η_CID/Φ_inj; Φ_inj below :func:`~hotcarrier.physics.injection.phi_max`)."""


@dataclass(frozen=True)
class _SeriesResidual:
    """``(x, *data) -> (r, J, (r, J))``: whitened residuals of a fluence series and their
    forward-mode Jacobian in the log of the free fields (hashable: the static configuration
    keys the compiled Levenberg–Marquardt program, whose aux returns r and J at the optimum)."""

    free: tuple
    beam_ratio: float | None
    n_nodes: int
    cfg: TTMConfig

    def params(self, p0: InterfaceParams, x) -> InterfaceParams:
        """``p0`` with the free fields at exp(x) (:data:`YIELD` last, through
        ``params_with_yield``)."""
        p = p0.replace(**{n: jnp.exp(x[i]) for i, n in enumerate(self.free) if n != YIELD})
        if YIELD in self.free:
            p = params_with_yield(p, jnp.exp(x[self.free.index(YIELD)]), self.cfg.barrier_model)
        return p

    def __call__(self, x, p0, f, a, w, scale, fwhm_fs, sigma_abs_cm2):
        def residuals(xx):
            model = scale * injected_amplitude(self.params(p0, xx), f, beam_ratio=self.beam_ratio,
                                               n_nodes=self.n_nodes, pump_fwhm_fs=fwhm_fs,
                                               cfg=self.cfg, sigma_abs_cm2=sigma_abs_cm2)
            r = w @ (model - a)
            return r, r

        J, r = jax.jacfwd(residuals, has_aux=True)(x)
        return r, J, (r, J)


@with_x64
def fit_fluence_series(fluence_uJ_cm2, amplitude, p0: InterfaceParams,
                       free=("eta_cid", "tau_inj_fs"), sigma=None, *, covariance=None,
                       beam_ratio=None,
                       n_nodes: int = 12, amplitude_scale=None, pump_fwhm_fs=100.0,
                       cfg: TTMConfig = TTMConfig(),
                       sigma_abs_cm2: float | None = None, pump_nm=None,
                       max_iter: int = 50, rtol: float = 1e-8) -> FluenceSeriesFit:
    """Global fit of the nonlinear model (charging, TTM) to t = 0⁺ amplitudes vs fluence.

    Levenberg–Marquardt on the log of the ``free`` (positive) fields of ``p0`` with forward-mode
    Jacobians through the stiff solver (spec §6.5). The charging curvature separates η_CID from
    the barrier-limited hot-electron branch, so (η_CID, τ_inj) are identifiable from amplitudes
    once εr is fixed. ``free`` may hold ``"injection_quantum_yield"`` (:data:`YIELD`: Φ_inj
    at F → 0 itself, at the direct share of ``p0``) beside fields such as ``eps_r`` (the
    charging strength q/C_eff ∝ 1/εr). ``amplitude`` in electrons per particle (or any unit with
    ``amplitude_scale`` = unit per electron); ``sigma``: 1σ errors, or ``covariance``: their
    full covariance (None: unit weights, covariance scaled by χ²_red); ``beam_ratio`` =
    w_pump/w_probe with ``n_nodes`` profile nodes (§2 A.5); LM stops after ``max_iter`` or
    when cost decrease and step are below ``rtol``.
    ``pump_nm``: the data's pump wavelength (nm; ħω and σ_abs from it, :func:`at_pump`; the
    fitted ``params`` carry that ħω); else σ_abs = 6.2e-12 cm² at ħω of ``p0``.
    """
    p0, sigma_abs_cm2 = at_pump(p0, pump_nm, sigma_abs_cm2)
    f = jnp.asarray(fluence_uJ_cm2, float)
    a = jnp.asarray(amplitude, float)
    w = jnp.asarray(_whitening(int(a.size), sigma, covariance))
    scale = jnp.asarray(1.0 if amplitude_scale is None else float(amplitude_scale))
    free = tuple(free)
    for name in free:
        if name == YIELD:
            continue
        if not hasattr(p0, name):
            raise KeyError(f"unknown parameter {name!r} in free")
        if not float(getattr(p0, name)) > 0:
            raise ValueError(f"free parameter {name!r} must start > 0 (fitted in log space)")
    for pair in ((YIELD, "eta_cid"), (YIELD, "tau_inj_fs")):
        if set(pair) <= set(free):
            raise ValueError(f"free: {pair[0]} sets eta_cid and tau_inj_fs itself (at the direct "
                             f"share of p0); do not free {pair[1]} with it")
    fn = _SeriesResidual(free, beam_ratio, n_nodes, cfg)
    args = (p0, f, a, w, scale, jnp.asarray(pump_fwhm_fs, float),
            jnp.asarray(sigma_abs_cm2, float))
    if YIELD in free:  # Φ_inj last: params_with_yield acts on the other free fields' values
        free = tuple(n for n in free if n != YIELD) + (YIELD,)
        fn = _SeriesResidual(free, beam_ratio, n_nodes, cfg)
    x0 = jnp.log(jnp.asarray([float(injection_quantum_yield(p0, cfg.barrier_model)) if n == YIELD
                              else float(getattr(p0, n)) for n in free]))
    res = levenberg_marquardt(fn, x0, *args, max_iter=max_iter, ftol=rtol, xtol=rtol)
    x = res.x
    r, J = res.aux  # r and J at the optimum from the compiled program (no op-by-op re-trace)
    cost = float(res.fun)
    cov = gauss_newton_covariance(np.asarray(J), cost, int(a.size))
    chi2 = cov.rmse**2
    # with given σ the weights are 1/σ: the covariance is (JᵀJ)⁻¹, not rescaled by χ²_red
    # (computed directly: an exactly determined series has χ²_red = 0/0)
    given = sigma is not None or covariance is not None
    cov_x = cov.covariance
    if given:
        Jn = np.asarray(J)
        cov_x = np.linalg.pinv(Jn.T @ Jn)
        bad = ~np.asarray(cov.identifiable, bool)
        cov_x[bad, :] = np.nan
        cov_x[:, bad] = np.nan
    p_best = fn.params(p0, x)
    vals = {n: float(jnp.exp(x[i])) for i, n in enumerate(free)}
    cov_v, _ = propagate_covariance(lambda xx: jnp.exp(xx), x, cov_x, cov.identifiable)
    errs = {n: float(se) for n, se in zip(free, standard_errors(cov_v))}
    phi_of_x = lambda xx: jnp.atleast_1d(  # noqa: E731
        injection_quantum_yield(fn.params(p0, xx), cfg.barrier_model))
    cov_phi, _ = propagate_covariance(phi_of_x, x, cov_x, cov.identifiable)
    phi_best = float(phi_of_x(x)[0])
    phi_err = float(standard_errors(cov_phi)[0])
    model_amp = np.linalg.solve(np.asarray(w), np.asarray(r)) + np.asarray(a)
    if not bool(res.converged):
        warnings.warn(f"fluence-series fit did not converge: {STATUS_MESSAGES[int(res.status)]}",
                      ConvergenceWarning, stacklevel=2)
    s_ln = phi_err / phi_best if phi_best > 0 else float("nan")
    ci = (phi_best * math.exp(-Z95 * s_ln), phi_best * math.exp(Z95 * s_ln)) \
        if math.isfinite(s_ln) else (float("nan"), float("nan"))
    return FluenceSeriesFit(p_best, free, vals, errs, phi_best, phi_err, float(chi2),
                            int(res.n_iter), bool(res.converged), model_amp, ci,
                            float(charging_shift_per_electron_eV(p_best)))


__all__ = [
    "FluenceSeriesFit",
    "YIELD",
    "LinearityReport",
    "SlopeEstimate",
    "at_pump",
    "check_linear_regime",
    "estimated_yield_deviation",
    "fit_fluence_series",
    "injected_amplitude",
    "injection_yield_vs_fluence",
    "low_fluence_slope",
    "photons_per_fluence",
]

"""Lifetime-density analysis (LDA): decay amplitudes on a log-spaced lifetime grid.

The map is modelled as D ≈ K·A with K[i, j] = exp(−t/τ_j) ⊗ Gaussian IRF at delay t_i
(:func:`hotcarrier.irf.exp_conv_gauss`) and A (lifetime × wavelength) the lifetime-density map
(a continuum of decay-associated spectra). The problem is ill-posed, so A is regularised:

* Tikhonov: min ‖KA − D‖² + α²‖A‖², solved for every α from ONE SVD of K (filter factors
  f = s²/(s² + α²); Hansen, *Rank-deficient and discrete ill-posed problems*, 1998);
* elastic net: min ½‖KA − D‖² + α(ρ‖A‖₁ + ½(1 − ρ)‖A‖²) per wavelength, by cyclic
  coordinate descent on the Gram matrix KᵀK (Friedman, Hastie & Tibshirani 2010).

α is chosen on a grid by the L-curve corner (maximum curvature of (log‖r‖, log penalty))
or by generalised cross-validation, GCV(α) = ‖r‖² / (N_data − dof(α))². The dataset is taken
as preprocessed: time zero is the IRF centre ``t0`` at every wavelength (correct the chirp
first) and weights are not used.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, check_ta, fit_mask
from ..errors import OptionError

__all__ = ["lifetime_density", "lda_peaks", "lda_kernel", "tikhonov_path", "elastic_net"]


def lda_kernel(t, tau, t0: float, irf_fwhm: float) -> np.ndarray:
    """K[i, j] = exp(−(t_i − t0)/τ_j) ⊗ unit-area Gaussian IRF (ps, ps, ps, ps), float64."""
    import jax

    from .._x64 import x64
    from ..irf import exp_conv_gauss
    from ..units import fwhm_to_sigma

    with x64():  # one compiled program (eager op-by-op dispatch compiles ~30 small ones)
        k = jax.jit(exp_conv_gauss)(np.asarray(t, float)[:, None],
                                    1.0 / np.asarray(tau, float)[None], float(t0),
                                    fwhm_to_sigma(float(irf_fwhm)))
        return np.asarray(k, dtype=float)


def tikhonov_path(K, D, alphas):
    """Tikhonov solutions for every α from one SVD of K: residual² (α), ‖A‖² (α), GCV (α)
    and ``solve(alpha) -> A`` (lifetime × wavelength)."""
    U, s, Vt = np.linalg.svd(K, full_matrices=False)
    beta = U.T @ D
    b2 = (beta**2).sum(axis=1)
    perp = max(float((D**2).sum() - b2.sum()), 0.0)
    f = s**2 / (s**2 + np.asarray(alphas, float)[:, None] ** 2)
    res2 = ((1 - f) ** 2) @ b2 + perp
    sol2 = (f / s) ** 2 @ b2
    gcv = res2 / (D.shape[1] * (D.shape[0] - f.sum(axis=1))) ** 2

    def solve(alpha):
        return Vt.T @ ((s / (s**2 + alpha**2))[:, None] * beta)

    return res2, sol2, gcv, solve


def elastic_net(K, D, alphas, l1_ratio: float, *, eps: float = 1e-4, max_iter: int = 3000):
    """Elastic-net solutions, min ½‖KA − D‖² + α(ρ‖A‖₁ + ½(1 − ρ)‖A‖²), for every α.

    ADMM (Boyd et al. 2011, §6.4) on all wavelengths at once, with the exact quadratic step
    from ONE eigen-decomposition of KᵀK, over-relaxation 1.6 and penalty
    ρ_ADMM = √(α·max(1 − ρ, 0.1)·λ_max(KᵀK)); stops when the primal and dual residuals are
    below ``eps`` (relative). The α are visited from the largest down, each warm-starting
    the next. Returns the (sparse) amplitudes, one array (lifetime × wavelength) per α.
    """
    lam, Q = np.linalg.eigh(K.T @ K)
    Qc = Q.T @ (K.T @ D)
    Z = U = np.zeros(Qc.shape)
    rho_old, out = None, {}
    for a in sorted(alphas, reverse=True):
        rho = np.sqrt(a * max(1 - l1_ratio, 0.1) * lam[-1])
        U = U * (rho_old / rho) if rho_old else U
        den = (lam + a * (1 - l1_ratio) + rho)[:, None]
        for _ in range(max_iter):
            A = Q @ ((Qc + rho * (Q.T @ (Z - U))) / den)
            Ah = 1.6 * A + (1 - 1.6) * Z
            Z_old, Z = Z, np.sign(Ah + U) * np.maximum(np.abs(Ah + U) - a * l1_ratio / rho, 0)
            U = U + Ah - Z
            if (np.linalg.norm(A - Z) <= eps * max(np.linalg.norm(A), np.linalg.norm(Z))
                    and np.linalg.norm(Z - Z_old) <= eps * np.linalg.norm(U)):
                break
        out[a], rho_old = Z, rho
    return [out[a] for a in alphas]


def _en_path(K, D, alphas, l1_ratio):
    G = K.T @ K
    sols = elastic_net(K, D, alphas, l1_ratio)
    res2, pen, gcv = [], [], []
    for a, A in zip(alphas, sols):
        dof = 0.0
        for col in A.T:  # dof of the elastic net: tr K_S (K_SᵀK_S + α(1−ρ))⁻¹ K_Sᵀ (Zou 2007)
            lam = np.linalg.eigvalsh(G[np.ix_(col != 0, col != 0)])
            dof += float((lam / (lam + a * (1 - l1_ratio))).sum())
        res2.append(float(((K @ A - D) ** 2).sum()))
        pen.append(l1_ratio * np.abs(A).sum() + 0.5 * (1 - l1_ratio) * (A**2).sum())
        gcv.append(res2[-1] / (D.size - dof) ** 2)
    return np.array(res2), np.array(pen), np.array(gcv), sols


def _curvature(x, y, u):
    """Signed curvature of the curve (x(u), y(u))."""
    dx, dy = np.gradient(x, u), np.gradient(y, u)
    ddx, ddy = np.gradient(dx, u), np.gradient(dy, u)
    return (dx * ddy - ddx * dy) / (dx**2 + dy**2) ** 1.5


def lifetime_density(ds: xr.Dataset, *, irf_fwhm: float = 0.1, t0: float = 0.0,
                     tau_min: float | None = None, tau_max: float | None = None,
                     n_lifetimes: int = 100, method: str = "tikhonov", alpha="auto",
                     criterion: str = "lcurve", l1_ratio: float = 0.9,
                     n_alpha: int | None = None) -> xr.Dataset:
    """Lifetime-density map of a TA dataset, with the L-curve and GCV of its α.

    ``ds`` is taken as preprocessed (chirp-corrected, delays in ps); wavelengths without any
    valid cell, then delays with a missing cell, are left out. ``irf_fwhm``, ``t0`` (ps): the
    Gaussian IRF width (FWHM) and centre. The ``n_lifetimes`` log-spaced lifetimes span
    ``tau_min``…``tau_max`` ps (default ``irf_fwhm``/2 … 2 × the last delay after ``t0``).
    ``method`` is "tikhonov" or "elastic-net" (``l1_ratio`` = ρ in (0, 1]); ``alpha`` a
    number or "auto", picked by ``criterion`` ("lcurve": maximum curvature, "gcv": minimum)
    on ``n_alpha`` values (default 200 for Tikhonov, 20 for the elastic net).

    Returns ``density`` (lifetime, wavelength; signal unit per grid point), ``fit`` and
    ``residual`` (delay, wavelength), the α scan ``residual_norm``, ``penalty``,
    ``curvature``, ``gcv`` (alpha) and ``peak_lifetime`` (peak, ps); attrs ``alpha``,
    ``alpha_lcurve``, ``alpha_gcv``, ``method``, ``criterion``, ``rmse``, ...
    """
    check_ta(ds)
    ds = ds.transpose(TIME_DIM, SPECTRAL_DIM)
    problems = []
    if method not in ("tikhonov", "elastic-net"):
        problems.append(f"method={method!r}: use 'tikhonov' or 'elastic-net'")
    if criterion not in ("lcurve", "gcv"):
        problems.append(f"criterion={criterion!r}: use 'lcurve' or 'gcv'")
    if not (isinstance(alpha, str) and alpha == "auto") and not (
            np.isscalar(alpha) and float(alpha) > 0):
        problems.append(f"alpha={alpha!r}: use 'auto' or a positive number")
    if not irf_fwhm > 0 or not 0 < l1_ratio <= 1 or n_lifetimes < 3:
        problems.append(f"irf_fwhm={irf_fwhm}, l1_ratio={l1_ratio}, n_lifetimes={n_lifetimes}:"
                        " need irf_fwhm > 0 ps, 0 < l1_ratio ≤ 1 and n_lifetimes ≥ 3")
    ok = fit_mask(ds)
    cols = ok.any(axis=0)
    rows = ok[:, cols].all(axis=1)
    t, wl = ds[TIME_DIM].values[rows], ds[SPECTRAL_DIM].values[cols]
    tau_min = irf_fwhm / 2 if tau_min is None else tau_min
    tau_max = 2 * (t.max(initial=t0) - t0) if tau_max is None else tau_max
    if not 0 < tau_min < tau_max:
        problems.append(f"lifetime range tau_min={tau_min}, tau_max={tau_max} ps: need "
                        "0 < tau_min < tau_max (and delays after t0)")
    if t.size < 3 or wl.size == 0:
        problems.append(f"{t.size} complete delays × {wl.size} wavelengths: need ≥ 3 delays "
                        "without missing cells (crop the map or fill its gaps)")
    if problems:
        raise OptionError("lifetime-density analysis cannot run:\n  - " + "\n  - ".join(problems))
    D = ds[SIGNAL].values[rows][:, cols]
    tau = np.geomspace(tau_min, tau_max, n_lifetimes)
    K = lda_kernel(t, tau, t0, irf_fwhm)
    smax = np.linalg.norm(K, 2)
    if method == "tikhonov":
        alphas = np.geomspace(smax * 1e-7, smax, n_alpha or 200)
        res2, sol2, gcv, solve = tikhonov_path(K, D, alphas)
        pen = np.sqrt(sol2)
    else:
        amax = float(np.abs(K.T @ D).max()) / l1_ratio  # above it every amplitude is 0
        alphas = np.geomspace(amax * 1e-5, amax, n_alpha or 20)
        res2, pen, gcv, sols = _en_path(K, D, alphas, l1_ratio)
    kappa = _curvature(np.log(np.sqrt(res2)), np.log(np.maximum(pen, 1e-300)), np.log(alphas))
    inner = slice(2, -2)
    a_l = float(alphas[inner][np.nanargmax(kappa[inner])])
    a_g = float(alphas[np.nanargmin(gcv)])
    a = (a_l if criterion == "lcurve" else a_g) if isinstance(alpha, str) else float(alpha)
    if method == "tikhonov":
        A = solve(a)
    elif isinstance(alpha, str):
        A = sols[int(np.argmin(np.abs(alphas - a)))]
    else:
        A = elastic_net(K, D, [a], l1_ratio)[0]
    fit = K @ A
    unit = ds[SIGNAL].attrs.get("units", "")
    out = xr.Dataset(
        {"density": (("lifetime", SPECTRAL_DIM), A, {"units": unit,
                                                     "long_name": "lifetime density"}),
         "fit": ((TIME_DIM, SPECTRAL_DIM), fit, {"units": unit}),
         "residual": ((TIME_DIM, SPECTRAL_DIM), D - fit, {"units": unit}),
         "residual_norm": ("alpha", np.sqrt(res2), {"units": unit}),
         "penalty": ("alpha", pen, {"long_name": "‖A‖ (Tikhonov) or elastic-net penalty"}),
         "curvature": ("alpha", kappa, {"long_name": "L-curve curvature"}),
         "gcv": ("alpha", gcv, {"long_name": "generalised cross-validation"})},
        coords={"lifetime": ("lifetime", tau, {"units": "ps"}), "alpha": alphas,
                TIME_DIM: (TIME_DIM, t, {"units": "ps"}),
                SPECTRAL_DIM: (SPECTRAL_DIM, wl, {"units": "nm"})},
        attrs={"method": method, "criterion": criterion if isinstance(alpha, str) else "given",
               "alpha": a, "alpha_lcurve": a_l, "alpha_gcv": a_g, "l1_ratio": l1_ratio,
               "irf_fwhm_ps": irf_fwhm, "t0_ps": t0,
               "rmse": float(np.sqrt(np.mean((D - fit) ** 2))),
               "n_dropped_wavelengths": int((~cols).sum()), "n_dropped_delays": int((~rows).sum()),
               "source_file": ds.attrs.get("source_file", "")})
    peaks, edge = lda_peaks(out)
    return out.assign_coords(peak=np.arange(peaks.size)).assign(
        peak_lifetime=("peak", peaks, {"units": "ps"}),
        peak_at_edge=("peak", edge, {"long_name": "peak at a grid end (τ outside the grid?)"}))


def lda_peaks(lda: xr.Dataset, prominence: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of y(τ) = √(mean over wavelength of density²): lifetimes (ps) and an at-edge flag.

    A peak is a local maximum (the grid ends count) with a prominence above ``prominence`` ×
    max y; inner peaks are refined by a parabola through three points in log τ.
    """
    from scipy.signal import find_peaks

    y = np.sqrt((lda["density"].values ** 2).mean(axis=1))
    x = np.log(lda["lifetime"].values)
    idx, _ = find_peaks(np.r_[0.0, y, 0.0], prominence=prominence * y.max())
    taus = []
    for i in idx - 1:
        den = y[i - 1] - 2 * y[i] + y[i + 1] if 0 < i < y.size - 1 else 0.0
        shift = 0.5 * (y[i - 1] - y[i + 1]) / den if den < 0 else 0.0
        taus.append(np.exp(x[i] + shift * (x[min(i + 1, y.size - 1)] - x[i])))
    return np.array(taus, float), (idx - 1 == 0) | (idx - 1 == y.size - 1)

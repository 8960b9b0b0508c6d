"""Fitting the flexible-decay route with the shared engine; model choice and systematics.

:func:`fit_decay` is what :func:`hotcarrier.physics.fit.fit_physical` calls for a model file
with a ``[decay]`` table. One decay model is one fit of
:class:`~hotcarrier.physics.decay.DecayObjective` by the shared jitted Levenberg–Marquardt
(amplitudes by variable projection), with the Gauss–Newton covariance, the delta method and
the 95 % profile-likelihood interval of Φ_inj (:mod:`hotcarrier.fitting.uncertainty`). With
``[decay] family`` every listed sample decay shape is fitted; each gets an Akaike weight
(AIC = n ln(RSS/n) + 2k, k = free parameters + amplitudes; BIC alongside), Φ_inj is averaged
over the family with those weights and the spread enters the total interval as a
model-choice term. ``[systematics]`` priors (q_ref, Φ_ref, ρ_abs) give the systematic and total
95 % intervals (:mod:`hotcarrier.physics.systematics`). The result is the package's one
:class:`~hotcarrier.fitting.result.FitResult` (``summary.json`` schema of every fit).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import device_array
from ..errors import (ConvergenceWarning, FitError, HotcarrierWarning, ModelChoiceWarning,
                      NonlinearRegimeWarning, ParameterAtBoundWarning)
from ..fitting.optimize import levenberg_marquardt
from ..fitting.params import near_bound, to_unconstrained
from ..fitting.result import FitResult, build_summary, finite_or_none, parameter_entry
from ..fitting.uncertainty import (gauss_newton_covariance, profile_interval,
                                   propagate_covariance, standard_errors)
from .decay import DecayObjective, DecaySpec, parameter_layout
from .objective import collect_data
from .systematics import Z95, Systematics, combine_intervals

__all__ = ["fit_decay", "fit_decay_arrays", "decay_control", "akaike_weights", "PHI",
           "bleach_traces", "lm_programs", "fluence_series_yield", "FluenceSeries"]

PHI = "injection_quantum_yield"
PROFILE_THRESHOLD = 1.92  # Δcost/RMSE² of the 95 % profile interval (Δχ² = 3.84)
WARN_WEIGHT = 0.05  # members with at least this Akaike weight are checked for bounds


def decay_control(spec: DecaySpec, free: dict, fixed: dict | None = None):
    """(ctrl, x0, free mask) of the route: Φ_inj, IRF, t0's bounded by the model file's
    [free] (pinned at ``fixed``/defaults when not listed), the decay parameters always free
    within ``[decay]`` bounds, τ_rise pinned at its lower bound when ``rise = false``."""
    names, logs, bounds, starts = parameter_layout(spec)
    fixed = fixed or {}
    lo, hi, pin, pinval, x0 = [], [], [], [], []
    for i, (k, lg, b, s0) in enumerate(zip(names, logs, bounds, starts)):
        if i < 4 and k not in free:
            a, c, p, v = 1.0, 2.0, True, float(fixed.get(k, s0))
        elif k == "tau_rise_fs" and not spec.rise:
            a, c, p, v = 1.0, 2.0, True, float(b[0])
        else:
            a, c = free.get(k, free.get(PHI, b) if k.startswith("apparent_yield") else b)
            p, v = False, float(np.clip(fixed.get(k, s0), a + 1e-6 * (c - a), c - 1e-6 * (c - a)))
        lo.append(a)
        hi.append(c)
        pin.append(p)
        pinval.append(v)
        x0.append(0.0 if p else to_unconstrained(v, a, c, lg))
    ctrl = {"lo": device_array(lo, float), "hi": device_array(hi, float),
            "pin": device_array(pin), "pinval": device_array(pinval, float)}
    return ctrl, np.asarray(x0, float), ~np.asarray(pin)


@functools.lru_cache(maxsize=32)
def _wrapped(objective: DecayObjective, wrapper):
    """``wrapper(objective)``: the physical model's LM wrapper (``fit.WithJacobian``, handed
    in by :func:`~hotcarrier.physics.fit.fit_physical`), cached so one object per objective
    keys the compiled program."""
    return wrapper(objective)


@functools.lru_cache(maxsize=32)
def _values_program(objective: DecayObjective):
    """Jitted (∂values/∂x, values) of every route parameter."""
    def vals(x, ctrl):
        v = jnp.stack(objective.values(x, ctrl))
        return v, v
    return jax.jit(jax.jacfwd(vals, has_aux=True))


def _route_values(objective: DecayObjective, x, ctrl):
    """:func:`_values_program` at ``x``, compiled ahead of time and kept on disk like the
    LM (:mod:`hotcarrier.fitting.compiled`): four decay models' programs took 1.4 s of a
    warm 3.9 s physical fit to trace and compile again in every process."""
    from ..fitting.compiled import compiled

    program = compiled(_values_program(objective), "physics.decay.values|" + repr(objective),
                       x, ctrl)
    return program(x, ctrl)


def akaike_weights(ic) -> np.ndarray:
    """exp(−ΔIC/2) normalised (AIC or BIC values → weights summing to 1)."""
    ic = np.asarray(ic, float)
    d = ic - np.nanmin(ic)
    w = np.where(np.isfinite(d), np.exp(-0.5 * d), 0.0)
    return w / w.sum()


def lm_programs(data: dict, specs, free: dict, fixed=None, base_p=None, artefact=False,
                max_iter=200, *, wrapper) -> list:
    """The jitted LM of each decay model in ``specs`` on these data shapes, compiled ahead of
    time and concurrently (:func:`hotcarrier.fitting.compiled.compile_all`: kept on disk
    where a compilation cache folder is set, so a warm process skips tracing too; XLA's
    cheap pipeline is not used: it made the ratedist model's fit ~20× slower). Each is called as
    ``program(x0, ctrl, base_p, None, data, max_iter=, free=)`` (pins and the cap are
    traced: the profile's refits run the same program)."""
    from ..fitting.compiled import compile_all

    reqs = []
    for spec in specs:
        fn = _wrapped(DecayObjective(spec, artefact=artefact), wrapper)
        ctrl, x0, free_mask = decay_control(spec, free, fixed)
        reqs.append((levenberg_marquardt, "physics.decay.lm|" + repr(fn),
                     (fn, device_array(x0, float), ctrl, base_p, None, data),
                     _lm_options(max_iter, free_mask), True))
    return compile_all(reqs)


def _lm_options(max_iter, free_mask) -> dict:
    """The LM's traced options with fixed types (one compiled signature)."""
    return dict(max_iter=int(max_iter), free=device_array(free_mask, bool))


def fit_decay_arrays(data: dict, spec: DecaySpec, free: dict, fixed=None, base_p=None,
                     artefact=False, max_iter=200, profile=True, *, wrapper,
                     program=None) -> dict:
    """One decay-model fit on collected arrays (``data`` with ``q_ref``, ``phi_ref``).

    ``program``: the model's compiled LM from :func:`lm_programs` (else jitted on call).
    Returns a plain dict: names, values, stderr, Φ_inj with its stderr and statistical 95 %
    interval, cost, n_data, n_amplitudes, k (free + amplitudes), AIC, BIC, status,
    at_bound names, amplitudes and the model at the optimum.
    """
    objective = DecayObjective(spec, artefact=artefact)
    fn = _wrapped(objective, wrapper)
    ctrl, x0, free_mask = decay_control(spec, free, fixed)
    args = (ctrl, base_p, None, data)
    if program is None:
        def program(x, *a, max_iter, free):
            return levenberg_marquardt(fn, x, *a, max_iter=max_iter, free=free)
    r = program(device_array(x0, float), *args, **_lm_options(max_iter, free_mask))
    x, cost, status = np.asarray(r.x), float(r.fun), int(r.status)
    names = objective.names
    n_data = int(np.sum(np.asarray(data["w"]) > 0))
    n_amp = len(objective.amplitude_names())
    if not math.isfinite(cost) or status == 3:
        raise FitError(f"the decay model ({spec.sample} sample, {spec.reference} reference) is "
                       f"not finite (cost {cost}); check the [decay] bounds and the data weights")
    fidx = np.flatnonzero(free_mask)
    J = np.asarray(r.aux["J"])[:, fidx]
    cov = gauss_newton_covariance(J, cost, n_data, n_amplitudes=n_amp)
    Jv, v = (np.asarray(a) for a in _route_values(objective, device_array(x), ctrl))
    cov_v, _ = propagate_covariance(None, None, cov.covariance, cov.identifiable,
                                    jac=Jv[:, fidx])
    se = standard_errors(cov_v)
    values = {k: float(val) for k, val in zip(names, v)}
    stderr = {k: float(s) for k, s, f in zip(names, se, free_mask) if f}
    phi, phi_se = values[PHI], stderr.get(PHI, float("nan"))
    ci, prof, method = [None, None], {}, "Wald (delta method)"
    lo_b, hi_b = float(np.asarray(ctrl["lo"])[0]), float(np.asarray(ctrl["hi"])[0])
    if free_mask[0] and profile and math.isfinite(phi_se) and phi_se > 0:
        others = free_mask.copy()
        others[0] = False

        def refit(val, xw):
            # host arrays in, no eager JAX operation (each compiles a small program)
            pin, pinval = np.array(ctrl["pin"]), np.array(ctrl["pinval"])
            pin[0], pinval[0] = True, val
            c = dict(ctrl, pin=device_array(pin), pinval=device_array(pinval))
            rr = program(device_array(xw, float), c, *args[1:],
                         **_lm_options(max_iter, others))
            return float(rr.fun), np.asarray(rr.x)

        (a, b), grid, delta = profile_interval(
            refit, phi, 0.8 * phi_se, PROFILE_THRESHOLD * cov.rmse**2, cost0=cost,
            warm=x, bounds=(lo_b, hi_b), max_steps=6, extrapolate=True)
        ci = [a, b] if all(map(math.isfinite, (a, b))) else \
            [phi - 1.96 * phi_se, phi + 1.96 * phi_se]
        prof = {"grid": [float(g) for g in grid], "delta_cost": [float(d) for d in delta],
                "threshold": PROFILE_THRESHOLD * cov.rmse**2}
        method = "profile likelihood (Δχ² = 3.84 in RMSE-scaled units)"
    elif math.isfinite(phi_se):
        ci = [phi - 1.96 * phi_se, phi + 1.96 * phi_se]
    if not all(c is not None and math.isfinite(c) for c in ci):  # Φ_inj not determined
        ci, method = [lo_b, hi_b], "not determined by the data: the bounds of Φ_inj"
    ci = [max(ci[0], lo_b), min(ci[1], hi_b)]
    bounds = {k: (float(ctrl["lo"][i]), float(ctrl["hi"][i]))
              for i, k in enumerate(names) if free_mask[i]}
    logs = dict(zip(names, objective.layout[1]))
    at_bound = [k for k, (a, b) in bounds.items()
                if (near_bound(math.log(values[k]), math.log(a), math.log(b)) if logs[k]
                    else near_bound(values[k], a, b))]
    rss = 2.0 * cost
    k = int(free_mask.sum()) + n_amp
    aic = n_data * math.log(rss / n_data) + 2 * k
    bic = n_data * math.log(rss / n_data) + k * math.log(n_data)
    return dict(spec=spec, objective=objective, names=names, values=values, stderr=stderr,
                identifiable={kk: bool(b) for kk, b in zip([names[i] for i in fidx],
                                                           cov.identifiable)},
                bounds=bounds, phi=phi, phi_se=phi_se, ci=ci, ci_method=method, profile=prof,
                cost=cost, status=status, n_iter=int(r.n_iter), n_eval=int(r.n_eval),
                n_data=n_data, n_amp=n_amp, k=k, aic=aic, bic=bic, at_bound=at_bound,
                covariance=cov, values_covariance=cov_v, x=x,
                amplitudes=np.asarray(r.aux["c"]),
                fit=np.asarray(r.aux["fit"]), resid=np.asarray(r.aux["r"]))


def _bound_words(fit: dict) -> list[str]:
    """Plain-words notes for parameters at a bound (τ_rise at its lower bound means
    injection faster than the IRF resolves, which is expected and not a problem)."""
    out = []
    for k in fit["at_bound"]:
        v = fit["values"][k]
        a, b = fit["bounds"][k]
        if k == "tau_rise_fs" and abs(v - a) <= abs(v - b):
            continue
        side = "lower" if abs(v - a) <= abs(v - b) else "upper"
        what = {"tau_rise_fs": "the injection rise", PHI: "Φ_inj",
                "irf_fwhm_fs": "the IRF width"}.get(k, f"decay parameter {k}")
        out.append(f"{what} = {v:.4g} sits at its {side} bound ({a:g}…{b:g}) in the "
                   f"{fit['spec'].sample}/{fit['spec'].reference} decay model: the bound, not "
                   "the data, sets it (widen the bound, or use a decay model with fewer "
                   "components)")
    return out


def fit_decay(datasets: dict, model, progress=None, *, wrapper, result_dataset) -> FitResult:
    """Fit the flexible-decay route of a :class:`PhysicalModel` with ``model.decay`` set.

    Called by :func:`~hotcarrier.physics.fit.fit_physical`, which hands in the physical
    model's LM wrapper (``WithJacobian``) and result layout (``_result_dataset``).

    Needs sample mid-IR traces and a calibration reference (``hotcarrier_role``). Returns a
    :class:`FitResult` whose ``derived["injection_quantum_yield"]`` holds Φ_inj (model-averaged
    when ``[decay] family`` is set), its statistical (``ci95``), systematic and total 95 %
    intervals, the budget and the dominant term; ``summary["model_choice"]`` lists every
    decay model fitted with Φ_inj, AIC/BIC and weights.
    """
    progress = progress or (lambda msg: None)
    t_start = time.perf_counter()
    spec: DecaySpec = model.decay
    if spec.bleach_band_nm is not None:  # visible exciton-bleach route: band-averaged traces
        datasets = bleach_traces(datasets, spec.bleach_band_nm)
    metal = {k: v for k, v in datasets.items()
             if v.attrs.get("hotcarrier_role") == "metal_reference"}
    if metal and not spec.metal_reference:
        raise FitError(f"{sorted(metal)}: a metal_reference dataset (non-injecting Au@SiO₂ or "
                       "Au in Al₂O₃) needs [decay] metal_reference = \"exp2\" (its decay model)")
    datasets = {k: v for k, v in datasets.items() if k not in metal}
    with warnings.catch_warnings():
        if spec.extrapolation == "nonlinear":  # the route itself models the nonlinear regime
            warnings.simplefilter("ignore", NonlinearRegimeWarning)
        data, rows, units = collect_data(datasets, tuple(p for p in model.probes
                                                         if p == "midir") or ("midir",),
                                         params=model.params)
    if spec.metal_reference:
        _add_metal_rows(data, rows, metal, units, model)
    if not rows["reference"]:
        raise FitError(f"{model.source or model.name}: the flexible-decay route ([decay]) needs a "
                       "calibration reference (a dataset with hotcarrier_role = 'reference', "
                       "band-gap excited, same probe); without one use the rigid chain "
                       "(remove [decay]) with kappa_mOD")
    syst: Systematics = model.systematics or Systematics()
    q_ref = syst.q_ref.value if syst.q_ref is not None else float(model.obs.q_ref)
    phi_ref = syst.reference_yield.value if syst.reference_yield is not None else 1.0
    data["q_ref"] = device_array(q_ref, float)
    data["phi_ref"] = device_array(phi_ref, float)
    factors = syst.factors(_attr(datasets, "sample", "pump_absorbance"),  # fail before fitting
                           _attr(datasets, "reference", "pump_absorbance"))
    fixed = {"irf_fwhm_fs": float(model.params.irf_fwhm_fs), "t0_ps": float(model.obs.t0_ps),
             "t0_ref_ps": float(model.obs.t0_ref_ps)}
    series = None
    if spec.extrapolation == "nonlinear":
        series = _fluence_series(datasets, rows, model)
        data["i_s"] = jnp.asarray(series.row_index)
        spec = dataclasses.replace(spec, n_fluences=len(series.names))
    shapes = list(dict.fromkeys(spec.family or (spec.sample,)))
    specs = [spec.with_sample(shape) for shape in shapes]
    progress(f"compiling {len(specs)} decay model(s)")
    programs = lm_programs(data, specs, model.free, fixed, model.params, model.midir_artefact,
                           model.max_iter, wrapper=wrapper)
    fits = []
    for shape, member, program in zip(shapes, specs, programs):
        progress(f"decay model {shape} (sample) / {spec.reference} (reference)")
        fits.append(fit_decay_arrays(data, member, model.free, fixed,
                                     model.params, model.midir_artefact, model.max_iter,
                                     model.profile and series is None, wrapper=wrapper,
                                     program=program))
        if series is not None:  # per-fluence Φ_app,i → Φ_inj at ρ → 0 (nonlinear model)
            progress(f"fluence series ({shape}): nonlinear extrapolation to ρ → 0")
            _extrapolate_member(fits[-1], series, model)
    aic_w = akaike_weights([f["aic"] for f in fits])
    bic_w = akaike_weights([f["bic"] for f in fits])
    best = fits[int(np.argmax(aic_w))]
    phis = np.array([f["phi"] for f in fits])
    ses = np.array([f["phi_se"] for f in fits])
    phi_avg = float(np.sum(aic_w * phis))
    # statistical part: the weighted average of each member's ln-space interval half-widths
    stat_ci = _averaged_stat_ci(fits, aic_w, phi_avg)
    model_sd_ln = float(math.sqrt(np.sum(aic_w * (np.log(phis) - math.log(phi_avg)) ** 2)))
    budget = combine_intervals(
        phi_avg, stat_ci,
        factors,
        model_sigma_ln=model_sd_ln, stat_stderr=float(np.sum(aic_w * ses)))
    notes = []
    for f, w in zip(fits, aic_w):
        if f is best or w >= WARN_WEIGHT:
            notes += _bound_words(f)
    relevant = aic_w >= 0.01
    spread = float(np.ptp(phis[relevant])) if relevant.sum() > 1 else 0.0
    stat_se = float(np.sum(aic_w * ses))
    if spread > stat_se and len(fits) > 1:
        lo_i, hi_i = int(np.argmin(np.where(relevant, phis, np.inf))), \
            int(np.argmax(np.where(relevant, phis, -np.inf)))
        msg = (f"Φ_inj moves from {phis[lo_i]:.3f} ({fits[lo_i]['spec'].sample}) to "
               f"{phis[hi_i]:.3f} ({fits[hi_i]['spec'].sample}) across the decay models that "
               f"the data allow, more than its statistical error ±{stat_se:.3f}: the decay "
               "model matters here; the model-averaged value and the model-choice term of the "
               "total interval account for it")
        notes.append(msg)
        warnings.warn(msg, ModelChoiceWarning, stacklevel=3)
    for n in notes:
        if "bound" in n:
            warnings.warn(n, ParameterAtBoundWarning, stacklevel=3)
    extrapolation = _extrapolation_summary(spec, fits, aic_w, phi_avg, stat_ci)
    if extrapolation.get("note"):
        notes.append(extrapolation["note"])
    summary = _summary(model, best, fits, aic_w, bic_w, phi_avg, stat_ci, budget, notes,
                       rows, time.perf_counter() - t_start, q_ref, phi_ref, syst)
    summary["derived"][PHI]["fluence_extrapolation"] = extrapolation
    resid = best["resid"][: int(data["y"].size)]
    ds = result_dataset(rows, best["fit"], resid, units, summary, None)
    if not summary["converged"]:
        warnings.warn(f"{model.name}: the decay fit ({best['spec'].sample}) did not converge — "
                      f"{summary['message']}; it is not a result (raise [fit] max_iter or "
                      "check the bounds)", ConvergenceWarning, stacklevel=3)
    return FitResult(ds, summary, theta=best["x"])


def bleach_traces(datasets: dict, band_nm) -> dict:
    """The visible exciton-bleach route's input: every visible sample/reference map averaged
    over ``band_nm`` = (lo, hi) (the CdS band-edge bleach, ≈ 480–515 nm, spec §7.2) into one
    trace (weights: the band's mean weight / √n for independent noise), marked for the
    role-based fit; mid-IR traces pass unchanged."""
    from ..dataset import fit_mask, make_ta_dataset

    lo, hi = band_nm
    out = {}
    for name, ds in datasets.items():
        if ds.attrs.get("probe") != "visible":
            out[name] = ds
            continue
        wl = ds["wavelength"].values
        sel = (wl >= lo) & (wl <= hi)
        if not sel.any():
            raise FitError(f"{name}: no wavelength within the bleach band {lo:g}–{hi:g} nm "
                           f"(the map covers {wl.min():g}–{wl.max():g} nm); set [decay] "
                           "bleach_band_nm to the CdS band-edge bleach of your data")
        ok = fit_mask(ds)[:, sel]
        y = np.where(ok, ds["signal"].values[:, sel], 0.0)
        n = ok.sum(axis=1)
        trace = np.where(n > 0, y.sum(axis=1) / np.maximum(n, 1), np.nan)
        w = None
        if "weight" in ds:  # σ of a mean of n cells with σ_i = 1/w_i
            wv = np.where(ok, ds["weight"].values[:, sel], 0.0)
            var = np.where(ok, 1.0 / np.where(wv > 0, wv, 1.0) ** 2, 0.0).sum(axis=1)
            w = np.where(n > 0, n / np.sqrt(np.maximum(var, 1e-300)), 0.0)[:, None]
        attrs = dict(ds.attrs, probe="midir", bleach_band_nm=[float(lo), float(hi)],
                     route="visible exciton bleach")
        out[name] = make_ta_dataset(ds["delay"].values, [0.5 * (lo + hi)], trace[:, None],
                                    signal_units=ds["signal"].attrs.get("units", "mOD"),
                                    weight=w, attrs=attrs)
    return out


def _add_metal_rows(data, rows, metal, units, model):
    """Append the non-injecting metal reference's traces to the fit arrays (rows after the
    sample and reference) and to ``rows`` (role ``metal_reference``)."""
    from ..dataset import fit_mask

    if not metal:
        raise FitError(f"{model.source or model.name}: [decay] metal_reference is set but no "
                       "dataset has hotcarrier_role = 'metal_reference' (the same Au cores in a "
                       "non-injecting shell or matrix, same pump and probe)")
    items = []
    for name, ds in metal.items():
        if "absorbed_photon_density_cm3" not in ds.attrs or ds.sizes["wavelength"] != 1:
            raise FitError(f"{name}: a metal_reference trace needs one probe wavelength and the "
                           "attribute absorbed_photon_density_cm3 (photons absorbed by Au)")
        if ds["signal"].attrs.get("units", "") != units:
            raise FitError(f"{name}: signal unit {ds['signal'].attrs.get('units')!r} differs "
                           f"from the other traces' {units!r}; convert it first")
        ok = fit_mask(ds)[:, 0]
        w = ds["weight"].values[:, 0] if "weight" in ds else np.ones(ok.shape)
        items.append(dict(name=name, t=ds["delay"].values.astype(float),
                          y=np.where(ok, ds["signal"].values[:, 0], 0.0), w=np.where(ok, w, 0.0),
                          rho=float(ds.attrs["absorbed_photon_density_cm3"]) * 1e-12,
                          units=units))
    rows["metal_reference"] = items
    cat = np.concatenate
    data["t_m"] = jnp.asarray(cat([r["t"] for r in items]))
    data["rho_m"] = jnp.asarray(cat([np.full(r["t"].shape, r["rho"]) for r in items]))
    data["y"] = jnp.concatenate([data["y"], jnp.asarray(cat([r["y"] for r in items]))])
    data["w"] = jnp.concatenate([data["w"], jnp.asarray(cat([r["w"] for r in items]))])


def _attr(datasets, role, key):
    for ds in datasets.values():
        if ds.attrs.get("hotcarrier_role") == role and key in ds.attrs:
            return float(ds.attrs[key])
    return None


def _averaged_stat_ci(fits, w, phi_avg):
    """Statistical 95 % interval around the model average: Akaike-weighted ln-space
    half-widths of the members' own intervals (profile, or Wald)."""
    lo2 = hi2 = 0.0
    for f, wi in zip(fits, w):
        a, b = f["ci"]
        s = f["phi_se"] / f["phi"] if math.isfinite(f["phi_se"]) else 50.0
        sl = math.log(f["phi"] / a) if a is not None and a > 0 else 1.96 * s
        sh = math.log(b / f["phi"]) if b is not None and b > f["phi"] else 1.96 * s
        lo2 += wi * sl
        hi2 += wi * sh
    return [phi_avg * math.exp(-lo2), phi_avg * math.exp(hi2)]


def _summary(model, best, fits, aic_w, bic_w, phi_avg, stat_ci, budget, notes, rows,
             seconds, q_ref, phi_ref, syst):
    units = {"injection_quantum_yield": "–", "irf_fwhm_fs": "fs", "t0_ps": "ps",
             "t0_ref_ps": "ps", "tau_rise_fs": "fs"}
    params = {}
    for k in best["names"]:
        free = k in best["bounds"]
        params[k] = parameter_entry(
            best["values"][k], best["stderr"].get(k) if free else None,
            units.get(k, "ps" if k.endswith("_ps") else "– (σ of ln τ)" if k.startswith("width")
                      else "–"), fixed=not free,
            free=free, bounds=best["bounds"].get(k, (None, None)),
            identifiable=best["identifiable"].get(k) if free else None,
            **({"at_bound": True} if k in best["at_bound"] else {}))
    members = [{"sample_decay": f["spec"].sample, "reference_decay": f["spec"].reference,
                "injection_quantum_yield": f["phi"], "stderr": finite_or_none(f["phi_se"]),
                "ci95": [finite_or_none(c) for c in f["ci"]], "aic": f["aic"], "bic": f["bic"],
                "aic_weight": float(wa), "bic_weight": float(wb), "n_parameters": f["k"],
                "chi2_reduced": 2 * f["cost"] / max(f["covariance"].dof, 1),
                "converged": f["status"] in (0, 1, 5), "at_bound": f["at_bound"],
                **_member_series(f)}
               for f, wa, wb in zip(fits, aic_w, bic_w)]
    derived = {
        PHI: {"value": phi_avg, "stderr": finite_or_none(float(np.sum(
                  aic_w * np.array([f["phi_se"] for f in fits])))),
              "ci95": [finite_or_none(c) for c in budget["ci95_statistical_model"]],
              "ci_method": best["ci_method"] + (", Akaike-weighted over the decay models, "
                                                "⊕ the model-choice spread (ln space)"
                                                if len(fits) > 1 else ""),
              "ci95_statistical": budget["ci95_statistical"],
              "ci95_systematic": budget["ci95_systematic"],
              "ci95_total": budget["ci95_total"],
              "ci95_total_lognormal": budget["ci95_total_lognormal"],
              "ci95_between_samples": budget["ci95_between_samples"],
              "sigma_ln_between_samples": budget["sigma_ln_between_samples"],
              "interval_method": budget["method"],
              "uncertainty_budget_sigma_ln": budget["sigma_ln"],
              "variance_share": budget["variance_share"],
              "dominant": budget["dominant"],
              "unit": "–", "profile": best["profile"],
              "definition": "Φ_inj = [A_s(0⁺)/ρ_s]/[A_ref(0⁺)/ρ_ref]·q_ref·Φ_ref: deconvolved "
                            "t = 0⁺ amplitudes of the flexible-decay fit (spec §5.4, §7.1)"
                            + {"linear": ", extrapolated to ρ_abs → 0 (Φ_app = Φ_inj·(1 − L "
                                         "ρ/ρ_max))",
                               "nonlinear": ", extrapolated to ρ_abs → 0 by the nonlinear "
                                            "amplitude model A(F) = Φ(F)·⟨N_abs⟩(F) (charging, "
                                            "T_e; spec §6.5)"}.get(best["spec"].extrapolation,
                                                                   "")},
        "not_identifiable": [k for k, b in best["identifiable"].items() if not b],
    }
    amps = dict(zip(best["objective"].amplitude_names(), map(finite_or_none,
                                                             best["amplitudes"])))
    return build_summary(
        model={"type": "hotcarrier", "name": model.name, "file": model.source,
               "route": "decay", "sample_decay": best["spec"].sample,
               "sample_lifetimes": "τ_j = τ_rise + tau_s*_ps" if best["spec"].rise
               else "tau_s*_ps",
               "reference_decay": best["spec"].reference, "rise": best["spec"].rise},
        status=best["status"], n_iterations=best["n_iter"], n_evaluations=best["n_eval"],
        wall_time_s=seconds, fit_time_s=seconds,
        optimizer="Levenberg–Marquardt (jitted, forward-mode Jacobian), variable projection",
        criterion="weighted least squares; LM stops on relative cost decrease ≤ 1e-10, "
                  "relative step ≤ 1e-10 or gradient cosine ≤ 1e-10",
        cost=best["cost"], n_data=best["n_data"], n_amplitudes=best["n_amp"],
        covariance=best["covariance"], parameters=params,
        datasets=[r["name"] for rr in rows.values() for r in rr], derived=derived,
        amplitudes=amps,
        model_choice={"criterion": "AIC = n ln(RSS/n) + 2k (weights exp(−ΔAIC/2)); BIC "
                                   "alongside", "members": members,
                      "model_averaged_yield": phi_avg, "notes": notes},
        systematics={"q_ref": q_ref, "reference_yield": phi_ref,
                     "priors": {"q_ref": None if syst.q_ref is None else
                                [syst.q_ref.value, syst.q_ref.uncertainty],
                                "reference_yield": None if syst.reference_yield is None else
                                [syst.reference_yield.value, syst.reference_yield.uncertainty],
                                "sample": syst.sample, "reference": syst.reference}})


# ------------------------------------------------------------------ fluence series (nonlinear)
@dataclasses.dataclass(frozen=True)
class FluenceSeries:
    """The sample datasets of a ``fluence_extrapolation = "nonlinear"`` fit, sorted by ρ_abs:
    names, pump fluence F (µJ cm⁻²), ⟨N_abs⟩ per particle, the common pump wavelength (nm, or
    None) and, per sample row of the fit arrays, the dataset's index (``data["i_s"]``)."""

    names: tuple
    fluence_uJ_cm2: np.ndarray
    n_abs: np.ndarray
    pump_nm: float | None
    row_index: np.ndarray


def _fluence_series(datasets, rows, model) -> FluenceSeries:
    """:class:`FluenceSeries` of the sample rows; every sample needs ``pump_fluence_uJ_cm2``
    (⟨N_abs⟩ from ``mean_absorbed_photons_per_particle`` or the optics module at
    ``pump_wavelength_nm``, :func:`~hotcarrier.physics.objective.sample_photons_per_particle`)."""
    from .objective import sample_photons_per_particle

    items = rows["sample"]
    missing = [r["name"] for r in items if "pump_fluence_uJ_cm2" not in datasets[r["name"]].attrs]
    if missing:
        raise FitError(f"sample dataset(s) {', '.join(missing)}: [decay] fluence_extrapolation = "
                       "\"nonlinear\" needs the pump fluence of every sample dataset (attribute "
                       "pump_fluence_uJ_cm2, µJ cm⁻², or fluence_uJ_cm2 in a measurement file)")
    lam_of = {r["name"]: datasets[r["name"]].attrs.get("pump_wavelength_nm") for r in items}
    lam_of = {k: None if v is None else float(v) for k, v in lam_of.items()}
    lams = set(lam_of.values())
    if None in lams and len(lams) > 1:
        bare = [k for k, v in lam_of.items() if v is None]
        raise FitError(f"sample dataset(s) {', '.join(bare)}: no pump wavelength while the other "
                       "samples have one; give pump_wavelength_nm (nm) for every sample of the "
                       "fluence series (the photons absorbed per particle depend on it)")
    if len(lams) > 1:
        by = ", ".join(f"{k} {v:g} nm" for k, v in lam_of.items())
        raise FitError(f"sample pump wavelengths differ ({by}): one fluence series needs one "
                       "pump wavelength; fit the samples of each wavelength as their own series")
    if lams == {None} and any("mean_absorbed_photons_per_particle" not in datasets[r["name"]].attrs
                              for r in items):
        warnings.warn("no pump wavelength on the sample datasets: the fluence series uses the "
                      "spec's 18.43 absorbed photons per particle per µJ cm⁻² (2.1 eV, default "
                      "particle); give pump_wavelength_nm (nm) to use the optics module",
                      HotcarrierWarning, stacklevel=2)
    fl = np.array([float(datasets[r["name"]].attrs["pump_fluence_uJ_cm2"]) for r in items])
    nabs = np.array([sample_photons_per_particle(datasets[r["name"]], model.params)
                     for r in items])
    ppf = nabs / fl
    if np.ptp(ppf) > 1e-3 * ppf.mean():
        raise FitError(f"the sample datasets give {np.round(ppf, 3).tolist()} absorbed photons "
                       "per particle per µJ cm⁻²: one series needs one particle and pump "
                       "(check mean_absorbed_photons_per_particle and pump_wavelength_nm)")
    order = np.argsort([r["rho"] for r in items], kind="stable")
    rank = np.empty(len(items), int)
    rank[order] = np.arange(len(items))
    row_index = np.concatenate([np.full(r["t"].shape, rank[i], np.int32)
                                for i, r in enumerate(items)])
    return FluenceSeries(tuple(items[i]["name"] for i in order), fl[order], nabs[order],
                         lams.pop(), row_index)


def fluence_series_yield(phi_app, covariance, fluence_uJ_cm2, n_abs, params, *, pump_nm=None,
                         charging="auto", beam_ratio=None, pump_fwhm_fs=100.0,
                         barrier_model="all_above") -> dict:
    """Φ_inj at ρ → 0 from per-fluence apparent yields Φ_app,i (t = 0⁺ amplitude per absorbed
    photon, with their covariance) by the nonlinear amplitude model, and the linear
    extrapolation beside it.

    The amplitudes A_i = Φ_app,i ⟨N_abs⟩_i (electrons per particle, covariance
    diag(N) C diag(N)) are fitted by A(F) = Φ(F)⟨N_abs⟩(F) of the extended TTM with charging
    (:func:`~hotcarrier.physics.fluence.fit_fluence_series`, free Φ_inj at F → 0 at the direct
    share of ``params`` and, when ``charging`` is ``"free"`` — or ``"auto"`` with ≥ 3
    fluences — the charging strength q/C_eff through εr).
    σ_abs is the one that gives the data's ⟨N_abs⟩ at ``pump_nm`` (ħω = hc/λ; None: ħω of
    ``params``). Where the model misses the series beyond the amplitudes' errors (χ²_red > 1,
    dof > 0) the errors are scaled by √χ²_red (``birge_ratio``). With ≥ 3 fluences the linear
    extrapolation of Φ_app in F (A = sF + cF²,
    :func:`~hotcarrier.physics.fluence.low_fluence_slope`, generalised least squares) is
    reported alongside. Returns a dict (values, 1σ, 95 % intervals; charging in mV per
    electron)."""
    from ..units import nm_to_ev
    from .excitation import photon_fluence_cm2
    from .fluence import YIELD, fit_fluence_series, low_fluence_slope
    from .injection import params_with_yield, phi_max
    from .ttm import TTMConfig, charging_shift_per_electron_eV

    phi_app = np.asarray(phi_app, float)
    F = np.asarray(fluence_uJ_cm2, float)
    N = np.asarray(n_abs, float)
    cov_a = np.asarray(covariance, float) * np.outer(N, N)
    amp = phi_app * N
    linear = None
    if F.size >= 3:
        est = low_fluence_slope(F, amp, covariance=cov_a, photons_per_fluence=float(N[0] / F[0]))
        linear = {"value": est.phi_inj, "stderr": est.phi_inj_stderr,
                  "ci95": [est.phi_inj - Z95 * est.phi_inj_stderr,
                           est.phi_inj + Z95 * est.phi_inj_stderr],
                  "curvature_z": est.curvature_z, "chi2_reduced": est.chi2_reduced}
    # "auto": with ≥ 3 fluences the data decide the charging strength — they resolve it or
    # bound it (a series without curvature takes it to ~0; the preset's 8.6 mV, an upper
    # bound, would then push Φ_inj 13 % high at 2–20 µJ cm⁻²); with 1–2 it stays fixed
    free_charging = charging == "free" or (charging == "auto" and F.size >= 3)
    hw = params.hbar_omega_eV if pump_nm is None else nm_to_ev(pump_nm)
    sigma_abs = float(N[0] / photon_fluence_cm2(F[0], hw))
    start = linear["value"] if linear and linear["value"] > 0 else float(phi_app[0])
    start = min(max(start, 1e-3), 0.95 * float(phi_max(params, barrier_model)))
    p0 = params_with_yield(params, start, barrier_model)
    free = (YIELD, "eps_r") if free_charging else (YIELD,)
    fit = fit_fluence_series(F, amp, p0, free=free, covariance=cov_a, beam_ratio=beam_ratio,
                             pump_fwhm_fs=pump_fwhm_fs, cfg=TTMConfig(barrier_model=barrier_model),
                             sigma_abs_cm2=sigma_abs, pump_nm=pump_nm)
    # a series the model misses beyond the amplitudes' errors (χ²_red > 1 with dof > 0): the
    # errors are scaled by the Birge ratio √χ²_red, so the model's misfit widens the interval
    dof = F.size - len(free)
    birge = math.sqrt(fit.chi2_reduced) if dof > 0 and fit.chi2_reduced > 1.0 else 1.0
    se = fit.phi_inj_stderr * birge
    s_ln = se / fit.phi_inj
    shift_se = None
    if free_charging:  # q/C_eff ∝ 1/εr: same relative error
        shift_se = birge * 1e3 * fit.charging_shift_eV * fit.stderr["eps_r"] / fit.values["eps_r"]
    return {"value": fit.phi_inj, "stderr": se,
            "ci95": [fit.phi_inj * math.exp(-Z95 * s_ln), fit.phi_inj * math.exp(Z95 * s_ln)],
            "birge_ratio": birge, "converged": fit.converged,
            "chi2_reduced": fit.chi2_reduced, "n_fluences": int(F.size),
            "charging_free": bool(free_charging),
            "charging_mV_per_electron": 1e3 * fit.charging_shift_eV,
            "charging_mV_per_electron_stderr": shift_se,
            "charging_mV_per_electron_model": 1e3 * float(
                charging_shift_per_electron_eV(params)),
            "model_apparent_yield": (fit.model_amplitude / N).tolist(), "linear": linear}


def _extrapolate_member(fit: dict, series: FluenceSeries, model):
    """Replace a member's Φ_inj (the lowest-ρ apparent yield) by Φ_inj at ρ → 0 from the
    nonlinear model, keeping the per-fluence values under ``fit["fluence_series"]``."""
    names = [PHI] + [f"apparent_yield_{k}" for k in range(2, len(series.names) + 1)]
    idx = [list(fit["names"]).index(n) for n in names]
    phi_app = np.array([fit["values"][n] for n in names])
    cov = np.asarray(fit["values_covariance"])[np.ix_(idx, idx)]
    spec = fit["spec"]
    if not np.all(np.isfinite(cov)):
        raise FitError(f"the apparent yields of the fluence series are not all determined by the "
                       f"data ({spec.sample} decay model); check each sample trace")
    out = fluence_series_yield(phi_app, cov, series.fluence_uJ_cm2, series.n_abs, model.params,
                               pump_nm=series.pump_nm, charging=spec.charging,
                               beam_ratio=spec.beam_ratio, pump_fwhm_fs=spec.pump_fwhm_fs,
                               barrier_model=model.barrier_model)
    out["per_fluence"] = [
        {"dataset": n, "fluence_uJ_cm2": float(f), "n_abs": float(na),
         "apparent_yield": float(pa), "stderr": float(math.sqrt(max(cov[i, i], 0.0))),
         "model": float(m)}
        for i, (n, f, na, pa, m) in enumerate(zip(series.names, series.fluence_uJ_cm2,
                                                  series.n_abs, phi_app,
                                                  out.pop("model_apparent_yield")))]
    fit["fluence_series"] = out
    fit["phi"], fit["phi_se"], fit["ci"] = out["value"], out["stderr"], out["ci95"]
    fit["ci_method"] = ("nonlinear fluence-series fit (extended TTM with charging) of the "
                        "per-fluence t = 0⁺ amplitudes and their covariance; Wald in ln Φ_inj")


def _member_series(fit: dict) -> dict:
    """A decay model's fluence-series numbers for ``model_choice.members`` (nonlinear
    extrapolation only): its apparent yields, the linear extrapolation, the charging."""
    fs = fit.get("fluence_series")
    if fs is None:
        return {}
    return {"apparent_yields": [p["apparent_yield"] for p in fs["per_fluence"]],
            "linear_extrapolation": None if fs["linear"] is None else fs["linear"]["value"],
            "charging_mV_per_electron": fs["charging_mV_per_electron"]}


def _extrapolation_summary(spec, fits, w, phi_avg, stat_ci) -> dict:
    """``derived.injection_quantum_yield.fluence_extrapolation``: which extrapolation to
    ρ → 0 was used and, for the nonlinear one, the linear one beside it."""
    method = spec.extrapolation
    if method != "nonlinear":
        return {"method": method or "none"}
    best = fits[int(np.argmax(w))]["fluence_series"]
    lin = [f["fluence_series"]["linear"] for f in fits]
    out = {"method": "nonlinear", "value": phi_avg, "ci95_statistical": stat_ci,
           **{k: v for k, v in best.items() if k not in ("value", "stderr", "ci95", "linear")}}
    if all(v is not None for v in lin):
        lin_avg = float(np.sum(w * np.array([v["value"] for v in lin])))
        rel = phi_avg / lin_avg - 1.0 if lin_avg > 0 else float("nan")
        out["linear"] = {"value": lin_avg, "ci95": best["linear"]["ci95"],
                         "curvature_z": best["linear"]["curvature_z"]}
        out["nonlinear_vs_linear_relative"] = rel  # Φ_nl / Φ_lin − 1
        out["note"] = (f"Φ_inj at ρ → 0 from the nonlinear fluence-series model (charging "
                       f"{'fitted' if best['charging_free'] else 'fixed'} at "
                       f"{best['charging_mV_per_electron']:.2g} mV per electron): "
                       f"{phi_avg:.4g}; the linear extrapolation of the apparent yield gives "
                       f"{lin_avg:.4g} ({100 * rel:+.1f} % from linear to nonlinear)")
    else:
        out["note"] = (f"Φ_inj at ρ → 0 from the nonlinear fluence-series model with the "
                       f"charging strength fixed at {best['charging_mV_per_electron']:.2g} mV per "
                       f"electron ({best['n_fluences']} fluence(s): no linear extrapolation)")
    return out

"""Fitting the physical hot-carrier model with the shared engine: Φ_inj with an interval.

The objective is :class:`~hotcarrier.physics.objective.PhysicalObjective` (amplitudes by
variable projection); the optimiser is the jitted Levenberg–Marquardt of
:mod:`hotcarrier.fitting.optimize` (``optimizer = "lbfgs"`` in the model file selects optax
L-BFGS); uncertainties are those of :mod:`hotcarrier.fitting.uncertainty`: the Gauss–Newton
covariance of the projected residual (non-identifiable directions flagged), the delta method
for every physical and derived quantity, and the 95 % interval of Φ_inj by profile
likelihood (Δχ² = 3.84 in RMSE-scaled units). The result is the package's one
:class:`~hotcarrier.fitting.result.FitResult` with the one ``summary.json`` schema.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .._x64 import with_x64
from ..errors import (ConvergenceWarning, DataFormatError, FitError, NonlinearRegimeWarning,
                      ParameterAtBoundWarning)
from ..fitting.optimize import least_squares, levenberg_marquardt
from ..fitting.params import near_bound, to_unconstrained
from ..fitting.result import FitResult, build_summary, finite_or_none, parameter_entry
from ..fitting.uncertainty import (gauss_newton_covariance, profile_interval,
                                   propagate_covariance, standard_errors)
from ..io import load_ta
from . import traps
from .injection import injection_quantum_yield
from .modelfile import (BATCH_DERIVED, CANDIDATES, EXTRA_UNITS, LOG_SCALED, PHI,
                        SUB_IRF, PhysicalModel)
from .objective import AMPLITUDE_NAMES, N_NODES, PhysicalObjective, collect_data
from .parameters import field_units
from .simulate import read_bundle

__all__ = ["fit_physical", "fit_physical_model_file", "load_data_files", "as_datasets",
           "demo_fits", "demo_results", "fluence_linearity", "control", "objective_for",
           "WithJacobian", "derived_jacobian"]

PROFILE_THRESHOLD = 1.92
"""Δcost / RMSE² of the 95 % profile interval (Δχ² = 3.84)."""


@dataclass(frozen=True)
class WithJacobian:
    """``(x, *args) -> (r, J, aux)`` of a :class:`PhysicalObjective` for the LM (hashable).

    Forward mode: 13 candidate directions, thousands of residuals. With the visible map the
    Jacobian is assembled by structure (:meth:`PhysicalObjective.residual_jacobian`: one
    shared kinetics evaluation, time zeros by the chain rule, the Golub–Pereyra projection),
    else it is the forward-mode Jacobian of the whole residual. ``aux`` carries J, the
    amplitudes and the model at the point, so the optimum needs no further evaluation.
    """

    objective: PhysicalObjective
    keep_jacobian: bool = True  # False in batches: the loop state stays small

    def both(self, x, *a):
        r, c, fit = self.objective.solve(x, *a)
        aux = {"c": c, "fit": fit} if self.keep_jacobian else {"c": c}
        if self.objective.visible:
            rv, cv, fitv = self.objective.solve_visible(x, *a)
            r = jnp.concatenate([r, rv])
            aux.update(c_vis=cv, fit_vis=fitv)
        aux["r"] = r
        return r, aux

    def __call__(self, x, *a):
        if self.objective.visible and hasattr(self.objective, "residual_jacobian"):
            r, J, aux = _residual_jacobian(self.objective, x, *a)
            if not self.keep_jacobian:
                return r, J, {"c": aux["c"]}
            return r, J, dict(aux, J=J)
        J, aux = jax.jacfwd(self.both, has_aux=True)(x, *a)
        if not self.keep_jacobian:
            return aux["r"], J, {"c": aux["c"]}
        return aux["r"], J, dict(aux, J=J)


@functools.partial(jax.jit, static_argnums=0)
def _residual_jacobian(objective, x, *args):
    """:meth:`PhysicalObjective.residual_jacobian`, jitted: the LM's shape probe and its loop
    body share one trace of it (a nested program, inlined by XLA)."""
    return objective.residual_jacobian(x, *args)


@functools.lru_cache(maxsize=8)
def _derived_program(objective: PhysicalObjective):
    """Jitted (∂derived/∂x, derived): every candidate's value and the derived quantities."""
    return jax.jit(derived_jacobian(objective))


def derived_jacobian(objective: PhysicalObjective):
    """``(x, ctrl, p, o) -> (∂d/∂x, d)`` with d = every candidate's physical value followed
    by :data:`BATCH_DERIVED` (pure JAX; vmappable)."""

    def derived_all(x, ctrl, base_p, base_o, data=None):
        vals = jnp.stack(objective.values(x, ctrl))
        p, o = objective.params(x, ctrl, base_p, base_o)
        phi = injection_quantum_yield(p, objective.model)
        m, w = traps.gauss_poisson_nodes(p.mean_traps, objective.n_nodes)
        k1 = traps.k1_per_ps(p)
        den = p.k_sep + p.k_bet + m * k1
        lf = jnp.sum(w * p.k_sep / den)
        tf = jnp.sum(w * m * k1 / den)
        bf = jnp.sum(w * p.k_bet / den)
        d = jnp.concatenate([vals, jnp.stack([phi, lf, phi * lf, tf, bf, p.eta_cid,
                                              p.tau_inj_fs])])
        return d, d

    return jax.jacfwd(derived_all, has_aux=True)


def _programs(fn: WithJacobian, x0, args, free, max_iter: int, lm: bool = True) -> list:
    """[derived program] or, with ``lm``, [LM program, derived program] of ``fn`` on these
    argument shapes, compiled ahead of time (:mod:`hotcarrier.fitting.compiled`: kept on
    disk where a cache folder is set, compiled concurrently when missing). The LM program
    is called as ``program(x0, *args, max_iter=, free=)``; pins and the cap are traced, so
    the profile's refits run the same program."""
    from ..fitting.compiled import compile_all

    x0 = jnp.asarray(x0, float)
    reqs = [(_derived_program(fn.objective), "physics.derived|" + repr(fn.objective),
             (x0, *args), {}, True)]
    if lm:
        # XLA's default pipeline also with the visible map: its structured Jacobian
        # (PhysicalObjective.residual_jacobian) compiles in ~10 s CPU and runs ~2× faster
        # than with CHEAP_COMPILE, which the fit and its profile's ~150 evaluations repay
        reqs.insert(0, (levenberg_marquardt, "physics.lm|" + repr(fn), (fn, x0, *args),
                        _lm_options(max_iter, free), True))
    return compile_all(reqs)


def _lm_options(max_iter, free) -> dict:
    """The LM's traced options with fixed types (one compiled signature)."""
    return dict(max_iter=int(max_iter), free=jnp.asarray(np.asarray(free, bool)))


def _optimise(fn, objective, x0, args, free, model: PhysicalModel):
    """(x, cost, status, n_iter, n_eval, aux at x) by the model file's optimiser."""
    if model.optimizer == "lbfgs":
        r = least_squares(objective, jnp.asarray(x0), *args, max_iter=model.max_iter)
        x = np.asarray(r.x)
        _, _, aux = fn(jnp.asarray(x), *args)
        return x, float(r.fun), int(r.status), int(r.n_iter), int(r.n_eval), aux
    lm = _programs(fn, x0, args, free, model.max_iter)[0]
    r = lm(jnp.asarray(x0, float), *args, **_lm_options(model.max_iter, free))
    return (np.asarray(r.x), float(r.fun), int(r.status), int(r.n_iter), int(r.n_eval),
            r.aux)


@with_x64
def fit_physical(datasets: dict, model: PhysicalModel, progress=None) -> FitResult:
    """Fit the physical model to a set of TA datasets (edge function; float64 inside).

    ``datasets``: name → sample mid-IR traces (a fluence series), optionally a calibration
    reference and a visible map (``[data] probes``); ``progress(message)`` for status lines.
    ``derived["injection_quantum_yield"]`` of the result holds Φ_inj, its stderr and 95 %
    interval (profile likelihood). Raises :class:`FitError` for no free parameter, unusable
    data, or a cost that is not finite at the start or becomes so (a bad fixed value or bound).
    """
    if model.decay is not None:  # flexible decay, shared t = 0⁺ calibration ([decay])
        from .decayfit import fit_decay
        return fit_decay(datasets, model, progress, wrapper=WithJacobian,
                         result_dataset=_result_dataset)
    progress = progress or (lambda msg: None)
    t_start = time.perf_counter()
    data, rows, units = collect_data(datasets, model.probes, params=model.params)
    has_ref = bool(rows["reference"])
    if not model.free:
        raise FitError(f"{model.source or model.name}: the model file has no [free] parameters; "
                       "list the ones to fit under [free] with [lower, upper] bounds")
    if not has_ref and PHI in model.free:
        warnings.warn("no calibration reference among the data: κ (electron absorption) is held "
                      f"at kappa_mOD = {model.obs.kappa_mOD} from the model file, so Φ_inj is "
                      "only as good as that calibration (spec §7.1)", stacklevel=3)
    has_vis = "visible" in rows
    objective, col_on, n_amp = objective_for(model, has_ref, has_vis)
    data["col_on"] = jnp.asarray(col_on)
    if has_vis:
        n_amp += 8 * int(data["wl_v"].size)
    fn = WithJacobian(objective)
    ctrl, x0, free = control(model)
    free_names = [k for k in CANDIDATES if k in model.free]
    free_idx = np.flatnonzero(free)
    args = (ctrl, model.params, model.obs, data)
    n_data = int(np.sum(np.asarray(data["w"]) > 0)) + (
        int(np.sum(np.asarray(data["w_v"]) > 0)) if has_vis else 0)  # NumPy: nothing compiled
    progress(f"fitting {len(free_names)} parameters to {n_data} points")
    x, cost, status, n_iter, n_eval, aux = _optimise(fn, objective, x0, args, free, model)
    if not math.isfinite(cost) or status == 3:
        raise FitError(f"{model.source or model.name}: the physical model is not finite at "
                       f"{'the start values' if n_iter == 0 else 'a point the fit reached'} "
                       f"(cost {cost}); likely cause: a fixed parameter or a bound outside "
                       "its physical range (a zero or negative lifetime, density or width) — "
                       "check [parameters] and [free] in the model file")
    J = np.asarray(aux["J"])[:, free_idx]
    cov = gauss_newton_covariance(J, cost, n_data, n_amplitudes=n_amp)
    derived_program = _programs(fn, x0, args, free, model.max_iter, lm=False)[0]
    Jd, dvals = (np.asarray(a) for a in derived_program(jnp.asarray(x, float), *args))
    cov_all, _ = propagate_covariance(None, None, cov.covariance, cov.identifiable,
                                      jac=Jd[:, free_idx])
    se_all = standard_errors(cov_all)
    nc = len(CANDIDATES)
    values = {k: float(dvals[i]) for i, k in enumerate(CANDIDATES)}
    stderr = {k: float(se_all[i]) for i, k in enumerate(CANDIDATES) if free[i]}
    derived_vals = dict(zip(BATCH_DERIVED, dvals[nc:]))
    derived_se = dict(zip(BATCH_DERIVED, se_all[nc:]))
    ident = {k: bool(b) for k, b in zip(free_names, cov.identifiable)}
    phi, phi_se = float(derived_vals[PHI]), float(derived_se[PHI])
    ci, prof, ci_method = [None, None], {}, "Wald (delta method)"
    if PHI in free_names and model.profile and math.isfinite(phi_se) and phi_se > 0:
        progress("profile likelihood of Φ_inj")
        ci, prof = _profile_phi(fn, x, args, free, phi, phi_se, cov.rmse**2, cost, model)
        ci_method = "profile likelihood (Δχ² = 3.84 in RMSE-scaled units)"
    elif math.isfinite(phi_se):
        ci = [phi - 1.96 * phi_se, phi + 1.96 * phi_se]
    # from the derived program's values (an eager objective.params compiles ~30 tiny programs)
    mean_traps = model.params.replace(N_it_cm2=values["N_it_cm2"]).mean_traps
    derived = {
        PHI: {"value": phi, "stderr": finite_or_none(phi_se),
              "ci95": [finite_or_none(c) for c in ci],
              "ci_method": ci_method, "unit": "–", "profile": prof,
              "definition": "∫ injection flux dt per photon absorbed by Au (spec §5.4)"},
        "long_lived_fraction": _derived(derived_vals, derived_se, "long_lived_fraction",
                                        "φ_LL = ⟨k_sep/(k_sep+k_BET+m k₁)⟩ (spec §5.2)"),
        "long_lived_yield": _derived(derived_vals, derived_se, "long_lived_yield",
                                     "Φ_inj·φ_LL: long-lived plateau per absorbed photon "
                                     "(bridge to the H2 model, spec §9.4b)"),
        "trapped_fraction": _derived(derived_vals, derived_se, "trapped_fraction"),
        "back_transfer_fraction": _derived(derived_vals, derived_se, "back_transfer_fraction"),
        "mean_traps_per_particle": {"value": float(mean_traps), "unit": "–"},
        "not_identifiable": [k for k in free_names if not ident[k]] + list(SUB_IRF),
    }
    fit = np.asarray(aux["fit"])
    lin = derived["fluence_linearity"] = fluence_linearity(rows, fit, phi)
    if lin["slope_z"] is not None and abs(lin["slope_z"]) > 3.0:
        warnings.warn(f"the apparent Φ_inj of the sample traces changes with fluence "
                      f"(slope {lin['slope_per_1e12_cm3']:.3g} per 10¹² cm⁻³, "
                      f"{lin['slope_z']:.1f} σ): the data are not in the linear regime "
                      "(spec §6.5); keep the low-fluence traces or use the nonlinear module",
                      NonlinearRegimeWarning, stacklevel=3)
    amplitudes = {k: finite_or_none(v)
                  for k, v, on in zip(AMPLITUDE_NAMES, np.asarray(aux["c"]), col_on) if on}
    parameters = _parameter_entries(model, values, stderr, ident, derived_vals, derived_se)
    at_bound = [k for k in free_names if near_bound(values[k], *model.free[k])]
    for k in at_bound:
        parameters[k]["at_bound"] = True
    if at_bound:
        warnings.warn(f"{model.name}: parameter(s) {at_bound} ended within 1 % of a bound; the "
                      "bound, not the data, sets them — widen it or fix the parameter",
                      ParameterAtBoundWarning, stacklevel=3)
    fit_seconds = time.perf_counter() - t_start
    summary = build_summary(
        model={"type": "hotcarrier", "name": model.name, "file": model.source,
               "barrier_model": model.barrier_model},
        status=status, n_iterations=n_iter, n_evaluations=n_eval,
        wall_time_s=fit_seconds, fit_time_s=fit_seconds,
        optimizer=("Levenberg–Marquardt (jitted, forward-mode Jacobian), variable projection"
                   if model.optimizer != "lbfgs" else
                   "optax L-BFGS (zoom line search), variable projection"),
        criterion="weighted least squares; LM stops on relative cost decrease ≤ 1e-10, "
                  "relative step ≤ 1e-10 or gradient cosine ≤ 1e-10",
        cost=cost, n_data=n_data, n_amplitudes=n_amp, covariance=cov, parameters=parameters,
        datasets=[r["name"] for rr in rows.values() for r in rr], derived=derived,
        amplitudes=amplitudes,
        chirp=({"c1_ps_nm": values["chirp_c1_ps_nm"], "c2_ps_nm2": values["chirp_c2_ps_nm2"],
                "lambda_ref_nm": float(model.obs.lambda_ref_nm)} if has_vis else None))
    resid = np.asarray(aux["r"])[: int(data["y"].size)]
    ds = _result_dataset(rows, fit, resid, units, summary, aux if has_vis else None)
    if not summary["converged"]:
        warnings.warn(f"{model.name}: the physical fit did not converge — {summary['message']} "
                      f"after {n_iter} iterations; it is not a result (check the start values "
                      "and bounds, or raise [fit] max_iter)", ConvergenceWarning, stacklevel=3)
    return FitResult(ds, summary, theta=x)


def objective_for(model: PhysicalModel, has_ref: bool, visible: bool = False):
    """(objective, amplitude switches (8,), number of mid-IR amplitudes) for data with or
    without a calibration reference; κ is held at the model file's value without one."""
    art = model.midir_artefact
    col_on = np.array([1, 1, art, art, art, art and has_ref, art and has_ref, art and has_ref],
                      float)
    objective = PhysicalObjective(n_nodes=N_NODES, model=model.barrier_model,
                                  fixed_kappa=not has_ref, visible=visible)
    return objective, col_on, int(col_on.sum()) - (0 if has_ref else 1)


def as_datasets(data) -> dict:
    """Name → TA dataset from what a user hands a physical fit: a bundle or TA file path, a
    list of paths, a dict of datasets, a dataset or a list of datasets."""
    if isinstance(data, dict):
        return data
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if all(isinstance(x, (str, Path)) for x in items):
        return load_data_files(items)
    return {str(getattr(x, "attrs", {}).get("source_file", i)): x for i, x in enumerate(items)}


def control(model: PhysicalModel):
    """(ctrl, x0, free mask) of a model: bounds, pins and start of every candidate."""
    pin = np.array([k not in model.free for k in CANDIDATES])
    lo, hi = np.array([model.free.get(k, (1.0, 2.0)) for k in CANDIDATES], float).T  # 1, 2: pinned
    pinval = np.array([model.start_value(k) for k in CANDIDATES])
    x0 = np.array([0.0 if pinned else to_unconstrained(v, a, b, k in LOG_SCALED)
                   for k, pinned, v, a, b in zip(CANDIDATES, pin, pinval, lo, hi)])
    ctrl = {"lo": jnp.asarray(lo), "hi": jnp.asarray(hi), "pin": jnp.asarray(pin),
            "pinval": jnp.asarray(pinval)}
    return ctrl, x0, ~pin


def _profile_phi(fn, x, args, free, phi, phi_se, rmse2, cost, model: PhysicalModel):
    """95 % profile-likelihood interval of Φ_inj: Φ_inj pinned at Φ̂ ± k·0.8σ̂, the other
    free parameters re-optimised (warm start) by the same compiled LM (traced pins)."""
    ctrl = args[0]
    i = CANDIDATES.index(PHI)
    others = np.asarray(free).copy()
    others[i] = False

    pin = np.asarray(ctrl["pin"]).copy()
    pin[i] = True

    def refit(v, xw):
        pinval = np.asarray(ctrl["pinval"]).copy()
        pinval[i] = v  # NumPy, then one transfer: no eager scatter programs
        c = dict(ctrl, pin=jnp.asarray(pin), pinval=jnp.asarray(pinval))
        lm = _programs(fn, xw, (c, *args[1:]), others, model.max_iter)[0]
        r = lm(jnp.asarray(xw, float), c, *args[1:], **_lm_options(model.max_iter, others))
        return float(r.fun), np.asarray(r.x)

    (lo, hi), grid, delta = profile_interval(
        refit, phi, 0.8 * phi_se, PROFILE_THRESHOLD * rmse2, cost0=cost, warm=np.asarray(x),
        bounds=model.free[PHI], max_steps=6, extrapolate=True)
    return [lo, hi], {"grid": [float(g) for g in grid], "delta_cost": [float(d) for d in delta],
                      "threshold": PROFILE_THRESHOLD * rmse2}


def _derived(vals, ses, name, definition=None):
    out = {"value": float(vals[name]), "stderr": finite_or_none(ses[name]), "unit": "–"}
    if definition:
        out["definition"] = definition
    return out


def _parameter_entries(model, values, stderr, ident, dvals, dse) -> dict:
    """``summary["parameters"]``: the free parameters, the sub-IRF ones derived from Φ_inj,
    and the fixed ones a reader needs (units from :func:`field_units`)."""
    units = {**field_units(), **EXTRA_UNITS}
    free = model.free
    params = {}
    shown = ("eta_cid", "tau_inj_fs", "tau_ee_fs", "tau_bet_ps", "tau_sep_ps", "tau_trec_ns",
             "N_it_cm2", "irf_fwhm_fs", "phi_B_eV", "eta_rad", "hbar_omega_eV")
    for name in dict.fromkeys(([PHI] if PHI in free else []) + list(free) + list(shown)):
        derived = name in ("eta_cid", "tau_inj_fs") and PHI in free
        if derived or name == PHI:
            value, se = dvals[name], dse[name]
        elif name in free:
            value, se = values[name], stderr.get(name)
        else:
            value, se = model.start_value(name), None
        note = {"derived_from": PHI, "note": "sub-IRF split of Φ_inj not identifiable (spec "
                "§7.3); set by the fixed direct share η_CID/Φ_inj and τ_ee"} if derived else {}
        params[name] = parameter_entry(
            value, se, units.get(name, "–"), fixed=name not in free and not derived,
            free=name in free, expr="derived from injection_quantum_yield" if derived else None,
            bounds=free.get(name, (None, None)),
            identifiable=ident.get(name, True) if name in free else None, **note)
    return params


def _result_dataset(rows, fit, resid, units, summary, vis_aux) -> xr.Dataset:
    """Data, fit and weighted residual of every trace (dim ``row``), plus the visible map."""
    mid = [dict(r, role=role) for role, rr in rows.items() if role != "visible" for r in rr]

    def per_row(key):
        """``key`` of every mid-IR trace end to end, one entry per delay."""
        return np.concatenate([np.broadcast_to(r[key], r["t"].shape) for r in mid])

    ds = xr.Dataset(
        {"signal": ("row", per_row("y"), {"units": units}),
         "fit": ("row", fit, {"units": units}),
         "weighted_residual": ("row", resid),
         "role": ("row", per_row("role").astype(str))},
        coords={"delay": ("row", per_row("t"), {"units": "ps"}),
                "trace": ("row", per_row("name"))},
        attrs={"summary_json": json.dumps(summary)})
    if vis_aux is not None:
        v = rows["visible"][0]
        ds = ds.assign_coords(delay_vis=("delay_vis", v["t"], {"units": "ps"}),
                              wavelength=("wavelength", v["wl"], {"units": "nm"}))
        ds["visible_signal"] = (("delay_vis", "wavelength"), v["y"], {"units": units})
        ds["visible_fit"] = (("delay_vis", "wavelength"), np.asarray(vis_aux["fit_vis"]),
                             {"units": units})
        ds["visible_spectra"] = (("wavelength", "component"), np.asarray(vis_aux["c_vis"]),
                                 {"components": "N,dTe,dTl,CB,T,art0,art1,art2"})
    return ds


def fluence_linearity(rows, fit, phi) -> dict:
    """Per-trace apparent Φ_inj (best scale of the global model per sample trace) and the
    slope of apparent Φ_inj vs ρ_abs with its z-score: the linearity check of spec §6.5."""
    out, i = [], 0
    for r in rows["sample"]:
        n = r["t"].size
        f, y, w = fit[i:i + n], r["y"], r["w"]
        i += n
        den = float(np.sum((w * f) ** 2))
        if den <= 0:
            continue
        sc = float(np.sum(w * w * f * y)) / den
        out.append((r["name"], r["rho"], phi * sc, phi / math.sqrt(den)))
    res = {"note": "stderr excludes the calibration (κ) uncertainty common to all traces",
           "traces": [{"name": n, "rho_abs_1e12_cm3": rho, "apparent_yield": a,
                       "stderr": e} for n, rho, a, e in out],
           "slope_per_1e12_cm3": None, "slope_stderr": None, "slope_z": None}
    if len(out) >= 2:  # weighted straight line a(ρ), weights 1/stderr
        rho, a, err = (np.array(col) for col in list(zip(*out))[1:])
        coef, cov = np.polyfit(rho, a, 1, w=1.0 / err, cov="unscaled")
        se = math.sqrt(cov[0, 0])
        res.update(slope_per_1e12_cm3=float(coef[0]), slope_stderr=se,
                   slope_z=float(coef[0]) / se)
    return res


def load_data_files(paths) -> dict:
    """Read data files: bundles (netCDF with groups), measurement sidecars (TOML listing trace
    files, :mod:`hotcarrier.physics.measurement`) or single TA datasets (any format)."""
    from .measurement import is_measurement_file, read_measurement

    out = {}
    for path in paths:
        path = Path(path)
        if is_measurement_file(path):  # a sidecar TOML listing trace files (measurement.py)
            members = read_measurement(path)
            out.update({k if k not in out else f"{path.stem}:{k}": v for k, v in members.items()})
            continue
        try:
            members = read_bundle(path)
        except (DataFormatError, OSError, ValueError):  # not a bundle: one TA dataset, any format
            members = {path.stem: load_ta(path)}
        for k, v in members.items():
            key = k if k not in out else f"{path.stem}:{k}"
            out[key] = v
    return out


def fit_physical_model_file(data_paths, model_path, out_dir=None, progress=None) -> FitResult:
    """Fit the data files with a physical model file; write the result when ``out_dir``."""
    res = fit_physical(load_data_files(data_paths), PhysicalModel.from_toml(model_path),
                       progress)
    if out_dir is not None:
        res.write(out_dir)
    return res


def demo_results(out_dir=None, progress=None) -> list:
    """Fit the bundled clean and defective datasets with their model files
    (``fits/au_cds_*/model.toml``, the flexible-decay route); returns [(name, FitResult)]."""
    from ..bundled import datasets_dir, fits_dir

    return [(name, fit_physical_model_file([datasets_dir() / f"{name}.nc"],
                                           fits_dir() / name / "model.toml",
                                           None if out_dir is None else Path(out_dir) / name,
                                           progress))
            for name in ("au_cds_clean", "au_cds_defective")]


def demo_fits(out_dir=None, progress=None):
    """:func:`demo_results` as [(name, Φ_inj value, [ci95 low, high])] (``ci95``: statistical
    ⊕ model choice; ``derived["injection_quantum_yield"]`` of each result has the rest)."""
    return [(name, res.derived[PHI]["value"], res.derived[PHI]["ci95"])
            for name, res in demo_results(out_dir, progress)]

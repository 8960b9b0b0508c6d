"""Global and target analysis: the edge API ``fit(data, model) -> FitResult``.

The pure core is :mod:`hotcarrier.target.objective` (projected residual, jitted) minimised by
:func:`hotcarrier.fitting.optimize.minimize` (optax L-BFGS with zoom line search, in the
unconstrained parameter space). This module loads and preprocesses data, runs the fit, computes the
Gauss–Newton uncertainties and builds a :class:`~hotcarrier.fitting.result.FitResult`.

>>> from hotcarrier import fit
>>> res = fit("demo.ascii", "model.toml")            # doctest: +SKIP
>>> res.summary()["cost"]                             # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .._x64 import device_array, with_x64, x64
from ..errors import (ConvergenceWarning, FitError, LifetimeWarning, ModelError,
                      ParameterAtBoundWarning, warn_caller)
from ..fitting.optimize import RUNAWAY, RUNAWAY_FTOL, minimize
from ..fitting.params import near_bound
from ..fitting.result import FitResult, build_summary, parameter_entry
from ..fitting.uncertainty import (correlation_matrix, gauss_newton_covariance,
                                   profile_interval, propagate_covariance, standard_errors)
from .model import TargetModel
from .objective import Objective, build_problem

__all__ = ["fit_target", "FitSetup", "setup", "uncertainties", "profile",
           "check_profile_names"]


def _load(item, model: TargetModel, base_dir):
    from ..dataset import check_fit_data, check_ta
    from ..io import load_ta
    from ..preprocess import prepare, read_options

    if not isinstance(item, (str, Path, xr.Dataset)):
        raise ModelError(f"cannot fit a {type(item).__name__}; pass a TA xarray.Dataset or a "
                         "file path")
    ds = load_ta(item, **read_options(model.preprocess)) if isinstance(item, (str, Path)) \
        else item
    ds = check_fit_data(ds)  # dimensions, dtype (float64), usable non-zero data: before use
    ds = prepare(ds, model.preprocess, base_dir=base_dir)  # merges duplicate delays first
    check_ta(ds)
    return ds


class FitSetup:
    """A model bound to prepared data: objective, start vector and arrays (reusable).

    Attributes
    ----------
    model : TargetModel
    datasets : list of xarray.Dataset
        Prepared data.
    problem : VarproProblem
    objective : Objective
        ``objective.cost(theta, arrays)`` is the jitted-friendly loss; its ``kinetics`` is
        "eigen" (the default: NaN where the eigen form is not accurate) or "newton"
        (:func:`hotcarrier.kinetics.convolved_populations`, :meth:`with_kinetics`).
    theta0 : Array
        Unconstrained start vector.
    """

    def __init__(self, model: TargetModel, datasets: list[xr.Dataset], link_tolerance=0.01,
                 kinetics: str = "eigen"):
        from ..dataset import SPECTRAL_DIM

        # per-wavelength parameters (time-zero shifts) are made for the data's grids
        model = model.bind([ds[SPECTRAL_DIM].values for ds in datasets])
        self.model = model
        self.datasets = datasets
        # axes padded to bucket sizes: maps of similar size share the compiled programs
        self.problem = build_problem(model, datasets, link_tolerance, pad=True)
        self.objective = Objective.for_problem(model, self.problem, kinetics)
        self.theta0 = np.asarray(model.parameters.theta0(), dtype=float)
        self.arrays = self.problem.arrays
        # per dataset: the wavelength (nm) at which populations are reported
        self.lam_ref = np.array([_reference_wavelength(model, d, ds)
                                 for d, ds in enumerate(datasets)])

    def point(self, theta) -> dict:
        """:meth:`Objective.point` at ``theta`` on this setup's data (one compiled program,
        kept on disk by :mod:`hotcarrier.fitting.compiled` where a cache folder is set)."""
        return self.programs()[0](np.asarray(theta, float), self.arrays,
                                  np.asarray(self.lam_ref, float))

    @property
    def key(self) -> str:
        """What the compiled programs of this setup depend on besides the array shapes."""
        o = self.objective
        return repr((self.model.cache_key(), o.link, o.n_sets, o.shared, o.kinetics))

    def eigen_margin(self, theta) -> bool:
        """True when the eigen-form kinetics are accurate, with the margin
        :data:`~hotcarrier.target.objective.EIGEN_MARGIN`, at ``theta``
        (:func:`hotcarrier.kinetics.eigen_form_accurate`; one small program, kept on disk
        like the fit's)."""
        from ..fitting.compiled import CHEAP_COMPILE, compile_all

        # run once per fit, before anything else is compiled: XLA's cheap pipeline
        program = compile_all([(self.objective.eigen_margin, "target.eigen_margin|" + self.key,
                                (self.theta0,), {}, True, CHEAP_COMPILE)])[0]
        return bool(program(np.asarray(theta, float)))

    def with_kinetics(self, method: str) -> FitSetup:
        """The same setup (data, bound model) with the kinetics ``method`` of
        :func:`hotcarrier.kinetics.convolved_populations`."""
        other = copy.copy(self)
        other.objective = Objective.for_problem(self.model, self.problem, method)
        return other

    def programs(self, minimiser: bool = False) -> list:
        """[point program] or, with ``minimiser``, [point program, minimiser] — compiled
        ahead of time (loaded from disk when cached; both compiled concurrently otherwise).

        The minimiser is :func:`~hotcarrier.fitting.optimize.minimize` of the preconditioned
        cost, called as ``program(u0, arrays, D, **_minimize_options(...))``.
        """
        from ..fitting.compiled import compile_all

        return compile_all(self._program_requests(minimiser))[::-1]

    def programs_stored(self) -> bool:
        """True when the point program and the minimiser are in memory or on disk (they
        would be loaded, not compiled)."""
        from ..fitting.compiled import stored

        return stored(self._program_requests(True))

    def _program_requests(self, minimiser: bool) -> list:
        """The :func:`~hotcarrier.fitting.compiled.compile_all` requests of :meth:`programs`
        (the minimiser first)."""
        from ..fitting.compiled import LIGHT_COMPILE

        n = self.theta0.size
        lam = np.asarray(self.lam_ref, float)
        # evaluated a few times per fit: XLA's lighter pipeline (cold Hippius process −9 %,
        # warm unchanged; benchmarks/README.md)
        reqs = [(self.objective.point_program, "target.point|" + self.key,
                 (self.theta0, self.arrays, lam), {}, True, LIGHT_COMPILE)]
        if minimiser:  # listed first: it compiles longest, so its compilation starts first
            reqs.insert(0, (minimize, "target.minimize|" + self.key,
                            (self.objective.scaled_cost, self.theta0, self.arrays, np.ones(n)),
                            _minimize_options(1, 1e-9, 1e-13, 0.0, np.zeros(n), 0.0,
                                              np.ones(n)), True))
        return reqs


def _reference_wavelength(model, d: int, ds) -> float:
    """The IRF's dispersion centre, else the median probe wavelength (nm)."""
    from ..dataset import SPECTRAL_DIM

    irf = model.datasets[d].irf
    if irf.dispersion_center is not None:
        return float(irf.dispersion_center)
    return float(np.median(ds[SPECTRAL_DIM].values))


def _as_model(model) -> tuple[TargetModel, Path | None]:
    if isinstance(model, TargetModel):
        return model, None
    if isinstance(model, (str, Path)):
        from .modelfile import load_target_model

        return load_target_model(model), Path(model).resolve().parent
    raise ModelError(f"model must be a TargetModel or a TOML file path, not {type(model).__name__}")


@with_x64
def setup(data, model, *, link_tolerance: float = 0.01) -> FitSetup:
    """Load/prepare the data and bind the model (no fitting). See :func:`fit`."""
    model, base = _as_model(model)
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if len(items) != len(model.datasets):
        raise ModelError(f"{model.source}: {len(items)} dataset(s) given but the model describes "
                         f"{len(model.datasets)} ({', '.join(d.name for d in model.datasets)})")
    s = FitSetup(model, [_load(x, model, base) for x in items], link_tolerance)
    _check_enough_data(s)
    return s


def _check_enough_data(s: FitSetup) -> None:
    """More usable data points than free parameters (nonlinear + linear amplitudes)."""
    from ..dataset import fit_mask

    n_data = sum(int(fit_mask(ds).sum()) for ds in s.datasets)
    n_free = len(s.model.parameters.free_names)
    n_amp = sum(len(s.model.column_names) * ds.sizes["wavelength"] for ds in s.datasets)
    if n_data <= n_free + n_amp:
        raise FitError(f"{s.model.source}: {n_data} usable data point(s) for {n_free} kinetic "
                       f"parameter(s) and {n_amp} spectral amplitude(s): too few to fit; "
                       "use more delays (or fewer components)")


@with_x64
def fit_target(data, model, *, max_iter: int = 2000, gtol: float = 1e-9, ftol: float = 1e-13,
        progress: Callable[[int, float, float], None] | None = None,
        profile: Sequence[str] | str | None = None, link_tolerance: float = 0.01,
        runaway_ftol: float = RUNAWAY_FTOL):
    """Fit a target/global model to one or several TA datasets by variable projection.

    Parameters
    ----------
    data : xarray.Dataset, path, or a list of them
        One per ``model.datasets`` entry (shared kinetics, per-dataset IRF/scale).
    model : TargetModel or path to a TOML model file
        Its ``preprocess`` options are applied to every dataset.
    max_iter : int
        L-BFGS iteration cap (then ``converged`` is False and a ConvergenceWarning is raised).
    gtol, ftol : float
        Convergence criterion of :func:`hotcarrier.fitting.optimize.minimize`.
    progress : callable, optional
        ``progress(iteration, cost, grad_norm)`` after every iteration.
    profile : str or sequence of str, optional
        Parameters for which a profile-likelihood 68 % interval is computed.
    link_tolerance : float, nm
        Wavelengths of different datasets closer than this share a spectrum (when linked).
    runaway_ftol : float
        Stop early (status 6, ``converged`` False) when over the last 20 iterations the
        relative cost decrease is ≤ this while a bounded parameter walked steadily towards a
        bound or infinity (by ≥ 1 in its unconstrained coordinate, a factor e for a
        lifetime); 0 switches the early stop off. See :mod:`hotcarrier.fitting.optimize`.

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        If the model produces NaN/inf (start values, bounds) or the fit diverges.
    """

    t_start = time.perf_counter()
    s = setup(data, model, link_tolerance=link_tolerance)
    check_profile_names(profile, s.model.parameters.free_names)
    if not s.model.parameters.free_names:
        raise FitError(f"{s.model.source}: no free parameter to fit (all fixed or expressions)")
    # the eigen-form kinetics (one kernel per compartment) compile and run several times
    # faster; they are NaN where (nearly) equal eigenvalues make them inaccurate, so a fit
    # that starts or ends there is done (again, from where it stopped) with divided differences
    out = None
    if s.eigen_margin(s.theta0):  # (checked before anything is compiled)
        out = _minimise(s, max_iter, gtol, ftol, progress, fallback=True,
                        runaway_ftol=runaway_ftol)
    if out is None or not bool(out[1]["eigen_margin"]):
        theta = s.theta0 if out is None else out[0].x
        s = s.with_kinetics("newton")
        out = _minimise(s, max_iter, gtol, ftol, progress, start=theta,
                        runaway_ftol=runaway_ftol)
    return _result(s, *out, max_iter=max_iter, gtol=gtol, ftol=ftol, t_start=t_start,
                   profiled=profile)


def check_profile_names(profile, free_names) -> None:
    """Raise OptionError when a name asked for a profile is not a free parameter."""
    from ..errors import OptionError
    from .modelfile import did_you_mean

    names = [profile] if isinstance(profile, str) else list(profile or [])
    bad = [p for p in names if p not in free_names]
    if bad:
        raise OptionError(f"profile {bad[0]!r}: not a free parameter of the model"
                          f"{did_you_mean(bad[0], free_names)} (free: {', '.join(free_names)})")


def _minimise(s: FitSetup, max_iter, gtol, ftol, progress, start=None, fallback=False,
              runaway_ftol=RUNAWAY_FTOL):
    """Preconditioned L-BFGS from ``start`` (default: the start values); (result,
    evaluation at the optimum).

    One compiled program (:meth:`FitSetup.point`) serves the preconditioner, the start loss
    and gradient, and at the optimum the standard errors and the fit details. ``fallback``:
    None instead of an error when the model is not finite at the start or the fit ends
    non-finite (the caller retries with the "newton" kinetics).
    """
    theta0 = s.theta0 if start is None else np.asarray(start, float)
    pt0 = None
    if progress is None and s.programs_stored():
        # XLA runs the start evaluation in its own threads while the minimiser is read
        # from disk (warm Hippius process −5 %)
        pt0 = s.point(theta0)
    s.programs(minimiser=progress is None)  # both compiled at once when cold
    if pt0 is None:
        pt0 = s.point(theta0)
    cost0 = float(pt0["cost"])
    if not math.isfinite(cost0) or not np.all(np.isfinite(np.asarray(pt0["J"]))):
        if fallback:
            return None
        raise FitError(f"{s.model.source}: the model is not finite at the start values (cost "
                       f"{cost0}); likely cause: a start value that makes a rate or the IRF "
                       "width zero/negative or an expression dividing by zero — check the "
                       "parameters")
    D = np.asarray(pt0["precond"])
    # loss and gradient at the start from the evaluation above (u = D·θ, so ∇_u = ∇_θ / D)
    # run-away test in u = D·θ: a step of 1 in θ of a bounded parameter (unbounded: exempt)
    step = np.where(bounded_mask(s.model.parameters), D, np.inf)
    opts = _minimize_options(max_iter, gtol, ftol, cost0, np.asarray(pt0["grad"]) / D,
                             runaway_ftol, step)
    if progress is None:
        r = s.programs(minimiser=True)[1](theta0 * D, s.arrays, D, **opts)
    else:  # a host callback cannot be kept on disk: the jitted minimiser
        r = minimize(s.objective.scaled_cost, theta0 * D, s.arrays, D,
                     callback=_Progress(progress), **opts)
    if fallback and int(r.status) == 3:
        return None
    theta = np.asarray(r.x) / D
    return r._replace(x=theta), s.point(theta)


def _minimize_options(max_iter, gtol, ftol, value0, grad0, runaway_ftol, runaway_step) -> dict:
    """Keyword arguments of :func:`minimize` with fixed types (one compiled signature)."""
    return dict(max_iter=np.asarray(max_iter, np.int32), gtol=np.asarray(gtol, float),
                ftol=np.asarray(ftol, float),
                value0=np.asarray(value0, float), grad0=np.asarray(grad0, float),
                runaway_ftol=np.asarray(runaway_ftol, float),
                runaway_step=np.asarray(runaway_step, float))


def bounded_mask(pset) -> np.ndarray:
    """Per free parameter: True when it has a bound (its unconstrained coordinate runs to ±∞
    at a bound or at infinity; an unbounded one, e.g. a band position, is its own value)."""
    return np.array([np.isfinite(pset[n].min) or np.isfinite(pset[n].max)
                     for n in pset.free_names], bool)


@dataclass(frozen=True)
class _Progress:
    """Host-side progress callback (hashable by ``fn``: one jit cache entry of minimize)."""

    fn: Callable

    def __call__(self, it, f, g):
        self.fn(int(it), float(f), float(g))


def uncertainties(s: FitSetup, theta, n_amplitudes: int, cost: float, jac=None, dphys=None):
    """Gauss–Newton uncertainties of every parameter (physical space) at ``theta``.

    ``jac``, ``dphys``: the residual Jacobian and ∂physical/∂θ at ``theta`` when already
    computed (:meth:`FitSetup.point`).

    Returns
    -------
    cov_free : CovarianceResult
        In the unconstrained space of the free parameters.
    cov_phys : ndarray (n_params, n_params)
        Delta-method covariance of all parameters (fixed ones 0, NaN where undetermined).
    """
    th = device_array(theta, float)
    if jac is None:  # the fit's own compiled program (nothing new to compile)
        pt = s.point(theta)
        jac, dphys = pt["J"], pt["dphys"] if dphys is None else dphys
    J = jac
    # in the unconstrained space a standard error > 100 (a factor e^100 for a log-rate) means
    # the data do not determine the parameter at all: flagged, not reported as a number
    cr = gauss_newton_covariance(np.asarray(J), cost, s.problem.n_data, n_amplitudes,
                                 max_stderr=100.0)
    cov_phys, _ = propagate_covariance(s.model.parameters.physical, th, cr.covariance,
                                       cr.identifiable, jac=dphys)
    return cr, cov_phys


def profile(s: FitSetup, theta, name: str, stderr: float, rmse: float, **kw):
    """Profile-likelihood 68 % interval of parameter ``name`` (physical units).

    Steps of ½·stderr in the unconstrained space (mapped through the parameter transform).
    """
    pset = s.model.parameters
    i = pset.free_names.index(name)
    th = np.asarray(theta, float)
    # the fit's own point program (no op-by-op evaluation: that compiled ~200 small programs,
    # 5 s of a warm `fit --profile`): the cost and ∂physical/∂θ at θ; the derivative of the
    # physical value w.r.t. its raw value gives the raw step
    pt = s.point(th)
    dphys = float(np.asarray(pt["dphys"])[pset.index[name], i])
    step = 0.5 * stderr / abs(dphys) if np.isfinite(stderr) and dphys != 0 else 0.1
    fixed = _PinnedCost(s.objective.cost, i)
    others0 = device_array(np.delete(th, i))

    def refit(v, others):
        if others.size == 0:
            return float(fixed(others, np.float64(v), s.arrays)), others
        r = minimize(fixed, others, np.float64(v), s.arrays, **kw)
        return float(r.fun), r.x

    (lo, hi), grid, prof = profile_interval(refit, float(th[i]), step, rmse**2 / 2,
                                            cost0=float(pt["cost"]), warm=others0,
                                            max_steps=30)
    physical = jax.jit(pset.physical)

    def phys(v):
        if not np.isfinite(v):
            return float(v)
        x = th.copy()
        x[i] = v
        return float(np.asarray(physical(x))[pset.index[name]])

    a, b = phys(lo), phys(hi)
    return (min(a, b), max(a, b)), np.array([phys(g) for g in grid]), prof


def _result(s: FitSetup, r, pt: dict, *, max_iter, gtol, ftol, t_start, profiled) -> FitResult:
    """Checks, uncertainties and the labelled result of a fit (see :func:`fit_target`).

    ``pt``: :meth:`FitSetup.point` at the optimum ``r.x`` (one compiled program gives the
    Jacobian, details, matrices and populations).
    """
    model, pset = s.model, s.model.parameters
    status = int(r.status)
    if status == 3:
        raise FitError(f"{model.source}: the fit diverged — the cost or its gradient became "
                       f"NaN/inf after {int(r.n_iter)} iterations. Likely causes: a parameter "
                       "without bounds running away (give rates a lower bound 0, the IRF width "
                       "min > 0), t0 far outside the delay range, or a lifetime guess far too "
                       "short for the time grid; tighten bounds or start values")
    theta = np.asarray(r.x)
    # only through a bound's transform is a large unconstrained value a run-away (an unbounded
    # parameter, e.g. a band position in nm, is its own unconstrained value)
    bounded = bounded_mask(pset)
    if np.any((np.abs(theta) > 50) & bounded):
        bad = [n for n, v, b in zip(pset.free_names, theta, bounded) if abs(v) > 50 and b]
        warn_caller(f"parameters {bad} ran to the edge of their range (unconstrained value "
                    "> 50); they are probably not determined by the data",
                    ParameterAtBoundWarning)
    runaway = _runaway_message(s, r, theta, np.asarray(pt["physical"])) \
        if status == RUNAWAY else None
    if not bool(r.converged):
        why = (f"stopped at the iteration cap ({max_iter}); raise max_iter or check the start "
               "values" if status == 2 else runaway if status == RUNAWAY else
               "stalled: the line search found no decrease although the gradient is not small "
               "(a parameter may have run away; check bounds and start values)")
        warn_caller(f"{model.source}: the fit did not converge — {why}", ConvergenceWarning)
    fit_seconds = time.perf_counter() - t_start
    pvec = np.asarray(pt["physical"])
    n_amp = int(sum(int(np.sum(np.asarray(b[3]))) for b in pt["details"]))
    cost = float(pt["cost"])  # weighted residuals, guide rows and penalty rows
    cr, cov_phys = uncertainties(s, theta, n_amp, cost, pt["J"], dphys=pt["dphys"])
    se_phys = standard_errors(cov_phys)
    fixed = np.array([p.fixed for p in pset.params], bool)
    stderr = np.where(fixed | ~np.isfinite(se_phys), np.nan, se_phys)  # before build_summary
    ident = dict(zip(pset.free_names, cr.identifiable))
    params = {}
    for i, p in enumerate(pset.params):
        params[p.name] = parameter_entry(
            pvec[i], stderr[i], p.unit, fixed=p.fixed, free=p.free,
            expr=p.expr, bounds=(p.min, p.max),
            identifiable=bool(ident[p.name]) if p.free else None)
        if p.free and near_bound(float(pvec[i]), p.min, p.max):
            params[p.name]["at_bound"] = True
    at_bound = [n for n, e in params.items() if e.get("at_bound")]
    if at_bound:
        warn_caller(f"parameter(s) {at_bound} ended within 1 % of a bound",
                    ParameterAtBoundWarning)
    dataset = _result_dataset(s, pt, pvec, stderr, cov_phys)
    is_file = Path(model.source).is_file()
    summary = build_summary(
        model={"type": "target", "name": (Path(model.source).parent.name or model.source)
               if is_file else model.source, "file": model.source if is_file else None,
               "scheme": model.scheme_kind or "target"},
        status=status, n_iterations=int(r.n_iter), n_evaluations=int(r.n_eval),
        wall_time_s=time.perf_counter() - t_start, fit_time_s=fit_seconds,
        optimizer="optax L-BFGS (zoom line search), variable projection",
        criterion=f"max|grad| <= {gtol:g}*cost, or relative decrease <= {ftol:g} on 3 steps "
                  f"with max|grad| <= sqrt({gtol:g})*cost (gradient in the preconditioned "
                  "variables)",
        cost=cost, n_data=int(s.problem.n_data), n_amplitudes=n_amp, covariance=cr,
        parameters=params, datasets=[ds.attrs.get("source_file", "") for ds in s.datasets],
        message=runaway)
    if status == RUNAWAY:  # which parameters ran away (the message names the first)
        summary["runaway"] = [n for n, f in zip(pset.free_names, np.asarray(r.runaway)) if f]
    # which form of the kinetics gave the result (hotcarrier.kinetics.convolved_populations)
    summary["kinetics"] = s.objective.kinetics
    if model.non_negative:  # amplitudes held at 0 by an active constraint (docs/constraints.md)
        cons = model.non_negative_mask()
        ws = [np.asarray(w) for w in s.arrays["w"]]
        ws = [np.concatenate(ws, axis=1)] if s.problem.link else ws
        held = 0
        for g, b in enumerate(pt["details"]):
            a, live = np.asarray(b[0]), np.asarray(s.arrays["colmask"][g]) > 0
            has = np.any(ws[g] > 0, axis=1)[:, None]  # wavelengths with data
            held += int(np.sum((a == 0) & live & cons[None, :] & has))
        summary["nnls_zero_amplitudes"] = held
    if model.scheme_kind in ("parallel", "sequential"):
        taus = [params[f"tau{i + 1}"] for i in range(len(model.compartments))]
        summary["lifetimes_ps"] = [p["value"] for p in taus]
        summary["lifetimes_stderr_ps"] = [p["stderr"] for p in taus]
        summary["lifetime_warnings"] = _lifetime_warnings(s, params, taus)
        for w in summary["lifetime_warnings"]:
            warn_caller(w, LifetimeWarning)
    from ..preprocess import preprocessing_record

    summary["preprocessing"] = [preprocessing_record(ds) for ds in s.datasets]

    def profiler(name: str, **kw):
        with x64():
            return profile(s, theta, name, summary["parameters"][name]["stderr"] or math.nan,
                           summary["rmse"], **kw)

    if profiled:
        names = [profiled] if isinstance(profiled, str) else list(profiled)
        summary["profile_intervals"] = {n: list(profiler(n)[0]) for n in names}
    res = FitResult(dataset, summary, s, theta, profiler=profiler)
    rsvd = res.residual_svd()
    if rsvd is not None:  # the first dataset's verdict (docs/analysis.md)
        summary["residual_svd"] = {
            "verdict": rsvd.attrs["noise_verdict"], "noise_sigma": float(rsvd.attrs["noise_sigma"]),
            "n_structured": int(rsvd.attrs["noise_n_structured"]),
            "ratio_to_noise_edge": [round(float(x), 3) for x in rsvd["ratio"].values[:5]]}
    return res


def _lifetime_warnings(s: FitSetup, params: dict, taus: list) -> list[str]:
    """Plain-language warnings on the fitted lifetimes of a quick model
    (:func:`hotcarrier.fitting.result.lifetime_warnings`)."""
    from ..fitting.result import lifetime_warnings

    t0 = float(params["t0"]["value"]) if "t0" in params else 0.0
    first, last = _delay_window(s, t0)
    irf = params.get("irf_fwhm", {}).get("value")
    return lifetime_warnings([p["value"] for p in taus], [p["fixed"] for p in taus],
                             irf_fwhm_ps=irf, first_delay_ps=first, window_ps=last)


def _delay_window(s: FitSetup, t0: float = 0.0) -> tuple[float, float]:
    """(first, last) fitted delay after time zero ``t0`` over the datasets (ps)."""
    from ..dataset import TIME_DIM, fit_mask

    first, last = [], []
    for ds in s.datasets:
        t = ds[TIME_DIM].values[fit_mask(ds.transpose(TIME_DIM, ...)).any(axis=1)]
        first.append(float(t.min()) - t0)
        last.append(float(t.max()) - t0)
    return min(first), max(last)


def _runaway_message(s: FitSetup, r, theta, pvec) -> str:
    """The reason of a fit stopped early (status 6) for the first parameter that ran away:
    its value in natural units against the delay window or the IRF, and what to do
    (``pvec``: every parameter's physical value at ``theta``)."""
    from ..fitting.result import runaway_message

    pset = s.model.parameters
    flags = np.asarray(r.runaway, bool)
    i = int(np.argmax(flags)) if flags.any() else int(np.argmax(np.abs(theta)))
    name = pset.free_names[i]
    p = pset[name]
    value = float(pvec[pset.index[name]])
    # the end it was heading for: a bound, or ±inf (the transforms of fitting.params)
    up = theta[i] > 0
    if np.isfinite(p.min) and np.isfinite(p.max):
        end = p.max if up else p.min
    elif np.isfinite(p.min):
        end = math.inf if up else p.min
    elif np.isfinite(p.max):
        end = -math.inf if up else p.max
    else:
        end = math.inf if up else -math.inf
    t0 = float(pvec[pset.index["t0"]]) if "t0" in pset.index else 0.0
    irf = float(pvec[pset.index["irf_fwhm"]]) if "irf_fwhm" in pset.index else None
    return runaway_message(name, value, p.unit, end, n_iterations=int(r.n_iter),
                           window_ps=_delay_window(s, t0)[1], irf_fwhm_ps=irf,
                           component=not name.startswith(("irf", "t0")))


def _result_dataset(s: FitSetup, pt: dict, pvec, stderr, cov_phys) -> xr.Dataset:
    """Data, fit, residual, weights, spectra (SAS, DAS, others) and populations per dataset
    (suffix ``_<name>`` with several), and the parameters with their covariance."""
    from .. import __version__
    from ..dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, fit_mask

    model, det = s.model, pt["details"]
    n_sp, cols = len(model.free_species), model.column_names
    K, p0, Rm = (np.asarray(pt[k]) for k in ("rate_matrix", "initial", "relations"))
    data_vars, coords = {}, {}
    # the arrays may be padded (FitSetup): results are their leading n_delays/n_wavelengths
    offs = np.cumsum([0] + [len(np.asarray(t)) for t in s.arrays["t"]])
    n_t, n_w = s.problem.n_delays, s.problem.n_wavelengths
    for d, ds in enumerate(s.datasets):
        sfx = f"_{model.datasets[d].name}" if len(s.datasets) > 1 else ""
        dds = ds.transpose(TIME_DIM, SPECTRAL_DIM)
        t, wl = dds[TIME_DIM].values, dds[SPECTRAL_DIM].values
        tdim, wdim = TIME_DIM + sfx, SPECTRAL_DIM + sfx
        coords[tdim] = (tdim, t, {"units": "ps", "long_name": "pump–probe delay"})
        coords[wdim] = (wdim, wl, {"units": "nm", "long_name": "probe wavelength"})
        sig, used = dds[SIGNAL].values, fit_mask(dds)
        if s.problem.link:
            idx = s.problem.index[d]
            ok = idx >= 0
            fitm = np.full((t.size, wl.size), np.nan)
            coef = np.full((wl.size, len(cols)), np.nan)
            fitm[:, idx[ok]] = np.asarray(det[0][1])[:n_w[0]][ok, offs[d]:offs[d] + n_t[d]].T
            coef[idx[ok]] = np.asarray(det[0][0])[:n_w[0]][ok]
            weight = model.weight_map(d, t, wl) * used
        else:
            fitm = np.asarray(det[d][1])[:n_w[d], :n_t[d]].T
            coef = np.asarray(det[d][0])[:n_w[d]]
            weight = np.asarray(s.arrays["w"][d])[:n_w[d], :n_t[d]].T
        unit = dds[SIGNAL].attrs.get("units", "")
        cells = (tdim, wdim)
        data_vars["data" + sfx] = (cells, sig, {"units": unit, "long_name": "ΔA"})
        data_vars["fit" + sfx] = (cells, fitm, {"units": unit, "long_name": "fit"})
        data_vars["residual" + sfx] = (cells, np.where(used, sig - fitm, np.nan),
                                       {"units": unit, "long_name": "data − fit"})
        data_vars["weight" + sfx] = (cells, weight,
                                     {"long_name": "residual weight (0 = excluded)"})
        sas = Rm @ coef[:, :n_sp].T  # (species, W)
        data_vars["sas" + sfx] = (("species", wdim), sas,
                                  {"units": unit, "long_name": "species-associated spectra"})
        for j, c in enumerate(cols[n_sp:]):
            data_vars[f"{c}_spectrum{sfx}"] = ((wdim,), coef[:, n_sp + j], {"units": unit})
        data_vars.update(_time_domain_vars(model, d, coef, n_sp, pvec, stderr, wl, wdim, sfx,
                                           unit))
        data_vars["population" + sfx] = (
            ("species", tdim), np.asarray(pt["populations"][d])[:n_t[d]].T,
            {"long_name": f"population (IRF at {float(s.lam_ref[d]):.5g} nm)"})
        das, lam = _das(K, p0, sas)
        if das is not None:
            data_vars["das" + sfx] = (("decay", wdim), das,
                                      {"units": unit, "long_name": "decay-associated spectra"})
            coords["decay"] = ("decay", np.arange(len(lam)))
            data_vars["decay_lifetime"] = (("decay",), np.where(lam != 0, -1.0 / lam, np.inf),
                                           {"units": "ps"})
    names = model.parameters.names
    if model.oscillations:
        om = np.asarray(model.angular_frequencies(pvec))
        coords.update(
            oscillation=("oscillation", [o.label for o in model.oscillations]),
            oscillation_frequency=("oscillation", om / (2 * np.pi),
                                   {"units": "THz", "long_name": "frequency ω/2π"}),
            oscillation_rate=("oscillation", np.asarray(model.damping_rates(pvec)),
                              {"units": "ps⁻¹", "long_name": "damping rate"}))
    coords.update(species=("species", list(model.compartments)), param=("param", names),
                  param_=("param_", names))
    data_vars.update(value=(("param",), pvec), stderr=(("param",), stderr),
                     covariance=(("param", "param_"), cov_phys),
                     correlation=(("param", "param_"), correlation_matrix(cov_phys)))
    return xr.Dataset(data_vars, coords=coords,
                      attrs={"config": model.toml_text, "hotcarrier_version": __version__,
                             "model": model.source})


def _time_domain_vars(model, d: int, coef, n_sp: int, pvec, stderr, wl, wdim: str, sfx: str,
                      unit: str) -> dict:
    """DOAS, oscillation phases and per-wavelength time-zero shifts of dataset ``d``.

    An oscillation with column amplitudes (a_cos, a_sin) contributes
    D·e^{−γt}·cos(ωt + φ) ⊗ IRF with D = √(a_cos² + a_sin²) (``doas``, signal units: the
    oscillation's amplitude) and φ = atan2(−a_sin, a_cos) (``doas_phase``, rad, unwrapped
    along wavelength; pyglotaran's phase). pyglotaran's DOAS is D/2 (its columns are 2× ours).
    """
    out = {}
    n_osc = len(model.oscillations)
    if n_osc:
        a = coef[:, n_sp:n_sp + 2 * n_osc].reshape(len(wl), n_osc, 2)
        amp = np.hypot(a[..., 0], a[..., 1]).T  # (osc, W)
        phase = np.arctan2(-a[..., 1], a[..., 0]).T
        ok = np.all(np.isfinite(phase), axis=0)
        phase[:, ok] = np.unwrap(phase[:, ok], axis=1)
        out["doas" + sfx] = (("oscillation", wdim), amp,
                             {"units": unit, "long_name": "damped-oscillation-associated "
                              "spectra (amplitude D of D·e^{−γt}cos(ωt + φ))"})
        out["doas_phase" + sfx] = (("oscillation", wdim), phase,
                                   {"units": "rad", "long_name": "oscillation phase φ"})
    sh = model.datasets[d].irf.t0_shift
    if sh is not None and sh.names:
        idx = [model.parameters.index[n] for n in sh.names]
        grid = np.asarray(sh.wavelengths)
        out["t0_shift" + sfx] = ((wdim,), np.interp(wl, grid, np.asarray(pvec)[idx]),
                                 {"units": "ps", "long_name": "time-zero shift per wavelength"})
        out["t0_shift_stderr" + sfx] = ((wdim,), np.interp(wl, grid, np.asarray(stderr)[idx]),
                                        {"units": "ps"})
    return out


def _das(K, p0, sas):
    """Decay-associated spectra from the rate matrix when its eigenvalues are distinct."""
    lam, V = np.linalg.eig(K)
    if np.iscomplexobj(lam) and np.max(np.abs(lam.imag)) > 0:
        return None, None
    lam, V = lam.real, V.real
    srt = np.sort(lam)
    gaps = np.abs(np.diff(srt))
    if srt.size > 1 and np.any(gaps <= 1e-6 * np.maximum(np.abs(srt[1:]), 1e-12)):
        return None, None  # degenerate: DAS not defined
    c = np.linalg.solve(V, p0)
    A = V * c[None, :]  # x(t) = Σ_j A[:, j] e^{λ_j t}
    keep = np.abs(c) > 0
    order = np.argsort(lam[keep])  # fastest decay first
    A, lam = A[:, keep][:, order], lam[keep][order]
    return A.T @ sas, lam


@dataclass(frozen=True)
class _PinnedCost:
    """cost(θ_others, v) = cost(θ with θ[index] = v); hashable, so jit caches one program."""

    cost: Callable
    index: int

    def __call__(self, others, v, *args):
        x = jnp.concatenate([others[: self.index], jnp.atleast_1d(v), others[self.index:]])
        return self.cost(x, *args)

"""Global and target analysis: the edge API ``fit(data, model) -> FitResult``.

The pure core is :mod:`hotcarrier.varpro` (projected residual, jitted) minimised by
:func:`hotcarrier.optimize.minimize` (optax L-BFGS with zoom line search, in the unconstrained
parameter space). This module loads and preprocesses data, runs the fit, computes the
Gauss–Newton uncertainties and builds a :class:`~hotcarrier.result.FitResult`.

>>> from hotcarrier.fit import fit
>>> res = fit("demo.ascii", "model.toml")            # doctest: +SKIP
>>> res.summary()["cost"]                             # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ._x64 import with_x64
from .errors import ConvergenceWarning, FitError, ModelError, ParameterAtBoundWarning
from .optimize import STATUS_MESSAGES, minimize
from .targetmodel import TargetModel
from .uncertainty import gauss_newton_covariance, profile_interval
from .varpro import Objective, build_problem

__all__ = ["fit", "prepare", "FitSetup", "setup"]


def prepare(ds: xr.Dataset, options: dict | None = None, *, base_dir: Path | None = None
            ) -> xr.Dataset:
    """Apply preprocessing options to one TA dataset (in KiMoPack's order).

    Parameters
    ----------
    ds : xarray.Dataset
        TA dataset.
    options : dict
        Keys (all optional): ``bad_values`` (mask |signal| > X, plus the KiMoPack sentinel),
        ``merge_duplicate_delays`` (default True), ``background_before`` (ps; subtract the
        mean of earlier delays), ``chirp`` (file path, coefficient list, or "auto"),
        ``time_range`` [lo, hi] ps, ``wavelength_range`` [lo, hi] nm, ``exclude`` list of
        [lo, hi] nm bands (dropped).
    base_dir : Path, optional
        Folder relative to which a chirp file path is resolved.

    Returns
    -------
    xarray.Dataset
    """
    from . import preprocess as pp
    from .dataset import TIME_DIM

    o = dict(options or {})
    if o.get("bad_values") is not None:
        ds = pp.mask_bad_values(ds, threshold=float(o["bad_values"]))
    t = ds[TIME_DIM].values
    if o.get("merge_duplicate_delays", True) and np.any(np.diff(t) == 0):
        ds = pp.merge_duplicate_delays(ds)
    if o.get("background_before") is not None:
        ds = pp.subtract_background(ds, before=float(o["background_before"]))
    chirp = o.get("chirp")
    if chirp is not None:
        if isinstance(chirp, str) and chirp == "auto":
            coeffs = pp.estimate_chirp(ds).coeffs
        elif isinstance(chirp, (str, Path)):
            path = Path(chirp)
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            coeffs = pp.read_chirp_file(path)
        else:
            coeffs = np.asarray(chirp, float)
        ds = pp.chirp_correct(ds, coeffs)
    tr, wr = o.get("time_range"), o.get("wavelength_range")
    if tr is not None or wr is not None:
        ds = pp.crop(ds, delay=tuple(tr) if tr is not None else None,
                     wavelength=tuple(wr) if wr is not None else None)
    for lo, hi in o.get("exclude", []) or []:
        ds = pp.exclude_band(ds, float(lo), float(hi))
    return ds


def _load(item, model: TargetModel, base_dir):
    from .dataset import check_ta
    from .io import load_ta

    if isinstance(item, (str, Path)):
        ds = load_ta(item)
    elif isinstance(item, xr.Dataset):
        ds = item
    else:
        raise ModelError(f"cannot fit a {type(item).__name__}; pass a TA xarray.Dataset or a "
                         "file path")
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
        ``objective.cost(theta, arrays)`` is the jitted-friendly loss.
    theta0 : Array
        Unconstrained start vector.
    """

    def __init__(self, model: TargetModel, datasets: list[xr.Dataset], link_tolerance=0.01,
                 robust: bool = True):
        self.model = model
        self.datasets = datasets
        self.problem = build_problem(model, datasets, link_tolerance)
        self.objective = Objective.for_problem(model, self.problem, robust)
        self.theta0 = np.asarray(model.parameters.theta0(), dtype=float)
        self.arrays = self.problem.arrays
        # per dataset: the wavelength (nm) at which populations are reported
        self.lam_ref = np.array([_reference_wavelength(model, d, ds)
                                 for d, ds in enumerate(datasets)])

    def point(self, theta) -> dict:
        """:meth:`Objective.point` at ``theta`` on this setup's data (one compiled program)."""
        return self.objective.point(theta, self.arrays, self.lam_ref)

    def with_robust_kinetics(self) -> FitSetup:
        """The same setup with the objective that handles (nearly) equal rates."""
        other = object.__new__(FitSetup)
        other.__dict__.update(self.__dict__)
        other.objective = Objective.for_problem(self.model, self.problem, True)
        return other


def _reference_wavelength(model, d: int, ds) -> float:
    """The IRF's dispersion centre, else the median probe wavelength (nm)."""
    from .dataset import SPECTRAL_DIM

    irf = model.datasets[d].irf
    if irf.dispersion_center is not None:
        return float(irf.dispersion_center)
    return float(np.median(ds[SPECTRAL_DIM].values))


def _as_model(model) -> tuple[TargetModel, Path | None]:
    if isinstance(model, TargetModel):
        return model, None
    if isinstance(model, (str, Path)):
        from .modelfile import load_model

        return load_model(model), Path(model).resolve().parent
    raise ModelError(f"model must be a TargetModel or a TOML file path, not {type(model).__name__}")


@with_x64
def setup(data, model, *, link_tolerance: float = 0.01, robust: bool = True) -> FitSetup:
    """Load/prepare the data and bind the model (no fitting). See :func:`fit`.

    ``robust`` False binds the smaller objective whose kinetics are NaN at (nearly) equal
    rates (:func:`hotcarrier.kinetics.convolved_populations`).
    """
    model, base = _as_model(model)
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if len(items) != len(model.datasets):
        raise ModelError(f"{model.source}: {len(items)} dataset(s) given but the model describes "
                         f"{len(model.datasets)} ({', '.join(d.name for d in model.datasets)})")
    return FitSetup(model, [_load(x, model, base) for x in items], link_tolerance, robust)


@with_x64
def fit(data, model, *, max_iter: int = 2000, gtol: float = 1e-9, ftol: float = 1e-13,
        progress: Callable[[int, float, float], None] | None = None,
        profile: Sequence[str] | str | None = None, link_tolerance: float = 0.01):
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
        Convergence criterion of :func:`hotcarrier.optimize.minimize`.
    progress : callable, optional
        ``progress(iteration, cost, grad_norm)`` after every iteration.
    profile : str or sequence of str, optional
        Parameters for which a profile-likelihood 68 % interval is computed.
    link_tolerance : float, nm
        Wavelengths of different datasets closer than this share a spectrum (when linked).

    Returns
    -------
    FitResult

    Raises
    ------
    FitError
        If the model produces NaN/inf (start values, bounds) or the fit diverges.
    """
    from .result import FitResult

    t_start = time.perf_counter()
    # the Bateman-only kinetics compile in about half the time; where it meets (nearly) equal
    # rates it is NaN, and the fit is redone with the recursive divided differences
    s = setup(data, model, link_tolerance=link_tolerance, robust=False)
    model = s.model
    if not model.parameters.free_names:
        raise FitError(f"{model.source}: no free parameter to fit (all fixed or expressions)")
    out = _minimise(s, max_iter, gtol, ftol, progress)
    if out is None or _near_degenerate(s, out[1]):
        s = s.with_robust_kinetics()
        out = _minimise(s, max_iter, gtol, ftol, progress)
    r, evaluation = out
    return _finish(s, r, evaluation, max_iter=max_iter, gtol=gtol, ftol=ftol, t_start=t_start,
                   profile=profile)


def _minimise(s: FitSetup, max_iter, gtol, ftol, progress):
    """Preconditioned L-BFGS from the start values; (result, evaluation at the optimum).

    None when the start or the fit became non-finite with the fast (Bateman-only) objective,
    so that the caller retries with the robust one. One compiled program
    (:meth:`FitSetup.point`) serves the preconditioner, the start loss and gradient, and at
    the optimum the standard errors, the fit details and the near-degeneracy test.
    """
    start = s.point(s.theta0)
    cost0 = float(start["cost"])
    if not math.isfinite(cost0) or not np.all(np.isfinite(np.asarray(start["J"]))):
        if not s.objective.robust:
            return None
        raise FitError(f"{s.model.source}: the model is not finite at the start values (cost "
                       f"{cost0}); likely cause: a start value that makes a rate or the IRF "
                       "width zero/negative or an expression dividing by zero — check the "
                       "parameters")
    cb = _Progress(progress) if progress is not None else None
    D = np.asarray(start["precond"])
    # loss and gradient at the start from the evaluation above (u = D·θ, so ∇_u = ∇_θ / D)
    r = minimize(s.objective.scaled_cost, s.theta0 * D, s.arrays, D, max_iter=max_iter,
                 gtol=gtol, ftol=ftol, callback=cb, value0=cost0,
                 grad0=np.asarray(start["grad"]) / D)
    if int(r.status) == 3 and not s.objective.robust:
        return None
    theta = np.asarray(r.x) / D
    return r._replace(x=theta), s.point(theta)


def _near_degenerate(s: FitSetup, point: dict) -> bool:
    """True when the fast objective's optimum lies within 2 % of equal rates on a path."""
    return not s.objective.robust and bool(point["near_degenerate"])


def _finish(s: FitSetup, r, evaluation, *, max_iter, gtol, ftol, t_start, profile):
    from .result import FitResult

    model = s.model
    pset = model.parameters
    status = int(r.status)
    if status == 3:
        raise FitError(f"{model.source}: the fit diverged — the cost or its gradient became "
                       f"NaN/inf after {int(r.n_iter)} iterations. Likely causes: a parameter "
                       "without bounds running away (give rates a lower bound 0, the IRF width "
                       "min > 0), t0 far outside the delay range, or a lifetime guess far too "
                       "short for the time grid; tighten bounds or start values")
    theta = np.asarray(r.x)
    if np.any(np.abs(theta) > 50):
        bad = [n for n, v in zip(pset.free_names, theta) if abs(v) > 50]
        warnings.warn(f"parameters {bad} ran to the edge of their range (unconstrained value "
                      "> 50); they are probably not determined by the data", ParameterAtBoundWarning,
                      stacklevel=3)
    converged = bool(r.converged)
    if not converged:
        why = (f"stopped at the iteration cap ({max_iter}); raise max_iter or check the start "
               "values" if status == 2 else
               "stalled: the line search found no decrease although the gradient is not small "
               "(a parameter may have run away; check bounds and start values)")
        warnings.warn(f"{model.source}: the fit did not converge — {why}", ConvergenceWarning,
                      stacklevel=3)
    fit_seconds = time.perf_counter() - t_start
    return FitResult.from_fit(s, theta, opt=dict(
        converged=converged, status=status, message=STATUS_MESSAGES[status],
        n_iterations=int(r.n_iter), n_evaluations=int(r.n_eval), grad_norm=float(r.grad_norm),
        optimizer="optax L-BFGS (zoom line search), variable projection", gtol=gtol, ftol=ftol,
        fit_seconds=fit_seconds), t_start=t_start, profile=profile, evaluation=evaluation)


class _Progress:
    """Host-side progress callback wrapper (stable hash for the jit cache of minimize)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, it, f, g):
        self.fn(int(it), float(f), float(g))

    def __hash__(self):
        return hash((type(self), self.fn))

    def __eq__(self, o):
        return type(o) is type(self) and o.fn == self.fn


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
    from .uncertainty import propagate_covariance

    th = jnp.asarray(theta)
    J = s.objective.jacobian(th, s.arrays) if jac is None else jac
    # rows of masked cells are zero and carry no information
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
    th = jnp.asarray(theta)
    # derivative of the physical value w.r.t. its raw value gives the raw step
    dphys = float(jax.grad(lambda x: pset.physical(x)[pset.index[name]])(th)[i])
    step = 0.5 * stderr / abs(dphys) if np.isfinite(stderr) and dphys != 0 else 0.1
    lo, hi, grid, prof = profile_interval(s.objective.cost, th, i, step, s.arrays,
                                          threshold=rmse**2 / 2, **kw)

    def phys(v):
        if not np.isfinite(v):
            return float(v)
        x = th.at[i].set(v)
        return float(pset.physical(x)[pset.index[name]])

    a, b = phys(lo), phys(hi)
    return (min(a, b), max(a, b)), np.array([phys(g) for g in grid]), prof

"""Batched target-analysis fits: one compiled ``vmap`` over many datasets (or pixels).

Every item of a batch is fitted with the same :class:`~hotcarrier.target.model.TargetModel`
and the same array shapes, by the variable-projection objective of
:mod:`hotcarrier.target.objective` (spectra solved inside the loss by a LAPACK-free QR) minimised with
the per-item-convergent Levenberg–Marquardt loop of
:func:`hotcarrier.fitting.optimize.levenberg_marquardt` (Gauss–Newton model of the exact
variable-projection Jacobian; JᵀJ and the amplitudes at the optimum come out of the loop).
Items are fitted with the fast Bateman kinetics; those whose optimum lies within 2 % of equal
rates (or that fail) are refitted with the robust kinetics, as :func:`hotcarrier.target.fit.fit_target`
does. One chunk is fitted while the next is prepared and dispatched. The per-item work is

* ``S`` starts (multi-start) fitted side by side (an inner ``vmap``), the best converged one
  kept (lowest cost; the lowest cost overall when none converged);
* the physical parameter values, the Gauss–Newton matrix JᵀJ of the weighted varpro residual
  (for standard errors, by ``k`` Jacobian-vector products — never the full Jacobian) and the
  spectra (amplitudes) at the optimum.

An outer ``vmap`` maps that over the items of a chunk and :mod:`.sharding` spreads the chunk
over the devices; :mod:`.streaming` feeds chunks lazily. Items that fail (no usable data, a
non-finite loss, the iteration cap, a file that cannot be read) are flagged per item
(``converged`` False, ``status``) and never change the other items' results: each item has
its own ``while_loop`` state and a finished item is frozen.

The edge functions here take xarray TA datasets, file paths or NumPy arrays and return one
:class:`xarray.Dataset` with a ``batch`` dimension (:mod:`.results`).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import with_x64
from ..errors import FitError, HotcarrierError
from ..fitting.optimize import NO_DATA, NOT_PREPARED, STATUS_MESSAGES
from ..fitting.uncertainty import gauss_newton_covariances, propagate_covariance
from ..fitting.optimize import levenberg_marquardt
from .sharding import BatchMap, resolve_devices
from .streaming import DEFAULT_CHUNK_SIZE, call_progress, chunks, pad_to

__all__ = [
    "STATUS_MESSAGES",
    "BatchFitter",
    "fit_batch",
    "fit_arrays",
    "make_starts",
    "prepare_item",
]



# ---------------------------------------------------------------------------------------------
# items: arrays of one fit (NumPy, host side)
# ---------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """One batch item ready for the fitter (host arrays).

    Attributes
    ----------
    name : str
    arrays : dict or None
        The varpro arrays pytree of the item (NumPy); None when it could not be prepared.
    n_data : int
        Cells taking part in the fit.
    wavelengths : list of ndarray or None
        Evaluation wavelengths per block group (must equal the template's).
    error : str
        Why the item could not be prepared ("" when fine).
    """

    name: str
    arrays: dict | None
    n_data: int = 0
    wavelengths: list | None = None
    error: str = ""
    shared: tuple = ()


def prepare_item(model, item, name: str = "") -> Prepared:
    """Validate one item (a TA dataset or a tuple of them) and build its fit arrays.

    Problems (validation, model/data mismatch) are recorded in ``Prepared.error`` rather than
    raised, so one bad item does not stop a batch.
    """
    import xarray as xr

    from ..dataset import check_ta
    from ..target.objective import build_problem

    try:
        datasets = [item] if isinstance(item, xr.Dataset) else list(item)
        if len(datasets) != len(model.datasets):
            raise HotcarrierError(f"the model has {len(model.datasets)} dataset section(s) "
                                  f"but the item has {len(datasets)} dataset(s)")
        for ds in datasets:
            check_ta(ds, name or None)
        with jax.enable_x64(True):
            prob = build_problem(model, datasets)
        arrays = jax.tree.map(lambda a: np.asarray(a, dtype=float), prob.arrays)
        return Prepared(name, arrays, int(prob.n_data), [np.asarray(w, float)
                                                         for w in prob.wavelengths],
                        shared=tuple(prob.shared))
    except (HotcarrierError, ValueError, KeyError) as exc:
        return Prepared(name, None, 0, None, f"{type(exc).__name__}: {exc}")


def _load_item(model, path, loader) -> Prepared:
    name = Path(str(path)).name
    try:
        ds = loader(path)
    except (HotcarrierError, OSError, ValueError) as exc:
        return Prepared(name, None, 0, None, f"{type(exc).__name__}: {exc}")
    return prepare_item(model, ds, name)


def _default_loader(path):
    from ..io import load_ta

    return load_ta(path)


# ---------------------------------------------------------------------------------------------
# starts
# ---------------------------------------------------------------------------------------------

def make_starts(parameters, n_starts: int = 1, *, starts: Sequence[Mapping[str, float]] = (),
                factor: float = 3.0, seed: int = 0) -> np.ndarray:
    """Starting points (unconstrained θ) for a multi-start fit.

    Parameters
    ----------
    parameters : ParameterSet
        The model's parameters (their values are the first start).
    n_starts : int
        Total number of starts (≥ 1, ≥ 1 + len(starts)).
    starts : sequence of mapping
        Explicit starts as physical values ``{name: value}`` (missing names keep the model's
        start value); used after the model's own start.
    factor : float
        Random extra starts: every free parameter bounded below only (rates, lifetimes,
        widths) is scaled about its lower bound by a log-uniform factor in
        [1/``factor``, ``factor``]; a doubly bounded one moves by the same log amount in its
        logistic coordinate; an unbounded one (e.g. time zero) keeps its start value.
    seed : int
        Seed of the random starts.

    Returns
    -------
    ndarray (n_starts, n_free)
    """
    th = [parameters.theta0()]
    for s in starts:
        unknown = sorted(set(s) - set(parameters.names))
        if unknown:
            raise HotcarrierError(f"start {dict(s)}: unknown parameter(s) {unknown}")
        th.append(parameters.theta0(dict(s)))
    n_starts = max(int(n_starts), len(th))
    rng = np.random.default_rng(seed)
    lf = math.log(max(float(factor), 1.0))
    base = th[0]
    while len(th) < n_starts:
        t = base.copy()
        for i, n in enumerate(parameters.free_names):
            p = parameters[n]
            if np.isfinite(p.min) or np.isfinite(p.max):
                t[i] = base[i] + rng.uniform(-lf, lf)
        th.append(t)
    return np.stack(th)


# ---------------------------------------------------------------------------------------------
# the compiled fitter
# ---------------------------------------------------------------------------------------------

class BatchFitter:
    """A model compiled for one array layout; fits chunks of items on one or more devices.

    Parameters
    ----------
    model : TargetModel
    template : Prepared
        An item of the batch (its wavelength grid and array shapes define the layout).
    devices : see :func:`~hotcarrier.batch.sharding.resolve_devices`
    max_iter, gtol, ftol : options of :func:`hotcarrier.fitting.optimize.levenberg_marquardt`
    stderr : bool
        Compute JᵀJ per item (standard errors, identifiability).
    spectra : bool
        Return the fitted spectra (amplitudes) per item.
    shared : tuple of bool, optional
        One QR for all wavelengths per block group (default: the template's).
    robust : bool
        Robust (divided-difference) kinetics; False: the Bateman-only kinetics, NaN near
        equal rates, whose items there the driver refits with a robust fitter.

    Notes
    -----
    Per item and start, Levenberg–Marquardt (Marquardt's diagonal scaling, so no separate
    preconditioner) runs on the Gauss–Newton model (cost, Jᵀr, JᵀJ) of the exact
    variable-projection Jacobian; well-posed small global fits converge in a handful of
    evaluations, and a chunk runs until its slowest item stops. Where the weights are
    separable and the model has no IRF dispersion, one QR serves all wavelengths
    (``shared``) and JᵀJ is formed without the Jacobian
    (:meth:`hotcarrier.target.objective.Objective.normal_equations`). The compiled program is kept on
    the instance: new data of the same shapes does not recompile; :func:`fit_batch` keeps a
    small cache of fitters.
    """

    def __init__(self, model, template: Prepared, *, devices=None, max_iter: int = 200,
                 gtol: float = 1e-10, ftol: float = 1e-10, stderr: bool = True,
                 spectra: bool = True, shared: tuple | None = None, robust: bool = True):
        from ..target.objective import Objective, VarproProblem

        if template.arrays is None:
            raise FitError(f"template item {template.name!r} has no arrays")
        self.model = model
        self.parameters = model.parameters
        self.free_names = list(model.parameters.free_names)
        if not self.free_names:
            raise FitError(f"{model.source}: no free parameters to fit (all fixed or "
                           "expressions)")
        self.param_names = list(model.parameters.names)
        self.column_names = list(model.column_names)
        self.wavelengths = [np.asarray(w, float) for w in template.wavelengths]
        # one QR for all wavelengths where the template allows it (separable weights, no
        # dispersion); items that do not (e.g. NaN cells) go to a general fitter (_drive)
        self.shared = tuple(template.shared if shared is None else shared)
        problem = VarproProblem(link=model.link_spectra and len(model.datasets) > 1,
                                wavelengths=self.wavelengths, arrays=template.arrays,
                                index=[], n_data=template.n_data, shared=self.shared)
        self.robust = bool(robust)
        self.objective = Objective.for_problem(model, problem, robust=self.robust)
        self.n_blocks = len(self.wavelengths)
        self.template_arrays = template.arrays
        self.shapes = jax.tree.leaves(jax.tree.map(np.shape, self.template_arrays))
        self.treedef = jax.tree.structure(self.template_arrays)
        self.stderr = bool(stderr)
        self.spectra = bool(spectra) and self.n_blocks == 1
        self.opts = dict(max_iter=int(max_iter), gtol=float(gtol), ftol=float(ftol))
        self.devices = resolve_devices(devices)
        self.mapper = BatchMap(self._item, self.devices)

    # --------------------------------------------------------------------- per item (traced)
    def _one_start(self, theta0, arrays, yws):
        """Levenberg–Marquardt from one start; carries JᵀJ and the amplitudes at the optimum."""
        return levenberg_marquardt(self.objective.normal_equations, theta0, arrays, yws,
                                   normal=True, **self.opts)

    def _item(self, theta0s, arrays):
        yws = self.objective.weighted_data(arrays)  # loop-invariant: once per item
        res = jax.vmap(lambda th: self._one_start(th, arrays, yws))(theta0s)
        fun = jnp.where(jnp.isfinite(res.fun), res.fun, jnp.inf)
        conv = jnp.where(res.converged, fun, jnp.inf)
        best = jnp.where(jnp.any(res.converged), jnp.argmin(conv), jnp.argmin(fun))
        r = jax.tree.map(lambda a: a[best], res)
        theta = r.x
        out = dict(theta=theta, value=self.parameters.physical(theta),
                   dphys=jax.jacfwd(self.parameters.physical)(theta),
                   cost=r.fun, n_iter=r.n_iter, n_eval=r.n_eval, converged=r.converged,
                   status=r.status, grad_norm=r.grad_norm, best_start=best,
                   start_cost=res.fun, start_converged=res.converged,
                   n_amplitudes=sum(jnp.sum(active) for _, active in r.aux))
        if not self.robust:
            out["near_degenerate"] = self.objective.near_degenerate(theta)
        if self.stderr:
            out["jtj"] = r.jtj
        if self.spectra:
            out["spectra"] = r.aux[0][0]
        return out

    # --------------------------------------------------------------------- host side
    def check(self, item: Prepared) -> str:
        """'' when ``item`` matches the compiled layout, else what differs."""
        if item.arrays is None:
            return item.error or "no arrays"
        arrays = item.arrays
        if jax.tree.structure(arrays) != self.treedef:
            return "the item's fit arrays have another structure (number of datasets?)"
        shapes = jax.tree.leaves(jax.tree.map(np.shape, arrays))
        if shapes != self.shapes:
            return ("array shapes differ from the batch's; a batch needs equal shapes "
                    "(fit groups of equal shape separately: the CLI does this)")
        for a, b in zip(item.wavelengths or [], self.wavelengths):
            if a is b:
                continue
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-6):
                return ("wavelength grid differs from the batch's; a batch needs one grid "
                        "(fit groups of equal grids separately: the CLI does this)")
        return ""

    def accepts(self, item: Prepared) -> bool:
        """False when this fitter projects with one QR per block but ``item``'s weights are not
        separable (masked cells): such an item needs the general (per-wavelength) fitter."""
        if item.arrays is None or not any(self.shared):
            return True
        own = tuple(item.shared) or (False,) * len(self.shared)
        return all(o or not f for f, o in zip(self.shared, own))

    def placeholder(self) -> dict:
        """Arrays of a failed item: the template with every weight 0 (fits nothing)."""
        arr = jax.tree.map(np.array, self.template_arrays)
        arr["w"] = [np.zeros_like(w) for w in arr["w"]]
        return arr

    def dispatch(self, theta0s: np.ndarray, items: list[Prepared], size: int,
                 pad_with_placeholders: bool = False):
        """Start fitting ``items`` (padded to ``size``) and return a handle for :meth:`collect`.

        The arrays of items that failed or do not match the layout are replaced by a
        placeholder (all weights 0); those items get status :data:`NOT_PREPARED`. Padding
        repeats the first item (it converges like a real one), or with
        ``pad_with_placeholders`` uses placeholders, which stop at the first evaluation —
        for chunks of items that may run to the iteration cap (refits).
        """
        arrays, n_data, errors = [], [], []
        for it in items:
            err = self.check(it)
            if err:
                arrays.append(self.placeholder())
                n_data.append(0)
                errors.append(err)
            else:
                arrays.append(it.arrays)
                n_data.append(it.n_data)
                errors.append("")
        if pad_with_placeholders:
            arrays += [self.placeholder()] * (size - len(arrays))
        leaves = [jax.tree.leaves(a) for a in arrays]
        tree = jax.tree.unflatten(self.treedef, [pad_to(ls, size) for ls in zip(*leaves)])
        th = np.broadcast_to(theta0s, (size, *theta0s.shape)).copy()
        out = self.mapper(*self.mapper.put((th, tree)))
        return out, len(items), np.asarray(n_data), errors, [it.name for it in items]

    def collect(self, handle) -> dict:
        """Wait for a dispatched chunk and return its per-item results (NumPy)."""
        out, k, n_data, errors, names = handle
        r = {key: np.asarray(v)[:k] for key, v in out.items()}
        n_free = len(self.free_names)
        n_amp = r.pop("n_amplitudes").astype(np.int64)
        too_few = n_data <= n_free + n_amp
        failed = np.array([bool(e) for e in errors])
        status = np.where(failed, NOT_PREPARED, np.where(too_few, NO_DATA, r["status"]))
        flagged = failed | too_few
        r["status"] = status.astype(np.int32)
        r["converged"] = r["converged"] & ~flagged
        # a fast (Bateman-only) fitter hands items near equal rates, and its failures, to
        # the robust kinetics (_drive)
        r["retry"] = (np.zeros(k, bool) if self.robust else
                      ~flagged & (r.pop("near_degenerate") | ~r["converged"]))
        r["robust_kinetics"] = np.full(k, self.robust)
        r["n_data"] = n_data.astype(np.int64)
        r["error"] = np.array([e or ("" if s != NO_DATA else STATUS_MESSAGES[NO_DATA])
                               for e, s in zip(errors, status)], dtype=object)
        r["name"] = np.array(names, dtype=object)
        dof = n_data - n_free - n_amp
        r["chi2_red"] = np.where(dof > 0, 2.0 * r["cost"] / np.maximum(dof, 1), np.nan)
        n_par = len(self.param_names)
        std = np.full((k, n_par), np.nan)
        ident = np.zeros((k, n_free), bool)
        if self.stderr:
            jtj = np.where(flagged[:, None, None], np.nan, r.pop("jtj"))
            cov, ident = gauss_newton_covariances(jtj, r["cost"], n_data, n_amp)
            # delta method to the physical parameters, D = ∂value/∂θ
            D = r["dphys"]
            cp, _ = propagate_covariance(None, None, cov, ident, jac=D)
            std = np.sqrt(np.clip(np.diagonal(cp, axis1=1, axis2=2), 0.0, None))
            std[~np.any(np.abs(D) > 0, axis=2)] = np.nan  # fixed, or an item that was skipped
        r["stderr"] = std
        r["identifiable"] = ident
        r.pop("dphys")
        return r


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------

_FITTERS: dict = {}
_MAX_FITTERS = 8
#: Items per compiled call for refits with the robust kinetics when there are only a few.
_REFIT_CHUNK = 8


def _fitter_for(model, template: Prepared, devices, opts: dict,
                shared: tuple | None = None, robust: bool = True) -> BatchFitter:
    """A cached :class:`BatchFitter` (same model object, layout, options, devices, kinetics)."""
    devs = resolve_devices(devices)
    shared = tuple(template.shared if shared is None else shared)
    key = (model.cache_key(),
           tuple((tuple(np.shape(a)) for a in jax.tree.leaves(template.arrays))),
           tuple(w.tobytes() for w in template.wavelengths),
           tuple(sorted(opts.items())), tuple(d.id for d in devs), shared, bool(robust))
    hit = _FITTERS.get(key)
    if hit is not None:
        return hit
    fitter = BatchFitter(model, template, devices=devs, shared=shared, robust=robust, **opts)
    if len(_FITTERS) >= _MAX_FITTERS:
        _FITTERS.pop(next(iter(_FITTERS)))
    _FITTERS[key] = fitter
    return fitter


def _chunk_size(chunk_size: int, total: int | None, n_devices: int) -> int:
    """Items per compiled call: ``chunk_size``, or for a smaller batch the next power of two
    (so batches of similar size share one compiled program), a multiple of the devices."""
    size = int(chunk_size)
    if total is not None and total < size:
        size = min(size, 1 << max(int(total) - 1, 0).bit_length())
    return max(n_devices, int(math.ceil(size / n_devices)) * n_devices)


def _drive(model, items: Iterable[Prepared], total: int | None, theta0s: np.ndarray, *,
           chunk_size: int, devices, progress: Callable | None, opts: dict,
           fitter: BatchFitter | None = None):
    """Stream prepared items through a fitter; returns (fitter or None, list of chunk dicts)."""
    n_dev = len(resolve_devices(devices))
    size = _chunk_size(chunk_size, total, n_dev)
    it = chunks(items, size)
    results = []
    failed_early: list[Prepared] = []
    done = 0
    n_conv = 0

    def next_block():
        nonlocal fitter
        while True:
            block = next(it, None)
            if block is None:
                return None
            if fitter is None:
                good = next((b for b in block if b.arrays is not None), None)
                if good is None:  # no template yet: keep the (small) failed records
                    failed_early.extend(block)
                    continue
                fitter = _fitter_for(model, good, devices, opts, robust=False)
                block = failed_early + block
                failed_early.clear()
            return block

    def fitter_of(shared: tuple, robust: bool, template: Prepared) -> BatchFitter:
        # cached by _fitter_for: the fast one-QR fitter is ``fitter`` itself
        return _fitter_for(model, template, devices, opts, shared=shared, robust=robust)

    def start(sub: list[Prepared]) -> list:
        """Dispatch one chunk (asynchronous): [(indices, shared, items, handle), ...]."""
        ok = [i for i, it in enumerate(sub) if fitter.accepts(it)]
        other = [i for i, it in enumerate(sub) if not fitter.accepts(it)]
        parts = []
        if other:  # masked cells: the general (per-wavelength) projection
            parts.append((other, (False,) * len(fitter.shared)))
        if ok:
            parts.append((ok, fitter.shared))
        out = []
        for idx, shared in parts:
            group = [sub[i] for i in idx]
            fast = fitter_of(shared, False, group[0])
            out.append((idx, shared, group, fast.dispatch(theta0s, group, size)))
        return out

    def finish(sub: list[Prepared], started: list) -> dict:
        """Collect a dispatched chunk. The fast (Bateman-only) kinetics' items near equal
        rates, and its failures, are fitted again with the robust kinetics (as
        :func:`hotcarrier.target.fit.fit_target` does)."""
        parts = []
        for idx, shared, group, handle in started:
            res = fitter_of(shared, False, group[0]).collect(handle)
            again = np.flatnonzero(res.pop("retry"))
            if again.size:
                robust = fitter_of(shared, True, group[int(again[0])])
                # refits are rare: a small program for a few (placeholders pad, so a copy
                # of an item that runs to the iteration cap is never fitted many times)
                small = min(_chunk_size(_REFIT_CHUNK, None, n_dev), size)
                rsize = small if again.size <= small else size
                redo = robust.collect(robust.dispatch(theta0s, [group[i] for i in again],
                                                      rsize, pad_with_placeholders=True))
                redo.pop("retry")
                keep = np.setdiff1d(np.arange(len(group)), again)
                res = _merge([(keep, {k: v[keep] for k, v in res.items()}), (again, redo)],
                             len(group))
            parts.append((idx, res))
        return parts[0][1] if len(parts) == 1 else _merge(parts, len(sub))

    def sub_chunks():
        block = next_block()
        while block is not None:  # blocks longer than size (failed records prepended) split
            yield from (block[i:i + size] for i in range(0, len(block), size))
            block = next_block()

    # one chunk in flight while the next is read, prepared and dispatched, so host work
    # (loading, stacking, covariances) overlaps the compiled fits
    previous = None
    for sub in itertools.chain(sub_chunks(), [None]):
        current = None if sub is None else (sub, start(sub))
        if previous is not None:
            r = finish(*previous)
            results.append(r)
            done += len(previous[0])
            n_conv += int(np.sum(r["converged"]))
            call_progress(progress, done, total, {"n_converged": n_conv})
        previous = current
    return fitter, results, failed_early


def _merge(parts: list, k: int) -> dict:
    """Per-item results of one chunk from parts ``[(indices, results), ...]``, in item order."""
    out = {}
    for key in parts[0][1]:
        first = np.asarray(parts[0][1][key])
        arr = np.empty((k, *first.shape[1:]), dtype=first.dtype)
        for idx, res in parts:
            arr[np.asarray(idx, int)] = np.asarray(res[key])
        out[key] = arr
    return out


def _concat(results: list[dict]) -> dict:
    keys = results[0].keys()
    return {k: np.concatenate([r[k] for r in results], axis=0) for k in keys}


def _failed_results(fitter_like: dict, items: list[Prepared], n_starts: int) -> dict:
    """Results of items that never reached a fitter (nothing could be prepared)."""
    k = len(items)
    n_par, n_free = fitter_like["n_par"], fitter_like["n_free"]
    nan = np.full(k, np.nan)
    return dict(theta=np.full((k, n_free), np.nan), value=np.full((k, n_par), np.nan),
                cost=nan, n_iter=np.zeros(k, np.int32), n_eval=np.zeros(k, np.int32),
                converged=np.zeros(k, bool), status=np.full(k, NOT_PREPARED, np.int32), grad_norm=nan,
                best_start=np.zeros(k, np.int64), start_cost=np.full((k, n_starts), np.nan),
                start_converged=np.zeros((k, n_starts), bool), n_data=np.zeros(k, np.int64),
                error=np.array([it.error for it in items], dtype=object),
                name=np.array([it.name for it in items], dtype=object), chi2_red=nan,
                stderr=np.full((k, n_par), np.nan), identifiable=np.zeros((k, n_free), bool),
                robust_kinetics=np.zeros(k, bool))


def _run(model, items: Iterable[Prepared], total: int | None, *, starts, n_starts, start_factor,
         seed, chunk_size, devices, progress, max_iter, gtol, ftol, stderr, spectra,
         attrs: dict | None = None, theta0s=None):
    from .results import results_to_dataset

    t_start = time.perf_counter()
    if theta0s is None:
        theta0s = make_starts(model.parameters, n_starts, starts=starts or (),
                              factor=start_factor, seed=seed)
    opts = dict(max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra)
    fitter, results, failed = _drive(model, items, total, np.asarray(theta0s, float),
                                     chunk_size=chunk_size, devices=devices, progress=progress,
                                     opts=opts)
    if fitter is None:
        if not failed:
            raise FitError("the batch is empty: no items to fit")
        res = _failed_results(dict(n_par=len(model.parameters.names),
                                   n_free=len(model.parameters.free_names)), failed,
                              len(theta0s))
        wavelengths, cols, n_dev = None, None, len(resolve_devices(devices))
    else:
        res = _concat(results)
        wavelengths = fitter.wavelengths[0] if fitter.spectra else None
        cols, n_dev = fitter.column_names, fitter.mapper.n_devices
    size = _chunk_size(chunk_size, total, n_dev)
    a = dict(attrs or {})
    a.update(n_devices=n_dev, chunk_size=size, n_starts=int(len(theta0s)),
             wall_s=time.perf_counter() - t_start, max_iter=int(max_iter))
    return results_to_dataset(model, res, wavelengths=wavelengths, column_names=cols, attrs=a)


# ---------------------------------------------------------------------------------------------
# public edge
# ---------------------------------------------------------------------------------------------

@with_x64
def fit_batch(model, data: Iterable, *, names: Sequence[str] | None = None,
              starts: Sequence[Mapping[str, float]] = (), n_starts: int = 1,
              start_factor: float = 3.0, seed: int = 0,
              chunk_size: int = DEFAULT_CHUNK_SIZE, devices=None,
              progress: Callable | None = None, max_iter: int = 200, gtol: float = 1e-10,
              ftol: float = 1e-10, stderr: bool = True, spectra: bool = True,
              loader: Callable | None = None):
    """Fit many TA datasets with one model in compiled, vmapped, chunked calls.

    Parameters
    ----------
    model : TargetModel, PhysicalModel, or a model-file path
        The model (start values, bounds, fixed parameters) shared by every item. A physical
        model (or a ``type = "hotcarrier"`` file) goes to
        :func:`hotcarrier.batch.physical.fit_physical_batch`: each item is then one sample's
        data (a bundle file, a list of files, or a dict of datasets) and only ``names``,
        ``devices``, ``max_iter`` and ``stderr`` apply.
    data : iterable
        TA datasets (:class:`xarray.Dataset`), tuples of them for a multi-dataset model, or
        file paths (loaded lazily, chunk by chunk, with ``loader``). Generators are consumed
        lazily: peak memory follows ``chunk_size``, not the number of items. Every item must
        have the same array shapes and wavelength grid (delays may differ); items that do not
        are flagged (status 11) rather than fitted.
    names : sequence of str, optional
        Item names (default: file names for paths, ``source_file`` attrs, else indices).
    starts : sequence of mapping
        Extra explicit starts ``{name: physical value}`` (multi-start).
    n_starts : int
        Total starts per item (random ones fill up, see :func:`make_starts`); the best
        converged start is kept per item.
    start_factor, seed : float, int
        Spread and seed of the random starts.
    chunk_size : int
        Items per compiled call (default 256; ≤ 512 keeps clear of the jax 0.10 CPU
        batched-LAPACK dead-lock and bounds memory). Rounded up to a multiple of the devices.
    devices : None, "all", int or sequence of jax.Device
        Devices to shard each chunk over (default: all local devices).
    progress : callable, optional
        ``progress(done, total, info)`` after every chunk, e.g. :class:`TextProgress`.
    max_iter, gtol, ftol : options of :func:`hotcarrier.fitting.optimize.levenberg_marquardt`
    stderr : bool
        Standard errors from the Gauss–Newton covariance (pyglotaran's convention).
    spectra : bool
        Keep the fitted spectra (amplitudes) per item (single-block models only).
    loader : callable, optional
        ``loader(path) -> Dataset`` for path items (default :func:`hotcarrier.io.load_ta`).

    Returns
    -------
    xarray.Dataset
        Dims ``batch``, ``param``, ``free_param``, ``start`` (and ``column``, ``wavelength``
        with spectra); see :func:`hotcarrier.batch.results.results_to_dataset`.
    """
    from ..api import load_model, model_kind

    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if model_kind(model) == "physical":
        from .physical import fit_physical_batch

        return fit_physical_batch(model, list(data), names=names, devices=devices,
                                  max_iter=max_iter, stderr=stderr)
    total = len(data) if hasattr(data, "__len__") else None
    loader = loader or _default_loader
    name_list = list(names) if names is not None else None

    def gen():
        for i, item in enumerate(data):
            nm = name_list[i] if name_list is not None else None
            if isinstance(item, (str, os.PathLike)):
                p = _load_item(model, item, loader)
                if nm:
                    p.name = nm
            else:
                default = nm or _item_name(item, i)
                p = prepare_item(model, item, default)
            yield p

    return _run(model, gen(), total, starts=starts, n_starts=n_starts, start_factor=start_factor,
                seed=seed, chunk_size=chunk_size, devices=devices, progress=progress,
                max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra,
                attrs={"source": "fit_batch"})


def _item_name(item, i: int) -> str:
    attrs = getattr(item, "attrs", None)
    if attrs and attrs.get("source_file"):
        return Path(str(attrs["source_file"])).name
    return str(i)


@with_x64
def fit_arrays(model, delay, wavelength, signal, *, weight=None, names=None,
               starts: Sequence[Mapping[str, float]] = (), n_starts: int = 1,
               start_factor: float = 3.0, seed: int = 0, chunk_size: int = DEFAULT_CHUNK_SIZE,
               devices=None, progress: Callable | None = None, max_iter: int = 500,
               gtol: float = 1e-10, ftol: float = 1e-10, stderr: bool = True,
               spectra: bool = True):
    """Fit a stack of maps on one delay × wavelength grid (pixels, series) — the fast path.

    Parameters
    ----------
    model : TargetModel
        A single-dataset model.
    delay : array (T,), ps
    wavelength : array (W,), nm
    signal : array-like (N, T, W)
        ΔA maps; NaN cells are left out of the fit. Only ``signal[i0:i1]`` slices of one chunk
        are read at a time, so a ``numpy.memmap`` or an h5py/zarr dataset streams from disk.
    weight : array (T, W) or (N, T, W), optional
        Residual weights (≥ 0) multiplying the model's own weights.
    names : sequence of str, optional
    Other parameters
        As in :func:`fit_batch`.

    Returns
    -------
    xarray.Dataset
        As :func:`fit_batch`.
    """
    from ..dataset import make_ta_dataset
    from ..target.objective import separable_weights

    if len(model.datasets) != 1:
        raise HotcarrierError("fit_arrays needs a single-dataset model; use fit_batch with "
                              "tuples of datasets")
    t = np.asarray(delay, float)
    wl = np.asarray(wavelength, float)
    shape = tuple(np.shape(signal))
    if len(shape) != 3 or shape[1:] != (t.size, wl.size):
        raise HotcarrierError(f"signal has shape {shape}; expected (N, {t.size}, {wl.size}) "
                              "(items, delays, wavelengths)")
    n = shape[0]
    if weight is not None:
        weight = np.asarray(weight, float)
        if weight.shape not in ((t.size, wl.size), (n, t.size, wl.size)):
            raise HotcarrierError(f"weight has shape {weight.shape}; expected "
                                  f"({t.size}, {wl.size}) or ({n}, {t.size}, {wl.size})")
    # template: one item through the general path (weights of the model, column masks)
    tmpl = prepare_item(model, make_ta_dataset(t, wl, np.zeros((t.size, wl.size))), "template")
    if tmpl.arrays is None:
        raise HotcarrierError(f"cannot build the fit arrays: {tmpl.error}")
    base_w = tmpl.arrays["w"][0]  # (W, T): the model's weight map
    name_list = list(names) if names is not None else [str(i) for i in range(n)]
    block = max(1, int(chunk_size))

    def gen():
        for i0 in range(0, n, block):
            S = np.asarray(signal[i0:i0 + block], float)
            finite = np.isfinite(S).all(axis=(1, 2))
            for j in range(S.shape[0]):
                s = S[j].T  # (W, T)
                arrays = dict(tmpl.arrays)
                if finite[j] and weight is None:  # the common case: the template's weights
                    arrays["y"], arrays["w"] = [s], [base_w]
                    yield Prepared(name_list[i0 + j], arrays, tmpl.n_data, tmpl.wavelengths,
                                   shared=tmpl.shared)
                    continue
                ok = np.isfinite(s)
                w = base_w * ok
                if weight is not None:
                    wj = weight if weight.ndim == 2 else weight[i0 + j]
                    w = w * wj.T
                arrays["y"] = [np.where(ok, s, 0.0)]
                arrays["w"] = [w]
                # one QR for all wavelengths unless NaN cells/weights break separability
                shared = (bool(tmpl.shared and tmpl.shared[0]) and separable_weights(w),)
                yield Prepared(name_list[i0 + j], arrays, int(np.sum(w > 0)), tmpl.wavelengths,
                               shared=shared)

    return _run(model, gen(), n, starts=starts, n_starts=n_starts, start_factor=start_factor,
                seed=seed, chunk_size=chunk_size, devices=devices, progress=progress,
                max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra,
                attrs={"source": "fit_arrays"})

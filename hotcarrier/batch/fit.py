"""Batched target-analysis fits: one compiled ``vmap`` over many datasets (or pixels).

Every item is fitted with the same :class:`~hotcarrier.target.model.TargetModel` and array
shapes, by the variable-projection objective of :mod:`hotcarrier.target.objective` minimised
with the per-item-convergent :func:`hotcarrier.fitting.optimize.levenberg_marquardt`. Per item,
``S`` starts run side by side (the best converged one is kept) and JᵀJ (standard errors) and
the spectra at the optimum come out of the loop. An outer ``vmap`` maps the items of a chunk,
:mod:`.sharding` spreads it over devices and :mod:`.streaming` feeds chunks lazily (one chunk
is fitted while the next is prepared). Failing items are flagged per item (``converged``,
``status``) and never change the others' results.
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
from ..fitting.optimize import NO_DATA, NOT_PREPARED, STATUS_MESSAGES, levenberg_marquardt
from ..target.fit import bounded_mask
from .results import failed_results, item_statistics, merge_items, results_to_dataset
from .sharding import BatchMap, resolve_devices
from .streaming import DEFAULT_CHUNK_SIZE, chunks, pad_to

__all__ = ["STATUS_MESSAGES", "BatchFitter", "fit_batch", "fit_arrays", "make_starts",
           "prepare_item"]


@dataclass
class Prepared:
    """One batch item ready for the fitter: its varpro ``arrays`` pytree (NumPy; None when it
    could not be prepared, ``error`` says why), ``n_data`` fitted cells, the evaluation
    ``wavelengths`` per block group and ``shared`` (one QR per block group)."""

    name: str
    arrays: dict | None
    n_data: int = 0
    wavelengths: list | None = None
    error: str = ""
    shared: tuple = ()

    @classmethod
    def failed(cls, name: str, exc: Exception) -> Prepared:
        """An item that could not be read or prepared."""
        return cls(name, None, error=f"{type(exc).__name__}: {exc}")


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
        return Prepared(name, arrays, int(prob.n_data),
                        [np.asarray(w, float) for w in prob.wavelengths], shared=tuple(prob.shared))
    except (HotcarrierError, ValueError, KeyError) as exc:
        return Prepared.failed(name, exc)


def make_starts(parameters, n_starts: int = 1, *, starts: Sequence[Mapping[str, float]] = (),
                factor: float = 3.0, seed: int = 0) -> np.ndarray:
    """Starting points (unconstrained θ, array (n_starts, n_free)) for a multi-start fit.

    The model's start first, then the explicit ``starts`` (physical values ``{name: value}``;
    missing names keep the model's start), then random ones (seed ``seed``) up to
    ``n_starts``: every bounded free parameter moves by a uniform amount in
    [−log ``factor``, log ``factor``] in its unconstrained coordinate (a log-uniform factor
    about its bound for a lower-bounded one); an unbounded one (e.g. time zero) keeps its start.
    """
    th = [parameters.theta0()]
    for s in starts:
        unknown = sorted(set(s) - set(parameters.names))
        if unknown:
            raise HotcarrierError(f"start {dict(s)}: unknown parameter(s) {unknown}")
        th.append(parameters.theta0(dict(s)))
    bounded = bounded_mask(parameters)
    lf = math.log(max(float(factor), 1.0))
    extra = np.tile(th[0], (max(int(n_starts) - len(th), 0), 1))
    extra[:, bounded] += np.random.default_rng(seed).uniform(-lf, lf, (len(extra), bounded.sum()))
    return np.concatenate([np.stack(th), extra])


class BatchFitter:
    """A model compiled for one array layout; fits chunks of items on one or more devices.

    Parameters
    ----------
    model : TargetModel
    template : Prepared
        An item of the batch (its wavelength grid and array shapes define the layout).
    devices : see :func:`~hotcarrier.batch.sharding.resolve_devices`
    max_iter, gtol, ftol : options of :func:`hotcarrier.fitting.optimize.levenberg_marquardt`
    stderr, spectra : bool
        Compute JᵀJ (standard errors) / keep the spectra (amplitudes) per item.
    shared : tuple of bool, optional
        One QR for all wavelengths per block group (default: the template's; needs separable
        weights and no IRF dispersion, then JᵀJ is formed without the Jacobian).

    The compiled program is kept on the instance (new data of the same shapes does not
    recompile); :func:`fit_batch` keeps a small cache of fitters.
    """

    def __init__(self, model, template: Prepared, *, devices=None, max_iter: int = 200,
                 gtol: float = 1e-10, ftol: float = 1e-10, stderr: bool = True,
                 spectra: bool = True, shared: tuple | None = None):
        from ..target.objective import Objective, VarproProblem

        if template.arrays is None:
            raise FitError(f"template item {template.name!r} has no arrays")
        self.parameters = model.parameters
        self.free_names = list(model.parameters.free_names)
        self.bounded = bounded_mask(model.parameters)
        if not self.free_names:
            raise FitError(f"{model.source}: no free parameters to fit (all fixed or "
                           "expressions)")
        self.column_names = list(model.column_names)
        self.template = template
        self.wavelengths = [np.asarray(w, float) for w in template.wavelengths]
        self.shared = tuple(template.shared if shared is None else shared)
        problem = VarproProblem(link=model.link_spectra and len(model.datasets) > 1,
                                wavelengths=self.wavelengths, arrays=template.arrays,
                                index=[], n_data=template.n_data, shared=self.shared)
        self.objective = Objective.for_problem(model, problem, "newton")
        self.shapes = jax.tree.leaves(jax.tree.map(np.shape, template.arrays))
        self.treedef = jax.tree.structure(template.arrays)
        self.stderr = bool(stderr)
        self.spectra = bool(spectra) and len(self.wavelengths) == 1
        self.opts = dict(max_iter=int(max_iter), gtol=float(gtol), ftol=float(ftol))
        # kept on disk by its structure (the objective's and the outputs asked for)
        key = repr(("target", model.cache_key(), problem.link, self.shared, self.stderr,
                    self.spectra))
        self.mapper = BatchMap(self._item, resolve_devices(devices), key)

    def _item(self, theta0s, arrays, opts):
        """One item (traced): LM from every start; the best converged one is kept.
        ``opts`` (max_iter, gtol, ftol) are traced: a new cap or tolerance does not
        recompile."""
        yws = self.objective.weighted_data(arrays)  # loop-invariant: once per item
        # the run-away stop (status 6) judges bounded parameters only, as the single fit
        step = np.where(self.bounded, 1.0, np.inf)
        res = jax.vmap(lambda th: levenberg_marquardt(self.objective.normal_equations, th,
                                                      arrays, yws, normal=True,
                                                      runaway_step=step, **opts))(theta0s)
        fun = jnp.where(jnp.isfinite(res.fun), res.fun, jnp.inf)
        conv = jnp.where(res.converged, fun, jnp.inf)
        best = jnp.where(jnp.any(res.converged), jnp.argmin(conv), jnp.argmin(fun))
        r = jax.tree.map(lambda a: a[best], res)
        out = dict(theta=r.x, value=self.parameters.physical(r.x),
                   dphys=jax.jacfwd(self.parameters.physical)(r.x),
                   cost=r.fun, n_iter=r.n_iter, n_eval=r.n_eval, converged=r.converged,
                   status=r.status, grad_norm=r.grad_norm, best_start=best,
                   start_cost=res.fun, start_converged=res.converged,
                   n_amplitudes=sum(jnp.sum(active) for _, active in r.aux))
        if self.stderr:
            out["jtj"] = r.jtj
        if self.spectra:
            out["spectra"] = r.aux[0][0]
        return out

    def check(self, item: Prepared) -> str:
        """'' when ``item`` matches the compiled layout, else what differs."""
        if item.arrays is None:
            return item.error or "no arrays"
        if jax.tree.structure(item.arrays) != self.treedef:
            return "the item's fit arrays have another structure (number of datasets?)"
        if jax.tree.leaves(jax.tree.map(np.shape, item.arrays)) != self.shapes:
            return ("array shapes differ from the batch's; a batch needs equal shapes "
                    "(fit groups of equal shape separately: the CLI does this)")
        if not all(a is b or (a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-6))
                   for a, b in zip(item.wavelengths or [], self.wavelengths)):
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
        arr = jax.tree.map(np.array, self.template.arrays)
        arr["w"] = [np.zeros_like(w) for w in arr["w"]]
        return arr

    def dispatch(self, theta0s: np.ndarray, items: list[Prepared], size: int,
                 pad_with_placeholders: bool = False):
        """Start fitting ``items`` (padded to ``size``) and return a handle for :meth:`collect`.

        Items that failed or do not match the layout get a placeholder (all weights 0) and
        status :data:`NOT_PREPARED`. Padding repeats the first item (it converges like a real
        one), or with ``pad_with_placeholders`` uses placeholders, which stop at the first
        evaluation — for chunks of items that may run to the iteration cap (refits).
        """
        errors = [self.check(it) for it in items]
        arrays = [self.placeholder() if e else it.arrays for e, it in zip(errors, items)]
        if pad_with_placeholders:
            arrays += [self.placeholder()] * (size - len(arrays))
        leaves = zip(*(jax.tree.leaves(a) for a in arrays))
        tree = jax.tree.unflatten(self.treedef, [pad_to(ls, size) for ls in leaves])
        th = np.broadcast_to(theta0s, (size, *theta0s.shape)).copy()
        opts = {k: np.full(size, v, np.int32 if k == "max_iter" else float)
                for k, v in self.opts.items()}
        out = self.mapper(*self.mapper.put((th, tree, opts)))
        n_data = np.array([0 if e else it.n_data for e, it in zip(errors, items)], np.int64)
        return out, len(items), n_data, errors, [it.name for it in items]

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
        r["n_data"] = n_data
        r["error"] = np.array([e or (STATUS_MESSAGES[NO_DATA] if s == NO_DATA else "")
                               for e, s in zip(errors, status)], dtype=object)
        r["name"] = np.array(names, dtype=object)
        D = r.pop("dphys")  # ∂value/∂θ
        r["chi2_red"], r["stderr"], r["identifiable"] = item_statistics(
            r["cost"], n_data, n_free, n_amp, D, r.pop("jtj", None), flagged)
        r["stderr"][~np.any(np.abs(D) > 0, axis=2)] = np.nan  # fixed, or an item skipped
        return r


_FITTERS: dict = {}
_MAX_FITTERS = 8
#: Smallest compiled chunk of a short batch (padding a few items costs less than compiling
#: a program per batch size).
_MIN_CHUNK = 8


def _fitter_for(model, template: Prepared, devices, opts: dict,
                shared: tuple | None = None) -> BatchFitter:
    """A cached :class:`BatchFitter` (same model object, layout, outputs, devices;
    the iteration cap and tolerances are data of its program, set here per call)."""
    devs = resolve_devices(devices)
    shared = tuple(template.shared if shared is None else shared)
    traced = {k: v for k, v in opts.items() if k in ("max_iter", "gtol", "ftol")}
    key = (model.cache_key(),
           tuple(tuple(np.shape(a)) for a in jax.tree.leaves(template.arrays)),
           tuple(w.tobytes() for w in template.wavelengths),
           tuple(sorted((k, v) for k, v in opts.items() if k not in traced)),
           tuple(d.id for d in devs), shared)
    if key not in _FITTERS:
        if len(_FITTERS) >= _MAX_FITTERS:
            _FITTERS.pop(next(iter(_FITTERS)))
        _FITTERS[key] = BatchFitter(model, template, devices=devs, shared=shared, **opts)
    fitter = _FITTERS[key]
    fitter.opts.update({k: type(fitter.opts[k])(v) for k, v in traced.items()})
    return fitter


def _chunk_size(chunk_size: int, total: int | None, n_devices: int) -> int:
    """Items per compiled call: ``chunk_size``, or for a smaller batch the next power of two
    from :data:`_MIN_CHUNK` up (so batches of similar size share one compiled program: 1 to 8
    items one, 9 to 16 the next), a multiple of the devices."""
    size = int(chunk_size)
    if total is not None and total < size:
        size = min(size, max(_MIN_CHUNK, 1 << max(int(total) - 1, 0).bit_length()))
    return max(n_devices, int(math.ceil(size / n_devices)) * n_devices)


def _drive(model, items: Iterable[Prepared], total: int | None, theta0s: np.ndarray, *,
           chunk_size: int, devices, progress: Callable | None, opts: dict):
    """Stream prepared items through the fitters; returns (the fast fitter or None, list of
    chunk dicts, the items that failed before any could serve as the template)."""
    n_dev = len(resolve_devices(devices))
    size = _chunk_size(chunk_size, total, n_dev)
    results, failed_early, fitter = [], [], None

    def fitter_of(shared: tuple) -> BatchFitter:
        # cached by _fitter_for: the fast one-QR fitter is ``fitter`` itself
        return _fitter_for(model, fitter.template, devices, opts, shared=shared)

    def sub_chunks():
        nonlocal fitter
        for block in chunks(items, size):
            if fitter is None:
                good = next((b for b in block if b.arrays is not None), None)
                if good is None:  # no template yet: keep the (small) failed records
                    failed_early.extend(block)
                    continue
                fitter = _fitter_for(model, good, devices, opts)
                block = failed_early + block
                failed_early.clear()
            # blocks longer than size (failed records prepended) split
            yield from (block[i:i + size] for i in range(0, len(block), size))

    def start(sub: list[Prepared]) -> list:
        """Dispatch one chunk (asynchronous): [(indices, shared, items, handle), ...]; items
        with masked cells go to the general (per-wavelength) projection."""
        ok = np.array([fitter.accepts(it) for it in sub])
        out = []
        for idx, shared in ((np.flatnonzero(~ok), (False,) * len(fitter.shared)),
                            (np.flatnonzero(ok), fitter.shared)):
            if idx.size:
                group = [sub[i] for i in idx]
                handle = fitter_of(shared).dispatch(theta0s, group, size)
                out.append((idx, shared, group, handle))
        return out

    def finish(sub: list[Prepared], started: list) -> dict:
        """Collect a dispatched chunk."""
        parts = [(idx, fitter_of(shared).collect(handle)) for idx, shared, _, handle in started]
        return merge_items(parts, len(sub))

    # one chunk in flight while the next is read, prepared and dispatched, so host work
    # (loading, stacking, covariances) overlaps the compiled fits
    previous = None
    for sub in itertools.chain(sub_chunks(), [None]):
        current = None if sub is None else (sub, start(sub))
        if previous is not None:
            results.append(finish(*previous))
            if progress is not None:
                progress(sum(len(r["cost"]) for r in results), total,
                         {"n_converged": int(sum(np.sum(r["converged"]) for r in results))})
        previous = current
    return fitter, results, failed_early


def _run(model, items: Iterable[Prepared], total: int | None, *, starts, n_starts, start_factor,
         seed, chunk_size, devices, progress, max_iter, gtol, ftol, stderr, spectra,
         attrs: dict | None = None, theta0s=None):
    t_start = time.perf_counter()
    if theta0s is None:
        theta0s = make_starts(model.parameters, n_starts, starts=starts or (),
                              factor=start_factor, seed=seed)
    opts = dict(max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra)
    fitter, results, failed = _drive(model, items, total, np.asarray(theta0s, float),
                                     chunk_size=chunk_size, devices=devices, progress=progress,
                                     opts=opts)
    wavelengths = cols = None
    if fitter is not None:
        res = {k: np.concatenate([r[k] for r in results]) for k in results[0]}
        wavelengths = fitter.wavelengths[0] if fitter.spectra else None
        cols = fitter.column_names
    elif failed:
        res = failed_results([p.name for p in failed], [p.error for p in failed],
                             len(model.parameters.names), len(model.parameters.free_names),
                             len(theta0s))
    else:
        raise FitError("the batch is empty: no items to fit")
    n_dev = len(resolve_devices(devices))
    a = dict(attrs or {}, n_devices=n_dev, chunk_size=_chunk_size(chunk_size, total, n_dev),
             n_starts=int(len(theta0s)), wall_s=time.perf_counter() - t_start,
             max_iter=int(max_iter))
    return results_to_dataset(model, res, wavelengths=wavelengths, column_names=cols, attrs=a)


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
        Shared by every item. A physical model (``type = "hotcarrier"`` file) goes to
        :func:`hotcarrier.batch.physical.fit_physical_batch`: each item is then one sample's
        data (a bundle file, a list of files, or a dict of datasets) and only ``names``,
        ``devices``, ``max_iter`` and ``stderr`` apply.
    data : iterable
        TA datasets, tuples of them for a multi-dataset model, or file paths (read with
        ``loader``, default :func:`hotcarrier.io.load_ta`). Consumed lazily, chunk by chunk:
        peak memory follows ``chunk_size``. Items whose array shapes or wavelength grid differ
        from the first item's (delays may differ) are flagged (status 11), not fitted.
    names : sequence of str, optional
        Item names (default: file names for paths, ``source_file`` attrs, else indices).
    starts, n_starts, start_factor, seed
        Multi-start (:func:`make_starts`): the best converged start is kept per item.
    chunk_size : int
        Items per compiled call (≤ 512 keeps clear of the jax 0.10 CPU batched-LAPACK
        dead-lock and bounds memory), rounded up to a multiple of the devices.
    devices : None, "all", int or sequence of jax.Device
        Devices to shard each chunk over (default: all local devices).
    progress : callable, optional
        ``progress(done, total, info)`` after every chunk, e.g. :class:`TextProgress`.
    max_iter, gtol, ftol : options of :func:`hotcarrier.fitting.optimize.levenberg_marquardt`
    stderr, spectra : bool
        Gauss–Newton standard errors (pyglotaran's convention); keep the fitted spectra
        (single-block models only).

    Returns
    -------
    xarray.Dataset
        See :mod:`hotcarrier.batch.results`.
    """
    from ..api import load_model, model_kind

    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    if model_kind(model) == "physical":
        from .physical import fit_physical_batch

        return fit_physical_batch(model, list(data), names=names, devices=devices,
                                  max_iter=max_iter, stderr=stderr)
    from ..io import load_ta

    total = len(data) if hasattr(data, "__len__") else None
    name_list = list(names) if names is not None else None
    if model.needs_binding():  # per-wavelength parameters: the first item's grids
        model, data = _bind_to_first_item(model, data, loader or load_ta)

    def gen():
        for i, item in enumerate(data):
            nm = name_list[i] if name_list is not None else None
            if isinstance(item, (str, os.PathLike)):
                nm = nm or Path(str(item)).name
                try:
                    item = (loader or load_ta)(item)
                except (HotcarrierError, OSError, ValueError) as exc:
                    yield Prepared.failed(nm, exc)
                    continue
            source = getattr(item, "attrs", {}).get("source_file")
            yield prepare_item(model, item, nm or (Path(str(source)).name if source else str(i)))

    return _run(model, gen(), total, starts=starts, n_starts=n_starts, start_factor=start_factor,
                seed=seed, chunk_size=chunk_size, devices=devices, progress=progress,
                max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra,
                attrs={"source": "fit_batch"})


def _bind_to_first_item(model, data: Iterable, loader: Callable):
    """(model bound to the first item's wavelength grids, the items again): per-wavelength
    parameters (:meth:`TargetModel.bind`) need the grid, which every item of a batch shares."""
    import xarray as xr

    from ..dataset import SPECTRAL_DIM

    it = iter(data)
    try:
        first = next(it)
    except StopIteration:
        return model, []
    item = loader(first) if isinstance(first, (str, os.PathLike)) else first
    sets = [item] if isinstance(item, xr.Dataset) else list(item)
    return model.bind([ds[SPECTRAL_DIM].values for ds in sets]), itertools.chain([first], it)


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
    model = model.bind([wl])  # per-wavelength parameters (time-zero shifts), if any
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
    n_guide = tmpl.n_data - int(np.sum(base_w > 0))  # guide rows (docs/constraints.md)
    name_list = list(names) if names is not None else [str(i) for i in range(n)]
    block = max(1, int(chunk_size))

    def gen():
        for i0 in range(0, n, block):
            S = np.asarray(signal[i0:i0 + block], float)
            for j, s in enumerate(np.swapaxes(S, 1, 2)):  # (W, T) maps
                ok = np.isfinite(s)
                if weight is None and ok.all():  # the common case: the template's weights
                    arrays = dict(tmpl.arrays, y=[s], w=[base_w])
                    yield Prepared(name_list[i0 + j], arrays, tmpl.n_data, tmpl.wavelengths,
                                   shared=tmpl.shared)
                    continue
                w = base_w * ok
                if weight is not None:
                    w = w * (weight if weight.ndim == 2 else weight[i0 + j]).T
                # one QR for all wavelengths unless NaN cells/weights break separability
                shared = (bool(tmpl.shared and tmpl.shared[0]) and separable_weights(w),)
                arrays = dict(tmpl.arrays, y=[np.where(ok, s, 0.0)], w=[w])
                yield Prepared(name_list[i0 + j], arrays, int(np.sum(w > 0)) + n_guide,
                               tmpl.wavelengths, shared=shared)

    return _run(model, gen(), n, starts=starts, n_starts=n_starts, start_factor=start_factor,
                seed=seed, chunk_size=chunk_size, devices=devices, progress=progress,
                max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=stderr, spectra=spectra,
                attrs={"source": "fit_arrays"})

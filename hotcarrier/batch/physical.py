"""Batches of physical-model fits: fluence series or samples fitted vmapped (and sharded).

Every item is one sample's data (a bundle file, a list of files, or a dict of datasets: mid-IR
sample traces and the calibration reference), fitted with the same :class:`PhysicalModel`.
Items are padded to common trace lengths (weight 0 on the padding), stacked, and fitted by
``vmap`` of the same jitted Levenberg–Marquardt as a single fit
(:func:`hotcarrier.physics.fit.fit_physical`), on one device or split over several with
:class:`~hotcarrier.batch.sharding.BatchMap`. Standard errors: the stacked Gauss–Newton
covariance and the one delta method. The result is the batch Dataset of
:func:`~hotcarrier.batch.results.results_to_dataset`; its ``param`` axis holds the free
parameters and then the derived quantities (Φ_inj, φ_LL, ...).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .._x64 import with_x64
from ..errors import FitError, HotcarrierError, ModelError
from ..fitting.optimize import CONVERGED_STATUSES, NO_DATA, levenberg_marquardt
from ..physics.fit import WithJacobian, as_datasets, control, derived_jacobian, objective_for
from ..physics.modelfile import BATCH_DERIVED, CANDIDATES, PhysicalModel
from ..physics.objective import collect_data
from .results import failed_results, item_statistics, merge_items, results_to_dataset
from .sharding import BatchMap, resolve_devices

__all__ = ["fit_physical_batch"]

def _item_arrays(item, model: PhysicalModel) -> dict:
    data, rows, _ = collect_data(as_datasets(item), model.probes)
    if "visible" in rows:
        raise HotcarrierError("fit-many fits mid-IR traces only; drop 'visible' from the model "
                              "file's [data] probes for a batch")
    return {k: np.asarray(v) for k, v in data.items()}


def _pad(items: list[dict]) -> dict:
    """Stack items, padding the sample and reference blocks to the longest (weight 0)."""
    ns = max(it["t_s"].size for it in items)
    nr = max(it["t_r"].size for it in items)
    out = {k: [] for k in ("t_s", "rho_s", "t_r", "rho_r", "y", "w")}
    for it in items:
        a, b = it["t_s"].size, it["t_r"].size
        for key, n, size in (("t_s", ns, a), ("t_r", nr, b)):  # times: the last one repeated
            out[key].append(np.r_[it[key], np.full(n - size, it[key][-1] if size else 0.0)])
        for key, n, size in (("rho_s", ns, a), ("rho_r", nr, b)):
            out[key].append(np.r_[it[key], np.zeros(n - size)])
        for key in ("y", "w"):
            out[key].append(np.r_[it[key][:a], np.zeros(ns - a), it[key][a:], np.zeros(nr - b)])
    return {k: np.stack(v) for k, v in out.items()}


@with_x64
def fit_physical_batch(model: PhysicalModel, data: Sequence, *,
                       names: Sequence[str] | None = None, devices=None,
                       max_iter: int | None = None, stderr: bool = True):
    """Fit every item of ``data`` with the physical ``model`` in one compiled, vmapped call.

    Parameters
    ----------
    model : PhysicalModel
    data : sequence
        Items: a bundle file path, a list of file paths, or a dict name → TA dataset.
    names : sequence of str, optional
        Item names (default: file stems, else ``item<i>``).
    devices : None, "all", int or sequence of jax.Device
        Where to run (:func:`~hotcarrier.batch.sharding.resolve_devices`); results agree
        to rounding on one and on several devices.
    max_iter : int, optional
        LM step cap (default: the model file's ``[fit] max_iter``).
    stderr : bool
        Compute standard errors (stacked Gauss–Newton covariance + delta method).

    Returns
    -------
    xarray.Dataset
        The batch layout of :mod:`hotcarrier.batch.results`; an item that could not be read
        has status 11 and its error message.
    """
    t_start = time.perf_counter()
    data = list(data)
    if not data:
        raise HotcarrierError("fit_physical_batch: no items to fit")
    if model.decay is not None:
        raise ModelError(f"{model.source or model.name}: batched fits of the flexible-decay "
                         "route ([decay]) are not available yet; fit each sample with "
                         "hotcarrier fit (or fit_physical), or remove [decay] for the "
                         "rigid chain")
    names = list(names) if names is not None else [
        Path(x).stem if isinstance(x, (str, Path)) else f"item{i}" for i, x in enumerate(data)]
    items, failed = {}, {}
    for i, (item, name) in enumerate(zip(data, names)):
        try:
            items[i] = _item_arrays(item, model)
        except (HotcarrierError, OSError, ValueError) as exc:
            failed[i] = f"{type(exc).__name__}: {exc}"
    if not items:
        raise FitError("no item of the batch could be read:\n  - "
                       + "\n  - ".join(failed.values()))
    has_ref = {it["t_r"].size > 0 for it in items.values()}
    if len(has_ref) > 1:
        raise HotcarrierError("some items have a calibration reference and some have not; fit "
                              "the two groups separately (κ is fitted only with a reference)")
    if not model.free:
        raise FitError(f"{model.source or model.name}: the model file has no [free] parameters")
    objective, col_on, n_amp = objective_for(model, has_ref.pop())
    fn = WithJacobian(objective, keep_jacobian=False)
    ctrl, x0, free = control(model)
    derived = derived_jacobian(objective)
    cap = int(max_iter or model.max_iter)

    def one(arrays):
        arrays = dict(arrays, col_on=jnp.asarray(col_on))
        r = levenberg_marquardt(fn, jnp.asarray(x0), ctrl, model.params, model.obs, arrays,
                                max_iter=cap, free=jnp.asarray(free))
        jd, d = derived(r.x, ctrl, model.params, model.obs)
        return {"x": r.x, "cost": r.fun, "status": r.status, "n_iter": r.n_iter,
                "n_eval": r.n_eval, "grad_norm": r.grad_norm, "jtj": r.jtj, "derived": d,
                "dderived": jd}

    devs = resolve_devices(devices)
    k = len(items)
    size = -(-k // len(devs)) * len(devs)  # a multiple of the device count
    stacked = {key: np.concatenate([v, np.repeat(v[-1:], size - k, axis=0)])
               for key, v in _pad(list(items.values())).items()}
    mapper = BatchMap(one, devs)
    out = {key: np.asarray(v)[:k] for key, v in mapper(mapper.put(stacked)).items()}
    n_data = np.array([int(np.sum(it["w"] > 0)) for it in items.values()])
    free_idx = np.flatnonzero(free)
    names_out = model.parameter_layout()[0]
    nc = len(CANDIDATES)
    cols = [CANDIDATES.index(n) if n in CANDIDATES else nc + BATCH_DERIVED.index(n)
            for n in names_out]
    too_few = n_data <= len(free_idx) + n_amp
    status = np.where(too_few, NO_DATA, out["status"]).astype(np.int32)
    converged = np.isin(status, CONVERGED_STATUSES)
    jtj = out["jtj"][:, free_idx][:, :, free_idx] if stderr else None
    chi2_red, se, ident = item_statistics(out["cost"], n_data, len(free_idx), n_amp,
                                          out["dderived"][:, cols][:, :, free_idx], jtj, too_few)
    res = {
        "value": out["derived"][:, cols], "stderr": se, "theta": out["x"][:, free_idx],
        "identifiable": ident, "converged": converged, "status": status, "cost": out["cost"],
        "chi2_red": chi2_red, "n_data": n_data, "n_iter": out["n_iter"],
        "n_eval": out["n_eval"], "grad_norm": out["grad_norm"], "best_start": np.zeros(k, int),
        "start_cost": out["cost"][:, None], "start_converged": converged[:, None],
        "error": np.full(k, "", object), "name": np.array([names[i] for i in items], object),
    }
    bad = failed_results([names[i] for i in failed], list(failed.values()), len(names_out),
                         len(free_idx), 1)
    res = merge_items([(list(items), res), (list(failed), bad)], len(data))
    return results_to_dataset(model, res, attrs={
        "model_kind": "hotcarrier", "n_devices": len(devs), "n_starts": 1,
        "wall_s": time.perf_counter() - t_start, "optimizer": "Levenberg–Marquardt (jitted, "
        "vmapped), variable projection"})

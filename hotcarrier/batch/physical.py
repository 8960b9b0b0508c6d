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

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import with_x64
from ..errors import FitError, HotcarrierError
from ..fitting.optimize import CONVERGED_STATUSES, NO_DATA, NOT_PREPARED, levenberg_marquardt
from ..fitting.uncertainty import gauss_newton_covariances, propagate_covariance
from ..physics.fit import WithJacobian, as_datasets, control, derived_jacobian, objective_for
from ..physics.modelfile import BATCH_DERIVED, CANDIDATES, PhysicalModel
from ..physics.objective import collect_data
from .results import results_to_dataset
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
        for key, n, size in (("t_s", ns, a), ("t_r", nr, b)):
            t = it[key]
            out[key].append(np.r_[t, np.full(n - size, t[-1] if size else 0.0)])
        out["rho_s"].append(np.r_[it["rho_s"], np.zeros(ns - a)])
        out["rho_r"].append(np.r_[it["rho_r"], np.zeros(nr - b)])
        for key in ("y", "w"):
            v = it[key]
            out[key].append(np.r_[v[:a], np.zeros(ns - a), v[a:], np.zeros(nr - b)])
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
    names = list(names) if names is not None else [
        Path(x).stem if isinstance(x, (str, Path)) else f"item{i}" for i, x in enumerate(data)]
    items, errors = [], []
    for item, name in zip(data, names):
        try:
            items.append(_item_arrays(item, model))
            errors.append("")
        except (HotcarrierError, OSError, ValueError) as exc:
            items.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    ok = [i for i, it in enumerate(items) if it is not None]
    if not ok:
        raise FitError("no item of the batch could be read:\n  - " + "\n  - ".join(errors))
    has_ref = {items[i]["t_r"].size > 0 for i in ok}
    if len(has_ref) > 1:
        raise HotcarrierError("some items have a calibration reference and some have not; fit "
                              "the two groups separately (κ is fitted only with a reference)")
    has_ref = has_ref.pop()
    if not model.free:
        raise FitError(f"{model.source or model.name}: the model file has no [free] parameters")
    objective, col_on, n_amp = objective_for(model, has_ref)
    fn = WithJacobian(objective, keep_jacobian=False)
    ctrl, x0, free = control(model)
    derived = derived_jacobian(objective)
    cap = int(max_iter or model.max_iter)
    free_j = jnp.asarray(free)

    def one(arrays):
        arrays = dict(arrays, col_on=jnp.asarray(col_on))
        r = levenberg_marquardt(fn, jnp.asarray(x0), ctrl, model.params, model.obs, arrays,
                                max_iter=cap, free=free_j)
        jd, d = derived(r.x, ctrl, model.params, model.obs)
        return {"x": r.x, "cost": r.fun, "status": r.status, "n_iter": r.n_iter,
                "n_eval": r.n_eval, "grad_norm": r.grad_norm, "jtj": r.jtj, "derived": d,
                "dderived": jd}

    devs = resolve_devices(devices)
    stacked = _pad([items[i] for i in ok])
    k = len(ok)
    size = -(-k // len(devs)) * len(devs)  # a multiple of the device count
    stacked = {key: np.concatenate([v, np.repeat(v[-1:], size - k, axis=0)])
               for key, v in stacked.items()}
    mapper = BatchMap(one, devs)
    out = {key: np.asarray(v)[:k] for key, v in mapper(mapper.put(stacked)).items()}
    n_data = np.array([int(np.sum(items[i]["w"] > 0)) for i in ok])
    free_idx = np.flatnonzero(free)
    names_out, free_names, _ = model.parameter_layout()
    nc = len(CANDIDATES)
    cols = [CANDIDATES.index(n) if n in CANDIDATES else nc + BATCH_DERIVED.index(n)
            for n in names_out]
    status = np.asarray(out["status"], np.int32)
    too_few = n_data <= len(free_idx) + n_amp
    status = np.where(too_few, NO_DATA, status)
    converged = np.isin(status, CONVERGED_STATUSES)
    value = out["derived"][:, cols]
    se = np.full_like(value, np.nan)
    ident = np.zeros((k, len(free_idx)), bool)
    if stderr:
        jtj = out["jtj"][:, free_idx][:, :, free_idx]
        jtj = np.where(too_few[:, None, None], np.nan, jtj)
        cov, ident = gauss_newton_covariances(jtj, out["cost"], n_data,
                                              np.full(k, n_amp))
        cp, _ = propagate_covariance(None, None, cov, ident,
                                     jac=out["dderived"][:, cols][:, :, free_idx])
        se = np.sqrt(np.clip(np.diagonal(cp, axis1=1, axis2=2), 0.0, None))
    dof = n_data - len(free_idx) - n_amp
    res_ok = {
        "value": value, "stderr": se, "theta": out["x"][:, free_idx], "identifiable": ident,
        "converged": converged, "status": status, "cost": out["cost"],
        "chi2_red": np.where(dof > 0, 2.0 * out["cost"] / np.maximum(dof, 1), np.nan),
        "n_data": n_data, "n_iter": out["n_iter"], "n_eval": out["n_eval"],
        "grad_norm": out["grad_norm"], "best_start": np.zeros(k, np.int32),
        "start_cost": out["cost"][:, None], "start_converged": converged[:, None],
    }
    res = {}
    n = len(data)
    for key, v in res_ok.items():
        full = np.zeros((n, *np.shape(v)[1:]), np.asarray(v).dtype)
        if full.dtype.kind == "f":
            full[:] = np.nan
        full[ok] = v
        res[key] = full
    bad = np.array([it is None for it in items])
    res["status"][bad] = NOT_PREPARED
    res["converged"][bad] = False
    res["error"] = np.array(errors, dtype=object)
    res["name"] = np.array(names, dtype=object)
    return results_to_dataset(model, res, attrs={
        "model_kind": "hotcarrier", "n_devices": len(devs), "n_starts": 1,
        "wall_s": time.perf_counter() - t_start, "optimizer": "Levenberg–Marquardt (jitted, "
        "vmapped), variable projection"})

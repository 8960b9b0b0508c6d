"""Batch results as one labelled :class:`xarray.Dataset`, saved atomically; summaries.

Dims ``batch``, ``param``, ``free_param``, ``start`` (+ ``column``, ``wavelength`` when spectra
are kept); the variables are listed in :data:`_BATCH_VARS` (and ``docs/batch.md``); attrs
``model_source``, ``model_toml``, ``status_messages`` (JSON), ``n_devices``, ``wall_s``, ...
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..fitting.optimize import NOT_PREPARED, STATUS_MESSAGES
from ..fitting.result import finite_or_none
from ..fitting.uncertainty import gauss_newton_covariances, propagate_covariance

__all__ = ["results_to_dataset", "item_statistics", "merge_items", "failed_results",
           "save_results", "summary_records", "summary_table", "median_relative_error"]


_BATCH_VARS = {  # name: (dims, dtype, long_name)
    "value": (("batch", "param"), float, "fitted parameter value (physical)"),
    "stderr": (("batch", "param"), float, ("standard error (Gauss–Newton, pyglotaran dof); "
                                           "NaN when fixed or not identifiable")),
    "theta": (("batch", "free_param"), float, "unconstrained optimum (what the optimiser sees)"),
    "identifiable": (("batch", "free_param"), bool, None),
    "converged": (("batch",), bool, None),
    "status": (("batch",), np.int32, "per-item status; see attrs status_messages"),
    "error": (("batch",), str, None),
    "cost": (("batch",), float, "½Σ(weighted residual)²"),
    "chi2_red": (("batch",), float, "2·cost/(n_data − n_free − n_amplitudes)"),
    "n_data": (("batch",), np.int64, None),
    "n_iter": (("batch",), np.int32, None),
    "n_eval": (("batch",), np.int32, None),
    "grad_norm": (("batch",), float, None),
    "best_start": (("batch",), np.int32, None),
    "start_cost": (("batch", "start"), float, None),
    "start_converged": (("batch", "start"), bool, None),
}


def results_to_dataset(model, res: dict, *, wavelengths=None, column_names=None,
                       attrs: dict | None = None) -> xr.Dataset:
    """Assemble per-item result arrays (batch axis first) into the batch Dataset."""
    from .. import __version__

    pnames, free, units = _parameter_layout(model)
    n = len(res["cost"])
    dv = {k: (dims, np.asarray([str(e) for e in res[k]] if dtype is str else res[k], dtype),
              {} if long_name is None else {"long_name": long_name})
          for k, (dims, dtype, long_name) in _BATCH_VARS.items()}
    coords = {
        "batch": ("batch", np.arange(n)),
        "item": ("batch", np.asarray([str(x) for x in res["name"]], dtype=str)),
        "param": ("param", np.asarray(pnames, dtype=str)),
        "free_param": ("free_param", np.asarray(free, dtype=str)),
        "param_unit": ("param", np.asarray([units[p] for p in pnames], dtype=str)),
    }
    if "spectra" in res and wavelengths is not None and column_names is not None:
        dv["spectra"] = (("batch", "column", "wavelength"),
                         np.swapaxes(np.asarray(res["spectra"], float), 1, 2),
                         {"long_name": "fitted spectra (amplitudes of the design columns)"})
        coords["wavelength"] = ("wavelength", np.asarray(wavelengths, float), {"units": "nm"})
        coords["column"] = ("column", np.asarray(column_names, dtype=str))
    a = {
        "model_source": str(model.source),
        "model_toml": str(getattr(model, "toml_text", "") or ""),
        "status_messages": json.dumps({str(k): v for k, v in STATUS_MESSAGES.items()}),
        "hotcarrier_version": __version__,
    }
    a.update({k: v for k, v in (attrs or {}).items() if v is not None})
    return xr.Dataset(dv, coords=coords, attrs=a)


def item_statistics(cost, n_data, n_free: int, n_amplitudes, jac, jtj=None, skip=None):
    """χ²_red, standard errors of the reported values and identifiability of a stack of fits.

    ``jac`` (k, m, n_free): ∂value/∂θ per item; ``jtj`` (k, n_free, n_free): Gauss–Newton
    matrices (None: no standard errors); ``skip`` (k,): items whose JᵀJ is ignored.
    """
    k = len(cost)
    n_amplitudes = np.broadcast_to(n_amplitudes, (k,))
    dof = n_data - n_free - n_amplitudes
    chi2_red = np.where(dof > 0, 2.0 * cost / np.maximum(dof, 1), np.nan)
    if jtj is None:
        return chi2_red, np.full(np.shape(jac)[:2], np.nan), np.zeros((k, n_free), bool)
    jtj = np.where(skip[:, None, None], np.nan, jtj)
    cov, ident = gauss_newton_covariances(jtj, cost, n_data, n_amplitudes)
    cp, _ = propagate_covariance(None, None, cov, ident, jac=jac)  # the delta method
    return chi2_red, np.sqrt(np.clip(np.diagonal(cp, axis1=1, axis2=2), 0.0, None)), ident


def merge_items(parts: list, k: int) -> dict:
    """Per-item results of one chunk from parts ``[(indices, results), ...]``, in item order."""
    out = {}
    for key in parts[0][1]:
        first = np.asarray(parts[0][1][key])
        arr = np.empty((k, *first.shape[1:]), dtype=first.dtype)
        for idx, res in parts:
            arr[np.asarray(idx, int)] = np.asarray(res[key])
        out[key] = arr
    return out


def failed_results(names: list, errors: list, n_par: int, n_free: int, n_starts: int) -> dict:
    """Results of items that never reached a fitter (status ``NOT_PREPARED``)."""
    k = len(names)
    nan, zero = np.full(k, np.nan), np.zeros(k, np.int32)
    return dict(theta=np.full((k, n_free), np.nan), value=np.full((k, n_par), np.nan),
                stderr=np.full((k, n_par), np.nan), identifiable=np.zeros((k, n_free), bool),
                cost=nan, chi2_red=nan, grad_norm=nan, n_iter=zero, n_eval=zero,
                best_start=zero, n_data=zero, converged=np.zeros(k, bool),
                status=np.full(k, NOT_PREPARED, np.int32),
                start_cost=np.full((k, n_starts), np.nan),
                start_converged=np.zeros((k, n_starts), bool),
                error=np.array(errors, dtype=object), name=np.array(names, dtype=object))


def _parameter_layout(model) -> tuple[list, list, dict]:
    """(parameter names, free names, units) of a target or a physical model's batch."""
    if hasattr(model, "parameters"):  # TargetModel
        return (list(model.parameters.names), list(model.parameters.free_names),
                {p.name: p.unit for p in model.parameters.params})
    return model.parameter_layout()  # PhysicalModel


def save_results(ds: xr.Dataset, path) -> Path:
    """Write the batch Dataset to netCDF (h5netcdf) atomically; returns the path."""
    from ..io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def summary_records(ds: xr.Dataset) -> list[dict]:
    """One JSON-able dict per item: name, verdict, cost, χ²_red, parameters ± stderr."""
    msgs = json.loads(ds.attrs.get("status_messages", "{}"))
    pn = [str(p) for p in ds["param"].values]
    v = {k: ds[k].values for k in ("item", "converged", "status", "error", "cost", "chi2_red",
                                   "n_data", "n_iter", "best_start", "value", "stderr")}
    return [{"item": str(v["item"][i]), "converged": bool(v["converged"][i]),
             "status": int(v["status"][i]), "message": msgs.get(str(int(v["status"][i])), ""),
             "error": str(v["error"][i]), "cost": finite_or_none(v["cost"][i]),
             "chi2_red": finite_or_none(v["chi2_red"][i]),
             **{k: int(v[k][i]) for k in ("n_data", "n_iter", "best_start")},
             "parameters": {p: {"value": finite_or_none(v["value"][i, j]),
                                "stderr": finite_or_none(v["stderr"][i, j])}
                            for j, p in enumerate(pn)}}
            for i in range(ds.sizes["batch"])]


def _fmt(v: float) -> str:
    return f"{v:.4g}" if np.isfinite(v) else "nan"


def summary_table(ds: xr.Dataset, max_rows: int | None = 50) -> str:
    """A plain-text table: one row per item (value ±stderr per free parameter), then totals."""
    free = [str(p) for p in ds["free_param"].values]
    pn = [str(p) for p in ds["param"].values]
    cols = [pn.index(f) for f in free]
    head = ["item", "ok", "status", "chi2_red", "iter"] + free
    rows = []
    n = ds.sizes["batch"]
    show = range(n) if max_rows is None or n <= max_rows else list(range(max_rows))
    for i in show:
        v = ds["value"].values[i]
        s = ds["stderr"].values[i]
        rows.append([str(ds["item"].values[i])[:32],
                     "yes" if ds["converged"].values[i] else "NO",
                     str(int(ds["status"].values[i])),
                     _fmt(ds["chi2_red"].values[i]), str(int(ds["n_iter"].values[i]))]
                    + [f"{_fmt(v[c])}±{_fmt(s[c])}" for c in cols])
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h)
              for k, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    if len(show) < n:
        lines.append(f"... {n - len(show)} more item(s) (see summary.json)")
    conv = ds["converged"].values
    lines.append(f"{int(conv.sum())}/{n} converged")
    if conv.any():
        med = {f: float(np.median(ds["value"].values[conv, pn.index(f)])) for f in free}
        lines.append("median over converged items: "
                     + ", ".join(f"{k} = {_fmt(v)}" for k, v in med.items()))
    return "\n".join(lines)


def median_relative_error(ds: xr.Dataset, truth: dict, *, sort: bool = False,
                          only_converged: bool = True) -> dict:
    """Median (over items) relative error |fit/true − 1| per parameter of ``truth``
    (``{param: true value}``), plus ``"max_over_params"``: the median of each item's worst.

    ``sort`` compares the values sorted per item with the sorted true values (lifetimes of a
    parallel model carry no label); ``only_converged`` ignores items that did not converge.
    """
    names = list(truth)
    pn = [str(p) for p in ds["param"].values]
    vals = ds["value"].values[:, [pn.index(n) for n in names]]
    tv = np.array([truth[n] for n in names], float)
    if sort:
        vals = np.sort(vals, axis=1)
        order = np.argsort(tv)
        tv = tv[order]
        names = [names[k] for k in order]
    if only_converged:
        vals = vals[ds["converged"].values]
    rel = np.abs(vals / tv - 1.0)
    out = {n: float(np.median(rel[:, k])) if rel.size else float("nan")
           for k, n in enumerate(names)}
    out["max_over_params"] = float(np.median(rel.max(axis=1))) if rel.size else float("nan")
    return out

"""Load a fitted result (``hotcarrier fit`` of the physical model) as H2-model inputs.

Accepted paths: a fit folder (``summary.json``, optionally ``result.nc``), a ``summary.json``
(the schema of :func:`hotcarrier.fitting.result.build_summary`: ``parameters`` name →
{value, stderr, unit, fixed}, ``derived.injection_quantum_yield``, optional ``covariance``
{names, matrix}) or a ``result.nc`` (a ``summary_json`` attribute, or ``value``/``stderr``/
``covariance`` over ``param``). The rules (docs/h2.md, "Inputs from TA fits"):

* names are :class:`~hotcarrier.physics.parameters.InterfaceParams` fields (unknown ones are
  listed in the notes); a time unit differing from the field-name suffix is converted;
  the stderr of instrument and nonlinear-module fields (:data:`NOT_H2`) is not propagated;
* fields not in the file (the slow parameters TA cannot see) keep the ``base`` preset's values
  unless ``overrides`` sets them;
* the fitted Φ_inj (at the pump energy) has the larger of ``stderr`` and the ``ci95``
  half-width / 1.96 as standard error — or, for a fit of the flexible-decay route, Φ_inj ×
  ``sigma_ln_between_samples`` (statistical ⊕ model choice ⊕ each dataset's ρ_abs prior; the
  q_ref and reference-yield priors, common to two samples on the same kind of reference,
  cancel in the clean/defective ratio and are left out); the fields that enter only Φ_inj are
  then left out of the covariance (not counted twice); Φ_inj is uncorrelated with the other
  parameters;
* the covariance is the file's block restricted to the free parameters used, else diag(stderr²).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np
from scipy.linalg import block_diag

from ..errors import FitResultError
from ..physics.parameters import InterfaceParams, preset
from ..units import TIME_TO_PS
from .inputs import Z95, H2Inputs
from .rate import INJECTION_INPUTS

__all__ = ["NOT_H2", "as_inputs", "load_fit"]

SUFFIX_TIME = {"_fs": "fs", "_ps": "ps", "_ns": "ns", "_us": "us", "_ms": "ms"}
NOT_H2 = frozenset({"irf_fwhm_fs", "hbar_omega_eV", "tau_th_ps", "tau_b_ps", "gamma_e", "G_eph",
                    "C_l", "tau_env_ps", "A_star", "eps_r"})
"""Fields that do not enter the H2 model (instrument, nonlinear metal module) or are not
uncertain in it (the pump energy): their values are loaded, their stderr is not propagated."""
PHI_NAMES = ("injection_quantum_yield", "phi_inj")
PARAM_KEYS = ("parameters", "params", "fitted_parameters")

FIX = ("expected a fit folder with summary.json (written by 'hotcarrier fit'), a summary.json "
       "or a result.nc; see docs/h2.md 'Inputs from TA fits'")


def _resolve(path: Path) -> tuple[Path | None, Path | None]:
    """(summary.json, result.nc) of a fit folder or next to either file; None where absent."""
    if path.is_dir():
        path = path / "summary.json"
    elif not (path.is_file() and path.suffix in (".json", ".nc")):
        return None, None
    s = path if path.suffix == ".json" else path.with_name("summary.json")
    r = path if path.suffix == ".nc" else path.with_name("result.nc")
    return (s if s.is_file() else None), (r if r.is_file() else None)


def _convert(name: str, value: float, unit) -> float:
    for suf, u in SUFFIX_TIME.items():
        if name.endswith(suf) and isinstance(unit, str):
            key = unit.strip().replace("µ", "u").replace("μ", "u")
            if key in TIME_TO_PS and key != u:
                return value * TIME_TO_PS[key] / TIME_TO_PS[u]
    return value


def _read_nc(path: Path) -> dict:
    """Parameters and covariance from a result.nc (value/stderr/covariance over ``param``)."""
    try:
        import xarray as xr

        with xr.open_dataset(path) as ds:
            if isinstance(ds.attrs.get("summary_json"), str):  # physical-model fit result
                return json.loads(ds.attrs["summary_json"])
            names = [str(n) for n in ds["param"].values]
            out = {"parameters": {n: {"value": float(v), "stderr": float(s), "fixed": False}
                                  for n, v, s in zip(names, ds["value"].values,
                                                     ds["stderr"].values)}}
            if "covariance" in ds:
                out["covariance"] = {"names": names,
                                     "matrix": np.asarray(ds["covariance"].values).tolist()}
            for key in ("injection_quantum_yield", "phi_inj"):
                if key in ds.attrs:
                    out.setdefault("derived", {})["injection_quantum_yield"] = {
                        "value": float(ds.attrs[key]),
                        "stderr": float(ds.attrs.get(key + "_stderr", float("nan")))}
            return out
    except (OSError, KeyError, ValueError, ImportError, json.JSONDecodeError) as exc:
        raise FitResultError(f"{path}: cannot read parameters from result.nc ({exc})\n  fix: "
                             + FIX) from None


def load_fit(path, base: str | InterfaceParams = "clean", overrides: dict | None = None
             ) -> H2Inputs:
    """Read a fit (folder, summary.json or result.nc) into :class:`H2Inputs`.

    Parameters
    ----------
    path : str or Path
        The fit folder or file.
    base : "clean", "defective" or InterfaceParams
        Values for every field the fit does not provide (slow parameters TA cannot see).
    overrides : dict, optional
        Field values applied after the fit (e.g. ``{"E_s_eV": 0.28}``), without uncertainty.
    """
    from ..errors import DataFormatError
    from ..io._common import read_bytes
    from ..io.atomic import check_output_set

    path = Path(path)
    summary, nc = _resolve(path)
    if summary is None and nc is None:
        raise FitResultError(f"{path}: no fit result found\n  fix: " + FIX)
    check_output_set((summary or nc).parent)  # refuses a set an interrupted run left mixed
    if summary is not None:
        try:
            data = json.loads(read_bytes(summary, limit=64 << 20, what="summary.json"))
        except DataFormatError as exc:
            raise FitResultError(f"{exc}\n  fix: " + FIX) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FitResultError(f"{summary}: not valid JSON ({exc})\n  fix: " + FIX) from None
        if not isinstance(data, dict):
            raise FitResultError(f"{summary}: top level is not a JSON object\n  fix: " + FIX)
        if nc is not None and "covariance" not in data:
            with contextlib.suppress(FitResultError):  # the summary alone is enough
                extra = _read_nc(nc)
                if "covariance" in extra:
                    data["covariance"] = extra["covariance"]
    else:
        data = _read_nc(nc)
    src = summary or nc
    if data.get("converged") is False:
        why = data.get("message") or f"status {data.get('status')}"
        raise FitResultError(f"{src}: the fit did not converge ({why}); its parameters are not "
                             "a result\n  fix: rerun the fit (more iterations, better starts) "
                             "before predicting H2")
    params_block = next((data[k] for k in PARAM_KEYS if isinstance(data.get(k), dict)), None)
    if params_block is None:
        raise FitResultError(f"{src}: no 'parameters' block (name → {{value, stderr, unit, "
                             "fixed}})\n  fix: " + FIX)
    base_p = preset(base) if isinstance(base, str) else base
    known = {f.name for f in fields(InterfaceParams)}
    changes, stderr, ignored = {}, {}, []
    phi_entry = None
    for name, entry in params_block.items():
        entry = entry if isinstance(entry, dict) else {"value": entry}
        if name in PHI_NAMES:
            phi_entry = entry
            continue
        if name not in known:
            ignored.append(name)
            continue
        unit, se = entry.get("unit"), entry.get("stderr")
        try:
            changes[name] = _convert(name, float(entry.get("value")), unit)
        except (TypeError, ValueError):
            raise FitResultError(f"{src}: parameter {name!r} has no numeric value\n  fix: "
                                 + FIX) from None
        if not entry.get("fixed", False) and name not in NOT_H2 and _positive(se) is not None:
            stderr[name] = _convert(name, float(se), unit)
    overrides = dict(overrides or {})
    bad = set(overrides) - known
    if bad:
        raise FitResultError(f"unknown parameter(s) {sorted(bad)} in overrides; use "
                             "InterfaceParams field names (e.g. E_s_eV, tau_hs_us)")
    params = base_p.replace(**changes, **overrides)
    for k in overrides:
        stderr.pop(k, None)

    phi = phi_se = None
    inj = (data.get("derived") or {}).get("injection_quantum_yield") or phi_entry
    if isinstance(inj, dict) and inj.get("value") is not None:
        phi, ci = float(inj["value"]), inj.get("ci95")
        half = ((float(ci[1]) - float(ci[0])) / (2 * Z95)
                if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci else None)
        cands = [x for x in (_positive(inj.get("stderr")), _positive(half)) if x is not None]
        phi_se = max(cands, default=None)  # the wider of Wald and (profile) interval
        between = _positive(inj.get("sigma_ln_between_samples"))
        if between is not None:  # flexible-decay route: statistical ⊕ model choice ⊕ ρ_abs
            phi_se = phi * between
    elif isinstance(inj, (int, float)):
        phi = float(inj)
    if phi is not None:
        if not 0 < phi <= 1:
            raise FitResultError(f"{src}: injection_quantum_yield {phi} outside (0, 1]\n  fix: "
                                 + FIX)
        for k in INJECTION_INPUTS:
            stderr.pop(k, None)  # enters QE only through the fitted Φ_inj

    if phi is None and not changes:
        kind = (data.get("model") or {}).get("type") if isinstance(data.get("model"), dict) \
            else None
        raise FitResultError(f"{src}: holds neither an injection quantum yield nor any interface "
                             f"parameter{f' (a {kind} fit)' if kind else ''}; nothing in it "
                             "informs the H2 model\n  fix: give a physical-model fit (hotcarrier "
                             "fit with a physical model file), or 'clean'/'defective' for the "
                             "presets")
    names = list(stderr)
    cov = np.diag([stderr[k] ** 2 for k in names])
    block = data.get("covariance")
    if isinstance(block, dict) and "names" in block and "matrix" in block:
        cn, cm = list(block["names"]), np.asarray(block["matrix"], float)
        if cm.shape == (len(cn), len(cn)):
            rows = [i for i, k in enumerate(names) if k in cn]
            src_rows = [cn.index(names[i]) for i in rows]
            cov[np.ix_(rows, rows)] = cm[np.ix_(src_rows, src_rows)]
    if phi_se is not None:
        names.append("phi_inj")
        cov = block_diag(cov, [[phi_se**2]])
    notes = []
    if ignored:
        notes.append(f"{src}: ignored parameter names not in InterfaceParams: {sorted(ignored)}")
    slow = [k for k in ("tau_cr_us", "tau_hs_us", "tau_H_us", "tau_loss2_ms", "E_s_eV")
            if k not in changes and k not in overrides]
    if slow:
        notes.append(f"{src}: slow parameters not seen by TA left at the "
                     f"{base if isinstance(base, str) else 'base'} defaults: {slow}")
    return H2Inputs(params=params, phi_inj=phi, names=tuple(names), cov=cov if names else None,
                    source=str(src), notes=tuple(notes))


def _positive(x) -> float | None:
    """``x`` as a float if it is a finite number > 0, else None."""
    return float(x) if x is not None and math.isfinite(float(x)) and float(x) > 0 else None


def as_inputs(x, role: str = "clean") -> H2Inputs:
    """Normalise a preset name, path, InterfaceParams or H2Inputs to :class:`H2Inputs`.

    A path (fit folder, ``summary.json`` or ``result.nc``) is loaded with :func:`load_fit`,
    using the preset named ``role`` (``"clean"`` or ``"defective"``) as the base.
    """
    if isinstance(x, H2Inputs):
        return x
    if isinstance(x, InterfaceParams):
        return H2Inputs(x, source="parameters")
    if isinstance(x, str) and x in ("clean", "defective"):
        return H2Inputs(preset(x), source=f"preset {x}")
    return load_fit(x, base=role)

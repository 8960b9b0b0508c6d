"""Load a fitted result (``hotcarrier fit`` of the physical model) as H2-model inputs.

Accepted paths: a fit folder (containing ``summary.json``, optionally ``result.nc``), a
``summary.json`` file, or a ``result.nc`` file (either with a ``summary_json`` attribute, as the
physical-model fit writes it, or with ``value``/``stderr``/``covariance`` over ``param``).
Expected ``summary.json`` layout (the one schema of :func:`hotcarrier.fitting.result.build_summary`)::

    {
      "parameters": {                      # also accepted: "params", "fitted_parameters"
        "tau_bet_ps": {"value": 2.1, "stderr": 0.2, "unit": "ps", "fixed": false},
        "N_it_cm2":   {"value": 1.1e13, "stderr": 2e12, "unit": "cm-2", "fixed": false},
        "tau_ee_fs":  {"value": 40, "stderr": null, "unit": "fs", "fixed": true},
        ...
      },
      "derived": {
        "injection_quantum_yield": {"value": 0.09, "stderr": 0.006, "ci95": [0.078, 0.102]}
      },
      "covariance": {"names": [...], "matrix": [[...]]}   # optional, free parameters
    }

Rules:

* parameter names are :class:`~hotcarrier.physics.parameters.InterfaceParams` field names;
  unknown names are ignored (listed in the notes);
* instrument and nonlinear-module fields (``irf_fwhm_fs``, ``hbar_omega_eV``, …) are loaded but
  their stderr is not propagated (they do not enter the H2 model);
* a time unit differing from the field-name suffix (e.g. ``"unit": "fs"`` for ``tau_bet_ps``)
  is converted; other units are taken as the field's unit;
* fields not in the file — in particular the slow parameters TA cannot see (tau_cr_us,
  tau_hs_us, tau_H_us, tau_loss2_ms, E_s_eV, and σ_n/N_it separately) — keep the values of the
  ``base`` preset (spec §11 defaults) unless ``overrides`` sets them;
* ``derived.injection_quantum_yield`` (or an ``injection_quantum_yield`` parameter) is used as
  Φ_inj (gross yield at the TA pump energy ``hbar_omega_eV``); its standard error is the larger
  of ``stderr`` and the ``ci95`` half-width / 1.96 (a profile-likelihood interval is often
  wider than the Wald one); the parameters that only enter
  Φ_inj (η_CID, τ_inj, τ_ee, φ_B, …) are then left out of the covariance so that they are not
  counted twice;
* the covariance is the file's ``covariance`` block (or ``result.nc``'s ``covariance`` variable
  over ``(param, param_)``) restricted to the free parameters used, else diag(stderr²);
  Φ_inj is taken as uncorrelated with the other parameters (summary.json has no cross terms).
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import numpy as np

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


def _fix(path) -> str:
    return ("expected a fit folder with summary.json (written by 'hotcarrier fit'), a "
            "summary.json or a result.nc; see docs/h2.md 'Inputs from TA fits'")


def _resolve(path: Path) -> tuple[Path | None, Path | None]:
    if path.is_dir():
        s, r = path / "summary.json", path / "result.nc"
        return (s if s.is_file() else None), (r if r.is_file() else None)
    if path.is_file() and path.suffix == ".json":
        r = path.with_name("result.nc")
        return path, (r if r.is_file() else None)
    if path.is_file() and path.suffix == ".nc":
        s = path.with_name("summary.json")
        return (s if s.is_file() else None), path
    return None, None


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
                             + _fix(path)) from None


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
    path = Path(path)
    summary, nc = _resolve(path)
    if summary is None and nc is None:
        raise FitResultError(f"{path}: no fit result found\n  fix: " + _fix(path))
    if summary is not None:
        try:
            data = json.loads(summary.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FitResultError(f"{summary}: not valid JSON ({exc})\n  fix: " + _fix(summary)
                                 ) from None
        if not isinstance(data, dict):
            raise FitResultError(f"{summary}: top level is not a JSON object\n  fix: "
                                 + _fix(summary))
        if nc is not None and "covariance" not in data:
            try:
                extra = _read_nc(nc)
                if "covariance" in extra:
                    data["covariance"] = extra["covariance"]
            except FitResultError:
                pass
    else:
        data = _read_nc(nc)
    src = summary or nc
    params_block = next((data[k] for k in PARAM_KEYS if isinstance(data.get(k), dict)), None)
    if params_block is None:
        raise FitResultError(f"{src}: no 'parameters' block (name → {{value, stderr, unit, "
                             "fixed}})\n  fix: " + _fix(src))
    base_p = preset(base) if isinstance(base, str) else base
    known = {f.name for f in fields(InterfaceParams)}
    changes, stderr, ignored = {}, {}, []
    phi_entry = None
    for name, entry in params_block.items():
        if name in PHI_NAMES:
            phi_entry = entry if isinstance(entry, dict) else {"value": entry}
            continue
        if name not in known:
            ignored.append(name)
            continue
        if isinstance(entry, dict):
            val, unit = entry.get("value"), entry.get("unit")
            se, fixed = entry.get("stderr"), bool(entry.get("fixed", False))
        else:
            val, unit, se, fixed = entry, None, None, False
        try:
            val = _convert(name, float(val), unit)
        except (TypeError, ValueError):
            raise FitResultError(f"{src}: parameter {name!r} has no numeric value\n  fix: "
                                 + _fix(src)) from None
        changes[name] = val
        if (not fixed and name not in NOT_H2 and se is not None and math.isfinite(float(se))
                and float(se) > 0):
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
        phi = float(inj["value"])
        cands = []
        se = inj.get("stderr")
        if se is not None and math.isfinite(float(se)) and float(se) > 0:
            cands.append(float(se))
        ci = inj.get("ci95")
        if (isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci
                and float(ci[1]) > float(ci[0])):
            cands.append((float(ci[1]) - float(ci[0])) / (2 * Z95))
        phi_se = max(cands) if cands else None  # the wider of Wald and (profile) interval
    elif isinstance(inj, (int, float)):
        phi = float(inj)
    if phi is not None:
        if not 0 < phi <= 1:
            raise FitResultError(f"{src}: injection_quantum_yield {phi} outside (0, 1]\n  fix: "
                                 + _fix(src))
        for k in INJECTION_INPUTS:
            stderr.pop(k, None)  # enters QE only through the fitted Φ_inj

    names = [k for k in stderr if k != "hbar_omega_eV"]
    cov = None
    cov_block = data.get("covariance")
    if names:
        cov = np.diag([stderr[k] ** 2 for k in names])
        if isinstance(cov_block, dict) and "names" in cov_block and "matrix" in cov_block:
            cn = list(cov_block["names"])
            cm = np.asarray(cov_block["matrix"], float)
            if cm.shape == (len(cn), len(cn)):
                for i, a in enumerate(names):
                    for j, b in enumerate(names):
                        if a in cn and b in cn:
                            cov[i, j] = cm[cn.index(a), cn.index(b)]
    if phi_se is not None:
        names.append("phi_inj")
        c = np.zeros((len(names), len(names)))
        if cov is not None:
            c[:-1, :-1] = cov
        c[-1, -1] = phi_se**2
        cov = c
    notes = []
    if ignored:
        notes.append(f"{src}: ignored parameter names not in InterfaceParams: {sorted(ignored)}")
    slow = [k for k in ("tau_cr_us", "tau_hs_us", "tau_H_us", "tau_loss2_ms", "E_s_eV")
            if k not in changes and k not in overrides]
    if slow:
        notes.append(f"{src}: slow parameters not seen by TA left at the "
                     f"{base if isinstance(base, str) else 'base'} defaults: {slow}")
    return H2Inputs(params=params, phi_inj=phi, names=tuple(names), cov=cov,
                    source=str(src), notes=tuple(notes))


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

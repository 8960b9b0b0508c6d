"""Shared part of the spectral-feature parity runs against pyglotaran 0.7.5.

``parity_nnls.py`` and ``parity_guidance.py`` (project venv) prepare one real map — the
Hippius et al. data (``../shared/data/glotaran_hippius``, file Figs5_9) cropped to its
excited-state-absorption window 600–860 nm, where the species spectra are positive — fit it
with hotcarrier and, in a separate process, with pyglotaran (``pyglotaran_spectral.py`` in
``$PYGLOTARAN_PYTHON``, default ``/work/venv-glotaran/bin/python``), and compare: cost
(relative), parameters (relative), standard errors (relative) and the s3 spectrum.

Model (both tools): sequential s1 → s2 → s3 → ground (k1, k2, k3 free), Gaussian IRF centre
mu + d1·x + d2·x² with x = (λ − 550)/100 nm, width sig (standard deviation); unit weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data" / "glotaran_hippius"
MAP = DATA / "demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
WINDOW = (600.0, 860.0)  # nm; no wavelength of the file lies on either end
START = {"k1": 3.0, "k2": 0.3, "k3": 0.03, "mu": 1.2, "sig": 0.06, "d1": 0.3, "d2": -0.08}
PYG = os.environ.get("PYGLOTARAN_PYTHON", "/work/venv-glotaran/bin/python")

MODEL_TOML = """\
transfers = [{{from = "s1", to = "s2", rate = "k1"}}, {{from = "s2", to = "s3", rate = "k2"}},
             {{from = "s3", to = "ground", rate = "k3"}}]
{guides}
[model]
name = "Hippius ESA window, sequential, {name}"
compartments = ["s1", "s2", "s3"]
initial = {{s1 = 1}}
non_negative = {nnls}

[parameters]
k1 = {{value = {k1!r}, unit = "1/ps"}}
k2 = {{value = {k2!r}, unit = "1/ps"}}
k3 = {{value = {k3!r}, unit = "1/ps"}}
mu = {{value = {mu!r}, unit = "ps"}}
sig = {{value = {sig!r}, unit = "ps"}}
d1 = {{value = {d1!r}, unit = "ps"}}
d2 = {{value = {d2!r}, unit = "ps"}}

[irf]
center = "mu"
width = "sig"
dispersion_center = 550
center_dispersion = ["d1", "d2"]
"""


def load_map(path=MAP, window=WINDOW):
    """(time ps, wavelength nm, data (time × wavelength)) of a Hippius file in ``window``."""
    from hotcarrier.io import load_ta

    ds = load_ta(path).transpose("delay", "wavelength")
    ds = ds.sel(wavelength=slice(*window))
    return ds["delay"].values, ds["wavelength"].values, ds["signal"].values


def model_toml(name: str, nnls: bool, guide=None) -> str:
    """The hotcarrier model file of the parity runs; ``guide`` = (wavelengths, values, weight)
    of a guidance spectrum for s3."""
    g = ""
    if guide is not None:
        wl, val, w = guide
        g = ("\n[[guides]]\nspecies = \"s3\"\nweight = " + repr(float(w)) + "\nwavelength = ["
             + ", ".join(repr(float(x)) for x in wl) + "]\nvalues = ["
             + ", ".join(repr(float(x)) for x in val) + "]\n")
    # [[guides]] is an array of tables: it must come after the top-level keys, before [model]
    return MODEL_TOML.format(name=name, nnls="true" if nnls else "false", guides=g, **START)


def run_pyglotaran(mode: str, npz: Path, extra=()) -> dict:
    cmd = [PYG, str(HERE / "pyglotaran_spectral.py"), mode, str(npz), "--start",
           json.dumps(START), *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"pyglotaran run failed ({out.returncode}):\n{out.stderr[-3000:]}")
    res = json.loads(line[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def run_hotcarrier(toml: str, t, wl, data) -> dict:
    import jax

    from hotcarrier import fit
    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.target.modelfile import parse_model

    with jax.enable_x64(True):
        ds = make_ta_dataset(t, wl, data)
        t0 = time.perf_counter()
        res = fit(ds, parse_model(toml, source="parity model"), max_iter=3000, gtol=1e-10,
                  ftol=1e-14)
        wall = time.perf_counter() - t0
    sm = res.summary()
    return {"tool": "hotcarrier", "cost": sm["cost"], "rmse": sm["rmse"],
            "converged": sm["converged"], "n_iterations": sm["n_iterations"],
            "n_data": sm["n_data"], "n_amplitudes": sm["n_amplitudes"],
            "parameters": {k: {"value": v["value"], "stderr": v["stderr"]}
                           for k, v in sm["parameters"].items() if v["free"]},
            "s3": res.dataset["sas"].sel(species="s3").values.tolist(), "wall_time_s": wall}


def compare(hc: dict, pg: dict) -> dict:
    """Relative differences hotcarrier vs pyglotaran and the issue's pass/fail lines."""
    p_rel = {k: hc["parameters"][k]["value"] / v["value"] - 1.0
             for k, v in pg["parameters"].items()}
    se_rel = {k: hc["parameters"][k]["stderr"] / v["stderr"] - 1.0
              for k, v in pg["parameters"].items()}
    s3 = np.asarray(hc["s3"]) - np.asarray(pg["s3"])
    cost_rel = hc["cost"] / pg["cost"] - 1.0
    return {
        "cost_rel_diff": cost_rel, "param_rel_diff": p_rel, "stderr_rel_diff": se_rel,
        "s3_max_abs_diff": float(np.max(np.abs(s3))),
        "s3_max_abs": float(np.max(np.abs(pg["s3"]))),
        "pass": {"cost_1e-6": abs(cost_rel) <= 1e-6,
                 "params_0.5%": max(abs(x) for x in p_rel.values()) <= 5e-3,
                 "stderr_5%": max(abs(x) for x in se_rel.values()) <= 0.05},
    }


def write(name: str, out: dict, prefix: str = "parity_") -> Path:
    from hotcarrier.io.atomic import atomic_open

    path = HERE / "results" / f"{prefix}{name}.json"
    with atomic_open(path) as f:
        f.write((json.dumps(out, indent=2) + "\n").encode())
    return path

"""Parity with pyglotaran 0.7.5 on a reversible target scheme (same model, same data).

Scheme: s1 ⇌ s2 (kf, kb), s2 → s3 (k23), s3 → ground (k3); initial population in s1;
Gaussian IRF (centre, width free). With free spectra the data determine the three eigenvalues
of K, so three rates: k23 is held fixed (known), kf, kb, k3 are free (kf = λ₁λ₂/k23 and
kb = −(λ₁ + λ₂) − kf − k23 from the pair's eigenvalues: unique). The map (numpy/scipy only, deterministic): 100 delays (−1 … 1000 ps) ×
40 wavelengths (500–700 nm), spectra of Gaussians, 0.1 mOD noise on ~10 mOD.

Both tools fit from the same start values to convergence: pyglotaran in its own venv
(``$PYGLOTARAN_PYTHON``, default /work/venv-glotaran/bin/python) with its model in its own
format and scipy's TRF (its default, finite-difference Jacobian, ftol = xtol = gtol = 1e-8 —
plus a tighter run at 1e-12 as the reference optimum); hotcarrier through ``hotcarrier.fit``
in a fresh process. Compared: cost (½ Σ r²), parameters, standard errors. Writes
``results/parity_reversible.json``::

    /work/venv/bin/python benchmarks/parity_reversible.py [--out FILE]
    $PYGLOTARAN_PYTHON benchmarks/parity_reversible.py --pyglotaran [--tol 1e-8]   # one side
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T = np.concatenate([np.linspace(-1.0, 3.0, 40), np.geomspace(3.2, 1000.0, 60)])  # ps
WL = np.linspace(500.0, 700.0, 40)  # nm (5.13 nm steps; the band edges fall between points)
TRUE = {"kf": 0.8, "kb": 0.3, "k3": 0.005, "center": 0.2, "width": 0.08}
START = {"kf": 0.6, "kb": 0.4, "k3": 0.007, "center": 0.15, "width": 0.1}
K23 = 0.1  # ps⁻¹, fixed
NOISE = 1e-4


def rate_matrix(p: dict) -> np.ndarray:
    kf, kb, k23, k3 = p["kf"], p["kb"], K23, p["k3"]
    return np.array([[-kf, kb, 0.0], [kf, -kb - k23, 0.0], [0.0, k23, -k3]])


def simulate(seed: int = 5) -> np.ndarray:
    """(T, W) map: eigen-decomposition of K (real, distinct eigenvalues) ⊗ Gaussian IRF."""
    from scipy.special import erfc

    lam, V = np.linalg.eig(rate_matrix(TRUE))
    c = V * np.linalg.solve(V, [1.0, 0.0, 0.0])[None, :]
    tau = T[:, None] - TRUE["center"]
    k, s = -lam.real[None, :], TRUE["width"]
    phi = 0.5 * np.exp(-k * tau + 0.5 * (k * s) ** 2) * erfc((k * s * s - tau) / (s * np.sqrt(2)))
    pops = phi @ c.real.T
    g = lambda c0, w: np.exp(-0.5 * ((WL - c0) / w) ** 2)  # noqa: E731
    S = np.stack([g(560, 30), 0.8 * g(630, 40) - 0.3 * g(520, 25),
                  0.6 * g(600, 50)])
    rng = np.random.default_rng(seed)
    return 1e-2 * pops @ S + NOISE * rng.standard_normal((T.size, WL.size))


# ----------------------------------------------------------------------------- pyglotaran side
PG_MODEL = """\
dataset:
  dataset1:
    megacomplex: [cmplx1]
    initial_concentration: input1
    irf: irf1

megacomplex:
  cmplx1:
    type: decay
    k_matrix: [km1]

k_matrix:
  km1:
    matrix:
      (s2, s1): rates.kf
      (s1, s2): rates.kb
      (s3, s2): rates.k23
      (s3, s3): rates.k3

initial_concentration:
  input1:
    compartments: [s1, s2, s3]
    parameters: [inputs.1, inputs.0, inputs.0]

irf:
  irf1:
    type: gaussian
    center: irf.center
    width: irf.width
"""

PG_LABELS = {"kf": "rates.kf", "kb": "rates.kb", "k3": "rates.k3", "center": "irf.center",
             "width": "irf.width"}


def run_pyglotaran(tol: float) -> dict:
    import xarray as xr
    from glotaran import __version__
    from glotaran.io import load_model, load_parameters
    from glotaran.optimization.optimize import optimize
    from glotaran.project import Scheme

    params = "rates:\n" + "".join(f"  - [{k}, {START[k]}]\n" for k in ("kf", "kb", "k3"))
    params += f"  - [k23, {K23}, {{vary: false}}]\n"
    params += ("inputs:\n  - [\"1\", 1.0, {vary: false}]\n  - [\"0\", 0.0, {vary: false}]\n"
               f"irf:\n  - [center, {START['center']}]\n  - [width, {START['width']}]\n")
    data = xr.Dataset({"data": (("time", "spectral"), simulate())},
                      coords={"time": T, "spectral": WL})
    model = load_model(PG_MODEL, format_name="yml_str")
    parameters = load_parameters(params, format_name="yml_str")
    scheme = Scheme(model, parameters, {"dataset1": data}, maximum_number_function_evaluations=5000,
                    optimization_method="TrustRegionReflection", ftol=tol, gtol=tol, xtol=tol)
    t0 = time.perf_counter()
    result = optimize(scheme, verbose=False, raise_exception=True)
    wall = time.perf_counter() - t0
    out = {"tool": "pyglotaran", "version": __version__, "tol": tol, "success": bool(result.success),
           "cost": 0.5 * float(result.chi_square), "n_evaluations": int(result.number_of_function_evaluations),
           "wall_time_s": wall, "parameters": {}}
    for name, label in PG_LABELS.items():
        p = result.optimized_parameters.get(label)
        out["parameters"][name] = {"value": float(p.value), "stderr": float(p.standard_error)}
    return out


# ----------------------------------------------------------------------------- hotcarrier side
def run_hotcarrier() -> dict:
    import math

    sys.path.insert(0, str(ROOT))
    from hotcarrier import fit
    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.target.model import (IRF, DatasetModel, Parameter, ParameterSet, TargetModel,
                                        Transfer)

    P = [Parameter(k, START[k], 0.0, math.inf, unit="1/ps") for k in ("kf", "kb", "k3")]
    P += [Parameter("k23", K23, fixed=True, unit="1/ps")]
    P += [Parameter("center", START["center"], unit="ps"),
          Parameter("width", START["width"], 0.0, math.inf, unit="ps")]
    m = TargetModel(compartments=["s1", "s2", "s3"],
                    transfers=[Transfer("s1", "s2", "kf"), Transfer("s2", "s1", "kb"),
                               Transfer("s2", "s3", "k23"), Transfer("s3", None, "k3")],
                    initial={"s1": "1"}, parameters=ParameterSet(P, "parity model"),
                    datasets=[DatasetModel(irf=IRF("center", "width"))], source="parity model")
    t0 = time.perf_counter()
    res = fit(make_ta_dataset(T, WL, simulate(), signal_units="OD"), m)
    wall = time.perf_counter() - t0
    summ = res.summary()
    return {"tool": "hotcarrier", "converged": bool(res.converged), "cost": float(summ["cost"]),
            "wall_time_s": wall, "n_iterations": summ.get("n_iterations"),
            "parameters": {k: {"value": float(res.parameters[k]["value"]),
                               "stderr": float(res.parameters[k]["stderr"])} for k in TRUE}}


def _child(flag: str, python: str, *extra: str) -> dict:
    proc = subprocess.run([python, str(Path(__file__).resolve()), flag, *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=3600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"{flag} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(hc: dict, pg: dict) -> dict:
    out = {"cost_rel": hc["cost"] / pg["cost"] - 1.0, "value_rel": {}, "stderr_rel": {}}
    for k in TRUE:
        a, b = hc["parameters"][k], pg["parameters"][k]
        out["value_rel"][k] = a["value"] / b["value"] - 1.0
        out["stderr_rel"][k] = a["stderr"] / b["stderr"] - 1.0
    out["max_abs_value_rel"] = max(abs(v) for v in out["value_rel"].values())
    out["max_abs_stderr_rel"] = max(abs(v) for v in out["stderr_rel"].values())
    out["pass"] = bool(abs(out["cost_rel"]) <= 1e-6 and out["max_abs_value_rel"] <= 5e-3
                       and out["max_abs_stderr_rel"] <= 0.05)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyglotaran", action="store_true", help="run the pyglotaran side only")
    ap.add_argument("--hotcarrier", action="store_true", help="run the hotcarrier side only")
    ap.add_argument("--tol", type=float, default=1e-8, help="pyglotaran ftol = xtol = gtol")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "parity_reversible.json")
    args = ap.parse_args(argv)
    if args.pyglotaran:
        print(json.dumps(run_pyglotaran(args.tol)))
        return 0
    if args.hotcarrier:
        print(json.dumps(run_hotcarrier()))
        return 0
    pg_python = os.environ.get("PYGLOTARAN_PYTHON", "/work/venv-glotaran/bin/python")
    hc = _child("--hotcarrier", sys.executable)
    pg = _child("--pyglotaran", pg_python, "--tol", "1e-8")
    pg_tight = _child("--pyglotaran", pg_python, "--tol", "1e-12")
    out = {"model": f"s1 <-> s2 -> s3 -> ground (k23 = {K23} fixed), Gaussian IRF",
           "data": f"simulated {T.size} delays x {WL.size} wavelengths, noise {NOISE} OD",
           "true": TRUE, "start": START, "hotcarrier": hc, "pyglotaran": pg,
           "pyglotaran_tight": pg_tight, "vs_pyglotaran": compare(hc, pg),
           "vs_pyglotaran_tight": compare(hc, pg_tight)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps({k: out[k] for k in ("vs_pyglotaran", "vs_pyglotaran_tight")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

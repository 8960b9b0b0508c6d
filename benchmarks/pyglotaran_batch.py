"""pyglotaran 0.7.5 per-fit throughput on small synthetic maps (the pyglotaran side of issue #6).

Runs in the *pyglotaran* virtual environment::

    /work/venv-glotaran/bin/python benchmarks/pyglotaran_batch.py [--n-fits 7] [--shapes 200x100]

pyglotaran fits one dataset at a time, so a batch of N independent maps costs N single fits.
This script fits a sample of ``--n-fits`` maps from ``benchmarks/synthetic.py`` (3-compartment
sequential model A→B→C→ground, Gaussian IRF σ = 0.1 ps, lifetimes 1/10/100 ps, independent
noise per map, starting values 30–40 % off), after one untimed warm-up fit (numba compiles
pyglotaran's decay-matrix kernels on first use; its time is reported separately), and reports
the median per-fit wall time, fits per second, and the time for batches of 1…10 000 maps
**extrapolated linearly from the measured sample** (nothing above ``--n-fits`` fits was run).

Writes ``benchmarks/results/pyglotaran_batch.json`` (``--out``) and prints it.
"""

from __future__ import annotations

import time

_T_PROCESS0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synthetic as S  # noqa: E402

from glotaran import __version__ as GLOTARAN_VERSION  # noqa: E402
from glotaran.io import load_model, load_parameters  # noqa: E402
from glotaran.optimization.optimize import optimize  # noqa: E402
from glotaran.project import Scheme  # noqa: E402

from machine import cpu_model  # benchmarks/machine.py (the script's folder)

MODEL_YML = """\
dataset:
  dataset1:
    megacomplex: [mc1]
    initial_concentration: j1
    irf: irf1
megacomplex:
  mc1:
    type: decay
    k_matrix: [k1]
k_matrix:
  k1:
    matrix:
      (s2, s1): rates.1
      (s3, s2): rates.2
      (s3, s3): rates.3
initial_concentration:
  j1:
    compartments: [s1, s2, s3]
    parameters: [j.1, j.0, j.0]
irf:
  irf1:
    type: gaussian
    center: irf.center
    width: irf.width
"""

PARAMETERS_YML = f"""\
rates:
  - ["1", {S.START_RATES[0]}]
  - ["2", {S.START_RATES[1]}]
  - ["3", {S.START_RATES[2]}]
j:
  - ["1", 1.0, {{vary: false}}]
  - ["0", 0.0, {{vary: false}}]
irf:
  - [center, {S.START_IRF_CENTER}]
  - [width, {S.START_IRF_WIDTH}]
"""

BATCH_SIZES = (1, 10, 100, 1000, 10000)


def one_fit(t, w, data, max_nfev):
    """Build the scheme and fit one map; returns (seconds, result)."""
    one_fit.last_cpu_s = None
    c0 = time.process_time()
    t0 = time.perf_counter()
    ds = xr.DataArray(data, dims=("time", "spectral"), coords={"time": t, "spectral": w})
    ds = ds.to_dataset(name="data")
    model = load_model(MODEL_YML, format_name="yml_str")
    parameters = load_parameters(PARAMETERS_YML, format_name="yml_str")
    scheme = Scheme(model, parameters, {"dataset1": ds},
                    maximum_number_function_evaluations=max_nfev)
    result = optimize(scheme, verbose=False, raise_exception=True)
    wall = time.perf_counter() - t0
    one_fit.last_cpu_s = time.process_time() - c0
    return wall, result


def measure_shape(n_delays, n_wavelengths, n_fits, max_nfev, seed=1000):
    t, w, data = S.make_batch(n_fits + 1, n_delays, n_wavelengths, seed=seed)
    warm_s, _ = one_fit(t, w, data[0], max_nfev)  # includes numba JIT of the kernels
    times, cpus, fits = [], [], []
    for i in range(1, n_fits + 1):
        dt, res = one_fit(t, w, data[i], max_nfev)
        p = res.optimized_parameters
        rates = [p.get(f"rates.{j}").value for j in (1, 2, 3)]
        times.append(dt)
        cpus.append(one_fit.last_cpu_s)
        fits.append({
            "seconds": dt,
            "cpu_s": one_fit.last_cpu_s,
            "cost": 0.5 * float(res.chi_square),
            "n_evaluations": int(res.number_of_function_evaluations),
            "success": bool(res.success),
            "termination": str(res.termination_reason),
            "rates": rates,
            "irf_center": p.get("irf.center").value,
            "irf_width": p.get("irf.width").value,
            "max_rate_rel_error": max(abs(r / k - 1) for r, k in zip(rates, S.TRUE_RATES)),
        })
    med = statistics.median(times)
    return {
        "n_delays": n_delays,
        "n_wavelengths": n_wavelengths,
        "warmup_fit_s": warm_s,
        "per_fit_s": times,
        "per_fit_median_s": med,
        "per_fit_cpu_median_s": statistics.median(cpus),
        "per_fit_min_s": min(times),
        "per_fit_max_s": max(times),
        "fits_per_s": 1.0 / med,
        "fits": fits,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-fits", type=int, default=7, help="timed fits per shape (default 7)")
    ap.add_argument("--shapes", default="200x100",
                    help="comma-separated DELAYSxWAVELENGTHS list; the first is the main one "
                    "(default 200x100)")
    ap.add_argument("--max-nfev", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "pyglotaran_batch.json")
    args = ap.parse_args(argv)

    shapes = [tuple(int(x) for x in s.lower().split("x")) for s in args.shapes.split(",")]
    runs = [measure_shape(nt, nw, args.n_fits, args.max_nfev) for nt, nw in shapes]
    main_run = runs[0]
    med = main_run["per_fit_median_s"]
    out = {
        "tool": "pyglotaran",
        "version": GLOTARAN_VERSION,
        "numpy": np.__version__,
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version()},
        "problem": {
            "model": "3-compartment sequential A->B->C->ground, Gaussian IRF, variable projection",
            "true_rates_per_ps": list(S.TRUE_RATES),
            "true_irf_center_ps": S.TRUE_IRF_CENTER,
            "true_irf_width_ps": S.TRUE_IRF_WIDTH,
            "noise_std_od": S.NOISE_STD,
            "start_rates": list(S.START_RATES),
            "start_irf": [S.START_IRF_CENTER, S.START_IRF_WIDTH],
            "free_parameters": 5,
            "generator": "benchmarks/synthetic.py (seeds 1000+i)",
        },
        "method": "scipy least_squares TRF (pyglotaran default), ftol=xtol=gtol=1e-8, "
                  "one fit per map, sequentially, in one process",
        "n_fits_measured": args.n_fits,
        "shapes": runs,
        "per_fit_median_s": med,
        "fits_per_s": 1.0 / med,
        "extrapolated": True,
        "extrapolation_note": (
            f"batch times are per_fit_median_s x N, extrapolated linearly from {args.n_fits} "
            f"measured fits of a {shapes[0][0]}x{shapes[0][1]} map (+ one warm-up fit, "
            "reported separately, which a real batch would pay once); not measured at these sizes"
        ),
        "extrapolated_batch_s": {str(n): n * med for n in BATCH_SIZES},
        "process_s": time.perf_counter() - _T_PROCESS0,
        "note": "shared 2-core machine with other agents running: timings are noisy",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of a target fit against the number of compartments (sequential schemes).

Two measurements, each in fresh processes with the persistent compilation cache OFF (cold):

1. **The whole CLI process** (``python -m hotcarrier fit MAP --scheme sequential --lifetimes …
   --quiet --no-figure --no-netcdf``: start-up, imports, tracing, compilation, the fit, standard
   errors, outputs) of a 3- and a 12-compartment sequential fit of the SAME 60 × 20 map,
   interleaved, ``--reps`` each; medians and their ratio (issue 13: at most 2).
2. **Time to the first iteration** (``--scaling``): in a fresh process per n, trace + compile +
   first evaluation of the objective's cost and gradient (``jax.value_and_grad`` of
   ``Objective.cost``) and of its residual + Jacobian (``Objective.point``, the program the
   fit compiles first) for a sequential chain of n = 3, 6, 12, 25, 50 compartments on the same
   map, then the warm run time of each — with the kinetics a fit starts with (the eigen form
   where it is accurate at the start values, else the divided differences; recorded).

The map (numpy only): a 12-step sequential chain, lifetimes 0.3 … 3000 ps, Gaussian spectra,
0.1 mOD noise; the fits start from lifetimes 25 % off (geometrically spaced over the same
range for every n). Records ``results/compartments.json``::

    /work/venv/bin/python benchmarks/compartments.py [--reps 3] [--scaling] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N_TRUE = 12
T = np.concatenate([np.linspace(-1.0, 2.0, 25), np.geomspace(2.2, 5000.0, 35)])  # 60 delays, ps
WL = np.linspace(450.0, 700.0, 20)  # nm
IRF_MU, IRF_SIGMA = 0.1, 0.08  # ps


def lifetimes(n: int) -> np.ndarray:
    return np.geomspace(0.3, 3000.0, n)


def simulate(seed: int = 0) -> np.ndarray:
    """(T, W) map of a 12-compartment sequential chain (Bateman ⊗ Gaussian IRF, numpy/scipy)."""
    from scipy.special import erfc

    k = 1.0 / lifetimes(N_TRUE)
    n = k.size
    K = np.diag(-k) + np.diag(k[:-1], -1)
    lam, V = np.linalg.eig(K)
    c = V * np.linalg.solve(V, np.eye(n)[0])[None, :]  # x(t) = Σᵢ c[:, i] φ(λᵢ, t)
    tau = T[:, None] - IRF_MU
    r = -lam.real[None, :]
    phi = 0.5 * np.exp(-r * tau + 0.5 * (r * IRF_SIGMA) ** 2) * erfc(
        (r * IRF_SIGMA**2 - tau) / (IRF_SIGMA * np.sqrt(2)))
    pops = phi @ c.real.T  # (T, n)
    rng = np.random.default_rng(seed)
    centres = rng.uniform(470, 680, n)
    S = rng.uniform(0.3, 1.0, n)[:, None] * np.exp(-0.5 * ((WL[None, :] - centres[:, None]) / 35) ** 2)
    return 1e-2 * pops @ S + 1e-4 * rng.standard_normal((T.size, WL.size))


def write_map(path: Path) -> None:
    """Write the map with the package's own writer (format from the suffix)."""
    sys.path.insert(0, str(ROOT))
    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.io import save_ta

    save_ta(make_ta_dataset(T, WL, simulate(), signal_units="OD"), path)


def cold_env() -> dict:
    env = dict(os.environ)
    env["HOTCARRIER_NO_COMPILE_CACHE"] = "1"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(data: Path, n: int, timeout: float) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"hc_comp{n}_"))
    starts = ",".join(f"{1.25 * x:.6g}" for x in lifetimes(n))
    cmd = [sys.executable, "-m", "hotcarrier", "fit", str(data), "--scheme", "sequential",
           "--lifetimes", starts, "--irf-fwhm", "0.2", "--t0", "0.05", "--out", str(out),
           "--quiet", "--no-figure", "--no-netcdf"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cold_env(), timeout=timeout,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    rec = {"n": n, "process_s": wall, "rc": proc.returncode}
    summ = out / "summary.json"
    if summ.is_file():
        s = json.loads(summ.read_text())
        for key in ("cost", "converged", "n_iterations", "wall_time_s"):
            if key in s:
                rec[key] = s[key]
    if proc.returncode != 0:
        rec["stderr_tail"] = proc.stderr[-2000:]
    return rec


SCALING_CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, sys.argv[3])
from compartments import T, WL, simulate, lifetimes
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.target.model import TargetModel
from hotcarrier.target.fit import setup
n = int(sys.argv[1])
m = TargetModel.from_scheme("sequential", list(1.25 * lifetimes(n)), irf_fwhm=0.2, t0=0.05)
s = setup(make_ta_dataset(T, WL, simulate()), m)
if not s.eigen_margin(s.theta0):  # the kinetics a fit would start with
    s = s.with_kinetics("newton")
th = jnp.asarray(s.theta0)
t0 = time.perf_counter()
vg = jax.jit(jax.value_and_grad(s.objective.cost))
v, g = jax.block_until_ready(vg(th, s.arrays))
t1 = time.perf_counter()
p = jax.block_until_ready(s.point(th))
t2 = time.perf_counter()
reps = 5
for _ in range(reps):
    jax.block_until_ready(vg(th, s.arrays))
t3 = time.perf_counter()
for _ in range(reps):
    jax.block_until_ready(s.point(th))
t4 = time.perf_counter()
print(json.dumps(dict(n=n, import_setup_s=t0 - t_start, first_cost_grad_s=t1 - t0,
                      first_point_s=t2 - t1, run_cost_grad_s=(t3 - t2) / reps,
                      run_point_s=(t4 - t3) / reps, cost=float(v),
                      kinetics=s.objective.kinetics,
                      finite=bool(np.isfinite(float(v)) and np.all(np.isfinite(np.asarray(p["J"])))))))
"""


def run_scaling(n: int, timeout: float) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SCALING_CHILD, str(n), "x", str(HERE)],
                          capture_output=True, text=True, env=cold_env(), timeout=timeout,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"n": n, "rc": proc.returncode, "stderr_tail": proc.stderr[-2000:]}
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    rec["process_s"] = wall
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="3,12")
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--scaling-sizes", default="3,6,12,25,50")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "compartments.json")
    args = ap.parse_args(argv)

    sizes = [int(x) for x in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="hc_comp_map_"))
    data = tmp / "map60x20.csv"
    write_map(data)
    runs = {n: [] for n in sizes}
    for rep in range(args.reps):  # interleaved
        for n in sizes:
            rec = run_cli(data, n, args.timeout)
            runs[n].append(rec)
            print(json.dumps(rec), file=sys.stderr)
    med = {n: statistics.median(r["process_s"] for r in runs[n]) for n in sizes}
    out = {
        "what": "whole `python -m hotcarrier fit` process, sequential scheme, 60 x 20 map, "
                "cold compilation cache, interleaved",
        "machine": {"nproc": os.cpu_count(), "load_avg_start": os.getloadavg()},
        "runs": {str(n): runs[n] for n in sizes},
        "median_process_s": {str(n): med[n] for n in sizes},
    }
    if len(sizes) >= 2:
        out["ratio_last_over_first"] = med[sizes[-1]] / med[sizes[0]]
    if args.scaling:
        out["scaling"] = [run_scaling(int(n), args.timeout)
                          for n in args.scaling_sizes.split(",")]
        for rec in out["scaling"]:
            print(json.dumps(rec), file=sys.stderr)
    out["machine"]["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(out, indent=2) + "\n")
    tmp_out.replace(args.out)
    print(json.dumps({k: out[k] for k in ("median_process_s", "ratio_last_over_first")
                      if k in out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Batch fitting throughput (issue #6): hotcarrier's vmapped batch fitter vs pyglotaran.

Runs in the project's virtual environment::

    python benchmarks/bench_batch.py [--sizes 1,10,100,1000] [--chunk 256] [--scaling]
                                     [--pg-fits 5 | --skip-pyglotaran]

Problem: ``benchmarks/synthetic.py`` maps — 3-compartment sequential model A→B→C→ground,
Gaussian IRF (σ 0.1 ps), lifetimes 1/10/100 ps, 200 delays × 100 wavelengths, independent noise
per map; five free parameters (3 rates, IRF centre and width), amplitudes by variable
projection; starting values 30–40 % off (``synthetic.START_*``).

hotcarrier: for every batch size ``N`` a fresh child process (so nothing is cached between
sizes) builds the batch and calls the batch fitter twice on it: the first call includes tracing
and XLA compilation, the second is the steady-state run; ``compile ≈ first − second``
(cross-checked with JAX's own compile log, ``JAX_LOG_COMPILES=1``, summed over the child).
Chunking (``--chunk``, default 256, jax 0.10 on 2 CPU cores can dead-lock in batched LAPACK
above ~512 items; see ``../shared/jax-notes.md``) is passed to the fitter when it accepts it.

pyglotaran: ``benchmarks/pyglotaran_batch.py`` is run in the same script run (its venv python
from ``$PYGLOTARAN_PYTHON``, default ``/work/venv-glotaran/bin/python``): median seconds per fit
from a small sample, extrapolated linearly to N (pyglotaran fits one map at a time).

``--scaling`` also times batches of ``--scaling-batch`` maps for 100/200/400/800 delays × 100
wavelengths and 200 delays × 50/100/200/400 wavelengths.

Writes ``benchmarks/results/batch.json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py (the script's folder)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
DEFAULT_PG_PYTHON = "/work/venv-glotaran/bin/python"


# --------------------------------------------------------------------------------------------
# child: one batch size, one fresh process
# --------------------------------------------------------------------------------------------

FWHM_PER_SIGMA = 2.0 * (2.0 * 0.6931471805599453) ** 0.5  # 2.3548…


def _hc_fit_batch_callable():
    """Return ``fit(t, w, data[N,T,W], chunk) -> dict`` wrapping ``hotcarrier.batch.fit_arrays``.

    The model is hotcarrier's quick sequential model (``TargetModel.from_scheme``) with the same
    starting point as ``pyglotaran_batch.py``: lifetimes 1/START_RATES, IRF FWHM from
    START_IRF_WIDTH, t0 = START_IRF_CENTER; IRF centre and width free. Defaults of ``fit_arrays``
    are kept (standard errors and spectra computed, as pyglotaran does).
    """
    try:
        from hotcarrier.batch import fit_arrays
    except ModuleNotFoundError as exc:
        raise ImportError(
            "hotcarrier.batch is not available yet (the batch fitter has not landed); "
            "bench_batch.py cannot time the hotcarrier side"
        ) from exc
    import numpy as np

    import synthetic as S
    from hotcarrier.target.model import TargetModel

    model = TargetModel.from_scheme(
        "sequential", [1.0 / k for k in S.START_RATES],
        irf_fwhm=S.START_IRF_WIDTH * FWHM_PER_SIGMA, t0=S.START_IRF_CENTER)

    def fit(t, w, data, chunk):
        res = fit_arrays(model, t, w, data, chunk_size=chunk)
        taus = np.asarray(res["value"].sel(param=["tau1", "tau2", "tau3"]).values, float)
        return {
            "rates": 1.0 / taus,
            "converged": np.asarray(res["converged"].values, bool),
            "cost": np.asarray(res["cost"].values, float),
            "n_iter": np.asarray(res["n_iter"].values) if "n_iter" in res else None,
        }

    return fit


def child(n: int, n_delays: int, n_wavelengths: int, chunk: int, seed: int) -> dict:
    import numpy as np

    import synthetic as S

    t, w, data = S.make_batch(n, n_delays, n_wavelengths, seed=seed)
    fit = _hc_fit_batch_callable()
    t0 = time.perf_counter()
    r1 = fit(t, w, data, chunk)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    r2 = fit(t, w, data, chunk)
    second = time.perf_counter() - t0
    rates = np.asarray(r2["rates"])  # (N, 3)
    rel = np.abs(np.sort(rates, axis=1)[:, ::-1] / np.asarray(S.TRUE_RATES) - 1.0)
    conv = np.asarray(r2["converged"], dtype=bool)
    return {
        "n": n,
        "n_delays": n_delays,
        "n_wavelengths": n_wavelengths,
        "chunk": chunk,
        "first_call_s": first,
        "second_call_s": second,
        "compile_s_estimate": first - second,
        "run_s": second,
        "fits_per_s_run": n / second,
        "fits_per_s_incl_compile": n / first,
        "n_converged": int(conv.sum()),
        "median_cost": float(np.median(np.asarray(r2["cost"]))),
        "max_rate_rel_error_median_over_batch": float(np.median(rel.max(axis=1))),
        "median_n_iter": (None if r2.get("n_iter") is None
                          else float(np.median(r2["n_iter"]))),
        "first_equals_second": bool(np.allclose(np.asarray(r1["rates"]), rates)),
    }


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------

def run_child(n, nt, nw, chunk, seed, timeout):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(n), str(nt), str(nw),
           str(chunk), str(seed)]
    from bench_hippius import parse_compile_log, timed_run

    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env["JAX_LOG_COMPILES"] = "1"
    proc, wall, cpu = timed_run(cmd, env, timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("CHILD "):
            rec = json.loads(line[6:])
            rec["process_s"] = wall
            rec["cpu_s"] = cpu
            # JAX's own compile log over the whole child (both calls)
            rec["logged_compile"] = parse_compile_log(proc.stderr)
            return rec
    return {"n": n, "n_delays": nt, "n_wavelengths": nw, "error": proc.stderr[-3000:],
            "rc": proc.returncode, "process_s": wall}


def run_pyglotaran(pg_python, n_fits, shapes, timeout):
    out = HERE / "results" / "pyglotaran_batch.json"
    cmd = [pg_python, str(HERE / "pyglotaran_batch.py"), "--n-fits", str(n_fits),
           "--shapes", shapes, "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr[-3000:]}
    return json.loads(out.read_text())


def main(argv=None):
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        n, nt, nw, chunk, seed = (int(x) for x in sys.argv[2:7])
        try:
            rec = child(n, nt, nw, chunk, seed)
        except ImportError as exc:
            print(f"bench_batch: {exc}", file=sys.stderr)
            return 3
        print("CHILD " + json.dumps(rec), flush=True)
        return 0

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100,1000")
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--scaling-batch", type=int, default=100)
    ap.add_argument("--pg-fits", type=int, default=5)
    ap.add_argument("--skip-pyglotaran", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "batch.json")
    args = ap.parse_args(argv)

    try:
        import hotcarrier.batch  # noqa: F401
    except ModuleNotFoundError:
        print("bench_batch: hotcarrier.batch is not available yet (the batch fitter has not "
              "landed); only the pyglotaran side can be measured: run "
              "$PYGLOTARAN_PYTHON benchmarks/pyglotaran_batch.py")
        return 2

    sizes = [int(s) for s in args.sizes.split(",")]
    shapes_scaling = [(100, 100), (200, 100), (400, 100), (800, 100),
                      (200, 50), (200, 200), (200, 400)]

    pg_python = os.environ.get("PYGLOTARAN_PYTHON", DEFAULT_PG_PYTHON)
    pg = None
    if args.skip_pyglotaran:
        pg_note = "skipped (--skip-pyglotaran)"
    elif not Path(pg_python).exists():
        pg_note = f"skipped: {pg_python} not found; run benchmarks/setup_pyglotaran.sh"
        print("bench_batch: " + pg_note)
    else:
        pg_note = None

    hc_sizes = []
    for i, n in enumerate(sizes):
        rec = run_child(n, 200, 100, args.chunk, 0, args.timeout)
        hc_sizes.append(rec)
        print(f"hotcarrier N={n}: " + json.dumps({k: rec.get(k) for k in (
            "first_call_s", "second_call_s", "fits_per_s_run", "n_converged", "error")}),
            flush=True)
        if i == 0 and pg_note is None:  # pyglotaran sample in the middle of the run
            shapes = "200x100" + ("," + ",".join(f"{a}x{b}" for a, b in shapes_scaling
                                                 if (a, b) != (200, 100)) if args.scaling else "")
            pg = run_pyglotaran(pg_python, args.pg_fits, shapes, args.timeout)
            print("pyglotaran per-fit median s: " + str(pg.get("per_fit_median_s")), flush=True)

    hc_scaling = []
    if args.scaling:
        for nt, nw in shapes_scaling:
            rec = run_child(args.scaling_batch, nt, nw, args.chunk, 0, args.timeout)
            hc_scaling.append(rec)
            print(f"scaling {nt}x{nw}: run {rec.get('run_s')} compile {rec.get('compile_s_estimate')}",
                  flush=True)

    ratios = {}
    if pg and "per_fit_median_s" in pg:
        pg_fps = 1.0 / pg["per_fit_median_s"]
        for rec in hc_sizes:
            if "run_s" in rec:
                n = rec["n"]
                ratios[str(n)] = {
                    "throughput_ratio_run": rec["fits_per_s_run"] / pg_fps,
                    "throughput_ratio_incl_compile": rec["fits_per_s_incl_compile"] / pg_fps,
                    "pyglotaran_extrapolated_s": n * pg["per_fit_median_s"],
                    "hotcarrier_first_call_s": rec["first_call_s"],
                    "hotcarrier_run_s": rec["run_s"],
                }
    out = {
        "benchmark": "batch of independent 3-compartment sequential fits, 200 x 100 maps",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "loadavg_at_end": os.getloadavg()},
        "hotcarrier_sizes": hc_sizes,
        "hotcarrier_scaling": hc_scaling,
        "pyglotaran": pg if pg else {"note": pg_note},
        "ratio_hotcarrier_over_pyglotaran_throughput": ratios,
        "note": "pyglotaran batch times are extrapolated linearly from its measured per-fit "
                "median; shared 2-core machine, other agents running: timings are noisy",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(ratios, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

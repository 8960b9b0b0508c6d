"""Hippius target analysis: hotcarrier vs pyglotaran 0.7.5, end to end, interleaved.

Runs in the project's virtual environment::

    python benchmarks/bench_hippius.py [--reps-hc 3] [--reps-pg 2] [--skip-pyglotaran]

What is timed
-------------
* **hotcarrier** — every repetition is a *fresh process* running the CLI,
  ``python -m hotcarrier fit DATA --model fits/hippius/model.toml --out TMP``, so Python start-up,
  imports, data loading, JIT compilation and the fit are all included (``process_s``; the
  persistent JAX compilation cache is switched off in the child). The fit's own
  ``summary.json`` gives ``wall_time_s``, ``cost``, ``converged``, ``n_iterations``.
  Compile and run are separated by a second child process (``--split``, on by default) that calls
  the CLI entry point twice in one interpreter: the first call pays tracing + XLA compilation,
  the second reuses the compiled functions, so ``compile ≈ first − second`` and ``run = second``.
  If ``summary.json`` reports a compile time itself, that is recorded too.
* **pyglotaran** — ``benchmarks/pyglotaran_hippius.py`` in the pyglotaran venv
  (``$PYGLOTARAN_PYTHON``, default ``/work/venv-glotaran/bin/python``), also a fresh process per
  repetition; ``process_s`` (includes imports and numba compilation) and ``wall_time_s``
  (``optimize()`` only) are recorded.

Repetitions are interleaved (hc, pg, hc, pg, hc, …) so that load from other processes on the
shared machine hits both tools alike. Reported: medians, min/max, and the ratios
pyglotaran/hotcarrier of the medians, for the end-to-end process time and for the fit alone.
Results go to ``benchmarks/results/hippius.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA_NAME = "glotaran_hippius/demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / DATA_NAME
DEFAULT_MODEL = ROOT / "fits" / "hippius" / "model.toml"
DEFAULT_PG_PYTHON = "/work/venv-glotaran/bin/python"
REFERENCE_COST = 0.002325821353  # ../shared/data/README.md

# Child used for the compile/run split: the CLI entry point twice in one interpreter.
SPLIT_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from hotcarrier.cli import main
t_import = time.perf_counter() - t0
data, model, out1, out2 = sys.argv[1:5]
t0 = time.perf_counter(); rc1 = main(["fit", data, "--model", model, "--out", out1]); t1 = time.perf_counter() - t0
t0 = time.perf_counter(); rc2 = main(["fit", data, "--model", model, "--out", out2]); t2 = time.perf_counter() - t0
print("SPLIT " + json.dumps({"import_s": t_import, "first_call_s": t1, "second_call_s": t2, "rc": [rc1, rc2]}))
"""


def child_env():
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def read_summary(out_dir: Path) -> dict:
    p = out_dir / "summary.json"
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError:
        return {}


def pick(summary: dict, *keys):
    """First present key (also looks one level down, e.g. summary['fit']['cost'])."""
    for k in keys:
        if k in summary:
            return summary[k]
    for v in summary.values():
        if isinstance(v, dict):
            for k in keys:
                if k in v:
                    return v[k]
    return None


def compile_from_summary(summary: dict):
    flat = dict(summary)
    for v in summary.values():
        if isinstance(v, dict):
            flat.update(v)
    for k, v in flat.items():
        if "compile" in k and isinstance(v, (int, float)):
            return k, float(v)
    return None, None


def run_hotcarrier(data: Path, model: Path, timeout: float) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="hc_hippius_"))
    cmd = [sys.executable, "-m", "hotcarrier", "fit", str(data), "--model", str(model),
           "--out", str(out_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=timeout,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    summary = read_summary(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    rec = {
        "process_s": wall,
        "rc": proc.returncode,
        "fit_wall_time_s": pick(summary, "wall_time_s"),
        "cost": pick(summary, "cost"),
        "converged": pick(summary, "converged"),
        "n_iterations": pick(summary, "n_iterations"),
        "n_evaluations": pick(summary, "n_evaluations", "n_eval", "nfev"),
    }
    ck, cv = compile_from_summary(summary)
    if ck:
        rec["summary_compile_key"], rec["summary_compile_s"] = ck, cv
    if proc.returncode != 0:
        rec["stderr_tail"] = proc.stderr[-2000:]
    return rec


def run_split(data: Path, model: Path, timeout: float) -> dict:
    d1 = Path(tempfile.mkdtemp(prefix="hc_split1_"))
    d2 = Path(tempfile.mkdtemp(prefix="hc_split2_"))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SPLIT_CHILD, str(data), str(model), str(d1),
                           str(d2)], capture_output=True, text=True, env=child_env(),
                          timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    s1, s2 = read_summary(d1), read_summary(d2)
    shutil.rmtree(d1, ignore_errors=True)
    shutil.rmtree(d2, ignore_errors=True)
    rec = {"process_s": wall, "rc": proc.returncode}
    for line in proc.stdout.splitlines():
        if line.startswith("SPLIT "):
            rec.update(json.loads(line[6:]))
    if "first_call_s" in rec:
        rec["compile_s_estimate"] = rec["first_call_s"] - rec["second_call_s"]
        rec["run_s"] = rec["second_call_s"]
    rec["first_fit_wall_time_s"] = pick(s1, "wall_time_s")
    rec["second_fit_wall_time_s"] = pick(s2, "wall_time_s")
    rec["second_cost"] = pick(s2, "cost")
    if proc.returncode != 0:
        rec["stderr_tail"] = proc.stderr[-2000:]
    return rec


def run_pyglotaran(pg_python: str, data: Path, timeout: float) -> dict:
    cmd = [pg_python, str(HERE / "pyglotaran_hippius.py"), "--data", str(data)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    rec = {"process_s": wall, "rc": proc.returncode}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
            rec.update({
                "fit_wall_time_s": res.get("wall_time_s"),
                "import_s": res.get("import_s"),
                "cost": res.get("cost"),
                "rmse": res.get("rmse"),
                "n_evaluations": res.get("n_evaluations"),
                "n_jacobian_evaluations": res.get("n_jacobian_evaluations"),
                "termination_reason": res.get("termination_reason"),
                "parameters": res.get("parameters"),
            })
    if proc.returncode != 0:
        rec["stderr_tail"] = proc.stderr[-2000:]
    return rec


def stats(values):
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def versions():
    out = {"python": platform.python_version()}
    for mod in ("jax", "jaxlib", "optax", "numpy", "hotcarrier"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - informational only
            out[mod] = None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps-hc", type=int, default=3)
    ap.add_argument("--reps-pg", type=int, default=2)
    ap.add_argument("--no-split", dest="split", action="store_false",
                    help="skip the compile/run split child")
    ap.add_argument("--skip-pyglotaran", action="store_true")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "hippius.json")
    args = ap.parse_args(argv)

    if not args.data.is_file():
        print(f"bench_hippius: data file not found: {args.data} (needs ../shared/data)")
        return 2
    if not args.model.is_file():
        print(f"bench_hippius: hotcarrier model file not found: {args.model} "
              "(hotcarrier.fit / fits/hippius/model.toml not landed yet?)")
        return 2

    pg_python = os.environ.get("PYGLOTARAN_PYTHON", DEFAULT_PG_PYTHON)
    reps_pg = args.reps_pg
    pg_note = None
    if args.skip_pyglotaran:
        reps_pg, pg_note = 0, "skipped (--skip-pyglotaran)"
    elif not Path(pg_python).exists():
        reps_pg = 0
        pg_note = (f"skipped: pyglotaran python not found at {pg_python}; run "
                   "benchmarks/setup_pyglotaran.sh or set PYGLOTARAN_PYTHON")
        print("bench_hippius: " + pg_note)

    hc_runs, pg_runs, splits = [], [], []
    for i in range(max(args.reps_hc, reps_pg)):
        if i < args.reps_hc:
            r = run_hotcarrier(args.data, args.model, args.timeout)
            hc_runs.append(r)
            print(f"[{i}] hotcarrier  process {r['process_s']:.2f} s  fit {r['fit_wall_time_s']}  "
                  f"cost {r['cost']}  rc {r['rc']}", flush=True)
        if i < reps_pg:
            r = run_pyglotaran(pg_python, args.data, args.timeout)
            pg_runs.append(r)
            print(f"[{i}] pyglotaran  process {r['process_s']:.2f} s  fit {r.get('fit_wall_time_s')}  "
                  f"cost {r.get('cost')}  nfev {r.get('n_evaluations')}  rc {r['rc']}", flush=True)
    if args.split:
        for _ in range(1):
            r = run_split(args.data, args.model, args.timeout)
            splits.append(r)
            print(f"split: first {r.get('first_call_s')}  second {r.get('second_call_s')}  "
                  f"rc {r['rc']}", flush=True)

    ok_hc = [r for r in hc_runs if r["rc"] == 0]
    ok_pg = [r for r in pg_runs if r["rc"] == 0]
    hc = {
        "process_s": stats([r["process_s"] for r in ok_hc]),
        "fit_wall_time_s": stats([r["fit_wall_time_s"] for r in ok_hc]),
        "summary_compile_s": stats([r.get("summary_compile_s") for r in ok_hc]),
        "cost": stats([r["cost"] for r in ok_hc]),
        "n_iterations": [r["n_iterations"] for r in ok_hc],
        "converged": [r["converged"] for r in ok_hc],
    }
    if splits:
        hc["split_compile_s_estimate"] = stats([s.get("compile_s_estimate") for s in splits])
        hc["split_run_s"] = stats([s.get("run_s") for s in splits])
        hc["split_import_s"] = stats([s.get("import_s") for s in splits])
    pg = {
        "process_s": stats([r["process_s"] for r in ok_pg]),
        "fit_wall_time_s": stats([r["fit_wall_time_s"] for r in ok_pg]),
        "cost": stats([r["cost"] for r in ok_pg]),
        "n_evaluations": [r.get("n_evaluations") for r in ok_pg],
        "n_jacobian_evaluations": [r.get("n_jacobian_evaluations") for r in ok_pg],
    }
    ratios = {}
    if hc["process_s"] and pg["process_s"]:
        ratios["end_to_end_process"] = pg["process_s"]["median"] / hc["process_s"]["median"]
    if hc["fit_wall_time_s"] and pg["fit_wall_time_s"]:
        ratios["fit_only"] = pg["fit_wall_time_s"]["median"] / hc["fit_wall_time_s"]["median"]
    if hc.get("split_run_s") and pg["fit_wall_time_s"]:
        ratios["pg_fit_vs_hc_warm_run"] = pg["fit_wall_time_s"]["median"] / hc["split_run_s"]["median"]

    out = {
        "benchmark": "Hippius target analysis (335 x 346, 9 free parameters), fit to convergence",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(),
                    "loadavg_at_end": os.getloadavg()},
        "versions": versions(),
        "data": str(args.data),
        "model": str(args.model),
        "reference_cost_readme": REFERENCE_COST,
        "interleaved": True,
        "hotcarrier": hc,
        "pyglotaran": pg if ok_pg else {"note": pg_note or "no successful run"},
        "ratio_pyglotaran_over_hotcarrier": ratios,
        "runs": {"hotcarrier": hc_runs, "pyglotaran": pg_runs, "split": splits},
        "note": "shared 2-core machine with other agents running: timings are noisy; "
                "compare medians and the ratios from this same run",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"hotcarrier": hc, "pyglotaran": out["pyglotaran"], "ratios": ratios},
                     indent=2))
    return 0 if ok_hc else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Hippius target analysis: hotcarrier vs pyglotaran 0.7.5, end to end, interleaved.

Runs in the project's virtual environment::

    python benchmarks/bench_hippius.py [--reps-hc 3] [--reps-pg 3] [--skip-pyglotaran]

What is timed
-------------
* **hotcarrier** — every repetition is a *fresh process* running the CLI,
  ``python -m hotcarrier fit DATA --model fits/hippius/model.toml --out TMP --quiet --no-figure
  --no-netcdf`` (``--hc-args``), so Python start-up, imports, data loading, JIT compilation, the
  fit and the standard errors are all included (``process_s``; the persistent JAX compilation
  cache is switched off in the child). The fit's own ``summary.json`` gives ``wall_time_s``
  (inside ``fit()``: setup, compilation, optimisation, covariance), ``fit_time_s`` (the same
  without the covariance step), ``cost``, ``converged``, ``n_iterations``.
  Compile time is measured in the same child with ``JAX_LOG_COMPILES=1``: the sums of JAX's own
  "Finished XLA compilation … in X sec" and "jaxpr to MLIR module conversion" lines give
  ``compile_s`` (XLA + lowering), "Finished tracing" lines give ``tracing_s`` (nested jits may be
  counted twice, so it is an upper bound); ``run_s = fit wall_time_s − compile_s − tracing_s``
  (a lower bound on the pure run time). These *cold* runs disable the persistent compilation
  cache (``HOTCARRIER_NO_COMPILE_CACHE=1``). ``--cache-reps N`` (default 2) then times N *warm*
  runs: the CLI's default persistent cache, in a private directory filled by one untimed run.
  ``--split`` additionally runs one child that calls the
  CLI twice in one interpreter (first call − second call, meaningful only if the second call
  reuses compiled functions).
* **pyglotaran** — ``benchmarks/pyglotaran_hippius.py`` in the pyglotaran venv
  (``$PYGLOTARAN_PYTHON``, default ``/work/venv-glotaran/bin/python``), also a fresh process per
  repetition; ``process_s`` (includes imports and numba compilation) and ``wall_time_s``
  (``optimize()`` only, which includes pyglotaran's standard errors) are recorded.
  Every child's CPU time (user + sys, from ``getrusage(RUSAGE_CHILDREN)``) is recorded too: on a
  machine shared with other jobs it is a steadier measure than wall time.

Before timing, the package's bytecode is written (``compileall``), as ``pip install`` does:
on a machine with ``PYTHONDONTWRITEBYTECODE=1`` a source checkout would otherwise compile
every imported module of the package in every process (~0.1 s of a warm run).

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
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py (the script's folder)

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
extra = ["--quiet", "--no-figure", "--no-netcdf"]
t0 = time.perf_counter(); rc1 = main(["fit", data, "--model", model, "--out", out1, *extra]); t1 = time.perf_counter() - t0
t0 = time.perf_counter(); rc2 = main(["fit", data, "--model", model, "--out", out2, *extra]); t2 = time.perf_counter() - t0
print("SPLIT " + json.dumps({"import_s": t_import, "first_call_s": t1, "second_call_s": t2, "rc": [rc1, rc2]}))
"""


def child_env(log_compiles: bool = False, cache_dir: str | None = None):
    env = dict(os.environ)
    if log_compiles:
        env["JAX_LOG_COMPILES"] = "1"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    # cold: no persistent compilation cache (the CLI enables one by default since 5db0a95)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env["HOTCARRIER_NO_COMPILE_CACHE"] = "1"
    if cache_dir is not None:
        # warm mode: the CLI's default persistent cache (JAX's default thresholds), but in a
        # private directory that an untimed run has filled
        env.pop("HOTCARRIER_NO_COMPILE_CACHE", None)
        env["JAX_ENABLE_COMPILATION_CACHE"] = "true"
        env["JAX_COMPILATION_CACHE_DIR"] = cache_dir
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


_COMPILE_RE = {
    "xla_compile_s": re.compile(r"Finished XLA compilation of .* in ([0-9.eE+-]+) sec"),
    "lowering_s": re.compile(r"Finished jaxpr to MLIR module conversion .* in ([0-9.eE+-]+) sec"),
    "tracing_s": re.compile(r"Finished tracing \+ transforming .* in ([0-9.eE+-]+) sec|"
                            r"Finished tracing .* in ([0-9.eE+-]+) sec"),
}


_XLA_NAME = re.compile(r"Finished XLA compilation of (.*) in [0-9.eE+-]+ sec")


def parse_compile_log(text: str, top: int = 6) -> dict:
    out = {k: 0.0 for k in _COMPILE_RE}
    out["n_xla_compilations"] = 0
    biggest = []
    for line in text.splitlines():
        for key, rx in _COMPILE_RE.items():
            m = rx.search(line)
            if m:
                v = float(next(g for g in m.groups() if g is not None))
                out[key] += v
                if key == "xla_compile_s":
                    out["n_xla_compilations"] += 1
                    n = _XLA_NAME.search(line)
                    biggest.append((v, n.group(1)[:80] if n else "?"))
                break
    out["compile_s"] = out["xla_compile_s"] + out["lowering_s"]
    out["largest_xla_compilations"] = [[name, round(v, 3)]
                                       for v, name in sorted(biggest, reverse=True)[:top]]
    return out


def timed_run(cmd, env, timeout):
    """subprocess.run with wall time and the child's CPU time (user + sys)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return proc, wall, cpu


def compile_from_summary(summary: dict):
    flat = dict(summary)
    for v in summary.values():
        if isinstance(v, dict):
            flat.update(v)
    for k, v in flat.items():
        if "compile" in k and isinstance(v, (int, float)):
            return k, float(v)
    return None, None


def run_hotcarrier(data: Path, model: Path, timeout: float, extra_args: list[str],
                   cache_dir: str | None = None) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="hc_hippius_"))
    cmd = [sys.executable, "-m", "hotcarrier", "fit", str(data), "--model", str(model),
           "--out", str(out_dir), *extra_args]
    proc, wall, cpu = timed_run(cmd, child_env(log_compiles=True, cache_dir=cache_dir), timeout)
    summary = read_summary(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    comp = parse_compile_log(proc.stderr)
    fit_wall = pick(summary, "wall_time_s")
    rec = {
        "process_s": wall,
        "cpu_s": cpu,
        "rc": proc.returncode,
        "fit_wall_time_s": fit_wall,
        "fit_time_s_excl_covariance": pick(summary, "fit_time_s"),
        **comp,
        "run_s": (fit_wall - comp["compile_s"] - comp["tracing_s"]) if fit_wall else None,
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
    proc, wall, cpu = timed_run([sys.executable, "-c", SPLIT_CHILD, str(data), str(model),
                                 str(d1), str(d2)], child_env(), timeout)
    s1, s2 = read_summary(d1), read_summary(d2)
    shutil.rmtree(d1, ignore_errors=True)
    shutil.rmtree(d2, ignore_errors=True)
    rec = {"process_s": wall, "cpu_s": cpu, "rc": proc.returncode}
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
    proc, wall, cpu = timed_run(cmd, dict(os.environ), timeout)
    rec = {"process_s": wall, "cpu_s": cpu, "rc": proc.returncode}
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
                "n_residual_evaluations_incl_fd_jacobian": (
                    res["n_evaluations"] + res["n_jacobian_evaluations"] * len(res["parameters"])
                    if res.get("n_jacobian_evaluations") is not None else None),
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


def git_state():
    def g(*a):
        try:
            return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT,
                                  timeout=30).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return None
    dirty = g("status", "--porcelain", "--", "hotcarrier", "fits")
    return {"commit": g("rev-parse", "HEAD"),
            "hotcarrier_or_fits_dirty": bool(dirty),
            "dirty_files": dirty.splitlines() if dirty else []}


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
    ap.add_argument("--reps-pg", type=int, default=3)
    ap.add_argument("--split", action="store_true",
                    help="also run one child calling the CLI twice in one interpreter")
    ap.add_argument("--cache-reps", type=int, default=2,
                    help="warm mode: N more hotcarrier processes sharing a persistent JAX "
                    "compilation cache (after one untimed run that fills it); default 2")
    ap.add_argument("--hc-args", default="--quiet --no-figure --no-netcdf",
                    help="extra arguments for 'hotcarrier fit' (default: %(default)s)")
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
              "(hotcarrier.target.fit / fits/hippius/model.toml not landed yet?)")
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

    # the package's bytecode, as `pip install` writes it: a source checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (set on this machine) would otherwise compile every imported
    # module of the package in every process (~0.1 s), which no installed copy does (pyglotaran
    # runs from its pip-installed venv)
    import compileall

    compileall.compile_dir(str(HERE.parent / "hotcarrier"), quiet=1)

    hc_runs, pg_runs, splits, cache_runs = [], [], [], []
    cache_dir = None
    if args.cache_reps > 0:
        # the warm cache is filled first, so that warm runs interleave with the others
        cache_dir = tempfile.mkdtemp(prefix="hc_jax_cache_")
        fill = run_hotcarrier(args.data, args.model, args.timeout, args.hc_args.split(), cache_dir)
        print(f"cache fill run: process {fill['process_s']:.2f} s  rc {fill['rc']}", flush=True)
    loads = [os.getloadavg()[0]]
    for i in range(max(args.reps_hc, reps_pg, args.cache_reps)):
        if i < args.reps_hc:
            r = run_hotcarrier(args.data, args.model, args.timeout, args.hc_args.split())
            hc_runs.append(r)
            print(f"[{i}] hotcarrier  process {r['process_s']:.2f} s  cpu {r['cpu_s']:.1f} s  "
                  f"fit {r['fit_wall_time_s']}  compile {r['compile_s']:.1f} s  "
                  f"cost {r['cost']}  iters {r['n_iterations']}  rc {r['rc']}", flush=True)
        if i < reps_pg:
            r = run_pyglotaran(pg_python, args.data, args.timeout)
            pg_runs.append(r)
            print(f"[{i}] pyglotaran  process {r['process_s']:.2f} s  cpu {r['cpu_s']:.1f} s  "
                  f"fit {r.get('fit_wall_time_s')}  "
                  f"cost {r.get('cost')}  nfev {r.get('n_evaluations')}  rc {r['rc']}", flush=True)
        if cache_dir is not None and i < args.cache_reps:
            r = run_hotcarrier(args.data, args.model, args.timeout, args.hc_args.split(),
                               cache_dir)
            cache_runs.append(r)
            print(f"[{i}] hotcarrier, warm persistent cache  process {r['process_s']:.2f} s  "
                  f"cpu {r['cpu_s']:.1f} s  fit {r['fit_wall_time_s']}  compile "
                  f"{r['compile_s']:.1f} s  cost {r['cost']}  rc {r['rc']}", flush=True)
        loads.append(os.getloadavg()[0])
    if cache_dir is not None:
        shutil.rmtree(cache_dir, ignore_errors=True)
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
        "cpu_s": stats([r["cpu_s"] for r in ok_hc]),
        "fit_wall_time_s": stats([r["fit_wall_time_s"] for r in ok_hc]),
        "fit_time_s_excl_covariance": stats([r["fit_time_s_excl_covariance"] for r in ok_hc]),
        "compile_s": stats([r["compile_s"] for r in ok_hc]),
        "tracing_s": stats([r["tracing_s"] for r in ok_hc]),
        "run_s": stats([r["run_s"] for r in ok_hc]),
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
        "cpu_s": stats([r["cpu_s"] for r in ok_pg]),
        "fit_wall_time_s": stats([r["fit_wall_time_s"] for r in ok_pg]),
        "cost": stats([r["cost"] for r in ok_pg]),
        "n_evaluations": [r.get("n_evaluations") for r in ok_pg],
        "n_jacobian_evaluations": [r.get("n_jacobian_evaluations") for r in ok_pg],
    }
    ok_cache = [r for r in cache_runs if r["rc"] == 0]
    if ok_cache:
        hc["warm_persistent_cache"] = {
            "process_s": stats([r["process_s"] for r in ok_cache]),
            "cpu_s": stats([r["cpu_s"] for r in ok_cache]),
            "fit_wall_time_s": stats([r["fit_wall_time_s"] for r in ok_cache]),
            "compile_s": stats([r["compile_s"] for r in ok_cache]),
            "cost": stats([r["cost"] for r in ok_cache]),
            "note": "the CLI's default cache folder (JAX's persistent compilation cache and "
                    "hotcarrier's serialized programs, hotcarrier-aot/), private to this run and "
                    "filled by an untimed run before the loop; warm runs interleave with the "
                    "others",
        }
    ratios = {}
    if hc["process_s"] and pg["process_s"]:
        ratios["end_to_end_process"] = pg["process_s"]["median"] / hc["process_s"]["median"]
    if hc["fit_wall_time_s"] and pg["fit_wall_time_s"]:
        ratios["fit_only"] = pg["fit_wall_time_s"]["median"] / hc["fit_wall_time_s"]["median"]
    if hc["cpu_s"] and pg["cpu_s"]:
        ratios["end_to_end_cpu"] = pg["cpu_s"]["median"] / hc["cpu_s"]["median"]
    if ok_cache and pg["process_s"]:
        ratios["end_to_end_process_warm_cache"] = (
            pg["process_s"]["median"] / hc["warm_persistent_cache"]["process_s"]["median"])
        ratios["end_to_end_cpu_warm_cache"] = (
            pg["cpu_s"]["median"] / hc["warm_persistent_cache"]["cpu_s"]["median"])
    # ratios of the i-th runs of each kind (run back to back in one iteration), then the
    # median: steadier than a ratio of medians when the machine's load changes
    def paired(hc_list, key):
        vals = [p[key] / h[key] for h, p in zip(hc_list, pg_runs)
                if h["rc"] == 0 and p["rc"] == 0 and h.get(key) and p.get(key)]
        return statistics.median(vals) if vals else None

    ratios["paired_median_process_cold"] = paired(hc_runs, "process_s")
    ratios["paired_median_cpu_cold"] = paired(hc_runs, "cpu_s")
    if ok_cache:
        ratios["paired_median_process_warm"] = paired(cache_runs, "process_s")
        ratios["paired_median_cpu_warm"] = paired(cache_runs, "cpu_s")
    if hc["run_s"] and pg["fit_wall_time_s"]:
        ratios["pg_fit_vs_hc_run_excl_compile"] = (pg["fit_wall_time_s"]["median"]
                                                   / hc["run_s"]["median"])
    if hc.get("split_run_s") and pg["fit_wall_time_s"]:
        ratios["pg_fit_vs_hc_warm_run"] = pg["fit_wall_time_s"]["median"] / hc["split_run_s"]["median"]

    out = {
        "benchmark": "Hippius target analysis (335 x 346, 9 free parameters), fit to convergence",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(),
                    "loadavg_at_end": os.getloadavg(), "loadavg_1min_per_iteration": loads},
        "versions": versions(),
        "git": git_state(),
        "data": str(args.data),
        "model": str(args.model),
        "reference_cost_readme": REFERENCE_COST,
        "interleaved": True,
        "bytecode": "the package's bytecode compiled before timing (compileall), as pip install does",
        "hotcarrier": hc,
        "pyglotaran": pg if ok_pg else {"note": pg_note or "no successful run"},
        "ratio_pyglotaran_over_hotcarrier": ratios,
        "runs": {"hotcarrier": hc_runs, "pyglotaran": pg_runs, "split": splits,
                 "hotcarrier_warm_cache": cache_runs},
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

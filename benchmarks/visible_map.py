"""The physical model's visible-map global fit, whole process, cold compilation cache.

Runs in the project's virtual environment::

    python benchmarks/visible_map.py [--reps 3]

The data are the clean preset's simulated bundle (``hotcarrier simulate --preset clean --seed
20240601``: three mid-IR sample traces, the band-gap reference and the 90 × 51 white-light
map), written once. The model is ``fits/au_cds_clean/model_rigid.toml`` with ``[data] probes =
["midir", "visible"]`` and the chirp free (c1 ∈ ±5e-3 ps/nm, c2 ∈ ±2e-5 ps/nm², started at
zero), the Φ_inj profile on: the fit of ``tests/test_physics_fit.py::
test_visible_map_joins_the_global_fit``. Every repetition is a *fresh process* running
``python -m hotcarrier fit BUNDLE --model MODEL --out TMP --quiet --no-figure --no-netcdf``
with the persistent compilation cache off (``HOTCARRIER_NO_COMPILE_CACHE=1``) and XLA's
default flags, so start-up, imports, data loading, tracing, compilation, the fit, the
profile and the standard errors are all included.

Recorded per repetition: the process's wall time and CPU time (user + sys of the child,
``getrusage``), the fit's own ``wall_time_s`` (``summary.json``: inside ``fit()``), the load
average before and after, Φ_inj ± stderr with its profile interval and the chirp ± stderr;
then medians. Results go to ``benchmarks/results/visible_map.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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
SEED = 20240601
CHIRP_FREE = ('chirp_c1_ps_nm = [-5e-3, 5e-3]\nchirp_c2_ps_nm2 = [-2e-5, 2e-5]\n')


def visible_model(path: Path) -> Path:
    """model_rigid.toml (clean) with the visible map and the chirp free from zero."""
    text = (ROOT / "fits" / "au_cds_clean" / "model_rigid.toml").read_text(encoding="utf-8")
    text = text.replace('probes = ["midir"]', 'probes = ["midir", "visible"]')
    text = text.replace("[free]\n", "[free]\n" + CHIRP_FREE)
    text = text.replace("[parameters]\n",
                        "[parameters]\nchirp_c1_ps_nm = 0.0\nchirp_c2_ps_nm2 = 0.0\n")
    path.write_text(text, encoding="utf-8")
    return path


def child_env() -> dict:
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("XLA_FLAGS", None)  # XLA's defaults, as a user runs it
    env["HOTCARRIER_NO_COMPILE_CACHE"] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_once(bundle: Path, model: Path, work: Path, k: int) -> dict:
    out = work / f"fit{k}"
    cmd = [sys.executable, "-m", "hotcarrier", "fit", str(bundle), "--model", str(model),
           "--out", str(out), "--quiet", "--no-figure", "--no-netcdf"]
    load_before = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"hotcarrier fit failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    phi = s["derived"]["injection_quantum_yield"]
    par = s["parameters"]
    return {
        "process_s": wall,
        "process_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "fit_wall_time_s": s["wall_time_s"],
        "load_before": list(load_before), "load_after": list(os.getloadavg()),
        "converged": s["converged"], "n_iterations": s["n_iterations"], "cost": s["cost"],
        "phi": phi["value"], "phi_stderr": phi["stderr"], "phi_ci95": phi["ci95"],
        "c1_ps_nm": par["chirp_c1_ps_nm"]["value"],
        "c1_stderr": par["chirp_c1_ps_nm"]["stderr"],
        "c2_ps_nm2": par["chirp_c2_ps_nm2"]["value"],
        "c2_stderr": par["chirp_c2_ps_nm2"]["stderr"],
    }


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "visible_map.json")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hc-visible-"))
    try:
        bundle = work / "clean_visible.nc"
        subprocess.run([sys.executable, "-m", "hotcarrier", "simulate", "--preset", "clean",
                        "--seed", str(SEED), "--out", str(bundle)], cwd=ROOT, env=child_env(),
                       check=True, capture_output=True)
        model = visible_model(work / "model_visible.toml")
        runs = []
        for k in range(a.reps):
            runs.append(run_once(bundle, model, work, k))
            r = runs[-1]
            print(f"rep {k + 1}: process {r['process_s']:.1f} s wall, "
                  f"{r['process_cpu_s']:.1f} s CPU, fit {r['fit_wall_time_s']:.1f} s; "
                  f"load {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f}; "
                  f"Φ_inj {r['phi']:.4f} ± {r['phi_stderr']:.4f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(key):
        return statistics.median(r[key] for r in runs)

    import jax
    import jaxlib

    result = {
        "what": "physical model, clean preset (seed 20240601), mid-IR + 90 × 51 visible map, "
                "chirp free, Φ_inj profile; whole `hotcarrier fit` process, cold compilation "
                "cache, XLA default flags",
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "jax": jax.__version__,
                    "jaxlib": jaxlib.__version__},
        "note": "the machine is shared with other jobs: CPU time and the load averages "
                "(1, 5, 15 min) before/after each run are recorded beside the wall time",
        "median": {k: med(k) for k in ("process_s", "process_cpu_s", "fit_wall_time_s")},
        "runs": runs,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result["median"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

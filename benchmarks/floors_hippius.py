"""Compile and run-time floors of the Hippius objective on this machine (issue #3's 30× target).

Runs in the project's virtual environment::

    python benchmarks/floors_hippius.py [--reps 5] [--out results/hippius_floors.json]

For the Hippius target model (``fits/hippius/model.toml``, data from
``../shared/data/glotaran_hippius``) it traces, lowers, compiles and runs, each on its own,
the smallest programs a fit is made of — the design matrices, the variable-projection cost, the
residual vector, the cost with its gradient, the residual with its Jacobian — and reports per
program: trace + lowering seconds, XLA compile seconds and the median run time of one call.

Any fit must at least compile and evaluate the cost and a derivative of it many times; so
``trace + compile (cost)`` and ``n_evaluations × run (value and gradient)`` bound from below
what a JAX fit of these data can take on this machine, whatever the optimiser.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data" / "glotaran_hippius" / \
    "demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
MODEL = ROOT / "fits" / "hippius" / "model.toml"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5, help="timed runs per program (median)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "hippius_floors.json")
    a = ap.parse_args(argv)
    if not DATA.exists():
        print(f"{DATA} not found: the Hippius data live in ../shared/data beside the "
              "repository", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from machine import cpu_model  # benchmarks/machine.py

    from hotcarrier.target.fit import setup

    import_s = time.perf_counter() - t0
    s = setup(DATA, MODEL)  # the program fit() compiles first
    obj, th, arr = s.objective, jax.numpy.asarray(s.theta0), s.arrays
    programs = {
        "design matrices": lambda t, x: obj._designs(t, x)[0],
        "cost": obj._cost,
        "residual": obj._residual,
        "cost and gradient": jax.value_and_grad(obj._cost),
        "residual and Jacobian (+details)": obj._evaluate,
    }
    rows = []
    for name, fn in programs.items():
        t1 = time.perf_counter()
        lowered = jax.jit(fn).lower(th, arr)
        t2 = time.perf_counter()
        compiled = lowered.compile()
        t3 = time.perf_counter()
        jax.block_until_ready(compiled(th, arr))
        runs = []
        for _ in range(a.reps):
            t4 = time.perf_counter()
            jax.block_until_ready(compiled(th, arr))
            runs.append(time.perf_counter() - t4)
        rows.append(dict(program=name, trace_lower_s=t2 - t1, compile_s=t3 - t2,
                         run_s_median=statistics.median(runs)))
        print(f"{name:34s} trace+lower {t2 - t1:6.3f} s  compile {t3 - t2:6.3f} s  "
              f"run {1e3 * statistics.median(runs):8.2f} ms")
    shapes = [list(np.shape(y)) for y in arr["y"]]
    rec = dict(benchmark="Hippius objective: compile and run floors per program",
               date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               machine=dict(cpu=cpu_model(), jax=jax.__version__), import_s=import_s,
               data_shape_wavelength_x_delay=shapes, n_free=int(len(s.theta0)), programs=rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=2))
    tmp.replace(a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())

"""The run-away early stop (status 6): iterations and fit time with the stop off and on.

The map of tests/test_runaway.py — two decays (3 ps, 150 ps) plus a slow linear rise that no
decaying exponential describes, Gaussian IRF 100 fs, noise 2e-4 OD — at 40 × 15 and at a
denser 400 × 200 grid, fitted with a parallel model whose third lifetime starts at 1 ns (it
walks off towards ∞). Each configuration is fitted once untimed (compilation), then with
``runaway_ftol = 0`` (the optimiser before the stop) and with the default, in the same
process; ``fit_time_s`` of the summary (minimiser + evaluation at the optimum, no
compilation). Writes ``results/runaway.json``.

    PYTHONPATH=. python benchmarks/runaway.py
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import erfc

FWHM, NOISE = 0.1, 2e-4


def make_map(n_t: int, n_w: int, seed: int = 0):
    from hotcarrier.dataset import make_ta_dataset

    n_early = max(n_t // 4, 10)
    t = np.concatenate([np.linspace(-0.5, 1.0, n_early), np.geomspace(1.2, 1800.0, n_t - n_early)])
    wl = np.linspace(450.0, 700.0, n_w)
    s = FWHM / (2 * math.sqrt(2 * math.log(2)))

    def decay(tau):
        return 0.5 * np.exp(-t / tau + s**2 / (2 * tau**2)) * erfc(-(t - s**2 / tau)
                                                                   / (math.sqrt(2) * s))

    def band(c, a):
        return a * np.exp(-0.5 * ((wl - c) / 40.0) ** 2)

    sig = (decay(3.0)[:, None] * band(500, 1e-2)[None] + decay(150.0)[:, None]
           * band(620, -8e-3)[None] + (np.clip(t, 0, None) / t.max())[:, None]
           * band(560, 3e-3)[None])
    sig = sig + np.random.default_rng(seed).normal(0, NOISE, sig.shape)
    return make_ta_dataset(t, wl, sig, signal_units="OD")


def main():
    from hotcarrier import fit
    from hotcarrier.target.model import TargetModel

    rows = []
    for n_t, n_w in ((40, 15), (400, 200)):
        ds = make_map(n_t, n_w)
        model = TargetModel.from_scheme("parallel", [3.0, 150.0, 1000.0], irf_fwhm=FWHM, t0=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(ds, model, max_iter=3)  # compile
            for ftol in (0.0, None):
                kw = {} if ftol is None else {"runaway_ftol": ftol}
                t0 = time.perf_counter()
                s = fit(ds, model, max_iter=2000, **kw).summary()
                rows.append({"map": f"{n_t}x{n_w}", "runaway_stop": ftol is None,
                             "status": s["status"], "converged": s["converged"],
                             "n_iterations": s["n_iterations"],
                             "n_evaluations": s["n_evaluations"],
                             "fit_time_s": s["fit_time_s"],
                             "call_wall_s": round(time.perf_counter() - t0, 3),
                             "cost": s["cost"], "lifetimes_ps": s["lifetimes_ps"],
                             "message": s["message"]})
                print(json.dumps(rows[-1]), flush=True)
    out = Path(__file__).parent / "results" / "runaway.json"
    out.write_text(json.dumps({"machine": platform.platform(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

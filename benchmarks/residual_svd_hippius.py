"""Residual SVD of the Hippius map before and after the model choice (docs/model-choice.md).

Fits, on the chirp-corrected map (``--chirp auto``, as ``hotcarrier choose`` did), parallel
models of 3 exponentials (too few), 4 exponentials + baseline (the runner-up) and 5
exponentials (the selected model), plus the published target model (``fits/hippius``, its own
preprocessing), and prints the residual-SVD verdict of each with the data's own SVD.
Run: ``python benchmarks/residual_svd_hippius.py [OUT.json]`` (a few minutes on 2 cores).
"""

import json
import sys
from pathlib import Path

import numpy as np

import hotcarrier
from hotcarrier.svd import svd
from hotcarrier.io import load_ta
from hotcarrier.preprocess import prepare
from hotcarrier.target.model import TargetModel

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "glotaran_hippius" / \
    "demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"

CANDIDATES = {  # start lifetimes (ps) from benchmarks/results/model_choice_hippius.json
    "3 exp": ([1.58, 21.4, 51.6], False),
    "4 exp + baseline": ([0.0554, 2.02, 21.0, 49.8], True),
    "5 exp (selected)": ([0.0556, 2.01, 21.1, 49.7, 2400.0], False),
}


def main(out=None):
    with hotcarrier.x64():
        ds = prepare(load_ta(DATA), {"chirp": "auto"})
        data_svd = svd(ds)
        rows = {}
        for name, (taus, baseline) in CANDIDATES.items():
            model = TargetModel.from_scheme("parallel", taus, irf_fwhm=0.093, t0=-0.03,
                                            baseline=baseline)
            res = hotcarrier.fit(ds, model)
            rows[name] = res
        rows["published target model (fits/hippius)"] = hotcarrier.fit(
            DATA, ROOT / "fits" / "hippius" / "model.toml")
        report = {"data_singular_values_1_to_8": data_svd["singular_value"].values[:8].tolist()}
        for name, res in rows.items():
            r = res.residual_svd()
            report[name] = {"converged": bool(res.converged), "cost": float(res.summary()["cost"]),
                            "noise_sigma_OD": float(r.attrs["noise_sigma"]),
                            "ratio_1_to_5": np.round(r["ratio"].values[:5], 2).tolist(),
                            "n_structured": int(r.attrs["noise_n_structured"]),
                            "verdict": r.attrs["noise_verdict"]}
            print(f"{name}: {r.attrs['noise_verdict']}")
    if out:
        Path(out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)

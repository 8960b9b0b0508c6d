"""Worked examples of the spectral options on real data (docs/constraints.md).

    /work/venv/bin/python benchmarks/spectral_examples.py

The Hippius map (Figs5_9) in its excited-state-absorption window 600–860 nm with the
sequential three-compartment model of ``spectral_parity.py``, fitted by hotcarrier:

* ``free``: every spectrum free (plain variable projection), the reference;
* ``shape``: the spectrum of the long-lived s3 a skewed Gaussian (amplitude, position, FWHM,
  skewness fitted) instead of 190 free amplitudes;
* ``equal_area``: an equal-area penalty between s2 and s3 over the whole window (parameter 1,
  weight 1).

Writes ``results/spectral_examples.json``: cost, parameters ± standard errors, the s2/s3
areas, and the s3 spectra.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spectral_parity as sp  # noqa: E402

SHAPE = """
[[shapes]]
species = "s3"
type = "skewed-gaussian"
amplitude = "a3"
location = "l3"
width = "w3"
skewness = "b3"
"""
SHAPE_PARAMS = """a3 = 0.016
l3 = {value = 690.0, min = 600, max = 860, unit = "nm"}
w3 = {value = 150.0, min = 10, unit = "nm"}
b3 = {value = 0.3, min = -1, max = 1}
"""
AREA = """
[[equal_area]]
source = "s2"
target = "s3"
source_intervals = [[600, 860]]
target_intervals = [[600, 860]]
parameter = 1
weight = 1
"""


def main() -> int:
    import jax

    from hotcarrier import fit
    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.target.modelfile import parse_model

    t, wl, data = sp.load_map()
    base = sp.model_toml("free spectra", nnls=False)
    models = {
        "free": base,
        "shape": base.replace("\n[model]", SHAPE + "\n[model]").replace(
            "\n[irf]", SHAPE_PARAMS + "\n[irf]"),
        "equal_area": base.replace("\n[model]", AREA + "\n[model]"),
    }
    out = {"what": "Hippius Figs5_9, 600–860 nm (335 × %d), sequential s1→s2→s3" % wl.size,
           "wavelength": wl.tolist()}
    with jax.enable_x64(True):
        ds = make_ta_dataset(t, wl, data)
        for name, toml in models.items():
            res = fit(ds, parse_model(toml, source=name), max_iter=3000, gtol=1e-10, ftol=1e-14)
            sm = res.summary()
            sas = res.dataset["sas"]
            out[name] = {
                "model_toml": toml, "cost": sm["cost"], "rmse": sm["rmse"],
                "converged": sm["converged"], "n_amplitudes": sm["n_amplitudes"],
                "parameters": {k: {"value": v["value"], "stderr": v["stderr"]}
                               for k, v in sm["parameters"].items() if v["free"]},
                "area_s2": float(sas.sel(species="s2").sum()),
                "area_s3": float(sas.sel(species="s3").sum()),
                "s3": sas.sel(species="s3").values.tolist()}
            print(name, sm["cost"], sm["converged"], out[name]["area_s2"], out[name]["area_s3"],
                  {k: round(v["value"], 5) for k, v in sm["parameters"].items() if v["free"]},
                  flush=True)
    print(sp.write("spectral_examples", out, prefix=""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

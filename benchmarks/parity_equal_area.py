"""Parity of an equal-area-penalty target fit: hotcarrier vs pyglotaran 0.7.5.

    /work/venv/bin/python benchmarks/parity_equal_area.py [--weight W]

The Hippius map in its excited-state-absorption window (600–860 nm) with the sequential model
of ``spectral_parity.py`` and one equal-area penalty between s2 and s3 over the whole window
(parameter 1, weight W, default 0.1): hotcarrier ``[[equal_area]]``; pyglotaran
``clp_penalties: - type: equal_area``. Writes ``results/parity_equal_area.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spectral_parity as sp  # noqa: E402

AREA = """
[[equal_area]]
source = "s2"
target = "s3"
source_intervals = [[600, 860]]
target_intervals = [[600, 860]]
parameter = 1
weight = {weight!r}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weight", type=float, default=0.1)
    args = ap.parse_args(argv)
    t, wl, data = sp.load_map()
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "map.npz"
        np.savez(npz, time=t, wavelength=wl, data=data)
        pg = sp.run_pyglotaran("area", npz, ["--area-weight", repr(args.weight)])
    toml = sp.model_toml("equal area s2/s3", nnls=False).replace(
        "\n[model]", AREA.format(weight=args.weight) + "\n[model]")
    hc = sp.run_hotcarrier(toml, t, wl, data)
    out = {"what": "equal-area penalty s2/s3 (600–860 nm, parameter 1, weight %g), Hippius "
                   "Figs5_9 map 600–860 nm (335 × %d)" % (args.weight, wl.size),
           "model_toml": toml, "hotcarrier": hc, "pyglotaran": pg,
           "comparison": sp.compare(hc, pg)}
    path = sp.write("equal_area", out)
    print(path)
    print(out["comparison"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

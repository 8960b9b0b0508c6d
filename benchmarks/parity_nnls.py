"""Parity of a non-negative (NNLS) target fit: hotcarrier vs pyglotaran 0.7.5.

    /work/venv/bin/python benchmarks/parity_nnls.py

The Hippius map in its excited-state-absorption window (600–860 nm), sequential
s1 → s2 → s3 → ground with a dispersive Gaussian IRF, all amplitudes ≥ 0 (hotcarrier
``non_negative = true``; pyglotaran ``residual_function: non_negative_least_squares``, i.e.
scipy.optimize.nnls at every wavelength). Both start from the same values
(``spectral_parity.START``). Writes ``results/parity_nnls.json``; see ``spectral_parity.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spectral_parity as sp  # noqa: E402


def main() -> int:
    t, wl, data = sp.load_map()
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "map.npz"
        np.savez(npz, time=t, wavelength=wl, data=data)
        pg = sp.run_pyglotaran("nnls", npz)
    toml = sp.model_toml("NNLS", nnls=True)
    hc = sp.run_hotcarrier(toml, t, wl, data)
    zeros_hc = int(np.sum(np.asarray(hc["s3"]) == 0))
    out = {"what": "NNLS target fit, Hippius Figs5_9 map 600–860 nm (335 × %d)" % wl.size,
           "model_toml": toml, "hotcarrier": hc, "pyglotaran": pg,
           "s3_zero_amplitudes": {"hotcarrier": zeros_hc,
                                  "pyglotaran": int(np.sum(np.asarray(pg["s3"]) == 0))},
           "comparison": sp.compare(hc, pg)}
    path = sp.write("nnls", out)
    print(path)
    print(out["comparison"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

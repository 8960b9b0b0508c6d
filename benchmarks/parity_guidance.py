"""Parity of a guidance-spectrum target fit: hotcarrier vs pyglotaran 0.7.5.

    /work/venv/bin/python benchmarks/parity_guidance.py [--weight W]

The guide: the s3 spectral shape of the related compound (file 2016co_tol of the same study
and set-up, recorded in other units), from an ordinary hotcarrier fit of that file with the
same model, taken at the wavelengths of the main map that lie in its range (600–772 nm; linear
interpolation) and scaled by least squares onto the s3 spectrum of the unguided fit of the main
map (so that only its shape carries information). The main
map (Figs5_9, 600–860 nm) is then fitted with that guide on s3 (weight W, default 5) by
hotcarrier (``[[guides]]``) and by pyglotaran (a ``clp-guide`` dataset linked to the map).
Writes ``results/parity_guidance.json``; see ``spectral_parity.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import spectral_parity as sp  # noqa: E402

GUIDE_FILE = sp.DATA / "2016co_tol.ascii"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weight", type=float, default=5.0)
    args = ap.parse_args(argv)
    # 1. the guide: s3 of the related compound, plain variable projection
    tg, wlg, dg = sp.load_map(GUIDE_FILE)
    ref = sp.run_hotcarrier(sp.model_toml("guide source", nnls=False), tg, wlg, dg)
    t, wl, data = sp.load_map()
    unguided = sp.run_hotcarrier(sp.model_toml("no guide", nnls=False), t, wl, data)
    inside = (wl >= wlg[0]) & (wl <= wlg[-1])
    shape = np.interp(wl[inside], wlg, np.asarray(ref["s3"]))
    target = np.asarray(unguided["s3"])[inside]
    scale = float(shape @ target / (shape @ shape))
    guide = scale * shape
    # 2. pyglotaran: guide dataset on exactly the map's wavelengths in range
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "map.npz"
        np.savez(npz, time=t, wavelength=wl, data=data, guide=guide, guide_wavelength=wl[inside])
        pg = sp.run_pyglotaran("guidance", npz, ["--guide-weight", repr(args.weight)])
    toml = sp.model_toml("guided s3", nnls=False, guide=(wl[inside], guide, args.weight))
    hc = sp.run_hotcarrier(toml, t, wl, data)
    out = {"what": "guidance-spectrum target fit, Hippius Figs5_9 map 600–860 nm "
                   "(335 × %d), guide on s3 from 2016co_tol (%d wavelengths), weight %g"
                   % (wl.size, int(inside.sum()), args.weight),
           "model_toml": toml, "guide_source_fit": {k: ref[k] for k in ("cost", "parameters")},
           "guide": {"wavelength": wl[inside].tolist(), "values": guide.tolist(),
                     "scale_onto_unguided_s3": scale},
           "hotcarrier": hc, "pyglotaran": pg,
           "hotcarrier_without_guide": {k: unguided[k] for k in ("cost", "parameters", "s3")},
           "comparison": sp.compare(hc, pg)}
    path = sp.write("guidance", out)
    print(path)
    print(out["comparison"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

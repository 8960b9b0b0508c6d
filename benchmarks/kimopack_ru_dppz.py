"""KiMoPack 7.14.1 global fit of the Ru-dppz/ACN tutorial map (runs in KiMoPack's own venv).

    /work/venv-kimopack/bin/python benchmarks/kimopack_ru_dppz.py [--order chirp-first|tutorial]
        [--time-limits 0.35 2000] [--dump matrix.npz]

Settings of ``../shared/data/README.md`` (KiMoPack tutorial "Fitting-2"): ``Filter_data(value=20,
replace_bad_values=0)``, the file's chirp polynomial (``Cor_Chirp(chirp_file=...)``), background =
mean of the delays up to −0.5 ps (``Background(uplimit=-0.5)``), ``bordercut = [320, 770]`` nm,
``scattercut = [380, 405]`` nm (KiMoPack drops columns ``iloc[i(380):i(405)]``: half-open, the
405 nm column stays), ``timelimits = [0.35, 2000]`` ps, ``mod = 'consecutive'``, IRF FWHM
0.12 ps and t0 = 0 fixed, τ3 = 180 ns fixed. Prints ONE line of JSON on stdout.

``--order chirp-first`` (default) corrects the chirp and then takes the background, per
wavelength before its own time zero. ``--order tutorial`` calls them in the tutorial's order
(``Background`` then ``Cor_Chirp``); in KiMoPack 7.14.1 ``Cor_Chirp`` rebuilds the map from the
raw ``ds_ori``, so that order ends with NO background subtracted (recorded for the record).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kimopack_ru_dppz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--order", choices=("chirp-first", "tutorial"), default="chirp-first")
    ap.add_argument("--time-limits", type=float, nargs=2, default=(0.35, 2000.0))
    ap.add_argument("--dump", help="also save the matrix KiMoPack fits (npz: t, w, s)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        import importlib.metadata as md

        import lmfit
        import numpy as np
        import KiMoPack.plot_func as pf

        ta = pf.TA(filename="TA_Ru-dppz_400nm_ACN.SIA", path=args.data)
        ta.Filter_data(value=20, replace_bad_values=0)
        chirp = str(Path(args.data) / "TA_Ru-dppz_400nm_ACN_chirp.dat")
        if args.order == "tutorial":
            ta.Background(uplimit=-0.5)
            ta.Cor_Chirp(chirp_file=chirp)
        else:
            ta.Cor_Chirp(chirp_file=chirp)
            ta.Background(uplimit=-0.5)
        ta.bordercut = [320, 770]
        ta.scattercut = [380, 405]
        ta.timelimits = list(args.time_limits)
        ta.par = lmfit.Parameters()
        ta.par.add("k0", value=1 / 4.0, min=1 / 100.0, max=1 / 0.1, vary=True)
        ta.par.add("k1", value=1 / 75.0, min=1 / 2000.0, max=1 / 5.0, vary=True)
        ta.par.add("k2", value=1 / 180000.0, vary=False)
        ta.par.add("t0", value=0.0, min=-0.1, max=0.1, vary=False)
        ta.par.add("resolution", value=0.12, min=0.04, max=0.20, vary=False)
        ta.mod = "consecutive"
        t0 = time.perf_counter()
        ta.Fit_Global()
        if args.dump:
            f = pf.sub_ds(ds=ta.ds.copy(), scattercut=ta.scattercut, bordercut=ta.bordercut,
                          timelimits=ta.timelimits, drop_scatter=True)
            np.savez(args.dump, t=f.index.values.astype(float),
                     w=f.columns.values.astype(float), s=f.values)
        t_fit = time.perf_counter() - t0
        rates = ta.re["fit_results_rates"]
        k = [float(rates.loc[f"k{i}", "value"]) for i in range(3)]
        a = ta.re["A"]
        n_wl = int(a.shape[1])
        wl = np.asarray(a.columns, float)
    out = {
        "tool": "KiMoPack", "version": md.version("KiMoPack"), "pandas": md.version("pandas"),
        "order": args.order, "time_limits_ps": list(args.time_limits),
        "lifetimes_ps": [1.0 / x for x in k], "rates_per_ps": k,
        "error": float(ta.re["error"]) if "error" in ta.re else None,
        "n_delays": int(a.shape[0]), "n_wavelengths": n_wl,
        "wavelength_first_last_nm": [float(wl[0]), float(wl[-1])],
        "scatter_columns_kept_nm": [float(x) for x in wl[(wl >= 375) & (wl <= 410)]],
        "fit_time_s": round(t_fit, 3), "wall_time_s": round(time.perf_counter() - t_start, 3),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

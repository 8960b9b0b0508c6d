"""Lifetime-density analysis: hotcarrier vs skultrafast 4.2 on the same maps.

Runs in the project venv; skultrafast runs in its own venv (``$SKULTRAFAST_PYTHON``, default
``/work/venv-sku/bin/python``; ``python -m venv /work/venv-sku && /work/venv-sku/bin/pip install
skultrafast numpy scipy``) on the very same arrays (an .npz handed over in a temporary folder).

Maps: (1) the simulated 3-component map of tests/test_analysis_residual.py (τ = 0.8, 8, 80 ps,
IRF FWHM 0.12 ps, Gaussian noise, SNR 50); (2) the Hippius demo map
(../shared/data/glotaran_hippius), chirp-corrected with the dispersion of fits/hippius
(t0(λ) = μ0 + d1 x + d2 x² + d3 x³, x = (λ − 550)/100 nm), IRF FWHM = 2.3548 σ of that fit.
Both tools get the same lifetime grid; peaks of both density maps are found by the same
rule (:func:`hotcarrier.analysis.lda_peaks`). Writes benchmarks/results/lda_skultrafast.{json,txt}.

    PYTHONPATH=. /work/venv/bin/python benchmarks/lda_skultrafast.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
SKU = os.environ.get("SKULTRAFAST_PYTHON", "/work/venv-sku/bin/python")

SKU_CODE = r"""
import json, sys, time, types
import numpy as np
import skultrafast
from skultrafast import lifetimemap
from sklearn import linear_model as lm
f = np.load(sys.argv[1])
out = {"version": skultrafast.__version__}
if sys.argv[2] == "shim":
    # start_ltm sets ``mod.warm_start = 1``; scikit-learn >= 1.2 validates it as a bool and
    # raises. The shim casts it in fit(); nothing else of skultrafast's algorithm changes.
    class EN(lm.ElasticNet):
        def fit(self, X, y, **kw):
            self.warm_start = bool(self.warm_start)
            return super().fit(X, y, **kw)
    class ENCV(lm.ElasticNetCV):
        def fit(self, X, y, **kw):
            self.warm_start = bool(self.warm_start)
            return super().fit(X, y, **kw)
    lifetimemap.lm = types.SimpleNamespace(ElasticNet=EN, ElasticNetCV=ENCV)
tup = types.SimpleNamespace(t=f["t"], wl=f["wl"], data=f["data"])
for cv in (True, False):
    t0 = time.perf_counter()
    # as TimeResSpec.lifetime_density_map: ElasticNet(CV), l1_ratio 0.98, intercept, no offset
    kw = dict(use_cv=True, max_iter=30000) if cv else dict(alpha=float(f["alpha"]), max_iter=30000)
    mod, coefs, fit, alphas = lifetimemap.start_ltm(tup, f["taus"], w=float(f["w"]),
                                                    add_coh=False, add_const=False, **kw)
    out["cv" if cv else "fixed"] = {"coefs": coefs.tolist(), "alphas": alphas.tolist(),
        "rmse": float(np.sqrt(np.mean((fit - f["data"]) ** 2))),
        "wall_s": time.perf_counter() - t0}
print(json.dumps(out))
"""


def _maps():
    from test_analysis_residual import _map

    from hotcarrier.io import load_ta
    from hotcarrier.preprocess import chirp_correct

    yield "simulated (90 × 30, τ = 0.8, 8, 80 ps)", _map(), 0.12, [0.8, 8.0, 80.0]
    p = ROOT.parent / "shared/data/glotaran_hippius/demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
    if not p.exists():
        print(f"skipping Hippius: {p} not found", file=sys.stderr)
        return
    s = json.loads((ROOT / "fits/hippius/summary.json").read_text())["parameters"]
    v = {k: s[k]["value"] for k in ("mu0", "d1", "d2", "d3", "sigma")}
    poly = np.polynomial.Polynomial([v["mu0"], v["d1"], v["d2"], v["d3"]])(
        np.polynomial.Polynomial([-5.5, 0.01]))  # x = (λ − 550)/100 → polynomial in λ
    ds = chirp_correct(load_ta(p), poly.coef[::-1])
    rates = [s["ksum"]["value"]] + [s[k]["value"] for k in ("k3", "k4", "k5")]
    yield "Hippius demo (chirp-corrected)", ds, 2.3548 * v["sigma"], [1 / k for k in rates]


def main() -> int:
    from hotcarrier.analysis import lda_peaks, lifetime_density

    report, lines = [], []
    for name, ds, fwhm, ref in _maps():
        res = {"map": name, "irf_fwhm_ps": fwhm, "reference_lifetimes_ps": ref}
        for meth, crit in (("tikhonov", "gcv"), ("elastic-net", "lcurve"), ("tikhonov", "lcurve")):
            t0 = time.perf_counter()
            r = lifetime_density(ds, irf_fwhm=fwhm, method=meth, n_lifetimes=100, criterion=crit)
            res[f"hotcarrier_{meth}_{crit}"] = {
                "peaks_ps": r["peak_lifetime"].values.tolist(),
                "peak_at_edge": r["peak_at_edge"].values.tolist(), "alpha": r.attrs["alpha"],
                "alpha_lcurve": r.attrs["alpha_lcurve"], "alpha_gcv": r.attrs["alpha_gcv"],
                "rmse": r.attrs["rmse"], "wall_s": time.perf_counter() - t0}
        taus = r["lifetime"].values
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "map.npz"
            # the same complete sub-map hotcarrier used; skultrafast's w = σ√2
            np.savez(f, t=r["delay"].values, wl=r["wavelength"].values,
                     data=ds["signal"].sel(delay=r["delay"], wavelength=r["wavelength"]).values,
                     taus=taus, w=fwhm / 2.3548 * np.sqrt(2), alpha=1e-4)
            out = subprocess.run([SKU, "-c", SKU_CODE, str(f), "as-released"],
                                 capture_output=True, text=True)
            if out.returncode:  # skultrafast 4.2 + scikit-learn >= 1.2: warm_start must be bool
                res["skultrafast_error"] = out.stderr.strip().splitlines()[-1]
                out = subprocess.run([SKU, "-c", SKU_CODE, str(f), "shim"],
                                     capture_output=True, text=True)
        if out.returncode:
            res["skultrafast_shim_error"] = out.stderr.strip().splitlines()[-1]
        else:
            sk = json.loads(out.stdout)
            for key in ("cv", "fixed"):
                d = sk[key]
                dens = xr.Dataset({"density": (("lifetime", "wavelength"), np.array(d["coefs"]))},
                                  coords={"lifetime": taus})
                pk, edge = lda_peaks(dens)
                res[f"skultrafast_{key}"] = {"version": sk["version"], "peaks_ps": pk.tolist(),
                                             "peak_at_edge": edge.tolist(), "rmse": d["rmse"],
                                             "wall_s": d["wall_s"],
                                             "alpha_median": float(np.median(d["alphas"]))
                                             if key == "cv" else 1e-4}
        report.append(res)
        lines.append(f"{name}: IRF FWHM {fwhm:.3g} ps; reference lifetimes "
                     + ", ".join(f"{x:.3g}" for x in ref) + " ps")
        for k, d in res.items():
            if isinstance(d, dict):
                lines.append(f"  {k:26s} peaks " + ", ".join(
                    f"{x:.3g}{'*' if e else ''}" for x, e in zip(d["peaks_ps"], d["peak_at_edge"]))
                    + f" ps   RMSE {d['rmse']:.3g}   {d['wall_s']:.1f} s")
        for k in ("skultrafast_error", "skultrafast_shim_error"):
            if k in res:
                lines.append(f"  {k}: {res[k]}")
    lines.append("(* = at a grid end; skultrafast_cv: its ElasticNetCV per wavelength, "
                 "l1_ratio 0.98, intercept; skultrafast_fixed: ElasticNet, α = 1e-4; both with "
                 "the warm_start bool shim when the released code fails)")
    outdir = ROOT / "benchmarks/results"
    (outdir / "lda_skultrafast.json").write_text(json.dumps(report, indent=2) + "\n")
    (outdir / "lda_skultrafast.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

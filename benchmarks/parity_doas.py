"""Parity of a damped-oscillation (DOAS) target fit: hotcarrier vs pyglotaran 0.7.5.

Run in the project venv; it runs itself again in the pyglotaran venv for the reference fit::

    /work/venv/bin/python benchmarks/parity_doas.py [--out benchmarks/results/parity_doas.json]

The data: a deterministic simulated map (numpy + scipy only, :func:`simulate`) in the spirit
of a plasmonic nanoparticle measurement: electron–phonon cooling (τ 1.5 ps) feeding a slow
decay (τ 150 ps), an acoustic breathing mode (period 8 ps, 4.2 cm⁻¹, damped in 20 ps) and a
coherent optical phonon (300 cm⁻¹, damped at 3 ps⁻¹), Gaussian IRF σ = 30 fs, 0.1 mOD noise.
Both tools fit the same numbers from the same starting values (15–25 % off).

The model, in each tool's own format (pyglotaran's checked against its installed source,
``glotaran/builtin/megacomplexes/damped_oscillation/damped_oscillation_megacomplex.py``):
two-compartment sequential decay, two damped oscillations, Gaussian IRF, and a constant
(baseline) column. Conventions that differ and how they are matched:

* pyglotaran 0.7.5 starts the oscillation matrix from ``np.ones`` and *adds* the
  IRF-convolved oscillation: its cos/sin columns are 1 + 2·Re/−Im(...). With a baseline column
  in both models the column spaces are identical (the constant is absorbed by the baseline
  amplitude), so costs, parameters and standard errors compare like for like.
* Its columns are 2× ours and its sine column has the opposite sign, so its DOAS is half of
  ours (ours is the oscillation's amplitude D of D·e^{−γt}cos(ωt + φ)); the phases agree.
* It converts cm⁻¹ with c = 0.03 cm/ps; hotcarrier with c = 0.0299792458 cm/ps. Frequencies
  are compared as ω (rad/ps): ν̃_pyglotaran·0.03 = ν̃_hotcarrier·0.0299792458.

pyglotaran: scipy TRF with a 2-point finite-difference Jacobian, ftol = xtol = gtol = 1e-12
(converged); hotcarrier: ``fit_target`` (L-BFGS, variable projection, exact Jacobian for the
standard errors). Writes ``results/parity_doas.json``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

C_PG = 0.03  # cm/ps, pyglotaran's speed of light
C_HC = 0.0299792458  # cm/ps

TRUE = dict(k1=1 / 1.5, k2=1 / 150.0, center=0.0, width=0.03,
            nu1=1.0 / (8.0 * C_HC),  # period 8 ps: 4.17 cm⁻¹
            gamma1=1 / 20.0, nu2=300.0, gamma2=3.0)
START = dict(k1=0.8, k2=0.0055, center=0.01, width=0.025, nu1=4.4, gamma1=0.06, nu2=290.0,
             gamma2=2.5)
NOISE = 1e-4  # OD


def axes():
    t = np.concatenate([np.arange(-0.3, 3.0, 0.01), np.arange(3.0, 40.0, 0.1),
                        np.geomspace(40.0, 500.0, 50)])
    return t, np.linspace(480.0, 620.0, 36)


def simulate(seed: int = 13):
    """(delays ps, wavelengths nm, ΔA (T, W) OD) from closed forms with scipy's erfc/wofz."""
    from scipy.special import erfcx, wofz

    t, wl = axes()
    s, tau = TRUE["width"], t - TRUE["center"]

    def decay(k):  # ½ exp(−kτ + k²σ²/2) erfc((kσ² − τ)/(σ√2)), stable form
        z = (k * s * s - tau) / (s * np.sqrt(2))
        return np.where(z >= 0, 0.5 * np.exp(-0.5 * (tau / s) ** 2) * erfcx(np.abs(z)),
                        np.exp(-k * tau + 0.5 * (k * s) ** 2)
                        - 0.5 * np.exp(-0.5 * (tau / s) ** 2) * erfcx(np.abs(z)))

    def osc(nu, g):  # G ⊗ θ(τ)e^{−γτ}e^{iωτ} = ½ e^{−τ²/2σ²} w(iz) (complex), reflected late
        k = g - 1j * 2 * np.pi * C_HC * nu
        z = (k * s * s - tau) / (s * np.sqrt(2))
        e = np.exp(-0.5 * (tau / s) ** 2)
        early = z.real >= 0
        with np.errstate(over="ignore", invalid="ignore"):
            late = np.exp(-k * np.where(early, 0.0, tau) + 0.5 * k * k * s * s)
        return np.where(early, 0.5 * e * wofz(np.where(early, 1j * z, 0)),
                        late - 0.5 * e * wofz(np.where(early, 0, -1j * z)))

    k1, k2 = TRUE["k1"], TRUE["k2"]
    c1 = decay(k1)
    c2 = k1 / (k2 - k1) * (decay(k1) - decay(k2))  # sequential s1 → s2
    x = (wl - 550.0) / 40.0
    sas1 = -3e-3 * np.exp(-((x + 0.4) ** 2)) + 1e-3 * np.exp(-((x - 1.2) ** 2))
    sas2 = -1.5e-3 * np.exp(-((x - 0.3) ** 2) / 1.5)
    # breathing mode: derivative-like DOAS (shift of the plasmon band), phase π across centre
    d1 = 4e-4 * np.abs(x) * np.exp(-(x ** 2) / 2)
    p1 = np.where(x < 0, 0.2, 0.2 + np.pi)
    d2 = 1.5e-3 * np.exp(-((x - 0.5) ** 2))
    p2 = 0.8 - 0.3 * x
    y = np.outer(c1, sas1) + np.outer(c2, sas2)
    for nu, g, dd, ph in ((TRUE["nu1"], TRUE["gamma1"], d1, p1),
                          (TRUE["nu2"], TRUE["gamma2"], d2, p2)):
        o = osc(nu, g)  # D cos(ωt + φ) = D cos φ cos ωt − D sin φ sin ωt
        y += np.outer(o.real, dd * np.cos(ph)) - np.outer(o.imag, dd * np.sin(ph))
    y += np.random.default_rng(seed).normal(0.0, NOISE, y.shape)
    return t, wl, y, dict(doas=np.stack([d1, d2]), phase=np.stack([p1, p2]))


# ------------------------------------------------------------------------------ pyglotaran
PG_MODEL = """\
dataset:
  dataset1:
    megacomplex: [decay, doas, base]
    initial_concentration: input1
    irf: irf1
megacomplex:
  decay:
    type: decay
    k_matrix: [km1]
  doas:
    type: damped-oscillation
    labels: [breathing, phonon]
    frequencies: [osc.nu1, osc.nu2]
    rates: [osc.gamma1, osc.gamma2]
  base:
    type: baseline
    dimension: time
k_matrix:
  km1:
    matrix:
      (s2, s1): rates.k1
      (s2, s2): rates.k2
initial_concentration:
  input1:
    compartments: [s1, s2]
    parameters: [inputs.1, inputs.0]
irf:
  irf1:
    type: gaussian
    center: irf.center
    width: irf.width
"""


def run_pyglotaran(npz: Path, max_nfev: int) -> dict:
    import xarray as xr
    from glotaran import __version__ as version
    from glotaran.io import load_model, load_parameters
    from glotaran.optimization.optimize import optimize
    from glotaran.project import Scheme

    z = np.load(npz)
    ds = xr.Dataset({"data": (("time", "spectral"), z["y"])},
                    coords={"time": z["t"], "spectral": z["wl"]})
    # pyglotaran frequencies in its cm⁻¹ (c = 0.03 cm/ps): same ω as ours
    nu = {k: START[k] * C_HC / C_PG for k in ("nu1", "nu2")}
    params = f"""\
rates:
  - [k1, {START['k1']!r}]
  - [k2, {START['k2']!r}]
inputs:
  - ["1", 1.0, {{vary: false}}]
  - ["0", 0.0, {{vary: false}}]
irf:
  - [center, {START['center']!r}]
  - [width, {START['width']!r}]
osc:
  - [nu1, {nu['nu1']!r}]
  - [gamma1, {START['gamma1']!r}]
  - [nu2, {nu['nu2']!r}]
  - [gamma2, {START['gamma2']!r}]
"""
    model = load_model(PG_MODEL, format_name="yml_str")
    parameters = load_parameters(params, format_name="yml_str")
    if not model.valid(parameters=parameters):
        return {"error": str(model.validate(parameters=parameters))}
    scheme = Scheme(model, parameters, {"dataset1": ds}, maximum_number_function_evaluations=
                    max_nfev, optimization_method="TrustRegionReflection", ftol=1e-12,
                    gtol=1e-12, xtol=1e-12)
    t0 = time.perf_counter()
    res = optimize(scheme, verbose=False, raise_exception=True)
    wall = time.perf_counter() - t0
    out = {}
    for name, label in (("k1", "rates.k1"), ("k2", "rates.k2"), ("center", "irf.center"),
                        ("width", "irf.width"), ("nu1", "osc.nu1"), ("gamma1", "osc.gamma1"),
                        ("nu2", "osc.nu2"), ("gamma2", "osc.gamma2")):
        p = res.optimized_parameters.get(label)
        v, se = float(p.value), float(p.standard_error)
        if name.startswith("nu"):  # to hotcarrier's cm⁻¹ (same ω)
            v, se = v * C_PG / C_HC, se * C_PG / C_HC
        out[name] = {"value": v, "stderr": se}
    data = res.data["dataset1"]
    doas = np.asarray(data["damped_oscillation_associated_spectra"].values).T  # (osc, W)
    phase = np.asarray(data["damped_oscillation_phase"].values).T
    return {"tool": "pyglotaran", "version": version, "success": bool(res.success),
            "termination_reason": str(res.termination_reason),
            "cost": 0.5 * float(res.chi_square), "rmse": float(res.root_mean_square_error),
            "n_evaluations": int(res.number_of_function_evaluations),
            "degrees_of_freedom": int(res.degrees_of_freedom), "parameters": out,
            "doas": doas.tolist(), "phase": phase.tolist(), "wall_time_s": wall}


# ------------------------------------------------------------------------------ hotcarrier
HC_MODEL = """\
[model]
compartments = ["s1", "s2"]
initial = {{s1 = 1}}
baseline = true

[parameters]
k1 = {k1!r}
k2 = {k2!r}
irf_center = {center!r}
irf_width = {width!r}
nu1 = {nu1!r}
gamma1 = {gamma1!r}
nu2 = {nu2!r}
gamma2 = {gamma2!r}

[irf]
center = "irf_center"
width = "irf_width"

[[transfers]]
from = "s1"
to = "s2"
rate = "k1"

[[transfers]]
from = "s2"
rate = "k2"

[[oscillations]]
label = "breathing"
frequency = "nu1"
rate = "gamma1"

[[oscillations]]
label = "phonon"
frequency = "nu2"
rate = "gamma2"
"""


def run_hotcarrier(t, wl, y) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.target.fit import fit_target
    from hotcarrier.target.modelfile import parse_model

    model = parse_model(HC_MODEL.format(**START), source="parity_doas model")
    t0 = time.perf_counter()
    res = fit_target(make_ta_dataset(t, wl, y), model)
    wall = time.perf_counter() - t0
    s = res.summary()
    p = s["parameters"]
    names = dict(k1="k1", k2="k2", center="irf_center", width="irf_width", nu1="nu1",
                 gamma1="gamma1", nu2="nu2", gamma2="gamma2")
    return {"tool": "hotcarrier", "converged": s["converged"], "message": s["message"],
            "cost": s["cost"], "rmse": s["rmse"], "n_iterations": s["n_iterations"],
            "dof": s["dof"],
            "parameters": {k: {"value": p[v]["value"], "stderr": p[v]["stderr"]}
                           for k, v in names.items()},
            "doas": res.dataset["doas"].values.tolist(),
            "phase": res.dataset["doas_phase"].values.tolist(), "wall_time_s": wall}


def compare(hc: dict, pg: dict, truth: dict) -> dict:
    par = {}
    for k, a in hc["parameters"].items():
        b = pg["parameters"][k]
        par[k] = {"hotcarrier": a, "pyglotaran": b, "truth": TRUE[k],
                  "rel_diff": a["value"] / b["value"] - 1.0 if b["value"] else None,
                  "diff_in_stderr": (a["value"] - b["value"]) / b["stderr"],
                  "stderr_ratio": a["stderr"] / b["stderr"]}
    d_hc, d_pg = np.asarray(hc["doas"]), 2.0 * np.asarray(pg["doas"])
    big = d_hc > 0.2 * d_hc.max(axis=1, keepdims=True)
    ph = np.angle(np.exp(1j * (np.asarray(hc["phase"]) - np.asarray(pg["phase"]))))
    return {
        "cost_rel_diff": hc["cost"] / pg["cost"] - 1.0,
        "max_param_rel_diff": max(abs(v["rel_diff"]) for v in par.values()
                                  if v["rel_diff"] is not None),
        "max_stderr_ratio_dev": max(abs(v["stderr_ratio"] - 1.0) for v in par.values()),
        "doas_max_rel_diff_vs_2x_pyglotaran": float(np.max(np.abs(d_hc - d_pg)[big]
                                                           / d_hc[big])),
        "phase_max_abs_diff_rad": float(np.max(np.abs(ph)[big])),
        "doas_max_err_vs_truth_rel_to_peak": (np.max(np.abs(d_hc - truth["doas"]), axis=1)
                                              / truth["doas"].max(axis=1)).tolist(),
        "parameters": par,
        "done_when": "cost within 1e-6 relative, parameters within 0.5 %, standard errors "
                     "within 5 %",
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyglotaran-worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--max-nfev", type=int, default=2000)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "parity_doas.json")
    args = ap.parse_args(argv)
    if args.pyglotaran_worker is not None:
        print(json.dumps(run_pyglotaran(args.pyglotaran_worker, args.max_nfev)))
        return 0
    t, wl, y, truth = simulate()
    py = os.environ.get("PYGLOTARAN_PYTHON", "/work/venv-glotaran/bin/python")
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "doas.npz"
        np.savez(npz, t=t, wl=wl, y=y)
        proc = subprocess.run([py, __file__, "--pyglotaran-worker", str(npz), "--max-nfev",
                               str(args.max_nfev)], capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    pg = json.loads(proc.stdout.strip().splitlines()[-1])
    hc = run_hotcarrier(t, wl, y)
    out = {"data": {"shape": list(y.shape), "noise_od": NOISE, "truth": TRUE, "start": START},
           "comparison": compare(hc, pg, truth), "hotcarrier": hc, "pyglotaran": pg}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    c = out["comparison"]
    print(json.dumps({k: v for k, v in c.items() if k != "parameters"}, indent=1))
    for k, v in c["parameters"].items():
        print(f"{k:7s} hc {v['hotcarrier']['value']:.8g} ± {v['hotcarrier']['stderr']:.4g}  "
              f"pg {v['pyglotaran']['value']:.8g} ± {v['pyglotaran']['stderr']:.4g}  "
              f"rel {v['rel_diff']:+.2e}  se ratio {v['stderr_ratio']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

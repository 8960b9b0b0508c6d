"""DOAS analysis of pyglotaran's published β-carotene example: hotcarrier vs pyglotaran 0.7.5.

The data and model are pyglotaran-examples' ``ex_doas_beta`` (MIT licence; β-carotene in
cyclohexane after Polli et al. 2008, a simulated 551 delays × 221 wavelengths map with 19
damped oscillations, five of them with negative rates, i.e. before time zero):
``pyglotaran_examples/ex_doas_beta/data/2008Polli_betacar_chex_sim.ascii`` and
``models/{model,parameters}.yml``. Get the data file from that repository and pass it::

    /work/venv/bin/python benchmarks/doas_betacarotene.py --data 2008Polli_betacar_chex_sim.ascii

Model, as published: S2 → hotS1 → S1 → ground (rates 5.97, 2.64, 0.111 ps⁻¹), 19 damped
oscillations (frequencies and rates fixed at the published values), a coherent artefact of
order 3 with its own width, a Gaussian IRF whose centre disperses in wavenumber
(x = 10³/λ − 10³/600 nm). Here the three rates and the artefact width are free (the published
example fits only the artefact width and stops after one evaluation), and a baseline column is
added to both models: pyglotaran 0.7.5 starts its oscillation matrix from ``np.ones`` (a
constant in every oscillation column), which a baseline absorbs, making the two models equal
(see benchmarks/parity_doas.py). pyglotaran's cm⁻¹ use c = 0.03 cm/ps; the frequencies
passed to hotcarrier are scaled to the same angular frequencies.

Writes ``results/doas_betacarotene.json`` (costs, parameters ± standard errors, DOAS and phase
agreement); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

C_PG, C_HC = 0.03, 0.0299792458

FREQ = [1524.57239, 1192.94092, 1158.09082, 1003.44940, 982.669128, 803.801514, 721.924377,
        499.621704, 397.539307, 294.353363, 251.637604, 97.3489761, 34.5177422, 630.095703,
        1441.55090, 2454.68579, 1443.96948, 1448.87329, 1399.99622]
RATES = [1.54321623, 2.81070209, 1.07494009, 1.65555012, 5.95444632, 0.200000003, 0.204981476,
         0.886999667, 0.801029027, 1.83298051, 1.09177792, 0.317949504, 2.02649665, 19.9859161,
         -7.97763205, -8.30035210, -6.16778708, -7.08424282, -8.00020790]
KIN = [5.96975613, 2.64231563, 0.110913947]
IRF = dict(center=1.27411373e-02, width=6.0e-3, dispcenter=600.0, disp1=-2.11437792e-02,
           disp2=1.06876018e-02)
CA_WIDTH = 1.87562369e-02
START = dict(k1=5.0, k2=2.2, k3=0.13, ca_width=0.022)  # ~15–20 % off the published values

PG_MODEL = """\
initial_concentration:
  j1:
    compartments: [S2, hotS1, S1]
    parameters: [j.1, j.0, j.0]
k_matrix:
  k1:
    matrix:
      (hotS1, S2): kinetic.1
      (S1, hotS1): kinetic.2
      (S1, S1): kinetic.3
megacomplex:
  doas:
    type: damped-oscillation
    labels: [{labels}]
    frequencies: [{freqs}]
    rates: [{rates}]
  decay:
    type: decay
    k_matrix: [k1]
  artifact:
    type: coherent-artifact
    order: 3
    width: artifact.CAwidth
  base:
    type: baseline
    dimension: time
irf:
  irf1:
    type: spectral-gaussian
    center: irf.center
    width: irf.width
    dispersion_center: irf.dispcenter
    center_dispersion_coefficients: [irf.disp1, irf.disp2]
    model_dispersion_with_wavenumber: true
dataset:
  dataset1:
    initial_concentration: j1
    megacomplex: [doas, decay, artifact, base]
    irf: irf1
"""


def run_pyglotaran(data: Path) -> dict:
    from glotaran import __version__ as version
    from glotaran.io import load_dataset, load_model, load_parameters
    from glotaran.optimization.optimize import optimize
    from glotaran.project import Scheme

    n = len(FREQ)
    model = load_model(PG_MODEL.format(
        labels=", ".join(f"osc{i + 1}" for i in range(n)),
        freqs=", ".join(f"osc.freq.{i + 1}" for i in range(n)),
        rates=", ".join(f"osc.rates.{i + 1}" for i in range(n))), format_name="yml_str")
    params = ("osc:\n  freq: [" + ", ".join(map(repr, FREQ)) + ", {vary: False}]\n"
              "  rates: [" + ", ".join(map(repr, RATES)) + ", {vary: False}]\n"
              "j:\n  - ['1', 1.0, {vary: False}]\n  - ['0', 0.0, {vary: False}]\n"
              f"kinetic: [{START['k1']!r}, {START['k2']!r}, {START['k3']!r}]\n"
              "irf:\n" + "".join(f"  - ['{k}', {v!r}, {{vary: False}}]\n" for k, v in IRF.items())
              + f"artifact:\n  - ['CAwidth', {START['ca_width']!r}]\n")
    parameters = load_parameters(params, format_name="yml_str")
    if not model.valid(parameters=parameters):
        return {"error": str(model.validate(parameters=parameters))}
    scheme = Scheme(model, parameters, {"dataset1": load_dataset(str(data))},
                    optimization_method="TrustRegionReflection",
                    maximum_number_function_evaluations=500, ftol=1e-12, gtol=1e-12, xtol=1e-12)
    t0 = time.perf_counter()
    res = optimize(scheme, verbose=False, raise_exception=True)
    wall = time.perf_counter() - t0
    out = {}
    for name, label in (("k1", "kinetic.1"), ("k2", "kinetic.2"), ("k3", "kinetic.3"),
                        ("ca_width", "artifact.CAwidth")):
        p = res.optimized_parameters.get(label)
        out[name] = {"value": float(p.value), "stderr": float(p.standard_error)}
    d = res.data["dataset1"]
    return {"tool": "pyglotaran", "version": version, "success": bool(res.success),
            "termination_reason": str(res.termination_reason),
            "cost": 0.5 * float(res.chi_square), "n_evaluations":
            int(res.number_of_function_evaluations), "parameters": out,
            "doas": np.asarray(d["damped_oscillation_associated_spectra"].values).T.tolist(),
            "phase": np.asarray(d["damped_oscillation_phase"].values).T.tolist(),
            "wall_time_s": wall}


def hc_model_text() -> str:
    lines = ["[model]", 'compartments = ["S2", "hotS1", "S1"]', "initial = {S2 = 1}",
             "coherent_artifact = 3", 'artifact_width = "ca_width"', "baseline = true", "",
             "[parameters]"]
    lines += [f"{k} = {v!r}" for k, v in START.items() if k != "ca_width"]
    lines += [f"ca_width = {START['ca_width']!r}"]
    lines += [f"irf_{k} = {{value = {v!r}, fixed = true}}" for k, v in IRF.items()
              if k != "dispcenter"]
    for i, (f, r) in enumerate(zip(FREQ, RATES)):  # same ω as pyglotaran's c = 0.03 cm/ps
        lines += [f"nu{i + 1} = {{value = {f * C_PG / C_HC!r}, fixed = true}}",
                  f"gamma{i + 1} = {{value = {r!r}, fixed = true, min = -100}}"]
    lines += ["", "[irf]", 'center = "irf_center"', 'width = "irf_width"',
              f"dispersion_center = {IRF['dispcenter']!r}",
              'center_dispersion = ["irf_disp1", "irf_disp2"]', "wavenumber_dispersion = true", ""]
    for src, dst, k in (("S2", "hotS1", "k1"), ("hotS1", "S1", "k2"), ("S1", None, "k3")):
        lines += ["[[transfers]]", f'from = "{src}"'] + ([f'to = "{dst}"'] if dst else []) + [
            f'rate = "{k}"', ""]
    for i in range(len(FREQ)):
        lines += ["[[oscillations]]", f'label = "osc{i + 1}"', f'frequency = "nu{i + 1}"',
                  f'rate = "gamma{i + 1}"', ""]
    return "\n".join(lines)


def run_hotcarrier(data: Path) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    from hotcarrier.target.fit import fit_target
    from hotcarrier.target.modelfile import parse_model

    model = parse_model(hc_model_text(), source="ex_doas_beta (hotcarrier form)")
    t0 = time.perf_counter()
    res = fit_target(str(data), model)
    wall = time.perf_counter() - t0
    s = res.summary()
    p = s["parameters"]
    return {"tool": "hotcarrier", "converged": s["converged"], "message": s["message"],
            "cost": s["cost"], "n_iterations": s["n_iterations"],
            "parameters": {k: {"value": p[k]["value"], "stderr": p[k]["stderr"]}
                           for k in ("k1", "k2", "k3", "ca_width")},
            "doas": res.dataset["doas"].values.tolist(),
            "phase": res.dataset["doas_phase"].values.tolist(), "wall_time_s": wall,
            "model_toml": hc_model_text()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True,
                    help="2008Polli_betacar_chex_sim.ascii from pyglotaran-examples")
    ap.add_argument("--pyglotaran-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results"
                    / "doas_betacarotene.json")
    args = ap.parse_args(argv)
    if args.pyglotaran_worker:
        print(json.dumps(run_pyglotaran(args.data)))
        return 0
    py = os.environ.get("PYGLOTARAN_PYTHON", "/work/venv-glotaran/bin/python")
    proc = subprocess.run([py, __file__, "--pyglotaran-worker", "--data", str(args.data)],
                          capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    pg = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in pg:
        print(pg["error"], file=sys.stderr)
        return 3
    hc = run_hotcarrier(args.data)
    par = {k: {"hotcarrier": hc["parameters"][k], "pyglotaran": pg["parameters"][k],
               "rel_diff": hc["parameters"][k]["value"] / pg["parameters"][k]["value"] - 1,
               "stderr_ratio": hc["parameters"][k]["stderr"] / pg["parameters"][k]["stderr"]}
           for k in hc["parameters"]}
    d_hc, d_pg = np.asarray(hc["doas"]), 2.0 * np.asarray(pg["doas"])
    big = d_hc > 0.2 * d_hc.max(axis=1, keepdims=True)
    ph = np.angle(np.exp(1j * (np.asarray(hc["phase"]) - np.asarray(pg["phase"]))))
    comp = {"cost_rel_diff": hc["cost"] / pg["cost"] - 1,
            "max_param_rel_diff": max(abs(v["rel_diff"]) for v in par.values()),
            "max_stderr_ratio_dev": max(abs(v["stderr_ratio"] - 1) for v in par.values()),
            "doas_max_rel_diff_vs_2x_pyglotaran": float(np.max(np.abs(d_hc - d_pg)[big]
                                                               / d_hc[big])),
            "phase_max_abs_diff_rad": float(np.max(np.abs(ph)[big])), "parameters": par}
    for r in (hc, pg):  # the spectra are compared above; keep the file small
        r.pop("doas"), r.pop("phase"), r.pop("model_toml", None)
    out = {"data": str(args.data), "comparison": comp, "hotcarrier": hc, "pyglotaran": pg}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in comp.items() if k != "parameters"}, indent=1))
    for k, v in par.items():
        print(f"{k:9s} hc {v['hotcarrier']['value']:.8g} ± {v['hotcarrier']['stderr']:.4g}  "
              f"pg {v['pyglotaran']['value']:.8g} ± {v['pyglotaran']['stderr']:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

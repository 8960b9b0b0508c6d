"""Reference target analysis of the Hippius TA data with pyglotaran 0.7.5.

Runs in the *pyglotaran* virtual environment (see ``benchmarks/setup_pyglotaran.sh``), not in the
project's one::

    /work/venv-glotaran/bin/python benchmarks/pyglotaran_hippius.py [--data FILE] [--max-nfev N]

Builds the five-compartment target model described in ``../shared/data/README.md`` (section
"Reference target analysis"), fits it to convergence with scipy's trust-region-reflective solver
(pyglotaran's default, finite-difference Jacobian) and prints ONE line of JSON on stdout:
cost, RMSE, every free parameter with its standard error, number of function evaluations, and
wall times (import, load + model build, optimisation, whole process).

The model spec follows pyglotaran 0.7.5's own format (checked against the installed package:
``glotaran/builtin/megacomplexes/decay/irf.py`` for ``spectral-gaussian`` and
``center_dispersion_coefficients``, ``glotaran/model/clp_relation.py``, ``glotaran/model/weight.py``,
``glotaran/parameter/parameter.py`` for ``expr``/``vary``).
"""

from __future__ import annotations

import time

_T_PROCESS0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

_T_IMPORT0 = time.perf_counter()
from glotaran import __version__ as GLOTARAN_VERSION  # noqa: E402
from glotaran.io import load_dataset, load_model, load_parameters  # noqa: E402
from glotaran.optimization.optimize import optimize  # noqa: E402
from glotaran.project import Scheme  # noqa: E402

_T_IMPORT = time.perf_counter() - _T_IMPORT0

DATA_NAME = "glotaran_hippius/demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii"
# repo root is parents[1]; the shared folder sits beside the repository.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / DATA_NAME

MODEL_YML = """\
dataset:
  dataset1:
    megacomplex: [cmplx1]
    initial_concentration: input1
    irf: irf1

megacomplex:
  cmplx1:
    type: decay
    k_matrix: [km1]

k_matrix:
  km1:
    matrix:
      (s2, s1): rates.k1
      (s3, s1): rates.k2
      (s4, s2): rates.k3
      (s4, s3): rates.k4
      (s4, s4): rates.k5
      (s5, s5): rates.kC

initial_concentration:
  input1:
    compartments: [s1, s2, s3, s4, s5]
    parameters: [inputs.1, inputs.0, inputs.0, inputs.0, inputs.1]

irf:
  irf1:
    type: spectral-gaussian
    center: irf.center
    width: irf.width
    dispersion_center: irf.dispc
    center_dispersion_coefficients: [irf.disp1, irf.disp2, irf.disp3]

clp_relations:
  - source: s2
    target: s3
    parameter: rel.r1
    interval: [[0, 1000]]

weights:
  - datasets: [dataset1]
    global_interval: [280, 550]
    value: 0.1
  - datasets: [dataset1]
    global_interval: [720, 890]
    value: 0.1
"""

# Starting values from ../shared/data/README.md.
PARAMETERS_YML = """\
rates:
  - [ksum, 9.49943878184853, {vary: false}]
  - [b, 0.22]
  - [k1, {expr: "$rates.b * $rates.ksum"}]
  - [k2, {expr: "(1 - $rates.b) * $rates.ksum"}]
  - [k3, 0.4839723]
  - [k4, 0.0368954]
  - [k5, 0.0192859]
  - [kC, 99.0, {vary: false}]
inputs:
  - ["1", 1.0, {vary: false}]
  - ["0", 0.0, {vary: false}]
irf:
  - [center, 1.19809]
  - [width, 0.05843]
  - [dispc, 550.0, {vary: false}]
  - [disp1, 0.30895710]
  - [disp2, -0.0833899]
  - [disp3, 0.0047]
rel:
  - [r1, 1.0, {vary: false}]
"""

FREE = {
    "b": "rates.b",
    "k3": "rates.k3",
    "k4": "rates.k4",
    "k5": "rates.k5",
    "mu0": "irf.center",
    "sigma": "irf.width",
    "d1": "irf.disp1",
    "d2": "irf.disp2",
    "d3": "irf.disp3",
}

REFERENCE = {  # ../shared/data/README.md, converged pyglotaran 0.7.5 run
    "cost": 0.002325821353,
    "rmse": 2.015432e-4,
    "n_evaluations": 916,
    "parameters": {
        "b": 0.14774115,
        "k3": 0.34617702,
        "k4": 0.040610509,
        "k5": 0.020014372,
        "mu0": 1.2026061,
        "sigma": 0.061707706,
        "d1": 0.28498609,
        "d2": -0.0806747,
        "d3": 0.013417219,
    },
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("HIPPIUS_DATA", DEFAULT_DATA)))
    ap.add_argument("--max-nfev", type=int, default=5000,
                    help="scipy max function evaluations (large enough to converge; default 5000)")
    ap.add_argument("--free-dataset-scale", action="store_true",
                    help="diagnostic variant: add a free dataset scale parameter (as the old "
                    "pyglotaran-examples model.yml does); redundant with the linear amplitudes")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    args = ap.parse_args(argv)

    if not args.data.is_file():
        print(json.dumps({"error": f"data file not found: {args.data}"}))
        return 2

    t0 = time.perf_counter()
    dataset = load_dataset(str(args.data))
    model_yml, parameters_yml = MODEL_YML, PARAMETERS_YML
    if args.free_dataset_scale:
        model_yml = model_yml.replace("    irf: irf1\n", "    irf: irf1\n    scale: scale.1\n", 1)
        parameters_yml += "scale:\n  - [\"1\", 1.0]\n"
    model = load_model(model_yml, format_name="yml_str")
    parameters = load_parameters(parameters_yml, format_name="yml_str")
    problems = model.validate(parameters=parameters)
    if not model.valid(parameters=parameters):
        print(json.dumps({"error": "model invalid", "problems": str(problems)}))
        return 3
    scheme = Scheme(
        model,
        parameters,
        {"dataset1": dataset},
        maximum_number_function_evaluations=args.max_nfev,
        optimization_method="TrustRegionReflection",
    )
    t_setup = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = optimize(scheme, verbose=False, raise_exception=True)
    t_opt = time.perf_counter() - t0

    cost = float(np.asarray(result.cost).ravel()[0]) if np.ndim(result.cost) else float(result.cost)
    if not np.isfinite(cost) or np.ndim(result.cost):
        cost = 0.5 * float(result.chi_square)
    params = {}
    for name, label in FREE.items():
        p = result.optimized_parameters.get(label)
        params[name] = {"value": float(p.value), "stderr": float(p.standard_error)}
    rel = {
        name: params[name]["value"] / ref - 1.0
        for name, ref in REFERENCE["parameters"].items()
    }
    out = {
        "tool": "pyglotaran",
        "version": GLOTARAN_VERSION,
        "data": str(args.data),
        "data_shape": [int(s) for s in dataset.data.shape],
        "method": "scipy least_squares TRF (2-point finite-difference Jacobian), ftol=xtol=gtol=1e-8",
        "max_nfev": args.max_nfev,
        "variant": "free dataset scale" if args.free_dataset_scale else "README model (9 free)",
        "success": bool(result.success),
        "termination_reason": str(result.termination_reason),
        "cost": cost,
        "chi_square": float(result.chi_square),
        "rmse": float(result.root_mean_square_error),
        "n_evaluations": int(result.number_of_function_evaluations),
        "n_free_parameters": int(result.number_of_free_parameters),
        "n_jacobian_evaluations": (
            None if result.number_of_jacobian_evaluations is None
            else int(result.number_of_jacobian_evaluations)
        ),
        "parameters": params,
        "reference": REFERENCE,
        "cost_rel_diff_vs_reference": cost / REFERENCE["cost"] - 1.0,
        "param_rel_diff_vs_reference": rel,
        "import_s": _T_IMPORT,
        "setup_s": t_setup,
        "wall_time_s": t_opt,
        "process_s": time.perf_counter() - _T_PROCESS0,
    }
    line = json.dumps(out)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(line)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

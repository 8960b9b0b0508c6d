"""pyglotaran 0.7.5 side of the spectral-feature parity runs (NNLS, guide, equal area).

Runs in the *pyglotaran* virtual environment; called by ``parity_nnls.py`` and
``parity_guidance.py`` (project venv), which prepare the data::

    $PYGLOTARAN_PYTHON benchmarks/pyglotaran_spectral.py {nnls|guidance|area} map.npz [...]

``map.npz`` holds ``time`` (ps), ``wavelength`` (nm), ``data`` (time × wavelength) and, for the
guidance run, ``guide`` (one value per wavelength). The model is the same sequential
three-compartment scheme s1 → s2 → s3 → ground with a Gaussian IRF whose centre disperses with
wavelength (x = (λ − 550)/100 nm, two coefficients) in both tools:

* ``nnls``: ``dataset_groups.default.residual_function = "non_negative_least_squares"``
  (pyglotaran's scipy.optimize.nnls at every wavelength);
* ``area``: an ``equal_area`` clp penalty between s2 and s3 over 600–860 nm (parameter 1,
  weight ``--area-weight``);
* ``guidance``: a second dataset whose only megacomplex is a ``clp-guide`` for s3, with the
  guide spectrum as its data (one "time" point), linked to the map (``link_clp: true``), so
  that at every wavelength the spectrum of s3 is fitted to the map and to the guide; its
  weight is a ``weights`` entry of that dataset.

Fitted with scipy's trust-region-reflective solver (finite-difference Jacobian, pyglotaran's
default) with tight tolerances; prints one JSON line: cost, RMSE, parameters ± standard
errors, evaluations, wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import xarray as xr

FREE = ["k1", "k2", "k3", "mu", "sig", "d1", "d2"]

MODEL = """\
default_megacomplex: decay
dataset_groups:
  default:
    residual_function: {residual}
    link_clp: {link}
dataset:
  map:
    megacomplex: [seq]
    initial_concentration: input
    irf: irf1
{guide_dataset}
megacomplex:
  seq:
    type: decay
    k_matrix: [km]
{guide_megacomplex}
k_matrix:
  km:
    matrix:
      (s2, s1): rates.k1
      (s3, s2): rates.k2
      (s3, s3): rates.k3
initial_concentration:
  input:
    compartments: [s1, s2, s3]
    parameters: [inputs.1, inputs.0, inputs.0]
irf:
  irf1:
    type: spectral-gaussian
    center: irf.mu
    width: irf.sig
    dispersion_center: irf.dispc
    center_dispersion_coefficients: [irf.d1, irf.d2]
{weights}
{penalties}
"""

PENALTY = """\
clp_penalties:
  - type: equal_area
    source: s2
    source_intervals: [[600, 860]]
    target: s3
    target_intervals: [[600, 860]]
    parameter: area.1
    weight: {weight!r}
"""

GUIDE_DATASET = """\
  guide:
    megacomplex: [guide_s3]
"""
GUIDE_MEGACOMPLEX = """\
  guide_s3:
    type: clp-guide
    dimension: time
    target: s3
"""


def parameters_yml(start: dict) -> str:
    return (
        "rates:\n"
        + "".join(f"  - [{k}, {start[k]!r}]\n" for k in ("k1", "k2", "k3"))
        + "inputs:\n  - ['1', 1.0, {vary: false}]\n  - ['0', 0.0, {vary: false}]\n"
        + "irf:\n"
        + "".join(f"  - [{k}, {start[k]!r}]\n" for k in ("mu", "sig", "d1", "d2"))
        + "  - [dispc, 550.0, {vary: false}]\n"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("nnls", "guidance", "area"))
    ap.add_argument("--area-weight", type=float, default=0.1)
    ap.add_argument("npz")
    ap.add_argument("--start", required=True, help="JSON dict of start values")
    ap.add_argument("--guide-weight", type=float, default=1.0)
    ap.add_argument("--max-nfev", type=int, default=3000)
    ap.add_argument("--tol", type=float, default=1e-12, help="ftol = xtol = gtol")
    args = ap.parse_args(argv)

    from glotaran import __version__ as version
    from glotaran.io import load_model, load_parameters
    from glotaran.optimization.optimize import optimize
    from glotaran.project import Scheme

    z = np.load(args.npz)
    data = {"map": xr.DataArray(z["data"], dims=("time", "spectral"),
                                coords={"time": z["time"], "spectral": z["wavelength"]}
                                ).to_dataset(name="data")}
    guide = args.mode == "guidance"
    if guide:
        gwl = z["guide_wavelength"] if "guide_wavelength" in z else z["wavelength"]
        data["guide"] = xr.DataArray(z["guide"][None, :], dims=("time", "spectral"),
                                     coords={"time": [-1.0], "spectral": gwl}
                                     ).to_dataset(name="data")
    weights = ("weights:\n  - datasets: [guide]\n    value: " + repr(args.guide_weight) + "\n"
               if guide and args.guide_weight != 1.0 else "")
    model_yml = MODEL.format(
        residual="non_negative_least_squares" if args.mode == "nnls" else "variable_projection",
        link="true" if guide else "false",
        guide_dataset=GUIDE_DATASET if guide else "",
        guide_megacomplex=GUIDE_MEGACOMPLEX if guide else "", weights=weights,
        penalties=PENALTY.format(weight=args.area_weight) if args.mode == "area" else "")
    model = load_model(model_yml, format_name="yml_str")
    pyml = parameters_yml(json.loads(args.start))
    if args.mode == "area":
        pyml += "area:\n  - ['1', 1.0, {vary: false}]\n"
    params = load_parameters(pyml, format_name="yml_str")
    if not model.valid(parameters=params):
        print(json.dumps({"error": str(model.validate(parameters=params))}))
        return 3
    scheme = Scheme(model, params, data, maximum_number_function_evaluations=args.max_nfev,
                    optimization_method="TrustRegionReflection", ftol=args.tol, xtol=args.tol,
                    gtol=args.tol)
    t0 = time.perf_counter()
    result = optimize(scheme, verbose=False, raise_exception=True)
    wall = time.perf_counter() - t0
    labels = {"k1": "rates.k1", "k2": "rates.k2", "k3": "rates.k3", "mu": "irf.mu",
              "sig": "irf.sig", "d1": "irf.d1", "d2": "irf.d2"}
    out = {
        "tool": "pyglotaran", "version": version, "mode": args.mode,
        "method": f"scipy least_squares TRF (2-point finite-difference Jacobian), "
                  f"ftol=xtol=gtol={args.tol:g}",
        "success": bool(result.success), "termination_reason": str(result.termination_reason),
        "cost": float(result.cost), "chi_square": float(result.chi_square),
        "rmse": float(result.root_mean_square_error),
        "n_residuals": int(result.number_of_residuals), "n_clps": int(result.number_of_clps),
        "n_evaluations": int(result.number_of_function_evaluations),
        "parameters": {k: {"value": float(result.optimized_parameters.get(v).value),
                           "stderr": float(result.optimized_parameters.get(v).standard_error)}
                       for k, v in labels.items()},
        "s3": np.asarray(result.data["map"].species_associated_spectra.sel(
            species="s3").values).tolist(),
        "wall_time_s": wall,
    }
    print(json.dumps(out))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``hotcarrier fit DATA... (--model MODEL.toml | --scheme ...) --out DIR``.

A thin layer over :func:`hotcarrier.target.fit.fit_target`: every option maps to a model or
fit argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._options import (add_preprocess_options, check_inputs, check_out, check_preprocess,
                       finite, int_range, positive, preprocess_overrides)

__all__ = ["add_parser", "add_model_arguments", "build_model", "run", "write_preprocess_figures"]


def _floats(text: str) -> list[float]:
    import math

    try:
        vals = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") \
            from None
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected lifetimes > 0 in ps, e.g. 4,75,1e5; got "
                                         f"{text!r}")
    return vals


def add_model_arguments(p) -> None:
    """Model-file, quick-scheme and preprocessing options shared by ``fit`` and ``fit-many``."""
    p.add_argument("--model", help="TOML model file (docs/model-file.md)")
    q = p.add_argument_group("quick global analysis (no model file)")
    q.add_argument("--scheme", choices=("parallel", "sequential"),
                   help="parallel (DAS) or sequential (EAS) scheme")
    q.add_argument("--lifetimes", type=_floats, help="initial lifetimes in ps, e.g. 4,75,1e5")
    q.add_argument("--fix-lifetime", type=int_range(1), action="append", default=[],
                   metavar="N", help="hold the N-th lifetime fixed (counting from 1; repeatable)")
    q.add_argument("--irf-fwhm", type=positive, default=0.1, help="IRF FWHM, ps")
    q.add_argument("--fix-irf", action="store_true", help="hold the IRF width fixed")
    q.add_argument("--t0", type=finite, default=0.0, help="time zero (IRF centre), ps")
    q.add_argument("--fix-t0", action="store_true", help="hold time zero fixed")
    q.add_argument("--baseline", action="store_true", help="add a constant offset component")
    q.add_argument("--coherent-artifact", type=int_range(0, 3), default=0, metavar="N",
                   help="coherent-artefact components: IRF and N-1 derivatives (0-3)")
    q.add_argument("--oscillation", action="append", default=[], metavar="NU[,GAMMA]",
                   help="a damped oscillation (DOAS): start frequency in cm⁻¹ (or e.g. "
                   "0.125THz) and damping rate in ps⁻¹ (default 1); repeatable")
    q.add_argument("--irf-file", metavar="FILE",
                   help="measured IRF (two columns: time ps, value) instead of the Gaussian; "
                   "--t0 is then its fitted shift")
    q.add_argument("--t0-per-wavelength", action="store_true",
                   help="a free time-zero shift at every wavelength (±1 ps, relative to the "
                   "median wavelength)")
    sp = p.add_argument_group("spectral options (quick scheme or model file)")
    sp.add_argument("--non-negative", action="store_true",
                    help="non-negative amplitudes (NNLS at every wavelength)")
    sp.add_argument("--guide", action="append", default=[], metavar="SPECIES=FILE[@W]",
                    help="guidance spectrum for SPECIES from a two-column file (wavelength nm, "
                    "value), weight W (default 1); repeatable")
    add_preprocess_options(p, "preprocessing (override the model file's [preprocess])")


def add_parser(subparsers) -> None:
    """Register the ``fit`` sub-command."""
    p = subparsers.add_parser(
        "fit", help="global/target analysis of TA data (variable projection, optax L-BFGS)",
        description="Fit a kinetic model to one or several TA datasets. Either give a TOML "
        "model file (--model) or use the quick global-analysis path (--scheme, --lifetimes).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", nargs="+", help="TA data file(s); several share the kinetics")
    p.add_argument("--out", required=True, help="output folder (result.nc, summary.json, "
                   "overview.png, preprocess.png, report.html)")
    add_model_arguments(p)
    o = p.add_argument_group("fit options")
    o.add_argument("--max-iter", type=int_range(1), default=2000, help="L-BFGS iteration cap")
    o.add_argument("--profile", action="append", default=[], metavar="PARAM",
                   help="also compute a profile-likelihood interval for PARAM (repeatable)")
    o.add_argument("--prior", action="append", default=[], metavar="NAME=VALUE±U",
                   help="physical model, flexible-decay route: a calibration prior of the "
                   "[systematics] table, e.g. q_ref=1.0±0.15, reference_yield=1±0.05, "
                   "sample.fluence=0.05, reference.absorbance=0.01 (repeatable)")
    o.add_argument("--traces", type=_floats, metavar="NM,NM,...",
                   help="wavelengths (nm) of the overview's trace panel, e.g. 450,550,650 "
                   "(default: chosen by amplitude away from excluded bands)")
    o.add_argument("--no-figure", action="store_true",
                   help="do not write overview.png and preprocess.png")
    o.add_argument("--no-netcdf", action="store_true", help="do not write result.nc")
    o.add_argument("--no-report", action="store_true",
                   help="do not write report.html (one self-contained page: figures, "
                   "parameter table with verdicts, preprocessing, provenance)")
    o.add_argument("--quiet", action="store_true", help="no progress output")
    o.add_argument("--progress", action="store_true",
                   help="print the cost every 10 iterations (the optimiser then calls back "
                   "into Python, so its compiled program is not kept in the on-disk cache)")
    p.set_defaults(func=run)


def build_model(args):
    """The TargetModel described by the command line."""
    from ..errors import ModelError
    from ..target.modelfile import load_target_model
    from ..target.model import TargetModel

    if args.model and args.scheme:
        raise ModelError("give either --model or --scheme, not both")
    if args.model:
        model = load_target_model(args.model)
    elif args.scheme:
        if not args.lifetimes:
            raise ModelError("--scheme needs --lifetimes (initial guesses in ps, e.g. 4,75,1e5)")
        model = TargetModel.from_scheme(
            args.scheme, args.lifetimes, fix_lifetime=args.fix_lifetime, irf_fwhm=args.irf_fwhm,
            fix_irf=args.fix_irf, t0=args.t0, fix_t0=args.fix_t0, n_datasets=len(args.data),
            baseline=args.baseline, coherent_artifact=args.coherent_artifact,
            **_time_domain_options(args))
    else:
        raise ModelError("give a model file (--model MODEL.toml) or a quick scheme "
                         "(--scheme sequential --lifetimes 4,75,1e5)")
    over = preprocess_overrides(args)
    read = {**(model.preprocess.get("read") or {}), **over.pop("read", {})}
    model.preprocess = {**model.preprocess, **over, **({"read": read} if read else {})}
    if getattr(args, "non_negative", False):
        model.non_negative = True
    if getattr(args, "guide", None):
        model.guides = model.guides + _guides(args.guide)
        model.validate()
    return model


def _guides(specs):
    """``--guide SPECIES=FILE[@WEIGHT]`` options → :class:`~hotcarrier.target.model.Guide`."""
    from ..errors import ModelError
    from ..target.modelfile import _parse_guides

    tables = []
    for spec in specs:
        species, sep, rest = spec.partition("=")
        path, _, weight = rest.rpartition("@") if "@" in rest else (rest, "", "1")
        if not sep or not species or not path:
            raise ModelError(f"--guide {spec!r}: expected SPECIES=FILE or SPECIES=FILE@WEIGHT, "
                             "e.g. --guide s3=s3_guide.csv@2")
        try:
            tables.append({"species": species, "file": str(Path(path).resolve()),
                           "weight": float(weight)})
        except ValueError:
            raise ModelError(f"--guide {spec!r}: weight {weight!r} is not a number") from None
    problems = []
    guides = _parse_guides(tables, ".", problems)
    if problems:
        raise ModelError("--guide: " + "; ".join(problems))
    return guides


def write_preprocess_figures(data, model, out) -> list[str]:
    """``preprocess.png`` (``preprocess_<n>.png`` for the n-th of several datasets): the
    figure of ``hotcarrier inspect`` for each data file, with the model's preprocessing."""
    from pathlib import Path

    from ..io import load_ta
    from ..plotting import preprocess_figure, save_figure
    from ..preprocess import prepare_steps, read_options

    base = Path(model.source).parent if Path(model.source).is_file() else None
    names = []
    for i, item in enumerate(data):
        name = "preprocess.png" if i == 0 else f"preprocess_{i + 1}.png"
        steps = prepare_steps(load_ta(item, **read_options(model.preprocess)), model.preprocess,
                              base_dir=base)
        save_figure(preprocess_figure(steps), Path(out) / name)
        names.append(name)
    return names


def _time_domain_options(args) -> dict:
    """--oscillation, --irf-file and --t0-per-wavelength as from_scheme arguments."""
    from ..errors import ModelError

    osc = []
    for text in getattr(args, "oscillation", None) or []:
        parts = [x.strip() for x in text.split(",")]
        nu, unit = parts[0], "cm-1"
        if nu.lower().endswith("thz"):
            nu, unit = nu[:-3], "THz"
        try:
            osc.append((float(nu), float(parts[1]) if len(parts) > 1 else 1.0, unit))
        except ValueError:
            raise ModelError(f"--oscillation {text!r}: expected NU[,GAMMA], e.g. 120,2 (cm⁻¹, "
                             "ps⁻¹) or 0.125THz,0.05") from None
    measured = None
    if getattr(args, "irf_file", None):
        from ..target.modelfile import _parse_measured_irf

        problems: list[str] = []
        measured = _parse_measured_irf({"file": args.irf_file}, "--irf-file", "<command line>",
                                       problems, lambda *a: None)
        if problems:
            raise ModelError("; ".join(problems))
    return dict(oscillations=osc, measured_irf=measured,
                t0_per_wavelength=bool(getattr(args, "t0_per_wavelength", False)))


def run(args) -> int:
    """Check every option, input and the output folder; then fit and write the outputs."""
    from ..api import fit, load_model, model_kind
    from ..errors import OptionError

    check_out(args)
    check_preprocess(args)
    if getattr(args, "model", None) and model_kind(args.model) == "physical":
        if args.profile:
            raise OptionError("--profile: the physical model profiles Φ_inj itself "
                              "([uncertainty] profile in the model file)")
        load_model(args.model)  # model-file problems before the fit
        model, options, what = args.model, {}, f"the physical model {args.model}"
        if getattr(args, "prior", None):
            from ..physics.modelfile import PhysicalModel
            from ..physics.systematics import with_prior_options

            model = with_prior_options(PhysicalModel.from_toml(args.model), args.prior)
    else:
        if getattr(args, "prior", None):
            raise OptionError("--prior applies to a physical model file ([model] type = "
                              "\"hotcarrier\" with a [decay] table), not to a target model")
        from ..target.fit import check_profile_names

        model = build_model(args)
        check_profile_names(args.profile, model.parameters.free_names)
        t0 = time.perf_counter()

        def progress(it, cost, gnorm):
            if it == 1 or it % 10 == 0:
                print(f"  iteration {it:5d}   cost {cost:.10g}   max|grad| {gnorm:.3g}   "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

        options = dict(max_iter=args.max_iter,
                       progress=progress if args.progress and not args.quiet else None,
                       profile=args.profile or None)
        what = (f"{model.source} (compiled on the first fit of a model structure and data "
                "shape: a few seconds; later fits load it from the cache)")
    check_inputs(args.data)
    if not args.quiet:
        print(f"fitting {', '.join(args.data)} with {what}", file=sys.stderr, flush=True)
    res = fit(args.data, model, **options)
    written = (["summary.json"] + ([] if args.no_netcdf else ["result.nc"])
               + ([] if args.no_figure else ["overview.png"]))

    def extra(stage):
        """preprocess.png and report.html, written into the output set's staging folder."""
        figures = [] if args.no_figure or res.model_type != "target" else \
            write_preprocess_figures(args.data, model, stage)
        written.extend(figures)
        if not args.no_report:
            from ..report import write_report

            shown = {"Overview": stage / "overview.png"} if not args.no_figure else {}
            shown.update({f"Preprocessing ({name})": stage / name for name in figures})
            write_report(res, stage / "report.html", shown)
            written.append("report.html")

    out = res.write(args.out, netcdf=not args.no_netcdf, figure=not args.no_figure,
                    traces=args.traces, extra=extra)
    print(res)
    d = res.derived.get("injection_quantum_yield", {})
    if "ci95_total" in d and res.converged:  # flexible-decay route: what limits Φ_inj
        st, tot = d["ci95_statistical"], d["ci95_total"]
        print(f"  Φ_inj = {d['value']:.4g}   95 % statistical [{st[0]:.4g}, {st[1]:.4g}]   "
              f"total [{tot[0]:.4g}, {tot[1]:.4g}]   dominated by {d['dominant']}")
        if d.get("fluence_extrapolation", {}).get("note"):
            print(f"  {d['fluence_extrapolation']['note']}")
    print(f"wrote {out}/ ({', '.join(written)})")
    if not res.converged:  # written for inspection; a script must not take it for a result
        print(f"hotcarrier fit: the fit did not converge ({res.summary_dict.get('message')}): the "
              f"files in {out}/ are for inspection, not a result (exit code 3)",
              file=sys.stderr)
        return 3
    return 0

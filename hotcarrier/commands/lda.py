"""``hotcarrier lda FILE [--irf-fwhm ...] --out DIR``: lifetime-density analysis of a TA map."""

from __future__ import annotations

import argparse

from ._options import check_out, finite, fraction, int_range, positive, write_json
from .info import add_load_options, load_from_args

__all__ = ["add_parser", "run"]


def _alpha(text: str):
    if text == "auto":
        return text
    try:
        return positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number > 0, got {text!r}") \
            from None


def add_parser(subparsers) -> None:
    """Register the ``lda`` sub-command."""
    p = subparsers.add_parser(
        "lda", help="lifetime-density analysis (regularised amplitudes on a lifetime grid)",
        description="Fit amplitudes on a log-spaced lifetime grid (exp ⊗ Gaussian IRF) with "
        "Tikhonov or elastic-net regularisation; α by L-curve or GCV. The data are taken as "
        "preprocessed (chirp-corrected, time zero = --t0).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", help="TA data file")
    p.add_argument("--out", required=True, help="output folder (lda.nc, lda.json, lda.png)")
    p.add_argument("--irf-fwhm", type=positive, default=0.1, help="IRF FWHM, ps")
    p.add_argument("--t0", type=finite, default=0.0, help="time zero (IRF centre), ps")
    p.add_argument("--tmin", type=positive, help="shortest lifetime of the grid, ps "
                   "(default IRF FWHM / 2)")
    p.add_argument("--tmax", type=positive, help="longest lifetime, ps (default 2 × last delay)")
    p.add_argument("--n-lifetimes", type=int_range(2), default=100, help="lifetime grid points")
    p.add_argument("--method", choices=("tikhonov", "elastic-net"), default="tikhonov")
    p.add_argument("--alpha", type=_alpha, default="auto", help="'auto' or a value")
    p.add_argument("--criterion", choices=("lcurve", "gcv"), default="lcurve",
                   help="how 'auto' picks α: L-curve corner or GCV minimum")
    p.add_argument("--l1-ratio", type=fraction, default=0.9, help="elastic-net L1 share ρ")
    p.add_argument("--no-figure", action="store_true", help="do not write lda.png")
    add_load_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the analysis and write lda.nc, lda.json and lda.png atomically."""
    from ..analysis.lda import lifetime_density
    from ..io.atomic import output_set

    out = check_out(args)
    ds = load_from_args(args.data, args)
    res = lifetime_density(ds, irf_fwhm=args.irf_fwhm, t0=args.t0, tau_min=args.tmin,
                           tau_max=args.tmax, n_lifetimes=args.n_lifetimes, method=args.method,
                           alpha=args.alpha, criterion=args.criterion, l1_ratio=args.l1_ratio)
    summary = {**res.attrs, "file": str(args.data),
               "peak_lifetimes_ps": res["peak_lifetime"].values.tolist(),
               "alpha_grid": res["alpha"].values.tolist(),
               **{k: res[k].values.tolist() for k in ("residual_norm", "penalty", "gcv")}}
    with output_set(out, replaces=("lda.nc", "lda.json", "lda.png"), command="lda") as stage:
        res.to_netcdf(stage / "lda.nc", engine="h5netcdf")
        write_json(stage / "lda.json", summary, indent=2, allow_nan=True)
        if not args.no_figure:
            from ..plotting import lifetime_density_figure

            lifetime_density_figure(res, stage / "lda.png")
    a = res.attrs
    print(f"{args.data}: {a['method']}, α = {a['alpha']:.4g} ({a['criterion']}; L-curve "
          f"{a['alpha_lcurve']:.4g}, GCV {a['alpha_gcv']:.4g}), RMSE {a['rmse']:.4g}")
    print("peaks (ps): " + ", ".join(f"{x:.4g}" for x in res["peak_lifetime"].values))
    print(f"wrote {out}/ (lda.nc, lda.json{'' if args.no_figure else ', lda.png'})")
    return 0

"""``hotcarrier choose FILE... --out DIR``: automatic choice of the number of components.

A thin layer over :func:`hotcarrier.analysis.choice.choose_model`. Writes ``choice.json``,
``choice.txt`` (the ranked table and the verdict) and ``choice.png`` atomically, in DIR, or in
DIR/<file stem>/ when several files are given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._options import (add_preprocess_options, check_inputs, check_out, check_preprocess, finite,
                       int_range, positive, preprocess_overrides, write_json, write_text)

__all__ = ["add_parser", "run"]

_TRI = {"auto": None, "yes": True, "no": False}


def add_parser(subparsers) -> None:
    """Register the ``choose`` sub-command."""
    p = subparsers.add_parser(
        "choose", help="choose the number of kinetic components (AIC/BIC, cross-validation)",
        description="Fit parallel models with 1…N components (with/without a baseline and a "
        "coherent artefact) in batched multi-start calls; rank them by BIC/AIC and a "
        "cross-validated error; flag non-identifiable ones; report the winner or 'undecided'.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", nargs="+", help="TA data file(s), each analysed on its own")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--max-components", type=int_range(1, 8), default=4,
                   help="try 1…N decaying components")
    p.add_argument("--baseline", choices=tuple(_TRI), default="auto",
                   help="non-decaying component: try both (auto), always, never")
    p.add_argument("--artifact", choices=tuple(_TRI), default="auto",
                   help="coherent artefact (IRF-shaped): try both (auto), always, never")
    p.add_argument("--irf-fwhm", type=positive, default=0.1, help="IRF FWHM start value, ps")
    p.add_argument("--t0", type=finite, default=0.0, help="time-zero start value, ps")
    p.add_argument("--starts", type=int_range(1), default=4, help="starts per fit (multi-start)")
    p.add_argument("--folds", type=int, default=5,
                   help="cross-validation folds (0: none; checked by choose_model)")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic")
    add_preprocess_options(p, "preprocessing (as in hotcarrier fit)")
    p.add_argument("--no-figure", action="store_true", help="do not write choice.png")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the model choice for every file and write the outputs."""
    from ..analysis.choice import choose_model
    from ..io.atomic import output_set
    from ..plotting import save_figure

    check_out(args)
    check_inputs(args.data)
    check_preprocess(args)
    pre = preprocess_overrides(args)
    for path in args.data:
        out = Path(args.out) / (Path(path).stem if len(args.data) > 1 else "")
        say = None if args.quiet else (lambda i, n, lab: print(
            f"{path}: candidate {i + 1}/{n}: {lab}", file=sys.stderr, flush=True))
        res = choose_model(path, args.max_components, preprocess=pre,
                           baseline=_TRI[args.baseline], artifact=_TRI[args.artifact],
                           irf_fwhm=args.irf_fwhm, t0=args.t0, n_starts=args.starts,
                           folds=args.folds, criterion=args.criterion, progress=say)
        with output_set(out, replaces=("choice.json", "choice.txt", "choice.png"),
                        command="choose") as stage:
            write_json(stage / "choice.json", res.to_dict())
            write_text(stage / "choice.txt", res.table() + "\n")
            if not args.no_figure:
                save_figure(res.figure(), stage / "choice.png")
        print(f"{path}\n{res.table()}\nwrote {out}/")
    return 0

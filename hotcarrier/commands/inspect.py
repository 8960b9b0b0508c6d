"""``hotcarrier inspect FILE [preprocessing options]``: see what the preprocessing does.

Runs the same preprocessing chain as ``fit`` (:func:`hotcarrier.preprocess.prepare_steps`),
prints the history, the chirp polynomial with its rms about the onsets and the masked cells,
and writes a figure: the map as read on a linear–log delay axis with the chirp onsets, the
polynomial and the background window drawn over it, the prepared map, and its SVD.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._options import add_preprocess_options, preprocess_overrides

__all__ = ["add_parser", "run", "format_report"]


def add_parser(subparsers) -> None:
    """Register the ``inspect`` sub-command."""
    p = subparsers.add_parser(
        "inspect", help="show the map, its chirp, background window, masked cells and SVD",
        description="Apply the preprocessing options of `fit` to one TA file and show what "
        "they do: prints the history and the chirp polynomial (with its rms about the signal "
        "onsets) and writes a figure (map on a linear–log delay axis with the onsets, the "
        "polynomial and the background window; the prepared map; its SVD).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", help="TA data file")
    p.add_argument("--figure", metavar="PNG",
                   help="where to write the figure (default: <file stem>_inspect.png here)")
    p.add_argument("--linthresh", type=float, default=1.0,
                   help="half-width (ps) of the linear part of the delay axis")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    add_preprocess_options(p, "preprocessing (as for fit)")
    p.set_defaults(func=run)


def format_report(steps) -> str:
    """The text ``inspect`` prints for a :class:`~hotcarrier.preprocess.Preprocessed`."""
    from ..dataset import fit_mask

    rec = steps.record()
    d = steps.data
    lines = [f"{d.attrs.get('source_file', '')}: prepared map {d.sizes['delay']} delays "
             f"({float(d['delay'].min()):.4g} … {float(d['delay'].max()):.4g} ps) × "
             f"{d.sizes['wavelength']} wavelengths ({float(d['wavelength'].min()):.4g} … "
             f"{float(d['wavelength'].max()):.4g} nm), {int((~fit_mask(d)).sum())} masked "
             f"cell(s)", "history:"]
    lines += [f"  {i + 1}. {h}" for i, h in enumerate(rec["history"])]
    if rec["chirp_coefficients"] is not None:
        c = ", ".join(f"{x:.10g}" for x in rec["chirp_coefficients"])
        lines.append(f"chirp ({rec['chirp_source']}): t0(λ) = polyval([{c}], λ/nm) ps")
        if rec["chirp_rms_ps"] is not None:
            lines.append(f"  rms of {rec['chirp_onsets_used']} half-maximum onsets about it: "
                         f"{rec['chirp_rms_ps']:.3g} ps")
    else:
        lines.append("chirp: not corrected (give --chirp FILE or --chirp auto)")
    if steps.background_before is None:
        lines.append("background: not subtracted (give --background-before T)")
    return "\n".join(lines)


def run(args) -> int:
    """Prepare, print, draw."""
    from ..io import load_ta
    from ..plotting import preprocess_figure, save_figure
    from ..preprocess import prepare_steps, read_options

    pre = preprocess_overrides(args)
    steps = prepare_steps(load_ta(args.data, **read_options(pre)), pre)
    if args.json:
        print(json.dumps(steps.record(), indent=1, ensure_ascii=False))
    else:
        print(format_report(steps))
    fig_path = Path(args.figure or f"{Path(args.data).stem}_inspect.png")
    save_figure(preprocess_figure(steps, linthresh=args.linthresh), fig_path)
    # with --json, standard output holds the JSON document only
    print(f"wrote {fig_path}", file=sys.stderr if args.json else sys.stdout)
    return 0

"""``hotcarrier convert IN OUT``: convert between the supported TA file formats."""

from __future__ import annotations

from pathlib import Path

from .info import add_load_options, load_from_args

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register ``hotcarrier convert``."""
    p = subparsers.add_parser(
        "convert", help="convert a TA file to another format",
        description="Read IN (format detected from the content) and write OUT (format from "
        "--to or OUT's extension: .nc, .npz, .ufs, .csv, .sia, .ascii, .txt). The output is "
        "written atomically; the input is never modified.")
    p.add_argument("input", help="input TA file")
    p.add_argument("output", help="output file")
    p.add_argument("--to", dest="out_format", metavar="NAME",
                   help="output format: glotaran, helios-csv, ufs, sia, delimited, npz, netcdf")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_load_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Convert; problems raise DataFormatError (exit code 2)."""
    from ..dataset import history, with_history
    from ..errors import DataFormatError
    from ..io import format_for_path, save_ta

    out = Path(args.output)
    if Path(args.input).resolve() == out.resolve():
        raise DataFormatError(out, "output is the input file", "choose another output path")
    if out.exists() and not args.force:
        raise DataFormatError(out, "output file exists", "pass --force to overwrite it")
    fmt = args.out_format or format_for_path(out)
    ds = load_from_args(args.input, args)
    ds = with_history(ds, f"convert: written as {fmt} to {out.name}")
    save_ta(ds, out, format=fmt)
    print(f"{args.input} ({ds.attrs.get('source_format')}, {ds.sizes['delay']} × "
          f"{ds.sizes['wavelength']}) → {out} ({fmt}); {len(history(ds))} history step(s)")
    return 0

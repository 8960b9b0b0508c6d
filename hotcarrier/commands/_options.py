"""Options and output helpers shared by several sub-commands."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["add_preprocess_options", "preprocess_overrides", "out_dir", "write_text",
           "write_json", "finite", "positive", "non_negative", "fraction", "int_range",
           "check_inputs", "check_preprocess", "check_out", "check_out_file"]

_PREPROCESS = ("time_range", "wavelength_range", "exclude", "background_before", "bad_values",
               "chirp", "solvent", "solvent_scale", "solvent_outside")


def add_preprocess_options(p, title: str) -> None:
    """The preprocessing options of ``fit``, ``fit-many`` and ``choose`` (group ``title``)."""
    from .info import add_load_options

    add_load_options(p)
    pre = p.add_argument_group(title)
    pre.add_argument("--time-range", type=finite, nargs=2, metavar=("LO", "HI"),
                     help="keep delays in [LO, HI] ps")
    pre.add_argument("--wavelength-range", type=finite, nargs=2, metavar=("LO", "HI"),
                     help="keep wavelengths in [LO, HI] nm")
    pre.add_argument("--exclude", type=finite, nargs=2, action="append", metavar=("A", "B"),
                     help="drop the wavelength band [A, B] nm (repeatable)")
    pre.add_argument("--background-before", type=finite, metavar="T",
                     help="subtract, per wavelength, the mean signal of the delays before "
                     "T ps relative to that wavelength's own time zero (after the chirp is "
                     "known)")
    pre.add_argument("--bad-values", type=positive, metavar="X",
                     help="mask cells with |signal| > X")
    pre.add_argument("--chirp", metavar="FILE|auto",
                     help="chirp polynomial file (one line, comma-separated, highest power first; "
                     "t0 in ps at λ in nm) or 'auto' to estimate it")
    pre.add_argument("--solvent", metavar="FILE",
                     help="subtract a solvent / coherent-artefact scan (same signal unit; "
                     "interpolated onto the map's grid before the chirp correction)")
    pre.add_argument("--solvent-scale", type=finite, metavar="X",
                     help="scale factor of the solvent scan (default 1)")
    pre.add_argument("--solvent-outside", choices=("error", "zero", "nan"),
                     help="cells the solvent scan does not cover: refuse (default), subtract "
                     "nothing there (zero), or leave them out of the fit (nan)")


def preprocess_overrides(args) -> dict:
    """The preprocessing options given on the command line, as ``prepare`` options (reader
    overrides such as ``--time-unit`` in their ``read`` table)."""
    from .info import reader_overrides

    out = {k: v for k in _PREPROCESS if (v := getattr(args, k)) is not None}
    read = reader_overrides(args)
    return {**out, "read": read} if read else out


def out_dir(args) -> Path:
    """``--out`` as a folder, created if needed (OptionError when it cannot be written)."""
    from ..io.atomic import check_output_folder

    return check_output_folder(args.out)


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj, *, indent: int = 1, allow_nan: bool = False) -> None:
    """Write ``obj`` as JSON (one trailing newline) to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")


# ------------------------------------------------------------ option types and early checks

def _number(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def finite(text: str) -> float:
    """argparse type: a finite number."""
    return _number(text)


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    import argparse

    v = _number(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    import argparse

    v = _number(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1]."""
    import argparse

    v = _number(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return v


def int_range(lo: int, hi: int | None = None):
    """argparse type: a whole number in [lo, hi] (no upper limit when hi is None)."""
    import argparse

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            span = f">= {lo}" if hi is None else f"from {lo} to {hi}"
            raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {text!r}")
        return v
    parse.__name__ = "int"
    return parse


def check_inputs(paths, what: str = "data file") -> None:
    """Every path is a readable regular file (checked before any work; DataFormatError)."""
    from ..io._common import check_regular_file

    for p in paths:
        check_regular_file(p, what)


def check_preprocess(args) -> None:
    """The preprocessing options are usable (ranges ordered, chirp file readable), before any
    data are read or fitted; raises OptionError / DataFormatError."""
    from ..errors import OptionError

    for opt in ("time_range", "wavelength_range"):
        v = getattr(args, opt, None)
        if v is not None and not v[0] < v[1]:
            raise OptionError(f"--{opt.replace('_', '-')} {v[0]:g} {v[1]:g}: the lower limit "
                              f"must come first; write --{opt.replace('_', '-')} "
                              f"{min(v):g} {max(v):g}")
    for a, b in getattr(args, "exclude", None) or []:
        if not a < b:
            raise OptionError(f"--exclude {a:g} {b:g}: write the band as LOW HIGH")
    bv = getattr(args, "bad_values", None)
    if bv is not None and not bv > 0:
        raise OptionError(f"--bad-values {bv:g}: the threshold must be > 0")
    chirp = getattr(args, "chirp", None)
    if chirp is not None and chirp != "auto":
        from ..preprocess import read_chirp_file

        model = getattr(args, "model", None)  # a relative path may be the model file's
        beside = Path(model).resolve().parent / chirp if model else None
        read_chirp_file(beside if beside is not None and beside.is_file()
                        and not Path(chirp).exists() else chirp)


def check_out(args) -> Path:
    """``--out`` as a folder that can be written, checked before any work (created only when
    the results are written: bad input leaves no empty folder)."""
    from ..io.atomic import check_output_folder

    return check_output_folder(args.out, create=False)


def check_out_file(path, suffixes=None) -> Path:
    """An output file path whose folder exists and is writable (and, with ``suffixes``, whose
    extension is one of them); raises OptionError before any work."""
    import os

    from ..errors import OptionError

    p = Path(path)
    if p.is_dir():
        raise OptionError(f"{p}: is a folder; give a file name")
    if suffixes and p.suffix.lower() not in suffixes:
        raise OptionError(f"{p}: the extension must be one of {', '.join(suffixes)}")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OptionError(f"{p}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OptionError(f"{p}: the folder {folder} is not writable")
    return p

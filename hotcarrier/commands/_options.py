"""Options and output helpers shared by several sub-commands."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["add_preprocess_options", "preprocess_overrides", "out_dir", "write_text",
           "write_json"]

_PREPROCESS = ("time_range", "wavelength_range", "exclude", "background_before", "bad_values",
               "chirp", "solvent", "solvent_scale", "solvent_outside")


def add_preprocess_options(p, title: str) -> None:
    """The preprocessing options of ``fit``, ``fit-many`` and ``choose`` (group ``title``)."""
    pre = p.add_argument_group(title)
    pre.add_argument("--time-range", type=float, nargs=2, metavar=("LO", "HI"),
                     help="keep delays in [LO, HI] ps")
    pre.add_argument("--wavelength-range", type=float, nargs=2, metavar=("LO", "HI"),
                     help="keep wavelengths in [LO, HI] nm")
    pre.add_argument("--exclude", type=float, nargs=2, action="append", metavar=("A", "B"),
                     help="drop the wavelength band [A, B] nm (repeatable)")
    pre.add_argument("--background-before", type=float, metavar="T",
                     help="subtract, per wavelength, the mean signal of the delays before "
                     "T ps relative to that wavelength's own time zero (after the chirp is "
                     "known)")
    pre.add_argument("--bad-values", type=float, metavar="X", help="mask cells with |signal| > X")
    pre.add_argument("--chirp", metavar="FILE|auto",
                     help="chirp polynomial file (one line, comma-separated, highest power first; "
                     "t0 in ps at λ in nm) or 'auto' to estimate it")
    pre.add_argument("--solvent", metavar="FILE",
                     help="subtract a solvent / coherent-artefact scan (same signal unit; "
                     "interpolated onto the map's grid before the chirp correction)")
    pre.add_argument("--solvent-scale", type=float, metavar="X",
                     help="scale factor of the solvent scan (default 1)")
    pre.add_argument("--solvent-outside", choices=("error", "zero", "nan"),
                     help="cells the solvent scan does not cover: refuse (default), subtract "
                     "nothing there (zero), or leave them out of the fit (nan)")


def preprocess_overrides(args) -> dict:
    """The preprocessing options given on the command line, as ``prepare`` options."""
    return {k: v for k in _PREPROCESS if (v := getattr(args, k)) is not None}


def out_dir(args) -> Path:
    """``--out`` as a folder, created if needed."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj, *, indent: int = 1, allow_nan: bool = False) -> None:
    """Write ``obj`` as JSON (one trailing newline) to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")

"""``hotcarrier info FILE [--json]``: what a TA file holds, at a glance."""

from __future__ import annotations

import argparse
import json

import numpy as np

__all__ = ["add_parser", "add_load_options", "reader_overrides", "load_from_args", "summarize",
           "format_text", "run"]


def add_load_options(p: argparse.ArgumentParser) -> None:
    """Reader overrides of ``info``, ``convert`` and (with the preprocessing options)
    ``fit``, ``fit-many``, ``choose`` and ``inspect``."""
    g = p.add_argument_group("reader overrides (default: detected from the file)")
    g.add_argument("--format", dest="in_format", metavar="NAME",
                   help="input format: glotaran, helios-csv, ufs, sia, delimited, npz, netcdf")
    g.add_argument("--time-unit", help="unit of the delays in the file (fs, ps, ns, …)")
    g.add_argument("--spectral-unit", help="unit of the spectral axis: nm, cm-1 or eV")
    g.add_argument("--signal-units", help="unit of the values: OD, mOD, uOD, dT/T, %%dT/T")
    g.add_argument("--orientation", choices=("time_rows", "wavelength_rows"),
                   help="delimited matrices: are rows delays or wavelengths?")
    g.add_argument("--delimiter", help="delimited matrices: cell delimiter ('\\t', ',', ';', "
                   "'whitespace')")
    g.add_argument("--decimal", choices=(".", ","), help="decimal mark")


def reader_overrides(args) -> dict:
    """The reader overrides given on the command line (:func:`add_load_options`), as
    keyword arguments of :func:`hotcarrier.io.load_ta`."""
    opts = ("time_unit", "spectral_unit", "signal_units", "orientation", "decimal")
    over = {k: getattr(args, k) for k in opts if getattr(args, k, None) is not None}
    if getattr(args, "in_format", None) is not None:
        over["format"] = args.in_format
    if getattr(args, "delimiter", None) is not None:
        if not args.delimiter:
            from ..errors import OptionError

            raise OptionError("--delimiter: empty; give the cell delimiter, e.g. ',' or '\\t' "
                              "or 'whitespace'")
        over["delimiter"] = args.delimiter.replace("\\t", "\t")
    return over


def load_from_args(path, args):
    """``load_ta`` with the overrides given on the command line."""
    from ..io import load_ta

    return load_ta(path, **reader_overrides(args))


def summarize(ds, n_singular: int = 5, *, file: str | None = None,
              fmt: str | None = None) -> dict:
    """The ``info`` summary of a TA dataset as a JSON-ready dict.

    ``file`` and ``fmt`` name the file read and its detected format (default: the dataset's
    ``source_file`` / ``source_format`` attributes).
    """
    from ..dataset import fit_mask
    from ..svd import svd

    t, w = ds["delay"].values, ds["wavelength"].values
    sig = ds["signal"].values
    dup_vals = np.unique(t[1:][np.diff(t) == 0])
    sv = svd(ds, n_components=n_singular)["singular_value"].values
    out = {
        "file": file if file is not None else ds.attrs.get("source_file", ""),
        "format": fmt if fmt is not None else ds.attrs.get("source_format", ""),
        "n_time": int(t.size),
        "n_wavelength": int(w.size),
        "time_min_ps": float(t.min()),
        "time_max_ps": float(t.max()),
        "wavelength_min_nm": float(w.min()),
        "wavelength_max_nm": float(w.max()),
        "time_units": ds["delay"].attrs.get("units", "ps"),
        "wavelength_units": ds["wavelength"].attrs.get("units", "nm"),
        "signal_units": ds["signal"].attrs.get("units", ""),
        "signal_min": float(np.nanmin(sig)),
        "signal_max": float(np.nanmax(sig)),
        "n_nan": int(np.isnan(sig).sum()),
        "n_masked": int(ds["mask"].values.sum()) if "mask" in ds else 0,
        "n_unused": int((~fit_mask(ds)).sum()),
        "n_duplicated_delays": int(np.isin(t, dup_vals).sum()),
        "duplicated_delays_ps": [float(v) for v in dup_vals],
        "singular_values": [float(v) for v in sv],
        "has_weight": "weight" in ds,
    }
    for key in ("sample", "date", "pump_wavelength_nm", "pump_energy_uJ", "title"):
        v = ds.attrs.get(key)
        if v not in (None, ""):
            out[key] = v.item() if isinstance(v, np.generic) else v
    return out


def format_text(s: dict) -> str:
    """Human-readable ``info`` report."""
    lines = [
        f"file        {s['file']}",
        f"format      {s['format']}",
        f"shape       {s['n_time']} delays × {s['n_wavelength']} wavelengths",
        f"delay       {s['time_min_ps']:.6g} … {s['time_max_ps']:.6g} ps",
        f"wavelength  {s['wavelength_min_nm']:.6g} … {s['wavelength_max_nm']:.6g} nm",
        f"signal      {s['signal_min']:.4g} … {s['signal_max']:.4g} {s['signal_units']}",
        f"NaN cells   {s['n_nan']}   masked cells {s['n_masked']}",
    ]
    if s["n_duplicated_delays"]:
        vals = ", ".join(f"{v:.10g}" for v in s["duplicated_delays_ps"])
        lines.append(f"duplicates  {s['n_duplicated_delays']} rows share delay(s) {vals} ps "
                     "(merge them before fitting)")
    sv = s["singular_values"]
    if sv:
        rel = ", ".join(f"{v / sv[0]:.3g}" for v in sv)
        lines.append(f"SVD         leading singular values {sv[0]:.4g} × [{rel}]")
    labels = {"sample": "sample", "date": "date", "pump_wavelength_nm": "pump (nm)",
              "pump_energy_uJ": "pump (µJ)"}
    lines += [f"{label:<11} {s[key]}" for key, label in labels.items() if key in s]
    return "\n".join(lines)


def add_parser(subparsers) -> None:
    """Register ``hotcarrier info``."""
    p = subparsers.add_parser("info", help="describe a TA data file",
                              description="Describe a TA data file: detected format, shape, "
                              "axis ranges and units, NaN/masked cells, duplicated delays and "
                              "the leading singular values.")
    p.add_argument("file", help="TA data file (any supported format)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_load_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Print the summary; errors in the file raise DataFormatError (exit code 2)."""
    from pathlib import Path

    from ..io import canonical_format, detect_format

    ds = load_from_args(args.file, args)
    fmt = (canonical_format(args.in_format, args.file) if args.in_format
           else detect_format(args.file))
    s = summarize(ds, file=Path(args.file).name, fmt=fmt)
    print(json.dumps(s, ensure_ascii=False) if args.json else format_text(s))
    return 0

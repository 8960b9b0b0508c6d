"""File formats ⇄ TA dataset objects (numpy/xarray only; no JAX here).

>>> from hotcarrier.io import load_ta, save_ta
>>> ds = load_ta("TA_Ru-dppz_400nm_ACN.SIA")          # doctest: +SKIP
>>> save_ta(ds, "ru.nc")                               # doctest: +SKIP

Formats (``FORMATS``), detected from the content (the extension only breaks ties):

========== ======================================= ======= =======
name       what                                    read    write
========== ======================================= ======= =======
glotaran   legacy Glotaran ASCII (time/wl explicit) yes     yes
helios-csv Helios / Surface Xplorer CSV + footer    yes     yes
ufs        Ultrafast Systems ``.ufs`` binary        yes     yes
sia        KiMoPack ``.SIA`` (tab, rows = delays)   yes     yes
delimited  generic delimited matrix                 yes     yes
npz        NumPy ``.npz`` named arrays              yes     yes
netcdf     netCDF-4 / HDF5 (h5netcdf)               yes     yes
========== ======================================= ======= =======

See ``docs/formats.md`` for every format and its overrides.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ..errors import DataFormatError
from . import delimited, glotaran, helios, netcdf, npz, ufs
from ._common import CHECK_AXES, read_head_tail
from .atomic import atomic_open, atomic_path


@dataclass(frozen=True)
class Format:
    """A file format: its reader, writer and usual extensions."""

    name: str
    description: str
    read: Callable
    write: Callable | None
    extensions: tuple[str, ...]
    binary_writer_takes_path: bool = False


FORMATS: dict[str, Format] = {
    "glotaran": Format("glotaran", "legacy Glotaran ASCII ('Time/Wavelength explicit')",
                       glotaran.read, glotaran.write, (".ascii", ".ana")),
    "helios-csv": Format("helios-csv", "Ultrafast Systems Helios / Surface Xplorer CSV",
                         helios.read, helios.write, (".csv",)),
    "ufs": Format("ufs", "Ultrafast Systems .ufs binary", ufs.read, ufs.write, (".ufs",)),
    "sia": Format("sia", "KiMoPack .SIA (tab-separated, rows are delays)",
                  delimited.read_sia, delimited.write, (".sia",)),
    "delimited": Format("delimited", "generic delimited matrix (tab/comma/;/whitespace)",
                        delimited.read, delimited.write, (".txt", ".dat", ".tsv", ".tab")),
    "npz": Format("npz", "NumPy .npz named arrays", npz.read, npz.write, (".npz",)),
    "netcdf": Format("netcdf", "netCDF-4 (HDF5) TA dataset", netcdf.read, netcdf.write,
                     (".nc", ".nc4", ".netcdf", ".h5"), binary_writer_takes_path=True),
}
_ALIASES = {"csv": "helios-csv", "helios": "helios-csv", "kimopack": "sia", "nc": "netcdf",
            "ascii": "glotaran", "txt": "delimited", "tsv": "delimited"}


def canonical_format(name: str, path=None) -> str:
    """The ``FORMATS`` key for a format name or alias (``"csv"`` → ``"helios-csv"``);
    raises DataFormatError for an unknown one (``path`` names the file in the message)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise DataFormatError(path, f"unknown format {name!r}",
                              f"use one of {', '.join(FORMATS)}")
    return key


def detect_format(path) -> str:
    """Name of the format of ``path``, decided by its content.

    Binary magic numbers first (netCDF/HDF5, ZIP → npz, ``.ufs`` version string), then text:
    a ``Time/Wavelength explicit`` line → glotaran; a 0 corner cell with commas or a
    ``file info:`` footer → helios-csv; a tab-separated ``Time…`` corner → sia; anything else
    → delimited.
    """
    head, tail = read_head_tail(path)
    if netcdf.sniff(head):
        return "netcdf"
    if npz.sniff(head):
        return "npz"
    if ufs.sniff(head):
        return "ufs"
    if b"\x00" in head:
        raise DataFormatError(path, "a binary file of an unknown kind (not .ufs, .npz or netCDF)",
                              "check the file; pass format= if it is one of "
                              f"{', '.join(FORMATS)}")
    text = head.decode("utf-8", errors="replace")
    if glotaran.sniff(text):
        return "glotaran"
    if helios.sniff(text[:4096] + tail.decode("utf-8", errors="replace")):
        return "helios-csv"
    if delimited.sniff_sia(text):
        return "sia"
    return "delimited"


def load_ta(path, format: str | None = None, *, check_axes: bool = True,
            **overrides) -> xr.Dataset:
    """Load a TA measurement into the TA dataset object (``path`` is never modified).

    ``format`` is one of ``FORMATS`` or an alias (csv, helios, kimopack, nc, ascii), detected
    from the content when omitted; ``overrides`` go to the reader, e.g. ``time_unit='fs'``,
    ``spectral_unit='cm-1'``, ``signal_units='mOD'``, ``orientation='wavelength_rows'``,
    ``delimiter=';'``, ``decimal=','`` (``docs/formats.md``). The result passes
    ``check_ta(ds, allow_duplicate_delays=True)``: duplicated delays are kept and recorded in
    the history. Problems raise :class:`DataFormatError` naming the file, the problem and
    the fix. Only regular files are read (a pipe or device is refused at once), up to
    ``HOTCARRIER_MAX_READ_BYTES`` (2 GiB); a wavelength axis outside 100–100000 nm is refused
    unless ``check_axes=False``; an OD signal above 3 OD warns (probably mOD).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise DataFormatError(None, f"expected a file path, got {path!r}",
                              "pass the path of a TA data file (str or pathlib.Path)")
    if format is not None and not isinstance(format, str):
        raise DataFormatError(path, f"format={format!r} is not a format name",
                              f"use one of {', '.join(FORMATS)}")
    fmt = canonical_format(format, path) if format else detect_format(path)
    if fmt == "helios-csv" and not format and overrides.get("orientation"):
        fmt = "delimited"  # an explicit orientation: the generic delimited reader
    reader = FORMATS[fmt].read
    if fmt == "netcdf" and "time_unit" in overrides:
        overrides["time_unit_override"] = overrides.pop("time_unit")
    token = CHECK_AXES.set(bool(check_axes))
    try:
        return reader(path, **overrides)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise DataFormatError(path, f"option not understood by the {fmt} reader: {exc}",
                                  "see docs/formats.md for the options of each format") from None
        raise
    except (MemoryError, RecursionError):
        raise DataFormatError(path, "too large or deeply nested to read",
                              "check the file") from None
    finally:
        CHECK_AXES.reset(token)


def format_for_path(path) -> str:
    """Format name chosen for writing from the file extension."""
    suffix = Path(path).suffix.lower()
    for name, f in FORMATS.items():
        if suffix in f.extensions:
            return name
    raise DataFormatError(path, f"cannot tell the output format from the extension {suffix!r}",
                          f"pass format= one of {', '.join(FORMATS)}")


def save_ta(ds: xr.Dataset, path, format: str | None = None, **options) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder + rename).

    The format comes from ``format`` (one of ``FORMATS``) or the extension; ``options`` go to
    the writer (``kind='wavelength'`` for glotaran, ``delimiter=','`` for delimited). Returns
    the written path.
    """
    from ..dataset import check_ta

    fmt = canonical_format(format, path) if format else format_for_path(path)
    check_ta(ds, allow_duplicate_delays=True)
    f = FORMATS[fmt]
    path = Path(path)
    if not path.parent.exists():
        raise DataFormatError(path, "the output folder does not exist", "create it first")
    if f.binary_writer_takes_path:
        with atomic_path(path) as tmp:
            f.write(ds, tmp, **options)
    else:
        with atomic_open(path) as fh:
            f.write(ds, fh, **options)
    return path


__all__ = ["FORMATS", "Format", "detect_format", "load_ta", "save_ta", "format_for_path",
           "canonical_format"]

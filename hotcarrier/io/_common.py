"""Shared helpers of the file readers: text decoding, number parsing, the final assembly.

Every reader ends in :func:`build_dataset`, which converts units, orders the axes, checks
shapes and values, and records what it did in the processing history; so every format obeys
the same rules (see ``docs/formats.md``).
"""

from __future__ import annotations

import contextvars
import os
import re
import stat
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import check_ta, make_ta_dataset
from ..errors import DataFormatError, DatasetValidationError, SignalUnitWarning
from ..units import TIME_TO_PS, ev_to_nm, wavenumber_to_nm

__all__ = [
    "time_unit", "spectral_unit", "signal_unit", "read_bytes", "read_head_tail",
    "check_regular_file",
    "read_limit", "MAX_READ_BYTES", "WAVELENGTH_RANGE_NM", "MIN_DELAY_SPAN_PS", "CHECK_AXES",
    "warn_signal_size", "OD_PLAUSIBLE", "decode_text", "is_number",
    "parse_numbers", "build_dataset", "ta_arrays", "number_text", "matrix_rows", "signal_label",
]

# --- unit vocabularies -------------------------------------------------------------------

_TIME_ALIASES = {
    "fs": "fs", "femtoseconds": "fs", "femtosecond": "fs",
    "ps": "ps", "picoseconds": "ps", "picosecond": "ps",
    "ns": "ns", "nanoseconds": "ns", "nanosecond": "ns",
    "us": "us", "µs": "us", "μs": "us", "microseconds": "us",
    "ms": "ms", "milliseconds": "ms", "s": "s", "sec": "s", "seconds": "s",
}
_SPECTRAL_ALIASES = {
    "nm": "nm", "nanometer": "nm", "nanometers": "nm", "nanometre": "nm",
    "cm-1": "cm-1", "cm^-1": "cm-1", "cm⁻¹": "cm-1", "1/cm": "cm-1", "wavenumber": "cm-1",
    "ev": "eV", "electronvolt": "eV",
}
_SIGNAL_ALIASES = {
    "od": "OD", "da": "OD", "δa": "OD", "dod": "OD", "δod": "OD",
    "delta a": "OD", "delta od": "OD", "abs": "OD", "absorbance": "OD",
    "mod": "mOD", "mδa": "mOD", "mda": "mOD", "uod": "uOD", "µod": "uOD", "μod": "uOD",
    "dt/t": "dT/T", "δt/t": "dT/T", "%dt/t": "%dT/T", "% dt/t": "%dT/T",
}


def _unit(label: str | None, aliases: dict, drop_spaces: bool = False) -> str | None:
    if label is None:
        return None
    key = label.strip().strip("[]()").strip().lower()
    return aliases.get(key.replace(" ", "") if drop_spaces else key)


def time_unit(label: str | None) -> str | None:
    """Normalise a time-unit label (``fs``, ``ps``, ``ns``, ``µs``, ``ms``, ``s``) or None."""
    return _unit(label, _TIME_ALIASES)


def spectral_unit(label: str | None) -> str | None:
    """Normalise a spectral-unit label to ``nm``, ``cm-1`` or ``eV``; None if unknown."""
    return _unit(label, _SPECTRAL_ALIASES, drop_spaces=True)


def signal_unit(label: str | None) -> str | None:
    """Normalise a signal-unit label (``dA``, ``OD``, ``mOD``, ``dT/T`` …); None if unknown."""
    return _unit(label, _SIGNAL_ALIASES)


# --- raw input -----------------------------------------------------------------------------

MAX_READ_BYTES = 2 << 30
"""Largest file a reader loads (2 GiB); ``HOTCARRIER_MAX_READ_BYTES`` changes it."""


def read_limit() -> int:
    """The read limit in bytes: ``HOTCARRIER_MAX_READ_BYTES`` or :data:`MAX_READ_BYTES`."""
    text = os.environ.get("HOTCARRIER_MAX_READ_BYTES", "").strip()
    try:
        return int(float(text)) if text else MAX_READ_BYTES
    except ValueError:
        return MAX_READ_BYTES


def _as_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise DataFormatError(None, f"expected a file path, got {path!r}",
                              "pass the path of the file as a str or pathlib.Path")
    return Path(path)


def _open_regular(p: Path, limit: int, what: str):
    """(file descriptor, size) of a regular file no larger than ``limit``; a FIFO, device,
    socket or directory is refused without blocking (the open is non-blocking)."""
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataFormatError(p, f"{what} not found", "check the path") from None
    except IsADirectoryError:
        raise DataFormatError(p, "is a directory, not a file",
                              f"give the path of a {what}") from None
    except OSError as exc:
        raise DataFormatError(p, f"cannot be read ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(st.st_mode):
        problem = ("is a directory, not a file", f"give the path of a {what}")
    elif not stat.S_ISREG(st.st_mode):
        problem = ("is not a regular file (a pipe, device or socket); hotcarrier reads only "
                   "files", "save the data to a file first")
    elif st.st_size > limit:
        problem = (f"is {st.st_size / 2**20:.0f} MiB, above the read limit of "
                   f"{limit / 2**20:.0f} MiB", "check the file; if it is really that large, "
                   "raise the limit with the environment variable HOTCARRIER_MAX_READ_BYTES")
    if problem:
        os.close(fd)
        raise DataFormatError(p, *problem)
    return fd, st.st_size


def check_regular_file(path, what: str = "data file", limit: int | None = None) -> Path:
    """``path`` if it is a readable regular file within the read limit (nothing is read)."""
    p = _as_path(path)
    fd, size = _open_regular(p, read_limit() if limit is None else limit, what)
    os.close(fd)
    if size == 0:
        raise DataFormatError(p, "file is empty", "re-export the measurement; the file has no data")
    return p


def read_head_tail(path, n: int = 4096) -> tuple[bytes, bytes]:
    """The first and last ``n`` bytes of a regular file (the checks of :func:`read_bytes`)."""
    p = _as_path(path)
    fd, size = _open_regular(p, read_limit(), "data file")
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(n)
        if size > n:
            fh.seek(max(size - n, n))
        tail = fh.read(n) if size > n else head
    if not head.strip() and size <= n:
        raise DataFormatError(p, "file is empty", "re-export the measurement; the file has no data")
    return head, tail


def read_bytes(path, *, limit: int | None = None, what: str = "data file") -> bytes:
    """Read a whole regular file of at most ``limit`` bytes (default :func:`read_limit`);
    missing, unreadable, empty, oversized files and pipes or devices become
    :class:`DataFormatError` (a FIFO is refused at once, never waited on)."""
    p = _as_path(path)
    limit = read_limit() if limit is None else limit
    fd, _ = _open_regular(p, limit, what)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()  # sized from fstat: one buffer of the file's size
    except OSError as exc:
        raise DataFormatError(p, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise DataFormatError(p, f"grew beyond the read limit of {limit / 2**20:.0f} MiB while "
                              "being read", "read a file that is not being written")
    if not data.strip():
        raise DataFormatError(p, "file is empty", "re-export the measurement; the file has no data")
    return data


def decode_text(data: bytes, path) -> str:
    """Decode text (UTF-8, UTF-8 with BOM, else Latin-1 if it looks like text)."""
    if b"\x00" in data:
        raise DataFormatError(path, "looks like a binary file, not a text table",
                              "give the format explicitly (format='ufs', 'npz', 'netcdf') "
                              "or check that this is a TA data file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("latin-1")
    # Latin-1 decodes anything; accept it only when control characters are rare.
    if any(ord(ch) < 32 and ch not in "\t\r\n\f\v" for ch in text):
        raise DataFormatError(path, "contains bytes that are neither UTF-8 nor Latin-1 text",
                              "check that this is a text export of a TA measurement")
    return text


_NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$",
                     re.IGNORECASE)


def is_number(token: str, decimal: str = ".") -> bool:
    """True when ``token`` is a decimal number (or NaN/inf) in the given decimal convention."""
    t = token.strip()
    if decimal == ",":
        t = t.replace(",", ".")
    return bool(_NUM_RE.match(t))


def parse_numbers(tokens: Sequence[str], path, where: str, decimal: str = ".") -> np.ndarray:
    """Parse tokens to float64; a bad cell is reported with its position."""
    toks = [t.strip() for t in tokens]
    if decimal == ",":
        toks = [t.replace(",", ".") for t in toks]
    toks = [t.replace("D", "E").replace("d", "e") if ("D" in t or "d" in t) and
            not t.lower().startswith(("n", "i", "+i", "-i")) else t for t in toks]
    try:
        return np.array(toks, dtype=float)
    except (ValueError, TypeError, OverflowError):
        for i, t in enumerate(toks):
            try:
                float(t)
            except (ValueError, TypeError, OverflowError):
                shown = t if len(t) <= 30 else t[:27] + "..."
                raise DataFormatError(
                    path, f"non-numeric cell {shown!r} in {where}, field {i + 1}",
                    "remove text from the data block, or pass decimal=',' for decimal commas"
                ) from None
        raise DataFormatError(path, f"cannot parse numbers in {where}") from None


# --- final assembly -------------------------------------------------------------------------

def build_dataset(
    path,
    fmt: str,
    delay,
    wavelength,
    signal,
    *,
    time_unit_label: str = "ps",
    spectral_unit_label: str = "nm",
    signal_units: str = "OD",
    attrs: Mapping[str, Any] | None = None,
    steps: Sequence[str] = (),
    weight=None,
    mask=None,
    record_load: bool = True,
    check_axes: bool | None = None,
):
    """Turn parsed arrays (signal as delay × wavelength) into a checked TA dataset.

    Converts the time axis to ps and the spectral axis to nm, sorts a descending wavelength
    (or delay) axis ascending, keeps duplicated delays (recorded), and refuses mismatched
    shapes, non-finite or non-monotonic axes and an all-NaN matrix. With
    ``record_load=False`` (files hotcarrier wrote with their attributes: npz) the attributes
    are restored as they were and only real changes are added to the history. A wavelength
    axis outside :data:`WAVELENGTH_RANGE_NM` is refused unless ``check_axes=False`` (a
    swapped orientation or a wrong unit); an OD signal above :data:`OD_PLAUSIBLE` gives a
    :class:`~hotcarrier.errors.SignalUnitWarning` (:func:`warn_signal_size`).
    """
    name = Path(path).name if path is not None else "<memory>"
    delay = np.asarray(delay, dtype=float).ravel()
    wl = np.asarray(wavelength, dtype=float).ravel()
    sig = np.asarray(signal, dtype=float)
    if sig.ndim != 2 or sig.shape != (delay.size, wl.size):
        raise DataFormatError(
            path, f"mismatched shapes: signal is {sig.shape} but the axes have "
            f"{delay.size} delays × {wl.size} wavelengths",
            "check that the file is complete and not truncated")
    if delay.size == 0 or wl.size == 0:
        raise DataFormatError(path, "no data: an axis is empty", "check the file is complete")
    for label, ax in (("delay", delay), ("wavelength", wl)):
        if not np.all(np.isfinite(ax)):
            k = int(np.flatnonzero(~np.isfinite(ax))[0])
            raise DataFormatError(path, f"{label} axis has a non-finite value at position {k + 1}",
                                  f"every {label} must be a number")
    hist = [f"load_ta: read {name} as {fmt}"] if record_load else []
    hist += list(steps)
    tu = time_unit(time_unit_label)
    if tu is None:
        raise DataFormatError(path, f"unknown time unit {time_unit_label!r}",
                              f"pass time_unit= one of {sorted(TIME_TO_PS)}")
    if tu != "ps":
        delay = delay * TIME_TO_PS[tu]
        hist.append(f"load_ta: delay converted from {tu} to ps")
    su = spectral_unit(spectral_unit_label)
    if su is None:
        raise DataFormatError(path, f"unknown spectral unit {spectral_unit_label!r}",
                              "pass spectral_unit='nm', 'cm-1' or 'eV'")
    if su != "nm":
        if np.any(wl <= 0):
            raise DataFormatError(path, f"spectral axis in {su} has values <= 0",
                                  "check spectral_unit=")
        wl = wavenumber_to_nm(wl) if su == "cm-1" else ev_to_nm(wl)
        hist.append(f"load_ta: spectral axis converted from {su} to nm (λ = "
                    + ("1e7/ν̃" if su == "cm-1" else "hc/E") + ")")
    if np.any(wl <= 0):
        raise DataFormatError(path, "wavelength axis has values <= 0 nm",
                              "pass orientation='time_rows' or 'wavelength_rows' (CLI "
                              "--orientation) and check spectral_unit= (--spectral-unit)")
    lo, hi = WAVELENGTH_RANGE_NM
    if check_axes is None:
        check_axes = CHECK_AXES.get()
    if check_axes and (wl.min() < lo or wl.max() > hi):
        raise DataFormatError(
            path, f"the wavelength axis spans {wl.min():.6g}–{wl.max():.6g} nm, outside the "
            f"{lo:g}–{hi:g} nm of optical probes (the delay axis spans {delay.min():.6g}–"
            f"{delay.max():.6g}): rows and columns may be swapped, or the unit is not nm",
            "pass orientation='time_rows' or 'wavelength_rows' (CLI --orientation), "
            "spectral_unit='cm-1' or 'eV' (--spectral-unit), or check_axes=False to keep the "
            "axes as read")
    span = float(delay.max() - delay.min())
    if check_axes and delay.size >= 5 and span < MIN_DELAY_SPAN_PS:
        raise DataFormatError(
            path, f"the {delay.size} delays span only {span:.3g} ps ({delay.min():.6g}–"
            f"{delay.max():.6g} ps after reading them as {tu}): the time unit is probably not "
            f"{tu}", "pass time_unit= the file's unit (e.g. 'ps' or 'ns'; CLI --time-unit), or "
            "check_axes=False to keep the axis as read")
    arrays = {k: np.asarray(v, dtype=bool if k == "mask" else float)
              for k, v in (("signal", sig), ("weight", weight), ("mask", mask)) if v is not None}
    if wl.size > 1 and np.all(np.diff(wl) < 0):
        wl, arrays = wl[::-1], {k: v[:, ::-1] for k, v in arrays.items()}
        hist.append("load_ta: wavelength axis was descending; sorted ascending")
    d = np.diff(wl)
    if not np.all(d > 0):
        k = int(np.flatnonzero(d <= 0)[0])
        what = "duplicated" if d[k] == 0 else "not monotonic"
        raise DataFormatError(
            path, f"wavelength axis is {what} (position {k + 1}: {wl[k]:g} then "
            f"{wl[k + 1]:g})", "remove or fix the repeated/out-of-order wavelength columns")
    if delay.size > 1 and np.all(np.diff(delay) < 0):
        delay, arrays = delay[::-1], {k: v[::-1] for k, v in arrays.items()}
        hist.append("load_ta: delay axis was descending; sorted ascending")
    d = np.diff(delay)
    if np.any(d < 0):
        k = int(np.flatnonzero(d < 0)[0])
        raise DataFormatError(
            path, f"delay axis is not monotonic (position {k + 1}: {delay[k]:g} ps then "
            f"{delay[k + 1]:g} ps)", "sort the delays (rows) in increasing order")
    if np.any(d == 0) and record_load:
        vals = np.unique(delay[1:][d == 0])
        in_groups = int(np.sum(np.isin(delay, vals)))
        shown = ", ".join(f"{v:.10g}" for v in vals[:5])
        hist.append(f"load_ta: {in_groups} rows share {vals.size} repeated delay(s) "
                    f"({shown} ps); kept as read, use preprocess.merge_duplicate_delays")
    sig = arrays["signal"]
    n_inf = int(np.sum(np.isinf(sig)))
    if n_inf:
        sig = np.where(np.isinf(sig), np.nan, sig)
        hist.append(f"load_ta: {n_inf} infinite cell(s) set to NaN")
    if not np.any(np.isfinite(sig)):
        raise DataFormatError(path, f"all {sig.size} signal values are NaN",
                              "the file holds no measured values; re-export it")
    n_nan = int(np.sum(np.isnan(sig)))
    if n_nan and record_load:
        hist.append(f"load_ta: {n_nan} NaN cell(s) kept as missing")
    unit = signal_unit(signal_units)
    if unit is None:
        raise DataFormatError(path, f"unknown signal unit {signal_units!r}",
                              "pass signal_units= one of 'OD', 'mOD', 'uOD', 'dT/T', '%dT/T'")
    a = {"title": "", "sample": "", "date": "", "metadata_text": ""} if record_load else {}
    a.update({k: v for k, v in (attrs or {}).items() if v is not None})
    if record_load:
        a["source_file"] = name
        a["source_format"] = fmt
    a["history"] = "\n".join([*[h for h in str(a.get("history", "")).splitlines() if h.strip()],
                              *hist])
    ds = make_ta_dataset(delay, wl, sig, signal_units=unit, weight=arrays.get("weight"),
                         mask=arrays.get("mask"), attrs=a)
    try:
        check_ta(ds, name, allow_duplicate_delays=True)
    except DatasetValidationError as exc:
        raise DataFormatError(path, "; ".join(exc.problems),
                              "fix the file or pass explicit overrides") from None
    warn_signal_size(ds, path)
    return ds


CHECK_AXES = contextvars.ContextVar("hotcarrier_check_axes", default=True)
"""Whether :func:`build_dataset` checks the wavelength range (``load_ta(check_axes=False)``)."""

WAVELENGTH_RANGE_NM = (100.0, 1.0e5)
"""Probe wavelengths a TA file may hold after unit conversion (VUV to THz), nm."""

MIN_DELAY_SPAN_PS = 0.1
"""Smallest span of a delay axis of five or more delays a TA file may hold after unit
conversion, ps: below it the delays were almost surely in another unit (ns read as ps)."""

OD_PLAUSIBLE = 3.0
"""|ΔA| (99th percentile) above which a signal read as OD is most likely mOD."""


def warn_signal_size(ds, path=None) -> None:
    """Warn (:class:`SignalUnitWarning`) when a signal in OD is implausibly large: TA
    absorbance changes stay far below 3 OD, so such files are almost always in mOD."""
    if ds["signal"].attrs.get("units") != "OD":
        return
    sig = np.abs(ds["signal"].values)
    sig = sig[np.isfinite(sig)]
    size = float(np.percentile(sig, 99)) if sig.size else 0.0
    if size > OD_PLAUSIBLE:
        where = Path(path).name if path is not None else "the data"
        warnings.warn(f"{where}: the signal reaches {size:.3g} OD (99th percentile of |ΔA|); "
                      f"TA signals stay below {OD_PLAUSIBLE:g} OD, so the file is probably in "
                      "mOD: pass signal_units='mOD' (CLI --signal-units mOD) to read it so",
                      SignalUnitWarning, stacklevel=3)


# --- writing ---------------------------------------------------------------------------------

def ta_arrays(ds):
    """``(delay, wavelength, signal)`` of a TA dataset, the signal as delay × wavelength."""
    sig = ds["signal"].transpose("delay", "wavelength").values
    return ds["delay"].values, ds["wavelength"].values, sig


def number_text(x) -> str:
    """A float written so that it reads back exactly."""
    return repr(float(x))


def matrix_rows(row_axis, values, delimiter: str, fmt=number_text) -> list[str]:
    """One text line per row: its axis value, then the row's values."""
    return [delimiter.join([fmt(x), *map(fmt, row)]) for x, row in zip(row_axis, values)]


def signal_label(ds, od_label: str) -> str:
    """The signal unit as instrument files write it (``od_label`` for OD or unknown units)."""
    unit = ds["signal"].attrs.get("units", "OD")
    return unit if unit in ("mOD", "uOD", "dT/T", "%dT/T") else od_label

"""Legacy Glotaran ASCII (``.ascii``): "Time explicit" and "Wavelength explicit".

Layout::

    free-text header line(s)          (two in the classic files)
    Time explicit                     (or "Wavelength explicit")
    Intervalnr N
    N values of the explicit axis     (may wrap over several lines)
    one record per other-axis point:  its value followed by N signal values

In "Time explicit" the explicit axis holds the delays and every record is a wavelength; in
"Wavelength explicit" it is the other way round.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import DataFormatError
from ._common import (
    build_dataset,
    decode_text,
    matrix_rows,
    number_text,
    parse_numbers,
    read_bytes,
    signal_unit,
    ta_arrays,
)

__all__ = ["read", "write", "sniff"]

_KIND_RE = re.compile(r"^\s*(time|wavelength)\s+explicit\s*$", re.IGNORECASE)
_UNIT_RE = re.compile(r"signal in (\S+)\s*$", re.IGNORECASE)
_INTERVAL_RE = re.compile(r"^\s*intervalnr\s+(\S+)\s*$", re.IGNORECASE)


def sniff(text_head: str) -> bool:
    """True when the first lines contain the ``Time/Wavelength explicit`` marker."""
    return any(_KIND_RE.match(line) for line in text_head.splitlines()[:12])


def read(path, *, time_unit: str = "ps", spectral_unit: str = "nm",
         signal_units: str | None = None):
    """Read a legacy Glotaran ASCII file into a TA dataset.

    The format names no units: delays are ``time_unit`` (Glotaran uses ps), the spectral
    axis ``spectral_unit`` and the values ``signal_units`` (default the unit of a
    ``signal in <unit>`` header line, as hotcarrier writes it, else OD).
    """
    lines = decode_text(read_bytes(path), path).splitlines()
    kind_at = next((i for i, line in enumerate(lines[:50]) if _KIND_RE.match(line)), None)
    if kind_at is None:
        raise DataFormatError(path, "no 'Time explicit' or 'Wavelength explicit' line found",
                              "this is not a legacy Glotaran ASCII file; pass format=")
    kind = _KIND_RE.match(lines[kind_at]).group(1).lower()
    header = [ln.strip() for ln in lines[:kind_at]]
    m = _INTERVAL_RE.match(lines[kind_at + 1]) if kind_at + 1 < len(lines) else None
    if not m:
        raise DataFormatError(path, f"line {kind_at + 2}: expected 'Intervalnr N'",
                              "the file is truncated or not a Glotaran ASCII file")
    n_txt = m.group(1)
    try:
        n = int(n_txt)
    except ValueError:
        raise DataFormatError(path, f"line {kind_at + 2}: Intervalnr {n_txt!r} is not an integer"
                              ) from None
    if n <= 0:
        raise DataFormatError(path, f"line {kind_at + 2}: Intervalnr is {n}; expected > 0")
    # explicit axis: tokens until n are collected
    axis_tokens: list[str] = []
    i = kind_at + 2
    while len(axis_tokens) < n and i < len(lines):
        axis_tokens += lines[i].split()
        i += 1
    if len(axis_tokens) < n:
        raise DataFormatError(path, f"the explicit {kind} axis has {len(axis_tokens)} values; "
                              f"Intervalnr says {n}", "the file is truncated")
    if len(axis_tokens) > n:
        raise DataFormatError(path, f"line {i}: the explicit {kind} axis has "
                              f"{len(axis_tokens)} values; Intervalnr says {n}",
                              "fix Intervalnr or the axis line")
    axis = parse_numbers(axis_tokens, path, f"the {kind} axis (line {kind_at + 3})")
    body = [(j + 1, ln.split()) for j, ln in enumerate(lines[i:], start=i) if ln.strip()]
    if not body:
        raise DataFormatError(path, "no data records after the axis line",
                              "the file is truncated")
    rec_len = n + 1
    if all(len(t) == rec_len for _, t in body):
        rows = [t for _, t in body]
        labels = [f"line {ln}" for ln, _ in body]
    else:
        flat = [tok for _, t in body for tok in t]
        if len(flat) % rec_len:
            ln, t = next((ln, t) for ln, t in body if len(t) != rec_len)
            raise DataFormatError(
                path, f"ragged rows: line {ln} has {len(t)} fields; expected {rec_len} "
                f"(1 axis value + Intervalnr {n} values)",
                "the file is truncated or a row was damaged")
        rows = [flat[k:k + rec_len] for k in range(0, len(flat), rec_len)]
        labels = [f"record {k + 1}" for k in range(len(rows))]
    mat = np.array([parse_numbers(row, path, where) for row, where in zip(rows, labels)])
    other, values = mat[:, 0], mat[:, 1:]
    if signal_units is None:
        m = next((_UNIT_RE.search(h) for h in header if _UNIT_RE.search(h)), None)
        if m and signal_unit(m.group(1)) is None:
            raise DataFormatError(path, f"header 'signal in {m.group(1)}' names an unknown "
                                  "signal unit", "pass signal_units='OD', 'mOD' or 'dT/T'")
        signal_units = m.group(1) if m else "OD"
    attrs = {"title": header[0] if header else "", "metadata_text": "\n".join(header)}
    if kind == "time":
        delay, wl, sig = axis, other, values.T
    else:
        delay, wl, sig = other, axis, values
    return build_dataset(path, "glotaran", delay, wl, sig, time_unit_label=time_unit,
                         spectral_unit_label=spectral_unit, signal_units=signal_units,
                         attrs=attrs, steps=[f"load_ta: Glotaran '{kind.capitalize()} explicit'"])


def write(ds, fh, *, kind: str = "time") -> None:
    """Write ``ds`` as Glotaran ASCII (``kind`` = ``'time'`` or ``'wavelength'`` explicit)."""
    delay, wl, sig = ta_arrays(ds)
    title = str(ds.attrs.get("title") or ds.attrs.get("source_file") or "hotcarrier export")
    time_explicit = kind == "time"
    axis, rows, values = (delay, wl, sig.T) if time_explicit else (wl, delay, sig)
    out = [title.splitlines()[0] if title else "hotcarrier export",
           f"delay in ps, wavelength in nm, signal in {ds['signal'].attrs.get('units', 'OD')}",
           f"{'Time' if time_explicit else 'Wavelength'} explicit", f"Intervalnr {axis.size}",
           "\t".join(map(number_text, axis)), *matrix_rows(rows, values, "\t")]
    fh.write(("\n".join(out) + "\n").encode())

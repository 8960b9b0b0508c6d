"""KiMoPack ``.SIA`` and generic delimited matrices (tab, comma, semicolon, whitespace).

A delimited TA matrix has one header row (one axis) and one header column (the other axis),
optionally with a corner cell such as ``Time [ps]``. Either orientation is accepted:

- ``orientation='time_rows'``: each row is a delay, the header row holds wavelengths
  (KiMoPack ``.SIA``: corner ``Time [ps]``, tab-separated);
- ``orientation='wavelength_rows'``: each row is a wavelength, the header row holds delays
  (Helios CSV, Surface Xplorer).

Auto-detection reads the corner cell (``time``/``delay`` or ``wave``/``nm``/``energy``) and
otherwise takes the axis that has negative or zero values as the delays; when neither rule
decides, the reader asks for ``orientation=``. Delimiter and decimal comma are detected and
can be forced with ``delimiter=`` and ``decimal=``. Lines starting with ``#`` or ``%`` before
the matrix are kept as metadata; trailing free text after the matrix is kept as a footer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from ._common import (
    build_dataset,
    decode_text,
    is_number,
    matrix_rows,
    number_text,
    parse_numbers,
    read_bytes,
    spectral_unit,
    ta_arrays,
    time_unit,
)

__all__ = ["read", "read_sia", "write", "sniff_sia", "parse_matrix", "Matrix",
           "guess_orientation", "split_line", "ORIENTATIONS"]

ORIENTATIONS = ("time_rows", "wavelength_rows")
_DECIMAL_COMMA_RE = re.compile(r"(^|[\s;\t])[+-]?\d+,\d+([eE][+-]?\d+)?($|[\s;\t])")


def split_line(line: str, delimiter: str | None) -> list[str]:
    """Split one line; a trailing delimiter does not create an extra empty cell."""
    line = line.rstrip("\r\n")
    if delimiter is None:
        return line.split()
    line = line.strip(" ")
    if line.endswith(delimiter) and delimiter != " ":
        line = line[: -len(delimiter)]
    return [t.strip() for t in line.split(delimiter)]


@dataclass
class Matrix:
    """A parsed delimited matrix before the axes are given their roles."""

    corner: str | None
    col_axis: np.ndarray  # header row values
    row_axis: np.ndarray  # header column values
    values: np.ndarray  # rows × columns
    preamble: str
    footer: str
    delimiter: str | None
    decimal: str


def parse_matrix(text: str, path, *, delimiter=None, decimal=None,
                 footer_marker: str | None = None) -> Matrix:
    """Parse a header-row/header-column matrix, keeping the preamble and footer text.

    The delimiter (tab, ``;``, ``,``, else whitespace) and the decimal mark are detected from
    the header line when not given.
    """
    lines = text.splitlines()
    head_at = next((i for i, ln in enumerate(lines)
                    if ln.strip() and ln.lstrip()[:1] not in ("#", "%")), None)
    if head_at is None:
        raise DataFormatError(path, "no data lines", "the file is empty or only has comments")
    delim = delimiter
    if delim is None:
        delim = next((d for d in ("\t", ";", ",") if d in lines[head_at]), None)
    if delim == "whitespace":
        delim = None
    if decimal is None:
        comma = delim != "," and any(map(_DECIMAL_COMMA_RE.search, lines[head_at: head_at + 6]))
        decimal = "," if comma else "."
    if decimal == "," and delim == ",":
        raise DataFormatError(path, "decimal comma with comma-delimited cells is ambiguous",
                              "pass delimiter=';' or '\\t' matching the file")
    end = next((j for j in range(head_at + 1, len(lines))
                if footer_marker and lines[j].lower().startswith(footer_marker)), len(lines))
    # per row (line number, cell count, first cell, any cell non-empty): the cells themselves
    # are split again row by row when parsed, so a large file never holds all of them at once
    rows = [(j + 1, len(t), t[0] if t else "", any(t))
            for j in range(head_at + 1, end) for t in (split_line(lines[j], delim),)]
    # the matrix ends at the last well-formed numeric row; the rest is a footer
    numeric = [k for k, r in enumerate(rows) if r[1] and is_number(r[2], decimal)]
    width = max((rows[k][1] for k in numeric), default=0)
    last = max((k for k in numeric if rows[k][1] == width), default=-1)
    if last < 0 or width < 2:
        raise DataFormatError(path, "no numeric data rows found under the header line "
                              f"(line {head_at + 1})",
                              "check the delimiter (delimiter=) and that the file holds a matrix")
    header = split_line(lines[head_at], delim)  # after the data rows are known to exist
    body, rest = rows[: last + 1], rows[last + 1:]
    if rest and rest[0][1] > 1 and is_number(rest[0][2], decimal):
        ln, n = rest[0][:2]
        raise DataFormatError(path, f"ragged rows: line {ln} has {n} fields; "
                              f"expected {width}", "the file is truncated or a row was damaged")
    footer_start = rest[0][0] - 1 if rest else end
    footer = "\n".join(ln.rstrip("\r") for ln in lines[footer_start:]).strip("\n")
    for ln, n, _, filled in body:
        if n != width:
            if not filled:
                raise DataFormatError(path, f"line {ln} is empty inside the data block",
                                      "remove the blank line")
            raise DataFormatError(path, f"ragged rows: line {ln} has {n} fields; "
                                  f"expected {width}", "every row needs the same number of cells")
    if delim is None and len(header) > width and not is_number(header[0], decimal):
        # whitespace-delimited corner label with spaces, e.g. "Time [ps]"
        k = len(header) - width + 1
        header = [" ".join(header[:k]), *header[k:]]
    if len(header) == width:
        corner, col_tokens = header[0], header[1:]
    elif len(header) == width - 1:
        corner, col_tokens = None, header
    else:
        raise DataFormatError(path, f"header line {head_at + 1} has {len(header)} fields but "
                              f"the data rows have {width}",
                              "the header row must list one axis value per data column")
    where = f"header line {head_at + 1}"
    if corner is not None and is_number(corner, decimal) \
            and parse_numbers([corner], path, where, decimal)[0] != 0.0:
        raise DataFormatError(path, f"corner cell {corner!r} (line {head_at + 1}) is a number "
                              "other than 0; the first row must be an axis header",
                              "add a header row and column holding the axes")
    col_axis = parse_numbers(col_tokens, path, where, decimal)
    row_axis = parse_numbers([r[2] for r in body], path, "the first column", decimal)
    vals = np.empty((len(body), width - 1))
    for k, (ln, *_) in enumerate(body):
        cells = split_line(lines[ln - 1], delim)[1:]
        vals[k] = parse_numbers(["nan" if c == "" else c for c in cells], path, f"line {ln}",
                                decimal)
    return Matrix(corner, col_axis, row_axis, vals, "\n".join(lines[:head_at]), footer, delim,
                  decimal)


def _corner_roles(corner: str | None):
    """(orientation, time unit, spectral unit) suggested by the corner cell; None = no label.
    An unrecognised unit label is returned as written, so that :func:`build_dataset` refuses
    it (never read as ps or nm by default)."""
    if not corner or is_number(corner):
        return None, None, None
    c = corner.lower()
    m = re.search(r"[\[(]\s*([^\])]+?)\s*[\])]", corner)  # the unit of "Time [ps]"
    unit = m.group(1) if m else None
    if re.search(r"time|delay|\bt\b", c):
        return "time_rows", (time_unit(unit) or unit) if unit else None, None
    if re.search(r"wave|lambda|λ|energy|ev|cm|nm|freq", c):
        return "wavelength_rows", None, (spectral_unit(unit) or unit) if unit else None
    return None, None, None


def guess_orientation(m: Matrix, path) -> str:
    """Which header holds the delays; raises when content cannot decide."""
    o, _, _ = _corner_roles(m.corner)
    if o:
        return o
    row_neg, col_neg = np.any(m.row_axis <= 0), np.any(m.col_axis <= 0)
    if row_neg and not col_neg:
        return "time_rows"
    if col_neg and not row_neg:
        return "wavelength_rows"
    raise DataFormatError(path, "cannot tell which axis holds the delays (no corner label, and "
                          "both or neither axis has values <= 0)",
                          "pass orientation='time_rows' (rows are delays) or "
                          "orientation='wavelength_rows' (rows are wavelengths)")


def read(path, *, delimiter=None, decimal=None, orientation=None, time_unit: str | None = None,
         spectral_unit: str | None = None, signal_units: str = "OD", fmt: str = "delimited"):
    """Read a generic delimited TA matrix (or a KiMoPack ``.SIA``) into a TA dataset.

    ``delimiter`` (``'\\t'``, ``','``, ``';'``, ``' '``, ``'whitespace'``), ``decimal``
    (``'.'``, ``','``) and ``orientation`` are detected when omitted; the axis units default
    to the corner cell's (``Time [fs]``), else ps and nm; ``signal_units`` to OD.
    """
    text = decode_text(read_bytes(path), path)
    m = parse_matrix(text, path, delimiter=delimiter, decimal=decimal)
    if orientation is not None and orientation not in ORIENTATIONS:
        raise DataFormatError(path, f"orientation={orientation!r} is not one of {ORIENTATIONS}")
    o = orientation or guess_orientation(m, path)
    _, tu, su = _corner_roles(m.corner)
    steps = ["load_ta: decimal comma"] if m.decimal == "," else []
    if o == "time_rows":
        delay, wl, sig = m.row_axis, m.col_axis, m.values
    else:
        delay, wl, sig = m.col_axis, m.row_axis, m.values.T
    attrs = {"metadata_text": "\n".join(x for x in (m.preamble, m.footer) if x)}
    return build_dataset(path, fmt, delay, wl, sig, time_unit_label=time_unit or tu or "ps",
                         spectral_unit_label=spectral_unit or su or "nm",
                         signal_units=signal_units, attrs=attrs,
                         steps=[*steps, f"load_ta: matrix orientation {o}"])


def read_sia(path, **overrides):
    """Read a KiMoPack ``.SIA`` file (tab-separated, rows are delays, corner ``Time [ps]``)."""
    overrides.setdefault("delimiter", "\t")
    overrides.setdefault("orientation", "time_rows")
    return read(path, fmt="sia", **overrides)


def sniff_sia(head: str) -> bool:
    """A tab-separated matrix whose corner cell names the time axis."""
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return "\t" in first and bool(re.match(r"\s*(time|delay)", first.split("\t")[0], re.I))


def write(ds, fh, *, delimiter: str = "\t") -> None:
    """Write ``ds`` as a delimited matrix, rows = delays, corner ``Time [ps]`` (SIA layout)."""
    delay, wl, sig = ta_arrays(ds)
    out = [delimiter.join(["Time [ps]", *map(number_text, wl)]),
           *matrix_rows(delay, sig, delimiter)]
    fh.write(("\n".join(out) + "\n").encode())

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

import numpy as np

from ..errors import DataFormatError
from ._common import (
    build_dataset,
    decode_text,
    is_number,
    parse_numbers,
    read_bytes,
    spectral_unit,
    time_unit,
    unit_in_brackets,
)

__all__ = [
    "read", "read_sia", "write", "sniff_sia", "parse_matrix", "Matrix", "guess_delimiter",
    "guess_orientation", "split_line", "ORIENTATIONS",
]

ORIENTATIONS = ("time_rows", "wavelength_rows")
_DECIMAL_COMMA_RE = re.compile(r"(^|[\s;\t])[+-]?\d+,\d+([eE][+-]?\d+)?($|[\s;\t])")


def guess_delimiter(line: str) -> str | None:
    """Tab, semicolon or comma if present in ``line``; None means runs of whitespace."""
    for d in ("\t", ";", ","):
        if d in line:
            return d
    return None


def split_line(line: str, delimiter: str | None) -> list[str]:
    """Split one line; a trailing delimiter does not create an extra empty cell."""
    line = line.rstrip("\r\n")
    if delimiter is None:
        return line.split()
    line = line.strip(" ")
    if line.endswith(delimiter) and delimiter != " ":
        line = line[: -len(delimiter)]
    return [t.strip() for t in line.split(delimiter)]


class Matrix:
    """A parsed delimited matrix before the axes are given their roles."""

    def __init__(self, corner, col_axis, row_axis, values, preamble, footer, delimiter,
                 decimal):
        self.corner = corner  # str or None
        self.col_axis = col_axis  # header row values (float)
        self.row_axis = row_axis  # header column values (float)
        self.values = values  # rows × columns
        self.preamble = preamble
        self.footer = footer
        self.delimiter = delimiter
        self.decimal = decimal


def parse_matrix(text: str, path, *, delimiter=None, decimal=None,
                 footer_marker: str | None = None) -> Matrix:
    """Parse a header-row/header-column matrix, keeping the preamble and footer text."""
    lines = text.splitlines()
    i = 0
    preamble = []
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip()[:1] in ("#", "%")):
        preamble.append(lines[i])
        i += 1
    if i >= len(lines):
        raise DataFormatError(path, "no data lines", "the file is empty or only has comments")
    head_at = i
    delim = delimiter if delimiter is not None else guess_delimiter(lines[head_at])
    if delim == "whitespace":
        delim = None
    sample = [ln for ln in lines[head_at: head_at + 6]]
    if decimal is None:
        decimal = "," if (delim != "," and any(_DECIMAL_COMMA_RE.search(ln) for ln in sample)) \
            else "."
    if decimal == "," and delim == ",":
        raise DataFormatError(path, "decimal comma with comma-delimited cells is ambiguous",
                              "pass delimiter=';' or '\\t' matching the file")
    header = split_line(lines[head_at], delim)
    rows = []  # (line number, tokens)
    for j in range(head_at + 1, len(lines)):
        if footer_marker and lines[j].lower().startswith(footer_marker):
            break
        rows.append((j + 1, split_line(lines[j], delim)))
    # the matrix ends at the last well-formed numeric row; the rest is a footer
    width = max((len(t) for _, t in rows if t and is_number(t[0], decimal)), default=0)
    last = -1
    for k, (_, toks) in enumerate(rows):
        if toks and len(toks) == width and is_number(toks[0], decimal):
            last = k
    if last < 0 or width < 2:
        raise DataFormatError(path, "no numeric data rows found under the header line "
                              f"(line {head_at + 1})",
                              "check the delimiter (delimiter=) and that the file holds a matrix")
    body, rest = rows[: last + 1], rows[last + 1:]
    if rest and rest[0][1] and is_number(rest[0][1][0], decimal) and len(rest[0][1]) > 1:
        ln, toks = rest[0]
        raise DataFormatError(path, f"ragged rows: line {ln} has {len(toks)} fields; "
                              f"expected {width}", "the file is truncated or a row was damaged")
    footer_start = rest[0][0] - 1 if rest else len(lines)
    if footer_marker:
        footer_start = min(footer_start, next(
            (j for j in range(head_at + 1, len(lines))
             if lines[j].lower().startswith(footer_marker)), len(lines)))
    footer = "\n".join(ln.rstrip("\r") for ln in lines[footer_start:]).strip("\n")
    for ln, toks in body:
        if len(toks) != width:
            if not toks or all(not t for t in toks):
                raise DataFormatError(path, f"line {ln} is empty inside the data block",
                                      "remove the blank line")
            raise DataFormatError(path, f"ragged rows: line {ln} has {len(toks)} fields; "
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
    if corner is not None and is_number(corner, decimal) and float(
            corner.replace(",", ".") if decimal == "," else corner.replace("D", "E")) != 0.0:
        raise DataFormatError(path, f"corner cell {corner!r} (line {head_at + 1}) is a number "
                              "other than 0; the first row must be an axis header",
                              "add a header row and column holding the axes")
    col_axis = parse_numbers(col_tokens, path, f"header line {head_at + 1}", decimal)
    row_tokens = [t[0] for _, t in body]
    row_axis = parse_numbers(row_tokens, path, "the first column", decimal)
    cells = [["nan" if c == "" else c for c in t[1:]] for _, t in body]
    vals = np.empty((len(body), width - 1))
    for r, ((ln, _), row) in enumerate(zip(body, cells)):
        vals[r] = parse_numbers(row, path, f"line {ln}", decimal)
    return Matrix(corner, col_axis, row_axis, vals, "\n".join(preamble), footer, delim, decimal)


def _corner_roles(corner: str | None):
    """(orientation, time unit, spectral unit) suggested by the corner cell; None = unknown."""
    if not corner or is_number(corner):
        return None, None, None
    c = corner.lower()
    unit = unit_in_brackets(corner)
    if re.search(r"time|delay|\bt\b", c):
        return "time_rows", time_unit(unit) if unit else None, None
    if re.search(r"wave|lambda|λ|energy|ev|cm|nm|freq", c):
        return "wavelength_rows", None, spectral_unit(unit) if unit else None
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

    Parameters
    ----------
    path : str or Path
        The file.
    delimiter : str, optional
        ``'\\t'``, ``','``, ``';'``, ``' '`` or ``'whitespace'``; detected when omitted.
    decimal : str, optional
        ``'.'`` or ``','``; detected when omitted.
    orientation : {'time_rows', 'wavelength_rows'}, optional
        Whether each row is a delay or a wavelength; detected when omitted.
    time_unit, spectral_unit : str, optional
        Units of the axes; from the corner cell (``Time [fs]``) or ``ps``/``nm``.
    signal_units : str
        Unit of the values (default ``OD``).
    """
    text = decode_text(read_bytes(path), path)
    m = parse_matrix(text, path, delimiter=delimiter, decimal=decimal)
    if orientation is not None and orientation not in ORIENTATIONS:
        raise DataFormatError(path, f"orientation={orientation!r} is not one of {ORIENTATIONS}")
    o = orientation or guess_orientation(m, path)
    _, tu, su = _corner_roles(m.corner)
    steps = []
    if m.decimal == ",":
        steps.append("load_ta: decimal comma")
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
    sig = ds["signal"].transpose("delay", "wavelength").values
    wl, delay = ds["wavelength"].values, ds["delay"].values
    out = [delimiter.join(["Time [ps]", *map(lambda x: repr(float(x)), wl)])]
    for i, t in enumerate(delay):
        out.append(delimiter.join([repr(float(t)), *map(lambda x: repr(float(x)), sig[i])]))
    fh.write(("\n".join(out) + "\n").encode())

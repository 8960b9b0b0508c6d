"""Ultrafast Systems Helios / Surface Xplorer CSV export.

Comma-separated, CRLF line endings, cell [0, 0] is 0, the rest of row 0 are the delays,
column 0 are the wavelengths (a wavelength × delay matrix). ``NaN`` cells and all-NaN rows
occur. After the matrix comes a free-text footer starting ``file info:`` with the date,
sample, pump, ``Time units``, ``Z axis title`` and the instrument's processing history; it is
kept verbatim in ``metadata_text`` and parsed into attributes. ``Time units`` is honoured.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import DataFormatError
from . import _common
from ._common import build_dataset, decode_text, matrix_rows, read_bytes, signal_label, ta_arrays
from .delimited import parse_matrix

__all__ = ["read", "write", "sniff", "parse_footer", "footer_for"]

FOOTER_MARKER = "file info"
_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9 ()/_.\-µ]*?)\s*:\s?(.*)$")
_NUMERIC_KEYS = {
    "pump wavelength (nm)": "pump_wavelength_nm",
    "pump energy (uj)": "pump_energy_uJ",
    "cuvette length (mm)": "cuvette_length_mm",
    "number of scans": "n_scans",
}
_TEXT_KEYS = {"date": "date", "sample": "sample", "solvent": "solvent", "comments": "comments",
              "averaging time": "averaging_time", "measurement time": "measurement_time"}


def sniff(head: str) -> bool:
    """Comma-separated matrix with a numeric 0 corner, or a ``file info:`` footer."""
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    if FOOTER_MARKER in head.lower():
        return True
    try:
        return "," in first and float(first.split(",", 1)[0].strip()) == 0.0
    except ValueError:
        return False


def parse_footer(text: str) -> tuple[dict, list[str], str | None, str | None]:
    """Parse the metadata footer into ``(attrs, file_history, time_units, z_title)``.

    ``attrs`` holds the known keys (``date``, ``sample``, ``pump_wavelength_nm`` …),
    ``file_history`` the instrument's processing-history lines (after ``Z axis title``).
    """
    attrs: dict = {}
    hist: list[str] = []
    tu = z = None
    after_z = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.lower().startswith(FOOTER_MARKER):
            line = line[len(FOOTER_MARKER):].lstrip(":").strip()
        if not line:
            continue
        if after_z:
            hist.append(line)
            continue
        m = _KEY_RE.match(line)
        if not m:
            continue
        key, val = m.group(1).strip().lower(), m.group(2).strip()
        if key == "time units":
            tu = val
        elif key == "z axis title":
            z = val
            after_z = True
        elif key in _NUMERIC_KEYS:
            try:
                num = float(val)
            except ValueError:
                continue
            attrs[_NUMERIC_KEYS[key]] = int(num) if key == "number of scans" else num
        elif key in _TEXT_KEYS:
            attrs[_TEXT_KEYS[key]] = val
    return attrs, hist, tu, z


def read(path, *, time_unit: str | None = None, spectral_unit: str | None = None,
         signal_units: str | None = None, delimiter=None, decimal=None):
    """Read a Helios / Surface Xplorer CSV export into a TA dataset.

    ``time_unit`` and ``signal_units`` override the footer's ``Time units`` (default ps) and
    ``Z axis title`` (``dA`` means OD); ``spectral_unit`` is nm unless given; ``delimiter``
    and ``decimal`` default to comma and point.
    """
    text = decode_text(read_bytes(path), path)
    m = parse_matrix(text, path, delimiter=delimiter or ",", decimal=decimal or ".",
                     footer_marker=FOOTER_MARKER)
    attrs, file_hist, tu, z = parse_footer(m.footer)
    attrs["metadata_text"] = m.footer
    steps = [f"load_ta: instrument history: {h}" for h in file_hist]
    tu_label = time_unit or tu or "ps"
    if tu and not time_unit:
        steps.append(f"load_ta: 'Time units: {tu}' from the footer")
    if time_unit is None and tu is not None and _common.time_unit(tu) is None:
        raise DataFormatError(path, f"footer 'Time units: {tu}' is not a known time unit",
                              "pass time_unit='ps' (or fs, ns) explicitly")
    sig_label = signal_units or _common.signal_unit(z) or "OD"
    if z and not signal_units and _common.signal_unit(z) is None:
        raise DataFormatError(path, f"footer 'Z axis title: {z}' is not a known signal unit",
                              "pass signal_units='OD', 'mOD' or 'dT/T' explicitly")
    n_empty = int(np.sum(np.all(np.isnan(m.values), axis=1)))
    if n_empty:
        steps.append(f"load_ta: {n_empty} all-NaN wavelength row(s) kept as missing")
    return build_dataset(path, "helios-csv", m.col_axis, m.row_axis, m.values.T,
                         time_unit_label=tu_label, spectral_unit_label=spectral_unit or "nm",
                         signal_units=sig_label, attrs=attrs, steps=steps)


def footer_for(ds) -> str:
    """The footer text to write for ``ds``: its own footer (units updated) or a new one."""
    unit = signal_label(ds, "dA")
    text = str(ds.attrs.get("metadata_text", "") or "")
    if text.lower().startswith(FOOTER_MARKER):
        out = []
        for ln in text.splitlines():
            low = ln.strip().lower()
            if low.startswith("time units"):
                ln = "Time units: ps"
            elif low.startswith("z axis title"):
                ln = f"Z axis title: {unit}"
            out.append(ln)
        return "\n".join(out)
    lines = [f"file info:Date: {ds.attrs.get('date', '')}",
             f"Sample: {ds.attrs.get('sample', '')}"]
    if "pump_wavelength_nm" in ds.attrs:
        lines.append(f"Pump wavelength (nm): {ds.attrs['pump_wavelength_nm']}")
    if "pump_energy_uJ" in ds.attrs:
        lines.append(f"Pump energy (uJ): {ds.attrs['pump_energy_uJ']}")
    lines += ["", "Time units: ps", f"Z axis title: {unit}"]
    return "\n".join(lines)


def _fmt(x) -> str:
    x = float(x)
    return "NaN" if np.isnan(x) else repr(x)


def write(ds, fh) -> None:
    """Write ``ds`` as a Helios CSV (wavelength rows, CRLF, footer); values round-trip exactly."""
    delay, wl, sig = ta_arrays(ds)
    out = [",".join(["0", *map(_fmt, delay)]), *matrix_rows(wl, sig.T, ",", _fmt),
           *footer_for(ds).splitlines()]
    fh.write(("\r\n".join(out) + "\r\n").encode("utf-8"))

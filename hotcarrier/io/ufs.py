"""Ultrafast Systems ``.ufs`` binary (read and write).

Big-endian throughout; a string is a uint32 byte count and that many UTF-8 bytes::

    string version                      e.g. "Version2"
    string axis-1 label, string units   e.g. "Wavelength", "nm"; uint32 n1; n1 float64
    string axis-2 label, string units   e.g. "Time", "ps";       uint32 n2; n2 float64
    string data units                   e.g. "DA"
    uint32 n0 (0 or 1), uint32 n1, uint32 n2; n1·n2 float64, axis-1 major; NaN allowed
    string metadata                     same free text as the Helios CSV footer

The file ends exactly there. Axis-1 is normally the spectral axis; a file whose axis-1 label
names time is read with the roles swapped.
"""

from __future__ import annotations

import re
import struct

import numpy as np

from ..errors import DataFormatError
from . import _common
from ._common import build_dataset, read_bytes, signal_label, ta_arrays
from .helios import footer_for, parse_footer

__all__ = ["read", "write", "sniff"]

MAX_STRING = 1 << 24  # 16 MiB: longer "strings" mean a damaged or foreign file


def sniff(head: bytes) -> bool:
    """A big-endian length-prefixed string starting ``Version`` at byte 0."""
    if len(head) < 11:
        return False
    (n,) = struct.unpack(">I", head[:4])
    return 7 <= n <= 64 and head[4:11] == b"Version"


class _Cursor:
    """Reads the big-endian fields of ``data`` in order; a short file is reported by field."""

    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise DataFormatError(
                self.path, f"truncated: needs {n} more byte(s) for {what} at byte {self.pos}, "
                f"but the file has {len(self.data)} bytes",
                "the .ufs file is incomplete; re-export or re-copy it")
        self.pos += n
        return self.data[self.pos - n: self.pos]

    def uint32(self, what: str) -> int:
        return struct.unpack(">I", self.take(4, what))[0]

    def string(self, what: str) -> str:
        n = self.uint32(f"the length of {what}")
        if n > MAX_STRING:
            raise DataFormatError(self.path, f"{what} claims {n} bytes at byte {self.pos - 4}",
                                  "this is not a valid .ufs file (or it is damaged)")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataFormatError(self.path, f"{what} at byte {self.pos - n} is not UTF-8 text",
                                  "this is not a valid .ufs file (or it is damaged)") from None

    def floats(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(8 * n, what), dtype=">f8").astype(float)


def read(path, *, time_unit: str | None = None, spectral_unit: str | None = None,
         signal_units: str | None = None):
    """Read a ``.ufs`` file into a TA dataset (unit labels in the file can be overridden)."""
    data = read_bytes(path)
    if not sniff(data[:16]):
        raise DataFormatError(path, "does not start with a .ufs version string ('Version…')",
                              "this is not an Ultrafast Systems .ufs file; pass format=")
    c = _Cursor(data, path)
    version = c.string("the version string")
    axes = []
    for k in (1, 2):
        label = c.string(f"the axis-{k} label")
        units = c.string(f"the axis-{k} units")
        n = c.uint32(f"the axis-{k} length")
        if 8 * n > len(data):
            raise DataFormatError(path, f"axis {k} claims {n} values; the file is too short",
                                  "the .ufs file is damaged or truncated")
        axes.append((label, units, c.floats(n, f"the axis-{k} values")))
    data_units = c.string("the data units")
    n0, n1, n2 = c.uint32("n0"), c.uint32("n1"), c.uint32("n2")
    if n0 not in (0, 1) or n1 != axes[0][2].size or n2 != axes[1][2].size:
        raise DataFormatError(
            path, f"data block header (n0={n0}, n1={n1}, n2={n2}) does not match the axes "
            f"({axes[0][2].size} × {axes[1][2].size})", "the .ufs file is damaged")
    mat = c.floats(n1 * n2, "the data matrix").reshape(n1, n2)
    meta = c.string("the metadata text")
    if c.pos != len(data):
        raise DataFormatError(path, f"{len(data) - c.pos} unexpected byte(s) after the metadata "
                              "(a .ufs file ends there)", "the file is damaged or not a .ufs")
    (l1, u1, a1), (l2, u2, a2) = axes
    steps = []
    if re.search(r"time|delay", l1, re.I) and not re.search(r"time|delay", l2, re.I):
        (l1, u1, a1), (l2, u2, a2), mat = (l2, u2, a2), (l1, u1, a1), mat.T
        steps.append("load_ta: axis 1 is time; roles swapped")
    tu = time_unit or u2
    su = spectral_unit or u1
    if _common.time_unit(tu) is None:
        raise DataFormatError(path, f"time axis units {u2!r} are not a known time unit",
                              "pass time_unit='ps' (or fs, ns)")
    if _common.spectral_unit(su) is None:
        raise DataFormatError(path, f"spectral axis units {u1!r} are not nm, cm-1 or eV",
                              "pass spectral_unit='nm'")
    sig_unit = signal_units or _common.signal_unit(data_units)
    if sig_unit is None:
        raise DataFormatError(path, f"data units {data_units!r} are not a known signal unit",
                              "pass signal_units='OD', 'mOD' or 'dT/T'")
    attrs, file_hist, _, _ = parse_footer(meta)
    attrs["metadata_text"] = meta
    attrs["ufs_version"] = version
    steps += [f"load_ta: instrument history: {h}" for h in file_hist]
    return build_dataset(path, "ufs", a2, a1, mat.T, time_unit_label=tu, spectral_unit_label=su,
                         signal_units=sig_unit, attrs=attrs, steps=steps)


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def write(ds, fh) -> None:
    """Write ``ds`` as ``.ufs`` (Version2, nm, ps); values round-trip exactly."""
    delay, wl, sig = (np.asarray(a, dtype=">f8") for a in ta_arrays(ds))
    parts = [_string(str(ds.attrs.get("ufs_version", "Version2"))),
             _string("Wavelength"), _string("nm"), struct.pack(">I", wl.size), wl.tobytes(),
             _string("Time"), _string("ps"), struct.pack(">I", delay.size), delay.tobytes(),
             _string(signal_label(ds, "DA")), struct.pack(">III", 0, wl.size, delay.size),
             np.ascontiguousarray(sig.T, dtype=">f8").tobytes(),
             _string(footer_for(ds))]
    fh.write(b"".join(parts))

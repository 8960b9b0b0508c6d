"""NumPy ``.npz`` archives of named arrays.

Written by hotcarrier: ``delay`` (ps), ``wavelength`` (nm), ``signal`` (delay × wavelength),
optional ``weight`` and ``mask``, and ``hotcarrier_attrs`` (a JSON string with the dataset
and variable attributes), so that a save/load round-trip is exact. Foreign archives are read
by name: delays from ``delay``/``delays``/``time``/``t``, wavelengths from ``wavelength``/
``wavelengths``/``wl``/``lambda``, the signal from ``signal``/``data``/``dA``/``ta``/``od``;
a signal stored wavelength × delay is transposed. Pickled objects are never loaded.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np

from ..errors import DataFormatError
from ._common import build_dataset, check_regular_file, read_limit, ta_arrays

__all__ = ["read", "write", "sniff", "ATTRS_KEY"]

_NAMES = {
    "delay": ("delay", "delays", "time", "times", "t", "delay_ps", "time_ps"),
    "wavelength": ("wavelength", "wavelengths", "wl", "wave", "lambda", "wavelength_nm"),
    "signal": ("signal", "data", "da", "ta", "od", "delta_a", "dod", "matrix"),
}
ATTRS_KEY = "hotcarrier_attrs"


def sniff(head: bytes) -> bool:
    """A ZIP archive (npz files are ZIP files of ``.npy`` members)."""
    return head[:4] == b"PK\x03\x04"


def _pick(arrs: dict, role: str, override, path):
    if override is not None:
        if override not in arrs:
            raise DataFormatError(path, f"no array named {override!r}; found {sorted(arrs)}")
        return override
    low = {k.lower(): k for k in arrs}
    for n in _NAMES[role]:
        if n in low:
            return low[n]
    raise DataFormatError(path, f"no {role} array found among {sorted(arrs)}",
                          f"name it one of {_NAMES[role][:4]} or pass {role}_key=")


def _member(z, name: str, path, limit: int):
    """One array of the archive, after checking the size its ``.npy`` header declares
    against the member's size and the read limit (nothing large is allocated first)."""
    info = z.zip.getinfo(f"{name}.npy") if f"{name}.npy" in z.zip.namelist() else None
    if info is not None:
        with z.zip.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(fh))
        if dtype.hasobject:
            raise DataFormatError(path, f"array {name!r} holds Python objects (pickled); they are "
                                  "never loaded", "store numbers (float arrays) only")
        n = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if n > info.file_size or n > limit:
            raise DataFormatError(path, f"array {name!r} declares {shape} values of {dtype} "
                                  f"({n / 2**20:.6g} MiB) in a member of "
                                  f"{info.file_size / 2**20:.3g} MiB",
                                  "the archive is damaged or not a plain numpy.savez file")
    return z[name]


def read(path, *, delay_key=None, wavelength_key=None, signal_key=None,
         time_unit: str | None = None, spectral_unit: str | None = None,
         signal_units: str | None = None):
    """Read an ``.npz`` archive into a TA dataset (see module docstring for array names).

    Only the arrays used are loaded, each after checking the size its header declares."""
    check_regular_file(path)
    limit = read_limit()
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            names = {k: None for k in z.files}
            picked = {_pick(names, role, key, path) for role, key in (
                ("delay", delay_key), ("wavelength", wavelength_key), ("signal", signal_key))}
            used = picked | ({"weight", "mask", ATTRS_KEY} & set(names))
            arrs = {k: _member(z, k, path, limit) for k in sorted(used)}
    except DataFormatError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError, TypeError,
            RuntimeError, NotImplementedError) as exc:
        raise DataFormatError(path, f"not a readable .npz archive ({type(exc).__name__}: "
                              f"{str(exc)[:120]})", "re-save it with numpy.savez") from None
    except MemoryError:
        raise
    except Exception as exc:  # zlib.error and friends from damaged members
        raise DataFormatError(path, f"damaged .npz archive ({type(exc).__name__})",
                              "re-save it with numpy.savez") from None
    meta: dict = {}
    if ATTRS_KEY in arrs:
        try:
            meta = json.loads(str(arrs[ATTRS_KEY][()]))
            if not isinstance(meta, dict):
                raise ValueError
        except (ValueError, TypeError):
            raise DataFormatError(path, f"array {ATTRS_KEY!r} is not a JSON object",
                                  "re-save the file with hotcarrier") from None
    dk = _pick(arrs, "delay", delay_key, path)
    wk = _pick(arrs, "wavelength", wavelength_key, path)
    sk = _pick(arrs, "signal", signal_key, path)
    try:
        delay = np.asarray(arrs[dk], dtype=float).ravel()
        wl = np.asarray(arrs[wk], dtype=float).ravel()
        sig = np.asarray(arrs[sk], dtype=float)
        weight = np.asarray(arrs["weight"], dtype=float) if "weight" in arrs else None
        mask = np.asarray(arrs["mask"], dtype=bool) if "mask" in arrs else None
    except (ValueError, TypeError):
        raise DataFormatError(path, "an axis or the signal array is not numeric") from None
    steps = []
    if sig.ndim == 2 and sig.shape == (wl.size, delay.size) and wl.size != delay.size:
        sig, weight, mask = (None if a is None else a.T for a in (sig, weight, mask))
        steps.append("load_ta: signal stored wavelength × delay; transposed")
    for name, arr in (("weight", weight), ("mask", mask)):
        if arr is not None and arr.shape != sig.shape:
            raise DataFormatError(path, f"mismatched shapes: {name} is {arr.shape}, signal is "
                                  f"{sig.shape}", f"store {name} with the signal's shape")
    attrs = dict(meta.get("attrs", {}))
    var_attrs = meta.get("var_attrs", {})
    own = bool(meta)
    ds = build_dataset(
        path, "npz", delay, wl, sig,
        time_unit_label=time_unit or str(meta.get("delay_units", "ps")),
        spectral_unit_label=spectral_unit or str(meta.get("wavelength_units", "nm")),
        signal_units=signal_units or var_attrs.get("signal", {}).get("units", "OD"),
        attrs=attrs, steps=steps, weight=weight, mask=mask, record_load=not own)
    if own:
        for name, a in var_attrs.items():
            if name in ds.variables:
                ds[name].attrs = dict(a)
    return ds


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def write(ds, fh) -> None:
    """Write ``ds`` to ``.npz`` with its attributes, so that reading it back is exact."""
    arrs = dict(zip(("delay", "wavelength", "signal"), ta_arrays(ds)))
    for name in ("weight", "mask"):
        if name in ds:
            arrs[name] = ds[name].transpose("delay", "wavelength").values
    names = ("delay", "wavelength", *[k for k in arrs if k in ds.data_vars])
    meta = {"attrs": {k: _jsonable(v) for k, v in ds.attrs.items()},
            "var_attrs": {n: {k: _jsonable(v) for k, v in ds[n].attrs.items()} for n in names}}
    arrs[ATTRS_KEY] = np.array(json.dumps(meta, ensure_ascii=False))
    np.savez(fh, **arrs)

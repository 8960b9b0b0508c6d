"""netCDF-4 (HDF5) files through xarray's ``h5netcdf`` engine.

The TA dataset object is written as it is (signal, weight, bool mask, coordinates with their
``units``, all attributes), so that a save/load round-trip is identical
(``xarray.testing.assert_identical``). Attribute values netCDF cannot hold are converted on
write: booleans become 0/1, ``None`` becomes ``""``, mappings and sequences become JSON text.
"""

from __future__ import annotations

import gc
import json
import sys

import numpy as np
import xarray as xr

from ..dataset import check_ta, with_history
from ..errors import DataFormatError, DatasetValidationError
from ..units import TIME_TO_PS
from ._common import read_head_tail, read_limit, time_unit, warn_signal_size

__all__ = ["read", "write", "sniff"]

_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02")


def sniff(head: bytes) -> bool:
    """HDF5 (netCDF-4) or classic netCDF magic bytes."""
    return head.startswith(_MAGIC)


def read(path, *, time_unit_override: str | None = None):
    """Read a netCDF file holding a TA dataset (converting a non-ps delay axis to ps).

    The file is opened lazily: the TA variables (``signal``, ``weight``, ``mask``) and any
    other variable no larger than the signal are loaded, after checking their declared sizes
    against the read limit; larger extra variables are left out (recorded in the history)."""
    head, _ = read_head_tail(path, 8)
    engine = "scipy" if head.startswith(_MAGIC[1:]) else "h5netcdf"
    ds, problem = _open(path, engine)
    if problem:
        raise DataFormatError(path, f"not a readable netCDF file ({problem})",
                              "check the file is complete")
    ds.encoding = {}
    for v in ds.variables.values():
        v.encoding = {}
    if "signal" not in ds.data_vars:
        two_d = [k for k, v in ds.data_vars.items() if v.ndim == 2]
        raise DataFormatError(path, f"no 'signal' variable; found {list(ds.data_vars)}",
                              f"rename the TA matrix to 'signal' (candidates: {two_d})")
    if "delay" in ds.coords:
        label = time_unit_override or ds["delay"].attrs.get("units", "ps")
        tu = time_unit(label)
        if tu is None:
            raise DataFormatError(path, f"delay units {label!r} are not a known time unit",
                                  "pass time_unit='ps' (or fs, ns, us, ms, s)")
        if tu != "ps":
            ds = ds.assign_coords(delay=ds["delay"] * TIME_TO_PS[tu])
            ds["delay"].attrs["units"] = "ps"
            ds = with_history(ds, f"load_ta: delay converted from {tu} to ps")
    if "mask" in ds and ds["mask"].dtype != bool:
        ds["mask"] = ds["mask"].astype(bool)
    try:
        check_ta(ds, str(path), allow_duplicate_delays=True)
    except DatasetValidationError as exc:
        raise DataFormatError(path, "; ".join(exc.problems),
                              "the file does not follow the TA dataset convention "
                              "(docs/dataset.md)") from None
    warn_signal_size(ds, path)
    return ds


_TA_VARS = ("signal", "weight", "mask")


def _open(path, engine: str):
    """Open lazily and load the TA variables; returns (dataset, None) or (None, problem).

    A damaged HDF5 file can make h5netcdf's half-built ``File`` object fail again in its
    ``__del__`` (an "exception ignored" report); those objects are collected here, with the
    unraisable hook silenced, before the error is raised, so nothing leaks to the caller.
    """
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    ds = problem = None
    try:
        try:
            with xr.open_dataset(path, engine=engine) as f:
                limit = read_limit()
                size = {k: v.size * v.dtype.itemsize for k, v in f.variables.items()}
                too_big = [k for k in _TA_VARS if k in size and size[k] > limit]
                if too_big:
                    problem = (f"variable {too_big[0]!r} declares {size[too_big[0]] / 2**20:.0f} "
                               f"MiB, above the read limit of {limit / 2**20:.0f} MiB")
                else:
                    cap = size.get("signal", 0)
                    skip = [k for k in f.data_vars if k not in _TA_VARS and size[k] > cap]
                    skip += [k for k in f.coords if k not in f.dims and size[k] > cap]
                    ds = f.drop_vars(skip).load()
                    if skip:
                        ds = with_history(ds, "load_ta: variable(s) larger than the signal "
                                          f"not loaded: {', '.join(map(str, skip))}")
        except Exception as exc:  # h5py/scipy raise many types for damaged files
            problem = f"{type(exc).__name__}: {str(exc)[:120]}"
        gc.collect()
    finally:
        sys.unraisablehook = old_hook
    return ds, problem


def _attr(v):
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if v is None:
        return ""
    if isinstance(v, (str, int, float, np.number, np.ndarray)):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v):
        return np.asarray(v)
    return json.dumps(v, default=str)


def write(ds, path) -> None:
    """Write ``ds`` to netCDF-4 at ``path`` (a temporary path; see ``save_ta``)."""
    out = ds.copy()
    out.attrs = {k: _attr(v) for k, v in ds.attrs.items()}
    for name in out.variables:
        out[name].attrs = {k: _attr(v) for k, v in ds[name].attrs.items()}
    out.to_netcdf(path, engine="h5netcdf")

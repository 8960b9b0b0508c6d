"""The TA dataset object: one ``xarray.Dataset`` convention for a transient-absorption map.

Convention (see ``docs/dataset.md``)::

    dims:    delay (ps), wavelength (nm)
    coords:  delay       float64, attrs units="ps", strictly increasing
             wavelength  float64, attrs units="nm", strictly monotonic (increasing after load)
    data:    signal  (delay, wavelength) float64, attrs units in {"OD","mOD","uOD","dT/T","%dT/T"}
             weight  (delay, wavelength) float64 >= 0, optional (multiplies residuals)
             mask    (delay, wavelength) bool, optional (True = excluded from fits)
    attrs:   title, sample, pump_wavelength_nm, pump_energy_uJ, date, source_file,
             source_format, metadata_text (free text the file carried), history (one string,
             one processing step per line), plus anything else the file carried.

A single trace is a map with one wavelength. Only file readers, writers and the CLI convert
between this object and files; the JAX core sees plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .errors import DatasetValidationError
from .units import SIGNAL_UNITS

__all__ = [
    "TIME_DIM", "SPECTRAL_DIM", "SIGNAL", "WEIGHT", "MASK", "make_ta_dataset", "check_ta",
    "fit_mask", "history", "with_history",
]

TIME_DIM = "delay"
SPECTRAL_DIM = "wavelength"
SIGNAL = "signal"
WEIGHT = "weight"
MASK = "mask"


def make_ta_dataset(
    delay_ps,
    wavelength_nm,
    signal,
    *,
    signal_units: str = "OD",
    weight=None,
    mask=None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a TA dataset following the convention.

    ``signal`` (n_delay, n_wavelength) holds ΔA (or ΔT/T) in ``signal_units`` (``OD``,
    ``mOD``, ``uOD``, ``dT/T``, ``%dT/T``), NaN for missing cells; ``weight`` (≥ 0) and
    ``mask`` (True = excluded) have its shape; ``attrs['history']`` may be a string or a
    list of strings.
    """
    sig = np.asarray(signal, dtype=float)
    data_vars: dict[str, Any] = {
        SIGNAL: ((TIME_DIM, SPECTRAL_DIM), sig, {"units": signal_units, "long_name": "ΔA"}),
    }
    if weight is not None:
        data_vars[WEIGHT] = ((TIME_DIM, SPECTRAL_DIM), np.asarray(weight, dtype=float),
                             {"long_name": "residual weight"})
    if mask is not None:
        data_vars[MASK] = ((TIME_DIM, SPECTRAL_DIM), np.asarray(mask, dtype=bool),
                           {"long_name": "excluded from fit"})
    a = dict(attrs or {})
    hist = a.get("history", "")
    a["history"] = "\n".join(map(str, hist)) if isinstance(hist, (list, tuple)) else str(hist)
    coords = {
        TIME_DIM: (TIME_DIM, np.asarray(delay_ps, dtype=float),
                   {"units": "ps", "long_name": "pump–probe delay"}),
        SPECTRAL_DIM: (SPECTRAL_DIM, np.asarray(wavelength_nm, dtype=float),
                       {"units": "nm", "long_name": "probe wavelength"}),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=a)


def history(ds: xr.Dataset) -> list[str]:
    """The processing history of ``ds`` as a list of steps (oldest first)."""
    h = ds.attrs.get("history", "")
    return [line for line in str(h).splitlines() if line.strip()]


def with_history(ds: xr.Dataset, step: str) -> xr.Dataset:
    """Return ``ds`` (not a copy of its data) with ``step`` appended to its history."""
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs)
    out.attrs["history"] = "\n".join([*history(ds), step])
    return out


def check_ta(ds: xr.Dataset, name: str | None = None, *,
             allow_duplicate_delays: bool = False) -> None:
    """Check that ``ds`` follows the TA dataset convention; report every problem at once.

    Raises DatasetValidationError listing each problem, named ``name`` (default: the
    ``source_file`` attribute). ``allow_duplicate_delays`` accepts a non-decreasing delay
    axis with repeated values (raw KiMoPack ``.SIA`` files repeat their last delay); the fit
    path keeps False and :func:`hotcarrier.preprocess.merge_duplicate_delays` removes them.
    """
    problems: list[str] = []
    if not isinstance(ds, xr.Dataset):
        raise DatasetValidationError([f"expected an xarray.Dataset, got {type(ds).__name__}"], name)
    for dim in (TIME_DIM, SPECTRAL_DIM):
        if dim not in ds.dims:
            problems.append(f"missing dimension {dim!r}; found {tuple(ds.dims)}")
    for dim, unit in ((TIME_DIM, "ps"), (SPECTRAL_DIM, "nm")):
        if dim in ds.coords:
            got = ds[dim].attrs.get("units")
            if got != unit:
                problems.append(f"coordinate {dim!r} has units={got!r}; expected {unit!r} "
                                "(convert on load)")
            v = np.asarray(ds[dim].values, dtype=float)
            if not np.all(np.isfinite(v)):
                problems.append(f"coordinate {dim!r} has non-finite values")
            elif v.size > 1:
                d = np.diff(v)
                dups_ok = allow_duplicate_delays and np.all(d >= 0)
                if dim == TIME_DIM and not np.all(d > 0) and not dups_ok:
                    n_dup = int(np.sum(d == 0))
                    what = (f"{n_dup} duplicated delay(s)" if n_dup and np.all(d >= 0)
                            else "not strictly increasing")
                    problems.append(f"coordinate 'delay' is {what}; use "
                                    "preprocess.merge_duplicate_delays or sort it")
                if dim == SPECTRAL_DIM and not (np.all(d > 0) or np.all(d < 0)):
                    problems.append("coordinate 'wavelength' is not strictly monotonic")
        elif dim in ds.dims:
            problems.append(f"dimension {dim!r} has no coordinate values")
    if SIGNAL not in ds.data_vars:
        problems.append(f"missing data variable {SIGNAL!r}; found {list(ds.data_vars)}")
    else:
        sig = ds[SIGNAL]
        if set(sig.dims) != {TIME_DIM, SPECTRAL_DIM}:
            problems.append(f"'signal' has dims {sig.dims}; expected ('delay', 'wavelength')")
        unit = sig.attrs.get("units")
        if unit not in SIGNAL_UNITS:
            problems.append(f"'signal' has units={unit!r}; expected one of {sorted(SIGNAL_UNITS)}")
        vals = np.asarray(sig.values, dtype=float)
        if vals.size == 0:
            problems.append("'signal' is empty")
        elif not np.any(np.isfinite(vals)):
            problems.append("'signal' has no finite value (all NaN/inf)")
    if WEIGHT in ds.data_vars:
        w = np.asarray(ds[WEIGHT].values, dtype=float)
        if SIGNAL in ds and set(ds[WEIGHT].dims) != set(ds[SIGNAL].dims):
            problems.append(f"'weight' has dims {ds[WEIGHT].dims}; expected those of 'signal'")
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            problems.append("'weight' must be finite and >= 0")
    if MASK in ds.data_vars and ds[MASK].dtype != bool:
        problems.append(f"'mask' has dtype {ds[MASK].dtype}; expected bool (True = excluded)")
    if problems:
        raise DatasetValidationError(problems, name or ds.attrs.get("source_file"))


def fit_mask(ds: xr.Dataset) -> np.ndarray:
    """Boolean (delay, wavelength) array: True where the signal is finite and not masked."""
    sig = ds[SIGNAL].transpose(TIME_DIM, SPECTRAL_DIM).values
    ok = np.isfinite(sig)
    if MASK in ds:
        ok &= ~ds[MASK].transpose(TIME_DIM, SPECTRAL_DIM).values.astype(bool)
    return ok

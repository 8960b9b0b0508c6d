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
    "fit_mask", "history", "with_history", "check_fit_data", "signal_units_of",
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
    delay_ps, wavelength_nm, sig, weight, mask = _checked_arrays(
        delay_ps, wavelength_nm, signal, weight, mask, signal_units, attrs)
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


def _real(name: str, x, problems: list):
    """``x`` as float64, or None with a problem when it is not real numbers."""
    a = np.asarray(x)
    if a.dtype.kind == "c":
        problems.append(f"{name} is complex ({a.dtype}); pass real values (e.g. x.real or abs(x))")
        return None
    if a.dtype.kind not in "biuf":
        problems.append(f"{name} has dtype {a.dtype}; expected numbers (float64)")
        return None
    return a.astype(float)


def _checked_arrays(delay, wavelength, signal, weight, mask, units, attrs):
    """The inputs of :func:`make_ta_dataset` as float64 arrays of matching shapes; every
    problem (shape, dtype, attrs) is listed in one DatasetValidationError (the values and the
    unit are :func:`check_ta`'s)."""
    problems: list[str] = []
    t = _real("delay", delay, problems)
    w = _real("wavelength", wavelength, problems)
    s = _real("signal", signal, problems)
    if t is not None and t.ndim != 1:
        problems.append(f"delay must be 1-D; got shape {t.shape}")
    if w is not None and w.ndim != 1:
        problems.append(f"wavelength must be 1-D; got shape {w.shape}")
    shape = None if t is None or w is None else (t.size, w.size)
    if s is not None and shape is not None and s.shape != shape:
        hint = " (transposed? the signal is delay × wavelength)" if s.shape == shape[::-1] else ""
        problems.append(f"signal has shape {s.shape}; expected (n_delay, n_wavelength) = "
                        f"{shape}{hint}")
    wt = None if weight is None else _real("weight", weight, problems)
    mk = None if mask is None else np.asarray(mask)
    for name, a in (("weight", wt), ("mask", mk)):
        if a is not None and shape is not None and a.shape != shape:
            problems.append(f"{name} has shape {a.shape}; expected the signal's {shape}")
    if mk is not None and mk.dtype.kind not in "biu":
        problems.append(f"mask has dtype {mk.dtype}; expected bool (True = excluded)")
    if not isinstance(units, str):
        problems.append(f"signal_units={units!r} is not a unit name (check_ta lists the units)")
    if attrs is not None and not isinstance(attrs, Mapping):
        problems.append(f"attrs must be a mapping (dict), not {type(attrs).__name__}")
    if problems:
        raise DatasetValidationError(problems)
    return t, w, s, wt, None if mk is None else mk.astype(bool)


def signal_units_of(units) -> str | None:
    """``units`` if it is one of :data:`~hotcarrier.units.SIGNAL_UNITS`, else None."""
    return units if isinstance(units, str) and units in SIGNAL_UNITS else None


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
        kind = sig.dtype.kind
        if kind not in "biuf":
            problems.append(f"'signal' has dtype {sig.dtype}; expected real numbers (float64)"
                            + (": pass the real part or the modulus" if kind == "c" else ""))
        vals = np.asarray(sig.values, dtype=float) if kind in "biuf" else np.zeros(1)
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


def check_fit_data(ds: xr.Dataset, name: str | None = None) -> xr.Dataset:
    """``ds`` ready for a fit: a valid TA dataset (float64) with usable, finite, non-zero data.

    A float32/integer signal is converted to float64 (hotcarrier computes in float64); a
    problem (wrong dimensions, complex values, no usable cell, infinite cells, an all-zero or
    overflowing signal, wavelengths <= 0) raises :class:`DatasetValidationError`.
    """
    if not isinstance(ds, xr.Dataset):
        raise DatasetValidationError([f"expected a TA xarray.Dataset, got {type(ds).__name__}"],
                                     name)
    check_ta(ds, name, allow_duplicate_delays=True)
    if ds[SIGNAL].dtype != np.float64:
        ds = ds.assign({SIGNAL: ds[SIGNAL].astype(np.float64)})
    sig = ds[SIGNAL].transpose(TIME_DIM, SPECTRAL_DIM).values
    problems = []
    n_inf = int(np.isinf(sig).sum())
    if n_inf:
        problems.append(f"'signal' has {n_inf} infinite cell(s); set them to NaN (missing) or "
                        "mask them")
    use = fit_mask(ds)
    if WEIGHT in ds:
        use &= ds[WEIGHT].transpose(TIME_DIM, SPECTRAL_DIM).values > 0
    vals = sig[use & np.isfinite(sig)]
    if vals.size == 0:
        problems.append("no usable cell: every value is missing, masked or has weight 0")
    elif not np.any(vals):
        problems.append("the signal is zero in every usable cell: nothing to fit")
    elif np.max(np.abs(vals)) > 1e150:
        problems.append(f"|signal| reaches {np.max(np.abs(vals)):.3g}: its square overflows; "
                        "rescale the data (e.g. to mOD)")
    if np.any(ds[SPECTRAL_DIM].values <= 0):
        problems.append("wavelength axis has values <= 0 nm")
    if problems:
        raise DatasetValidationError(problems, name or ds.attrs.get("source_file"))
    return ds


def fit_mask(ds: xr.Dataset) -> np.ndarray:
    """Boolean (delay, wavelength) array: True where the signal is finite and not masked."""
    sig = ds[SIGNAL].transpose(TIME_DIM, SPECTRAL_DIM).values
    ok = np.isfinite(sig)
    if MASK in ds:
        ok &= ~ds[MASK].transpose(TIME_DIM, SPECTRAL_DIM).values.astype(bool)
    return ok

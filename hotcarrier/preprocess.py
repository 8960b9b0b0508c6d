"""Preprocessing of TA dataset objects: pure functions that record themselves in the history.

Every function takes a TA dataset (see :mod:`hotcarrier.dataset`) and returns a new one; the
input is never modified. Each appends one line to ``ds.attrs['history']`` that says what was
done with which numbers, so a processed dataset documents itself.

Typical KiMoPack-style chain::

    ds = load_ta("TA_Ru-dppz_400nm_ACN.SIA")
    ds = merge_duplicate_delays(ds)
    ds = mask_bad_values(ds, threshold=1.0)          # sentinels −21.47483647 and |ΔA| > 1
    ds = subtract_background(ds, before=-0.5)
    ds = chirp_correct(ds, read_chirp_file("TA_Ru-dppz_400nm_ACN_chirp.dat"))
    ds = crop(ds, delay=(0.35, 2000), wavelength=(320, 770))
    ds = exclude_band(ds, 380, 405)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .dataset import MASK, SIGNAL, SPECTRAL_DIM, TIME_DIM, WEIGHT, fit_mask, with_history
from .errors import DataFormatError, DatasetValidationError
from .svd import svd

__all__ = [
    "crop", "exclude_band", "mask_bad_values", "merge_duplicate_delays", "average_scans",
    "subtract_background", "subtract_dataset", "read_chirp_file", "chirp_correct",
    "find_onsets", "estimate_chirp", "ChirpEstimate", "svd", "KIMOPACK_SENTINEL",
]

KIMOPACK_SENTINEL = -21.47483647
"""Bad-pixel value written by KiMoPack/ Helios exports (−2³¹ × 1e-8)."""


def _g(x) -> str:
    return f"{float(x):.6g}"


def _ordered(ds: xr.Dataset) -> xr.Dataset:
    return ds.transpose(TIME_DIM, SPECTRAL_DIM, ...)


def _problem(msg: str, ds: xr.Dataset | None = None):
    name = None if ds is None else ds.attrs.get("source_file")
    return DatasetValidationError([msg], name)


def _nanmean_rows(values: np.ndarray, valid: np.ndarray):
    """Mean over axis 0 of the valid cells and their count; NaN where none is valid."""
    n = valid.sum(axis=0)
    s = np.where(valid, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan), n


# --- selection -------------------------------------------------------------------------------

def crop(ds: xr.Dataset, delay=None, wavelength=None) -> xr.Dataset:
    """Keep delays (ps) and wavelengths (nm) inside closed ``(lo, hi)`` intervals (a bound
    of None leaves that side open)."""
    keep_t = np.ones(ds.sizes[TIME_DIM], bool)
    keep_w = np.ones(ds.sizes[SPECTRAL_DIM], bool)
    parts = []
    for dim, rng, keep, unit in ((TIME_DIM, delay, keep_t, "ps"),
                                 (SPECTRAL_DIM, wavelength, keep_w, "nm")):
        if rng is None:
            continue
        lo, hi = (default if b is None else b for b, default in zip(rng, (-np.inf, np.inf)))
        keep &= (ds[dim].values >= lo) & (ds[dim].values <= hi)
        parts.append(f"{dim} {_g(lo)}…{_g(hi)} {unit}")
    if not keep_t.any() or not keep_w.any():
        raise _problem(f"crop({', '.join(parts)}) leaves no data; the dataset spans delay "
                       f"{_g(ds[TIME_DIM].min())}…{_g(ds[TIME_DIM].max())} ps and wavelength "
                       f"{_g(ds[SPECTRAL_DIM].min())}…{_g(ds[SPECTRAL_DIM].max())} nm", ds)
    out = ds.isel({TIME_DIM: keep_t, SPECTRAL_DIM: keep_w})
    return with_history(out, f"crop: {', '.join(parts) or 'nothing'} "
                        f"({ds.sizes[TIME_DIM]}→{int(keep_t.sum())} delays, "
                        f"{ds.sizes[SPECTRAL_DIM]}→{int(keep_w.sum())} wavelengths)")


def exclude_band(ds: xr.Dataset, lo: float, hi: float, *, how: str = "drop") -> xr.Dataset:
    """Exclude the wavelengths in ``[lo, hi]`` nm (pump scatter): ``how='drop'`` removes the
    columns, ``how='mask'`` keeps them with ``mask`` True."""
    w = ds[SPECTRAL_DIM].values
    band = (w >= lo) & (w <= hi)
    if how == "drop":
        if band.all():
            raise _problem(f"exclude_band({_g(lo)}, {_g(hi)}) would remove every wavelength", ds)
        out = ds.isel({SPECTRAL_DIM: ~band})
    elif how == "mask":
        out = _with_mask(ds, np.broadcast_to(band[None, :], (ds.sizes[TIME_DIM], w.size)))
    else:
        raise _problem(f"exclude_band: how={how!r}; expected 'drop' or 'mask'", ds)
    return with_history(out, f"exclude_band: {_g(lo)}…{_g(hi)} nm ({int(band.sum())} "
                        f"wavelength(s) {'dropped' if how == 'drop' else 'masked'})")


def _with_mask(ds: xr.Dataset, new: np.ndarray) -> xr.Dataset:
    ds = _ordered(ds)
    old = ds[MASK].values if MASK in ds else np.zeros(new.shape, bool)
    out = ds.copy()
    out[MASK] = ((TIME_DIM, SPECTRAL_DIM), old | new, {"long_name": "excluded from fit"})
    return out


def mask_bad_values(ds: xr.Dataset, *, sentinels: Sequence[float] = (KIMOPACK_SENTINEL,),
                    threshold: float | None = None, nan: bool = True,
                    set_nan: bool = True) -> xr.Dataset:
    """Mask bad cells: ``sentinels`` (exact, relative tolerance 1e-12), ``|signal| >
    threshold`` (signal units) and, with ``nan``, NaN/inf. ``set_nan`` also sets bad values
    to NaN, so that means and interpolation never see them."""
    ds = _ordered(ds)
    s = ds[SIGNAL].values
    bad = np.zeros(s.shape, bool)
    parts = []
    for v in sentinels:
        hit = np.isclose(s, v, rtol=1e-12, atol=0.0)
        parts.append(f"{int(hit.sum())} sentinel {v:.10g}")
        bad |= hit
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            hit = np.abs(s) > threshold
        parts.append(f"{int((hit & ~bad).sum())} more with |signal| > {_g(threshold)}")
        bad |= hit
    if nan:
        hit = ~np.isfinite(s)
        parts.append(f"{int(hit.sum())} non-finite")
        bad |= hit
    out = _with_mask(ds, bad)
    if set_nan:
        out[SIGNAL] = out[SIGNAL].where(~bad)
    return with_history(out, f"mask_bad_values: {int(bad.sum())} cell(s) masked ("
                        + ", ".join(parts) + ")")


# --- combining ------------------------------------------------------------------------------

def merge_duplicate_delays(ds: xr.Dataset) -> xr.Dataset:
    """Average rows that share the same delay (NaN and masked cells are left out); a merged
    cell is masked only when all its rows were; weights are averaged."""
    ds = _ordered(ds)
    t = ds[TIME_DIM].values
    uniq, inv, counts = np.unique(t, return_inverse=True, return_counts=True)
    if uniq.size == t.size:
        return with_history(ds, "merge_duplicate_delays: no duplicated delay")
    valid, s = fit_mask(ds), ds[SIGNAL].values
    rows = [inv == k for k in range(uniq.size)]
    merged = {SIGNAL: [_nanmean_rows(s[r], valid[r])[0] for r in rows]}
    if MASK in ds:
        merged[MASK] = [ds[MASK].values[r].all(axis=0) for r in rows]
    if WEIGHT in ds:
        merged[WEIGHT] = [ds[WEIGHT].values[r].mean(axis=0) for r in rows]
    out = ds.isel({TIME_DIM: np.sort(np.unique(inv, return_index=True)[1])}).copy()
    out = out.assign_coords({TIME_DIM: (TIME_DIM, uniq, dict(ds[TIME_DIM].attrs))})
    for name, value in merged.items():
        out[name] = ((TIME_DIM, SPECTRAL_DIM), np.array(value), dict(ds[name].attrs))
    rep = uniq[counts > 1]
    return with_history(out, f"merge_duplicate_delays: {int(counts[counts > 1].sum())} rows at "
                        f"{rep.size} repeated delay(s) ({', '.join(f'{v:.10g}' for v in rep[:5])}"
                        f" ps) averaged; {t.size}→{uniq.size} delays")


def average_scans(scans: Sequence[xr.Dataset]) -> xr.Dataset:
    """Average several scans on the same axes (NaN/masked cells left out); the result has no
    ``weight`` and its ``mask`` is True where no scan had a valid cell."""
    scans = [_ordered(s) for s in scans]
    if not scans:
        raise _problem("average_scans: no scan given")
    ref = scans[0]
    for k, s in enumerate(scans[1:], start=2):
        for dim in (TIME_DIM, SPECTRAL_DIM):
            if not np.array_equal(s[dim].values, ref[dim].values):
                raise _problem(f"average_scans: scan {k} has a different {dim} axis than "
                               "scan 1; crop or interpolate the scans onto one grid first", s)
        if s[SIGNAL].attrs.get("units") != ref[SIGNAL].attrs.get("units"):
            raise _problem(f"average_scans: scan {k} is in {s[SIGNAL].attrs.get('units')!r}, "
                           f"scan 1 in {ref[SIGNAL].attrs.get('units')!r}", s)
    vals = np.stack([s[SIGNAL].values for s in scans])
    valid = np.stack([fit_mask(s) for s in scans])
    mean, n = _nanmean_rows(vals, valid)
    out = ref.copy()
    if WEIGHT in out:
        out = out.drop_vars(WEIGHT)
    out[SIGNAL] = ((TIME_DIM, SPECTRAL_DIM), mean, dict(ref[SIGNAL].attrs))
    out[MASK] = ((TIME_DIM, SPECTRAL_DIM), n == 0, {"long_name": "excluded from fit"})
    return with_history(out, f"average_scans: mean of {len(scans)} scans")


def subtract_background(ds: xr.Dataset, *, before: float = -0.5) -> xr.Dataset:
    """Subtract, per wavelength, the mean valid signal of the delays before ``before`` (ps);
    a wavelength without any valid background cell is left unchanged."""
    ds = _ordered(ds)
    rows = ds[TIME_DIM].values < before
    if not rows.any():
        raise _problem(f"subtract_background: no delay before {_g(before)} ps (the first is "
                       f"{_g(ds[TIME_DIM].values.min())} ps); choose a later 'before'", ds)
    bg, n = _nanmean_rows(ds[SIGNAL].values[rows], fit_mask(ds)[rows])
    none = n == 0
    bg = np.where(none, 0.0, bg)
    out = ds.copy()
    out[SIGNAL] = ds[SIGNAL] - xr.DataArray(bg, dims=(SPECTRAL_DIM,))
    out[SIGNAL].attrs = dict(ds[SIGNAL].attrs)
    return with_history(out, f"subtract_background: mean of {int(rows.sum())} delay(s) before "
                        f"{_g(before)} ps subtracted per wavelength"
                        + (f"; {int(none.sum())} wavelength(s) without background left as is"
                           if none.any() else ""))


def subtract_dataset(ds: xr.Dataset, other: xr.Dataset, *, scale: float = 1.0) -> xr.Dataset:
    """Subtract ``scale`` × a measured solvent / coherent-artefact dataset.

    ``other`` is linearly interpolated onto the grid of ``ds`` when the axes differ; cells
    outside its range become NaN (counted in the history). Both must use the same signal unit.
    """
    ds, other = _ordered(ds), _ordered(other)
    u1, u2 = ds[SIGNAL].attrs.get("units"), other[SIGNAL].attrs.get("units")
    if u1 != u2:
        raise _problem(f"subtract_dataset: signal units differ ({u1!r} vs {u2!r}); convert "
                       "one of them first", ds)
    if all(np.array_equal(ds[d].values, other[d].values) for d in (TIME_DIM, SPECTRAL_DIM)):
        ref, how = other[SIGNAL].values, "same grid"
    else:
        ref = _interp2(other, ds[TIME_DIM].values, ds[SPECTRAL_DIM].values)
        how = "interpolated onto this grid"
    new = ds[SIGNAL].values - scale * ref
    n_out = int(np.sum(np.isnan(ref) & np.isfinite(ds[SIGNAL].values)))
    out = ds.copy()
    out[SIGNAL] = ((TIME_DIM, SPECTRAL_DIM), new, dict(ds[SIGNAL].attrs))
    name = other.attrs.get("source_file") or other.attrs.get("title") or "dataset"
    return with_history(out, f"subtract_dataset: {_g(scale)} × {name} ({how})"
                        + (f"; {n_out} cell(s) outside it set to NaN" if n_out else ""))


def _interp2(other: xr.Dataset, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``other.signal`` onto (t, w); NaN outside."""
    s = other[SIGNAL].values
    ot, ow = other[TIME_DIM].values, other[SPECTRAL_DIM].values
    tmp = np.array([np.interp(w, ow, row, left=np.nan, right=np.nan) for row in s]).T
    return np.array([np.interp(t, ot, col, left=np.nan, right=np.nan) for col in tmp]).T


# --- chirp (group-velocity dispersion) -------------------------------------------------------

def read_chirp_file(path) -> np.ndarray:
    """Read chirp polynomial coefficients, ``t0(λ) = numpy.polyval(c, λ / nm)`` ps, from a
    text file (KiMoPack ``*_chirp.dat``: comma-, semicolon- or whitespace-separated)."""
    from .io._common import read_bytes

    p = Path(path)
    try:  # a regular file of at most 1 MiB (never a pipe or device)
        text = read_bytes(p, limit=1 << 20, what="chirp file").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(p, f"chirp file cannot be read as text ({exc})") from None
    tokens = [t for t in text.replace(",", " ").replace(";", " ").split() if t]
    if not tokens:
        raise DataFormatError(p, "chirp file is empty",
                              "write the polynomial coefficients, highest power first")
    c = np.empty(len(tokens))
    for i, t in enumerate(tokens):
        try:
            c[i] = float(t)
        except ValueError:
            raise DataFormatError(p, f"chirp file has a non-numeric entry {t[:30]!r}", "write "
                                  "only comma-separated numbers, highest power first") from None
    if not np.all(np.isfinite(c)):
        raise DataFormatError(p, "chirp file has non-finite coefficients")
    return c


def chirp_correct(ds: xr.Dataset, coeffs) -> xr.Dataset:
    """Remove group-velocity dispersion given ``t0(λ) = numpy.polyval(coeffs, λ/nm)`` ps.

    ``new(t, λ) = old(t + t0(λ), λ)`` by linear interpolation per wavelength; cells whose
    source delay lies outside the measured range become NaN. ``mask`` and ``weight`` follow
    the nearest source row. Needs strictly increasing delays (merge duplicates first).
    """
    ds = _ordered(ds)
    try:
        c = np.atleast_1d(np.asarray(coeffs, dtype=float))
    except (TypeError, ValueError):
        raise DatasetValidationError([f"chirp coefficients {coeffs!r} are not numbers; give "
                                      "them highest power first, e.g. [1e-5, -0.01, 2.5]"]) \
            from None
    t = ds[TIME_DIM].values
    if np.any(np.diff(t) <= 0):
        raise _problem("chirp_correct: the delay axis is not strictly increasing; run "
                       "preprocess.merge_duplicate_delays first", ds)
    w = ds[SPECTRAL_DIM].values
    t0 = np.polyval(c, w)
    s = ds[SIGNAL].values
    src = t[:, None] + t0[None, :]  # source delay of every cell
    new = np.stack([np.interp(src[:, j], t, s[:, j], left=np.nan, right=np.nan)
                    for j in range(w.size)], axis=1)
    upper = np.clip(np.searchsorted(t, src), 0, t.size - 1)
    lower = np.clip(upper - 1, 0, t.size - 1)
    src_idx = np.where(np.abs(t[lower] - src) < np.abs(t[upper] - src), lower, upper)
    out = ds.copy()
    out[SIGNAL] = ((TIME_DIM, SPECTRAL_DIM), new, dict(ds[SIGNAL].attrs))
    cols = np.arange(w.size)[None, :]
    for name in (MASK, WEIGHT):
        if name in ds:
            out[name] = ((TIME_DIM, SPECTRAL_DIM), ds[name].values[src_idx, cols],
                         dict(ds[name].attrs))
    poly = ", ".join(f"{x:.10g}" for x in c)
    return with_history(out, f"chirp_correct: t0(λ) = polyval([{poly}], λ/nm) ps "
                        f"(t0 from {_g(t0.min())} to {_g(t0.max())} ps)")


def find_onsets(ds: xr.Dataset, *, fraction: float = 0.5, delay_window=(-5.0, 5.0),
                min_peak: float | None = None) -> xr.DataArray:
    """Onset time per wavelength (ps): where ``|signal|`` first rises to ``fraction`` of its peak.

    The peak is searched inside ``delay_window`` (ps); walking back from the peak, the onset
    is the linearly interpolated crossing of ``fraction × peak``. Wavelengths whose peak is
    below ``min_peak`` (signal units) or that have no crossing get NaN.
    """
    ds = _ordered(ds)
    t = ds[TIME_DIM].values
    win = (t >= delay_window[0]) & (t <= delay_window[1])
    tw = t[win]
    a = np.abs(np.where(fit_mask(ds), ds[SIGNAL].values, np.nan))[win]
    onset = np.full(a.shape[1], np.nan)
    for j in range(a.shape[1]):
        col = a[:, j]
        if not np.any(np.isfinite(col)):
            continue
        k = int(np.nanargmax(col))
        peak = col[k]
        if min_peak is not None and peak < min_peak:
            continue
        level = fraction * peak
        stop = np.flatnonzero(~(col[:k] >= level))  # NaN or below the level
        if stop.size == 0 or not np.isfinite(col[stop[-1]]):
            continue
        i = stop[-1] + 1
        y0, y1 = col[i - 1], col[i]
        onset[j] = tw[i - 1] + (level - y0) / (y1 - y0) * (tw[i] - tw[i - 1])
    return xr.DataArray(onset, dims=(SPECTRAL_DIM,), coords={SPECTRAL_DIM: ds[SPECTRAL_DIM]},
                        name="onset", attrs={"units": "ps", "long_name": "signal onset"})


@dataclass(frozen=True)
class ChirpEstimate:
    """A chirp polynomial estimated from onsets."""

    coeffs: np.ndarray  # t0(λ) = numpy.polyval(coeffs, λ/nm) in ps, highest power first
    onsets: xr.DataArray  # measured onsets per wavelength, ps (NaN where none was found)
    used: np.ndarray  # bool: onsets kept by the robust fit
    rms_ps: float  # RMS residual of the kept onsets about the polynomial

    def __str__(self) -> str:
        poly = ", ".join(f"{x:.6g}" for x in self.coeffs)
        return (f"chirp t0(λ) = polyval([{poly}], λ/nm) ps from {int(self.used.sum())} onsets "
                f"(rms {self.rms_ps:.3g} ps)")


def estimate_chirp(ds: xr.Dataset, *, order: int = 4, fraction: float = 0.5,
                   delay_window=(-5.0, 5.0), min_peak: float | None = None,
                   n_sigma: float = 3.0) -> ChirpEstimate:
    """Estimate the chirp polynomial from the data's onsets (robust polynomial fit).

    Onsets come from :func:`find_onsets`; a polynomial of degree ``order`` in λ (nm) is fitted
    and onsets farther than ``n_sigma`` robust standard deviations (1.4826 × MAD) are dropped,
    repeatedly, until none is. Apply it with ``chirp_correct(ds, est.coeffs)``.
    """
    on = find_onsets(ds, fraction=fraction, delay_window=delay_window, min_peak=min_peak)
    w, y = on[SPECTRAL_DIM].values, on.values
    used = np.isfinite(y)
    if used.sum() < order + 2:
        raise _problem(f"estimate_chirp: only {int(used.sum())} wavelength(s) have an onset; "
                       f"need at least {order + 2} for order {order}", ds)
    x0 = float(np.mean(w[used]))
    for _ in range(20):
        c = np.polyfit(w[used] - x0, y[used], order)
        r = y - np.polyval(c, w - x0)
        mad = 1.4826 * np.median(np.abs(r[used]))
        keep = np.isfinite(y) & (np.abs(r) <= max(n_sigma * mad, 1e-12))
        if np.array_equal(keep, used) or keep.sum() < order + 2:
            break
        used = keep
    c = np.polyfit(w[used] - x0, y[used], order)
    # expand p(λ - x0) into powers of λ (highest first)
    total = np.poly1d(c)(np.poly1d([1.0, -x0])).coeffs
    coeffs = np.concatenate([np.zeros(order + 1 - total.size), total])
    rms = float(np.sqrt(np.mean((y[used] - np.polyval(coeffs, w[used])) ** 2)))
    return ChirpEstimate(coeffs, on, used, rms)

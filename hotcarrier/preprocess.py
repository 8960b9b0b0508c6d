"""Preprocessing of TA dataset objects: pure functions that record themselves in the history.

Every function takes a TA dataset (see :mod:`hotcarrier.dataset`) and returns a new one; the
input is never modified. Each appends one line to ``ds.attrs['history']`` that says what was
done with which numbers, so a processed dataset documents itself.

Typical KiMoPack-style chain::

    ds = load_ta("TA_Ru-dppz_400nm_ACN.SIA")
    ds = merge_duplicate_delays(ds)
    ds = mask_bad_values(ds, threshold=1.0)          # sentinels −21.47483647 and |ΔA| > 1
    c = read_chirp_file("TA_Ru-dppz_400nm_ACN_chirp.dat")
    ds = subtract_background(ds, before=-0.5, chirp=c)  # before each λ's own time zero
    ds = chirp_correct(ds, c)
    ds = crop(ds, delay=(0.35, 2000), wavelength=(320, 770))
    ds = exclude_band(ds, 380, 404.5)                 # KiMoPack's [380, 405) keeps 405 nm

:func:`prepare` runs this chain from a dict of options (the model file's ``[preprocess]``
table and the CLI's preprocessing options); :func:`prepare_steps` also returns the
intermediate map, the chirp polynomial and its onsets for ``hotcarrier inspect``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .dataset import MASK, SIGNAL, SPECTRAL_DIM, TIME_DIM, WEIGHT, fit_mask, with_history
from .errors import DataFormatError, DatasetValidationError
from .svd import svd

__all__ = ["READ_OPTIONS", "read_options", 
    "crop", "exclude_band", "mask_bad_values", "merge_duplicate_delays", "average_scans",
    "subtract_background", "subtract_dataset", "read_chirp_file", "chirp_correct",
    "find_onsets", "estimate_chirp", "ChirpEstimate", "svd", "KIMOPACK_SENTINEL",
    "prepare", "prepare_steps", "Preprocessed", "PREPROCESS_OPTIONS", "preprocessing_record",
    "chirp_rms",
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
    """Merge rows that share the same delay into one, keeping their statistical weight.

    Per cell, the valid (unmasked, finite) rows are combined as an inverse-variance mean:
    with residual weights w_i (1/σ_i; 1 without a ``weight`` variable) the merged value is
    Σw_i²·s_i / Σw_i² and its weight √(Σw_i²), i.e. √n for n equal rows. A least-squares fit
    of the merged map therefore has the same minimum as one of all the repeated rows (what
    KiMoPack fits when it keeps them). A merged cell is masked only when all its rows were.
    """
    ds = _ordered(ds)
    t = ds[TIME_DIM].values
    uniq, inv, counts = np.unique(t, return_inverse=True, return_counts=True)
    if uniq.size == t.size:
        return with_history(ds, "merge_duplicate_delays: no duplicated delay")
    valid, s = fit_mask(ds), ds[SIGNAL].values
    w = ds[WEIGHT].values if WEIGHT in ds else np.ones(s.shape)
    w2 = np.where(valid, w * w, 0.0)
    num, den = np.zeros((uniq.size, s.shape[1])), np.zeros((uniq.size, s.shape[1]))
    np.add.at(num, inv, np.where(valid, s, 0.0) * w2)
    np.add.at(den, inv, w2)
    with np.errstate(invalid="ignore", divide="ignore"):
        merged = {SIGNAL: np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)}
    merged[WEIGHT] = np.sqrt(den)
    if MASK in ds:
        mask = np.ones((uniq.size, s.shape[1]), bool)
        np.logical_and.at(mask, inv, ds[MASK].values)
        merged[MASK] = mask
    out = ds.isel({TIME_DIM: np.sort(np.unique(inv, return_index=True)[1])}).copy()
    out = out.assign_coords({TIME_DIM: (TIME_DIM, uniq, dict(ds[TIME_DIM].attrs))})
    attrs = {SIGNAL: dict(ds[SIGNAL].attrs), MASK: {"long_name": "excluded from fit"},
             WEIGHT: {"long_name": "residual weight"}}
    for name in (SIGNAL, MASK, WEIGHT):
        if name in merged:
            out[name] = ((TIME_DIM, SPECTRAL_DIM), merged[name],
                         dict(ds[name].attrs) if name in ds else attrs[name])
    rep = uniq[counts > 1]
    return with_history(out, f"merge_duplicate_delays: {int(counts[counts > 1].sum())} rows at "
                        f"{rep.size} repeated delay(s) ({', '.join(f'{v:.10g}' for v in rep[:5])}"
                        f" ps) merged (inverse-variance mean, weight √n); "
                        f"{t.size}→{uniq.size} delays")


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


def subtract_background(ds: xr.Dataset, *, before: float = -0.5, chirp=None) -> xr.Dataset:
    """Subtract, per wavelength, the mean valid signal of the delays before ``before`` (ps).

    With ``chirp`` (coefficients, ``t0(λ) = numpy.polyval(chirp, λ/nm)`` ps) the window of
    each wavelength ends at its own time zero: delays before ``t0(λ) + before``. Use it on a
    map that is not chirp-corrected yet; on a corrected map (time zero 0 at every λ) leave it
    None. A wavelength without any valid background cell is left unchanged.
    """
    ds = _ordered(ds)
    t, w = ds[TIME_DIM].values, ds[SPECTRAL_DIM].values
    t0 = np.zeros(w.size) if chirp is None else np.polyval(np.atleast_1d(chirp), w)
    rows = t[:, None] < (t0 + before)[None, :]
    if not rows.any():
        raise _problem(f"subtract_background: no delay before {_g(before)} ps"
                       + ("" if chirp is None else " + t0(λ)")
                       + f" (the first is {_g(t.min())} ps); choose a later 'before'", ds)
    bg, n = _nanmean_rows(ds[SIGNAL].values, fit_mask(ds) & rows)
    none = n == 0
    bg = np.where(none, 0.0, bg)
    out = ds.copy()
    out[SIGNAL] = ds[SIGNAL] - xr.DataArray(bg, dims=(SPECTRAL_DIM,))
    out[SIGNAL].attrs = dict(ds[SIGNAL].attrs)
    k = rows.sum(axis=0)
    where = (f"{int(k.max())} delay(s) before {_g(before)} ps" if chirp is None else
             f"{int(k.min())}–{int(k.max())} delay(s) before t0(λ) {'+' if before >= 0 else '−'} "
             f"{_g(abs(before))} ps (each "
             "wavelength's own time zero)")
    return with_history(out, f"subtract_background: mean of {where} subtracted per wavelength"
                        + (f"; {int(none.sum())} wavelength(s) without background left as is"
                           if none.any() else ""))


def subtract_dataset(ds: xr.Dataset, other: xr.Dataset, *, scale: float = 1.0,
                     outside: str = "error", unusable_warning: float = 0.5) -> xr.Dataset:
    """Subtract ``scale`` × a measured solvent / coherent-artefact dataset.

    ``other`` is linearly interpolated onto the grid of ``ds`` when the axes differ (its
    masked or NaN cells are left out first). Cells of ``ds`` outside the delays or
    wavelengths of ``other``: ``outside="error"`` (default) refuses with the two ranges,
    ``"zero"`` subtracts nothing there (a solvent artefact is over once its scan ends),
    ``"nan"`` makes them NaN (they drop out of a fit). A warning says so when more than
    ``unusable_warning`` of the valid cells become unusable. Both must use the same signal unit.
    """
    ds, other = _ordered(ds), _ordered(other)
    u1, u2 = ds[SIGNAL].attrs.get("units"), other[SIGNAL].attrs.get("units")
    if u1 != u2:
        raise _problem(f"subtract_dataset: signal units differ ({u1!r} vs {u2!r}); convert "
                       "one of them first", ds)
    if outside not in ("error", "zero", "nan"):
        raise _problem(f"subtract_dataset: outside={outside!r}; expected 'error', 'zero' or "
                       "'nan'", ds)
    name = other.attrs.get("source_file") or other.attrs.get("title") or "dataset"
    clean = other.copy()
    clean[SIGNAL] = other[SIGNAL].where(fit_mask(other))
    if all(np.array_equal(ds[d].values, other[d].values) for d in (TIME_DIM, SPECTRAL_DIM)):
        ref, how = clean[SIGNAL].values, "same grid"
    else:
        ref = _interp2(clean, ds[TIME_DIM].values, ds[SPECTRAL_DIM].values)
        how = "interpolated onto this grid"
    valid = np.isfinite(ds[SIGNAL].values) & fit_mask(ds)
    gap = np.isnan(ref) & valid
    n_out = int(gap.sum())
    if n_out and outside == "error":
        t, w = other[TIME_DIM].values, other[SPECTRAL_DIM].values
        raise _problem(
            f"subtract_dataset: {name} covers delays {_g(t.min())}…{_g(t.max())} ps and "
            f"wavelengths {_g(w.min())}…{_g(w.max())} nm, but {n_out} valid cell(s) of this "
            f"map ({_g(ds[TIME_DIM].values.min())}…{_g(ds[TIME_DIM].values.max())} ps, "
            f"{_g(ds[SPECTRAL_DIM].values.min())}…{_g(ds[SPECTRAL_DIM].values.max())} nm) lie "
            "outside it; use outside='zero' (subtract nothing there, e.g. after the artefact "
            "is over: CLI --solvent-outside zero) or crop the map to the solvent's range", ds)
    if outside == "zero":
        ref = np.where(np.isnan(ref), 0.0, ref)
    new = ds[SIGNAL].values - scale * ref
    out = ds.copy()
    out[SIGNAL] = ((TIME_DIM, SPECTRAL_DIM), new, dict(ds[SIGNAL].attrs))
    lost = int((valid & ~np.isfinite(new)).sum())
    if valid.sum() and lost > unusable_warning * valid.sum():
        from .errors import warn_caller

        warn_caller(f"subtract_dataset: {lost} of {int(valid.sum())} valid cells "
                    f"({100 * lost / valid.sum():.0f} %) became NaN because {name} does not "
                    "cover them; a fit would use only the rest. Use outside='zero' or crop "
                    "the map to the solvent's range")
    note = {"zero": f"; {n_out} cell(s) outside it left unchanged (outside='zero')",
            "nan": f"; {n_out} cell(s) outside it set to NaN", "error": ""}[outside]
    return with_history(out, f"subtract_dataset: {_g(scale)} × {name} ({how})"
                        + (note if n_out else ""))


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
    rms_ps: float  # RMS residual (ps) of the kept onsets about the polynomial

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


# --- the option-driven chain ------------------------------------------------------------------

PREPROCESS_OPTIONS = ("bad_values", "merge_duplicate_delays", "wavelength_range", "solvent",
                      "solvent_scale", "solvent_outside", "chirp", "background_before",
                      "time_range", "exclude")
"""Keys of the preprocessing options (model file ``[preprocess]``, CLI), in the order applied."""


@dataclass(frozen=True)
class Preprocessed:
    """What :func:`prepare_steps` did to one dataset.

    ``raw``: the map before background, chirp and cropping (bad values masked, duplicate
    delays merged); ``data``: the prepared map; ``chirp``: polynomial coefficients
    (``t0(λ) = numpy.polyval(chirp, λ/nm)`` ps, highest power first) or None; ``chirp_source``:
    ``"file <path>"``, ``"given"`` or ``"auto"``; ``estimate``: the :class:`ChirpEstimate` of
    ``chirp = "auto"`` (onsets, kept onsets, rms); ``onsets``: half-maximum onsets (ps) of the
    background-subtracted raw map per wavelength (NaN where none), for every chirp source;
    ``background_before``: ps relative to each wavelength's time zero, or None.
    """

    raw: xr.Dataset
    data: xr.Dataset
    chirp: np.ndarray | None
    chirp_source: str | None
    estimate: ChirpEstimate | None
    onsets: xr.DataArray | None
    background_before: float | None
    options: dict

    @property
    def history(self) -> list[str]:
        """The processing steps of the prepared map, oldest first."""
        from .dataset import history

        return history(self.data)

    def record(self) -> dict:
        """JSON-able record (:func:`preprocessing_record` of the prepared map)."""
        return preprocessing_record(self.data)


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in o]
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, xr.Dataset):
        return f"<dataset {o.attrs.get('source_file') or 'in memory'}>"
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return o


def chirp_rms(coeffs, onsets: xr.DataArray, used=None, *, n_sigma: float = 3.0
              ) -> tuple[float | None, int]:
    """RMS (ps) of ``onsets`` about the chirp polynomial and the number of onsets it uses.

    ``used`` selects the onsets (those kept by :func:`estimate_chirp`); without it, onsets
    farther than ``n_sigma`` robust standard deviations (1.4826 × MAD) from the polynomial are
    left out (zero crossings of ΔA, scatter), as :func:`estimate_chirp` does.
    """
    w, y = onsets[SPECTRAL_DIM].values, onsets.values
    keep = np.isfinite(y) if used is None else np.asarray(used, bool) & np.isfinite(y)
    if not keep.any():
        return None, 0
    r = y - np.polyval(coeffs, w)
    if used is None:
        mad = 1.4826 * np.median(np.abs(r[keep]))
        keep &= np.abs(r) <= max(n_sigma * mad, 1e-12)
    return float(np.sqrt(np.mean(r[keep] ** 2))), int(keep.sum())


def _chirp_coeffs(chirp, base_dir):
    if isinstance(chirp, (str, Path)) and str(chirp) != "auto":
        path = Path(base_dir or ".") / chirp  # relative to base_dir; an absolute path stays
        return read_chirp_file(path), f"file {path}"
    return np.atleast_1d(np.asarray(chirp, float)), "given"


def _subtract_solvent(ds: xr.Dataset, o: dict, base_dir) -> xr.Dataset:
    """The ``solvent`` option: read the scan (path relative to ``base_dir``), mask its bad
    values, merge its repeated delays, subtract ``solvent_scale`` × it on the raw grid (the
    artefact is chirped like the sample), ``solvent_outside`` as in :func:`subtract_dataset`."""
    from .io import load_ta

    solvent = o["solvent"]
    if isinstance(solvent, (str, Path)):
        solvent = load_ta(Path(base_dir or ".") / solvent)
    solvent = mask_bad_values(solvent)
    if np.any(np.diff(solvent[TIME_DIM].values) == 0):
        solvent = merge_duplicate_delays(solvent)
    return subtract_dataset(ds, solvent, scale=float(o.get("solvent_scale", 1.0)),
                            outside=str(o.get("solvent_outside", "error")))


READ_OPTIONS = ("format", "time_unit", "spectral_unit", "signal_units", "orientation",
                "delimiter", "decimal", "check_axes")
"""Reader overrides a preprocessing ``read`` table may hold (:func:`hotcarrier.io.load_ta`)."""


def read_options(options: dict | None) -> dict:
    """The reader overrides of preprocessing ``options`` (their ``read`` table, e.g.
    ``{"time_unit": "fs"}``), as keyword arguments of :func:`hotcarrier.io.load_ta`."""
    return dict((options or {}).get("read") or {})


def prepare_steps(ds: xr.Dataset, options: dict | None = None, *,
                  base_dir: Path | None = None) -> Preprocessed:
    """Apply the preprocessing ``options`` to one TA dataset and keep what was done.

    Options (all optional, :data:`PREPROCESS_OPTIONS`, applied in this order):
    ``bad_values`` (mask ``|signal| > X`` plus the KiMoPack sentinel),
    ``merge_duplicate_delays`` (default True), ``wavelength_range`` [lo, hi] nm (kept from
    here on), ``solvent`` (a solvent / coherent-artefact scan, path relative to ``base_dir``
    or a dataset, subtracted × ``solvent_scale`` (default 1) on the raw grid;
    ``solvent_outside``: "error" (default), "zero" or "nan" for the cells the scan does not
    cover, see :func:`subtract_dataset`), ``chirp`` (file path relative to ``base_dir``,
    coefficient list, or ``"auto"``: :func:`estimate_chirp` on the map after a provisional
    background), ``background_before`` (ps: subtract, per wavelength, the mean of the delays
    before that wavelength's own time zero + this value: the background is taken *after* the
    chirp is known, so blue wavelengths whose pump arrives early keep their signal), then the
    chirp correction, ``time_range`` [lo, hi] ps (corrected delays), ``exclude`` list of
    closed [lo, hi] nm bands (dropped).
    """
    o = dict(options or {})
    if o.get("bad_values") is not None:
        ds = mask_bad_values(ds, threshold=float(o["bad_values"]))
    if o.get("merge_duplicate_delays", True) and np.any(np.diff(ds[TIME_DIM].values) == 0):
        ds = merge_duplicate_delays(ds)
    if o.get("wavelength_range") is not None:  # first: later steps see only this band
        ds = crop(ds, wavelength=tuple(o["wavelength_range"]))
    if o.get("solvent") is not None:
        ds = _subtract_solvent(ds, o, base_dir)
    raw = ds
    before = o.get("background_before")
    before = None if before is None else float(before)
    chirp, source, est = o.get("chirp"), None, None
    coeffs = None
    if chirp is not None:
        if isinstance(chirp, str) and chirp == "auto":  # onsets after a provisional background
            est = estimate_chirp(ds if before is None else subtract_background(ds, before=before))
            coeffs, source = est.coeffs, "auto"
            ds = with_history(ds, f"estimate_chirp: {est}")
        else:
            coeffs, source = _chirp_coeffs(chirp, base_dir)
    if before is not None:
        ds = subtract_background(ds, before=before, chirp=coeffs)
    onsets = None
    if coeffs is not None:
        onsets = est.onsets if est is not None else find_onsets(ds)
        ds = chirp_correct(ds, coeffs)
    if o.get("time_range") is not None:  # delays of the corrected map: after the chirp
        ds = crop(ds, delay=tuple(o["time_range"]))
    for lo, hi in o.get("exclude", []) or []:
        ds = exclude_band(ds, float(lo), float(hi))
    ds = ds.copy(deep=False)  # new attrs: the input stays untouched
    ds.attrs = dict(ds.attrs)
    if coeffs is not None:
        rms, n = chirp_rms(coeffs, onsets, None if est is None else est.used)
        ds.attrs.update(chirp_coefficients=np.asarray(coeffs, float), chirp_source=source,
                        chirp_rms_ps=np.nan if rms is None else rms, chirp_onsets_used=n)
    ds.attrs["preprocess_options"] = json.dumps(_jsonable(o))
    return Preprocessed(raw, ds, coeffs, source, est, onsets, before, o)


def preprocessing_record(ds: xr.Dataset) -> dict:
    """JSON-able record of how ``ds`` was prepared (from its attrs, see :func:`prepare`):
    ``options``, ``history`` (steps, oldest first), ``chirp_coefficients`` (highest power
    first, ps at λ/nm, or None), ``chirp_source``, ``chirp_rms_ps`` (rms of the half-maximum
    onsets about the polynomial) and ``chirp_onsets_used``."""
    from .dataset import history

    a = ds.attrs
    c = a.get("chirp_coefficients")
    rms = a.get("chirp_rms_ps")
    return {"options": json.loads(a.get("preprocess_options", "{}")), "history": history(ds),
            "chirp_coefficients": None if c is None else [float(x) for x in np.atleast_1d(c)],
            "chirp_source": a.get("chirp_source"),
            "chirp_rms_ps": None if rms is None or not np.isfinite(rms) else float(rms),
            "chirp_onsets_used": None if c is None else int(a.get("chirp_onsets_used", 0))}


def prepare(ds: xr.Dataset, options: dict | None = None, *, base_dir: Path | None = None
            ) -> xr.Dataset:
    """The prepared map of :func:`prepare_steps` (its history in ``attrs['history']``, the
    chirp polynomial in ``attrs['chirp_coefficients']``)."""
    return prepare_steps(ds, options, base_dir=base_dir).data

"""Residual SVD of a fit: is structure left in the residual map, or only noise?

For an m × n matrix of independent Gaussian noise of standard deviation σ the singular
values fill the Marchenko–Pastur bulk, whose upper edge is σ(√m + √n): no noise singular
value lies far above it. σ is estimated from the *median* singular value, which a few
structured components barely move (Gavish & Donoho 2014, IEEE Trans. Inf. Theory 60, 5040).
A residual singular value above the optimal hard threshold of the same paper (≈ 1.15× the
edge for a square map) is structure that the model did not explain.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import xarray as xr

from ..dataset import SPECTRAL_DIM, TIME_DIM, make_ta_dataset
from ..svd import svd

__all__ = ["residual_svd", "mp_median", "noise_verdict"]


@lru_cache(maxsize=64)
def mp_median(beta: float) -> float:
    """Median of the Marchenko–Pastur law of aspect ratio ``beta`` = m/n ≤ 1 (unit variance).

    Bisection on the closed-form distribution function (the integral of
    √((b − x)(x − a))/(2πβx) from a = (1 − √β)² to x, written with arctangents so that it
    keeps full precision at small β): exact to rounding, no quadrature.
    """
    a, b = (1 - beta**0.5) ** 2, (1 + beta**0.5) ** 2

    def cdf(x):
        u, v = x - a, b - x
        return (math.sqrt(u * v) + (a + b) * math.atan2(math.sqrt(u), math.sqrt(v))
                - 2 * math.sqrt(a * b) * math.atan2(math.sqrt(b * u), math.sqrt(a * v))
                ) / (2 * math.pi * beta)

    lo, hi = a, b
    while hi - lo > 4e-16 * hi:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return 0.5 * (lo + hi)


def noise_verdict(s, m: int, n: int) -> dict:
    """Noise level and verdict from the singular values ``s`` of an m × n residual.

    Returns ``sigma`` (noise standard deviation, signal unit), ``edge`` = σ(√m + √n),
    ``threshold`` (Gavish–Donoho optimal hard threshold), ``ratio`` = s / edge,
    ``n_structured`` (leading values above the threshold) and ``verdict`` (text).
    """
    s = np.asarray(s, float)
    small, large = sorted((m, n))
    beta = small / large
    sigma = float(np.median(s[:small]) / np.sqrt(large * mp_median(beta)))
    edge = sigma * (np.sqrt(m) + np.sqrt(n))
    lam = np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta**2 + 14 * beta + 1)))
    threshold = lam * np.sqrt(large) * sigma
    ratio = s / edge if edge > 0 else np.full(s.shape, np.inf)
    above = s > threshold
    k = int(np.argmin(above)) if not above.all() else above.size
    if k == 0:
        text = (f"no structure left: the largest residual singular value is {ratio[0]:.2f}× "
                f"the noise level (threshold {threshold / edge:.2f}×)")
    else:
        text = (f"structure left: the first residual component carries {ratio[0]:.1f}× the "
                f"noise level ({k} component(s) above the threshold {threshold / edge:.2f}×): "
                "a component is missing or the model misses a feature")
    return {"sigma": sigma, "edge": float(edge), "threshold": float(threshold),
            "ratio": ratio, "n_structured": k, "verdict": text}


def residual_svd(residual: xr.DataArray, weight: xr.DataArray | None = None, *,
                 n_components: int = 10) -> xr.Dataset:
    """SVD of a residual map (data − fit; NaN: cells not fitted) with a noise verdict.

    ``weight`` (optional) multiplies the residual (1/σ per cell makes the noise level ≈ 1).
    Returns ``singular_value`` and ``ratio`` (s / noise edge) over ``rank`` (all), ``lsv``
    (delay, component) and ``rsv`` (component, wavelength) for the first ``n_components``;
    attrs ``noise_sigma``, ``noise_edge``, ``noise_threshold``, ``noise_n_structured``,
    ``noise_verdict`` (see :func:`noise_verdict`) and ``shape``. The dims keep their names.
    """
    tdim, wdim = residual.dims
    r = residual.values * (1.0 if weight is None else weight.transpose(tdim, wdim).values)
    out = svd(make_ta_dataset(residual[tdim].values, residual[wdim].values, r))
    m, n = out.sizes[TIME_DIM], out.sizes[SPECTRAL_DIM]
    s = out["singular_value"].values
    v = noise_verdict(s, m, n)
    k = min(n_components, out.sizes["component"])
    out = out.isel(component=slice(0, k)).rename({TIME_DIM: tdim, SPECTRAL_DIM: wdim})
    out["singular_value"] = ("rank", s, {"units": residual.attrs.get("units", "")})
    out["ratio"] = ("rank", v.pop("ratio"), {"long_name": "singular value / noise edge"})
    out.attrs.update({f"noise_{key}": val for key, val in v.items()}, shape=[m, n])
    return out

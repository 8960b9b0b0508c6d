"""Singular value decomposition of a TA map: a first look at its rank."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, fit_mask

__all__ = ["svd"]


def svd(ds: xr.Dataset, n_components: int | None = None) -> xr.Dataset:
    """SVD of the signal matrix, ``signal ≈ Σ_k lsv[:, k] · s[k] · rsv[k, :]``.

    Delay rows and wavelength columns without any valid cell are dropped; the remaining NaN
    or masked cells are set to 0 (their count is attr ``n_filled``). Keeps ``n_components``
    (default all): ``singular_value`` (component), ``lsv`` (delay, component), ``rsv``
    (component, wavelength).
    """
    ds = ds.transpose(TIME_DIM, SPECTRAL_DIM, ...)
    ok = fit_mask(ds)
    rows, cols = ok.any(axis=1), ok.any(axis=0)
    m = np.where(ok, ds[SIGNAL].values, 0.0)[rows][:, cols]
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    if n_components is not None and (isinstance(n_components, bool) or not isinstance(
            n_components, (int, np.integer)) or n_components < 1):
        from .errors import OptionError

        raise OptionError(f"n_components = {n_components!r}: expected a whole number >= 1 "
                          "(or None for all)")
    k = s.size if n_components is None else min(int(n_components), s.size)
    comp = np.arange(k)
    return xr.Dataset(
        {"singular_value": (("component",), s[:k]),
         "lsv": ((TIME_DIM, "component"), u[:, :k]),
         "rsv": (("component", SPECTRAL_DIM), vt[:k])},
        coords={"component": comp, TIME_DIM: ds[TIME_DIM].values[rows],
                SPECTRAL_DIM: ds[SPECTRAL_DIM].values[cols]},
        attrs={"n_filled": int((~ok)[rows][:, cols].sum())},
    )

"""Bootstrap uncertainty of a single fit, computed as one batch of refits.

Two resampling schemes, both keeping the array shapes (so every resample is an item of one
compiled batch):

* ``"residual"`` — residual bootstrap: y* = ŷ + e*, with e* drawn with replacement from the
  residuals y − ŷ of the cells that take part in the fit (weights and masks unchanged);
* ``"wavelength"`` — case resampling of whole kinetic traces: each wavelength enters with
  a multinomial count c (Σc = W), applied as the residual weight √c, which is exactly a fit
  to the resampled set of traces (each wavelength has its own spectrum amplitudes). It keeps
  the temporal correlation of the noise within a trace; it needs several wavelengths.

Every refit starts from the original optimum. The percentile interval, standard deviation and
mean over the converged resamples are added per parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np

from .._x64 import with_x64
from ..errors import FitError, HotcarrierError
from .fit import Prepared, _fitter_for, _run, prepare_item
from .streaming import DEFAULT_CHUNK_SIZE

__all__ = ["bootstrap"]

_DROPPED = 1e-200  # squared weight of a wavelength not drawn in a resample


def _resamples(fitter, base: Prepared, theta, n: int, method: str, rng):
    """Generator of resampled items (host arrays)."""
    import jax.numpy as jnp

    obj = fitter.objective
    arr_j = jax.tree.map(jnp.asarray, base.arrays)
    with jax.enable_x64(True):
        det = obj.details(jnp.asarray(theta), arr_j)
    ys = [np.asarray(y) for y in base.arrays["y"]]
    ws = [np.asarray(w) for w in base.arrays["w"]]
    # model prediction ŷ per dataset (W, T_d), split from the block groups
    if obj.link:
        fits = np.split(np.asarray(det[0][1]), np.cumsum([y.shape[1] for y in ys])[:-1], axis=1)
    else:
        fits = [np.asarray(det[d][1]) for d in range(len(ys))]
    used = [w > 0 for w in ws]
    resid = np.concatenate([(y - f)[u] for y, f, u in zip(ys, fits, used)])
    if resid.size == 0:
        raise FitError("bootstrap: the fit has no data points")
    for b in range(n):
        arrays = jax.tree.map(np.array, base.arrays)
        n_data = base.n_data
        if method == "residual":
            for d in range(len(ys)):
                arrays["y"][d] = np.zeros_like(ys[d])
                arrays["y"][d][used[d]] = fits[d][used[d]] + rng.choice(
                    resid, size=int(used[d].sum()), replace=True)
        else:
            groups = [list(range(len(ys)))] if obj.link else [[d] for d in range(len(ys))]
            n_data = 0
            for g in groups:
                W = ys[g[0]].shape[0]
                c = rng.multinomial(W, np.full(W, 1.0 / W))
                # a wavelength drawn 0 times keeps a negligible weight (1e-100) instead of 0:
                # its residual is then ~1e-100 of the data, while a column of exactly zero
                # weight gives varpro's QR a NaN gradient (sqrt at 0)
                cw = np.sqrt(np.where(c > 0, c, _DROPPED))
                for d in g:  # rows scaled per wavelength: separable weights stay separable
                    arrays["w"][d] = ws[d] * cw[:, None]
                    n_data += int(np.sum((ws[d] > 0) & (c > 0)[:, None]))
        yield Prepared(f"sample{b}", arrays, n_data, base.wavelengths, shared=base.shared)


@with_x64
def bootstrap(model, data, *, n_samples: int = 200, method: str = "residual", seed: int = 0,
              level: float = 0.6827, starts: Sequence[Mapping[str, float]] = (),
              n_starts: int = 1, chunk_size: int = DEFAULT_CHUNK_SIZE, devices=None,
              progress: Callable | None = None, max_iter: int = 200, gtol: float = 1e-10,
              ftol: float = 1e-10):
    """Bootstrap distribution of the parameters of one fit, as a batch of refits.

    Parameters
    ----------
    model : TargetModel
    data : xarray.Dataset or tuple of them
        The dataset(s) of the single fit.
    n_samples : int
        Number of resamples.
    method : {"residual", "wavelength"}
        See the module docstring.
    seed : int
        Seed of the resampling.
    level : float
        Central probability of the percentile interval (0.6827 = ±1σ equivalent).
    starts, n_starts : multi-start of the original fit (the refits start at its optimum).
    chunk_size, devices, progress, max_iter, gtol, ftol : as in :func:`fit_batch`.

    Returns
    -------
    xarray.Dataset
        The batch Dataset of the resamples (``batch`` = resample), plus per ``param``:
        ``estimate``/``estimate_stderr`` (the original fit), ``boot_mean``, ``boot_std``,
        ``boot_low``, ``boot_high`` (percentile interval at ``level``, converged resamples);
        attrs ``method``, ``level``, ``n_converged``.
    """
    if method not in ("residual", "wavelength"):
        raise HotcarrierError(f"bootstrap method {method!r}; expected 'residual' or "
                              "'wavelength'")
    if n_samples < 2:
        raise HotcarrierError(f"bootstrap needs n_samples >= 2 (got {n_samples})")
    base = prepare_item(model, data, "data")
    if base.arrays is None:
        raise HotcarrierError(f"bootstrap: the data cannot be fitted: {base.error}")
    opts = dict(max_iter=max_iter, gtol=gtol, ftol=ftol, stderr=True, spectra=True)
    # the original fit runs padded to the resamples' chunk size (same options), so that with
    # a single start both share one compiled program
    first = _run(model, iter([base]), int(n_samples), starts=starts, n_starts=n_starts,
                 start_factor=3.0, seed=seed, chunk_size=chunk_size, devices=devices,
                 progress=None, attrs={"source": "bootstrap (original fit)"}, **opts)
    if not bool(first["converged"].values[0]):
        raise FitError(f"bootstrap: the original fit did not converge (status "
                       f"{int(first['status'].values[0])}); fix the fit first")
    theta = first["theta"].values[0]
    fitter = _fitter_for(model, base, devices, dict(opts))
    rng = np.random.default_rng(seed)
    items = _resamples(fitter, base, theta, int(n_samples), method, rng)
    ds = _run(model, items, int(n_samples), starts=(), n_starts=1, start_factor=1.0, seed=0,
              chunk_size=chunk_size, devices=devices, progress=progress, theta0s=theta[None],
              attrs={"source": "bootstrap", "method": method, "level": float(level),
                     "seed": int(seed)}, **opts)
    ok = ds["converged"].values
    vals = ds["value"].values[ok]
    q = (1.0 - level) / 2.0
    ds["estimate"] = ("param", first["value"].values[0])
    ds["estimate_stderr"] = ("param", first["stderr"].values[0])
    if vals.shape[0]:
        ds["boot_mean"] = ("param", vals.mean(axis=0))
        ds["boot_std"] = ("param", vals.std(axis=0, ddof=1) if vals.shape[0] > 1
                          else np.full(vals.shape[1], np.nan))
        ds["boot_low"] = ("param", np.quantile(vals, q, axis=0))
        ds["boot_high"] = ("param", np.quantile(vals, 1.0 - q, axis=0))
    else:
        for k in ("boot_mean", "boot_std", "boot_low", "boot_high"):
            ds[k] = ("param", np.full(ds.sizes["param"], np.nan))
    ds.attrs["n_converged"] = int(ok.sum())
    return ds

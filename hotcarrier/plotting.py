"""Overview figure of a fit result (matplotlib, imported lazily).

The figure is a :class:`matplotlib.figure.Figure` saved with ``savefig``: no pyplot, so the
process's matplotlib backend is never chosen or changed here and no figure stays open.

Time axes are linear–log: linear within ±``linthresh`` ps of time zero, logarithmic beyond
(matplotlib's ``symlog``), so the rise and the nanosecond tail are both visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["overview", "trace_overview"]


def _suffixes(ds):
    names = [v for v in ds.data_vars if v == "data" or v.startswith("data_")]
    return [n[len("data"):] for n in names]


def overview(result, path, *, linthresh: float = 1.0, n_traces: int = 4, dpi: int = 110) -> Path:
    """Write the overview figure of ``result`` (FitResult) to ``path`` atomically.

    Panels per dataset: data map, residual map, traces with fits at ``n_traces``
    wavelengths; then species-associated (and decay-associated) spectra and populations.

    Parameters
    ----------
    result : FitResult
    path : str or Path
        Output file (format from the extension, e.g. ``.png``).
    linthresh : float, ps
        Half-width of the linear part of the time axis.
    n_traces : int
        Number of kinetic traces shown.
    dpi : int

    Returns
    -------
    Path
    """
    from matplotlib.figure import Figure  # no pyplot: no backend chosen, no global figure state

    from .io.atomic import atomic_path

    ds = result.dataset
    sfx = _suffixes(ds)
    nrow = len(sfx) + 1
    fig = Figure(figsize=(15, 4.0 * nrow))
    axes = fig.subplots(nrow, 3, squeeze=False)
    for r, s in enumerate(sfx):
        data, res = ds["data" + s], ds["residual" + s]
        tdim, wdim = data.dims
        t, wl = ds[tdim].values, ds[wdim].values
        vmax = float(np.nanpercentile(np.abs(data.values), 99.5)) or 1.0
        for ax, arr, title in ((axes[r, 0], data.values, "data"),
                               (axes[r, 1], res.values, "residual")):
            lim = vmax if title == "data" else float(np.nanpercentile(np.abs(res.values), 99.5)) or 1.0
            m = ax.pcolormesh(wl, t, arr, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
            ax.set_yscale("symlog", linthresh=linthresh)
            ax.set_xlabel("wavelength (nm)")
            ax.set_ylabel("delay (ps)")
            ax.set_title(f"{title}{s}")
            fig.colorbar(m, ax=ax, label=data.attrs.get("units", ""))
        ax = axes[r, 2]
        amp = np.nanmax(np.abs(data.values), axis=0)
        picks = np.unique(np.linspace(0, wl.size - 1, n_traces + 2).astype(int)[1:-1])
        if np.all(np.isfinite(amp)):
            picks = np.unique(np.r_[picks[:-1], int(np.nanargmax(amp))])
        for j in picks:
            line, = ax.plot(t, data.values[:, j], ".", ms=3, label=f"{wl[j]:.0f} nm")
            ax.plot(t, ds["fit" + s].values[:, j], "-", color=line.get_color(), lw=1.2)
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xlabel("delay (ps)")
        ax.set_title(f"traces and fit{s}")
        ax.legend(fontsize=8)
    s0 = sfx[0]
    ax = axes[-1, 0]
    wdim = ds["data" + s0].dims[1]
    for sp in ds["species"].values:
        ax.plot(ds[wdim].values, ds["sas" + s0].sel(species=sp).values, label=str(sp))
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_title("species-associated spectra")
    ax.set_xlabel("wavelength (nm)")
    ax.legend(fontsize=8)
    ax = axes[-1, 1]
    if "das" + s0 in ds:
        for k in ds["decay"].values:
            tau = float(ds["decay_lifetime"].values[k])
            ax.plot(ds[wdim].values, ds["das" + s0].sel(decay=k).values, label=f"τ = {tau:.3g} ps")
        ax.set_title("decay-associated spectra")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "DAS not defined\n(degenerate rates)", ha="center", va="center",
                transform=ax.transAxes)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("wavelength (nm)")
    ax = axes[-1, 2]
    tdim = ds["population" + s0].dims[1]
    for sp in ds["species"].values:
        ax.plot(ds[tdim].values, ds["population" + s0].sel(species=sp).values, label=str(sp))
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlabel("delay (ps)")
    ax.set_title("populations")
    ax.legend(fontsize=8)
    summ = result.summary()
    fig.suptitle(f"{summ['model'].get('name', '')}: cost {summ['cost']:.6g}, "
                 f"RMSE {summ['rmse'] or float('nan'):.3g}, "
                 f"{'converged' if summ['converged'] else 'NOT converged'}", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path


def trace_overview(result, path, *, linthresh: float = 1.0, dpi: int = 90) -> Path:
    """Write the figure of a physical-model fit (``result.dataset`` with dim ``row``).

    Panels: the sample traces with their fits, the calibration reference, and the visible
    map at three wavelengths when it was fitted; the title gives Φ_inj with its interval.
    Uses :class:`matplotlib.figure.Figure` (no pyplot, no backend is chosen or changed).
    """
    from matplotlib.figure import Figure

    from .io.atomic import atomic_path

    ds = result.dataset
    units = ds["signal"].attrs.get("units", "")
    nvis = "visible_fit" in ds
    fig = Figure(figsize=(10 + 5 * nvis, 4))
    axes = fig.subplots(1, 2 + nvis)
    roles = ds["role"].values if "role" in ds else np.full(ds.sizes["row"], "sample")
    for ax, role, title in ((axes[0], "sample", "sample (mid-IR)"),
                            (axes[1], "reference", "reference (CdS, band gap)")):
        for name in dict.fromkeys(ds["trace"].values[roles == role]):
            sel = (ds["trace"].values == name) & (roles == role)
            t = ds["delay"].values[sel]
            (line,) = ax.plot(t, ds["fit"].values[sel], "-", lw=1.2, label=str(name))
            ax.plot(t, ds["signal"].values[sel], ".", ms=3, alpha=0.5, color=line.get_color())
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlabel("delay (ps)")
        ax.set_ylabel(f"ΔA ({units})")
        ax.set_title(title)
        if ax.lines:
            ax.legend(fontsize=7)
    if nvis:
        ax = axes[2]
        wl = ds["wavelength"].values
        for target in (495.0, 560.0, 600.0):
            j = int(np.argmin(np.abs(wl - target)))
            t = ds["delay_vis"].values
            (line,) = ax.plot(t, ds["visible_fit"].values[:, j], "-", lw=1.2,
                              label=f"{wl[j]:.0f} nm")
            ax.plot(t, ds["visible_signal"].values[:, j], ".", ms=3, alpha=0.5,
                    color=line.get_color())
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlabel("delay (ps)")
        ax.set_title("visible (chirped, fitted spectra)")
        ax.legend(fontsize=7)
    d = result.derived.get("injection_quantum_yield")
    if d:
        lo, hi = (float("nan") if c is None else c for c in d["ci95"])
        se = float("nan") if d["stderr"] is None else d["stderr"]
        fig.suptitle(f"{result.summary_dict['model'].get('name', '')}: Φ_inj = "
                     f"{d['value']:.4f} ± {se:.4f} (95 % interval {lo:.4f}–{hi:.4f})")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path

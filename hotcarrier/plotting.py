"""Overview figure of a fit result (matplotlib, imported lazily).

The figure is a :class:`matplotlib.figure.Figure` saved with ``savefig``: no pyplot, so the
process's matplotlib backend is never chosen or changed here and no figure stays open.

Time axes are linear–log: linear within ±``linthresh`` ps of time zero, logarithmic beyond
(matplotlib's ``symlog``), so the rise and the nanosecond tail are both visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["overview", "trace_overview", "lifetime_density_figure", "save_figure"]


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the extension, default png); a figure
    without a layout engine is laid out with ``tight_layout`` first."""
    from .io.atomic import atomic_path

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    return path


def _delay_axis(ax, linthresh: float) -> None:
    """Linear–log delay axis (x)."""
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlabel("delay (ps)")


def overview(result, path, *, linthresh: float = 1.0, n_traces: int = 4, dpi: int = 110) -> Path:
    """Write the overview figure of ``result`` (FitResult) to ``path`` atomically.

    Panels per dataset: data and residual maps, traces with fits at ``n_traces`` wavelengths,
    residual SVD; then SAS, DAS, populations and the residual's left singular vectors.
    ``linthresh`` (ps) is the half-width of the linear part of the time axes; the format
    follows the extension of ``path``.
    """
    from matplotlib.figure import Figure  # no pyplot: no backend chosen, no global figure state

    ds = result.dataset
    sfx = [v[len("data"):] for v in map(str, ds.data_vars) if v == "data" or v.startswith("data_")]
    timefeat = any(v in ds for v in ("doas" + sfx[0], "t0_shift" + sfx[0]))
    nrow = len(sfx) + 1 + timefeat
    fig = Figure(figsize=(20, 4.0 * nrow))
    axes = fig.subplots(nrow, 4, squeeze=False)
    for r, s in enumerate(sfx):
        data, res = ds["data" + s], ds["residual" + s]
        tdim, wdim = data.dims
        t, wl = ds[tdim].values, ds[wdim].values
        for ax, arr, title in ((axes[r, 0], data.values, "data"),
                               (axes[r, 1], res.values, "residual")):
            lim = float(np.nanpercentile(np.abs(arr), 99.5)) or 1.0
            m = ax.pcolormesh(wl, t, arr, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
            ax.set_yscale("symlog", linthresh=linthresh)
            ax.set(xlabel="wavelength (nm)", ylabel="delay (ps)", title=f"{title}{s}")
            fig.colorbar(m, ax=ax, label=data.attrs.get("units", ""))
        ax = axes[r, 2]
        amp = np.nanmax(np.abs(data.values), axis=0)
        picks = np.unique(np.linspace(0, wl.size - 1, n_traces + 2).astype(int)[1:-1])
        if np.all(np.isfinite(amp)):
            picks = np.unique(np.r_[picks[:-1], int(np.nanargmax(amp))])
        for j in picks:
            line, = ax.plot(t, data.values[:, j], ".", ms=3, label=f"{wl[j]:.0f} nm")
            ax.plot(t, ds["fit" + s].values[:, j], "-", color=line.get_color(), lw=1.2)
        _delay_axis(ax, linthresh)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_title(f"traces and fit{s}")
        ax.legend(fontsize=8)
        _residual_svd_panel(axes[r, 3], result.residual_svd(s[1:] or None), s)
    s0 = sfx[0]
    if timefeat:
        _time_feature_panels(axes[-1], ds, s0)
        axes = axes[:-1]
    ax = axes[-1, 0]
    wdim = ds["data" + s0].dims[1]
    for sp in ds["species"].values:
        ax.plot(ds[wdim].values, ds["sas" + s0].sel(species=sp).values, label=str(sp))
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set(title="species-associated spectra", xlabel="wavelength (nm)")
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
    _delay_axis(ax, linthresh)
    ax.set_title("populations")
    ax.legend(fontsize=8)
    rsvd = result.residual_svd(s0[1:] or None)
    ax = axes[-1, 3]
    tdim = rsvd["lsv"].dims[0]
    for k in range(min(2, rsvd.sizes["component"])):
        ax.plot(rsvd[tdim].values, rsvd["lsv"].values[:, k] * float(rsvd["ratio"][k]),
                label=f"component {k + 1} (× s/edge)")
    _delay_axis(ax, linthresh)
    ax.set_title(f"residual left singular vectors{s0}")
    ax.legend(fontsize=8)
    summ = result.summary()
    fig.suptitle(f"{summ['model'].get('name', '')}: cost {summ['cost']:.6g}, "
                 f"RMSE {summ['rmse'] or float('nan'):.3g}, "
                 f"{'converged' if summ['converged'] else 'NOT converged'}", fontsize=11)
    return save_figure(fig, path, dpi)


def _time_feature_panels(axes, ds, s0):
    """DOAS amplitudes and phases, and the per-wavelength time-zero shift (when fitted)."""
    wdim = ds["data" + s0].dims[1]
    wl = ds[wdim].values
    if "doas" + s0 in ds:
        for k, label in enumerate(ds["oscillation"].values):
            f = float(ds["oscillation_frequency"][k])
            axes[0].plot(wl, ds["doas" + s0].values[k], label=f"{label}: {f:.4g} THz "
                         f"({f / 0.0299792458:.4g} cm⁻¹)")
            axes[1].plot(wl, ds["doas_phase" + s0].values[k], label=str(label))
        axes[0].set(title="damped-oscillation-associated spectra", xlabel="wavelength (nm)")
        axes[1].set(title="oscillation phase (rad)", xlabel="wavelength (nm)")
        axes[0].legend(fontsize=8)
        axes[1].legend(fontsize=8)
    if "t0_shift" + s0 in ds:
        axes[2].errorbar(wl, ds["t0_shift" + s0].values, ds["t0_shift_stderr" + s0].values,
                         fmt=".", ms=3)
        axes[2].set(title="time-zero shift (ps)", xlabel="wavelength (nm)")
    for ax in axes:
        if not ax.has_data():
            ax.set_axis_off()


def _residual_svd_panel(ax, rsvd, sfx):
    """Residual singular values over the noise edge σ(√m + √n), with the threshold."""
    k = min(15, rsvd.sizes["rank"])
    ax.semilogy(np.arange(1, k + 1), rsvd["ratio"].values[:k], "o")
    ax.axhline(1.0, color="0.5", lw=0.8, label="noise edge σ(√m+√n)")
    ax.axhline(rsvd.attrs["noise_threshold"] / rsvd.attrs["noise_edge"], color="C3", lw=0.8,
               ls="--", label="threshold")
    ax.set(xlabel="residual component", ylabel="singular value / noise edge")
    verdict = rsvd.attrs["noise_verdict"].split(":")[0]
    ax.set_title(f"residual SVD{sfx}: {verdict} ({float(rsvd['ratio'][0]):.3g}×)")
    ax.legend(fontsize=8)


def lifetime_density_figure(lda, path, *, dpi: int = 110) -> Path:
    """Write the lifetime-density map (lifetime on a log axis × wavelength), the L-curve and
    the GCV/curvature scan of :func:`hotcarrier.analysis.lifetime_density`'s result, atomically."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 4.5))
    ax, ax_l, ax_g = fig.subplots(1, 3)
    a = lda.attrs
    dens = lda["density"].values
    lim = float(np.abs(dens).max()) or 1.0
    m = ax.pcolormesh(lda["wavelength"].values, lda["lifetime"].values, dens, cmap="RdBu_r",
                      vmin=-lim, vmax=lim, shading="nearest")
    ax.set_yscale("log")
    for tau in lda["peak_lifetime"].values:
        ax.axhline(tau, color="k", lw=0.6, ls=":")
    ax.set(xlabel="wavelength (nm)", ylabel="lifetime τ (ps)",
           title=f"lifetime density ({a['method']}, α = {a['alpha']:.3g})")
    fig.colorbar(m, ax=ax, label=lda["density"].attrs.get("units", ""))
    al = lda["alpha"].values
    ax_l.loglog(lda["residual_norm"].values, lda["penalty"].values, ".-", ms=3)
    for key, mk in (("alpha_lcurve", "o"), ("alpha_gcv", "s")):
        i = int(np.argmin(np.abs(al - a[key])))
        ax_l.loglog(lda["residual_norm"].values[i], lda["penalty"].values[i], mk, mfc="none",
                    ms=9, label=f"{key[6:]}: α = {a[key]:.3g}")
    ax_l.set(xlabel="residual norm ‖KA − D‖", title="L-curve",
             ylabel=lda["penalty"].attrs.get("long_name", "penalty"))
    ax_l.legend(fontsize=8)
    ax_g.loglog(al, lda["gcv"].values, label="GCV")
    ax_g.axvline(a["alpha"], color="k", lw=0.8, ls=":", label=f"chosen ({a['criterion']})")
    ax_g.set(xlabel="α", ylabel="GCV")
    ax_c = ax_g.twinx()
    ax_c.semilogx(al, lda["curvature"].values, color="C1", label="L-curve curvature")
    ax_c.set_ylabel("curvature")
    ax_g.legend(fontsize=8, loc="upper left")
    ax_c.legend(fontsize=8, loc="upper right")
    return save_figure(fig, path, dpi)


def trace_overview(result, path, *, linthresh: float = 1.0, dpi: int = 90) -> Path:
    """Write the figure of a physical-model fit (``result.dataset`` with dim ``row``).

    Panels: the sample traces with their fits, the calibration reference, and the visible
    map at three wavelengths when it was fitted; the title gives Φ_inj with its interval.
    """
    from matplotlib.figure import Figure

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
        _delay_axis(ax, linthresh)
        ax.set(ylabel=f"ΔA ({units})", title=title)
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
        _delay_axis(ax, linthresh)
        ax.set_title("visible (chirped, fitted spectra)")
        ax.legend(fontsize=7)
    d = result.derived.get("injection_quantum_yield")
    if d:
        lo, hi = (float("nan") if c is None else c for c in d["ci95"])
        se = float("nan") if d["stderr"] is None else d["stderr"]
        fig.suptitle(f"{result.summary_dict['model'].get('name', '')}: Φ_inj = "
                     f"{d['value']:.4f} ± {se:.4f} (95 % interval {lo:.4f}–{hi:.4f})")
    return save_figure(fig, path, dpi)

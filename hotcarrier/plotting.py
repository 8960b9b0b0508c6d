"""Overview figure of a fit result (matplotlib, imported lazily).

The figure is a :class:`matplotlib.figure.Figure` saved with ``savefig``: no pyplot, so the
process's matplotlib backend is never chosen or changed here and no figure stays open.

Time axes are linear–log: linear within ±``linthresh`` ps of time zero, logarithmic beyond
(matplotlib's ``symlog``), so the rise and the nanosecond tail are both visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["overview", "overview_figure", "trace_overview", "lifetime_density_figure",
           "save_figure", "preprocess_figure", "trace_overview_figure", "robust_limit",
           "pick_traces", "format_lifetime",
           "SPECTRA_NAMES"]


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


def robust_limit(values, percentile: float = 99.5) -> float:
    """Symmetric colour/axis limit: the ``percentile`` of ``|values|`` (finite cells), so one
    spike or collapsed component does not flatten the rest; 1.0 when nothing is finite."""
    a = np.abs(np.asarray(values, float))
    a = a[np.isfinite(a)]
    lim = float(np.percentile(a, percentile)) if a.size else 0.0
    return lim if lim > 0 else 1.0


def _map(ax, fig, t, wl, values, *, lim=None, linthresh=1.0, label=""):
    """Signal map (wavelength × delay on a linear–log axis); NaN/masked cells grey."""
    import matplotlib as mpl

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="0.75")
    lim = robust_limit(values) if lim is None else lim
    m = ax.pcolormesh(wl, t, np.ma.masked_invalid(values), cmap=cmap, vmin=-lim, vmax=lim,
                      shading="nearest", rasterized=True)
    ax.set_yscale("symlog", linthresh=linthresh)
    ax.set(xlabel="wavelength (nm)", ylabel="delay (ps, linear–log)")
    fig.colorbar(m, ax=ax, label=label)
    return m


def preprocess_figure(steps, *, linthresh: float = 1.0):
    """Figure of what :func:`hotcarrier.preprocess.prepare_steps` did (``Preprocessed``).

    Panels: the map as read (bad cells grey) with the chirp onsets, the polynomial t0(λ) and
    the background window drawn over it; the prepared map (what is fitted; gaps at excluded
    bands, grey masked cells); its singular values; the first three left (delay) and right
    (wavelength) singular vectors; and the preprocessing history. Returns a
    :class:`matplotlib.figure.Figure` (save it with :func:`save_figure`).
    """
    from matplotlib.figure import Figure

    from .dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, fit_mask
    from .svd import svd

    raw, data = steps.raw, steps.data
    units = data[SIGNAL].attrs.get("units", "")
    fig = Figure(figsize=(18, 10), layout="constrained")
    axes = fig.subplots(2, 3)
    rt, rw = raw[TIME_DIM].values, raw[SPECTRAL_DIM].values
    rv = np.where(fit_mask(raw), raw[SIGNAL].transpose(TIME_DIM, SPECTRAL_DIM).values, np.nan)
    pt, pw = data[TIME_DIM].values, data[SPECTRAL_DIM].values
    pv = np.where(fit_mask(data), data[SIGNAL].transpose(TIME_DIM, SPECTRAL_DIM).values, np.nan)
    lim = robust_limit(pv)
    ax = axes[0, 0]
    _map(ax, fig, rt, rw, rv, lim=lim, linthresh=linthresh, label=f"ΔA ({units})")
    n_bad = int((~fit_mask(raw)).sum())
    title = f"as read ({n_bad} masked cell(s) grey)"
    if steps.chirp is not None:
        wl = np.linspace(rw.min(), rw.max(), 400)
        t0 = np.polyval(steps.chirp, wl)
        src = str(steps.chirp_source or "")
        src = "file " + Path(src[5:]).name if src.startswith("file ") else src
        ax.plot(wl, t0, "k-", lw=1.5, label=f"chirp t0(λ) ({src})")
        on = steps.onsets
        if on is not None:
            y = on.values
            if steps.estimate is not None:
                used = steps.estimate.used & np.isfinite(y)
            else:  # the onsets the rms uses (robust: zero crossings of ΔA left out)
                r = y - np.polyval(steps.chirp, on[SPECTRAL_DIM].values)
                ok = np.isfinite(r)
                mad = 1.4826 * np.median(np.abs(r[ok])) if ok.any() else 0.0
                used = ok & (np.abs(r) <= max(3 * mad, 1e-12))
            ax.plot(on[SPECTRAL_DIM].values[used], y[used], ".", color="k", ms=3,
                    label="half-max onsets")
            rej = np.isfinite(y) & ~used
            if rej.any():
                ax.plot(on[SPECTRAL_DIM].values[rej], y[rej], "x", color="C1", ms=4,
                        label="onsets left out")
        rec = steps.record()
        if rec["chirp_rms_ps"] is not None:
            title += (f"\nchirp rms {rec['chirp_rms_ps']:.3g} ps about "
                      f"{rec['chirp_onsets_used']} onsets")
    if steps.background_before is not None:
        wl = np.linspace(rw.min(), rw.max(), 400)
        t0 = np.zeros_like(wl) if steps.chirp is None else np.polyval(steps.chirp, wl)
        ax.plot(wl, t0 + steps.background_before, "--", color="C2", lw=1.2,
                label=f"background window ends (t0 {steps.background_before:+g} ps)")
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right", framealpha=0.8)
    ax.set_title(title, fontsize=10)
    ax = axes[0, 1]
    _map(ax, fig, pt, _with_gaps(pw), _gap_columns(pw, pv), lim=lim, linthresh=linthresh,
         label=f"ΔA ({units})")
    ax.set_title(f"prepared: {pt.size} delays × {pw.size} wavelengths "
                 f"({int((~fit_mask(data)).sum())} masked cells)", fontsize=10)
    sv = svd(data)
    ax = axes[0, 2]
    k = min(15, sv.sizes["component"])
    ax.semilogy(np.arange(1, k + 1), sv["singular_value"].values[:k], "o")
    ax.set(xlabel="component", ylabel=f"singular value ({units})",
           title="SVD of the prepared map")
    ax = axes[1, 0]
    for j in range(min(3, k)):
        ax.plot(sv[TIME_DIM].values, sv["lsv"].values[:, j], label=f"component {j + 1}")
    _delay_axis(ax, linthresh)
    ax.set(ylabel="left singular vector", title="SVD: kinetics")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    for j in range(min(3, k)):
        w = sv[SPECTRAL_DIM].values
        ax.plot(_with_gaps(w), _gap_columns(w, sv["rsv"].values[j][None, :])[0],
                label=f"component {j + 1}")
    ax.set(xlabel="wavelength (nm)", ylabel="right singular vector", title="SVD: spectra")
    ax.legend(fontsize=8)
    ax = axes[1, 2]
    ax.axis("off")
    import textwrap

    lines = [textwrap.fill(f"{i + 1}. {h}", 80, subsequent_indent="    ")
             for i, h in enumerate(steps.history)]
    ax.text(0.0, 1.0, "preprocessing history\n" + "\n".join(lines), va="top", ha="left",
            family="monospace", fontsize=6.5, transform=ax.transAxes)
    fig.suptitle(str(data.attrs.get("source_file", "")), fontsize=11)
    return fig


def _gap_step(w: np.ndarray) -> float:
    d = np.diff(np.asarray(w, float))
    return float(np.median(d)) if d.size else 0.0


def _with_gaps(w: np.ndarray) -> np.ndarray:
    """Wavelengths with a NaN inserted wherever the spacing exceeds 2.5 × its median (an
    excluded band), so lines and maps show a gap there instead of bridging it."""
    w = np.asarray(w, float)
    step = _gap_step(w)
    if step <= 0:
        return w
    cut = np.flatnonzero(np.diff(w) > 2.5 * step)
    return np.insert(w, cut + 1, w[cut] + step) if cut.size else w


def _gap_columns(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (…, wavelength) with NaN columns where :func:`_with_gaps` inserts them."""
    w = np.asarray(w, float)
    step = _gap_step(w)
    v = np.asarray(values, float)
    if step <= 0:
        return v
    cut = np.flatnonzero(np.diff(w) > 2.5 * step)
    return np.insert(v, cut + 1, np.nan, axis=-1) if cut.size else v


def _delay_axis(ax, linthresh: float) -> None:
    """Linear–log delay axis (x)."""
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_xlabel("delay (ps)")


SPECTRA_NAMES = {"parallel": ("DAS", "decay-associated spectra"),
                 "sequential": ("EAS", "evolution-associated spectra"),
                 "target": ("SAS", "species-associated spectra")}
"""What the compartment spectra of each scheme are called (a sequential scheme's are EAS)."""


def format_lifetime(tau_ps: float, err_ps: float | None = None) -> str:
    """``τ ± σ`` in natural units (:func:`hotcarrier.units.format_time`)."""
    from .units import format_time

    return format_time(tau_ps, err_ps)


def pick_traces(wl, data, n: int = 4, *, valid=None) -> list[int]:
    """Indices of ``n`` informative wavelengths of a map (delay × wavelength).

    By amplitude (99th percentile of |ΔA|), skipping wavelengths next to an excluded band or
    the edges (pump scatter and detector edges live there) and near-duplicates: a pick must
    lie ≥ span/(3n) from the others and its normalised trace must differ from theirs
    (|correlation| < 0.97), relaxed step by step when too few qualify.
    """
    wl = np.asarray(wl, float)
    v = np.where(np.ones_like(data, bool) if valid is None else valid, data, np.nan)
    with np.errstate(all="ignore"):
        amp = np.nanpercentile(np.abs(v), 99, axis=0) if v.size else np.zeros(wl.size)
    amp = np.where(np.isfinite(amp), amp, 0.0)
    if wl.size <= n:
        return list(range(wl.size))
    step = _gap_step(wl)
    near_gap = np.zeros(wl.size, bool)
    near_gap[:2] = near_gap[-2:] = True
    for c in np.flatnonzero(np.diff(wl) > 2.5 * step):
        near_gap[max(c - 2, 0):c + 4] = True
    frac_valid = np.mean(np.isfinite(v), axis=0)
    norm = np.nan_to_num(v / np.maximum(amp, 1e-300))
    order = np.argsort(-amp)
    span = wl.max() - wl.min()
    for sep, corr in ((span / (3 * n), 0.97), (span / (6 * n), 0.995), (0.0, 1.01)):
        picks: list[int] = []
        for j in order:
            if near_gap[j] and sep > 0 or frac_valid[j] < 0.5 or amp[j] == 0:
                continue
            if any(abs(wl[j] - wl[k]) < sep for k in picks):
                continue
            if any(abs(_corr(norm[:, j], norm[:, k])) >= corr for k in picks):
                continue
            picks.append(int(j))
            if len(picks) == n:
                return sorted(picks)
    return sorted(picks) if picks else list(range(min(n, wl.size)))


def _corr(a, b) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / d) if d > 0 else 0.0


def _spectra_panel(ax, wl, curves, labels, units, title):
    """Spectra with gaps at excluded bands and a robust y-range: a curve far off the scale of
    the others (a collapsed, non-identifiable component) is drawn clipped and labelled."""
    wg = _with_gaps(wl)
    scales = [robust_limit(c, 99.0) for c in curves]
    typical = float(np.median(scales)) if scales else 1.0
    sane = [c for c, sc in zip(curves, scales) if sc <= 30 * typical]
    lim = 1.15 * max((robust_limit(c, 100.0) for c in sane), default=1.0)
    for c, lab, sc in zip(curves, labels, scales):
        if sc > 30 * typical:  # listed, not drawn: it would only cross the panel
            ax.plot([], [], ls="none", label=f"{lab}: off scale (|A| ~ {sc:.1g}), not drawn")
            continue
        ax.plot(wg, _gap_columns(wl, np.asarray(c)[None, :])[0], label=lab)
    ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set(title=title, xlabel="wavelength (nm)", ylabel=f"amplitude ({units})")
    if curves:
        ax.legend(fontsize=7)


def overview_figure(result, *, linthresh: float = 1.0, n_traces: int = 4, traces=None):
    """The overview :class:`matplotlib.figure.Figure` of a target/global fit (``result``).

    Per dataset: data and residual maps (linear–log delays, robust colour scale, gaps at
    excluded bands), traces with their fits at ``traces`` (nm; default :func:`pick_traces`)
    and the residual SVD. Then the spectra named for the scheme (DAS of a parallel model, EAS
    of a sequential one, SAS of a target model) and the DAS labelled by lifetime, the
    coherent-artefact and baseline spectra, and the populations. A single-wavelength fit gets
    a trace-and-residual layout.
    """
    from matplotlib.figure import Figure  # no pyplot: no backend chosen, no global figure state

    ds = result.dataset
    summ = result.summary()
    scheme = summ["model"].get("scheme") or "target"
    sfx = [v[len("data"):] for v in map(str, ds.data_vars) if v == "data" or v.startswith("data_")]
    s0 = sfx[0]
    wdim0 = ds["data" + s0].dims[1]
    single = all(ds["data" + s].shape[1] == 1 for s in sfx)
    timefeat = any(v in ds for v in ("doas" + s0, "t0_shift" + s0)) and not single
    nrow = len(sfx) + 1 + timefeat
    fig = Figure(figsize=(20 if not single else 11, 4.2 * nrow), layout="constrained")
    axes = fig.subplots(nrow, 4 if not single else 2, squeeze=False)
    units = ds["data" + s0].attrs.get("units", "")
    for r, s in enumerate(sfx):
        data, res = ds["data" + s], ds["residual" + s]
        tdim, wdim = data.dims
        t, wl = ds[tdim].values, ds[wdim].values
        valid = np.isfinite(res.values)
        if single:
            ax = axes[r, 0]
            ax.plot(t, data.values[:, 0], ".", ms=3, label=f"data {wl[0]:.0f} nm")
            ax.plot(t, ds["fit" + s].values[:, 0], "-", lw=1.2, label="fit")
            _delay_axis(ax, linthresh)
            ax.set(ylabel=f"ΔA ({units})", title=f"trace and fit{s}")
            ax.legend(fontsize=8)
            ax = axes[r, 1]
            ax.plot(t, res.values[:, 0], ".", ms=3)
            ax.axhline(0, color="0.6", lw=0.5)
            _delay_axis(ax, linthresh)
            ax.set(ylabel=f"data − fit ({units})", title=f"residual{s}", xlim=(t.min(), t.max()))
            continue
        lim = robust_limit(np.where(valid, data.values, np.nan))
        _map(axes[r, 0], fig, t, _with_gaps(wl), _gap_columns(wl, np.where(
            valid, data.values, np.nan)), lim=lim, linthresh=linthresh, label=f"ΔA ({units})")
        axes[r, 0].set_title(f"data{s} (fitted cells)")
        _map(axes[r, 1], fig, t, _with_gaps(wl), _gap_columns(wl, res.values),
             linthresh=linthresh, label=f"data − fit ({units})")
        axes[r, 1].set_title(f"residual{s}")
        ax = axes[r, 2]
        if traces:
            picks = sorted({int(np.argmin(np.abs(wl - x))) for x in traces})
        else:
            # by the fit's amplitude: noise at a detector edge does not look like signal
            picks = pick_traces(wl, ds["fit" + s].values, n_traces, valid=valid)
        for j in picks:
            line, = ax.plot(t, np.where(valid[:, j], data.values[:, j], np.nan), ".", ms=3,
                            label=f"{wl[j]:.0f} nm")
            ax.plot(t, ds["fit" + s].values[:, j], "-", color=line.get_color(), lw=1.2)
        _delay_axis(ax, linthresh)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set(ylabel=f"ΔA ({units})", title=f"traces and fit{s}")
        ax.legend(fontsize=8)
        rsvd = result.residual_svd(s[1:] or None)
        if rsvd is not None:
            _residual_svd_panel(axes[r, 3], rsvd, s)
    if timefeat:  # DOAS and the per-wavelength time-zero shift
        _time_feature_panels(axes[-1], ds, s0)
        axes = axes[:-1]
    row = axes[-1]
    taus = summ.get("lifetimes_ps") or []
    errs = summ.get("lifetimes_stderr_ps") or [None] * len(taus)
    species = [str(x) for x in ds["species"].values]
    short, long_name = SPECTRA_NAMES.get(scheme, SPECTRA_NAMES["target"])
    wl0 = ds[wdim0].values
    if single:
        ax = row[0]
        tdim = ds["population" + s0].dims[1]
        for sp in ds["species"].values:
            ax.plot(ds[tdim].values, ds["population" + s0].sel(species=sp).values, label=str(sp))
        _delay_axis(ax, linthresh)
        ax.set(ylabel="population", title="populations")
        ax.legend(fontsize=8)
        ax = row[1]
        amps = ds["sas" + s0].values[:, 0]
        ticks = species if len(taus) != len(species) else [
            f"{sp}\nτ = {format_lifetime(tau, e)}" for sp, tau, e in zip(species, taus, errs)]
        ax.bar(range(len(species)), amps, tick_label=ticks)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set(ylabel=f"amplitude ({units})", title=f"{short} amplitudes at {wl0[0]:.0f} nm")
    else:
        labels = species
        if scheme in ("parallel", "sequential") and len(taus) == len(species):
            labels = [f"{sp}: τ = {format_lifetime(tau, e)}" for sp, tau, e in
                      zip(species, taus, errs)]
        extra = [v for v in map(str, ds.data_vars) if v.endswith("_spectrum" + s0)
                 and (v.startswith("artifact") or v.startswith("baseline"))]

        def populations(ax):
            tdim = ds["population" + s0].dims[1]
            for sp in ds["species"].values:
                ax.plot(ds[tdim].values, ds["population" + s0].sel(species=sp).values,
                        label=str(sp))
            _delay_axis(ax, linthresh)
            ax.set(ylabel="population", title="populations")
            ax.legend(fontsize=8)

        def das(ax):
            if "das" + s0 not in ds:
                ax.text(0.5, 0.5, "DAS not defined\n(degenerate rates)", ha="center",
                        va="center", transform=ax.transAxes)
                return
            lt = ds["decay_lifetime"].values
            err = dict(zip(np.round(taus, 12), errs)) if taus else {}
            das_labels = [f"τ = {format_lifetime(float(x), err.get(round(float(x), 12)))}"
                          for x in lt]
            _spectra_panel(ax, wl0, list(ds["das" + s0].values), das_labels, units,
                           "decay-associated spectra (DAS)")

        def artefacts(ax):
            names = [v[:-len("_spectrum" + s0)] for v in extra]
            pretty = {"artifact0": "coherent artefact (IRF)", "artifact1": "artefact: IRF′",
                      "artifact2": "artefact: IRF″", "baseline": "baseline (offset)"}
            _spectra_panel(ax, wl0, [ds[v].values for v in extra],
                           [pretty.get(n, n) for n in names], units,
                           "coherent-artefact and baseline spectra")

        def residual_lsv(ax):
            rsvd = result.residual_svd(s0[1:] or None)
            tdim = rsvd["lsv"].dims[0]
            for k in range(min(2, rsvd.sizes["component"])):
                ax.plot(rsvd[tdim].values, rsvd["lsv"].values[:, k] * float(rsvd["ratio"][k]),
                        label=f"component {k + 1} (× s/edge)")
            _delay_axis(ax, linthresh)
            ax.set(ylabel="left singular vector × s/edge",
                   title=f"residual left singular vectors{s0}")
            ax.legend(fontsize=8)

        _spectra_panel(row[0], wl0, list(ds["sas" + s0].values), labels, units,
                       f"{long_name} ({short})")
        # a parallel scheme's spectra are the DAS already: no second DAS panel
        panels = ([] if scheme == "parallel" else [das]) + ([artefacts] if extra else []) \
            + [populations, residual_lsv]
        for ax, draw in zip(row[1:], panels):
            draw(ax)
        for ax in row[1 + len(panels):]:
            ax.axis("off")
    rmse = summ["rmse"]
    head = f"{summ['model'].get('name', '')}: "
    if taus:
        head += "τ = " + ", ".join(format_lifetime(t, e) for t, e in zip(taus, errs)) + "; "
    fig.suptitle(head + f"RMSE {rmse if rmse is not None else float('nan'):.3g} {units}, "
                 f"{'converged' if summ['converged'] else 'NOT converged'}", fontsize=11)
    return fig


def overview(result, path, *, linthresh: float = 1.0, n_traces: int = 4, traces=None,
             dpi: int = 110) -> Path:
    """Write :func:`overview_figure` of ``result`` to ``path`` atomically (format from the
    extension); ``traces``: wavelengths (nm) of the trace panel."""
    return save_figure(overview_figure(result, linthresh=linthresh, n_traces=n_traces,
                                       traces=traces), path, dpi)


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
    """Write :func:`trace_overview_figure` of a physical-model fit to ``path`` atomically."""
    return save_figure(trace_overview_figure(result, linthresh=linthresh), path, dpi)


def trace_overview_figure(result, *, linthresh: float = 1.0):
    """The figure of a physical-model fit (``result.dataset`` with dim ``row``).

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
    return fig

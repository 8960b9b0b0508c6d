"""FitResult: a labelled xarray Dataset plus a summary dict, with a readable repr.

Generic enough for other fitters (the physical model): a result is ``dataset`` (data, fit,
residual, parameters, covariance, ...) and ``summary`` (JSON-able numbers and verdicts).
Each model's fit builds one (e.g. :func:`hotcarrier.target.fit.fit_target`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import xarray as xr

from ..units import format_time, natural_time, pdg_round

__all__ = ["FitResult", "pdg_round", "build_summary", "parameter_entry", "finite_or_none",
           "SUMMARY_SCHEMA", "SUMMARY_KEYS", "PARAMETER_KEYS", "all_finite", "RESULT_FILES",
           "natural_time", "format_time", "lifetime_warnings", "runaway_message"]

SUMMARY_SCHEMA = "hotcarrier.fit/1"
"""Version tag of the one ``summary.json`` schema (``"schema"`` key)."""

SUMMARY_KEYS = ("schema", "model", "converged", "status", "message", "n_iterations",
                "n_evaluations", "wall_time_s", "fit_time_s", "optimizer", "criterion", "cost",
                "rmse", "chi2_reduced", "n_data", "n_free", "n_amplitudes", "dof",
                "condition_number", "parameters", "non_identifiable", "at_bound", "derived",
                "amplitudes", "datasets", "hotcarrier_version")
"""Keys every summary has, for every model kind (more may follow, e.g. ``lifetimes_ps``)."""

PARAMETER_KEYS = ("value", "stderr", "unit", "fixed", "free", "expr", "min", "max",
                  "identifiable")
"""Keys of every entry of ``summary["parameters"]``."""


RESULT_FILES = ("result.nc", "summary.json", "overview.png", "preprocess*.png", "report.html")
"""The files (names or glob patterns) of a fit folder (:meth:`FitResult.write`)."""


def finite_or_none(v):
    """``float(v)``, or None when ``v`` is None or not finite (JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def parameter_entry(value, stderr=None, unit: str = "", *, fixed: bool = False,
                    free: bool = False, expr: str | None = None, bounds=(None, None),
                    identifiable: bool | None = None, **extra) -> dict:
    """One entry of ``summary["parameters"]`` (:data:`PARAMETER_KEYS`, then ``extra``), for
    every model kind; a non-finite standard error or bound is None (JSON has no NaN/inf)."""
    return {"value": float(value), "stderr": finite_or_none(stderr), "unit": unit,
            "fixed": bool(fixed), "free": bool(free), "expr": expr,
            "min": finite_or_none(bounds[0]), "max": finite_or_none(bounds[1]),
            "identifiable": identifiable, **extra}


def build_summary(*, model: dict, status: int, n_iterations: int, n_evaluations, wall_time_s,
                  fit_time_s, optimizer: str, criterion: str, cost: float, n_data: int,
                  n_amplitudes: int, covariance, parameters: dict, datasets: list,
                  derived: dict | None = None, amplitudes: dict | None = None,
                  message: str | None = None, **extra) -> dict:
    """The ``summary.json`` dict of a fit of any model (the one schema, :data:`SUMMARY_KEYS`).

    ``model``: ``{"type": "target" | "hotcarrier", "name": ..., "file": ...}`` (+ model
    options); ``status``: optimiser status (:data:`~hotcarrier.fitting.optimize.STATUS_MESSAGES`;
    converged only for :data:`~hotcarrier.fitting.optimize.CONVERGED_STATUSES`, a stall never
    is); ``cost``: ½Σ(w·r)² at the optimum; ``covariance``: the free parameters'
    :class:`~hotcarrier.fitting.uncertainty.CovarianceResult`; ``parameters``: name → entry
    (:func:`parameter_entry`); ``derived``, ``amplitudes``: derived quantities and projected
    amplitudes; ``message``: a plain-language reason replacing the status table's line (e.g.
    :func:`runaway_message`); ``extra``: model-specific keys appended after the common ones.

    Notes
    -----
    ``chi2_reduced`` = 2·cost/dof = Σ(w·r)²/dof with dof = n_data − n_free − n_amplitudes,
    and ``rmse`` = √chi2_reduced. With weights 1/σ it is the reduced χ² (≈ 1 for a good fit);
    with unit weights it is the residual variance in (signal unit)².
    """
    from .. import __version__
    from .optimize import CONVERGED_STATUSES, STATUS_MESSAGES

    free = [n for n, p in parameters.items() if p.get("free")]
    for name, entry in parameters.items():
        missing = [k for k in PARAMETER_KEYS if k not in entry]
        if missing:
            raise KeyError(f"summary entry of parameter {name!r} lacks {missing}")
    for name in free:  # through a saturated bound transform the delta method gives ~0: no number
        if parameters[name].get("at_bound"):
            parameters[name]["stderr"] = None
    dof = int(covariance.dof)
    chi2 = 2.0 * float(cost) / dof if dof > 0 else float("nan")
    if not all_finite(cost, parameters):  # never "converged" (status 3: non-finite)
        status = 3
    out = {
        "schema": SUMMARY_SCHEMA,
        "model": dict(model),
        "converged": int(status) in CONVERGED_STATUSES,
        "status": int(status),
        "message": message if message and int(status) != 3 else STATUS_MESSAGES[int(status)],
        "n_iterations": int(n_iterations),
        "n_evaluations": None if n_evaluations is None else int(n_evaluations),
        "wall_time_s": round(float(wall_time_s), 3),
        "fit_time_s": round(float(fit_time_s), 3),
        "optimizer": optimizer,
        "criterion": criterion,
        "cost": float(cost),
        "rmse": finite_or_none(math.sqrt(chi2)) if chi2 >= 0 else None,
        "chi2_reduced": finite_or_none(chi2),
        "n_data": int(n_data),
        "n_free": len(free),
        "n_amplitudes": int(n_amplitudes),
        "dof": dof,
        "condition_number": finite_or_none(covariance.condition),
        "parameters": parameters,
        "non_identifiable": [n for n in free if parameters[n].get("identifiable") is False],
        "at_bound": [n for n in free if parameters[n].get("at_bound")],
        "derived": dict(derived or {}),
        "amplitudes": dict(amplitudes or {}),
        "datasets": [str(d) for d in datasets],
        "hotcarrier_version": __version__,
    }
    out.update(extra)
    return out


def all_finite(cost, parameters: dict) -> bool:
    """True when the cost and every parameter value are finite numbers (None: not given)."""
    try:
        vals = [float(cost)] + [float(p["value"]) for p in parameters.values()
                                if isinstance(p, dict) and p.get("value") is not None]
    except (TypeError, ValueError):
        return False
    return all(math.isfinite(v) for v in vals)


def lifetime_warnings(lifetimes_ps, fixed=None, *, irf_fwhm_ps: float | None = None,
                      first_delay_ps: float | None = None, window_ps: float | None = None,
                      collapse_rtol: float = 0.05) -> list[str]:
    """Plain-language warnings on fitted lifetimes (ps) the data cannot support.

    A free lifetime below 1/5 of the IRF FWHM is not resolved (it absorbs the coherent
    artefact or a step); one below 1/3 of the first fitted delay after time zero has decayed
    before the data start; one beyond 5 × the measured window is only a constant offset;
    two free lifetimes within ``collapse_rtol`` of each other describe one process.
    """
    taus = [float(t) for t in lifetimes_ps]
    fixed = list(fixed) if fixed is not None else [False] * len(taus)
    out = []
    free = [i for i, f in enumerate(fixed) if not f]
    for i in free:
        tau, name = taus[i], f"τ{i + 1} = {format_time(taus[i])}"
        if irf_fwhm_ps and tau < irf_fwhm_ps / 5:
            out.append(f"{name} is far below the instrument response (FWHM "
                       f"{format_time(irf_fwhm_ps)}): it cannot be resolved and probably "
                       "absorbs the coherent artefact or the rise; a coherent-artefact "
                       "component (or one lifetime fewer) describes that")
        elif first_delay_ps and first_delay_ps > 0 and tau < first_delay_ps / 3:
            out.append(f"{name} is far below the first fitted delay after time zero "
                       f"({format_time(first_delay_ps)}): that component has decayed before "
                       "the data start, so its lifetime and spectrum are not determined; "
                       "start the time range earlier or remove this lifetime")
        if window_ps and tau > 5 * window_ps:
            out.append(f"{name} is far beyond the measured window ({format_time(window_ps)}): "
                       "the data see it only as a constant offset; report it as "
                       f"'≫ {format_time(window_ps)}', or fix it / use a baseline instead")
    for a in range(len(free)):
        for b in range(a + 1, len(free)):
            i, j = free[a], free[b]
            if abs(taus[i] - taus[j]) <= collapse_rtol * max(taus[i], taus[j]):
                out.append(f"τ{i + 1} = {format_time(taus[i])} and τ{j + 1} = "
                           f"{format_time(taus[j])} have collapsed onto each other: the data "
                           "show one process there; fit one lifetime fewer")
    return out


RATE_UNITS = ("1/ps", "ps^-1", "ps-1", "ps⁻¹")


def runaway_message(name: str, value: float, unit: str, end: float, *, n_iterations: int,
                    window_ps: float | None = None, irf_fwhm_ps: float | None = None,
                    component: bool = True) -> str:
    """The plain-language reason of a fit stopped early because parameter ``name`` ran away
    (status 6 of :data:`~hotcarrier.fitting.optimize.STATUS_MESSAGES`).

    ``value``: where it stopped (``unit``); ``end``: the bound or ±inf it was heading for;
    ``window_ps``: the measured delay window after time zero; ``irf_fwhm_ps``: the IRF
    width. A lifetime (ps) or rate (1/ps) of a ``component`` is shown as a time in natural
    units (1/k for a rate) against the window or the IRF, e.g. "k3 → 1/k3 = 2.1 ns ran past
    the 1.8 ns delay window"; any other parameter by its value and the end it ran towards.
    """
    rate = unit in RATE_UNITS
    longer = (end > value) != rate  # the time scale grows: a lifetime up, a rate down
    if component and (unit == "ps" or rate):
        tau = 1.0 / value if rate and value != 0 else (math.inf if rate else value)
        what = (f"{name} → 1/{name} = {format_time(tau)}" if rate
                else f"{name} = {format_time(tau)}")
        if longer:
            where = (f"ran past the {format_time(window_ps)} delay window" if window_ps
                     else "ran away towards infinity")
            fix = ("fix it, bound it (a largest lifetime), or drop the component (a "
                   "constant offset is a baseline)")
        else:
            where = (f"collapsed towards zero, far below the instrument response (FWHM "
                     f"{format_time(irf_fwhm_ps)})" if irf_fwhm_ps
                     else "collapsed towards zero")
            fix = ("fix it, bound it (a shortest lifetime), or drop the component (a spike "
                   "at time zero is a coherent-artefact component)")
    else:
        what = (f"{name} = {format_time(value)}" if unit == "ps"
                else f"{name} = {value:.4g}{' ' + unit if unit else ''}")
        where = "ran towards " + (f"its bound {end:g}{' ' + unit if unit else ''}"
                                  if math.isfinite(end) else ("+∞" if end > 0 else "−∞"))
        fix = "fix it, narrow its range, or simplify the model"
    return (f"stopped early after {n_iterations} iterations: {what} {where} while the cost "
            f"no longer decreased — the data do not determine it; {fix}")


class FitResult:
    """Result of a fit.

    Attributes
    ----------
    dataset : xarray.Dataset
        ``data``, ``fit``, ``residual`` (delay, wavelength) per dataset (suffix ``_<name>``
        with several), ``population`` (species, delay), ``sas`` (species, wavelength),
        ``das`` (decay, wavelength) when defined, ``value``/``stderr`` (param),
        ``covariance``/``correlation`` (param, param_), attrs with the summary.
    summary_dict : dict
        See :meth:`summary`.
    setup : FitSetup or None
        The bound model and data (live results only; enables :meth:`profile`).
    theta : ndarray or None
        Unconstrained free-parameter vector at the optimum (live results only).
    """

    def __init__(self, dataset: xr.Dataset, summary: dict, setup=None, theta=None,
                 profiler=None):
        self.dataset = dataset
        self.summary_dict = summary
        self.setup = setup
        self.theta = theta
        self._profiler = profiler

    # ------------------------------------------------------------------ verdicts
    @property
    def converged(self) -> bool:
        """Convergence criterion met (not the iteration cap)."""
        return bool(self.summary_dict["converged"])

    @property
    def covariance_ok(self) -> bool:
        """Every free parameter is identifiable (finite standard error)."""
        return not self.summary_dict.get("non_identifiable")

    @property
    def params_at_bound(self) -> list[str]:
        """Free parameters within 1 % of a bound."""
        return list(self.summary_dict.get("at_bound", []))

    @property
    def parameters(self) -> dict:
        """name → {value, stderr, unit, fixed, ...}."""
        return self.summary_dict["parameters"]

    @property
    def derived(self) -> dict:
        """Derived quantities (physical model: Φ_inj with its interval, fractions, ...)."""
        return self.summary_dict.get("derived", {})

    @property
    def model_type(self) -> str:
        """``"target"`` or ``"hotcarrier"`` (the physical model)."""
        return self.summary_dict["model"]["type"]

    @property
    def rmse(self) -> float:
        """√(2·cost/dof) of the weighted residuals."""
        return self.summary_dict["rmse"]

    @property
    def lifetimes_ps(self):
        """Lifetimes (ps) of a parallel/sequential quick model, else None."""
        return self.summary_dict.get("lifetimes_ps")

    def summary(self) -> dict:
        """JSON-able summary: converged, n_iterations, wall_time_s, cost, rmse,
        chi2_reduced, n_data, n_free, parameters (value, stderr or None, unit, fixed), ..."""
        return self.summary_dict

    # ------------------------------------------------------------------ repr
    def __repr__(self) -> str:
        s = self.summary_dict
        head = ("converged" if s["converged"] else "NOT converged") + \
            f" in {s['n_iterations']} iterations ({s.get('message', '')})"
        rmse, chi2 = (float("nan") if s[k] is None else s[k] for k in ("rmse", "chi2_reduced"))
        name = s["model"].get("name") if isinstance(s.get("model"), dict) else None
        lines = [f"FitResult  {head}" + (f"  — {name}" if name else ""),
                 f"  cost {s['cost']:.10g}   RMSE {rmse:.4g}   χ²_red {chi2:.4g}"
                 f"   N_data {s['n_data']:,}".replace(",", " ") + f"   N_free {s['n_free']}"
                 f"   wall {s['wall_time_s']:.1f} s"]
        rows = [("name", "value", "±1σ", "unit", "")]
        for name, p in s["parameters"].items():
            unit, scale = p.get("unit", ""), 1.0
            if unit == "ps":  # times in natural units: 120 fs, 2.54 ns
                scale, unit = natural_time(p["value"])
            val = p["value"] / scale
            err = None if p["stderr"] is None else p["stderr"] / scale
            if p.get("expr"):
                v, e = pdg_round(val, err)
                note = f"= {p['expr']}"
            elif p["fixed"]:
                v, e, note = f"{val:.6g}", "", "fixed"
            else:
                v, e = pdg_round(val, err)
                flags = []
                if p["stderr"] is None:
                    flags.append("not identifiable")
                if name in s.get("at_bound", []):
                    flags.append("within 1 % of bound")
                note = ("← " + "; ".join(flags)) if flags else ""
                # the bounds in the unit the value is shown in (t0 25 fs: (-500, 500), not ps)
                lo, hi = (None if b is None else b / scale for b in (p.get("min"), p.get("max")))
                if lo is not None or hi is not None:
                    note = (f"({_b(lo, '-∞')}, {_b(hi, '∞')}) " + note).strip()
            rows.append((name, v, e, unit, note))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(w[i]) for i in range(4)) + "  " + r[4])
        if s.get("lifetimes_ps"):
            errs = s.get("lifetimes_stderr_ps") or [None] * len(s["lifetimes_ps"])
            lines.append("  lifetimes: " + ", ".join(
                format_time(x, e) for x, e in zip(s["lifetimes_ps"], errs)))
        for w in s.get("lifetime_warnings") or []:
            lines.append(f"  warning: {w}")
        for name, d in s.get("derived", {}).items():
            if isinstance(d, dict) and "value" in d and "ci95" in d:
                v, e = pdg_round(d["value"], d.get("stderr"))
                lo, hi = (float("nan") if c is None else c for c in d["ci95"])
                lines.append(f"  {name} = {v} ± {e}   95 % interval [{lo:.4g}, {hi:.4g}]"
                             f" ({d.get('ci_method', '')})")
        if s.get("non_identifiable"):
            lines.append("  not identifiable: " + ", ".join(s["non_identifiable"]))
        rsvd = self.residual_svd()
        if rsvd is not None:
            lines.append(f"  residual SVD: {rsvd.attrs['noise_verdict']}")
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"

    def report(self, path=None, *, figure: bool = True):
        """The self-contained HTML report (:mod:`hotcarrier.report`): written to ``path``
        when given (returns the path), else returned as a string; ``figure`` embeds the
        overview figure."""
        from ..report import report_html, write_report

        figs = {}
        if figure:
            import io

            buf = io.BytesIO()
            self.plot().savefig(buf, format="png", dpi=100)
            figs["Overview"] = buf.getvalue()
        return write_report(self, path, figs) if path is not None else report_html(self, figs)

    # ------------------------------------------------------------------ figures
    def plot(self, *, traces=None, n_traces: int = 4, linthresh: float = 1.0):
        """The overview figure as a :class:`matplotlib.figure.Figure` (a notebook shows it;
        ``fig.savefig(path)`` saves it). ``traces``: wavelengths (nm) of the trace panel."""
        from ..plotting import overview_figure, trace_overview_figure

        if self.model_type == "hotcarrier":
            return trace_overview_figure(self, linthresh=linthresh)
        return overview_figure(self, traces=traces, n_traces=n_traces, linthresh=linthresh)

    # ------------------------------------------------------------------ I/O
    def to_dataset(self) -> xr.Dataset:
        """The labelled result dataset (with the summary as JSON in ``attrs``)."""
        ds, s = self.dataset.copy(), self.summary_dict
        chi2 = math.nan if s["chi2_reduced"] is None else float(s["chi2_reduced"])
        ds.attrs = {**ds.attrs, "summary_json": json.dumps(s), "converged": int(s["converged"]),
                    "chi2_reduced": chi2, "n_steps": int(s["n_iterations"])}
        for d, rec in enumerate(s.get("preprocessing") or []):  # readable without the JSON
            sfx = f"_{d + 1}" if len(s["preprocessing"]) > 1 else ""
            ds.attrs["preprocessing_history" + sfx] = "\n".join(rec.get("history", []))
            if rec.get("chirp_coefficients"):
                ds.attrs["chirp_coefficients" + sfx] = np.asarray(rec["chirp_coefficients"])
        return ds

    def to_netcdf(self, path) -> Path:
        """Write :meth:`to_dataset` to netCDF-4 atomically."""
        from ..io.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            self.to_dataset().to_netcdf(tmp, engine="h5netcdf")
        return path

    @classmethod
    def from_netcdf(cls, path, *, allow_unconverged: bool = False) -> FitResult:
        """Read a result written by :meth:`to_netcdf` (no live model: no :meth:`profile`).

        Raises :class:`FitResultError` for a file that is not a fit result, an output folder
        left incomplete by an interrupted run, or (unless ``allow_unconverged``) a fit that
        did not converge."""
        from ..errors import DataFormatError, FitResultError
        from ..io._common import check_regular_file
        from ..io.atomic import check_output_set

        try:
            check_regular_file(path, "fit result")
        except DataFormatError as exc:
            raise FitResultError(str(exc)) from None
        check_output_set(Path(path).parent)
        try:
            with xr.open_dataset(path, engine="h5netcdf") as f:
                ds = f.load()
            summary = json.loads(ds.attrs["summary_json"])
        except (OSError, KeyError, ValueError, TypeError) as exc:
            why = f"{type(exc).__name__}: {str(exc)[:100]}"
            raise FitResultError(f"{path}: not a fit result written by hotcarrier ({why})\n"
                                 "  fix: give the result.nc of a fit folder") from None
        if not isinstance(summary, dict):
            raise FitResultError(f"{path}: its summary is not a JSON object\n  fix: give the "
                                 "result.nc of a fit folder")
        if not summary.get("converged") and not allow_unconverged:
            raise FitResultError(f"{path}: the fit did not converge ({summary.get('message')}); "
                                 "its values are not a result\n  fix: rerun the fit (more "
                                 "iterations, better starts) or pass allow_unconverged=True to "
                                 "inspect it")
        return cls(ds, summary)

    def write(self, out_dir, *, netcdf: bool = True, figure: bool = True, traces=None,
              extra=None) -> Path:
        """Write ``result.nc``, ``summary.json`` and ``overview.png`` into ``out_dir`` as one
        set (:func:`hotcarrier.io.atomic.output_set`: ``manifest.json`` written last; files
        of an earlier fit the new set lacks are removed). ``traces``: wavelengths (nm) of
        the figure's trace panel; ``extra(folder) -> list of names`` writes further
        files of the set (figures, report) into the staging folder. A fit whose cost or
        parameters are not finite is never written: :class:`FitError`."""
        from ..errors import FitError
        from ..io.atomic import output_set

        if not all_finite(self.summary_dict.get("cost"), self.summary_dict.get("parameters",
                                                                                 {})):
            raise FitError(f"{self.summary_dict.get('model', {}).get('file') or 'the fit'}: "
                           "the cost or a parameter is not finite; the result is not written "
                           "(check the start values and fixed parameters)")
        out = Path(out_dir)
        with output_set(out, replaces=RESULT_FILES, command="fit") as stage:
            if netcdf:
                self.to_netcdf(stage / "result.nc")
            (stage / "summary.json").write_text(json.dumps(self.summary_dict, indent=2) + "\n")
            if figure:
                from ..plotting import overview, trace_overview

                if self.model_type == "hotcarrier":
                    trace_overview(self, stage / "overview.png")
                else:
                    overview(self, stage / "overview.png", traces=traces)
            if extra is not None:
                extra(stage)
        return out

    # ------------------------------------------------------------------ residual SVD
    def residual_svd(self, dataset: str | None = None, **kw):
        """SVD of the weighted residual map with a noise level and verdict (None for trace
        fits); ``dataset`` names one of several. See :func:`hotcarrier.analysis.residual_svd`."""
        from ..analysis.residual import residual_svd

        names = [v for v in self.dataset.data_vars if v.startswith("residual")
                 and self.dataset[v].ndim == 2]
        name = f"residual_{dataset}" if dataset else (names or [None])[0]
        if name is None:
            return None
        w = self.dataset.get(name.replace("residual", "weight", 1))
        if kw:
            return residual_svd(self.dataset[name], w, **kw)
        cache = self.__dict__.setdefault("_residual_svd", {})  # the summary and repr share it
        if name not in cache:
            cache[name] = residual_svd(self.dataset[name], w)
        return cache[name]

    # ------------------------------------------------------------------ extras
    def profile(self, name: str, **kw):
        """Profile-likelihood 68 % interval of free parameter ``name`` (physical units).

        Returns
        -------
        (lower, upper), grid, profile
        """
        if self._profiler is None:
            raise ValueError("profile() needs a live result from fit(), not one read from disk")
        return self._profiler(name, **kw)


def _b(x, default):
    return default if x is None else f"{x:g}"

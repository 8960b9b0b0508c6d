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

__all__ = ["FitResult", "pdg_round"]


def pdg_round(value: float, err: float | None) -> tuple[str, str]:
    """Round ``value ± err`` to the error's leading digits (PDG convention).

    The three leading digits of the error decide: 100–354 → two significant digits,
    355–949 → one, 950–999 → rounded up to 1000 with two.
    """
    if err is None or not np.isfinite(err) or err <= 0:
        return f"{value:.6g}", "n/a" if err is None or not np.isfinite(err) else "0"
    e = math.floor(math.log10(err))
    lead = int(round(err / 10 ** (e - 2)))
    if lead >= 1000:
        lead //= 10
        e += 1
    nd = 2 if lead < 355 else 1
    if lead >= 950:
        nd, err = 2, 10 ** (e + 1)
        e += 1
    dec = -(e - nd + 1)
    if dec > 0:
        return f"{value:.{dec}f}", f"{err:.{dec}f}"
    q = 10 ** (-dec)
    return f"{round(value / q) * q:.0f}", f"{round(err / q) * q:.0f}"


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
        lines = [f"FitResult  {head}",
                 f"  cost {s['cost']:.10g}   RMSE {s['rmse']:.4g}   χ²_red {s['chi2_reduced']:.4g}"
                 f"   N_data {s['n_data']:,}".replace(",", " ") + f"   N_free {s['n_free']}"
                 f"   wall {s['wall_time_s']:.1f} s"]
        rows = [("name", "value", "±1σ", "unit", "")]
        for name, p in s["parameters"].items():
            if p.get("expr"):
                v, e = pdg_round(p["value"], p["stderr"])
                note = f"= {p['expr']}"
            elif p["fixed"]:
                v, e, note = f"{p['value']:.6g}", "", "fixed"
            else:
                v, e = pdg_round(p["value"], p["stderr"])
                flags = []
                if p["stderr"] is None:
                    flags.append("not identifiable")
                if name in s.get("at_bound", []):
                    flags.append("within 1 % of bound")
                note = ("← " + "; ".join(flags)) if flags else ""
                lo, hi = p.get("min"), p.get("max")
                if lo is not None or hi is not None:
                    note = (f"({_b(lo, '-∞')}, {_b(hi, '∞')}) " + note).strip()
            rows.append((name, v, e, p.get("unit", ""), note))
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(w[i]) for i in range(4)) + "  " + r[4])
        if s.get("lifetimes_ps"):
            lines.append("  lifetimes (ps): " + ", ".join(f"{x:.4g}" for x in s["lifetimes_ps"]))
        if s.get("non_identifiable"):
            lines.append("  not identifiable: " + ", ".join(s["non_identifiable"]))
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(repr(self))}</pre>"

    # ------------------------------------------------------------------ I/O
    def to_dataset(self) -> xr.Dataset:
        """The labelled result dataset (with the summary as JSON in ``attrs``)."""
        ds = self.dataset.copy()
        ds.attrs = {**ds.attrs, "summary_json": json.dumps(self.summary_dict),
                    "converged": int(self.summary_dict["converged"]),
                    "chi2_reduced": float(self.summary_dict["chi2_reduced"]),
                    "n_steps": int(self.summary_dict["n_iterations"])}
        return ds

    def to_netcdf(self, path) -> Path:
        """Write :meth:`to_dataset` to netCDF-4 atomically."""
        from ..io.atomic import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            self.to_dataset().to_netcdf(tmp, engine="h5netcdf")
        return path

    @classmethod
    def from_netcdf(cls, path) -> FitResult:
        """Read a result written by :meth:`to_netcdf` (no live model: no :meth:`profile`)."""
        with xr.open_dataset(path, engine="h5netcdf") as f:
            ds = f.load()
        summary = json.loads(ds.attrs["summary_json"])
        return cls(ds, summary)

    def write(self, out_dir, *, netcdf: bool = True, figure: bool = True) -> Path:
        """Write ``result.nc``, ``summary.json`` and ``overview.png`` into ``out_dir``."""
        from ..io.atomic import atomic_path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if netcdf:
            self.to_netcdf(out / "result.nc")
        with atomic_path(out / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(self.summary_dict, indent=2) + "\n")
        if figure:
            from ..plotting import overview

            overview(self, out / "overview.png")
        return out

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

"""FitResult: a labelled xarray Dataset plus a summary dict, with a readable repr.

Generic enough for other fitters (the physical model): a result is ``dataset`` (data, fit,
residual, parameters, covariance, ...) and ``summary`` (JSON-able numbers and verdicts).
:meth:`FitResult.from_fit` builds one from a target-analysis fit.
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

    def __init__(self, dataset: xr.Dataset, summary: dict, setup=None, theta=None):
        self.dataset = dataset
        self.summary_dict = summary
        self.setup = setup
        self.theta = theta

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
        from .io.atomic import atomic_path

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
        from .io.atomic import atomic_path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if netcdf:
            self.to_netcdf(out / "result.nc")
        with atomic_path(out / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(self.summary_dict, indent=2) + "\n")
        if figure:
            from .plotting import overview

            overview(self, out / "overview.png")
        return out

    # ------------------------------------------------------------------ extras
    def profile(self, name: str, **kw):
        """Profile-likelihood 68 % interval of free parameter ``name`` (physical units).

        Returns
        -------
        (lower, upper), grid, profile
        """
        if self.setup is None:
            raise ValueError("profile() needs a live result from fit(), not one read from disk")
        from ._x64 import x64
        from .fit import profile

        p = self.parameters[name]
        with x64():
            return profile(self.setup, self.theta, name, p["stderr"] or float("nan"),
                           self.summary_dict["rmse"], **kw)

    # ------------------------------------------------------------------ builder
    @classmethod
    def from_fit(cls, s, theta, opt: dict, t_start: float, profile=None,
                 evaluation=None) -> FitResult:
        """Build the result of a target-analysis fit (see :func:`hotcarrier.fit.fit`).

        ``evaluation``: :meth:`FitSetup.point` at ``theta`` when already computed (one
        compiled program gives the Jacobian, details, matrices and populations).
        """
        import time

        from . import __version__
        from .dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, fit_mask
        from .fit import uncertainties

        model, pset = s.model, s.model.parameters
        th = np.asarray(theta, dtype=float)
        pt = s.point(th) if evaluation is None else evaluation
        pvec = np.asarray(pt["physical"])
        det, jac = pt["details"], pt["J"]
        n_amp = int(sum(int(np.sum(np.asarray(b[3]))) for b in det))
        rw = np.concatenate([np.asarray(b[2]).ravel() for b in det])
        cost = 0.5 * float(rw @ rw)
        cr, cov_phys = uncertainties(s, th, n_amp, cost, jac, dphys=pt["dphys"])
        names = pset.names
        se_phys = np.sqrt(np.where(np.diag(cov_phys) >= 0, np.diag(cov_phys), np.nan))
        free_idx = {n: i for i, n in enumerate(pset.free_names)}
        non_id = [n for n in pset.free_names if not cr.identifiable[free_idx[n]]]
        at_bound = []
        params = {}
        for i, n in enumerate(names):
            p = pset[n]
            fixed = p.fixed
            se = None if (fixed or not np.isfinite(se_phys[i])) else float(se_phys[i])
            if p.free:
                span = p.max - p.min
                for b in (p.min, p.max):
                    if np.isfinite(b):
                        ref = span if np.isfinite(span) else max(abs(b), abs(pvec[i]), 1e-300)
                        if abs(pvec[i] - b) <= 0.01 * ref:
                            at_bound.append(n)
            params[n] = {"value": float(pvec[i]), "stderr": se, "unit": p.unit, "fixed": fixed,
                         "free": p.free, "expr": p.expr,
                         "min": None if not np.isfinite(p.min) else p.min,
                         "max": None if not np.isfinite(p.max) else p.max,
                         "identifiable": bool(cr.identifiable[free_idx[n]]) if p.free else None}
        if at_bound:
            import warnings

            from .errors import ParameterAtBoundWarning

            warnings.warn(f"parameter(s) {at_bound} ended within 1 % of a bound",
                          ParameterAtBoundWarning, stacklevel=3)
        n_free = len(pset.free_names)
        rmse = cr.rmse
        K = np.asarray(pt["rate_matrix"])
        p0 = np.asarray(pt["initial"])
        Rm = np.asarray(pt["relations"])
        n_sp = len(model.free_species)
        cols = model.column_names

        # --- per dataset arrays
        multi = len(s.datasets) > 1
        data_vars, coords = {}, {}
        offs = np.cumsum([0] + [len(np.asarray(t)) for t in s.arrays["t"]])
        for d, ds in enumerate(s.datasets):
            sfx = f"_{model.datasets[d].name}" if multi else ""
            dds = ds.transpose(TIME_DIM, SPECTRAL_DIM)
            t = dds[TIME_DIM].values
            wl = dds[SPECTRAL_DIM].values
            tdim, wdim = TIME_DIM + sfx, SPECTRAL_DIM + sfx
            coords[tdim] = (tdim, t, {"units": "ps", "long_name": "pump–probe delay"})
            coords[wdim] = (wdim, wl, {"units": "nm", "long_name": "probe wavelength"})
            if s.problem.link:
                a, mod, _, _ = det[0]
                a, mod = np.asarray(a), np.asarray(mod)[:, offs[d]:offs[d + 1]]
                idx = s.problem.index[d]
                fitm = np.full((t.size, wl.size), np.nan)
                coef = np.full((wl.size, len(cols)), np.nan)
                ok = idx >= 0
                fitm[:, idx[ok]] = mod[ok].T
                coef[idx[ok]] = a[ok]
            else:
                a, mod, _, _ = det[d]
                fitm, coef = np.asarray(mod).T, np.asarray(a)
            unit = dds[SIGNAL].attrs.get("units", "")
            sig = dds[SIGNAL].values
            used = fit_mask(dds)
            data_vars["data" + sfx] = ((tdim, wdim), sig, {"units": unit, "long_name": "ΔA"})
            data_vars["fit" + sfx] = ((tdim, wdim), fitm, {"units": unit, "long_name": "fit"})
            data_vars["residual" + sfx] = ((tdim, wdim), np.where(used, sig - fitm, np.nan),
                                           {"units": unit, "long_name": "data − fit"})
            data_vars["weight" + sfx] = ((tdim, wdim), np.asarray(s.arrays["w"][d]).T
                                         if not s.problem.link else
                                         model.weight_map(d, t, wl) * used,
                                         {"long_name": "residual weight (0 = excluded)"})
            sas = Rm @ coef[:, :n_sp].T  # (species, W)
            sdim = "species"
            data_vars["sas" + sfx] = ((sdim, wdim), sas, {"units": unit,
                                                          "long_name": "species-associated spectra"})
            for j, c in enumerate(cols[n_sp:]):
                data_vars[f"{c}_spectrum{sfx}"] = ((wdim,), coef[:, n_sp + j], {"units": unit})
            lam_ref = float(s.lam_ref[d])
            pops = np.asarray(pt["populations"][d])
            data_vars["population" + sfx] = ((sdim, tdim), pops.T,
                                             {"long_name": f"population (IRF at {lam_ref:.5g} nm)"})
            das, lam = _das(K, p0, sas)
            if das is not None:
                data_vars["das" + sfx] = (("decay", wdim), das,
                                          {"units": unit, "long_name": "decay-associated spectra"})
                coords["decay"] = ("decay", np.arange(len(lam)))
                data_vars["decay_lifetime"] = (("decay",), np.where(lam != 0, -1.0 / lam, np.inf),
                                               {"units": "ps"})
        coords["species"] = ("species", list(model.compartments))
        coords["param"] = ("param", names)
        coords["param_"] = ("param_", names)
        data_vars["value"] = (("param",), pvec)
        data_vars["stderr"] = (("param",), np.array([np.nan if params[n]["stderr"] is None
                                                     else params[n]["stderr"] for n in names]))
        data_vars["covariance"] = (("param", "param_"), cov_phys)
        from .uncertainty import correlation_matrix

        data_vars["correlation"] = (("param", "param_"), correlation_matrix(cov_phys))
        wall = time.perf_counter() - t_start
        summary = {
            "converged": bool(opt["converged"]),
            "message": opt["message"],
            "n_iterations": int(opt["n_iterations"]),
            "n_evaluations": int(opt["n_evaluations"]),
            "wall_time_s": round(wall, 3),
            "fit_time_s": round(opt["fit_seconds"], 3),
            "optimizer": opt["optimizer"],
            "criterion": f"max|grad| <= {opt['gtol']:g}*cost, or relative decrease <= "
                         f"{opt['ftol']:g} on 3 steps with max|grad| <= sqrt({opt['gtol']:g})"
                         "*cost (gradient in the preconditioned variables)",
            "cost": cost,
            "rmse": rmse,
            "chi2_reduced": rmse**2,
            "n_data": int(s.problem.n_data),
            "n_free": n_free,
            "n_amplitudes": n_amp,
            "dof": cr.dof,
            "condition_number": cr.condition,
            "parameters": params,
            "non_identifiable": non_id,
            "at_bound": at_bound,
            "model": model.source,
            "datasets": [str(ds.attrs.get("source_file", "")) for ds in s.datasets],
            "hotcarrier_version": __version__,
        }
        if model.scheme_kind in ("parallel", "sequential"):
            summary["lifetimes_ps"] = [params[f"tau{i + 1}"]["value"]
                                       for i in range(len(model.compartments))]
            summary["lifetimes_stderr_ps"] = [params[f"tau{i + 1}"]["stderr"]
                                              for i in range(len(model.compartments))]
        if profile:
            names_p = [profile] if isinstance(profile, str) else list(profile)
            res = cls(xr.Dataset(), summary, s, np.asarray(theta))
            summary["profile_intervals"] = {}
            for n in names_p:
                (lo, hi), _, _ = res.profile(n)
                summary["profile_intervals"][n] = [lo, hi]
        ds_out = xr.Dataset(data_vars, coords=coords,
                            attrs={"config": model.toml_text, "hotcarrier_version": __version__,
                                   "model": model.source})
        return cls(ds_out, summary, s, np.asarray(theta))


def _b(x, default):
    return default if x is None else f"{x:g}"


def _das(K, p0, sas):
    """Decay-associated spectra from the rate matrix when its eigenvalues are distinct."""
    lam, V = np.linalg.eig(K)
    if np.iscomplexobj(lam) and np.max(np.abs(lam.imag)) > 0:
        return None, None
    lam, V = lam.real, V.real
    srt = np.sort(lam)
    gaps = np.abs(np.diff(srt))
    if srt.size > 1 and np.any(gaps <= 1e-6 * np.maximum(np.abs(srt[1:]), 1e-12)):
        return None, None  # degenerate: DAS not defined
    c = np.linalg.solve(V, p0)
    A = V * c[None, :]  # x(t) = Σ_j A[:, j] e^{λ_j t}
    keep = np.abs(c) > 0
    order = np.argsort(lam[keep])  # fastest decay first
    A, lam = A[:, keep][:, order], lam[keep][order]
    return A.T @ sas, lam

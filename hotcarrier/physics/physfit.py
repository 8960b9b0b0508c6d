"""Fitting the physical hot-carrier model to TA data; Φ_inj with stderr and a profile interval.

The fit is global over a sample fluence series (mid-IR traces, spec §7.4) and a band-gap
calibration reference (spec §7.1, "calibrated route"): all share the kinetics, the IRF and the
electron absorption cross-section κ = σ_CB ℓ/ln10, so that

    Φ_inj = [A_s/ρ_abs,s] / [A_ref/ρ_abs,ref] · (σ_CB,ref/σ_CB,s)

is what the amplitudes determine. The model of each trace is that of
:mod:`hotcarrier.physics.observables`; the amplitudes that enter linearly (κ, the metal
response β_Au, the coherent-artefact terms of sample and reference) are eliminated by variable
projection inside the residual; the nonlinear parameters are fitted in unconstrained
coordinates (logistic map of the bounded value, in log space for positive quantities) with
:func:`hotcarrier.fitting.optimize.least_squares`. Sub-IRF parameters (τ_ee, the split of Φ_inj
between the direct and hot-electron channels, hence τ_inj) are not identifiable below the IRF
(spec §7.3): Φ_inj itself is the fitted parameter, τ_ee and the direct share
χ = η_CID/Φ_inj are held at the model file's values and η_CID, τ_inj are *derived* from
Φ_inj (reported as such).

Uncertainty: Gauss–Newton covariance of the projected residual
(:func:`hotcarrier.fitting.uncertainty.gauss_newton_covariance`, with non-identifiable directions
flagged), physical standard errors by the delta method, and the 95 % interval of Φ_inj by
profile likelihood (:func:`hotcarrier.fitting.uncertainty.profile_interval`, Δχ² = 3.84 in
RMSE-scaled units).

Model files (TOML), e.g. ``fits/au_cds_clean/model.toml``::

    [model]
    type = "hotcarrier"        # marks a physical-model file
    preset = "clean"           # start values: InterfaceParams preset
    barrier_model = "all_above"

    [parameters]               # start/fixed values (InterfaceParams fields or observables)
    tau_bet_ps = 2.0

    [free]                     # fitted parameters with [lower, upper] bounds
    injection_quantum_yield = [0.001, 0.72]
    tau_bet_ps = [0.5, 20.0]

    [data]
    probes = ["midir"]         # which members of the data files enter the fit

Parameter names in ``summary.json`` are the :class:`InterfaceParams` field names (and the
observable names of :class:`ObservableParams`: ``t0_ps``, ``t0_ref_ps``, ``tau_ref_ps``, ...).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FitError, ModelError, NonlinearRegimeWarning
from . import linear, observables as ob, traps
from .injection import hot_electron_branch, injection_quantum_yield
from .parameters import InterfaceParams, field_units, preset
from .simulate import LINEAR_REGIME_MAX_NABS, PHOTONS_PER_PARTICLE_PER_UJ_CM2, DEFAULT_OBS

PHI = "injection_quantum_yield"
OBS_FIELDS = ("t0_ps", "t0_ref_ps", "tau_ref_ps", "tau_ref_trap_ns", "r_T", "r_LL", "q_ref",
              "kappa_mOD")
"""Observable parameters that a model file may set (``kappa_mOD`` only without a reference)."""

DEFAULT_BOUNDS = {
    PHI: (1e-3, 0.99), "tau_bet_ps": (0.5, 20.0), "tau_sep_ps": (5.0, 100.0),
    "N_it_cm2": (1e9, 3e13), "tau_trec_ns": (0.1, 10.0), "irf_fwhm_fs": (80.0, 250.0),
    "t0_ps": (-0.5, 0.5), "t0_ref_ps": (-0.5, 0.5), "tau_ref_ps": (5.0, 2000.0),
    "tau_ref_trap_ns": (0.1, 100.0), "r_T": (0.0, 1.0), "tau_inj_fs": (10.0, 3000.0),
    "tau_ee_fs": (10.0, 100.0), "phi_B_eV": (0.6, 1.0),
}
"""Bounds of spec table 11 (and §7.3 for the IRF), used when a model file gives none."""

LOG_SCALED = {"tau_bet_ps", "tau_sep_ps", "N_it_cm2", "tau_trec_ns", "tau_ref_ps",
              "tau_ref_trap_ns", "tau_inj_fs", "tau_ee_fs"}

SUB_IRF = ("tau_inj_fs", "tau_ee_fs", "eta_cid")
"""Not identifiable below the IRF (spec §7.3): never free together with Φ_inj."""

N_AMPLITUDES = 8  # κ, β_Au, 3 sample artefact terms, 3 reference artefact terms


# ---------------------------------------------------------------------- parameter mapping
def _to_unconstrained(v, lo, hi, log):
    if log:
        v, lo, hi = math.log(v), math.log(lo), math.log(hi)
    u = (v - lo) / (hi - lo)
    u = min(max(u, 1e-9), 1 - 1e-9)
    return math.log(u / (1.0 - u))


def _from_unconstrained(z, lo, hi, log):
    if log:
        return jnp.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * jax.nn.sigmoid(z))
    return lo + (hi - lo) * jax.nn.sigmoid(z)


def phi_max(p: InterfaceParams, model: str = "all_above"):
    """Largest Φ_inj reachable at fixed direct share χ = η_CID/Φ_inj (k_inj → ∞), –."""
    chi = p.eta_cid / injection_quantum_yield(p, model)
    f = hot_electron_branch(p, model) / p.eta_ld
    return (1.0 - p.eta_rad) * f / (1.0 - chi + chi * f)


def params_with_yield(p: InterfaceParams, phi, model: str = "all_above") -> InterfaceParams:
    """``p`` with η_CID and τ_inj set so that Φ_inj = ``phi`` at fixed χ = η_CID/Φ_inj and τ_ee.

    η_CID = χΦ; the hot-electron part (1 − χ)Φ = η_LD f_>^eff k_inj/(k_inj + k_ee) fixes k_inj.
    """
    chi = p.eta_cid / injection_quantum_yield(p, model)
    eta_cid = chi * phi
    q = p.replace(eta_cid=eta_cid)
    r = (1.0 - chi) * phi / hot_electron_branch(q, model)
    k_inj = r * q.k_ee / (1.0 - r)
    return q.replace(tau_inj_fs=1e3 / k_inj)


# --------------------------------------------------------------------------- the residual
CANDIDATES = (PHI, "tau_bet_ps", "tau_sep_ps", "N_it_cm2", "tau_trec_ns", "irf_fwhm_fs", "t0_ps",
              "t0_ref_ps", "tau_ref_ps", "tau_ref_trap_ns", "r_T", "chirp_c1_ps_nm",
              "chirp_c2_ps_nm2")
"""Parameters a model file may free. The optimiser always sees all of them; the fixed ones are
*pinned* by a traced mask, so every fit (any preset, any free set, every profile-likelihood
point) with data of the same shapes reuses ONE compiled program."""

N_NODES = 16  # Gauss–Poisson nodes of the trap average (exact sum agrees to ~1e-14, tested)


def _value(z, lo, hi, log: bool):
    if log:
        return jnp.exp(jnp.log(lo) + (jnp.log(hi) - jnp.log(lo)) * jax.nn.sigmoid(z))
    return lo + (hi - lo) * jax.nn.sigmoid(z)


@dataclass(frozen=True)
class _Residual:
    """Hashable residual (static configuration only; data, bounds and pins are arguments).

    ``ctrl`` = dict(lo, hi, pin (bool), pinval): parameter i takes ``pinval[i]`` where
    ``pin[i]`` and the bounded transform of ``x[i]`` otherwise.
    """

    n_nodes: int
    model: str
    fixed_kappa: bool
    visible: bool = False

    def values(self, x, ctrl):
        return [jnp.where(ctrl["pin"][i], ctrl["pinval"][i],
                          _value(x[i], ctrl["lo"][i], ctrl["hi"][i], name in LOG_SCALED))
                for i, name in enumerate(CANDIDATES)]

    def params(self, x, ctrl, base_p, base_o):
        vals = dict(zip(CANDIDATES, self.values(x, ctrl)))
        phi = vals.pop(PHI)
        p = dataclasses.replace(base_p, **{k: v for k, v in vals.items() if k in _P_FIELDS})
        p = params_with_yield(p, phi, self.model)
        o = dataclasses.replace(base_o, **{k: v for k, v in vals.items() if k in _O_FIELDS})
        return p, o

    def design(self, x, ctrl, base_p, base_o, data):
        p, o = self.params(x, ctrl, base_p, base_o)
        s = linear._sigma(p, None)
        ts, rs = data["t_s"], data["rho_s"]
        tr, rr = data["t_r"], data["rho_r"]
        kin_s = ob.midir_kinetics(ts, p, o, model=self.model, quadrature=self.n_nodes)
        te_s = ob.metal_response(ts, p, o.t0_ps, s)[1]
        art_s = ob.artefact_basis(ts, o.t0_ps, s)
        kin_r = ob.reference_kinetics(tr, p, o) * o.q_ref
        art_r = ob.artefact_basis(tr, o.t0_ref_ps, s)
        zs, zr = jnp.zeros_like(ts), jnp.zeros_like(tr)
        cols = [
            jnp.concatenate([rs * kin_s, rr * kin_r]),
            jnp.concatenate([rs * te_s, zr]),
            *[jnp.concatenate([rs * art_s[k], zr]) for k in range(3)],
            *[jnp.concatenate([zs, rr * art_r[k]]) for k in range(3)],
        ]
        A = jnp.stack(cols, axis=1) * data["col_on"][None, :]
        return A, o

    def solve(self, x, ctrl, base_p, base_o, data):
        """(weighted residual, amplitudes, model) for parameters ``x``."""
        A, o = self.design(x, ctrl, base_p, base_o, data)
        y, w = data["y"], data["w"]
        kap = jnp.zeros(())
        if self.fixed_kappa:
            kap = o.kappa_mOD
            y = y - kap * A[:, 0]
            A = A.at[:, 0].set(0.0)
        Aw = A * w[:, None]
        sumsq = jnp.sum(Aw * Aw, axis=0)
        off = sumsq == 0.0  # switched-off amplitude (no reference, no artefact)
        scale = jnp.sqrt(jnp.where(off, 1.0, sumsq))  # double-where: finite gradients
        Aw = jnp.where(off[None, :], 0.0, Aw / scale)
        # normal equations of the column-scaled, well-conditioned problem (≤ 8 columns);
        # switched-off columns get an identity row so their amplitude is exactly 0
        M = Aw.T @ Aw + jnp.diag(jnp.where(off, 1.0, 0.0))
        c = jnp.linalg.solve(M, Aw.T @ (y * w)) / scale
        c = jnp.where(off, 0.0, c)
        fit = A @ c
        if self.fixed_kappa:
            fit = A @ c + kap * self.design(x, ctrl, base_p, base_o, data)[0][:, 0]
            c = c.at[0].set(kap)
        return (data["y"] - fit) * w, c, fit

    def solve_visible(self, x, ctrl, base_p, base_o, data):
        """Visible map: species kinetics per wavelength (chirped t0), spectra by projection.

        Returns (weighted residual (Nt·W,), spectra (W, 8), model (Nt, W)); columns are the
        species of :data:`observables.VISIBLE_SPECIES` (×ρ_abs) and the artefact G, G', G''.
        """
        p, o = self.params(x, ctrl, base_p, base_o)
        s = linear._sigma(p, None)
        t, wl = data["t_v"], data["wl_v"]
        t0s = ob.chirp_t0(wl, o)

        def column(t0, y, w):
            ys = ob.visible_species(t, p, t0, model=self.model, sigma=s,
                                    quadrature=self.n_nodes) * data["rho_v"]
            A = jnp.concatenate([ys, ob.artefact_basis(t, t0, s)]).T  # (Nt, 8)
            Aw = A * w[:, None]
            sumsq = jnp.sum(Aw * Aw, axis=0)
            sc = jnp.sqrt(jnp.where(sumsq == 0.0, 1.0, sumsq))
            M = (Aw / sc).T @ (Aw / sc)
            c = jnp.linalg.solve(M + 1e-14 * jnp.eye(8), (Aw / sc).T @ (y * w)) / sc
            fit = A @ c
            return (y - fit) * w, c, fit

        r, c, fit = jax.vmap(column, in_axes=(0, 1, 1), out_axes=(1, 0, 1))(
            t0s, data["y_v"], data["w_v"])
        return r.ravel(), c, fit

    def __call__(self, x, ctrl, base_p, base_o, data):
        r = self.solve(x, ctrl, base_p, base_o, data)[0]
        if self.visible:
            r = jnp.concatenate([r, self.solve_visible(x, ctrl, base_p, base_o, data)[0]])
        return r


_P_FIELDS = {f.name for f in dataclasses.fields(InterfaceParams)}
_O_FIELDS = {f.name for f in dataclasses.fields(ob.ObservableParams)}


# ------------------------------------------------------------------------ model + data
@dataclass
class PhysicalModelSpec:
    """A physical model to fit: start values, free parameters with bounds, options."""

    params: InterfaceParams
    obs: ob.ObservableParams
    free: dict  # name → (lo, hi)
    barrier_model: str = "all_above"
    probes: tuple = ("midir",)
    profile: bool = True
    name: str = "hotcarrier"
    source: str = ""
    max_iter: int = 200
    midir_artefact: bool = False
    optimizer: str = "lm"

    @classmethod
    def from_toml(cls, path) -> PhysicalModelSpec:
        """Read a model file (see the module docstring); raises :class:`ModelError`."""
        path = Path(path)
        try:
            cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"{path}: cannot read the model file ({exc})") from None
        return cls.from_dict(cfg, name=path.parent.name or path.stem, source=str(path))

    @classmethod
    def from_dict(cls, cfg: dict, name="hotcarrier", source="") -> PhysicalModelSpec:
        problems = []
        m = cfg.get("model", {})
        if m.get("type") not in ("hotcarrier", "physical"):
            problems.append("[model] type must be \"hotcarrier\" for the physical model")
        try:
            p = preset(m.get("preset", "clean"))
        except KeyError as exc:
            problems.append(str(exc))
            p = preset("clean")
        o = DEFAULT_OBS
        pchanges, ochanges = {}, {}
        for k, v in cfg.get("parameters", {}).items():
            if k in _P_FIELDS:
                pchanges[k] = float(v)
            elif k in OBS_FIELDS:
                ochanges[k] = float(v)
            else:
                problems.append(f"[parameters] unknown name {k!r}")
        p = p.replace(**pchanges)
        o = dataclasses.replace(o, **ochanges)
        free = {}
        for k, v in cfg.get("free", {}).items():
            if k not in CANDIDATES:
                problems.append(f"[free] {k!r} cannot be fitted; choose among {CANDIDATES}")
                continue
            bounds = DEFAULT_BOUNDS.get(k) if v is True else v
            if bounds is None or len(bounds) != 2 or not bounds[0] < bounds[1]:
                problems.append(f"[free] {k} needs bounds [lower, upper]")
                continue
            free[k] = (float(bounds[0]), float(bounds[1]))
        if PHI in free and any(k in free for k in SUB_IRF):
            problems.append(f"{[k for k in SUB_IRF if k in free]} cannot be free together with "
                            f"{PHI}: below the IRF only the yield is identifiable (spec §7.3)")
        bm = m.get("barrier_model", "all_above")
        if problems:
            raise ModelError(f"model file {source or name} has problems:\n  - "
                             + "\n  - ".join(problems))
        spec = cls(params=p, obs=o, free=free, barrier_model=bm,
                   probes=tuple(cfg.get("data", {}).get("probes", ["midir"])),
                   profile=bool(cfg.get("uncertainty", {}).get("profile", True)),
                   name=name, source=source,
                   max_iter=int(cfg.get("fit", {}).get("max_iter", 200)),
                   optimizer=str(cfg.get("fit", {}).get("optimizer", "lm")),
                   midir_artefact=bool(cfg.get("data", {}).get("midir_artefact", False)))
        if PHI in free:
            lo, hi = free[PHI]
            pm = float(phi_max(p, bm))
            free[PHI] = (lo, min(hi, 0.999 * pm))
        return spec


def _sample_nabs(ds) -> float | None:
    a = ds.attrs
    if "mean_absorbed_photons_per_particle" in a:
        return float(a["mean_absorbed_photons_per_particle"])
    if "pump_fluence_uJ_cm2" in a:
        return PHOTONS_PER_PARTICLE_PER_UJ_CM2 * float(a["pump_fluence_uJ_cm2"])
    return None


def collect_data(datasets: dict, probes=("midir",)):
    """Stack the sample and reference mid-IR traces into the fit arrays (edge function).

    Each dataset needs attributes ``hotcarrier_role`` (``sample``/``reference``), ``probe``
    (``midir``) and ``absorbed_photon_density_cm3``. Warns with
    :class:`NonlinearRegimeWarning` when a sample has ⟨N_abs⟩ > 2 photons per particle.
    """
    from ..dataset import fit_mask

    rows = {"sample": [], "reference": []}
    visible = []
    problems = []
    for name, ds in datasets.items():
        role = ds.attrs.get("hotcarrier_role")
        probe = ds.attrs.get("probe", "midir")
        if probe not in probes:
            continue
        if probe == "visible":
            if "absorbed_photon_density_cm3" not in ds.attrs:
                problems.append(f"{name}: attribute absorbed_photon_density_cm3 is missing")
                continue
            ok = fit_mask(ds)
            w = ds["weight"].values if "weight" in ds else np.ones(ds["signal"].shape)
            visible.append(dict(name=name, t=ds["delay"].values.astype(float),
                                wl=ds["wavelength"].values.astype(float),
                                y=np.where(ok, ds["signal"].values, 0.0),
                                w=np.where(ok, w, 0.0),
                                rho=float(ds.attrs["absorbed_photon_density_cm3"]) * 1e-12,
                                units=ds["signal"].attrs.get("units", "")))
            continue
        if probe != "midir":
            problems.append(f"{name}: probe {probe!r} is not supported by the fit")
            continue
        if role not in rows:
            problems.append(f"{name}: attribute hotcarrier_role must be 'sample' or 'reference' "
                            f"(got {role!r})")
            continue
        if "absorbed_photon_density_cm3" not in ds.attrs:
            problems.append(f"{name}: attribute absorbed_photon_density_cm3 is missing "
                            "(ρ_abs = (F/ħω)(1 − 10^−A)/ℓ, spec §7.1)")
            continue
        if ds.sizes["wavelength"] != 1:
            problems.append(f"{name}: a mid-IR dataset must hold one probe wavelength")
            continue
        if role == "sample":
            nabs = _sample_nabs(ds)
            if nabs is not None and nabs > LINEAR_REGIME_MAX_NABS:
                warnings.warn(
                    f"{name}: ⟨N_abs⟩ = {nabs:.3g} photons per particle exceeds "
                    f"{LINEAR_REGIME_MAX_NABS}: outside the linear regime (spec §6.5); the "
                    "linear model underestimates nothing here but charging lowers the apparent "
                    "Φ_inj (−14 % at 10 µJ cm⁻²) — fit a low-fluence series or the nonlinear "
                    "module (hotcarrier.physics.ttm)", NonlinearRegimeWarning, stacklevel=3)
        ok = fit_mask(ds)[:, 0]
        w = ds["weight"].values[:, 0] if "weight" in ds else np.ones(ds.sizes["delay"])
        y = np.where(ok, ds["signal"].values[:, 0], 0.0)
        rows[role].append(dict(name=name, t=ds["delay"].values.astype(float), y=y,
                               w=np.where(ok, w, 0.0),
                               rho=float(ds.attrs["absorbed_photon_density_cm3"]) * 1e-12,
                               units=ds["signal"].attrs.get("units", "")))
    if not rows["sample"]:
        problems.append(f"no sample mid-IR trace found among {list(datasets)}")
    if len(visible) > 1:
        problems.append(f"one visible map at most can be fitted (got {[v['name'] for v in visible]})")
    if problems:
        raise FitError("cannot fit the physical model:\n  - " + "\n  - ".join(problems))
    units = {r["units"] for rr in rows.values() for r in rr} | {v["units"] for v in visible}
    if len(units) > 1:
        raise FitError(f"mixed signal units {sorted(units)}; convert them to one unit first")

    def stack(rr):
        if not rr:
            return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0)
        return (np.concatenate([r["t"] for r in rr]), np.concatenate([r["y"] for r in rr]),
                np.concatenate([r["w"] for r in rr]),
                np.concatenate([np.full(r["t"].size, r["rho"]) for r in rr]))

    ts, ys, ws, rs = stack(rows["sample"])
    tr, yr, wr, rr_ = stack(rows["reference"])
    arrays = dict(t_s=ts, rho_s=rs, t_r=tr, rho_r=rr_, y=np.concatenate([ys, yr]),
                  w=np.concatenate([ws, wr]))
    if visible:
        v = visible[0]
        arrays.update(t_v=v["t"], wl_v=v["wl"], y_v=v["y"], w_v=v["w"], rho_v=v["rho"])
        rows["visible"] = visible
    return {k: jnp.asarray(v, float) for k, v in arrays.items()}, rows, units.pop()


# ------------------------------------------------------------------------------- results
@dataclass
class PhysicalFitResult:
    """Outcome of :func:`fit_physical`; ``summary()`` gives the ``summary.json`` dict."""

    spec: PhysicalModelSpec
    params: InterfaceParams
    obs: ob.ObservableParams
    x: np.ndarray
    converged: bool
    n_iterations: int
    wall_time_s: float
    cost: float
    rmse: float
    n_data: int
    values: dict
    stderr: dict
    identifiable: dict
    derived: dict
    amplitudes: dict
    rows: dict
    fit: np.ndarray
    residual: np.ndarray
    units: str
    profile: dict = field(default_factory=dict)
    n_amplitudes: int = N_AMPLITUDES
    condition: float = float("nan")
    optimizer: str = "lm"
    visible_spectra: np.ndarray | None = None  # (W, 8): N, ΔT_e, ΔT_l, CB, T, artefact ×3
    visible_fit: np.ndarray | None = None  # (Nt, W), signal units

    @property
    def injection_quantum_yield(self) -> float:
        return self.derived[PHI]["value"]

    def summary(self) -> dict:
        """The ``summary.json`` content (schema shared with the kinetics engine)."""
        units = field_units()
        units.update({PHI: "–", "t0_ps": "ps", "t0_ref_ps": "ps", "tau_ref_ps": "ps",
                      "tau_ref_trap_ns": "ns", "r_T": "–", "kappa_mOD": "mOD per 1e12 cm⁻³"})
        params = {}
        free = self.spec.free
        for name in list(free) + ["eta_cid", "tau_inj_fs", "tau_ee_fs", "tau_bet_ps",
                                  "tau_sep_ps", "tau_trec_ns", "N_it_cm2", "irf_fwhm_fs",
                                  "phi_B_eV", "eta_rad", "hbar_omega_eV"]:
            if name in params or name == PHI:
                continue
            entry = {"value": _f(self.values.get(name, _getp(self, name))),
                     "stderr": _f(self.stderr.get(name)), "unit": units.get(name, "–"),
                     "fixed": name not in free and name not in ("eta_cid", "tau_inj_fs")}
            if name in ("eta_cid", "tau_inj_fs") and PHI in free:
                entry["derived_from"] = PHI
                entry["note"] = ("sub-IRF split of Φ_inj not identifiable (spec §7.3); set by "
                                 "the fixed direct share η_CID/Φ_inj and τ_ee")
            lo_hi = free.get(name)
            entry.update(free=name in free, expr=("derived from injection_quantum_yield"
                                                  if entry.get("derived_from") else None),
                         min=lo_hi[0] if lo_hi else None, max=lo_hi[1] if lo_hi else None,
                         identifiable=(self.identifiable.get(name, True) if name in free
                                       else None))
            params[name] = entry
        dof = self.n_data - len(free) - self.n_amplitudes
        from .. import __version__

        at_bound = [k for k, (lo, hi) in free.items() if k in self.values
                    and min(self.values[k] - lo, hi - self.values[k]) <= 0.01 * (hi - lo)]
        return {
            "model": {"type": "hotcarrier", "name": self.spec.name, "file": self.spec.source,
                      "barrier_model": self.spec.barrier_model},
            "converged": bool(self.converged),
            "message": ("converged (relative cost decrease < 1e-12 or step < 1e-10)"
                        if self.converged else "iteration cap reached"),
            "n_iterations": int(self.n_iterations), "n_evaluations": None,
            "wall_time_s": round(float(self.wall_time_s), 3),
            "fit_time_s": round(float(self.wall_time_s), 3),
            "optimizer": ("Levenberg–Marquardt (forward-mode Jacobian)" if self.optimizer == "lm"
                          else "optax L-BFGS (hotcarrier.fitting.optimize)"),
            "criterion": "weighted least squares, amplitudes by variable projection",
            "cost": float(self.cost),
            "rmse": float(self.rmse), "chi2_reduced": float(2 * self.cost / max(dof, 1)),
            "n_data": int(self.n_data), "n_free": int(len(free)),
            "n_amplitudes": int(self.n_amplitudes), "dof": int(dof),
            "condition_number": _f(self.condition),
            "non_identifiable": [k for k in free if not self.identifiable.get(k, True)],
            "at_bound": at_bound, "hotcarrier_version": __version__,
            "parameters": params, "derived": self.derived,
            "amplitudes": {k: _f(v) for k, v in self.amplitudes.items()},
            "datasets": [r["name"] for rr in self.rows.values() for r in rr],
            "chirp": ({"c1_ps_nm": float(self.obs.chirp_c1_ps_nm),
                       "c2_ps_nm2": float(self.obs.chirp_c2_ps_nm2),
                       "lambda_ref_nm": float(self.obs.lambda_ref_nm)}
                      if self.visible_fit is not None else None),
        }

    def to_dataset(self):
        """Data, fit and residual of every trace as an xarray Dataset (dims row)."""
        import xarray as xr

        names, t = [], []
        mid = {k: v for k, v in self.rows.items() if k != "visible"}
        for rr in mid.values():
            for r in rr:
                names += [r["name"]] * r["t"].size
                t.append(r["t"])
        y = np.concatenate([r["y"] for rr in mid.values() for r in rr])
        ds = xr.Dataset(
            {"signal": ("row", y, {"units": self.units}),
             "fit": ("row", self.fit, {"units": self.units}),
             "weighted_residual": ("row", self.residual)},
            coords={"delay": ("row", np.concatenate(t), {"units": "ps"}),
                    "trace": ("row", np.asarray(names))},
            attrs={"summary_json": json.dumps(self.summary())})
        if self.visible_fit is not None:
            v = self.rows["visible"][0]
            ds = ds.assign_coords(delay_vis=("delay_vis", v["t"], {"units": "ps"}),
                                  wavelength=("wavelength", v["wl"], {"units": "nm"}))
            ds["visible_signal"] = (("delay_vis", "wavelength"), v["y"], {"units": self.units})
            ds["visible_fit"] = (("delay_vis", "wavelength"), self.visible_fit,
                                 {"units": self.units})
            ds["visible_spectra"] = (("wavelength", "component"), self.visible_spectra,
                                     {"components": "N,dTe,dTl,CB,T,art0,art1,art2"})
        return ds

    def write(self, out_dir) -> Path:
        """Write ``summary.json`` (atomic), ``result.nc`` and ``fit.png`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".summary.json.tmp"
        tmp.write_text(json.dumps(self.summary(), indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, out / "summary.json")
        ds = self.to_dataset()
        tmpnc = out / ".result.nc.tmp"
        ds.to_netcdf(tmpnc, engine="h5netcdf")
        os.replace(tmpnc, out / "result.nc")
        self.plot(out / "fit.png")
        return out

    def plot(self, path):
        """Figure of every trace with its fit (log-linear delay axis)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        nvis = self.visible_fit is not None
        fig, axes = plt.subplots(1, 2 + nvis, figsize=(10 + 5 * nvis, 4))
        i = 0
        for role, rr in ((k, v) for k, v in self.rows.items() if k != "visible"):
            ax = axes[0] if role == "sample" else axes[1]
            for r in rr:
                n = r["t"].size
                (line,) = ax.plot(r["t"], self.fit[i:i + n], "-", lw=1.2, label=r["name"])
                ax.plot(r["t"], r["y"], ".", ms=3, alpha=0.5, color=line.get_color())
                i += n
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlabel("delay (ps)")
            ax.set_ylabel(f"ΔA ({self.units})")
            ax.set_title("sample (mid-IR)" if role == "sample" else "reference (CdS, band gap)")
            ax.legend(fontsize=7)
        if nvis:
            ax = axes[2]
            v = self.rows["visible"][0]
            for wl in (495.0, 560.0, 600.0):
                j = int(np.argmin(np.abs(v["wl"] - wl)))
                (line,) = ax.plot(v["t"], self.visible_fit[:, j], "-", lw=1.2,
                                  label=f"{v['wl'][j]:.0f} nm")
                ax.plot(v["t"], v["y"][:, j], ".", ms=3, alpha=0.5, color=line.get_color())
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlabel("delay (ps)")
            ax.set_title("visible (chirped, fitted spectra)")
            ax.legend(fontsize=7)
        d = self.derived[PHI]
        lo, hi = (float("nan") if c is None else c for c in d["ci95"])
        fig.suptitle(f"{self.spec.name}: Φ_inj = {d['value']:.4f} ± "
                     f"{d['stderr'] or float('nan'):.4f} (95 % CI {lo:.4f}–{hi:.4f})")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)

    def __repr__(self):
        d = self.derived[PHI]
        lines = [f"PhysicalFitResult  {self.spec.name}  converged={self.converged} "
                 f"({self.n_iterations} it, {self.wall_time_s:.1f} s)  RMSE {self.rmse:.3g}",
                 f"  Φ_inj = {d['value']:.4f} ± {d['stderr'] or float('nan'):.4f}  "
                 f"95 % interval [{d['ci95'][0]:.4f}, {d['ci95'][1]:.4f}]"]
        for k in self.spec.free:
            lines.append(f"  {k:24s} {self.values[k]:.6g} ± {self.stderr.get(k, float('nan')):.2g}")
        return "\n".join(lines)


def _f(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _getp(res, name):
    if hasattr(res.params, name):
        return getattr(res.params, name)
    return getattr(res.obs, name, None)


# ------------------------------------------------------------------------------ the fit
def fit_physical(datasets: dict, spec: PhysicalModelSpec, progress=None) -> PhysicalFitResult:
    """Fit the physical model to a set of TA datasets (edge function; float64 inside).

    Parameters
    ----------
    datasets : dict of name → xarray.Dataset
        Sample mid-IR traces (a fluence series) and optionally a calibration reference.
    spec : PhysicalModelSpec
        Model (see :meth:`PhysicalModelSpec.from_toml`).
    progress : callable, optional
        ``progress(message)`` for status lines.

    Returns
    -------
    PhysicalFitResult
    """
    with jax.enable_x64(True):
        return _fit(datasets, spec, progress or (lambda msg: None))


@functools.lru_cache(maxsize=8)
def _compiled(res_fn: _Residual):
    """Jitted pieces shared by every fit with the same static configuration.

    ``rj(x, *args) -> (residual, Jacobian)`` (forward mode) drives the Levenberg–Marquardt
    iterations, the covariance and the profile; one compilation serves them all.
    """

    def both(x, *a):
        r, c, fit = res_fn.solve(x, *a)
        if res_fn.visible:
            rv, cv, fitv = res_fn.solve_visible(x, *a)
            r = jnp.concatenate([r, rv])
            return r, (r, c, fit, cv, fitv)
        return r, (r, c, fit)

    rjx = jax.jit(jax.jacfwd(both, has_aux=True))

    def solve(x, *a):
        return rjx(x, *a)[1]

    def rj(x, *a):
        J, aux = rjx(x, *a)
        return aux[0], J

    def derived_all(x, ctrl, base_p, base_o, data=None):
        vals = jnp.stack(res_fn.values(x, ctrl))
        p, o = res_fn.params(x, ctrl, base_p, base_o)
        phi = injection_quantum_yield(p, res_fn.model)
        m, w = traps.gauss_poisson_nodes(p.mean_traps, res_fn.n_nodes)
        k1 = traps.k1_per_ps(p)
        den = p.k_sep + p.k_bet + m * k1
        lf = jnp.sum(w * p.k_sep / den)
        tf = jnp.sum(w * m * k1 / den)
        bf = jnp.sum(w * p.k_bet / den)
        d = jnp.concatenate([vals, jnp.stack([phi, lf, phi * lf, tf, bf, p.eta_cid,
                                              p.tau_inj_fs])])
        return d, d

    return solve, rj, jax.jit(jax.jacfwd(derived_all, has_aux=True))


def levenberg_marquardt(rj, x0, args, free_idx, *, max_iter=200, ftol=1e-12, xtol=1e-10):
    """Minimise ½‖r‖² over the coordinates ``free_idx`` of ``x`` (host loop, jitted r and J).

    Marquardt's diagonal scaling, multiplicative damping update; stops when the relative
    cost decrease of an accepted step is < ``ftol`` or the largest step < ``xtol``
    (unconstrained units). Returns (x, cost, n_iter, converged, J at x, r at x).

    Notes
    -----
    Used instead of the L-BFGS of :mod:`hotcarrier.fitting.optimize` (``optimizer = "lbfgs"`` in the
    model file selects that) because it needs only the forward-mode Jacobian, which the
    covariance needs anyway: one XLA compilation instead of three (reverse-mode gradient,
    line search, Jacobian), which keeps ``hotcarrier demo`` well under a minute.
    """
    x = np.asarray(x0, float).copy()
    r, J = (np.asarray(a) for a in rj(jnp.asarray(x), *args))
    cost = 0.5 * float(r @ r)
    lam = 1e-3
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        Jf = J[:, free_idx]
        g = Jf.T @ r
        H = Jf.T @ Jf
        D = np.maximum(np.diag(H), 1e-300)
        accepted = False
        for _ in range(30):
            try:
                step = np.linalg.solve(H + lam * np.diag(D), -g)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            xn = x.copy()
            xn[free_idx] += step
            rn, Jn = (np.asarray(a) for a in rj(jnp.asarray(xn), *args))
            cn = 0.5 * float(rn @ rn)
            if np.isfinite(cn) and cn <= cost:
                accepted = True
                break
            lam *= 4.0
        if not accepted:
            converged = True  # no decrease possible along any damped step: at the minimum
            break
        dec = cost - cn
        x, r, J, cost = xn, rn, Jn, cn
        lam = max(lam / 3.0, 1e-12)
        if dec <= ftol * max(cost, 1e-300) or np.max(np.abs(step)) < xtol:
            converged = True
            break
    return x, cost, it, converged, J, r


def _start_value(spec, name):
    if name == PHI:
        return float(injection_quantum_yield(spec.params, spec.barrier_model))
    if name in _P_FIELDS:
        return float(getattr(spec.params, name))
    return float(getattr(spec.obs, name))


def _fit(datasets, spec, progress):
    from ..fitting.optimize import least_squares
    from ..fitting.uncertainty import gauss_newton_covariance

    t_start = time.perf_counter()
    data, rows, units = collect_data(datasets, spec.probes)
    has_ref = bool(rows["reference"])
    if not has_ref and PHI in spec.free:
        warnings.warn("no calibration reference among the data: κ (electron absorption) is held "
                      f"at kappa_mOD = {spec.obs.kappa_mOD} from the model file, so Φ_inj is only "
                      "as good as that calibration (spec §7.1)", stacklevel=3)
    if not spec.free:
        raise FitError("the model file has no [free] parameters")
    art = spec.midir_artefact
    col_on = np.array([1, 1, art, art, art, art and has_ref, art and has_ref, art and has_ref],
                      float)
    data["col_on"] = jnp.asarray(col_on)
    n_amp = int(col_on.sum()) - (0 if has_ref else 1)
    has_vis = "visible" in rows
    res_fn = _Residual(n_nodes=N_NODES, model=spec.barrier_model, fixed_kappa=not has_ref,
                       visible=has_vis)
    if has_vis:
        n_amp += 8 * int(data["wl_v"].size)
    solve, jac_fn, derived_jac = _compiled(res_fn)
    free_names = [k for k in CANDIDATES if k in spec.free]
    free_idx = np.array([CANDIDATES.index(k) for k in free_names])
    lo = np.ones(len(CANDIDATES))
    hi = 2.0 * np.ones(len(CANDIDATES))
    pin = np.ones(len(CANDIDATES), bool)
    pinval = np.array([_start_value(spec, k) for k in CANDIDATES])
    x0 = np.zeros(len(CANDIDATES))
    for k in free_names:
        i = CANDIDATES.index(k)
        lo[i], hi[i] = spec.free[k]
        pin[i] = False
        x0[i] = _to_unconstrained(pinval[i], lo[i], hi[i], k in LOG_SCALED)
    ctrl = {"lo": jnp.asarray(lo), "hi": jnp.asarray(hi), "pin": jnp.asarray(pin),
            "pinval": jnp.asarray(pinval)}
    args = (ctrl, spec.params, spec.obs, data)
    n_data = int(jnp.sum(data["w"] > 0))
    if has_vis:
        n_data += int(jnp.sum(data["w_v"] > 0))
    progress(f"fitting {len(free_names)} parameters to {n_data} points")
    if spec.optimizer == "lbfgs":
        from ..fitting.optimize import least_squares

        rl = least_squares(res_fn, jnp.asarray(x0), *args, max_iter=spec.max_iter)
        x = np.asarray(rl.x)
        r_, J = (np.asarray(a) for a in jac_fn(jnp.asarray(x), *args))
        n_iter, conv = int(rl.n_iter), bool(rl.converged)
    else:
        x, _, n_iter, conv, J, r_ = levenberg_marquardt(jac_fn, x0, args, free_idx,
                                                        max_iter=spec.max_iter)
    resid, amps, fit, *vis = solve(jnp.asarray(x), *args)
    cost = 0.5 * float(jnp.sum(resid**2))
    resid = resid[: int(data["y"].size)]
    J = J[:, free_idx]
    cov = gauss_newton_covariance(J, cost, n_data, n_amplitudes=n_amp)
    x_np = np.asarray(x)
    # delta method (J Σ Jᵀ) for every physical and derived quantity, one compiled Jacobian
    Jd, dvals = (np.asarray(a) for a in derived_jac(jnp.asarray(x_np), *args))
    Jd = Jd[:, free_idx]
    covf = np.where(np.isfinite(cov.covariance), cov.covariance, 0.0)
    cov_all = Jd @ covf @ Jd.T
    bad = np.any(np.abs(Jd[:, ~np.asarray(cov.identifiable)]) > 0, axis=1)
    se_all = np.sqrt(np.where(np.diag(cov_all) >= 0, np.diag(cov_all), np.nan))
    se_all[bad] = np.nan
    nc = len(CANDIDATES)
    vals_p, se_p = dvals[free_idx], se_all[free_idx]
    vals_d, se_d = dvals[nc:], se_all[nc:]
    p_fit, o_fit = res_fn.params(jnp.asarray(x_np), ctrl, spec.params, spec.obs)
    values = {k: float(v) for k, v in zip(free_names, vals_p)}
    values.update(eta_cid=float(vals_d[5]), tau_inj_fs=float(vals_d[6]))
    stderr = {k: float(v) for k, v in zip(free_names, se_p)}
    stderr.update(eta_cid=float(se_d[5]), tau_inj_fs=float(se_d[6]))
    ident = {k: bool(b) for k, b in zip(free_names, cov.identifiable)}
    phi, phi_se = float(vals_d[0]), float(se_d[0])
    ci, prof, ci_method = [None, None], {}, "Wald (delta method)"
    if PHI in free_names and spec.profile and math.isfinite(phi_se) and phi_se > 0:
        progress("profile likelihood of Φ_inj")
        ci, prof = _profile_phi(jac_fn, x, ctrl, args, phi, phi_se, cov.rmse**2, cost,
                                spec.free[PHI], free_idx, spec.max_iter)
        ci_method = "profile likelihood (Δχ² = 3.84 in RMSE-scaled units)"
    elif math.isfinite(phi_se):
        ci = [phi - 1.96 * phi_se, phi + 1.96 * phi_se]
    derived = {
        PHI: {"value": phi, "stderr": _f(phi_se), "ci95": [_f(c) for c in ci],
              "ci_method": ci_method, "unit": "–",
              "definition": "∫ injection flux dt per photon absorbed by Au (spec §5.4)"},
        "long_lived_fraction": {"value": float(vals_d[1]), "stderr": _f(se_d[1]), "unit": "–",
                                "definition": "φ_LL = ⟨k_sep/(k_sep+k_BET+m k₁)⟩ (spec §5.2)"},
        "long_lived_yield": {"value": float(vals_d[2]), "stderr": _f(se_d[2]), "unit": "–",
                             "definition": "Φ_inj·φ_LL: long-lived plateau per absorbed "
                                           "photon (bridge to the H2 model, spec §9.4b)"},
        "trapped_fraction": {"value": float(vals_d[3]), "stderr": _f(se_d[3]), "unit": "–"},
        "back_transfer_fraction": {"value": float(vals_d[4]), "stderr": _f(se_d[4]),
                                   "unit": "–"},
        "mean_traps_per_particle": {"value": float(p_fit.mean_traps), "unit": "–"},
        "not_identifiable": [k for k in free_names if not ident[k]] + list(SUB_IRF),
    }
    derived["fluence_linearity"] = _fluence_linearity(rows, np.asarray(fit), phi)
    lin = derived["fluence_linearity"]
    if lin and lin["slope_z"] is not None and abs(lin["slope_z"]) > 3.0:
        warnings.warn(f"the apparent Φ_inj of the sample traces changes with fluence "
                      f"(slope {lin['slope_per_1e12_cm3']:.3g} per 10¹² cm⁻³, "
                      f"{lin['slope_z']:.1f} σ): the data are not in the linear regime "
                      "(spec §6.5); keep the low-fluence traces or use the nonlinear module",
                      NonlinearRegimeWarning, stacklevel=3)
    amp_names = ["kappa_mOD", "beta_au_mOD_K", "art_sample_a0", "art_sample_a1",
                 "art_sample_a2", "art_ref_a0", "art_ref_a1", "art_ref_a2"]
    out = PhysicalFitResult(
        spec=spec, params=p_fit, obs=o_fit, x=x_np, converged=conv,
        n_iterations=n_iter, wall_time_s=time.perf_counter() - t_start, cost=cost,
        rmse=float(cov.rmse), n_data=n_data, values=values, stderr=stderr, identifiable=ident,
        derived=derived, amplitudes={k: v for k, v, on in zip(amp_names, np.asarray(amps), col_on)
                                     if on}, rows=rows, fit=np.asarray(fit),
        residual=np.asarray(resid), units=units, profile=prof, n_amplitudes=n_amp,
        condition=float(cov.condition), optimizer=spec.optimizer,
        visible_spectra=np.asarray(vis[0]) if vis else None,
        visible_fit=np.asarray(vis[1]) if vis else None)
    if not out.converged:
        from ..errors import ConvergenceWarning

        warnings.warn(f"physical fit stopped without meeting its criterion "
                      f"({n_iter} iterations)", ConvergenceWarning, stacklevel=3)
    return out


def _fluence_linearity(rows, fit, phi):
    """Per-trace apparent Φ_inj (best scale of the global model per sample trace) and the
    slope of apparent Φ_inj vs ρ_abs with its z-score: the linearity check of spec §6.5."""
    out, i = [], 0
    for r in rows["sample"]:
        n = r["t"].size
        f, y, w = fit[i:i + n], r["y"], r["w"]
        i += n
        den = float(np.sum((w * f) ** 2))
        if den <= 0:
            continue
        sc = float(np.sum(w * w * f * y)) / den
        out.append((r["name"], r["rho"], phi * sc, phi / math.sqrt(den)))
    res = {"note": "stderr excludes the calibration (κ) uncertainty common to all traces",
           "traces": [{"name": n, "rho_abs_1e12_cm3": rho, "apparent_yield": a,
                       "stderr": e} for n, rho, a, e in out],
           "slope_per_1e12_cm3": None, "slope_stderr": None, "slope_z": None}
    if len(out) >= 2:
        rho = np.array([o[1] for o in out])
        a = np.array([o[2] for o in out])
        wt = 1.0 / np.array([o[3] for o in out]) ** 2
        X = np.stack([rho, np.ones_like(rho)], axis=1)
        cov = np.linalg.inv(X.T @ (wt[:, None] * X))
        coef = cov @ (X.T @ (wt * a))
        res.update(slope_per_1e12_cm3=float(coef[0]), slope_stderr=float(math.sqrt(cov[0, 0])),
                   slope_z=float(coef[0] / math.sqrt(cov[0, 0])))
    return res


def _value_np(x, lo, hi, name, pinval):
    i = CANDIDATES.index(name)
    if lo[i] == 1.0 and hi[i] == 2.0:  # pinned
        return pinval[i]
    return float(_value(x[i], lo[i], hi[i], name in LOG_SCALED))


def _profile_phi(rj, x, ctrl, args, phi, phi_se, rmse2, cost, bounds, free_idx, max_iter,
                 max_steps=6):
    """95 % profile-likelihood interval of Φ_inj (Δcost = 1.92 RMSE², i.e. Δχ² = 3.84).

    Φ_inj is pinned at values Φ̂ ± k·0.8σ̂ (σ̂ = delta-method stderr) and all other free
    parameters are re-optimised from the previous point (warm start). The pin is a traced
    argument, so every point reuses the compiled residual/Jacobian (no recompilation). The
    crossing is interpolated linearly in √Δcost, exact for a quadratic profile; a side not
    reached within ``max_steps`` is extrapolated the same way (or ends at the bound).
    """
    i = CANDIDATES.index(PHI)
    others = np.array([j for j in free_idx if j != i], int)
    threshold = 1.92 * rmse2
    step = 0.8 * phi_se
    ends, grid, prof = [], [phi], [0.0]
    for sign in (-1.0, 1.0):
        xw, prev_v, prev_d, end = np.asarray(x), phi, 0.0, None
        for k in range(1, max_steps + 1):
            v = phi + sign * k * step
            if not bounds[0] < v < bounds[1]:
                end = bounds[0] if sign < 0 else bounds[1]
                break
            c = dict(ctrl, pin=ctrl["pin"].at[i].set(True), pinval=ctrl["pinval"].at[i].set(v))
            xw, cv, *_ = levenberg_marquardt(rj, xw, (c, *args[1:]), others,
                                             max_iter=max_iter)
            d = cv - cost
            grid.append(v)
            prof.append(d)
            if d >= threshold:
                a, b = math.sqrt(max(prev_d, 0.0)), math.sqrt(d)
                end = prev_v + (v - prev_v) * (math.sqrt(threshold) - a) / (b - a)
                break
            prev_v, prev_d = v, d
        if end is None:
            end = phi + sign * abs(prev_v - phi) * math.sqrt(threshold / max(prev_d, 1e-300))
        ends.append(float(end))
    order = np.argsort(grid)
    return ends, {"grid": [float(grid[j]) for j in order],
                  "delta_cost": [float(prof[j]) for j in order], "threshold": threshold}


# ------------------------------------------------------------------------ file-level API
def is_physical_model_file(path) -> bool:
    """True when ``path`` is a TOML model file with ``[model] type = "hotcarrier"``."""
    try:
        cfg = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return cfg.get("model", {}).get("type") in ("hotcarrier", "physical")


def load_data_files(paths) -> dict:
    """Read data files: bundles (netCDF with groups) or single TA datasets (any format)."""
    from ..io import load_ta
    from .simulate import read_bundle

    out = {}
    for path in paths:
        path = Path(path)
        try:
            members = read_bundle(path)
        except Exception:  # not a netCDF-4 bundle: a single TA dataset in any format
            members = {path.stem: load_ta(path)}
        for k, v in members.items():
            key = k if k not in out else f"{path.stem}:{k}"
            out[key] = v
    return out


def fit_physical_model_file(data_paths, model_path, out_dir=None, progress=None):
    """Fit the data files with a physical model file; write the result when ``out_dir``.

    Returns
    -------
    PhysicalFitResult
    """
    spec = PhysicalModelSpec.from_toml(model_path)
    res = fit_physical(load_data_files(data_paths), spec, progress)
    if out_dir is not None:
        res.write(out_dir)
    return res


def demo_fits(out_dir=None, progress=None):
    """Fit the bundled clean and defective datasets with their model files.

    Returns
    -------
    list of (name, Φ_inj value, [ci95 low, high])
    """
    from ..bundled import datasets_dir, fits_dir

    results = []
    for name in ("au_cds_clean", "au_cds_defective"):
        data = datasets_dir() / f"{name}.nc"
        model = fits_dir() / name / "model.toml"
        res = fit_physical_model_file([data], model,
                                      None if out_dir is None else Path(out_dir) / name,
                                      progress)
        d = res.derived[PHI]
        results.append((name, d["value"], d["ci95"]))
    return results

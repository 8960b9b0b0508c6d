"""The physical model's TOML file: start values, free parameters with bounds, options.

A physical-model file of the rigid chain, e.g. ``fits/au_cds_clean/model_rigid.toml`` (a
``[decay]`` table makes it the flexible-decay route, e.g. ``fits/au_cds_clean/model.toml``;
:mod:`hotcarrier.physics.decay`)::

    [model]
    type = "hotcarrier"        # marks a physical-model file
    preset = "clean"           # start values: InterfaceParams preset
    barrier_model = "all_above"

    [parameters]               # start/fixed values (InterfaceParams fields or observables)
    tau_bet_ps = 2.0

    [free]                     # fitted parameters with [lower, upper] bounds (or true)
    injection_quantum_yield = [0.001, 0.72]
    tau_bet_ps = [0.5, 20.0]

    [data]
    probes = ["midir"]         # which members of the data files enter the fit

Sub-IRF parameters (τ_ee, the split of Φ_inj between the direct and hot-electron channels,
hence τ_inj) are not identifiable below the IRF (spec §7.3): Φ_inj itself is the fitted
parameter, τ_ee and the direct share χ = η_CID/Φ_inj are held at the model file's values and
η_CID, τ_inj are *derived* from Φ_inj.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..target.modelfile import is_physical_model_file  # noqa: F401  (re-exported)
from . import observables as ob
from .barrier import MODELS
from .injection import injection_quantum_yield, phi_max
from .parameters import InterfaceParams, field_units, preset
from .decay import ROUTE_FREE
from .simulate import DEFAULT_OBS

__all__ = ["PhysicalModel", "is_physical_model_file", "PHI", "CANDIDATES", "DEFAULT_BOUNDS",
           "LOG_SCALED", "SUB_IRF", "OBS_FIELDS", "P_FIELDS", "O_FIELDS", "BATCH_DERIVED",
           "EXTRA_UNITS", "parameter_problem"]

PHI = "injection_quantum_yield"
OBS_FIELDS = ("t0_ps", "t0_ref_ps", "tau_ref_ps", "tau_ref_trap_ns", "r_T", "r_LL", "q_ref",
              "kappa_mOD", "chirp_c1_ps_nm", "chirp_c2_ps_nm2", "lambda_ref_nm")
"""Observable parameters that a model file may set (``kappa_mOD`` only without a reference;
the chirp and its reference wavelength for a visible map)."""

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

CANDIDATES = (PHI, "tau_bet_ps", "tau_sep_ps", "N_it_cm2", "tau_trec_ns", "irf_fwhm_fs", "t0_ps",
              "t0_ref_ps", "tau_ref_ps", "tau_ref_trap_ns", "r_T", "chirp_c1_ps_nm",
              "chirp_c2_ps_nm2")
"""Parameters a model file may free. The optimiser always sees all of them; the fixed ones are
*pinned* by a traced mask, so every fit (any preset, any free set, every profile-likelihood
point) with data of the same shapes reuses ONE compiled program."""

BATCH_DERIVED = ("injection_quantum_yield", "long_lived_fraction", "long_lived_yield",
                 "trapped_fraction", "back_transfer_fraction", "eta_cid", "tau_inj_fs")
"""Derived quantities reported for every fit (in this order after the candidates)."""

EXTRA_UNITS = {PHI: "–", "t0_ps": "ps", "t0_ref_ps": "ps", "tau_ref_ps": "ps",
               "tau_ref_trap_ns": "ns", "r_T": "–", "kappa_mOD": "mOD per 1e12 cm⁻³",
               "chirp_c1_ps_nm": "ps nm⁻¹", "chirp_c2_ps_nm2": "ps nm⁻²",
               "long_lived_fraction": "–", "long_lived_yield": "–", "trapped_fraction": "–",
               "back_transfer_fraction": "–"}
"""Units of the observable and derived names (InterfaceParams fields: ``field_units``)."""

POSITIVE_SUFFIXES = ("_ps", "_fs", "_ns", "_us", "_cm2", "_nm", "_eV", "_K")
"""A [parameters] value whose name ends so (a time, density, length, energy or temperature)
must be finite and > 0 (``dphi_pin_eV``, a barrier shift, may be any sign)."""

SIGNED = frozenset({"dphi_pin_eV", "t0_ps", "t0_ref_ps", "chirp_c1_ps_nm", "chirp_c2_ps_nm2"})


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parameter_problem(k: str, v) -> str | None:
    """Why a fixed value ``k = v`` (model file [parameters], ``simulate --set``) is unusable
    (unknown name with a "did you mean", not a finite number, out of range), or None."""
    return _parameter_problem(k, v)


def _parameter_problem(k: str, v) -> str | None:
    """Why the [parameters] entry ``k = v`` is unusable, or None."""
    if k == PHI:
        return (f"{PHI} is not set directly: it follows from eta_cid and tau_inj_fs (set "
                "those), or fit it under [free]")
    if k not in P_FIELDS and k not in OBS_FIELDS:
        near = difflib.get_close_matches(k, sorted(P_FIELDS | set(OBS_FIELDS)), n=3)
        return f"unknown name {k!r}" + (f"; did you mean {' or '.join(map(repr, near))}?" if near
                                        else "; names are InterfaceParams fields (docs/physics.md)")
    if not _is_number(v):
        return f"{k} = {v!r}: expected a number (without quotes)"
    if not math.isfinite(float(v)):
        return f"{k} = {v!r}: expected a finite number"
    if k not in SIGNED and k.endswith(POSITIVE_SUFFIXES) and not float(v) > 0:
        return f"{k} = {v!r}: a time, density, length, energy or temperature must be > 0"
    if k in RATIO_RANGES:
        lo, hi = RATIO_RANGES[k]
        positive = k in ("q_ref", "kappa_mOD")
        if not (lo < float(v) <= hi if positive else lo <= float(v) <= hi):
            return (f"{k} = {v!r}: expected a value " + ("> 0" if positive and hi == math.inf
                    else f"in [{lo:g}, {hi:g}]"))
    return None


def _bounds_problem(k: str, v, bounds, decay=None) -> str | None:
    """Why the [free] entry ``k = v`` (``bounds``: v, or the default bounds for true) is
    unusable, or None (``decay``: the flexible-decay route frees fewer names)."""
    allowed = CANDIDATES if decay is None else ROUTE_FREE
    if k not in allowed:
        return f"{k!r} cannot be fitted; choose among {allowed}" + (
            " (the flexible-decay route fits its lifetimes within the [decay] bounds)"
            if decay is not None else "")
    if (not isinstance(bounds, (list, tuple)) or len(bounds) != 2
            or not all(_is_number(b) for b in bounds)):
        return f"{k} = {v!r}: give two numbers [lower, upper] (or true for the default bounds)"
    if not bounds[0] < bounds[1]:
        return (f"{k} = {list(bounds)}: the lower bound must be below the upper one; write "
                f"[{min(bounds)}, {max(bounds)}]")
    if k in LOG_SCALED and bounds[0] <= 0:
        return (f"{k} = {list(bounds)}: a positive quantity (fitted in log space) needs a lower "
                "bound > 0")
    return None


P_FIELDS = frozenset(f.name for f in dataclasses.fields(InterfaceParams))
O_FIELDS = frozenset(f.name for f in dataclasses.fields(ob.ObservableParams))


@dataclass
class PhysicalModel:
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
    decay: object = None  # DecaySpec of the flexible-decay route ([decay]), None: rigid chain
    systematics: object = None  # Systematics priors ([systematics]), None: statistical only

    def start_value(self, name: str) -> float:
        """Start (or fixed) value of a candidate or InterfaceParams/observable name; Φ_inj is
        that of the start parameters."""
        if name == PHI:
            return float(injection_quantum_yield(self.params, self.barrier_model))
        return float(getattr(self.params if name in P_FIELDS else self.obs, name))

    def parameter_layout(self) -> tuple[list, list, dict]:
        """(reported names, free names, units) of a batch of fits of this model: the free
        parameters, then the derived quantities (:data:`BATCH_DERIVED`)."""
        units = {**field_units(), **EXTRA_UNITS}
        free = [k for k in CANDIDATES if k in self.free]
        names = free + [k for k in BATCH_DERIVED if k not in free]
        return names, free, {k: units.get(k, "–") for k in names}

    @classmethod
    def from_toml(cls, path) -> PhysicalModel:
        """Read a model file (see the module docstring); raises :class:`ModelError`."""
        from ..target.modelfile import read_model_text

        path = Path(path)
        try:
            cfg = tomllib.loads(read_model_text(path))
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise ModelError(f"{path}: cannot read the model file ({exc or 'nested too deeply'})"
                             ) from None
        return cls.from_dict(cfg, name=path.parent.name or path.stem, source=str(path))

    @classmethod
    def from_dict(cls, cfg: dict, name="hotcarrier", source="") -> PhysicalModel:
        """Build from a parsed model file; every problem is listed in one ModelError."""
        problems = _structure_problems(cfg)
        sec = {k: (cfg.get(k) if isinstance(cfg.get(k), dict) else {}) for k in _SECTIONS}
        m = sec["model"]
        if m.get("type") not in ("hotcarrier", "physical"):
            problems.append("[model] type must be \"hotcarrier\" for the physical model")
        try:
            p = preset(m.get("preset", "clean"))
        except KeyError as exc:
            problems.append(str(exc).strip("'\""))
            p = preset("clean")
        bm = m.get("barrier_model", "all_above")
        if bm not in MODELS:
            problems.append(f"[model] barrier_model = {bm!r} is unknown; choose one of {MODELS}")
            bm = "all_above"
        pchanges, ochanges = {}, {}
        for k, v in sec["parameters"].items():
            bad = _parameter_problem(k, v)
            if bad:
                problems.append(f"[parameters] {bad}")
            else:
                (pchanges if k in P_FIELDS else ochanges)[k] = float(v)
        p = p.replace(**pchanges)
        o = dataclasses.replace(DEFAULT_OBS, **ochanges)
        decay, syst = _route_tables(cfg, source or name)
        free = {}
        for k, v in sec["free"].items():
            bounds = DEFAULT_BOUNDS.get(k) if v is True else v
            bad = _bounds_problem(k, v, bounds, decay)
            if bad:
                problems.append(f"[free] {bad}")
            else:
                free[k] = (float(bounds[0]), float(bounds[1]))
        if PHI in free and any(k in free for k in SUB_IRF):
            problems.append(f"{[k for k in SUB_IRF if k in free]} cannot be free together with "
                            f"{PHI}: below the IRF only the yield is identifiable (spec §7.3)")
        _raise_problems(problems, source or name)
        opts = _option_values(sec, problems)
        _raise_problems(problems, source or name)
        spec = cls(params=p, obs=o, free=free, barrier_model=bm, name=name, source=source,
                   decay=decay, systematics=syst, **opts)
        if decay is not None:  # starts come from [decay]/[parameters]; no chain cap on Φ_inj
            return spec
        for k, (lo, hi) in free.items():
            v = spec.start_value(k)
            if not lo < v < hi:
                where = ("the preset's Φ_inj" if k == PHI else
                         "the start value ([parameters] or the preset)")
                problems.append(f"[free] {k} = [{lo:g}, {hi:g}] does not contain {where} "
                                f"{v:.6g}; move the start inside the bounds or widen them")
        _raise_problems(problems, source or name)
        if PHI in free:  # capped at 0.999 of the largest reachable Φ_inj
            lo, hi = free[PHI]
            free[PHI] = (lo, min(hi, 0.999 * float(phi_max(p, bm))))
        return spec


def _route_tables(cfg: dict, where: str):
    """(DecaySpec or None, Systematics or None) of the [decay] and [systematics] tables."""
    from .decay import decay_spec_from_dict
    from .systematics import systematics_from_dict

    decay = cfg.get("decay")
    syst = cfg.get("systematics")  # a non-table is reported by _structure_problems
    return (decay_spec_from_dict(decay, where) if isinstance(decay, dict) else None,
            systematics_from_dict(syst, where) if isinstance(syst, dict) else None)


_SECTIONS = {"model": {"type", "preset", "barrier_model", "name", "description"},
             "parameters": None, "free": None, "data": {"probes", "midir_artefact"},
             "fit": {"max_iter", "optimizer"}, "uncertainty": {"profile"},
             "decay": None, "systematics": None}
"""Sections of a physical-model file and their keys (None: names checked by their section;
[decay] and [systematics], the flexible-decay route, by decay.py and systematics.py)."""

PROBES = ("midir", "visible")
OPTIMIZERS = ("lm", "lbfgs")
RATIO_RANGES = {"r_T": (0.0, 1.0), "r_LL": (0.0, math.inf), "q_ref": (0.0, math.inf),
                "kappa_mOD": (0.0, math.inf)}
"""Allowed ranges of the fixed observable ratios (cross-section ratios and the calibration)."""


def _near(name, allowed) -> str:
    near = difflib.get_close_matches(str(name), sorted(allowed), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _structure_problems(cfg: dict) -> list:
    """Unknown sections and keys (with a "did you mean"), sections that are not tables."""
    out = []
    for sec, v in cfg.items():
        if sec not in _SECTIONS:
            out.append(f"unknown section [{sec}]{_near(sec, _SECTIONS)} (sections: "
                       f"{', '.join(_SECTIONS)})")
        elif not isinstance(v, dict):
            out.append(f"[{sec}] must be a table ([{sec}] on its own line), not "
                       f"{type(v).__name__}")
        elif _SECTIONS[sec] is not None:
            out += [f"[{sec}] unknown key {k!r}{_near(k, _SECTIONS[sec])} (allowed: "
                    f"{', '.join(sorted(_SECTIONS[sec]))})" for k in v if k not in _SECTIONS[sec]]
    return out


def _option_values(sec: dict, problems: list) -> dict:
    """probes, midir_artefact, max_iter, optimizer and profile, type-checked."""
    data, fit, unc = sec["data"], sec["fit"], sec["uncertainty"]
    out = {}
    probes = data.get("probes", ["midir"])
    if (not isinstance(probes, list) or not probes
            or not all(isinstance(x, str) and x in PROBES for x in probes)):
        problems.append(f"[data] probes = {probes!r}: expected a non-empty list of "
                        f"{' / '.join(map(repr, PROBES))}, e.g. probes = [\"midir\"]")
    else:
        out["probes"] = tuple(probes)
    for key, v, default in (("midir_artefact", data.get("midir_artefact"), False),
                            ("profile", unc.get("profile"), True)):
        if v is not None and not isinstance(v, bool):
            problems.append(f"{key} = {v!r}: expected true or false (without quotes)")
        out[key] = default if v is None else v
    mi = fit.get("max_iter", 200)
    if isinstance(mi, bool) or not isinstance(mi, int) or mi < 1:
        problems.append(f"[fit] max_iter = {mi!r}: expected a whole number >= 1")
    out["max_iter"] = mi
    opt = fit.get("optimizer", "lm")
    if opt not in OPTIMIZERS:
        problems.append(f"[fit] optimizer = {opt!r}: expected one of {OPTIMIZERS}")
    out["optimizer"] = opt
    return out


def _raise_problems(problems: list, where: str) -> None:
    if problems:
        raise ModelError(f"model file {where} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))

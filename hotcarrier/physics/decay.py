"""Flexible-decay route to Φ_inj: free decay shapes, shared t = 0⁺ calibration (spec §7.1, §14b).

The injected-electron population of the sample after injection, per photon absorbed by Au, is

    n_s(t) = Φ_inj · [r ⊗ D_s](t),   r(t) = k_r e^{−k_r t}  (injection rise, τ_rise = 1/k_r),

and the band-gap-excited reference holds n_r(t) = Φ_ref · D_r(t) electrons per absorbed photon.
D_s and D_r are *normalised* decays, D(0⁺) = 1, chosen independently in the model file:

    ``exp1`` / ``exp2`` / ``exp3``  Σ_j f_j e^{−t/τ_j} (1–3 lifetimes),
    ``ratedist``                  a log-normal distribution of lifetimes (median τ, width w in
                                  ln τ; 12 Gauss–Hermite nodes, each node's lifetime plus the
                                  lower lifetime bound, so no weight hides below the IRF) —
                                  dispersive / stretched-like decay,
    ``scheme``                    a compartmental scheme of :mod:`hotcarrier.kinetics`
                                  (``sample_scheme``/``reference_scheme``: compartments and
                                  transfers; one lifetime per transfer): compartment 0 holds
                                  the electrons at 0⁺, the others (populated later) absorb
                                  with free relative cross-sections,

each optionally with a plateau (a component that outlives the window). With a free rise every
sample lifetime is counted from the rise time, τ_j = τ_rise + τ'_j with τ'_j within the
``tau_ps`` bounds (the fitted ``tau_s*_ps``): injection completes before the electrons decay, as
the field assumes (spec §14b, injection < 50 fs); without this a decay faster than the rise
lets Φ_inj grow without bound while the signal stays small. Sample and reference
share the IRF and the electron absorption cross-section κ = σ_CB ℓ/ln10 (times q_ref =
σ_CB,ref/σ_CB,s for the reference), so the model of the traces is

    y_s = κ Φ_inj ρ_s Σ_j f_j G_j(t),    y_r = κ q_ref Φ_ref ρ_r Σ_j g_j H_j(t),

with G_j, H_j the IRF-convolved unit components. The fractions (Σ f_j = Σ g_j = 1) enter
linearly: writing f_1 = 1 − Σ_{j≥2} f_j, the amplitudes (κ, κΦf_j, κg_j) are eliminated by
variable projection, and Φ_inj — the ratio of the deconvolved t = 0⁺ amplitudes per absorbed
photon — stays a nonlinear parameter that the profile likelihood can pin. What the decay does
afterwards changes only the shape columns, which is why Φ_inj is nearly independent of the
decay model (measured in ``benchmarks/yield_misspecification.py``).

Options of ``[decay]`` beyond the shapes: ``metal_response`` (the preset's Au Drude column),
``metal_reference`` (the metal response measured on a non-injecting reference, shared with the
sample × ``beta_metal``), ``bleach_band_nm`` (the visible exciton-bleach route,
:func:`hotcarrier.physics.decayfit.bleach_traces`) and ``fluence_extrapolation``: ``"linear"``
(Φ_app linear in ρ_abs, Φ_inj at ρ → 0) or ``"nonlinear"`` (one apparent Φ per sample dataset —
``injection_quantum_yield`` is that of the lowest ρ, ``apparent_yield_k`` the others', sorted
by ρ — then Φ_inj at ρ → 0 from the nonlinear amplitude model with charging and T_e,
:func:`hotcarrier.physics.decayfit.fluence_series_yield`). See docs/injection-yield.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import jax.numpy as jnp
import numpy as np

from ..errors import ModelError
from ..fitting.params import to_physical
from ..fitting.projection import linear_least_squares
from ..irf import exp_conv_gauss, exp_conv_gauss_moments
from ..kinetics import Scheme, convolved_populations
from ..units import fwhm_to_sigma
from . import observables as ob

__all__ = ["DECAY_SHAPES", "DecaySpec", "DecayObjective", "decay_spec_from_dict",
           "decay_components", "parameter_layout", "N_RATE_NODES", "ROUTE_FREE",
           "DEFAULT_FAMILY"]

DECAY_SHAPES = ("exp1", "exp2", "exp3", "ratedist", "scheme")
"""Decay shapes of sample and reference (``[decay] sample``/``reference``)."""

DEFAULT_FAMILY = ("exp1", "exp2", "exp3", "ratedist")
"""Sample decay shapes fitted by the model-choice study when ``[decay] family = true``."""

ROUTE_FREE = ("injection_quantum_yield", "irf_fwhm_fs", "t0_ps", "t0_ref_ps")
"""Parameters of the route that a model file's [free] may list (with bounds); the decay
lifetimes, widths and the rise are always fitted, bounded by ``[decay]``."""

N_RATE_NODES = 12
"""Gauss–Hermite nodes of the log-normal rate distribution (``ratedist``)."""

_START_TAUS = {1: (30.0,), 2: (3.0, 300.0), 3: (2.0, 30.0, 500.0)}


@dataclass(frozen=True)
class DecaySpec:
    """The ``[decay]`` table: shapes, plateaus, rise, bounds (ps, fs), model family."""

    sample: str = "exp2"
    reference: str = "exp2"
    sample_plateau: bool = True
    reference_plateau: bool = True
    rise: bool = True
    tau_ps: tuple = (0.2, 1.0e4)
    tau_rise_fs: tuple = (1.0, 1000.0)
    width: tuple = (0.05, 3.0)
    phi_start: float = 0.3
    family: tuple = ()
    metal_response: bool = False
    sample_scheme: Scheme | None = None
    reference_scheme: Scheme | None = None
    bleach_band_nm: tuple | None = None  # visible exciton-bleach route: band averaged (nm)
    metal_reference: str | None = None  # exp1..exp3 (+ plateau): non-injecting metal reference
    # False; "linear" (or true): Φ(ρ) = Φ_inj·(1 − L·ρ/ρ_max); "nonlinear": one apparent Φ per
    # sample dataset, Φ_inj at ρ → 0 from the nonlinear amplitude model (fluence.py)
    fluence_extrapolation: bool | str = False
    n_fluences: int = 0  # "nonlinear": sample datasets (set by the fit from the data)
    charging: str = "auto"  # "nonlinear": charging strength "free", "fixed" or "auto"
    beam_ratio: float | None = None  # w_pump/w_probe of the profile average (None: on axis)
    pump_fwhm_fs: float = 100.0  # pump pulse of the nonlinear model, fs

    @property
    def extrapolation(self) -> str | None:
        """``"linear"``, ``"nonlinear"`` or None (no ρ → 0 extrapolation)."""
        if self.fluence_extrapolation in (True, "linear"):
            return "linear"
        return "nonlinear" if self.fluence_extrapolation == "nonlinear" else None

    def with_sample(self, shape: str) -> DecaySpec:
        """The same spec with another sample decay shape (a member of the model family)."""
        return replace(self, sample=shape)


def _pair(v, name, problems, positive=True):
    if (not isinstance(v, (list, tuple)) or len(v) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in v)
            or not v[0] < v[1] or (positive and v[0] <= 0)):
        problems.append(f"[decay] {name} = {v!r}: give [lower, upper] with "
                        f"{'0 < ' if positive else ''}lower < upper")
        return None
    return (float(v[0]), float(v[1]))


def decay_spec_from_dict(d: dict, where: str = "model file") -> DecaySpec:
    """Read the ``[decay]`` table; every problem is listed in one :class:`ModelError`."""
    problems = []
    known = {"sample", "reference", "sample_plateau", "reference_plateau", "rise", "tau_ps",
             "tau_rise_fs", "width", "phi_start", "family", "metal_response", "sample_scheme",
             "reference_scheme", "bleach_band_nm", "metal_reference", "fluence_extrapolation",
             "charging", "beam_ratio", "pump_fwhm_fs"}
    for k in d:
        if k not in known:
            problems.append(f"[decay] unknown key {k!r}; known: {sorted(known)}")
    kw = {}
    for role in ("sample", "reference"):
        v = d.get(role, "exp2")
        if v not in DECAY_SHAPES:
            problems.append(f"[decay] {role} = {v!r}: choose one of {DECAY_SHAPES}")
        kw[role] = v
        if v == "scheme" or f"{role}_scheme" in d:
            kw[f"{role}_scheme"] = _scheme(d.get(f"{role}_scheme"), role, problems)
    if "fluence_extrapolation" in d:
        v = d["fluence_extrapolation"]
        if not (isinstance(v, bool) or v in ("linear", "nonlinear")):
            problems.append(f"[decay] fluence_extrapolation = {v!r}: expected false, \"linear\" "
                            "(or true) or \"nonlinear\" (charging and T_e, "
                            "docs/injection-yield.md)")
        kw["fluence_extrapolation"] = v
    if "charging" in d:
        if d["charging"] not in ("auto", "free", "fixed"):
            problems.append(f"[decay] charging = {d['charging']!r}: expected \"auto\" (free when "
                            "the fluence series shows curvature), \"free\" or \"fixed\"")
        kw["charging"] = d["charging"]
    for k in ("beam_ratio", "pump_fwhm_fs"):
        if k in d:
            v = d[k]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1e4:
                problems.append(f"[decay] {k} = {v!r}: expected a positive number"
                                + (" (w_pump/w_probe)" if k == "beam_ratio" else " (fs)"))
            else:
                kw[k] = float(v)
    for k in ("sample_plateau", "reference_plateau", "rise", "metal_response"):
        if k in d:
            if not isinstance(d[k], bool):
                problems.append(f"[decay] {k} = {d[k]!r}: expected true or false")
            kw[k] = bool(d[k])
    for k in ("tau_ps", "tau_rise_fs", "width", "bleach_band_nm"):
        if k in d:
            kw[k] = _pair(d[k], k, problems)
    if "phi_start" in d:
        v = d["phi_start"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 5:
            problems.append(f"[decay] phi_start = {v!r}: expected a number in (0, 5)")
        kw["phi_start"] = float(v) if isinstance(v, (int, float)) else 0.3
    if "metal_reference" in d:
        v = d["metal_reference"]
        if v not in ("exp1", "exp2", "exp3"):
            problems.append(f"[decay] metal_reference = {v!r}: the decay model of the "
                            "non-injecting metal reference, one of exp1, exp2, exp3 (each with "
                            "a plateau for the lattice heat)")
        kw["metal_reference"] = v
    fam = d.get("family", False)
    if fam is True:
        kw["family"] = DEFAULT_FAMILY
    elif fam:
        if not isinstance(fam, list) or not all(f in DECAY_SHAPES for f in fam):
            problems.append(f"[decay] family = {fam!r}: true, or a list of {DECAY_SHAPES}")
        else:
            kw["family"] = tuple(fam)
            if "scheme" in fam and "sample_scheme" not in d:
                problems.append("[decay] family lists \"scheme\": give sample_scheme too")
    if problems:
        raise ModelError(f"{where}: [decay] has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    return DecaySpec(**{k: v for k, v in kw.items() if v is not None})


def _scheme(v, role, problems):
    """A :class:`Scheme` from ``{compartments = n, transfers = [[0, 1], [1, "ground"]]}``."""
    hint = (f"[decay] {role} = \"scheme\" needs {role}_scheme = {{compartments = 2, "
            "transfers = [[0, 1], [0, \"ground\"], [1, \"ground\"]]}} (compartment 0 holds "
            "the electrons at 0⁺; \"ground\" or -1 is the ground state)")
    if not isinstance(v, dict) or "compartments" not in v or "transfers" not in v:
        problems.append(hint)
        return None
    try:
        tr = [(int(a), None if b in ("ground", -1, None) else int(b)) for a, b in v["transfers"]]
        return Scheme(int(v["compartments"]), tuple(tr))
    except (TypeError, ValueError) as exc:
        problems.append(f"{hint}; got {v!r}" + (f" ({exc})" if str(exc) else ""))
    except ModelError as exc:
        problems.append(f"[decay] {role}_scheme: {exc}")
    return None


def _shape_params(prefix: str, shape: str, scheme: Scheme | None = None):
    """(names, log flags) of one decay shape's nonlinear parameters."""
    if shape == "scheme":
        n = len(scheme.transfers)
        return [f"tau_{prefix}_k{j + 1}_ps" for j in range(n)], [True] * n
    if shape == "ratedist":
        return [f"tau_{prefix}_ps", f"width_{prefix}"], [True, False]
    n = int(shape[-1])
    return [f"tau_{prefix}{j + 1}_ps" for j in range(n)], [True] * n


def parameter_layout(spec: DecaySpec):
    """(names, log flags, default bounds, start values) of the route's nonlinear parameters:
    Φ_inj, IRF FWHM (fs), t0 of sample and reference (ps), τ_rise (fs), then the sample's and
    the reference's decay parameters (lifetimes in ps, ln-rate widths)."""
    names = list(ROUTE_FREE) + ["tau_rise_fs"]
    logs = [False, False, False, False, True]
    bounds = [(1e-3, 2.0), (80.0, 250.0), (-0.5, 0.5), (-0.5, 0.5), spec.tau_rise_fs]
    starts = [spec.phi_start, 150.0, 0.0, 0.0, 30.0]
    for prefix, shape, sch in (("s", spec.sample, spec.sample_scheme),
                               ("r", spec.reference, spec.reference_scheme)):
        n, lg = _shape_params(prefix, shape, sch)
        names += n
        logs += lg
        if shape == "scheme":
            bounds += [spec.tau_ps] * len(n)
            starts += [float(np.clip(t, *spec.tau_ps) * (1 + 1e-9))
                       for t in np.geomspace(3.0, 300.0, len(n))]
        elif shape == "ratedist":
            bounds += [spec.tau_ps, spec.width]
            starts += [30.0, 1.0]
        else:
            bounds += [spec.tau_ps] * len(n)
            starts += [float(np.clip(t, *spec.tau_ps) * (1 + 1e-9)) for t in
                       _START_TAUS[len(n)]]
    if spec.extrapolation == "linear":  # fractional loss of apparent Φ at the highest sample ρ
        names.append("charging_loss_at_max")
        logs.append(False)
        bounds.append((-0.5, 0.9))
        starts.append(0.0)
    elif spec.extrapolation == "nonlinear":  # apparent Φ of sample datasets 2…n (by ρ)
        names += [f"apparent_yield_{k}" for k in range(2, spec.n_fluences + 1)]
        logs += [False] * (spec.n_fluences - 1)
        bounds += [(1e-3, 2.0)] * (spec.n_fluences - 1)
        starts += [spec.phi_start] * (spec.n_fluences - 1)
    if spec.metal_reference:  # β_metal: sample's metal response per photon / the reference's
        n = int(spec.metal_reference[-1])
        names += ["beta_metal"] + [f"tau_m{j + 1}_ps" for j in range(n)]
        logs += [False] + [True] * n
        bounds += [(0.0, 3.0)] + [spec.tau_ps] * n
        starts += [1.0] + [float(np.clip(t, *spec.tau_ps) * (1 + 1e-9))
                           for t in (0.8, 5.0, 50.0)[:n]]
    return tuple(names), tuple(logs), bounds, starts


def _components(shape: str, plateau: bool, vals, t, t0, sigma, k_rise=None, tau_min=0.0):
    """IRF-convolved unit components (n_comp, N) of one decay shape, each 1 at 0⁺ before
    convolution; with ``k_rise`` each is also convolved with the injection rise k_r e^{−k_r t}.
    """
    if shape == "ratedist":
        x, w = np.polynomial.hermite_e.hermegauss(N_RATE_NODES)
        w = w / w.sum()
        # node lifetimes τ_c e^{−w x}, folded onto the lower lifetime bound: τ_n + τ_min
        rates = [1.0 / (vals[0] * jnp.exp(-vals[1] * xi) + tau_min) for xi in x]
        groups = [(rates, list(w))]
    else:
        groups = [([1.0 / v], [1.0]) for v in vals]
    if plateau:
        groups.append(([jnp.zeros(())], [1.0]))
    out = []
    for rates, weights in groups:
        col = 0.0
        for k, wk in zip(rates, weights):
            col = col + wk * _rise_kernel(t, k, t0, sigma, k_rise)
        out.append(col)
    return jnp.stack(out)


def _rise_kernel(t, k, t0, sigma, k_rise):
    """G_σ ⊗ [r ⊗ e^{−kt}] = k_r/(k_r − k)·(c(k) − c(k_r)), the confluent limit k_r·h₁(k)
    when k ≈ k_r; without ``k_rise`` the plain kernel c(k)."""
    if k_rise is None:
        return exp_conv_gauss(t, k, t0, sigma)
    d = k_rise - k
    near = jnp.abs(d) < 1e-6 * k_rise
    d_safe = jnp.where(near, 1e-6 * k_rise, d)
    ck = exp_conv_gauss(t, k, t0, sigma)
    cr = exp_conv_gauss(t, k_rise, t0, sigma)
    conf = k_rise * exp_conv_gauss_moments(t, k, t0, sigma, 1)[1]
    return jnp.where(near, conf, k_rise / d_safe * (ck - cr))


def _scheme_components(scheme: Scheme, plateau, lifetimes, t, t0, sigma, k_rise):
    """IRF-convolved populations (n(+1), N) of a scheme started in compartment 0 (through a
    precursor that feeds it at ``k_rise`` when given), and their values at 0⁺ (1, 0, …)."""
    rates = jnp.stack([1.0 / tau for tau in lifetimes])
    n = scheme.n
    if k_rise is not None:  # precursor n → 0 at k_rise, started at the IRF centre
        ext = Scheme(n + 1, ((n, 0),) + tuple(scheme.transfers))
        rates = jnp.concatenate([jnp.reshape(k_rise, (1,)), rates])
        p0 = jnp.zeros(n + 1).at[n].set(1.0)
        pops = convolved_populations(ext, t, rates, p0, t0, sigma)[..., :n]
    else:
        p0 = jnp.zeros(n).at[0].set(1.0)
        pops = convolved_populations(scheme, t, rates, p0, t0, sigma)
    cols = [pops[:, i] for i in range(n)]
    at0 = [1.0] + [0.0] * (n - 1)
    if plateau:
        cols.append(_rise_kernel(t, jnp.zeros(()), t0, sigma, k_rise))
        at0.append(1.0)
    return jnp.stack(cols), tuple(at0)


def decay_components(spec: DecaySpec, role: str, vals: dict, t, t0, sigma):
    """(components (n, N), their values at 0⁺ before convolution) of the sample (with the
    rise) or the reference at delays ``t``."""
    prefix = "s" if role == "sample" else "r"
    shape = spec.sample if role == "sample" else spec.reference
    sch = spec.sample_scheme if role == "sample" else spec.reference_scheme
    names = _shape_params(prefix, shape, sch)[0]
    plateau = spec.sample_plateau if role == "sample" else spec.reference_plateau
    pars = [vals[n] for n in names]
    if shape == "scheme":
        k_rise = 1e3 / vals["tau_rise_fs"] if role == "sample" and spec.rise else None
        return _scheme_components(sch, plateau, pars, t, t0, sigma, k_rise)
    if role == "sample" and spec.rise:  # lifetimes counted from the rise: τ_j = τ_rise + τ'_j
        k_rise = 1e3 / vals["tau_rise_fs"]
        shift = 1e-3 * vals["tau_rise_fs"]
        pars = [pars[0] + shift, pars[1]] if shape == "ratedist" else [p + shift for p in pars]
        out = _components(shape, plateau, pars, t, t0, sigma, k_rise, spec.tau_ps[0] + shift)
    else:
        out = _components(shape, plateau, pars, t, t0, sigma, None, spec.tau_ps[0])
    return out, (1.0,) * out.shape[0]


def _n_components(shape: str, scheme) -> int:
    if shape == "scheme":
        return scheme.n
    return 1 if shape == "ratedist" else int(shape[-1])


@dataclass(frozen=True)
class DecayObjective:
    """Hashable residual of the flexible-decay route (static configuration only).

    Same call signature as :class:`~hotcarrier.physics.objective.PhysicalObjective`
    (``x, ctrl, base_p, base_o, data``) so the shared LM wrapper serves both; ``data`` holds
    the trace arrays of :func:`~hotcarrier.physics.objective.collect_data` plus ``q_ref``
    (σ_CB,ref/σ_CB,s) and ``phi_ref`` (the reference's electrons per absorbed photon).
    """

    spec: DecaySpec
    artefact: bool = False
    visible: bool = False

    @property
    def layout(self):
        return parameter_layout(self.spec)

    @property
    def names(self) -> tuple:
        return self.layout[0]

    def values(self, x, ctrl):
        """Physical values of every route parameter (pinned ones at ``pinval``)."""
        logs = self.layout[1]
        return [jnp.where(ctrl["pin"][i], ctrl["pinval"][i],
                          to_physical(x[i], ctrl["lo"][i], ctrl["hi"][i], lg))
                for i, lg in enumerate(logs)]

    def n_sample_components(self) -> int:
        s = self.spec
        return _n_components(s.sample, s.sample_scheme) + int(s.sample_plateau)

    def n_reference_components(self) -> int:
        s = self.spec
        return _n_components(s.reference, s.reference_scheme) + int(s.reference_plateau)

    def amplitude_names(self) -> list:
        """Names of the projected amplitudes, in column order."""
        names = ["kappa_mOD"]
        names += [f"kappa_phi_f_s{j + 1}" for j in range(1, self.n_sample_components())]
        names += [f"kappa_g_r{j + 1}" for j in range(1, self.n_reference_components())]
        if self.spec.metal_response:
            names.append("beta_au_mOD_K")
        if self.artefact:
            names += ["art_sample_a0", "art_sample_a1", "art_sample_a2",
                      "art_ref_a0", "art_ref_a1", "art_ref_a2"]
        if self.spec.metal_reference:
            n = int(self.spec.metal_reference[-1])
            names += [f"metal_m{j + 1}" for j in range(n)] + ["metal_plateau"]
        return names

    def design(self, x, ctrl, base_p, data):
        """Design matrix (N, n_amplitudes) and the parameter values at ``x``."""
        vals = dict(zip(self.names, self.values(x, ctrl)))
        sigma = fwhm_to_sigma(vals["irf_fwhm_fs"] * 1e-3)
        ts, rs, tr, rr = data["t_s"], data["rho_s"], data["t_r"], data["rho_r"]
        # Σ f_j a_j = 1 (a_j: component j at 0⁺) ⇒ f_0 = 1 − Σ_{j≥1} f_j a_j: columns B_j − a_j B_0
        Gs, a_s = decay_components(self.spec, "sample", vals, ts, vals["t0_ps"], sigma)
        Hr, a_r = decay_components(self.spec, "reference", vals, tr, vals["t0_ref_ps"], sigma)
        zs, zr = jnp.zeros_like(ts), jnp.zeros_like(tr)
        cal = data["q_ref"] * data["phi_ref"]
        cols_s = [vals["injection_quantum_yield"] * Gs[0] * rs]
        cols_r = [cal * Hr[0] * rr]
        for j in range(1, Gs.shape[0]):
            cols_s.append((Gs[j] - a_s[j] * Gs[0]) * rs)
            cols_r.append(zr)
        for j in range(1, Hr.shape[0]):
            cols_s.append(zs)
            cols_r.append(cal * (Hr[j] - a_r[j] * Hr[0]) * rr)
        if self.spec.extrapolation == "linear":  # Φ_app(ρ) = Φ_inj·(1 − L ρ/ρ_max), same shape
            g = 1.0 - vals["charging_loss_at_max"] * rs / jnp.max(rs)
            cols_s = [c * g for c in cols_s]
        elif self.spec.extrapolation == "nonlinear":  # Φ_app,i of dataset i (data["i_s"])
            phi = vals["injection_quantum_yield"]
            phis = jnp.stack([phi] + [vals[f"apparent_yield_{k}"]
                                      for k in range(2, self.spec.n_fluences + 1)])
            g = phis[data["i_s"]] / phi
            cols_s = [c * g for c in cols_s]
        if self.spec.metal_response:
            te = ob.metal_response(ts, base_p, vals["t0_ps"], sigma)[1]
            cols_s.append(te * rs)
            cols_r.append(zr)
        if self.artefact:
            for b in ob.artefact_basis(ts, vals["t0_ps"], sigma):
                cols_s.append(b * rs)
                cols_r.append(zr)
            for b in ob.artefact_basis(tr, vals["t0_ref_ps"], sigma):
                cols_s.append(zs)
                cols_r.append(b * rr)
        blocks = [jnp.stack(cols_s, axis=1), jnp.stack(cols_r, axis=1)]
        if self.spec.metal_reference:  # measured metal response: M_j shared, sample × β_metal
            tm, rm = data["t_m"], data["rho_m"]
            zm = jnp.zeros_like(tm)
            n_old = len(cols_s)
            taus = [vals[f"tau_m{j + 1}_ps"] for j in range(int(self.spec.metal_reference[-1]))]
            rates = [1.0 / tau for tau in taus] + [jnp.zeros(())]
            cols_s += [vals["beta_metal"] * exp_conv_gauss(ts, k, vals["t0_ps"], sigma) * rs
                       for k in rates]
            cols_r += [zr for _ in rates]
            cols_m = [zm] * n_old + [exp_conv_gauss(tm, k, vals["t0_ps"], sigma) * rm
                                     for k in rates]
            blocks = [jnp.stack(cols_s, axis=1), jnp.stack(cols_r, axis=1),
                      jnp.stack(cols_m, axis=1)]
        A = jnp.concatenate(blocks)
        return A, vals

    def solve(self, x, ctrl, base_p, base_o, data):
        """(weighted residual, amplitudes, model) for parameters ``x``."""
        A, _ = self.design(x, ctrl, base_p, data)
        y, w = data["y"], data["w"]
        c = linear_least_squares(A * w[:, None], y * w)
        fit = A @ c
        return (y - fit) * w, c, fit

    def __call__(self, x, ctrl, base_p, base_o, data):
        return self.solve(x, ctrl, base_p, base_o, data)[0]

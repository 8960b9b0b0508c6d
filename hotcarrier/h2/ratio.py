"""Clean/defective H2 activity ratio, its uncertainty and its sensitivity (spec §9.4, §9.4b).

The ratio QE_H2(clean) / QE_H2(defective) under the same illumination does not depend on the
reactor photon balance. Uncertainty, when a set carries a covariance (e.g. from a TA fit):

* delta method on (log QE_c, log QE_d, log r) over (θ_c, θ_d, θ_shared) with the
  block-diagonal covariance diag(Σ_c, Σ_d, Σ_shared) (independent fits; shared parameters
  enter both QEs) and g = ∇ log QE by ``jax.grad``; 95 % interval r·exp(±1.96 sd);
* sampling: θ ~ log-normal with the same first-order covariance (positive rates, yields,
  densities), QE for every draw by ``jax.vmap``, 2.5/97.5 percentiles of the ratio.

N_it, σ_n and E_s enter H2 data only through Λ = N_it,def σ_n v_th exp(−E_s/k_BT) (cm s⁻¹),
so **only Λ is identifiable from H2 activity** (:data:`IDENTIFIABILITY_NOTE`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import block_diag

from .._x64 import device_array, with_x64
from ..errors import ModelError, OptionError
from ..fitting.uncertainty import propagate_covariance
from ..physics.injection import injection_quantum_yield
from ..physics.parameters import InterfaceParams
from ..physics.traps import padded_m_max
from .illumination import Spectrum
from .inputs import Z95, H2Inputs
from .load import as_inputs
from .rate import (
    INJECTION_INPUTS,
    H2Prediction,
    PhotonBalance,
    check_params,
    excitation,
    kernel_inputs,
    predict_h2,
    predict_kernel,
    qe_core,
)

__all__ = [
    "IDENTIFIABILITY_NOTE",
    "SENSITIVITY_CASES",
    "H2Inputs",
    "H2Ratio",
    "h2_ratio",
    "lambda_composite",
    "ratio_sweep",
    "sensitivity",
    "with_prior",
]

IDENTIFIABILITY_NOTE = (
    "N_it, sigma_n and E_s are not separately identifiable from H2 activity: the ratio is "
    "governed by Lambda = N_it,def * sigma_n * v_th * exp(-E_s/k_B T) (spec 9.4); TA fixes only "
    "N_it*sigma_n*v_th (ps trapping). Report the ratio as a function of Lambda.")


# ----------------------------------------------------------------------------- pure pieces
def _log_qe(theta, params, phi, energy_eV, w_au, xi_cds, *, names, n_max, cds, mode, model):
    """θ (vector over ``names``) → log QE_H2 (pure, differentiable)."""
    p = dataclasses.replace(params, **{k: theta[i] for i, k in enumerate(names) if k != "phi_inj"})
    if "phi_inj" in names:
        phi = theta[names.index("phi_inj")]
    out = predict_kernel(p, phi, energy_eV, w_au, xi_cds, n_max=n_max, cds_channel=cds,
                         mode=mode, model=model)
    return jnp.log(out["qe_h2"])


_STATIC = ("names", "n_max", "cds", "mode", "model")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _log_qe_grad(theta, *args, **static):
    """∇_θ log QE_H2 (jitted once per static combination)."""
    return jax.grad(lambda th: _log_qe(th, *args, **static))(theta)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _log_qe_batch(thetas, *args, **static):
    """log QE_H2 for each row of ``thetas`` (vmapped, jitted)."""
    return jax.vmap(lambda th: _log_qe(th, *args, **static))(thetas)


def _lognormal_draws(mean, cov, n, key):
    """Draws with log-normal marginals matching mean and first-order covariance (all > 0)."""
    mean = np.asarray(mean, float)
    if mean.size == 0:
        return np.zeros((n, 0))
    if np.any(mean <= 0):
        raise ModelError("sampling draws log-normal parameters and needs every uncertain value "
                         f"> 0, got {mean.tolist()}; use uncertainty='delta' instead")
    cov_log = np.asarray(cov, float) / np.outer(mean, mean)
    cov_log = 0.5 * (cov_log + cov_log.T)
    w, v = np.linalg.eigh(cov_log)
    a = v * np.sqrt(np.clip(w, 0.0, None))
    z = np.asarray(jax.random.normal(key, (n, mean.size), dtype=jnp.float64))
    return mean * np.exp(z @ a.T - 0.5 * np.diag(cov_log))


def _interval(center, sd):
    """center·exp(±1.96 sd): the 95 % interval of a log-normal quantity."""
    return center * math.exp(-Z95 * sd), center * math.exp(Z95 * sd)


def _percentiles(log_values):
    """2.5 and 97.5 percentiles of exp(log_values)."""
    return tuple(float(np.exp(np.percentile(log_values, q))) for q in (2.5, 97.5))


@dataclass(frozen=True)
class H2Ratio:
    """Clean/defective ratio with uncertainty (floats; intervals as (low, high) or None)."""

    clean: H2Prediction
    defective: H2Prediction
    value: float
    ci95: tuple | None
    method: str | None
    delta_ci95: tuple | None = None
    sampling_ci95: tuple | None = None
    stderr_log: float | None = None
    Lambda_clean_cm_s: float = float("nan")
    Lambda_defective_cm_s: float = float("nan")
    sources: tuple = ("", "")
    notes: tuple = ()
    qe_ci95: tuple = (None, None)  # 95 % intervals of QE_H2 (clean, defective), same method

    def summary(self) -> str:
        """One line, e.g. for ``hotcarrier demo``: the ratio, its interval and both QEs."""
        ci = (f" (95 % interval {self.ci95[0]:.3g}–{self.ci95[1]:.3g})" if self.ci95 else "")
        return (f"predicted clean/defective H2 ratio: {self.value:.3g}{ci}; "
                f"QE_H2 {self.clean.qe_h2:.3g} vs {self.defective.qe_h2:.3g} per absorbed photon")

    def to_dict(self) -> dict:
        """Plain-JSON dictionary (the ``hotcarrier h2 --json`` layout)."""
        return {
            "clean": {**self.clean.to_dict(), "source": self.sources[0],
                      "qe_h2_ci95": _list(self.qe_ci95[0]),
                      "Lambda_cm_s": self.Lambda_clean_cm_s},
            "defective": {**self.defective.to_dict(), "source": self.sources[1],
                          "qe_h2_ci95": _list(self.qe_ci95[1]),
                          "Lambda_cm_s": self.Lambda_defective_cm_s},
            "ratio": {"value": self.value, "ci95": _list(self.ci95), "method": self.method,
                      "delta_ci95": _list(self.delta_ci95),
                      "sampling_ci95": _list(self.sampling_ci95), "stderr_log": self.stderr_log},
            "notes": list(self.notes),
        }


def _list(t):
    return None if t is None else [float(x) for x in t]


def lambda_composite(p: InterfaceParams):
    """Λ = N_it σ_n v_th exp(−E_s/k_BT), cm s⁻¹ (0.91 for the defective defaults)."""
    return p.N_it_cm2 * p.sigma_n_cm2 * p.v_th_cm_s * p.f_cb


@with_x64
def h2_ratio(clean="clean", defective="defective", *, spectrum: Spectrum | None = None,
             absorption=None, photon_balance: PhotonBalance | None = None,
             cds_channel: bool = True, injection_model: str = "all_above",
             uncertainty: str = "both", n_samples: int = 2000, seed: int = 0,
             shared_uncertainty: dict | None = None) -> H2Ratio:
    """Predict QE_H2 for two catalysts and their ratio, with uncertainty when available.

    Parameters
    ----------
    clean, defective : str, path, InterfaceParams or H2Inputs
        Presets ``"clean"``/``"defective"``, a fit (:func:`hotcarrier.h2.load.load_fit`, the
        preset of the same role as base), a parameter set, or prepared inputs.
    spectrum, absorption, photon_balance, cds_channel, injection_model
        As :func:`hotcarrier.h2.predict_h2` (same illumination for both).
    uncertainty : {"both", "delta", "sampling", "none"}
        Which propagation to run when a covariance is attached; ``ci95`` is the sampling
        interval when run, else the delta-method interval; None without any covariance.
    n_samples, seed : int
        Draws per catalyst and PRNG seed of the sampling method.
    shared_uncertainty : dict, optional
        ``{field: stderr}`` for parameters with one common value in both sets (e.g. the slow
        parameters TA cannot see, ``{"E_s_eV": 0.03}``); propagated fully correlated.
    """
    if uncertainty not in ("both", "delta", "sampling", "none"):
        raise OptionError(f"uncertainty = {uncertainty!r} is not a method; choose 'both', "
                          "'delta', 'sampling' or 'none'")
    ci, di = as_inputs(clean, "clean"), as_inputs(defective, "defective")
    check_params(ci.params, f"the clean set ({ci.source})")
    check_params(di.params, f"the defective set ({di.source})")
    shared = _check_shared(shared_uncertainty, ci, di)
    kw = {"spectrum": spectrum, "absorption": absorption, "photon_balance": photon_balance,
          "cds_channel": cds_channel, "injection_model": injection_model}
    pc = predict_h2(ci.params, phi_inj=ci.phi_inj, **kw)
    pd = predict_h2(di.params, phi_inj=di.phi_inj, **kw)
    qes = (pc.qe_h2, pd.qe_h2)
    value = pc.qe_h2 / pd.qe_h2
    notes = [IDENTIFIABILITY_NOTE, *ci.notes, *di.notes]
    if shared:
        notes.append("shared uncertainty (same value in both sets, fully correlated): "
                     + ", ".join(f"{k} ± {v:g}" for k, v in shared.items()))
    delta_ci = samp_ci = sd = None
    qe_ci = (None, None)
    if uncertainty != "none" and (ci.has_uncertainty or di.has_uncertainty or shared):
        s_vals = np.array([float(getattr(ci.params, k)) for k in shared])
        s_cov = np.diag([se**2 for se in shared.values()])
        sets = []  # (inputs, uncertain names incl. shared, their values, log QE runner)
        for inp in (ci, di):
            names = tuple(inp.names) + tuple(shared)
            args, mode = kernel_inputs(inp.params, excitation(inp.params, spectrum,
                                                              absorption=absorption), inp.phi_inj)
            run = functools.partial(_run_log_qe, params=inp.params, args=args, names=names,
                                    cds=cds_channel, mode=mode, model=injection_model)
            sets.append((inp, names, np.concatenate([inp.values(), s_vals]), run))
        # delta method on (log QE_c, log QE_d, log r) over x = (θ_c, θ_d, θ_s) with the
        # block-diagonal covariance diag(Σ_c, Σ_d, Σ_s): independent fits, the shared block
        # enters both QEs (fully correlated)
        o_c, o_d = len(ci.names), len(di.names)
        g_c, g_d = (run(_log_qe_grad, vals, float(inp.params.mean_traps)) if names
                    else np.zeros(0) for inp, names, vals, run in sets)
        row_c = np.concatenate([g_c[:o_c], np.zeros(o_d), g_c[o_c:]])
        row_d = np.concatenate([np.zeros(o_c), g_d[:o_d], g_d[o_d:]])
        cov = block_diag(ci.cov if o_c else np.zeros((0, 0)),
                         di.cov if o_d else np.zeros((0, 0)), s_cov)
        cov_log, _ = propagate_covariance(None, None, cov,
                                          jac=np.stack([row_c, row_d, row_c - row_d]))
        sd = math.sqrt(max(cov_log[2, 2], 0.0))
        if uncertainty in ("both", "delta"):
            delta_ci = _interval(value, sd)
            qe_ci = tuple(_interval(q, math.sqrt(v)) if v > 0 else None
                          for q, v in zip(qes, np.diag(cov_log)[:2], strict=True))
        if uncertainty in ("both", "sampling"):
            k_c, k_d, k_s = jax.random.split(jax.random.PRNGKey(seed), 3)
            ds = _lognormal_draws(s_vals, s_cov, n_samples, k_s)
            logs = []
            for (inp, names, _, run), key, qe in zip(sets, (k_c, k_d), qes, strict=True):
                if not names:
                    logs.append(np.full(n_samples, math.log(qe)))
                    continue
                draws = np.concatenate(
                    [_lognormal_draws(inp.values(), inp.cov, n_samples, key), ds], axis=1)
                lam = dataclasses.replace(inp.params, **{k: draws[:, i] for i, k in enumerate(
                    names) if k != "phi_inj"}).mean_traps
                logs.append(run(_log_qe_batch, draws, float(inp.params.mean_traps),
                                float(np.max(lam))))
            lr = logs[0] - logs[1]
            samp_ci = _percentiles(lr[np.isfinite(lr)])
            qe_ci = tuple(_percentiles(lq) if np.ptp(lq) > 0 else None for lq in logs)
    ci95 = samp_ci if samp_ci is not None else delta_ci
    method = "sampling" if samp_ci is not None else ("delta" if delta_ci is not None else None)
    if ci95 is None:
        notes.append("no covariance available (presets or fits without stderr, no "
                     "shared_uncertainty): ratio.ci95 = null")
    return H2Ratio(pc, pd, value, ci95, method, delta_ci, samp_ci, sd,
                   float(lambda_composite(ci.params)), float(lambda_composite(di.params)),
                   (ci.source, di.source), tuple(notes), qe_ci)


def _run_log_qe(kernel, thetas, *lams, params, args, names, cds, mode, model) -> np.ndarray:
    """``kernel`` (:func:`_log_qe_grad` or :func:`_log_qe_batch`) of one catalyst at ``thetas``,
    the Poisson sum sized for the mean trap numbers ``lams``."""
    return np.asarray(kernel(device_array(thetas), params, *args, names=names, cds=cds, mode=mode,
                             model=model, n_max=padded_m_max(*lams)))


def _check_shared(shared, ci: H2Inputs, di: H2Inputs) -> dict:
    """Validate ``shared_uncertainty`` (name → stderr, same value in both sets)."""
    shared = {k: float(v) for k, v in (shared or {}).items()}
    known = {f.name for f in dataclasses.fields(InterfaceParams)}
    problems = []
    for k, se in shared.items():
        if k not in known:
            problems.append(f"{k!r} is not an InterfaceParams field")
            continue
        if not se > 0:
            problems.append(f"{k}: standard error must be > 0, got {se}")
        a, b = float(getattr(ci.params, k)), float(getattr(di.params, k))
        if a != b:
            problems.append(f"{k} differs between the sets ({a:g} vs {b:g}); a shared "
                            "uncertainty needs one common value (use per-set priors instead)")
        if k in ci.names or k in di.names:
            problems.append(f"{k} already has a fitted uncertainty in one of the sets")
    if problems:
        raise OptionError("shared_uncertainty (CLI: --set NAME=VALUE±SE) cannot be used:\n  - "
                          + "\n  - ".join(problems))
    return shared


def with_prior(inp: H2Inputs, name: str, value: float, stderr: float) -> H2Inputs:
    """``inp`` with ``name`` set to ``value`` and an independent standard error ``stderr``.

    Use it for slow parameters TA cannot see (e.g. E_s_eV = 0.30 ± 0.03 for one catalyst).
    """
    inp = as_inputs(inp)
    changes = ({"phi_inj": float(value)} if name == "phi_inj"
               else {"params": inp.params.replace(**{name: float(value)})})
    if not stderr > 0:
        raise OptionError(f"prior on {name}: standard error must be > 0, got {stderr}; give a "
                          "positive stderr in the field's unit")
    keep = [i for i, n in enumerate(inp.names) if n != name]
    kept_cov = np.asarray(inp.cov)[np.ix_(keep, keep)] if keep else np.zeros((0, 0))
    return dataclasses.replace(inp, **changes, names=tuple(inp.names[i] for i in keep) + (name,),
                               cov=block_diag(kept_cov, [[float(stderr) ** 2]]))


# ----------------------------------------------------------------------------- sweeps
def _reference_qe(p, base, phi, *, n_max, model, cds, mode):
    """QE_H2 of ``p`` in the §9.4 reference case (pure JAX).

    Φ_inj: ``mode="model"`` the model value, ``"fixed"`` the fitted ``phi``, ``"scaled"``
    ``phi`` times the model's change from ``base`` (a swept field enters Φ_inj).
    """
    if mode == "model":
        phi = injection_quantum_yield(p, model)
    elif mode == "scaled":
        phi = phi * injection_quantum_yield(p, model) / injection_quantum_yield(base, model)
    return qe_core(p, phi, 0.0, n_max, cds)["qe_h2"]


def _phi_mode(inp: H2Inputs, field_name: str) -> str:
    """The ``mode`` of :func:`_reference_qe` when ``field_name`` of ``inp`` varies."""
    if inp.phi_inj is None:
        return "model"
    return "scaled" if field_name in INJECTION_INPUTS else "fixed"


@functools.partial(jax.jit, static_argnames=("n_max", "model", "cds", "mode"))
def _sweep_kernel(batch, base, phi, **static):
    """:func:`_reference_qe` for a batch of parameter sets (every leaf batched, so that all
    sweeps share one compilation per (n_max, mode, batch size))."""
    return jax.vmap(lambda p: _reference_qe(p, base, phi, **static))(batch)


def _qe_sweep(inp: H2Inputs, field_name: str, values, n_max, model, cds):
    """QE_H2 of ``inp`` with ``field_name`` set to each of ``values`` (reference case)."""
    values = np.asarray(values, dtype=float)
    size = max(8, 1 << (values.size - 1).bit_length())  # powers of two: reuse compiled shapes
    padded = np.concatenate([values, np.full(size - values.size, values[-1])])
    batch = jax.tree.map(lambda leaf: device_array(np.full(size, leaf, dtype=float)),
                         inp.params)
    batch = dataclasses.replace(batch, **{field_name: device_array(padded)})
    phi = device_array(1.0 if inp.phi_inj is None else inp.phi_inj, float)
    out = _sweep_kernel(batch, inp.params, phi, n_max=n_max, model=model, cds=cds,
                        mode=_phi_mode(inp, field_name))
    return np.asarray(out)[: values.size]


@with_x64
def ratio_sweep(field_name: str, values, clean="clean", defective="defective", *,
                which: str = "defective", injection_model: str = "all_above",
                cds_channel: bool = True) -> np.ndarray:
    """Ratio for each value of one InterfaceParams field (§9.4 reference illumination).

    ``which``: ``"defective"``, ``"clean"`` or ``"both"`` — the set(s) the value is applied to.
    """
    ci, di = as_inputs(clean, "clean"), as_inputs(defective, "defective")
    if which not in ("clean", "defective", "both"):
        raise OptionError(f"which = {which!r} is not a parameter set; choose 'clean', "
                          "'defective' or 'both'")
    values = np.atleast_1d(np.asarray(values, float))
    n = padded_m_max(*(np.max(dataclasses.replace(inp.params, **{field_name: v}).mean_traps)
                       for inp in (ci, di) for v in (getattr(inp.params, field_name), values)))

    def qe(inp, role):
        if which in (role, "both"):
            return _qe_sweep(inp, field_name, values, n, injection_model, cds_channel)
        return _qe_sweep(inp, "temperature_K", np.full(1, inp.params.temperature_K), n,
                         injection_model, cds_channel)

    return qe(ci, "clean") / qe(di, "defective")


SENSITIVITY_CASES = (
    # (label, field, values, which) — the rows of the spec's §9.4 sensitivity table
    ("N_it,def (cm^-2)", "N_it_cm2", (1e12, 3e12, 1e13, 3e13), "defective"),
    ("E_s (eV), both", "E_s_eV", (0.25, 0.30, 0.35), "both"),
    ("sigma_n (cm^2), both", "sigma_n_cm2", (1e-16, 1e-15, 1e-14), "both"),
    ("N_it,clean (cm^-2)", "N_it_cm2", (1e9, 1e11, 3e11), "clean"),
    ("tau_hs (us), both", "tau_hs_us", (1.0, 10.0, 100.0), "both"),
    ("tau_inj,def (fs)", "tau_inj_fs", (30.0, 300.0, 3000.0), "defective"),
)


@with_x64
def sensitivity(clean="clean", defective="defective", *, injection_model: str = "all_above",
                cds_channel: bool = True) -> dict:
    """Sensitivity of the ratio (§9.4 reference illumination).

    Returns a dict with ``elasticities`` (∂ ln r/∂ ln N_it,def, ∂ ln r/∂ ln σ_n (both sets),
    ∂ ln r/∂ E_s (both, eV⁻¹) and ∂ ln r/∂ ln Λ_def along N_it, by ``jax.grad``), ``table``
    (the ratio for each case of :data:`SENSITIVITY_CASES`), ``crossings`` (N_it,def and E_s
    where the ratio equals 100 and 1000), ``only_N_it_differs`` and ``note`` (identifiability).
    """
    ci, di = as_inputs(clean, "clean"), as_inputs(defective, "defective")
    n = padded_m_max(float(di.params.mean_traps) * 10.0, float(ci.params.mean_traps))

    def log_ratio(x):
        n_def, sig, es = x
        pc = dataclasses.replace(ci.params, sigma_n_cm2=sig, E_s_eV=es)
        pd = dataclasses.replace(di.params, N_it_cm2=n_def, sigma_n_cm2=sig, E_s_eV=es)
        kw = {"n_max": n, "model": injection_model, "cds": cds_channel}
        qc = _reference_qe(pc, ci.params, ci.phi_inj, mode=_phi_mode(ci, "E_s_eV"), **kw)
        qd = _reference_qe(pd, di.params, di.phi_inj, mode=_phi_mode(di, "E_s_eV"), **kw)
        return jnp.log(qc / qd)

    def sweep(fld, which, d=di):
        return lambda v: ratio_sweep(fld, v, ci, d, which=which, injection_model=injection_model,
                                     cds_channel=cds_channel)

    x0 = jnp.array([di.params.N_it_cm2, ci.params.sigma_n_cm2, ci.params.E_s_eV], jnp.float64)
    g = np.asarray(jax.grad(log_ratio)(x0))
    el = {"dlnr_dlnNit_def": float(g[0] * x0[0]), "dlnr_dlnsigma_n": float(g[1] * x0[1]),
          "dlnr_dEs_per_eV": float(g[2]), "dlnr_dlnLambda_def_via_Nit": float(g[0] * x0[0])}
    table = [{"parameter": label, "field": fld, "applied_to": which, "values": list(vals),
              "ratio": [float(v) for v in sweep(fld, which)(vals)]}
             for label, fld, vals, which in SENSITIVITY_CASES]
    crossings = {
        "N_it_def_cm2": {str(t): _crossing(sweep("N_it_cm2", "defective"), t, 1e11, 1e14, True)
                         for t in (100, 1000)},
        "E_s_eV": {str(t): _crossing(sweep("E_s_eV", "both"), t, 0.15, 0.45, False)
                   for t in (100, 1000)}}
    clean_with_nit = dataclasses.replace(ci, source="clean with defective N_it")  # as "defective"
    only_nit = float(sweep("N_it_cm2", "defective", clean_with_nit)([di.params.N_it_cm2])[0])
    return {"elasticities": el, "table": table, "crossings": crossings,
            "only_N_it_differs": only_nit, "note": IDENTIFIABILITY_NOTE}


def _crossing(fn, target, lo, hi, log, n=161):
    """x in [lo, hi] where fn(x) = target (grid, linear in log r and log x or x); None if none."""
    xs = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
    ys, t = np.log(np.asarray(fn(xs))), math.log(target)
    s = np.sign(ys - t)
    idx = np.nonzero(s[:-1] * s[1:] <= 0)[0]
    if idx.size == 0:
        return None
    i = int(idx[0])
    u = [np.log(xs[i]), np.log(xs[i + 1])] if log else xs[i:i + 2]
    x = u[0] + (t - ys[i]) / (ys[i + 1] - ys[i]) * (u[1] - u[0])
    return float(np.exp(x) if log else x)

"""Clean/defective H2 activity ratio, its uncertainty and its sensitivity (spec §9.4, §9.4b).

The ratio is QE_H2(clean) / QE_H2(defective) under the same illumination; it does not depend on
the reactor photon balance when both catalysts absorb the same photons per gram.

Uncertainty (when a parameter set carries a covariance, e.g. from a TA fit):

* delta method (:func:`hotcarrier.fitting.uncertainty.propagate_covariance`) on
  (log QE_c, log QE_d, log r) over (θ_c, θ_d, θ_shared) with the block-diagonal covariance
  diag(Σ_c, Σ_d, Σ_shared) (the two fits are independent; shared parameters enter both QEs)
  and g = ∇ log QE from ``jax.grad``: var(log r) = g_cᵀ Σ_c g_c + g_dᵀ Σ_d g_d
  + (g_c,s − g_d,s)ᵀ Σ_s (g_c,s − g_d,s); 95 % interval r·exp(±1.96 sd);
* sampling: θ ~ log-normal with the same first-order covariance (positivity of rates, yields and
  densities), QE for every draw by ``jax.vmap``, 2.5/97.5 percentiles of the ratio.

Sensitivity: the ratio is controlled by the composite
Λ = N_it,def σ_n v_th exp(−E_s/k_BT) (cm s⁻¹); N_it, σ_n and E_s enter H2 data only through
it (σ_n and N_it also set the ps trapping rate m k₁ seen by TA), so **only Λ is identifiable
from H2 activity** — the sensitivity output says so.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import with_x64
from ..errors import ModelError, OptionError
from ..fitting.uncertainty import propagate_covariance
from ..physics.injection import injection_quantum_yield
from ..physics.parameters import InterfaceParams
from ..physics.traps import padded_m_max
from ..units import KB_EV
from .illumination import Spectrum
from .inputs import Z95, H2Inputs
from .load import as_inputs
from .rate import (
    INJECTION_INPUTS,
    H2Prediction,
    PhotonBalance,
    check_params,
    excitation,
    kernel_mode,
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
    changes = {k: theta[i] for i, k in enumerate(names) if k != "phi_inj"}
    p = dataclasses.replace(params, **changes)
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


def _kernel_args(inp: H2Inputs, exc, n_max: int, model: str, cds: bool, names=None):
    """Positional and static arguments of :func:`_log_qe` for one catalyst."""
    args = (inp.params, jnp.float64(1.0 if inp.phi_inj is None else inp.phi_inj),
            jnp.asarray(exc.energy_eV), jnp.asarray(exc.w_abs * exc.xi_au),
            jnp.float64(np.sum(exc.w_abs * exc.xi_cds)))
    static = {"names": tuple(inp.names if names is None else names), "n_max": n_max,
              "cds": cds, "mode": kernel_mode(inp.params, exc, inp.phi_inj), "model": model}
    return args, static


def _lognormal_draws(mean, cov, n, key):
    """Draws with log-normal marginals matching mean and first-order covariance (all > 0)."""
    mean = np.asarray(mean, float)
    if np.any(mean <= 0):
        raise ModelError("sampling draws log-normal parameters and needs every uncertain value "
                         f"> 0, got {mean.tolist()}; use uncertainty='delta' instead")
    cov_log = np.asarray(cov, float) / np.outer(mean, mean)
    cov_log = 0.5 * (cov_log + cov_log.T)
    w, v = np.linalg.eigh(cov_log)
    a = v * np.sqrt(np.clip(w, 0.0, None))
    z = np.asarray(jax.random.normal(key, (n, mean.size), dtype=jnp.float64))
    return mean * np.exp(z @ a.T - 0.5 * np.diag(cov_log))


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
            "ratio": {"value": self.value, "ci95": list(self.ci95) if self.ci95 else None,
                      "method": self.method,
                      "delta_ci95": list(self.delta_ci95) if self.delta_ci95 else None,
                      "sampling_ci95": list(self.sampling_ci95) if self.sampling_ci95 else None,
                      "stderr_log": self.stderr_log},
            "notes": list(self.notes),
        }


def _list(t):
    return None if t is None else [float(x) for x in t]


def lambda_composite(p: InterfaceParams):
    """Λ = N_it σ_n v_th exp(−E_s/k_BT), cm s⁻¹ (0.91 for the defective defaults)."""
    return p.N_it_cm2 * p.sigma_n_cm2 * p.v_th_cm_s * jnp.exp(-p.E_s_eV
                                                              / (KB_EV * p.temperature_K))


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
        ``"clean"``/``"defective"`` presets, a fit folder / ``summary.json`` / ``result.nc``
        (slow parameters TA cannot see come from the preset of the same role; see
        :func:`hotcarrier.h2.load.load_fit`), a parameter set, or prepared inputs.
    spectrum, absorption, photon_balance, cds_channel, injection_model
        As :func:`hotcarrier.h2.predict_h2` (same illumination for both).
    uncertainty : {"both", "delta", "sampling", "none"}
        Which propagation to run when a covariance is attached; ``ci95`` is the sampling
        interval when run, else the delta-method interval; None without any covariance.
    n_samples : int
        Draws per catalyst for the sampling method.
    seed : int
        PRNG seed of the sampling method.
    shared_uncertainty : dict, optional
        ``{field: stderr}`` for parameters with one common value in both sets (e.g. the slow
        parameters TA cannot see, ``{"E_s_eV": 0.03}``); propagated fully correlated.
    """
    if uncertainty not in ("both", "delta", "sampling", "none"):
        raise OptionError(f"uncertainty = {uncertainty!r} is not a method; choose 'both', "
                          "'delta', 'sampling' or 'none'")
    ci = as_inputs(clean, "clean")
    di = as_inputs(defective, "defective")
    check_params(ci.params, f"the clean set ({ci.source})")
    check_params(di.params, f"the defective set ({di.source})")
    shared = _check_shared(shared_uncertainty, ci, di)
    kw = {"spectrum": spectrum, "absorption": absorption, "photon_balance": photon_balance,
          "cds_channel": cds_channel, "injection_model": injection_model}
    pc = predict_h2(ci.params, phi_inj=ci.phi_inj, **kw)
    pd = predict_h2(di.params, phi_inj=di.phi_inj, **kw)
    value = pc.qe_h2 / pd.qe_h2
    notes = [IDENTIFIABILITY_NOTE, *ci.notes, *di.notes]
    if shared:
        notes.append("shared uncertainty (same value in both sets, fully correlated): "
                     + ", ".join(f"{k} ± {v:g}" for k, v in shared.items()))
    delta_ci = samp_ci = sd = None
    qe_ci = (None, None)
    if uncertainty != "none" and (ci.has_uncertainty or di.has_uncertainty or shared):
        s_names = tuple(shared)
        s_vals = np.array([float(getattr(ci.params, k)) for k in s_names])
        s_cov = np.diag([shared[k] ** 2 for k in s_names])
        parts = []
        for inp in (ci, di):
            names = tuple(inp.names) + s_names
            own = len(inp.names)
            vals = np.concatenate([inp.values(), s_vals])
            exc = excitation(inp.params, spectrum, absorption=absorption)
            parts.append((inp, names, own, vals, exc))
        # delta method on (log QE_c, log QE_d, log r) over x = (θ_c, θ_d, θ_s)
        cov_log = _delta_log_covariance(parts, s_vals, s_cov, (pc.qe_h2, pd.qe_h2),
                                        injection_model, cds_channel)
        var_qe = (cov_log[0, 0], cov_log[1, 1])
        var = cov_log[2, 2]
        sd = math.sqrt(max(var, 0.0))
        if uncertainty in ("both", "delta"):
            delta_ci = (value * math.exp(-Z95 * sd), value * math.exp(Z95 * sd))
            qe_ci = tuple(
                (q * math.exp(-Z95 * math.sqrt(v)), q * math.exp(Z95 * math.sqrt(v))) if v > 0
                else None for q, v in zip((pc.qe_h2, pd.qe_h2), var_qe, strict=True))
        if uncertainty in ("both", "sampling"):
            k_c, k_d, k_s = jax.random.split(jax.random.PRNGKey(seed), 3)
            ds = (_lognormal_draws(s_vals, s_cov, n_samples, k_s) if s_names
                  else np.zeros((n_samples, 0)))
            logs = []
            for (inp, names, own, vals, exc), key, qe in zip(parts, (k_c, k_d),
                                                            (pc.qe_h2, pd.qe_h2)):
                if not names:
                    logs.append(np.full(n_samples, math.log(qe)))
                    continue
                do = (_lognormal_draws(inp.values(), inp.cov, n_samples, key) if own
                      else np.zeros((n_samples, 0)))
                draws = np.concatenate([do, ds], axis=1)
                n = padded_m_max(_max_lambda(inp, names, vals, draws))
                args, static = _kernel_args(inp, exc, n, injection_model, cds_channel, names)
                logs.append(np.asarray(_log_qe_batch(jnp.asarray(draws), *args, **static)))
            lr = logs[0] - logs[1]
            lr = lr[np.isfinite(lr)]
            samp_ci = (float(np.exp(np.percentile(lr, 2.5))),
                       float(np.exp(np.percentile(lr, 97.5))))
            qe_ci = tuple(
                (float(np.exp(np.percentile(lq, 2.5))), float(np.exp(np.percentile(lq, 97.5))))
                if np.ptp(lq) > 0 else None for lq in logs)
    ci95 = samp_ci if samp_ci is not None else delta_ci
    method = "sampling" if samp_ci is not None else ("delta" if delta_ci is not None else None)
    if ci95 is None:
        notes.append("no covariance available (presets or fits without stderr, no "
                     "shared_uncertainty): ratio.ci95 = null")
    return H2Ratio(pc, pd, value, ci95, method, delta_ci, samp_ci, sd,
                   float(lambda_composite(ci.params)), float(lambda_composite(di.params)),
                   (ci.source, di.source), tuple(notes), qe_ci)


def _block_diag(*blocks) -> np.ndarray:
    """Block-diagonal matrix of square ``blocks`` (empty blocks allowed)."""
    blocks = [np.atleast_2d(np.asarray(b, float)) if np.size(b) else np.zeros((0, 0))
              for b in blocks]
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    i = 0
    for b in blocks:
        k = b.shape[0]
        out[i:i + k, i:i + k] = b
        i += k
    return out


def _delta_log_covariance(parts, s_vals, s_cov, qe, model: str, cds: bool) -> np.ndarray:
    """Delta-method covariance (3×3) of (log QE_clean, log QE_defective, log ratio).

    The inputs x = (θ_c, θ_d, θ_s) are the clean set's own uncertain parameters, the
    defective set's own and the shared ones (same value in both sets), with the block-diagonal
    covariance diag(Σ_c, Σ_d, Σ_s) (independent fits; the shared block enters both QEs, fully
    correlated). The Jacobian rows are the jitted ∇ log QE of each set, placed in their
    blocks; :func:`hotcarrier.fitting.uncertainty.propagate_covariance` forms J Σ Jᵀ.
    """
    o_c, o_d = parts[0][2], parts[1][2]
    n_s = len(s_vals)
    own = slice(0, o_c), slice(o_c, o_c + o_d)
    shared = slice(o_c + o_d, o_c + o_d + n_s)
    x = np.concatenate([parts[0][3][:o_c], parts[1][3][:o_d], s_vals])
    cov = _block_diag(parts[0][0].cov if o_c else [], parts[1][0].cov if o_d else [], s_cov)
    log_qe, rows = [], []
    for (inp, names, n_own, vals, exc), sl, q in zip(parts, own, qe, strict=True):
        row = np.zeros(x.size)
        if names:
            args, static = _kernel_args(inp, exc, padded_m_max(float(inp.params.mean_traps)),
                                        model, cds, names)
            g = np.asarray(_log_qe_grad(jnp.asarray(vals), *args, **static))
            row[sl], row[shared] = g[:n_own], g[n_own:]
            log_qe.append(lambda xx, sl=sl, a=args, st=static: _log_qe(
                jnp.concatenate([xx[sl], xx[shared]]), *a, **st))
        else:
            log_qe.append(lambda xx, q=q: jnp.log(q) + 0.0 * jnp.sum(xx))
        rows.append(row)
    jac = np.stack([rows[0], rows[1], rows[0] - rows[1]])

    def transform(xx):
        lc, ld = log_qe[0](xx), log_qe[1](xx)
        return jnp.stack([lc, ld, lc - ld])

    cov_log, _ = propagate_covariance(transform, x, cov, jac=jac)
    return cov_log


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
    if name == "phi_inj":
        params, phi = inp.params, float(value)
    else:
        params, phi = inp.params.replace(**{name: float(value)}), inp.phi_inj
    if not stderr > 0:
        raise OptionError(f"prior on {name}: standard error must be > 0, got {stderr}; give a "
                          "positive stderr in the field's unit")
    names = [n for n in inp.names if n != name]
    keep = [i for i, n in enumerate(inp.names) if n != name]
    k = len(names)
    cov = np.zeros((k + 1, k + 1))
    if k:
        cov[:k, :k] = np.asarray(inp.cov)[np.ix_(keep, keep)]
    cov[k, k] = float(stderr) ** 2
    return dataclasses.replace(inp, params=params, phi_inj=phi, names=tuple(names) + (name,),
                               cov=cov)


def _max_lambda(inp: H2Inputs, names, vals, draws) -> float:
    """Largest mean trap number among the draws (to size the Poisson sum)."""
    lam = float(inp.params.mean_traps)
    scale = np.ones(len(draws))
    if "N_it_cm2" in names:
        i = names.index("N_it_cm2")
        scale = scale * draws[:, i] / vals[i]
    if "R1_nm" in names:
        i = names.index("R1_nm")
        scale = scale * (draws[:, i] / vals[i]) ** 2
    return max(lam, float(np.max(lam * scale)))


# ----------------------------------------------------------------------------- sweeps
@functools.partial(jax.jit, static_argnames=("n_max", "model", "cds", "mode"))
def _sweep_kernel(batch, base, phi, *, n_max, model, cds, mode):
    """QE_H2 (reference illumination) for a batch of parameter sets (every leaf batched).

    Batching every leaf (instead of one named field) lets all sweeps share one compilation
    per (n_max, mode, batch size).
    """

    def one(p):
        if mode == "fixed":
            ph = phi
        elif mode == "model":
            ph = injection_quantum_yield(p, model)
        else:  # fitted Φ_inj rescaled by the model's change
            ph = phi * injection_quantum_yield(p, model) / injection_quantum_yield(base, model)
        return qe_core(p, ph, 0.0, n_max, cds)["qe_h2"]

    return jax.vmap(one)(batch)


def _bucket(n: int) -> int:
    """Padded batch size (power of two, ≥ 8) so that sweeps reuse compiled shapes."""
    return max(8, 1 << (int(n) - 1).bit_length())


def _qe_sweep(inp: H2Inputs, field_name: str, values, n_max, model, cds):
    """QE_H2 of ``inp`` with ``field_name`` set to each of ``values`` (reference case)."""
    if inp.phi_inj is None:
        mode = "model"
    else:
        mode = "scaled" if field_name in INJECTION_INPUTS else "fixed"
    values = np.asarray(values, dtype=float)
    size = _bucket(values.size)
    padded = np.concatenate([values, np.full(size - values.size, values[-1])])
    batch = jax.tree.map(lambda leaf: jnp.full(size, leaf, dtype=jnp.float64), inp.params)
    batch = dataclasses.replace(batch, **{field_name: jnp.asarray(padded)})
    phi = jnp.float64(1.0 if inp.phi_inj is None else inp.phi_inj)
    out = _sweep_kernel(batch, inp.params, phi, n_max=n_max, model=model, cds=cds, mode=mode)
    return np.asarray(out)[: values.size]


@with_x64
def ratio_sweep(field_name: str, values, clean="clean", defective="defective", *,
                which: str = "defective", injection_model: str = "all_above",
                cds_channel: bool = True) -> np.ndarray:
    """Ratio for each value of one InterfaceParams field (§9.4 reference illumination).

    ``which``: ``"defective"``, ``"clean"`` or ``"both"`` — the set(s) the value is applied to.
    """
    ci = as_inputs(clean, "clean")
    di = as_inputs(defective, "defective")
    if which not in ("clean", "defective", "both"):
        raise OptionError(f"which = {which!r} is not a parameter set; choose 'clean', "
                          "'defective' or 'both'")
    values = np.atleast_1d(np.asarray(values, float))
    lams = [float(ci.params.mean_traps), float(di.params.mean_traps)]
    if field_name in ("N_it_cm2", "R1_nm"):
        for inp in (ci, di):
            for v in values:
                lams.append(float(dataclasses.replace(inp.params, **{field_name: v}).mean_traps))
    n = padded_m_max(max(lams))
    if which in ("clean", "both"):
        qc = _qe_sweep(ci, field_name, values, n, injection_model, cds_channel)
    else:
        qc = _qe_sweep(ci, "temperature_K", np.full(1, ci.params.temperature_K), n,
                       injection_model, cds_channel)
    if which in ("defective", "both"):
        qd = _qe_sweep(di, field_name, values, n, injection_model, cds_channel)
    else:
        qd = _qe_sweep(di, "temperature_K", np.full(1, di.params.temperature_K), n,
                       injection_model, cds_channel)
    return qc / qd


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
                cds_channel: bool = True, cases=SENSITIVITY_CASES) -> dict:
    """Sensitivity of the ratio (§9.4 reference illumination).

    Returns a dict with

    * ``elasticities``: ∂ ln r/∂ ln N_it,def, ∂ ln r/∂ ln σ_n (both sets), ∂ ln r/∂ E_s
      (both, eV⁻¹) and ∂ ln r/∂ ln Λ_def along N_it (from ``jax.grad``);
    * ``table``: the ratio for each case of :data:`SENSITIVITY_CASES` (one parameter varied);
    * ``crossings``: N_it,def and E_s where the ratio equals 100 and 1000;
    * ``note``: the identifiability statement.
    """
    ci = as_inputs(clean, "clean")
    di = as_inputs(defective, "defective")
    n = padded_m_max(float(di.params.mean_traps) * 10.0, float(ci.params.mean_traps))

    def log_ratio(x):
        n_def, sig, es = x
        pc = dataclasses.replace(ci.params, sigma_n_cm2=sig, E_s_eV=es)
        pd = dataclasses.replace(di.params, N_it_cm2=n_def, sigma_n_cm2=sig, E_s_eV=es)
        phc = injection_quantum_yield(pc, injection_model) if ci.phi_inj is None else ci.phi_inj
        phd = injection_quantum_yield(pd, injection_model) if di.phi_inj is None else di.phi_inj
        qc = qe_core(pc, phc, 0.0, n, cds_channel)["qe_h2"]
        qd = qe_core(pd, phd, 0.0, n, cds_channel)["qe_h2"]
        return jnp.log(qc / qd)

    x0 = jnp.array([di.params.N_it_cm2, ci.params.sigma_n_cm2, ci.params.E_s_eV], jnp.float64)
    g = np.asarray(jax.grad(log_ratio)(x0))
    el = {"dlnr_dlnNit_def": float(g[0] * x0[0]), "dlnr_dlnsigma_n": float(g[1] * x0[1]),
          "dlnr_dEs_per_eV": float(g[2]),
          "dlnr_dlnLambda_def_via_Nit": float(g[0] * x0[0])}
    table = []
    for label, fld, vals, which in cases:
        r = ratio_sweep(fld, vals, ci, di, which=which, injection_model=injection_model,
                        cds_channel=cds_channel)
        table.append({"parameter": label, "field": fld, "applied_to": which,
                      "values": list(vals), "ratio": [float(v) for v in r]})
    crossings = {
        "N_it_def_cm2": {str(t): _crossing(lambda v: ratio_sweep(
            "N_it_cm2", v, ci, di, which="defective", injection_model=injection_model,
            cds_channel=cds_channel), t, 1e11, 1e14, log=True) for t in (100, 1000)},
        "E_s_eV": {str(t): _crossing(lambda v: ratio_sweep(
            "E_s_eV", v, ci, di, which="both", injection_model=injection_model,
            cds_channel=cds_channel), t, 0.15, 0.45, log=False) for t in (100, 1000)},
    }
    only_nit = float(ratio_sweep("N_it_cm2", [di.params.N_it_cm2], ci,
                                 dataclasses.replace(ci, source="clean with defective N_it"),
                                 which="defective", injection_model=injection_model,
                                 cds_channel=cds_channel)[0])
    return {"elasticities": el, "table": table, "crossings": crossings,
            "only_N_it_differs": only_nit, "note": IDENTIFIABILITY_NOTE}


def _crossing(fn, target, lo, hi, log=True, n=161):
    """Value of x in [lo, hi] where fn(x) = target (grid + interpolation in log r); None if none."""
    xs = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
    ys = np.log(np.asarray(fn(xs)))
    t = math.log(target)
    s = np.sign(ys - t)
    idx = np.nonzero(s[:-1] * s[1:] <= 0)[0]
    if idx.size == 0:
        return None
    i = int(idx[0])
    u = (t - ys[i]) / (ys[i + 1] - ys[i])
    if log:
        return float(np.exp(np.log(xs[i]) + u * (np.log(xs[i + 1]) - np.log(xs[i]))))
    return float(xs[i] + u * (xs[i + 1] - xs[i]))

"""Systematics budget of Φ_inj: priors on the calibration and a log-normal combination.

Φ_inj = [A_s(0⁺)/ρ_abs,s] / [A_ref(0⁺)/ρ_abs,ref] · q_ref · Φ_ref is a *product*, so relative
errors of the cross-section ratio q_ref = σ_CB,ref/σ_CB,s, the reference's yield Φ_ref and the
absorbed photon densities ρ_abs = (F/ħω)(1 − 10^−A)/ℓ · (spot overlap) add in quadrature in
ln Φ. Each prior value ± u (1σ) gives a log-normal term σ_ln = √ln(1 + (u/value)²) for the
budget; the statistical interval (profile likelihood, possibly asymmetric) and the model-choice
spread enter as further ln-space terms. The log-normal total 95 % interval is

    Φ̂ · exp(∓1.96 √(σ_stat,±² + σ_model² + Σ σ_sys,i²));

the reported total interval propagates the priors as stated (normal) by Monte Carlo, which the
log-normal one approximates within a few % of Φ (``tests/test_physics_decay.py``). Typical
sizes (spec §14b): q_ref ±10–20 %, ρ_abs ±5–15 % per dataset, Φ_ref ±5 %: ±20–30 % in total,
against ±1–5 % statistical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

__all__ = ["Prior", "Systematics", "systematics_from_dict", "combine_intervals",
           "rho_abs_relative_uncertainty", "Z95", "parse_prior_option", "with_prior_options",
           "COMMON_TO_SAMPLES"]

Z95 = 1.959963984540054
RHO_PARTS = ("rho_abs", "fluence", "absorbance", "path", "overlap")
"""Keys of ``[systematics.sample]``/``[systematics.reference]``: relative 1σ of ρ_abs as a
whole, or of its parts (fluence, path length, spot overlap: relative; absorbance: absolute 1σ
of the pump absorbance A, converted with ∂ln(1 − 10^−A)/∂A)."""


COMMON_TO_SAMPLES = ("q_ref", "reference_yield")
"""Calibration factors shared by every sample measured against the same kind of reference
(same shell material and probe: σ_CB,ref/σ_CB,s and the reference's yield): they cancel in a
ratio of two samples' Φ_inj (e.g. the clean/defective H₂ ratio); ρ_abs of each dataset does
not."""


@dataclass(frozen=True)
class Prior:
    """A calibration quantity known as value ± uncertainty (1σ, same unit)."""

    value: float
    uncertainty: float = 0.0

    @property
    def sigma_ln(self) -> float:
        """σ of ln(quantity) of the log-normal with this mean and standard deviation."""
        return math.sqrt(math.log1p((self.uncertainty / self.value) ** 2))


@dataclass(frozen=True)
class Systematics:
    """Priors of the calibrated route: q_ref, Φ_ref and ρ_abs of sample and reference."""

    q_ref: Prior | None = None
    reference_yield: Prior | None = None
    sample: dict = field(default_factory=dict)  # RHO_PARTS → 1σ
    reference: dict = field(default_factory=dict)

    def factors(self, absorbance_sample=None, absorbance_reference=None) -> dict:
        """Name → (relative 1σ, exponent) of every nonzero calibration factor of
        Φ_true = Φ̂ · q_ref · Φ_ref · ρ_abs,ref / ρ_abs,sample (true over nominal values)."""
        out = {}
        for name, prior in (("q_ref", self.q_ref), ("reference_yield", self.reference_yield)):
            if prior is not None and prior.uncertainty > 0:
                out[name] = (prior.uncertainty / prior.value, 1)
        for role, parts, a, sign in (("sample", self.sample, absorbance_sample, -1),
                                     ("reference", self.reference, absorbance_reference, 1)):
            rel = rho_abs_relative_uncertainty(parts, a, role)
            if rel > 0:
                out[f"rho_abs_{role}"] = (rel, sign)
        return out

    def terms(self, absorbance_sample=None, absorbance_reference=None) -> dict:
        """Name → σ_ln = √ln(1 + rel²) of every systematic term (zero terms left out)."""
        return {k: math.sqrt(math.log1p(rel**2)) for k, (rel, _) in
                self.factors(absorbance_sample, absorbance_reference).items()}


def rho_abs_relative_uncertainty(parts: dict, absorbance=None, role="sample") -> float:
    """Relative 1σ of ρ_abs = (F/ħω)(1 − 10^−A)/ℓ·overlap from its parts (see
    :data:`RHO_PARTS`); ``absorbance`` A is needed for an absorbance uncertainty."""
    if "rho_abs" in parts:
        return float(parts["rho_abs"])
    s2 = sum(float(parts.get(k, 0.0)) ** 2 for k in ("fluence", "path", "overlap"))
    if parts.get("absorbance"):
        if absorbance is None:
            raise ModelError(f"[systematics.{role}] absorbance needs the pump absorbance A of "
                             f"the {role} (dataset attribute pump_absorbance); give it or give "
                             "rho_abs (relative 1σ) instead")
        a = float(absorbance)
        dlnf = math.log(10.0) * 10.0 ** (-a) / (1.0 - 10.0 ** (-a))
        s2 += (dlnf * float(parts["absorbance"])) ** 2
    return math.sqrt(s2)


def _prior(v, name, problems):
    if (isinstance(v, (list, tuple)) and len(v) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in v)
            and v[0] > 0 and v[1] >= 0):
        return Prior(float(v[0]), float(v[1]))
    problems.append(f"[systematics] {name} = {v!r}: give [value, uncertainty] with value > 0 "
                    "and uncertainty ≥ 0 (1σ, same unit)")
    return None


def systematics_from_dict(d: dict, where: str = "model file") -> Systematics:
    """Read ``[systematics]``; every problem is listed in one :class:`ModelError`."""
    problems, kw = [], {}
    for k, v in d.items():
        if k in ("q_ref", "reference_yield"):
            kw[k] = _prior(v, k, problems)
        elif k in ("sample", "reference"):
            if not isinstance(v, dict):
                problems.append(f"[systematics.{k}] must be a table of {RHO_PARTS}")
                continue
            for part, u in v.items():
                if part not in RHO_PARTS:
                    problems.append(f"[systematics.{k}] unknown key {part!r}; known: "
                                    f"{RHO_PARTS}")
                elif (not isinstance(u, (int, float)) or isinstance(u, bool) or not u >= 0
                      or not math.isfinite(u)):
                    problems.append(f"[systematics.{k}] {part} = {u!r}: expected a relative "
                                    "1σ ≥ 0 (e.g. 0.05 for 5 %)")
            kw[k] = {p: float(u) for p, u in v.items() if p in RHO_PARTS
                     and isinstance(u, (int, float))}
        else:
            problems.append(f"[systematics] unknown key {k!r}; known: q_ref, reference_yield, "
                            "sample, reference")
    if problems:
        raise ModelError(f"{where}: [systematics] has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    return Systematics(**kw)


def parse_prior_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE±U`` (or ``NAME=VALUE,U``) of the command line → (key, entry) of
    ``[systematics]``: q_ref and reference_yield take value and uncertainty, ``sample.PART``
    and ``reference.PART`` a relative 1σ (``sample.fluence=0.05``)."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise ModelError(f"--prior {text!r}: expected NAME=VALUE±UNCERTAINTY, e.g. "
                         "q_ref=1.0±0.15 or sample.fluence=0.05")
    name = name.strip()
    try:
        nums = [float(s) for s in rest.replace("±", ",").replace("+-", ",").split(",")]
    except ValueError:
        raise ModelError(f"--prior {text!r}: {rest!r} is not a number (or VALUE±U)") from None
    if "." in name:
        role, part = name.split(".", 1)
        return role, {part: nums[0]}
    if len(nums) != 2:
        raise ModelError(f"--prior {text!r}: {name} needs VALUE±UNCERTAINTY")
    return name, nums


def with_prior_options(model, options):
    """``model`` (a PhysicalModel) with ``--prior`` options merged into its [systematics]
    (an option replaces the model file's entry of the same name)."""
    import dataclasses

    base = model.systematics or Systematics()
    kw = {"q_ref": base.q_ref, "reference_yield": base.reference_yield,
          "sample": dict(base.sample), "reference": dict(base.reference)}
    table = {}
    for text in options or ():
        key, entry = parse_prior_option(text)
        if key in ("sample", "reference"):
            table.setdefault(key, dict(kw[key])).update(entry)
        else:
            table[key] = entry
    parsed = systematics_from_dict(table, where="--prior")
    for key in table:
        kw[key] = getattr(parsed, key)
    return dataclasses.replace(model, systematics=Systematics(**kw))


def combine_intervals(phi: float, stat_ci, factors: dict, model_sigma_ln: float = 0.0,
                      stat_stderr: float | None = None, n_mc: int = 200_000,
                      seed: int = 0) -> dict:
    """Statistical, systematic and total 95 % intervals of Φ̂ and the uncertainty budget.

    ``stat_ci``: the statistical 95 % interval (profile or Wald; a lower end ≤ 0 falls back
    on ``stat_stderr``/Φ̂); ``factors``: name → (relative 1σ, exponent) of the calibration
    factors (:meth:`Systematics.factors`); ``model_sigma_ln``: the model-choice spread of
    ln Φ across decay models.

    Two combinations are reported. ``ci95_total_lognormal``: every term as a log-normal,
    σ_ln added in quadrature (the delta method in ln Φ; closed form). ``ci95_total`` (and
    ``ci95_systematic``): Monte Carlo of the priors as stated — each factor normal with its
    relative σ (cut at 5 % of its value), the statistical error split-normal in ln Φ with the
    interval's two half-widths, the model choice log-normal — ``n_mc`` draws with a fixed
    ``seed`` (deterministic). They differ by a few % of Φ for 15 % priors (a normal prior's
    low tail is heavier than the log-normal's: tests/test_physics_decay.py).
    ``ci95_between_samples`` (σ ``sigma_ln_between_samples``, log-normal, the statistical term
    at the wider side of its interval): every term except those of :data:`COMMON_TO_SAMPLES` —
    the uncertainty of Φ_inj in a ratio of two samples.
    """
    def side(end):
        if end is not None and math.isfinite(end) and end > 0:
            return abs(math.log(end / phi)) / Z95
        return (stat_stderr or 0.0) / phi if stat_stderr else math.inf

    s_lo = side(stat_ci[0] if stat_ci else None)
    s_hi = side(stat_ci[1] if stat_ci else None)
    systematic = {k: math.sqrt(math.log1p(rel**2)) for k, (rel, _) in factors.items()}
    sys2 = sum(v * v for v in systematic.values())
    tot_lo = math.sqrt(s_lo**2 + model_sigma_ln**2 + sys2)
    tot_hi = math.sqrt(s_hi**2 + model_sigma_ln**2 + sys2)
    rng = np.random.default_rng(seed)
    sys_f = np.ones(n_mc)
    for rel, sign in factors.values():
        sys_f *= np.maximum(rng.normal(1.0, rel, n_mc), 0.05) ** sign
    z = rng.normal(size=n_mc)
    ln_stat = np.where(z < 0, z * min(s_lo, 50.0), z * min(s_hi, 50.0))
    ln_model = rng.normal(0.0, model_sigma_ln, n_mc) if model_sigma_ln > 0 else 0.0
    q = (0.025, 0.975)
    ci_sys = phi * np.quantile(sys_f, q)
    ci_tot = phi * np.quantile(sys_f * np.exp(ln_stat + ln_model), q)
    budget = {"statistical": 0.5 * (s_lo + s_hi), "model_choice": model_sigma_ln, **systematic}
    # what a ratio of two samples' Φ_inj sees: the factors common to both cancel (the wider
    # side of the statistical interval: one symmetric log-normal σ for the propagation)
    own = math.sqrt(max(s_lo, s_hi) ** 2 + model_sigma_ln**2
                    + sum(v * v for k, v in systematic.items() if k not in COMMON_TO_SAMPLES))
    var = {k: v * v for k, v in budget.items()}
    total_var = sum(var.values())
    dominant = max(var, key=var.get) if total_var > 0 else "statistical"
    return {
        "ci95_statistical": [phi * math.exp(-Z95 * s_lo), phi * math.exp(Z95 * s_hi)],
        "ci95_statistical_model": [phi * math.exp(-Z95 * math.hypot(s_lo, model_sigma_ln)),
                                   phi * math.exp(Z95 * math.hypot(s_hi, model_sigma_ln))],
        "ci95_systematic": [float(c) for c in ci_sys],
        "ci95_total": [float(c) for c in ci_tot],
        "ci95_total_lognormal": [phi * math.exp(-Z95 * tot_lo), phi * math.exp(Z95 * tot_hi)],
        "ci95_between_samples": [phi * math.exp(-Z95 * own), phi * math.exp(Z95 * own)],
        "sigma_ln_between_samples": own,
        "sigma_ln": budget,
        "variance_share": {k: (v / total_var if total_var > 0 else 0.0) for k, v in var.items()},
        "dominant": dominant,
        "method": f"Monte Carlo of the stated priors ({n_mc} draws, seed {seed}); log-normal "
                  "(delta method in ln Φ) alongside; budget as σ of ln Φ",
    }

"""Target-analysis model specification: compartments, transfers, parameters, IRF, spectra.

A :class:`TargetModel` is plain Python (no traced values), built from a TOML model file
(:mod:`hotcarrier.target.modelfile`) or the quick options (:meth:`TargetModel.from_scheme`).
Its parameters are a :class:`~hotcarrier.fitting.params.ParameterSet` (θ → physical values,
expressions); :meth:`TargetModel.matrix` gives, for one dataset, the design matrix C
(wavelength, delay, column) whose columns are the IRF-convolved compartment populations
(after spectral relations), the damped-oscillation (DOAS) pairs, the coherent-artefact terms
and the baseline (pure JAX). The IRF is a (multi-)Gaussian or a measured trace
(:func:`hotcarrier.irf.gaussian_sum_irf`), optionally with a free time-zero shift per
wavelength (:class:`TimeZeroShift`, bound to the data by :meth:`TargetModel.bind`).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from ..errors import ModelError
from ..fitting.params import Expression, Parameter, ParameterSet
from ..units import FWHM_PER_SIGMA
from ..irf import angular_frequency, gaussian_irf, gaussian_sum_irf, oscillation_conv_gauss
from ..kinetics import Scheme, convolved_populations

__all__ = ["Parameter", "ParameterSet", "Transfer", "IRF", "MeasuredIRF", "TimeZeroShift",
           "Oscillation", "Relation", "Constraint", "Weight", "DatasetModel", "TargetModel",
           "OSCILLATION_UNITS", "Guide", "EqualArea", "SpectralShape", "spectral_shape"]

#: frequency units of an oscillation → factor to angular frequency (rad/ps)
OSCILLATION_UNITS = {"cm-1": float(angular_frequency(1.0)), "THz": 2.0 * math.pi}

@dataclass
class Transfer:
    """A first-order transfer ``source → target`` (target None = ground state)."""

    source: str
    target: str | None
    rate: str  # parameter name or expression


@dataclass(frozen=True)
class MeasuredIRF:
    """A measured IRF trace: sample ``times`` (ps) and ``values`` (any unit, normalised to unit
    area), used as a Gaussian sum of width = the sample step (``spacing``, ps; default the
    median step): see :func:`hotcarrier.irf.gaussian_sum_irf`."""

    times: tuple
    values: tuple
    spacing: float | None = None
    source: str = ""

    def kernel(self):
        """(centres (M,), weights (M,), sigma) of the Gaussian sum (NumPy; validated)."""
        return gaussian_sum_irf(self.times, self.values, self.spacing)


@dataclass
class TimeZeroShift:
    """A free time-zero shift δ(λ) (ps) at every wavelength of a dataset, added to the IRF
    centre (pyglotaran's per-index IRF shift).

    One parameter per wavelength (``value`` start, ``min``/``max`` bounds); the one nearest
    ``reference`` (nm; default the median wavelength) is fixed at 0 so that the shifts are
    relative to the IRF centre (``reference = "none"``: all free; then fix the centre).
    ``wavelengths``/``names`` are filled by :meth:`TargetModel.bind` from the data.
    """

    value: float = 0.0
    min: float = -math.inf
    max: float = math.inf
    reference: float | str | None = None
    wavelengths: tuple = ()
    names: tuple = ()


@dataclass
class IRF:
    """IRF of one dataset, parameters given by name or expression.

    ``center``/``width`` disperse with wavelength as polynomials in
    x = (λ − dispersion_center)/100 nm (pyglotaran): μ(λ) = center + Σ cᵢ xⁱ (i ≥ 1).
    ``extra`` Gaussians (multi-Gaussian IRF) are (centre shift, width, relative scale).
    ``measured``: a measured trace instead of the Gaussian (``center`` is then its fitted
    shift, ps; ``width`` is not used). ``t0_shift``: a free shift per wavelength.
    ``wavenumber_dispersion``: x = 10³/λ − 10³/λ_c (λ in nm; pyglotaran's
    ``model_dispersion_with_wavenumber``) instead of (λ − λ_c)/100.
    """

    center: str = "irf_center"
    width: str = "irf_width"
    dispersion_center: float | None = None
    center_dispersion: list[str] = field(default_factory=list)
    width_dispersion: list[str] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)
    measured: MeasuredIRF | None = None
    t0_shift: TimeZeroShift | None = None
    wavenumber_dispersion: bool = False


@dataclass
class Oscillation:
    """A damped oscillation e^{−γt}·cos(ωt + φ) ⊗ IRF: two design columns (cos, sin) whose
    amplitudes give the DOAS (oscillation-associated spectrum, √(a_cos² + a_sin²)) and phase.

    ``frequency`` (parameter/expression) in ``unit`` "cm-1" (wavenumber, ω = 2π·c·ν̃) or
    "THz" (ω = 2π·f); ``rate`` the damping rate γ (ps⁻¹; negative: before time zero).
    """

    label: str
    frequency: str
    rate: str
    unit: str = "cm-1"


@dataclass
class Relation:
    """Spectrum of ``species`` = ``factor`` × spectrum of ``target`` (factor: name/expr/number)."""

    species: str
    target: str
    factor: str = "1"


@dataclass
class Constraint:
    """Spectrum of ``species`` is zero for wavelengths in [low, high] nm."""

    species: str
    low: float
    high: float


@dataclass
class Weight:
    """Residuals in the wavelength (nm) × delay (ps) box are multiplied by ``value``."""

    value: float
    wavelength: tuple[float, float] = (-math.inf, math.inf)
    delay: tuple[float, float] = (-math.inf, math.inf)


@dataclass
class Guide:
    """Guidance spectrum: the spectrum of ``species`` is pulled towards ``values``.

    Each guide point adds one row to the per-wavelength least-squares problem of the
    amplitudes, ``weight·(a_species(λ) − g(λ))`` (pyglotaran's ``clp-guide`` dataset linked to
    the data). ``wavelength`` (nm) and ``values`` (signal units) are interpolated linearly onto
    the fitted wavelengths; outside their range a guide has no effect.
    """

    species: str
    wavelength: tuple
    values: tuple
    weight: float = 1.0


@dataclass
class EqualArea:
    """Equal-area penalty (pyglotaran's ``equal_area`` clp penalty), one extra residual:
    ``weight·|Σ_src a_source(λ) − parameter·Σ_tgt a_target(λ)|``, sums over the wavelengths
    in the intervals (nm; ends snap to the nearest fitted wavelength, inclusive)."""

    source: str
    target: str
    source_intervals: list
    target_intervals: list
    parameter: str = "1"
    weight: float = 1.0


@dataclass
class SpectralShape:
    """Parametric spectrum of ``species``: amplitude × shape(λ) (pyglotaran's spectral shapes).

    ``kind`` "gaussian": A·exp(−ln2·(2(λ − λ0)/Δ)²) with Δ the FWHM (nm); "skewed-gaussian":
    A·exp(−ln2·(ln(1 + 2b(λ − λ0)/Δ)/b)²) (0 where the logarithm's argument ≤ 0).
    Parameters by name or expression; the species' spectrum is then no longer a linear
    amplitude but a function of these parameters.
    """

    species: str
    kind: str
    amplitude: str
    location: str
    width: str
    skewness: str | None = None


def spectral_shape(kind: str, wavelength, amplitude, location, width, skewness=0.0):
    """Gaussian or skewed-Gaussian spectral shape (pyglotaran's definition; see
    :class:`SpectralShape`), pure JAX and differentiable in every parameter."""
    x = 2.0 * (jnp.asarray(wavelength) - location) / width
    g = jnp.exp(-math.log(2.0) * x * x)
    if kind == "gaussian":
        return amplitude * g
    b = jnp.asarray(skewness)
    small = jnp.abs(b) < 1e-10
    bs = jnp.where(small, 1.0, b)
    arg = 1.0 + bs * x
    ok = (arg > 0) & ~small
    lg = jnp.log(jnp.where(arg > 0, arg, 1.0)) / bs
    sk = jnp.where(ok, jnp.exp(-math.log(2.0) * lg * lg), 0.0)
    return amplitude * jnp.where(small, g, sk)


@dataclass
class DatasetModel:
    """Per-dataset part of a model: its IRF, an optional scale parameter, weights."""

    name: str = "dataset1"
    irf: IRF = field(default_factory=IRF)
    scale: str | None = None
    weights: list[Weight] = field(default_factory=list)


@dataclass
class TargetModel:
    """A target (global) analysis model.

    Attributes
    ----------
    compartments : list of str
    transfers : list of Transfer
    initial : dict
        Initial population of each compartment (missing = 0); names or numbers.
    normalize_initial : bool
        Divide the initial populations by their sum.
    parameters : ParameterSet
    datasets : list of DatasetModel
        One per fitted dataset (shared kinetics, own IRF/scale/weights).
    relations, constraints : lists
    oscillations : list of Oscillation
        Damped oscillations (DOAS), two columns each, after the species columns.
    coherent_artifact : int
        Number of IRF-shaped artefact columns (0 none; 1 IRF; 2 + first derivative; 3 + second).
    artifact_width : str or None
        Own Gaussian width σ (ps; parameter/expression) of the artefact columns, centred on the
        IRF (pyglotaran's coherent-artifact ``width``); None: the IRF's width.
    baseline : bool
        Add a constant (offset) column.
    link_spectra : bool
        With several datasets, share the spectra at equal wavelengths (pyglotaran's clp
        linking); otherwise each dataset gets its own spectra.
    scheme_kind : str or None
        "parallel"/"sequential" for the quick path (lifetimes are then reported).
    non_negative : bool or list of str
        Non-negative amplitudes (True: every column; a list: those columns), by NNLS inside
        the variable projection (pyglotaran's ``non_negative_least_squares``); the active
        constraints are held fixed in the Jacobian and the covariance.
    guides, equal_area, shapes : lists
        Guidance spectra (:class:`Guide`), equal-area penalties (:class:`EqualArea`) and
        parametric spectra (:class:`SpectralShape`).
    preprocess : dict
        Preprocessing options (applied by :func:`hotcarrier.preprocess.prepare`).
    source : str
        Where the model came from (error messages, results).
    """

    compartments: list[str]
    transfers: list[Transfer]
    initial: dict
    parameters: ParameterSet
    datasets: list[DatasetModel] = field(default_factory=lambda: [DatasetModel()])
    normalize_initial: bool = False
    relations: list[Relation] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    coherent_artifact: int = 0
    artifact_width: str | None = None
    baseline: bool = False
    link_spectra: bool = True
    oscillations: list[Oscillation] = field(default_factory=list)
    scheme_kind: str | None = None
    non_negative: bool | list = False
    guides: list[Guide] = field(default_factory=list)
    equal_area: list[EqualArea] = field(default_factory=list)
    shapes: list[SpectralShape] = field(default_factory=list)
    preprocess: dict = field(default_factory=dict)
    source: str = "model"
    toml_text: str = ""

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self):
        """Check names and references; raise one :class:`ModelError` listing every problem."""
        problems = []
        comp = self.compartments
        if len(set(comp)) != len(comp):
            problems.append(f"compartment names are not unique: {comp}")
        if not comp:
            problems.append("the model has no compartments")
        names = set(self.parameters.names)
        self._exprs = {}

        def expr(text, where):
            text = str(text)
            try:
                e = Expression(text, where)
            except ModelError as exc:
                problems.append(str(exc))
                return
            unknown = sorted(e.names - names)
            if unknown:
                problems.append(f"{where}: {text!r} refers to undefined parameter(s) {unknown}")
            self._exprs[text] = e

        for tr in self.transfers:
            w = f"transfer {tr.source}→{tr.target or 'ground'}"
            if tr.source not in comp:
                problems.append(f"{w}: unknown compartment {tr.source!r}")
            if tr.target is not None and tr.target not in comp:
                problems.append(f"{w}: unknown compartment {tr.target!r}")
            expr(tr.rate, f"{w} rate")
        for c, v in self.initial.items():
            if c not in comp:
                problems.append(f"initial population given for unknown compartment {c!r}")
            expr(v, f"initial population of {c}")
        if not self.initial:
            problems.append("no initial population: give e.g. initial = {s1 = 1}")
        for r in self.relations:
            for s in (r.species, r.target):
                if s not in comp:
                    problems.append(f"relation {r.species}={r.factor}·{r.target}: unknown "
                                    f"compartment {s!r}")
            expr(r.factor, f"relation {r.species}→{r.target} factor")
        related = {r.species for r in self.relations}
        for r in self.relations:
            if r.target in related:
                problems.append(f"relation chain: {r.target!r} is itself related to another "
                                "species; relate both to the same free species")
        for c in self.constraints:
            if c.species not in comp:
                problems.append(f"constraint: unknown compartment {c.species!r}")
            if c.species in related:
                problems.append(f"constraint on {c.species!r}, whose spectrum is set by a "
                                "relation; constrain the related species instead")
        for d in self.datasets:
            irf = d.irf
            expr(irf.center, f"dataset {d.name!r} IRF centre")
            if irf.measured is None:
                expr(irf.width, f"dataset {d.name!r} IRF width")
            for n in (irf.t0_shift.names if irf.t0_shift else ()):
                expr(n, f"dataset {d.name!r} time-zero shift")
            for i, cname in enumerate(irf.center_dispersion + irf.width_dispersion):
                expr(cname, f"dataset {d.name!r} IRF dispersion term {i + 1}")
            if (irf.center_dispersion or irf.width_dispersion) and irf.dispersion_center is None:
                problems.append(f"dataset {d.name!r}: IRF dispersion needs dispersion_center (nm)")
            for x in itertools.chain.from_iterable(irf.extra):
                expr(x, f"dataset {d.name!r} extra IRF Gaussian")
            if d.scale is not None:
                expr(d.scale, f"dataset {d.name!r} scale")
            problems.extend(_irf_problems(d))
        labels = [o.label for o in self.oscillations]
        if len(set(labels)) != len(labels) or set(labels) & set(comp):
            problems.append(f"oscillation labels {labels} must be unique and differ from the "
                            "compartment names")
        for o in self.oscillations:
            if o.unit not in OSCILLATION_UNITS:
                problems.append(f"oscillation {o.label!r}: unit {o.unit!r}; expected one of "
                                f"{sorted(OSCILLATION_UNITS)}")
            expr(o.frequency, f"oscillation {o.label!r} frequency")
            expr(o.rate, f"oscillation {o.label!r} rate")
        if not self.datasets:
            problems.append("the model has no dataset section")
        if self.artifact_width is not None:
            expr(self.artifact_width, "coherent-artefact width")
        self._validate_spectral(problems, expr, related)
        if self.coherent_artifact not in (0, 1, 2, 3):
            problems.append(f"coherent_artifact = {self.coherent_artifact}; expected 0–3")
        try:
            self.scheme = Scheme(len(comp), [
                (comp.index(t.source), None if t.target is None else comp.index(t.target))
                for t in self.transfers], names=comp) if not problems else None
        except ModelError as exc:
            problems.append(str(exc))
        if problems:
            raise ModelError(f"{self.source}: {len(problems)} problem(s):\n  - "
                             + "\n  - ".join(problems))

    def _validate_spectral(self, problems, expr, related):
        """Guides, equal-area penalties and spectral shapes (appends to ``problems``)."""
        comp, shaped = self.compartments, {sh.species for sh in self.shapes}
        if isinstance(self.non_negative, (list, tuple)):
            cols = self.column_names
            bad = [c for c in self.non_negative if c not in cols]
            if bad:
                problems.append(f"non_negative: unknown column(s) {bad} (columns: {cols})")
        for g in self.guides:
            w = f"guide of {g.species!r}"
            if g.species not in comp:
                problems.append(f"{w}: unknown compartment")
            elif g.species in related or g.species in shaped:
                problems.append(f"{w}: its spectrum is set by a relation or a shape; guide "
                                "the free species instead")
            if len(g.wavelength) != len(g.values) or len(g.values) < 2:
                problems.append(f"{w}: needs at least two (wavelength, value) pairs of equal "
                                "length")
            if not (g.weight > 0 and math.isfinite(g.weight)):
                problems.append(f"{w}: weight {g.weight} must be a positive number")
        for e in self.equal_area:
            w = f"equal_area {e.source}/{e.target}"
            for s in (e.source, e.target):
                if s not in comp:
                    problems.append(f"{w}: unknown compartment {s!r}")
            if not e.source_intervals or not e.target_intervals:
                problems.append(f"{w}: give source_intervals and target_intervals, e.g. "
                                "[[400, 700]]")
            expr(e.parameter, f"{w} parameter")
        seen = set()
        for sh in self.shapes:
            w = f"shape of {sh.species!r}"
            if sh.species not in comp:
                problems.append(f"{w}: unknown compartment")
            elif sh.species in related or sh.species in {r.target for r in self.relations}:
                problems.append(f"{w}: the species takes part in a relation; shape the "
                                "species without relations")
            if sh.species in seen:
                problems.append(f"{w}: given twice")
            seen.add(sh.species)
            if sh.kind not in ("gaussian", "skewed-gaussian"):
                problems.append(f"{w}: type {sh.kind!r}; expected 'gaussian' or "
                                "'skewed-gaussian'")
            if sh.kind == "skewed-gaussian" and sh.skewness is None:
                problems.append(f"{w}: a skewed-gaussian needs 'skewness'")
            for x in (sh.amplitude, sh.location, sh.width, sh.skewness):
                if x is not None:
                    expr(x, f"{w} parameter")

    @property
    def per_wavelength(self) -> bool:
        """True when the projection must be solved wavelength by wavelength (NNLS active sets,
        guide rows, equal-area penalties, parametric spectra): no shared QR."""
        return bool(self.non_negative or self.guides or self.equal_area or self.shapes)

    def non_negative_mask(self) -> np.ndarray:
        """(n_columns,) bool: the amplitudes constrained to be ≥ 0."""
        cols = self.column_names
        if isinstance(self.non_negative, (list, tuple)):
            return np.array([c in self.non_negative for c in cols], bool)
        return np.full(len(cols), bool(self.non_negative))

    def shape_spectra(self, pvec, wavelength):
        """(W, n_columns) spectra of the shaped species (0 in every other column)."""
        env = self._env(pvec)
        wl = jnp.asarray(wavelength)
        S = jnp.zeros((wl.shape[0], len(self.column_names)))
        for sh in self.shapes:
            sk = 0.0 if sh.skewness is None else self._ev(sh.skewness, env)
            f = spectral_shape(sh.kind, wl, self._ev(sh.amplitude, env),
                               self._ev(sh.location, env), self._ev(sh.width, env), sk)
            S = S.at[:, self.column_names.index(sh.species)].set(f)
        return S

    def cache_key(self) -> str:
        """A string that is equal for models that compile to the same program.

        Everything structural and the values of fixed parameters (compiled in as constants);
        not the start values of free parameters, nor preprocessing or weights (data arrays).
        """
        ps = [(p.name, p.min, p.max, p.fixed, p.expr, p.value if p.fixed else None, p.log)
              for p in self.parameters.params]
        ds = [(d.irf, d.scale) for d in self.datasets]
        return repr((self.compartments, self.transfers, sorted(self.initial.items()), ps, ds,
                     self.normalize_initial, self.relations, self.constraints,
                     self.coherent_artifact, self.baseline, self.link_spectra,
                     self.oscillations, self.artifact_width,
                     repr(self.non_negative), [(g.species, g.weight) for g in self.guides],
                     self.equal_area, self.shapes))

    # ------------------------------------------------------------------ binding to data
    def needs_binding(self) -> bool:
        """True when a dataset has a per-wavelength time-zero shift (parameters per λ)."""
        return any(d.irf.t0_shift is not None for d in self.datasets)

    def bind(self, wavelengths) -> TargetModel:
        """The model with one time-zero-shift parameter per wavelength of each dataset that
        asks for it (``wavelengths``: one array (nm) per dataset); ``self`` if none does.

        Parameters are named ``t0_shift_<i>`` (``t0_shift_<dataset>_<i>`` with several
        datasets; i = 1 … W in the order of the data's wavelengths), unit ps; the one nearest
        the reference wavelength is fixed at 0. Binding again to another grid replaces them.
        """
        if not self.needs_binding():
            return self
        wavelengths = [np.asarray(w, float).ravel() for w in wavelengths]
        if len(wavelengths) != len(self.datasets):
            raise ModelError(f"{self.source}: {len(wavelengths)} wavelength grid(s) for "
                             f"{len(self.datasets)} dataset(s)")
        if all(d.irf.t0_shift is None or d.irf.t0_shift.wavelengths == tuple(wl.tolist())
               for d, wl in zip(self.datasets, wavelengths)):
            return self
        old = {n for d in self.datasets if d.irf.t0_shift for n in d.irf.t0_shift.names}
        params = [p for p in self.parameters.params if p.name not in old]
        datasets = []
        for d, wl in zip(self.datasets, wavelengths):
            sh = d.irf.t0_shift
            if sh is None:
                datasets.append(d)
                continue
            stem = "t0_shift_" if len(self.datasets) == 1 else f"t0_shift_{d.name}_"
            names = tuple(f"{stem}{i + 1}" for i in range(wl.size))
            ref = sh.reference
            if isinstance(ref, str) and ref.lower() == "none":
                iref = -1
            else:
                lam = float(np.median(wl)) if ref is None else float(ref)
                iref = int(np.argmin(np.abs(wl - lam)))
            params += [Parameter(n, 0.0 if i == iref else float(sh.value), sh.min, sh.max,
                                 fixed=i == iref, unit="ps") for i, n in enumerate(names)]
            irf = copy.copy(d.irf)
            irf.t0_shift = TimeZeroShift(sh.value, sh.min, sh.max, sh.reference,
                                         tuple(wl.tolist()), names)
            dd = copy.copy(d)
            dd.irf = irf
            datasets.append(dd)
        other = copy.copy(self)
        other.parameters = ParameterSet(params, self.parameters.source)
        other.datasets = datasets
        other.validate()
        return other

    # ------------------------------------------------------------------ structure
    def __repr__(self) -> str:
        """A few readable lines: scheme, transfers, initial populations, parameters, IRF."""
        from ..fitting.params import describe_parameter

        arrows = ", ".join(f"{t.source} → {t.target or 'ground'} ({t.rate})"
                           for t in self.transfers)
        init = ", ".join(f"{k} = {v}" for k, v in self.initial.items())
        irf = self.datasets[0].irf if self.datasets else None
        lines = [f"TargetModel {self.source!r} ({self.scheme_kind or 'target'} scheme, "
                 f"{len(self.datasets)} dataset(s))",
                 f"  compartments: {', '.join(self.compartments)}; initial: {init}",
                 f"  transfers: {arrows}",
                 "  parameters: " + "; ".join(describe_parameter(p)
                                              for p in self.parameters.params)]
        if irf is not None:
            lines.append(f"  IRF: Gaussian, centre {irf.center}, σ = {irf.width}"
                         + (f", dispersion about {irf.dispersion_center:g} nm"
                            if irf.dispersion_center is not None else ""))
        lines.append(f"  spectra: {', '.join(self.column_names)}"
                     + (f"; relations {len(self.relations)}" if self.relations else ""))
        if self.preprocess:
            lines.append(f"  preprocess: {self.preprocess}")
        return "\n".join(lines)

    @property
    def free_species(self) -> list[str]:
        """Compartments with their own spectrum (not set by a relation)."""
        related = {r.species for r in self.relations}
        return [c for c in self.compartments if c not in related]

    @property
    def oscillation_columns(self) -> list[str]:
        """Design-matrix columns of the oscillations: ``<label>_cos``, ``<label>_sin`` each."""
        return [f"{o.label}_{part}" for o in self.oscillations for part in ("cos", "sin")]

    @property
    def column_names(self) -> list[str]:
        """Names of the design-matrix columns (free spectra)."""
        return (self.free_species + self.oscillation_columns
                + [f"artifact{i}" for i in range(self.coherent_artifact)]
                + (["baseline"] if self.baseline else []))

    def angular_frequencies(self, pvec):
        """Angular frequencies ω (rad/ps) of the oscillations, Array (n_osc,)."""
        env = self._env(pvec)
        return jnp.stack([self._ev(o.frequency, env) * OSCILLATION_UNITS[o.unit]
                          for o in self.oscillations])

    def damping_rates(self, pvec):
        """Damping rates γ (ps⁻¹) of the oscillations, Array (n_osc,)."""
        env = self._env(pvec)
        return jnp.stack([self._ev(o.rate, env) for o in self.oscillations])

    def _env(self, pvec):
        return {n: pvec[i] for i, n in enumerate(self.parameters.names)}

    def _ev(self, text, env):
        return jnp.asarray(self._exprs[str(text)].evaluate(env))

    def rates(self, pvec):
        """Transfer rates (ps⁻¹) in the order of ``self.transfers``."""
        env = self._env(pvec)
        return jnp.stack([self._ev(t.rate, env) for t in self.transfers])

    def initial_populations(self, pvec):
        """Initial populations (normalised if requested)."""
        env = self._env(pvec)
        p0 = jnp.stack([self._ev(self.initial[c], env) if c in self.initial else
                        jnp.asarray(0.0) for c in self.compartments])
        return p0 / jnp.sum(p0) if self.normalize_initial else p0

    def rate_matrix(self, pvec):
        """Rate matrix K (dx/dt = K x), ps⁻¹."""
        from ..kinetics import rate_matrix

        return rate_matrix(self.scheme.n, self.scheme.transfers, self.rates(pvec))

    def relation_matrix(self, pvec):
        """R (n_compartments, n_free_species): species spectrum = R @ free spectra."""
        env = self._env(pvec)
        free = self.free_species
        R = jnp.eye(len(self.compartments))[:, [self.compartments.index(c) for c in free]]
        for r in self.relations:
            R = R.at[self.compartments.index(r.species), free.index(r.target)].add(
                self._ev(r.factor, env))
        return R

    def irf_at(self, pvec, d: int, wavelength):
        """IRF centre(s), width(s) and relative scale(s) at each wavelength for dataset ``d``.

        Returns
        -------
        mu, sigma, scale : Array (W, n_gauss)
        """
        env = self._env(pvec)
        irf = self.datasets[d].irf
        wl = jnp.asarray(wavelength)
        if irf.wavenumber_dispersion:
            x = 1e3 / wl - 1e3 / (irf.dispersion_center or math.inf)
        else:
            x = (wl - (irf.dispersion_center or 0.0)) / 100.0
        mu = self._ev(irf.center, env) + 0.0 * wl
        for i, c in enumerate(irf.center_dispersion):
            mu = mu + self._ev(c, env) * x ** (i + 1)
        sh = irf.t0_shift
        if sh is not None and sh.names:  # δ(λ) at the bound grid (exact at its points)
            delta = jnp.stack([env[n] for n in sh.names])
            mu = mu + jnp.interp(wl, jnp.asarray(sh.wavelengths), delta)
        if irf.measured is not None:  # Gaussian sum: centres tₘ + shift, one width
            centres, weights, step = irf.measured.kernel()
            return (mu[:, None] + jnp.asarray(centres)[None, :],
                    jnp.full((wl.shape[0], centres.size), step),
                    jnp.broadcast_to(jnp.asarray(weights), (wl.shape[0], centres.size)))
        sig = self._ev(irf.width, env) + 0.0 * wl
        for i, c in enumerate(irf.width_dispersion):
            sig = sig + self._ev(c, env) * x ** (i + 1)
        mus, sigs, scs = [mu], [sig], [jnp.ones_like(wl)]
        for sh, wd, sc in irf.extra:
            mus.append(mu + self._ev(sh, env))
            sigs.append(self._ev(wd, env) + 0.0 * wl)
            scs.append(self._ev(sc, env) + 0.0 * wl)
        return jnp.stack(mus, -1), jnp.stack(sigs, -1), jnp.stack(scs, -1)

    def species_populations(self, pvec, d: int, t, wavelength, kinetics: str = "auto"):
        """IRF-convolved compartment populations, Array (W, T, n_compartments).

        ``kinetics``: the ``method`` of :func:`hotcarrier.kinetics.convolved_populations`.
        """
        rates = self.rates(pvec)
        p0 = self.initial_populations(pvec)
        mu, sig, sc = self.irf_at(pvec, d, wavelength)
        t = jnp.asarray(t)

        pops = convolved_populations(self.scheme, t, rates, p0, mu, sig, kinetics)  # (W, G, T, n)
        return jnp.einsum("wg,wgtn->wtn", sc, pops) / jnp.sum(sc, axis=1)[:, None, None]

    def is_dispersive(self, d: int) -> bool:
        """True when dataset ``d``'s IRF centre or width varies with wavelength."""
        irf = self.datasets[d].irf
        return bool(irf.center_dispersion or irf.width_dispersion or irf.t0_shift is not None)

    def oscillation_matrix(self, pvec, d: int, t, wavelength):
        """IRF-convolved oscillation columns of dataset ``d``, Array (W, T, 2·n_osc)
        (cos, sin per oscillation; :func:`hotcarrier.irf.oscillation_conv_gauss`)."""
        mu, sig, sc = self.irf_at(pvec, d, wavelength)  # (W, G)
        om, gam = self.angular_frequencies(pvec), self.damping_rates(pvec)
        t = jnp.asarray(t)
        cos, sin = oscillation_conv_gauss(t[None, None, :, None], gam, om,
                                          mu[:, :, None, None], sig[:, :, None, None])
        w = sc / jnp.sum(sc, axis=1, keepdims=True)  # (W, G)
        cos, sin = (jnp.einsum("wg,wgto->wto", w, x) for x in (cos, sin))
        return jnp.stack([cos, sin], -1).reshape(*cos.shape[:2], -1)

    def _artifact_columns(self, pvec, d: int, t, wavelength):
        """Coherent-artefact columns (W, T) each: the IRF and its time derivatives, scaled
        by σ^(order+1) so every column is O(1). A Gaussian IRF uses its first Gaussian; a
        measured one its whole Gaussian sum (σ: the trace's standard deviation)."""
        mu, sig, sc = self.irf_at(pvec, d, wavelength)
        t = jnp.asarray(t)[None, :]
        if self.datasets[d].irf.measured is None:
            mu, sig = mu[:, :1], sig[:, :1]
            if self.artifact_width is not None:
                sig = self._ev(self.artifact_width, self._env(pvec)) + 0.0 * sig
            return [gaussian_irf(t, mu, sig, order=k) * sig ** (k + 1)
                    for k in range(self.coherent_artifact)]
        centres, weights, step = self.datasets[d].irf.measured.kernel()
        mean = float(weights @ centres)
        s_eff = math.sqrt(float(weights @ (centres - mean) ** 2) + step**2)
        return [jnp.einsum("wg,wgt->wt", sc, gaussian_irf(t[:, None, :], mu[:, :, None],
                                                          sig[:, :, None], order=k)) * s_eff
                ** (k + 1) for k in range(self.coherent_artifact)]

    def matrix(self, pvec, d: int, t, wavelength, kinetics: str = "auto"):
        """Design matrix of dataset ``d``: Array (W, T, n_columns) (see :attr:`column_names`);
        ``kinetics`` as in :meth:`species_populations`.

        Without IRF dispersion the matrix is the same at every wavelength: it is built once and
        broadcast, which makes a non-dispersive objective ~W times cheaper.
        """
        wl = jnp.asarray(wavelength)
        if wl.shape[0] > 1 and not self.is_dispersive(d):
            C1 = self.matrix(pvec, d, t, wl[:1], kinetics)
            return jnp.broadcast_to(C1, (wl.shape[0], *C1.shape[1:]))
        pops = self.species_populations(pvec, d, t, wavelength, kinetics)
        C = jnp.einsum("wtn,nk->wtk", pops, self.relation_matrix(pvec))
        if self.oscillations:
            C = jnp.concatenate([C, self.oscillation_matrix(pvec, d, t, wavelength)], axis=-1)
        extra = self._artifact_columns(pvec, d, t, wavelength) if self.coherent_artifact else []
        if self.baseline:
            extra.append(jnp.ones(C.shape[:2]))
        if extra:
            C = jnp.concatenate([C, jnp.stack(extra, -1)], axis=-1)
        if self.datasets[d].scale is not None:
            C = C * self._ev(self.datasets[d].scale, self._env(pvec))
        return C

    def column_mask(self, wavelength) -> np.ndarray:
        """(W, n_columns) float: 0 where a spectral constraint forces the spectrum to zero."""
        wl = np.asarray(wavelength, float)
        m = np.ones((wl.size, len(self.column_names)))
        for c in self.constraints:
            j = self.column_names.index(c.species)
            m[(wl >= c.low) & (wl <= c.high), j] = 0.0
        for sh in self.shapes:  # a shaped spectrum is not a linear amplitude
            m[:, self.column_names.index(sh.species)] = 0.0
        return m

    def weight_map(self, d: int, delay, wavelength) -> np.ndarray:
        """(T, W) multiplicative residual weights of dataset ``d``.

        As in pyglotaran, each interval end snaps to the nearest measured delay/wavelength
        and the snapped interval is inclusive (so a point 0.67 nm outside "720–890 nm" can be
        weighted when it is the nearest one to 720 nm).
        """
        t = np.asarray(delay, float)
        wl = np.asarray(wavelength, float)
        w = np.ones((t.size, wl.size))
        for wt in self.datasets[d].weights:
            box = np.outer(_snapped(t, wt.delay), _snapped(wl, wt.wavelength))
            w = np.where(box, w * wt.value, w)
        return w

    # ------------------------------------------------------------------ quick path
    @classmethod
    def from_scheme(cls, kind: str, lifetimes: Sequence[float], *, fix_lifetime=(),
                    irf_fwhm: float = 0.1, fix_irf: bool = False, t0: float = 0.0,
                    fix_t0: bool = False, n_datasets: int = 1, baseline: bool = False,
                    coherent_artifact: int = 0, oscillations: Sequence = (),
                    measured_irf: MeasuredIRF | None = None,
                    t0_per_wavelength: bool = False) -> TargetModel:
        """A parallel (DAS) or sequential (EAS) model from lifetimes (ps).

        ``lifetimes``: initial guesses (or fixed values), one per compartment;
        ``fix_lifetime``: 1-based indices of lifetimes held fixed; ``irf_fwhm`` (ps): the IRF
        FWHM (parameter ``irf_fwhm``; σ = FWHM/2.3548); ``t0`` (ps): the IRF centre;
        ``fix_irf``, ``fix_t0``: hold them fixed; ``n_datasets``: datasets sharing the
        kinetics (each with its own ``t0_<i>`` when > 1); ``baseline``: a constant offset
        column; ``coherent_artifact``: artefact columns (0–3); ``oscillations``: damped
        oscillations as (frequency, damping rate ps⁻¹, unit "cm-1"/"THz") start values
        (parameters ``nu<i>``, ``gamma<i>``); ``measured_irf``: a measured IRF trace instead of
        the Gaussian (``t0`` is then its shift); ``t0_per_wavelength``: a free time-zero shift
        per wavelength (±1 ps).
        """
        if kind not in ("parallel", "sequential"):
            raise ModelError(f"scheme {kind!r}; expected 'parallel' or 'sequential'")
        if isinstance(lifetimes, (str, bytes)) or not all(
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                for v in np.atleast_1d(np.asarray(lifetimes, dtype=object))):
            raise ModelError(f"lifetimes {lifetimes!r}: expected a list of numbers in ps, "
                             "e.g. [4, 75, 1e5]")
        lifetimes = [float(v) for v in np.atleast_1d(np.asarray(lifetimes, dtype=object))]
        n = len(lifetimes)
        if n == 0:
            raise ModelError("give at least one lifetime (e.g. --lifetimes 4,75,1e5)")
        problems = [f"lifetime {i + 1} = {v:g} ps must be > 0"
                    for i, v in enumerate(lifetimes) if not v > 0]
        bad = [i for i in fix_lifetime if not 1 <= int(i) <= n]
        if bad:
            problems.append(f"--fix-lifetime {bad}: there are only {n} lifetimes (count from 1)")
        if not irf_fwhm > 0:
            problems.append(f"IRF FWHM {irf_fwhm:g} ps must be > 0")
        if problems:
            raise ModelError("quick model: " + "; ".join(problems))
        fixed = {int(i) for i in fix_lifetime}
        params = [Parameter(f"tau{i + 1}", float(v), 0.0, math.inf, (i + 1) in fixed, unit="ps")
                  for i, v in enumerate(lifetimes)]
        params.append(Parameter("irf_fwhm", float(irf_fwhm), 0.0, math.inf, fix_irf, unit="ps"))
        comps = [f"s{i + 1}" for i in range(n)]
        if kind == "parallel":
            transfers = [Transfer(c, None, f"1/tau{i + 1}") for i, c in enumerate(comps)]
            initial = {c: "1" for c in comps}
        else:
            transfers = [Transfer(comps[i], comps[i + 1] if i + 1 < n else None, f"1/tau{i + 1}")
                         for i in range(n)]
            initial = {comps[0]: "1"}
        datasets = []
        shift = TimeZeroShift(0.0, -1.0, 1.0) if t0_per_wavelength else None
        for k in range(n_datasets):
            name = "t0" if n_datasets == 1 else f"t0_{k + 1}"
            params.append(Parameter(name, float(t0), fixed=fix_t0, unit="ps"))
            datasets.append(DatasetModel(name=f"dataset{k + 1}", irf=IRF(
                center=name, width=f"irf_fwhm/{FWHM_PER_SIGMA!r}", measured=measured_irf,
                t0_shift=shift)))
        if measured_irf is not None:  # the Gaussian width is not used
            params = [p for p in params if p.name != "irf_fwhm"]
        osc = []
        for i, spec in enumerate(oscillations):
            nu, gamma, unit = (*spec, "cm-1")[:3] if len(spec) < 3 else spec
            params += [Parameter(f"nu{i + 1}", float(nu), 0.0, math.inf, unit=unit),
                       Parameter(f"gamma{i + 1}", float(gamma), 0.0, math.inf, unit="1/ps")]
            osc.append(Oscillation(f"osc{i + 1}", f"nu{i + 1}", f"gamma{i + 1}", unit))
        return cls(compartments=comps, transfers=transfers, initial=initial,
                   parameters=ParameterSet(params, "quick model"), datasets=datasets,
                   baseline=baseline, coherent_artifact=coherent_artifact, scheme_kind=kind,
                   oscillations=osc, source=f"quick {kind} model")


def _irf_problems(d: DatasetModel) -> list[str]:
    """Problems of a measured IRF / per-wavelength shift specification of dataset ``d``."""
    irf, out = d.irf, []
    if irf.measured is not None:
        if irf.extra or irf.width_dispersion:
            out.append(f"dataset {d.name!r}: a measured IRF takes no extra Gaussians or width "
                       "dispersion; remove them")
        try:
            irf.measured.kernel()
        except ModelError as exc:
            out.append(f"dataset {d.name!r}: {exc}")
    sh = irf.t0_shift
    if sh is not None and not (sh.min <= sh.value <= sh.max):
        out.append(f"dataset {d.name!r}: time-zero shift start {sh.value:g} ps outside "
                   f"[{sh.min:g}, {sh.max:g}]")
    return out


def _snapped(axis: np.ndarray, interval) -> np.ndarray:
    """Boolean mask of ``axis`` inside ``interval`` with both ends snapped to grid points."""
    lo, hi = interval
    sel = np.ones(axis.size, bool)
    if np.isfinite(lo):
        sel &= axis >= axis[int(np.argmin(np.abs(axis - lo)))]
    if np.isfinite(hi):
        sel &= axis <= axis[int(np.argmin(np.abs(axis - hi)))]
    return sel

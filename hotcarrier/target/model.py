"""Target-analysis model specification: compartments, transfers, parameters, IRF, spectra.

A :class:`TargetModel` is plain Python (no traced values), built from a TOML model file
(:mod:`hotcarrier.target.modelfile`) or the quick options (:meth:`TargetModel.from_scheme`).
Its parameters are a :class:`~hotcarrier.fitting.params.ParameterSet` (θ → physical values,
expressions); :meth:`TargetModel.matrix` gives, for one dataset, the design matrix C
(wavelength, delay, column) whose columns are the IRF-convolved compartment populations
(after spectral relations), the coherent-artefact terms and the baseline (pure JAX).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ModelError
from ..fitting.params import Expression, Parameter, ParameterSet
from ..units import FWHM_PER_SIGMA
from ..irf import gaussian_irf
from ..kinetics import Scheme, convolved_populations

__all__ = ["Parameter", "ParameterSet", "Transfer", "IRF", "Relation", "Constraint", "Weight",
           "DatasetModel", "TargetModel"]

@dataclass
class Transfer:
    """A first-order transfer ``source → target`` (target None = ground state)."""

    source: str
    target: str | None
    rate: str  # parameter name or expression


@dataclass
class IRF:
    """Gaussian IRF of one dataset, parameters given by name or expression.

    ``center``/``width`` disperse with wavelength as polynomials in
    x = (λ − dispersion_center)/100 nm (pyglotaran): μ(λ) = center + Σ cᵢ xⁱ (i ≥ 1).
    ``extra`` Gaussians (multi-Gaussian IRF) are (centre shift, width, relative scale).
    """

    center: str = "irf_center"
    width: str = "irf_width"
    dispersion_center: float | None = None
    center_dispersion: list[str] = field(default_factory=list)
    width_dispersion: list[str] = field(default_factory=list)
    extra: list[tuple[str, str, str]] = field(default_factory=list)


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
    coherent_artifact : int
        Number of IRF-shaped artefact columns (0 none; 1 IRF; 2 + first derivative; 3 + second).
    baseline : bool
        Add a constant (offset) column.
    link_spectra : bool
        With several datasets, share the spectra at equal wavelengths (pyglotaran's clp
        linking); otherwise each dataset gets its own spectra.
    scheme_kind : str or None
        "parallel"/"sequential" for the quick path (lifetimes are then reported).
    preprocess : dict
        Preprocessing options (applied by :func:`hotcarrier.target.fit.prepare`).
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
    baseline: bool = False
    link_spectra: bool = True
    scheme_kind: str | None = None
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
            expr(irf.width, f"dataset {d.name!r} IRF width")
            for i, cname in enumerate(irf.center_dispersion + irf.width_dispersion):
                expr(cname, f"dataset {d.name!r} IRF dispersion term {i + 1}")
            if (irf.center_dispersion or irf.width_dispersion) and irf.dispersion_center is None:
                problems.append(f"dataset {d.name!r}: IRF dispersion needs dispersion_center (nm)")
            for x in itertools.chain.from_iterable(irf.extra):
                expr(x, f"dataset {d.name!r} extra IRF Gaussian")
            if d.scale is not None:
                expr(d.scale, f"dataset {d.name!r} scale")
        if not self.datasets:
            problems.append("the model has no dataset section")
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

    def cache_key(self) -> str:
        """A string that is equal for models that compile to the same program.

        Everything structural and the values of fixed parameters (compiled in as constants);
        not the start values of free parameters, nor preprocessing or weights (data arrays).
        """
        ps = [(p.name, p.min, p.max, p.fixed, p.expr, p.value if p.fixed else None)
              for p in self.parameters.params]
        ds = [(d.irf, d.scale) for d in self.datasets]
        return repr((self.compartments, self.transfers, sorted(self.initial.items()), ps, ds,
                     self.normalize_initial, self.relations, self.constraints,
                     self.coherent_artifact, self.baseline, self.link_spectra))

    # ------------------------------------------------------------------ structure
    @property
    def free_species(self) -> list[str]:
        """Compartments with their own spectrum (not set by a relation)."""
        related = {r.species for r in self.relations}
        return [c for c in self.compartments if c not in related]

    @property
    def column_names(self) -> list[str]:
        """Names of the design-matrix columns (free spectra)."""
        return (self.free_species + [f"artifact{i}" for i in range(self.coherent_artifact)]
                + (["baseline"] if self.baseline else []))

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
        x = (wl - (irf.dispersion_center or 0.0)) / 100.0
        mu = self._ev(irf.center, env) + 0.0 * wl
        for i, c in enumerate(irf.center_dispersion):
            mu = mu + self._ev(c, env) * x ** (i + 1)
        sig = self._ev(irf.width, env) + 0.0 * wl
        for i, c in enumerate(irf.width_dispersion):
            sig = sig + self._ev(c, env) * x ** (i + 1)
        mus, sigs, scs = [mu], [sig], [jnp.ones_like(wl)]
        for sh, wd, sc in irf.extra:
            mus.append(mu + self._ev(sh, env))
            sigs.append(self._ev(wd, env) + 0.0 * wl)
            scs.append(self._ev(sc, env) + 0.0 * wl)
        return jnp.stack(mus, -1), jnp.stack(sigs, -1), jnp.stack(scs, -1)

    def species_populations(self, pvec, d: int, t, wavelength):
        """IRF-convolved compartment populations, Array (W, T, n_compartments)."""
        rates = self.rates(pvec)
        p0 = self.initial_populations(pvec)
        mu, sig, sc = self.irf_at(pvec, d, wavelength)
        t = jnp.asarray(t)

        def one(m, s, w):
            pops = jax.vmap(lambda mm, ss: convolved_populations(self.scheme, t, rates, p0, mm, ss),
                            out_axes=0)(m, s)  # (G, T, n)
            return jnp.einsum("g,gtn->tn", w, pops) / jnp.sum(w)

        return jax.vmap(one)(mu, sig, sc)

    def is_dispersive(self, d: int) -> bool:
        """True when dataset ``d``'s IRF centre or width varies with wavelength."""
        irf = self.datasets[d].irf
        return bool(irf.center_dispersion or irf.width_dispersion)

    def matrix(self, pvec, d: int, t, wavelength):
        """Design matrix of dataset ``d``: Array (W, T, n_columns) (see :attr:`column_names`).

        Without IRF dispersion the matrix is the same at every wavelength: it is built once and
        broadcast, which makes a non-dispersive objective ~W times cheaper.
        """
        wl = jnp.asarray(wavelength)
        if wl.shape[0] > 1 and not self.is_dispersive(d):
            C1 = self.matrix(pvec, d, t, wl[:1])
            return jnp.broadcast_to(C1, (wl.shape[0], *C1.shape[1:]))
        pops = self.species_populations(pvec, d, t, wavelength)
        C = jnp.einsum("wtn,nk->wtk", pops, self.relation_matrix(pvec))
        extra = []
        if self.coherent_artifact:
            mu, sig, _ = self.irf_at(pvec, d, wavelength)
            mu, sig = mu[:, :1], sig[:, :1]
            # scaled by σ^(order+1) so every artefact column is O(1)
            extra = [gaussian_irf(jnp.asarray(t)[None, :], mu, sig, order=k) * sig ** (k + 1)
                     for k in range(self.coherent_artifact)]
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
                    coherent_artifact: int = 0) -> TargetModel:
        """A parallel (DAS) or sequential (EAS) model from lifetimes (ps).

        ``lifetimes``: initial guesses (or fixed values), one per compartment;
        ``fix_lifetime``: 1-based indices of lifetimes held fixed; ``irf_fwhm`` (ps): the IRF
        FWHM (parameter ``irf_fwhm``; σ = FWHM/2.3548); ``t0`` (ps): the IRF centre;
        ``fix_irf``, ``fix_t0``: hold them fixed; ``n_datasets``: datasets sharing the
        kinetics (each with its own ``t0_<i>`` when > 1); ``baseline``: a constant offset
        column; ``coherent_artifact``: artefact columns (0–3).
        """
        if kind not in ("parallel", "sequential"):
            raise ModelError(f"scheme {kind!r}; expected 'parallel' or 'sequential'")
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
        for k in range(n_datasets):
            name = "t0" if n_datasets == 1 else f"t0_{k + 1}"
            params.append(Parameter(name, float(t0), fixed=fix_t0, unit="ps"))
            datasets.append(DatasetModel(name=f"dataset{k + 1}",
                                         irf=IRF(center=name, width=f"irf_fwhm/{FWHM_PER_SIGMA!r}")))
        return cls(compartments=comps, transfers=transfers, initial=initial,
                   parameters=ParameterSet(params, "quick model"), datasets=datasets,
                   baseline=baseline, coherent_artifact=coherent_artifact, scheme_kind=kind,
                   source=f"quick {kind} model")


def _snapped(axis: np.ndarray, interval) -> np.ndarray:
    """Boolean mask of ``axis`` inside ``interval`` with both ends snapped to grid points."""
    lo, hi = interval
    sel = np.ones(axis.size, bool)
    if np.isfinite(lo):
        sel &= axis >= axis[int(np.argmin(np.abs(axis - lo)))]
    if np.isfinite(hi):
        sel &= axis <= axis[int(np.argmin(np.abs(axis - hi)))]
    return sel

"""Automatic model choice for global analysis: how many components, a baseline, an artefact.

Candidates: 1…N decaying components, with or without a non-decaying component and a coherent
artefact. With free spectra, parallel, sequential and branched schemes with the same rates fit
identically, so only the parallel member of each class is fitted. Each candidate is fitted to
every map and to K cross-validation copies in one batched multi-start call. AIC = n ln(RSS/n)
+ 2k, BIC = n ln(RSS/n) + k ln n, k = free nonlinear parameters + linear amplitudes + 1.
Cross-validation fold j holds out the delays i ≡ j (mod K) at every wavelength; the CV
standard error of a difference between two candidates is the paired one over delay rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._x64 import with_x64
from ..errors import OptionError

__all__ = ["Candidate", "CandidateFit", "ModelChoice", "candidates", "choose_arrays",
           "choose_model", "TAU_INF"]

TAU_INF = 1e9  # ps: lifetime of the non-decaying (baseline) component, held fixed
SCHEMES = ("parallel", "sequential", "branched")
_STRENGTH = ((10, "very strong"), (6, "strong"), (2, "positive"), (0, "weak"))


@dataclass(frozen=True)
class Candidate:
    """A model structure: ``n`` decaying components, a baseline, a coherent artefact."""

    n: int
    baseline: bool = False
    artifact: bool = False

    @property
    def label(self) -> str:
        """E.g. ``"3 exp + baseline + artefact"``."""
        return f"{self.n} exp" + " + baseline" * self.baseline + " + artefact" * self.artifact

    @property
    def n_species(self) -> int:
        """Kinetic species (decaying + non-decaying)."""
        return self.n + int(self.baseline)

    @property
    def equivalent(self) -> list[str]:
        """Scheme kinds that fit identically with free spectra."""
        return list(SCHEMES) if self.n_species > 1 else ["parallel"]

    def model(self, taus, irf_fwhm, t0=0.0, kind="parallel"):
        """The :class:`~hotcarrier.target.model.TargetModel` (lifetimes ``taus`` in ps)."""
        from ..target.model import TargetModel

        taus = [float(x) for x in taus] + [TAU_INF] * self.baseline
        return TargetModel.from_scheme(
            kind, taus, fix_lifetime=[len(taus)] if self.baseline else (), irf_fwhm=irf_fwhm,
            t0=t0, coherent_artifact=int(self.artifact))


def candidates(max_components: int = 4, baseline=None, artifact=None) -> list[Candidate]:
    """Every candidate up to ``max_components``; ``baseline``/``artifact`` None = try both."""
    if int(max_components) < 1:
        raise OptionError(f"max_components = {max_components}: give at least 1")
    opts = lambda v: (False, True) if v is None else (bool(v),)  # noqa: E731
    return [Candidate(n, b, a) for n in range(1, int(max_components) + 1)
            for b in opts(baseline) for a in opts(artifact)]


@dataclass
class CandidateFit:
    """One candidate fitted to one map (lifetimes sorted, ps; spectra rows in that order)."""

    candidate: Candidate
    lifetimes: np.ndarray
    stderr: np.ndarray
    irf_fwhm: float
    t0: float
    rss: float
    n_data: int
    n_params: int
    cv: float  # mean held-out squared error (signal unit²); NaN without CV
    cv_rows: np.ndarray  # held-out squared error per delay row
    converged: bool
    flags: list
    spectra: np.ndarray  # (columns, wavelength): DAS, then baseline, artefact
    values: np.ndarray  # fitted parameter vector of ``candidate.model``
    aic: float = field(init=False)
    bic: float = field(init=False)

    def __post_init__(self):
        ok = self.converged = self.converged and math.isfinite(self.rss)
        n, k = self.n_data, self.n_params
        ll = n * math.log(max(self.rss, 1e-300) / n) if ok else 0.0
        self.aic, self.bic = (ll + 2 * k, ll + k * math.log(n)) if ok else (math.inf,) * 2


def _flags(model, res, b, span) -> list[str]:
    """Identifiability problems of batch item ``b`` (convergence is reported on its own)."""
    names = list(model.parameters.names)
    val, err = res["value"].values[b], res["stderr"].values[b]
    ident = dict(zip(map(str, res["free_param"].values), res["identifiable"].values[b]))
    out = [f"{p}: not identifiable (no finite standard error)"
            for p, ok in ident.items() if not ok]
    fwhm = val[names.index("irf_fwhm")]
    taus = [(p, val[i], err[i]) for i, p in enumerate(names) if p in ident and p.startswith("tau")]
    for p, v, s in taus:
        if np.isfinite(s) and s >= v:
            out.append(f"{p} = {v:.3g} ± {s:.2g} ps: the error exceeds the value")
        if v < 0.1 * fwhm:
            out.append(f"{p} = {v:.3g} ps: far below the IRF width ({fwhm:.3g} ps FWHM)")
        if v > 10 * span:
            out.append(f"{p} = {v:.3g} ps: far beyond the time window ({span:.3g} ps)")
    vs = sorted(taus, key=lambda x: x[1])
    out += [f"{p} ≈ {q} ({v:.3g} vs {w:.3g} ps, within 5 %)"
            for (p, v, _), (q, w, _) in zip(vs, vs[1:]) if w < 1.05 * v]
    return out


def _fit_candidate(cand, t, wl, maps, *, folds, irf_fwhm, t0, fit_opts):
    from ..batch import fit_arrays

    N, T, W = maps.shape
    lo = max(2.0 * irf_fwhm, 1e-3)  # start lifetimes: log-spaced inside the time window
    taus = np.geomspace(lo, max(0.5 * (float(np.max(t)) - t0), 4 * lo), cand.n + 2)[1:-1]
    model = cand.model(taus, irf_fwhm, t0)
    w = np.ones((folds + 1, T, W))
    for j in range(folds):
        w[j + 1, j::folds] = 0.0
    res = fit_arrays(model, t, wl, np.repeat(maps, folds + 1, axis=0),
                     weight=np.tile(w, (N, 1, 1)), **fit_opts)
    spectra = np.nan_to_num(res["spectra"].values)  # (B, C, W)
    values = res["value"].values
    cv_rows = np.full((N, T), np.nan)
    if folds:
        for n in range(N):
            idx = n * (folds + 1) + 1 + np.arange(folds)
            pred = np.einsum("kwtc,kcw->ktw", _design_matrix(model, values[idx], t, wl),
                             spectra[idx])[np.arange(T) % folds, np.arange(T)]  # held-out rows
            r2 = (maps[n] - pred) ** 2
            cnt = np.isfinite(r2).sum(axis=1)  # a row may hold no data (NaN → skipped)
            cv_rows[n] = np.where(cnt > 0, np.nansum(r2, 1) / np.maximum(cnt, 1), np.nan)
    names = list(model.parameters.names)
    free = set(map(str, res["free_param"].values))
    it = [i for i, p in enumerate(names) if p.startswith("tau") and p in free]
    n_free = res.sizes["free_param"]
    span = float(np.max(t)) - t0
    out = []
    for n in range(N):
        b = n * (folds + 1)
        order = np.argsort(values[b, it])
        rows = [*np.asarray(order), *range(cand.n, spectra.shape[1])]
        n_wl = int(np.sum(np.isfinite(maps[n]).any(axis=0)))
        out.append(CandidateFit(
            cand, values[b, it][order], res["stderr"].values[b, it][order],
            float(values[b, names.index("irf_fwhm")]), float(values[b, names.index("t0")]),
            2.0 * float(res["cost"].values[b]), int(res["n_data"].values[b]),
            n_free + spectra.shape[1] * n_wl + 1,
            float(np.nanmean(cv_rows[n])) if folds else math.nan, cv_rows[n],
            bool(res["converged"].values[b]), _flags(model, res, b, span), spectra[b][rows],
            values[b]))
    return out


def _weights(x):
    """Akaike (or BIC) weights exp(−Δ/2), normalised; 0 for non-finite criteria."""
    e = np.nan_to_num(np.exp(-(np.asarray(x, float) - min(x)) / 2), nan=0.0)
    return e / e.sum()


@dataclass
class ModelChoice:
    """The ranked candidates of one map and the verdict."""

    ranked: list  # CandidateFit, best first by ``criterion`` (converged, unflagged first)
    winner: CandidateFit | None  # None when the choice is undecided
    leading: list  # the candidates the criterion cannot separate (the winner alone if decided)
    verdict: str  # plain-language conclusion
    criterion: str
    delay: np.ndarray
    wavelength: np.ndarray
    folds: int
    source: str = ""

    @property
    def best(self) -> CandidateFit:
        """The top-ranked candidate (also when undecided)."""
        return self.ranked[0]

    def to_dict(self) -> dict:
        """JSON-able summary (schema ``hotcarrier.choice/1``)."""
        num = lambda x: float(x) if np.isfinite(x) else None  # noqa: E731
        aw, bw = _weights([c.aic for c in self.ranked]), _weights([c.bic for c in self.ranked])
        b0 = self.best
        ranked = [dict(
            rank=i + 1, label=c.candidate.label, scheme="parallel",
            equivalent_schemes=c.candidate.equivalent, n_species=c.candidate.n_species,
            n_decaying=c.candidate.n, baseline=c.candidate.baseline,
            artifact=c.candidate.artifact, lifetimes_ps=[num(x) for x in c.lifetimes],
            lifetimes_stderr_ps=[num(x) for x in c.stderr], irf_fwhm_ps=num(c.irf_fwhm),
            t0_ps=num(c.t0), rss=num(c.rss), n_data=c.n_data, n_params=c.n_params,
            aic=num(c.aic), bic=num(c.bic), delta_aic=num(c.aic - b0.aic),
            delta_bic=num(c.bic - b0.bic), akaike_weight=num(aw[i]), bic_weight=num(bw[i]),
            cv_mse=num(c.cv), cv_delta_se=num(_cv_se(c, b0)), converged=c.converged,
            identifiable=not c.flags, flags=c.flags) for i, c in enumerate(self.ranked)]
        classes = [dict(candidate=r["label"], lifetimes_ps=r["lifetimes_ps"], fitted="parallel",
                        members=r["equivalent_schemes"]) for r in ranked]
        return {"schema": "hotcarrier.choice/1", "source": self.source,
                "criterion": self.criterion, "decided": self.winner is not None,
                "winner": self.winner.candidate.label if self.winner else None,
                "leading": [c.candidate.label for c in self.leading], "verdict": self.verdict,
                "folds": self.folds, "ranked": ranked, "equivalence_classes": classes,
                "equivalence_note": "with free spectra every member of a class fits identically:"
                " DAS (parallel), EAS (sequential) and branched SAS are linear transforms of one"
                " another, so only the parallel member is fitted"}

    def table(self) -> str:
        """Plain-text table of the ranked candidates."""
        lines = [f"{'#':>2}  {'candidate':<28}{'ΔBIC':>9}{'ΔAIC':>9}{'w_AIC':>7}{'CV MSE':>11}"
                 f"  lifetimes (ps)   flags"]
        b, aw = self.best, _weights([c.aic for c in self.ranked])
        for i, c in enumerate(self.ranked):
            taus = ", ".join(f"{x:.3g}" for x in c.lifetimes)
            lines.append(f"{i + 1:>2}  {c.candidate.label:<28}{c.bic - b.bic:9.1f}"
                         f"{c.aic - b.aic:9.1f}{aw[i]:7.3f}{c.cv:11.3g}  {taus:<16} "
                         + "; ".join(c.flags))
        return "\n".join(lines + ["", self.verdict])

    def figure(self):
        """Figure: criteria vs number of components, and the best candidate's DAS and EAS."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(12, 3.8), layout="constrained")
        ax = fig.subplots(1, 3)
        groups = {}  # "exp + baseline" → its members, by number of components
        for c in sorted(self.ranked, key=lambda c: c.candidate.n):
            groups.setdefault(c.candidate.label.split(" ", 1)[1], []).append(c)
        for lab, g in groups.items():
            n = [c.candidate.n for c in g]
            ax[0].plot(n, [c.bic - self.best.bic for c in g], "o-", label=lab)
            ax[1].plot(n, [c.cv for c in g], "o-", label=lab)
        ax[0].set(xlabel="decaying components", ylabel="ΔBIC", yscale="symlog")
        ax[1].set(xlabel="decaying components", ylabel="held-out MSE (CV)", yscale="log")
        ax[0].legend(fontsize=7)
        c = self.winner or self.best
        labels = ([f"DAS τ={x:.3g} ps" for x in c.lifetimes] + ["baseline"] * c.candidate.baseline
                  + ["artefact"] * c.candidate.artifact)
        for s, lbl in zip(c.spectra, labels):
            ax[2].plot(self.wavelength, s, label=lbl)
        for i, s in enumerate(self.eas(c)[:c.candidate.n_species]):
            ax[2].plot(self.wavelength, s, "--", lw=0.8, label=f"EAS {i + 1}")
        ax[2].set(xlabel="wavelength (nm)", ylabel="amplitude",
                  title=f"{c.candidate.label}{'' if self.winner else ' (undecided)'}")
        ax[2].legend(fontsize=6)
        return fig

    @with_x64
    def eas(self, c: CandidateFit) -> np.ndarray:
        """Evolution-associated spectra of ``c`` (sequential, fastest first), (columns, W)."""
        cand, t, wl = c.candidate, self.delay, self.wavelength[:1]
        par = cand.model(np.ones(cand.n), 1.0)  # the fitted values come from c.values
        seq = cand.model(c.lifetimes, c.irf_fwhm, c.t0, kind="sequential")
        cp = _design_matrix(par, c.values, t, wl)[0]
        cs = _design_matrix(seq, seq.parameters.physical(seq.parameters.theta0()), t, wl)[0]
        order = [*np.argsort(c.values[:cand.n]), *range(cand.n, c.spectra.shape[0])]
        return np.linalg.lstsq(cs, cp[:, order] @ c.spectra, rcond=None)[0]


def _design_matrix(model, values, t, wl) -> np.ndarray:
    """``model.matrix(values, 0, t, wl)`` for one parameter vector (n,) or a stack (k, n), as
    one program compiled with XLA's cheap pipeline (it runs a few times) and kept on disk by
    the model's structure: the cross-validation's 16 programs were compiled again in every
    process (7.4 s of a warm 25 s `choose`) and the two EAS matrices evaluated op by op (3 s)."""
    import jax

    from ..fitting.compiled import CHEAP_COMPILE, compile_all

    values = np.asarray(values, float)
    stacked = values.ndim == 2

    def matrix(p, t, w):
        return model.matrix(p, 0, t, w)

    fn = jax.vmap(matrix, in_axes=(0, None, None)) if stacked else matrix
    args = (values, np.asarray(t, float), np.asarray(wl, float))
    program = compile_all([(jax.jit(fn), f"choice.design|{stacked}|{model.cache_key()!r}",
                            args, {}, True, CHEAP_COMPILE)])[0]
    return np.asarray(program(*args))


def _cv_se(a: CandidateFit, b: CandidateFit) -> float:
    """(CV(a) − CV(b)) in units of its paired standard error over delay rows."""
    d = (a.cv_rows - b.cv_rows)[np.isfinite(a.cv_rows - b.cv_rows)]
    if a is b or d.size < 3:
        return 0.0 if a is b else math.nan
    return float(np.mean(d) / (np.std(d, ddof=1) / math.sqrt(d.size) + 1e-300))


def _decide(fits, criterion, threshold, source, t, wl, folds) -> ModelChoice:
    key = (lambda c: c.bic) if criterion == "bic" else (lambda c: c.aic)
    ranked = sorted(fits, key=lambda c: (not (c.converged and not c.flags), key(c)))
    ok = [c for c in ranked if c.converged and not c.flags]
    def done(w, lead, v):
        return ModelChoice(ranked, w, lead, v, criterion, t, wl, folds, source)

    if not ok:
        return done(None, ranked[:1], "undecided: no candidate converged with identifiable "
                    "parameters; see the flags")
    best, name = ok[0], criterion.upper()
    leading = [c for c in ok if key(c) - key(best) < threshold]
    rival = next((c for c in ok if c is not best and folds and _cv_se(best, c) > 2.0), None)
    if len(leading) > 1:
        names = ", ".join(c.candidate.label for c in leading)
        return done(None, leading, f"undecided between {names} (Δ{name} < {threshold:g}: "
                    "within the criterion's noise).")
    if rival is not None:
        return done(None, [best, rival], f"undecided: {name} prefers {best.candidate.label} but "
                    f"the cross-validated error prefers {rival.candidate.label} by "
                    f"{_cv_se(best, rival):.1f} SE.")
    taus = ", ".join(f"{x:.3g}" for x in best.lifetimes)
    verdict = f"{best.candidate.label} (lifetimes {taus} ps)"
    if len(ok) > 1:
        d = key(ok[1]) - key(best)
        verdict += (f": {name} prefers it over {ok[1].candidate.label} by {d:.3g} "
                    f"({next(s for lim, s in _STRENGTH if d >= lim)}).")
    if best.candidate.n_species > 1:
        verdict += (" With free spectra the parallel (DAS), sequential (EAS) and branched "
                    "schemes with these lifetimes fit identically: the data cannot tell them "
                    "apart.")
    return done(best, [best], verdict)


@with_x64
def choose_arrays(delay, wavelength, maps, *, max_components=4, baseline=None, artifact=None,
                  irf_fwhm=0.1, t0=0.0, n_starts=4, folds=5,
                  criterion="bic", threshold=2.0, seed=0, max_iter=300, progress=None,
                  names=None) -> list[ModelChoice]:
    """Model choice for a stack of maps on one grid, every candidate in one batched call.

    ``maps`` (N, T, W) are signals on ``delay`` (ps) × ``wavelength`` (nm); NaN cells are left
    out. Tried: 1…``max_components`` decaying components; ``baseline`` and ``artifact`` (bool,
    None: try both) add a non-decaying component / a coherent artefact. ``irf_fwhm`` and
    ``t0`` (ps) are start values (both are fitted); ``n_starts`` starts per fit (the lifetime
    grid, then random ones); ``folds`` cross-validation folds over delay rows (0: no CV).
    Candidates are ranked by ``criterion`` ("bic" or "aic"); a Δ below ``threshold``, or a
    candidate that the CV error prefers by > 2 SE, makes the choice "undecided".
    ``progress(i, n, label)`` is called before each candidate. One ModelChoice per map.
    """
    maps = np.asarray(maps, float)
    if criterion not in ("bic", "aic"):
        raise OptionError(f"criterion {criterion!r}: use 'bic' or 'aic'")
    if maps.ndim != 3 or maps.shape[1:] != (np.size(delay), np.size(wavelength)):
        raise OptionError(f"maps have shape {maps.shape}; expected (N, {np.size(delay)}, "
                          f"{np.size(wavelength)}) (maps, delays, wavelengths)")
    if folds == 1 or folds < 0 or np.size(delay) < 4 * max(folds, 1):
        raise OptionError(f"folds = {folds} with {np.size(delay)} delays: use 0 (no CV) or "
                          "2…T/4 folds")
    t, wl = np.asarray(delay, float), np.asarray(wavelength, float)
    cands = candidates(max_components, baseline, artifact)
    fit_opts = dict(n_starts=n_starts, seed=seed, start_factor=4.0, max_iter=max_iter)
    per = []
    for i, cand in enumerate(cands):
        if progress:
            progress(i, len(cands), cand.label)
        per.append(_fit_candidate(cand, t, wl, maps, folds=folds, irf_fwhm=irf_fwhm, t0=t0,
                                  fit_opts=fit_opts))
    names = names or [""] * len(maps)
    return [_decide([p[n] for p in per], criterion, threshold, names[n], t, wl, folds)
            for n in range(len(maps))]


@with_x64
def choose_model(ds, max_components: int = 4, *, preprocess: dict | None = None, **options
                 ) -> ModelChoice:
    """Choose the number of components (and baseline, artefact) for one TA dataset or file.

    ``preprocess`` takes the options of :func:`hotcarrier.preprocess.prepare`; the other
    options are those of :func:`choose_arrays`.
    """
    from ..dataset import SPECTRAL_DIM, TIME_DIM, check_ta, fit_mask
    from ..io import load_ta
    from ..preprocess import read_options
    from ..preprocess import prepare

    ds = prepare(ds if hasattr(ds, "attrs") else load_ta(ds, **read_options(preprocess)),
                 preprocess or {})
    source = str(ds.attrs.get("source_file", ""))
    check_ta(ds, source or None)
    ds = ds.transpose(TIME_DIM, SPECTRAL_DIM, ...)
    sig = np.where(fit_mask(ds), ds["signal"].values, np.nan)
    return choose_arrays(ds[TIME_DIM].values, ds[SPECTRAL_DIM].values, sig[None],
                         max_components=max_components, names=[source], **options)[0]

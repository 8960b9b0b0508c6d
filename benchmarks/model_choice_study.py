"""Model-choice study: does :func:`hotcarrier.analysis.choice.choose_arrays` find the number of
components that generated a map?

Maps are simulated here with NumPy/SciPy (eigen-decomposition of the rate matrix and the
analytic exp ⊗ Gaussian kernel; independent of the fitting engine) from parallel, sequential
and branched schemes with 2–4 species, at two noise levels, ``--seeds`` seeds each, on a
60-delay × 30-wavelength grid. Every map is analysed with the same options (candidates 1–5
decaying components, with and without a baseline, no artefact; BIC with the "undecided" rule of
ΔBIC < 2; 3-fold CV over delay rows; 2 starts), all maps of a candidate in one batched call.

Run (slow: minutes on 2 cores)::

    nice python benchmarks/model_choice_study.py [--seeds 20] [--out benchmarks/results]

Writes ``model_choice.json`` (every map's outcome and the summary) and ``model_choice.md``.

``--extras``: the second study. Parallel maps of 3 species generated with nothing else, with a
baseline (a non-decaying column), with a coherent artefact (an IRF-shaped Gaussian column) and
with both; candidates 1–4 components × baseline yes/no × artefact yes/no (16); a pick is
"exact" when it has the generating number of components, baseline and artefact. Writes
``model_choice_extras.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import erfc, erfcx

T = np.concatenate([np.linspace(-1.0, 1.5, 15, endpoint=False), np.geomspace(1.5, 1000.0, 45)])
WL = np.linspace(450.0, 750.0, 30)
IRF_FWHM, T0 = 0.2, 0.1  # ps
LIFETIMES = {2: [3.0, 80.0], 3: [1.0, 20.0, 300.0], 4: [0.5, 5.0, 50.0, 500.0]}  # ps
NOISE = {"high SNR": 0.005, "low SNR": 0.02}  # σ relative to the map's max |ΔA|
SCHEMES = ("parallel", "sequential", "branched")
OPTIONS = dict(max_components=5, baseline=None, artifact=False, irf_fwhm=0.15, t0=0.0,
               n_starts=2, folds=3, criterion="bic", threshold=2.0)


def kernel(t, k, mu, sigma):
    """exp(−k t) ⊗ unit-area Gaussian (centre mu, std sigma); stable two-branch form."""
    tau = t - mu
    z = (k * sigma**2 - tau) / (sigma * math.sqrt(2))
    zp, zn = np.maximum(z, 0.0), np.minimum(z, 0.0)
    early = 0.5 * np.exp(-0.5 * (tau / sigma) ** 2) * erfcx(zp)
    late = 0.5 * np.exp(np.minimum(-k * tau + 0.5 * (k * sigma) ** 2, 700)) * erfc(zn)
    return np.where(z >= 0, early, late)


def rate_matrix(kind: str, k: np.ndarray, branch: float = 0.6):
    """(K, x0): dx/dt = K x for the scheme; k are the compartments' total decay rates."""
    n = len(k)
    K = -np.diag(k)
    x0 = np.ones(n) if kind == "parallel" else np.eye(n)[0]
    if kind == "sequential":
        for i in range(n - 1):
            K[i + 1, i] = k[i]
    elif kind == "branched":  # s1 → s2 (b), s1 → s3 (1 − b) or ground, s2, s3 → s4 (n = 4)
        K[1, 0] = branch * k[0]
        if n >= 3:
            K[2, 0] = (1 - branch) * k[0]
        if n == 4:
            K[3, 1], K[3, 2] = k[1], k[2]
    return K, x0


def simulate(kind: str, n: int, noise: float, seed: int, baseline=False, artifact=False):
    """One noisy map (T, W) and its true lifetimes (ps, ascending); optionally with a
    non-decaying column (step ⊗ IRF, 30 % of the largest DAS) and a coherent artefact (the
    IRF Gaussian, 50 %), each with its own random two-band spectrum."""
    rng = np.random.default_rng([seed, n, SCHEMES.index(kind), 2 * baseline + artifact])
    taus = np.sort(np.array(LIFETIMES[n]) * np.exp(rng.uniform(-0.3, 0.3, n)))
    K, x0 = rate_matrix(kind, 1.0 / taus)
    lam, V = np.linalg.eig(K)
    sigma = IRF_FWHM / (2 * math.sqrt(2 * math.log(2)))
    E = np.stack([kernel(T, -lj.real, T0, sigma) for lj in lam], axis=1)  # (T, n)
    pops = (E * np.linalg.solve(V, x0).real) @ V.T.real
    spectra = np.zeros((n, WL.size))
    for i in range(n):
        for _ in range(2):
            amp = rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
            centre, width = rng.uniform(450, 750), rng.uniform(25, 60)
            spectra[i] += amp * np.exp(-0.5 * ((WL - centre) / width) ** 2)
    y = pops @ spectra
    y /= np.abs(y).max()
    for on, shape, size in ((baseline, 0.5 * erfc(-(T - T0) / (sigma * math.sqrt(2))), 0.3),
                            (artifact, np.exp(-0.5 * ((T - T0) / sigma) ** 2), 0.5)):
        if on:
            centre, width = rng.uniform(450, 750), rng.uniform(40, 80)
            spec = rng.choice([-1, 1]) * np.exp(-0.5 * ((WL - centre) / width) ** 2)
            y = y + size * np.outer(shape, spec)
    return y + noise * rng.normal(size=y.shape), taus


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for noise in NOISE:
        for kind in SCHEMES:
            for n in LIFETIMES:
                g = [r for r in rows if (r["noise"], r["scheme"], r["n_true"]) == (noise, kind, n)]
                dec = [r for r in g if r["decided"]]
                und = [r for r in g if not r["decided"]]
                right = [r for r in dec if r["n_chosen"] == n]
                errs = [r["lifetime_rel_error"] for r in right
                        if r["lifetime_rel_error"] is not None]
                out.append(dict(
                    noise=noise, scheme=kind, n_true=n, maps=len(g),
                    correct=len(right) / len(g), exact=sum(r["exact"] for r in dec) / len(g),
                    wrong=(len(dec) - len(right)) / len(g), undecided=len(und) / len(g),
                    truth_in_undecided=(sum(r["truth_leading"] for r in und) / len(und)
                                        if und else None),
                    equivalence_reported=(sum(r["equivalent_ok"] for r in right)
                                          / max(len(right), 1)),
                    median_lifetime_error=float(np.median(errs)) if errs else None))
    return out


def markdown(summary: list[dict], pooled: dict, meta: dict) -> str:
    lines = [f"# Model-choice study ({meta['maps']} maps, {meta['wall_s']:.0f} s on "
             f"{meta['machine']})", "",
             f"Options: `{json.dumps(OPTIONS)}`; grid {T.size} delays × {WL.size} wavelengths, "
             f"IRF FWHM {IRF_FWHM} ps; noise σ relative to max |ΔA|: {NOISE}.", "",
             "| noise | scheme | species | maps | correct n | exact model | wrong | undecided "
             "| truth among undecided | equivalence reported | median lifetime error |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    pct = lambda x: "–" if x is None else f"{100 * x:.0f} %"  # noqa: E731
    for s in summary:
        lines.append(f"| {s['noise']} | {s['scheme']} | {s['n_true']} | {s['maps']} | "
                     f"{pct(s['correct'])} | {pct(s['exact'])} | {pct(s['wrong'])} | "
                     f"{pct(s['undecided'])} | {pct(s['truth_in_undecided'])} | "
                     f"{pct(s['equivalence_reported'])} | {pct(s['median_lifetime_error'])} |")
    lines += ["", "Pooled: " + "; ".join(
        f"{k}: correct {pct(v['correct'])}, wrong {pct(v['wrong'])}, undecided "
        f"{pct(v['undecided'])}" for k, v in pooled.items())]
    return "\n".join(lines) + "\n"


EXTRAS = {"nothing": (False, False), "baseline": (True, False), "artefact": (False, True),
          "baseline + artefact": (True, True)}
EXTRA_OPTIONS = dict(OPTIONS, max_components=4, baseline=None, artifact=None)


def extras_study(seeds: int, out: Path):
    """Baseline / artefact detection (``--extras``): parallel, 3 species, both noise levels."""
    from hotcarrier.analysis.choice import choose_arrays
    from machine import cpu_model  # benchmarks/machine.py

    keys, maps, truth = [], [], []
    for noise, level in NOISE.items():
        for extra, (b, a) in EXTRAS.items():
            for seed in range(seeds):
                y, taus = simulate("parallel", 3, level, seed, baseline=b, artifact=a)
                keys.append((noise, extra, b, a))
                maps.append(y)
                truth.append(taus)
    t0 = time.perf_counter()
    res = choose_arrays(T, WL, np.stack(maps), **EXTRA_OPTIONS, progress=lambda i, k, lab: print(
        f"candidate {i + 1}/{k} {lab} ({time.perf_counter() - t0:.0f} s)", flush=True))
    wall = time.perf_counter() - t0
    rows = []
    for (noise, extra, b, a), r in zip(keys, res):
        w = r.winner
        c = w.candidate if w else None
        rows.append(dict(noise=noise, extra=extra, decided=w is not None,
                         chosen=c.label if c else None, n_right=bool(c and c.n == 3),
                         exact=bool(c and c.n == 3 and c.baseline == b and c.artifact == a),
                         verdict=r.verdict))
    pct = lambda x: f"{100 * x:.0f} %"  # noqa: E731
    lines = [f"# Model-choice study, baseline and artefact ({len(rows)} maps, {wall:.0f} s on "
             f"{cpu_model()})", "", f"Options: `{json.dumps(EXTRA_OPTIONS)}`; parallel scheme, "
             f"3 species, {seeds} seeds; otherwise as model_choice.md.", "",
             "| noise | generated with | maps | correct n | exact (n, baseline, artefact) | "
             "wrong | undecided |", "|---|---|---|---|---|---|---|"]
    summary = []
    for noise in NOISE:
        for extra in EXTRAS:
            g = [r for r in rows if (r["noise"], r["extra"]) == (noise, extra)]
            dec = [r for r in g if r["decided"]]
            s = dict(noise=noise, extra=extra, maps=len(g),
                     correct=sum(r["n_right"] for r in dec) / len(g),
                     exact=sum(r["exact"] for r in dec) / len(g),
                     wrong=sum(not r["exact"] for r in dec) / len(g),
                     undecided=(len(g) - len(dec)) / len(g))
            summary.append(s)
            lines.append(f"| {noise} | {extra} | {len(g)} | {pct(s['correct'])} | "
                         f"{pct(s['exact'])} | {pct(s['wrong'])} | {pct(s['undecided'])} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_choice_extras.json").write_text(json.dumps(
        dict(meta=dict(wall_s=wall, machine=cpu_model(), seeds=seeds, options=EXTRA_OPTIONS),
             summary=summary, maps=rows), indent=1) + "\n")
    (out / "model_choice_extras.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--extras", action="store_true", help="the baseline/artefact study")
    args = ap.parse_args(argv)
    if args.extras:
        return extras_study(args.seeds, Path(args.out))
    from hotcarrier.analysis.choice import choose_arrays

    keys, maps, truth = [], [], []
    for noise, level in NOISE.items():
        for kind in SCHEMES:
            for n in LIFETIMES:
                for seed in range(args.seeds):
                    y, taus = simulate(kind, n, level, seed)
                    keys.append((noise, kind, n, seed))
                    maps.append(y)
                    truth.append(taus)
    t0 = time.perf_counter()
    res = choose_arrays(T, WL, np.stack(maps), **OPTIONS, progress=lambda i, k, lab: print(
        f"candidate {i + 1}/{k} {lab} ({time.perf_counter() - t0:.0f} s)", flush=True))
    wall = time.perf_counter() - t0
    rows = []
    for (noise, kind, n, seed), taus, r in zip(keys, truth, res):
        w = r.winner
        err = (float(np.max(np.abs(w.lifetimes / taus - 1))) if w is not None
               and w.candidate.n == n else None)
        rows.append(dict(noise=noise, scheme=kind, n_true=n, seed=seed, decided=w is not None,
                         n_chosen=w.candidate.n if w else None,
                         chosen=w.candidate.label if w else None,
                         exact=bool(w and w.candidate.n == n and not w.candidate.baseline),
                         leading=[c.candidate.label for c in r.leading],
                         truth_leading=any(c.candidate.n == n for c in r.leading),
                         equivalent_ok=bool(w and kind in w.candidate.equivalent),
                         lifetime_rel_error=err, verdict=r.verdict))
    summary = summarize(rows)
    pooled = {}
    for noise in NOISE:
        g = [r for r in rows if r["noise"] == noise]
        right = sum(r["decided"] and r["n_chosen"] == r["n_true"] for r in g)
        pooled[noise] = dict(correct=right / len(g), undecided=sum(not r["decided"] for r in g)
                             / len(g), wrong=sum(r["decided"] for r in g) / len(g) - right / len(g))
    from machine import cpu_model  # benchmarks/machine.py

    meta = dict(maps=len(rows), wall_s=wall, machine=cpu_model(), seeds=args.seeds,
                options=OPTIONS, noise=NOISE, lifetimes=LIFETIMES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_choice.json").write_text(json.dumps(
        dict(meta=meta, pooled=pooled, summary=summary, maps=rows), indent=1) + "\n")
    (out / "model_choice.md").write_text(markdown(summary, pooled, meta))
    print(markdown(summary, pooled, meta))


if __name__ == "__main__":
    main()

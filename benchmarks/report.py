"""Print the markdown tables of ``benchmarks/README.md`` from ``benchmarks/results/*.json``.

    python benchmarks/report.py            # any python ≥ 3.9, standard library only
"""

from __future__ import annotations

import json
from pathlib import Path

RES = Path(__file__).resolve().parent / "results"


def f(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def rng(s, nd=1):
    if not s:
        return "—"
    return f"{s['median']:.{nd}f} ({s['min']:.{nd}f}–{s['max']:.{nd}f})"


def hippius():
    p = RES / "hippius.json"
    if not p.is_file():
        return "(no results/hippius.json)"
    d = json.loads(p.read_text())
    hc, pg, r = d["hotcarrier"], d["pyglotaran"], d["ratio_pyglotaran_over_hotcarrier"]
    n_hc = hc["process_s"]["n"] if hc.get("process_s") else 0
    n_pg = pg["process_s"]["n"] if pg.get("process_s") else 0
    lines = [
        f"Run {d['date_utc']}, commit `{d['git']['commit'][:7]}`"
        f"{' (+ uncommitted changes in the tree)' if d['git']['hotcarrier_or_fits_dirty'] else ''}; "
        f"{n_hc} hotcarrier and {n_pg} pyglotaran repetitions, interleaved; median (min–max), seconds.",
        "",
        "| | hotcarrier (cold process) | pyglotaran 0.7.5 | pyglotaran / hotcarrier (medians) |",
        "|---|---|---|---|",
        f"| whole process, wall | {rng(hc['process_s'])} | {rng(pg['process_s'])} | "
        f"{f(r.get('end_to_end_process'))} |",
        f"| whole process, CPU (user+sys) | {rng(hc['cpu_s'])} | {rng(pg['cpu_s'])} | "
        f"{f(r.get('end_to_end_cpu'))} |",
        f"| fit call, wall (hc: `fit()` incl. compile + stderr; pg: `optimize()`) | "
        f"{rng(hc['fit_wall_time_s'])} | {rng(pg['fit_wall_time_s'])} | {f(r.get('fit_only'))} |",
        f"| hc compile (XLA + lowering, from JAX's log) | {rng(hc['compile_s'])} | — | |",
        f"| hc tracing (upper bound) | {rng(hc['tracing_s'])} | — | |",
        f"| hc fit minus compile and tracing (lower bound of run) | {rng(hc['run_s'])} | "
        f"{rng(pg['fit_wall_time_s'])} | {f(r.get('pg_fit_vs_hc_run_excl_compile'))} |",
    ]
    wc = hc.get("warm_persistent_cache")
    if wc:
        lines += [
            f"| hc, warm persistent JAX cache (CLI default since 5db0a95), process wall | {rng(wc['process_s'])} | "
            f"{rng(pg['process_s'])} | {f(r.get('end_to_end_process_warm_cache'))} |",
            f"| hc, warm persistent JAX cache, process CPU | {rng(wc['cpu_s'])} | "
            f"{rng(pg['cpu_s'])} | {f(r.get('end_to_end_cpu_warm_cache'))} |",
        ]
    lines += [
        "",
        f"Converged costs: hotcarrier {hc['cost']['median']:.13g} "
        f"({hc['n_iterations']} L-BFGS iterations, converged {hc['converged']}); "
        f"pyglotaran {pg['cost']['median']:.13g} ({pg['n_evaluations'][0]} function + "
        f"{pg['n_jacobian_evaluations'][0]} finite-difference Jacobian evaluations); "
        f"README reference {d['reference_cost_readme']}.",
        f"Load average at the end of the run: {', '.join(f'{x:.1f}' for x in d['machine']['loadavg_at_end'])} "
        f"on {d['machine']['nproc']} cores.",
    ]
    return "\n".join(lines)


def logged(rec):
    c = rec.get("logged_compile") or {}
    return f(c.get("compile_s"), 1)


def batch():
    p = RES / "batch.json"
    if not p.is_file():
        return "(no results/batch.json)"
    d = json.loads(p.read_text())
    pg = d["pyglotaran"]
    med = pg.get("per_fit_median_s")
    lines = [
        f"Run {d['date_utc']}. pyglotaran per fit (200 × 100, median of "
        f"{pg.get('n_fits_measured')} fits after a warm-up, same script run): "
        f"{f(med, 3)} s → {f(1 / med if med else None, 2)} fits/s; its batch times are "
        "**extrapolated** (N × per-fit median).",
        "",
        "| N maps | hc first call (compile + run) s | hc compile ≈ first − second s | "
        "hc compile, JAX log s | hc run s | hc fits/s (run) | converged | "
        "pyglotaran N × per-fit s (extrapolated) | throughput ratio hc/pg, run | "
        "ratio incl. compile |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rec in d["hotcarrier_sizes"]:
        n = rec["n"]
        rr = d["ratio_hotcarrier_over_pyglotaran_throughput"].get(str(n), {})
        if "run_s" not in rec:
            lines.append(f"| {n} | failed: {rec.get('error', '')[-120:]!r} | | | | | | | | |")
            continue
        lines.append(
            f"| {n} | {rec['first_call_s']:.1f} | {rec['compile_s_estimate']:.1f} | "
            f"{logged(rec)} | {rec['run_s']:.2f} | {rec['fits_per_s_run']:.2f} | {rec['n_converged']}/{n} | "
            f"{f(rr.get('pyglotaran_extrapolated_s'), 1)} | "
            f"{f(rr.get('throughput_ratio_run'), 1)} | {f(rr.get('throughput_ratio_incl_compile'), 2)} |")
    if d.get("hotcarrier_scaling"):
        pg_shapes = {(s["n_delays"], s["n_wavelengths"]): s for s in pg.get("shapes", [])}
        lines += [
            "",
            f"Scaling (batches of {d['hotcarrier_scaling'][0]['n']} maps for hotcarrier; "
            "pyglotaran per-fit median of its sample):",
            "",
            "| delays × wavelengths | hc run s (per batch) | hc ms per fit | "
            "hc compile ≈ first − second s | hc compile, JAX log s | pg s per fit | "
            "per-fit ratio pg/hc |",
            "|---|---|---|---|---|---|---|",
        ]
        for rec in d["hotcarrier_scaling"]:
            key = (rec["n_delays"], rec["n_wavelengths"])
            pgs = pg_shapes.get(key)
            if "run_s" not in rec:
                lines.append(f"| {key[0]} × {key[1]} | failed | | | | | |")
                continue
            per = rec["run_s"] / rec["n"]
            lines.append(
                f"| {key[0]} × {key[1]} | {rec['run_s']:.1f} | {1000 * per:.0f} | "
                f"{rec['compile_s_estimate']:.1f} | {logged(rec)} | "
                f"{f(pgs['per_fit_median_s'], 3) if pgs else '—'} | "
                f"{f(pgs['per_fit_median_s'] / per, 1) if pgs else '—'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print("## Hippius\n")
    print(hippius())
    print("\n## Batch\n")
    print(batch())

"""``hotcarrier fit-many FILES... (--model MODEL.toml | --scheme ...) --out DIR``.

Fits every file with one model in batched, compiled calls (:func:`hotcarrier.batch.fit_batch`),
files grouped by shape and wavelength grid and streamed in chunks; a file that cannot be read
or fitted is reported and never stops the others. Writes ``batch.nc`` (``group<k>.nc`` with
spectra when there are several grids), ``summary.json`` and ``items/<name>.json``. Exit code
0 when every item converged, 1 when some did not, 2 on input errors.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import time
from pathlib import Path

from ..api import model_kind
from ._options import (check_out, check_preprocess, int_range, non_negative, out_dir,
                       write_json)
from .fit import add_model_arguments

__all__ = ["add_parser", "expand_inputs", "run", "suspicious"]


def _devices(text: str):
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--devices: expected a number or 'all', got {text!r}") \
            from None
    if n < 1:
        raise argparse.ArgumentTypeError("--devices must be >= 1")
    return n


def _factor(text: str) -> float:
    v = non_negative(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a factor >= 1 (1: no random spread), got "
                                         f"{text!r}")
    return v


def add_parser(subparsers) -> None:
    """Register the ``fit-many`` sub-command."""
    p = subparsers.add_parser(
        "fit-many", help="fit many TA files with one model in batched, compiled calls",
        description="Fit every file (or every file in a folder, or every match of a quoted "
        "glob) with the same model: vmapped over files, in chunks, over all local devices. "
        "Prints a summary table; writes batch.nc, summary.json and items/<name>.json to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILES",
                   help="TA data files, folders (every non-hidden file inside) or glob patterns")
    p.add_argument("--out", required=True, help="output folder")
    add_model_arguments(p)
    o = p.add_argument_group("batch options")
    o.add_argument("--chunk-size", type=int_range(1), default=256,
                   help="files per compiled call (memory grows with it; <= 512 advised)")
    o.add_argument("--devices", type=_devices, default=None, metavar="N|all",
                   # "%(default).0s" stops argparse adding "(default: None)"
                   help="devices to shard each chunk over (default: all local "
                        "devices)%(default).0s")
    o.add_argument("--starts", type=int_range(1), default=1, metavar="S",
                   help="starts per file (multi-start; the best converged one is kept)")
    o.add_argument("--start-factor", type=_factor, default=3.0,
                   help="random starts scale bounded parameters by up to this factor")
    o.add_argument("--seed", type=int_range(0), default=0, help="seed of the random starts")
    o.add_argument("--max-iter", type=int_range(1), default=200,
                   help="Levenberg–Marquardt step cap per file")
    o.add_argument("--no-refit", action="store_true",
                   help="do not refit suspicious items (not converged, a collapsed or "
                   "unresolvable lifetime, a lifetime without standard error) with the "
                   "single-fit engine of `fit`")
    o.add_argument("--refit-max", type=int_range(0), default=20, metavar="N",
                   help="refit at most N suspicious items")
    o.add_argument("--no-stderr", action="store_true", help="skip standard errors")
    o.add_argument("--no-spectra", action="store_true", help="do not keep fitted spectra")
    o.add_argument("--rows", type=int_range(0), default=50, help="rows of the printed table")
    o.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=run)


def expand_inputs(specs) -> list[Path]:
    """Files from paths, folders and glob patterns (sorted within each spec, duplicates once)."""
    out, seen = [], set()
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith("."))
        elif p.exists():
            found = [p]
        else:
            found = sorted(Path(x) for x in glob.glob(spec) if Path(x).is_file())
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def _safe_name(name: str, used: set) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "item"
    cand, k = base, 1
    while cand in used:
        k += 1
        cand = f"{base}_{k}"
    used.add(cand)
    return cand


def run(args) -> int:
    """Scan, group, fit, write, summarise."""
    from ..api import load_model
    from ..batch import fit_batch
    from ..errors import HotcarrierError
    from .fit import build_model

    t_start = time.perf_counter()
    check_out(args)
    check_preprocess(args)
    physical = bool(args.model) and model_kind(args.model) == "physical"
    # a target model: one dataset per item
    model = (load_model(args.model) if physical
             else build_model(argparse.Namespace(**{**vars(args), "data": [None]})))
    files = expand_inputs(args.files)
    if not files:
        raise HotcarrierError(f"no input files found for {' '.join(args.files)}")
    if args.chunk_size < 1 or args.starts < 1:
        raise HotcarrierError("--chunk-size and --starts must be >= 1")
    out = out_dir(args)
    if physical:  # every file is one sample's data (a bundle)
        if not args.quiet:
            print(f"fitting {len(files)} file(s) with the physical model {args.model} "
                  "(one compiled, vmapped program)", file=sys.stderr, flush=True)
        ds = fit_batch(model, files, names=[f.name for f in files], devices=args.devices,
                       max_iter=args.max_iter, stderr=not args.no_stderr)
        extra, label = {"model_kind": "hotcarrier"}, f"{len(files)} file(s)"
    else:
        ds, n_groups = _fit_groups(args, model, files)
        files = [files[i] for i in ds["input_index"].values]
        refits = [] if args.no_refit else _refit_suspicious(args, model, files, ds)
        extra = {"n_groups": n_groups, "chunk_size": int(args.chunk_size),
                 "n_starts": int(args.starts), "refits": refits}
        label = f"{len(files)} file(s), {n_groups} shape group(s)"
        ds.attrs["n_groups"] = n_groups
    ds.attrs.update(source="fit-many", wall_s=time.perf_counter() - t_start, n_files=len(files))
    notes = None if physical else [suspicious(ds, i, model.scheme_kind)
                                   for i in range(ds.sizes["batch"])]
    return _write_outputs(args, ds, files, out, extra, label, notes)


def _fit_groups(args, model, files: list[Path]):
    """Scan the files one at a time, group them by delay count and wavelength grid, fit each
    group streamed in chunks; (one Dataset in input order, number of groups)."""
    import numpy as np
    import xarray as xr

    from ..batch import TextProgress, fit_batch
    from ..dataset import check_ta
    from ..errors import HotcarrierError
    from ..io import load_ta
    from ..preprocess import prepare, read_options

    base_dir = Path(args.model).resolve().parent if args.model else None

    def loader(path):
        ds = prepare(load_ta(path, **read_options(model.preprocess)), model.preprocess,
                     base_dir=base_dir)
        check_ta(ds, Path(path).name)
        return ds

    groups: dict = {}
    failed = []  # files that cannot be read: fit_batch flags them again (status 11)
    for i, f in enumerate(files):
        try:
            ds = loader(f)
            key = (ds.sizes["delay"], np.round(ds["wavelength"].values, 6).tobytes())
            groups.setdefault(key, []).append(i)
        except (HotcarrierError, OSError, ValueError):
            failed.append(i)
        if not args.quiet:
            print(f"\rscanning {i + 1}/{len(files)}", end="", file=sys.stderr)
    if not args.quiet:
        print(file=sys.stderr)
    parts = []
    for g, idx in enumerate([*groups.values(), failed]):
        if not idx:
            continue
        label = "fit" if len(groups) == 1 else f"fit group {g + 1}/{len(groups)}"
        ds = fit_batch(model, [files[i] for i in idx], names=[files[i].name for i in idx],
                       loader=loader, n_starts=args.starts, start_factor=args.start_factor,
                       seed=args.seed, chunk_size=args.chunk_size, devices=args.devices,
                       max_iter=args.max_iter, stderr=not args.no_stderr,
                       spectra=not args.no_spectra,
                       progress=None if args.quiet or idx is failed else TextProgress(label=label))
        parts.append(ds.assign_coords(input_index=("batch", np.asarray(idx))))
    # one Dataset in input order; spectra only when every fitted file shares one grid
    fitted = [p for p in parts if "spectra" in p]
    if len(fitted) > 1:  # saved with the other outputs (one set)
        args._group_results = {f"group{k + 1}.nc": part for k, part in enumerate(fitted)}
        parts = [p.drop_vars(["spectra", "wavelength", "column"], errors="ignore")
                 for p in parts]
    combined = parts[0] if len(parts) == 1 else xr.concat(
        parts, dim="batch", data_vars="all", coords="different", compat="equals",
        join="outer", combine_attrs="override")
    combined = combined.sortby("input_index")
    return combined.assign_coords(batch=np.arange(combined.sizes["batch"])), len(groups)


def suspicious(ds, i: int, scheme: str | None) -> list[str]:
    """Why batch item ``i`` needs a second look (empty when it does not): not converged (a
    run-away stopped early says so); for
    a quick parallel/sequential model also a lifetime far below the IRF, two collapsed
    lifetimes (:func:`hotcarrier.fitting.result.lifetime_warnings`), or a free lifetime
    without a standard error."""
    import numpy as np

    from ..fitting.result import lifetime_warnings

    if str(ds["error"].values[i]) or int(ds["status"].values[i]) >= 10:
        return []  # unreadable or too few usable points (batch codes 10, 11): no refit helps
    from ..fitting.optimize import RUNAWAY, STATUS_MESSAGES

    why = [] if bool(ds["converged"].values[i]) else ["not converged"]
    if int(ds["status"].values[i]) == RUNAWAY:  # the optimiser's early stop
        why = [f"not converged: {STATUS_MESSAGES[RUNAWAY]}"]
    if scheme not in ("parallel", "sequential"):
        return why
    pn = [str(p) for p in ds["param"].values]
    free = {str(p) for p in ds["free_param"].values}
    taus = [n for n in pn if n.startswith("tau") and n[3:].isdigit()]
    val = dict(zip(pn, ds["value"].values[i]))
    se = dict(zip(pn, ds["stderr"].values[i]))
    why += lifetime_warnings([val[n] for n in taus], [n not in free for n in taus],
                             irf_fwhm_ps=val.get("irf_fwhm"))
    why += [f"{n} has no standard error" for n in taus
            if n in free and not np.isfinite(se[n])]
    return why


def _refit_suspicious(args, model, files, ds) -> list[dict]:
    """Refit suspicious items (:func:`suspicious`) with the single-fit engine of ``fit``
    (preconditioned L-BFGS from the same start) and keep the result where its cost is lower;
    ``ds`` is updated in place. Returns one record per refit."""
    import warnings

    import numpy as np

    from ..dataset import check_ta
    from ..errors import HotcarrierError
    from ..io import load_ta
    from ..preprocess import prepare, read_options
    from ..target.fit import fit_target

    base_dir = Path(args.model).resolve().parent if args.model else None
    todo = [(i, w) for i in range(ds.sizes["batch"])
            if (w := suspicious(ds, i, model.scheme_kind))][:max(args.refit_max, 0)]
    pn = [str(p) for p in ds["param"].values]
    out = []
    for k, (i, why) in enumerate(todo):
        if not args.quiet:
            print(f"\rrefitting suspicious item {k + 1}/{len(todo)}: {ds['item'].values[i]}",
                  end="", file=sys.stderr, flush=True)
        try:
            data = prepare(load_ta(files[i], **read_options(model.preprocess)), model.preprocess,
                           base_dir=base_dir)
            check_ta(data, Path(files[i]).name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = fit_target(data, model)
        except (HotcarrierError, ValueError) as exc:
            out.append({"item": str(ds["item"].values[i]), "why": why, "kept": "batch",
                        "error": str(exc)})
            continue
        s = res.summary()
        old = float(ds["cost"].values[i])
        better = np.isfinite(s["cost"]) and not s["cost"] >= old * (1 - 1e-9)
        out.append({"item": str(ds["item"].values[i]), "why": why,
                    "batch_cost": old, "single_fit_cost": s["cost"],
                    "kept": "single fit" if better else "batch"})
        if better:
            p = s["parameters"]
            ds["value"].values[i] = [p[n]["value"] for n in pn]
            ds["stderr"].values[i] = [np.nan if p[n]["stderr"] is None else p[n]["stderr"]
                                      for n in pn]
            ds["cost"].values[i] = s["cost"]
            ds["chi2_red"].values[i] = s["chi2_reduced"] if s["chi2_reduced"] is not None \
                else np.nan
            ds["converged"].values[i] = s["converged"]
            ds["status"].values[i] = s["status"]
            ds["n_iter"].values[i] = s["n_iterations"]
    if todo and not args.quiet:
        kept = sum(r["kept"] == "single fit" for r in out)
        print(f"\nrefitted {len(todo)} suspicious item(s) with the single-fit engine; "
              f"{kept} improved", file=sys.stderr)
    return out


def _write_outputs(args, ds, files, out: Path, extra: dict, label: str, notes=None) -> int:
    """Write batch.nc, group<k>.nc, items/<name>.json and summary.json as one set (a
    manifest written last); print the table; exit code."""
    from ..batch import save_results, summary_records, summary_table
    from ..io.atomic import output_set

    recs = summary_records(ds)
    for k, r in enumerate(recs):
        if notes is not None:  # what still needs a look after the refits, in plain words
            r["warnings"] = notes[k]
    n_conv = int(ds["converged"].sum())
    summary = {"n_items": len(recs), "n_converged": n_conv,
               "wall_s": float(ds.attrs["wall_s"]), "model": str(ds.attrs["model_source"]),
               **extra, "items": recs}
    with output_set(out, replaces=("batch.nc", "summary.json", "group*.nc", "items/*.json"),
                    command="fit-many") as stage:
        save_results(ds, stage / "batch.nc")
        for name, part in getattr(args, "_group_results", {}).items():
            save_results(part, stage / name)
        items = stage / "items"
        items.mkdir()
        used: set = set()
        for r, f in zip(recs, files):
            r["file"] = str(f)
            write_json(items / f"{_safe_name(Path(r['item']).stem, used)}.json", r)
        write_json(stage / "summary.json", summary)
    if not args.quiet:
        print(summary_table(ds, max_rows=args.rows))
        print(f"{label}, {summary['wall_s']:.1f} s; results in {out}/ "
              "(batch.nc, summary.json, items/)")
        failed = [(r["item"], r["error"]) for r in recs if r.get("error")]
        for name, why in failed[:10]:  # the reason, not only the status number of the table
            print(f"  {name}: {why}")
        if len(failed) > 10:
            print(f"  … {len(failed) - 10} more (see 'error' in items/<name>.json)")
        flagged = [r["item"] for r in recs if r.get("warnings")]
        if flagged:
            print(f"{len(flagged)} item(s) need a look (see 'warnings' in items/<name>.json): "
                  + ", ".join(flagged[:10]) + (" …" if len(flagged) > 10 else ""))
    return 0 if n_conv == len(recs) else 1

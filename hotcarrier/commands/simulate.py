"""``hotcarrier simulate``: synthetic Au@CdS TA data from the physical model.

    hotcarrier simulate --preset clean [--set NAME=VALUE ...] [--seed N] [--noise mOD] --out FILE.nc

With a preset alone the file has the kind and layout of the bundled dataset of that preset
(``datasets/au_cds_<preset>.nc``: mid-IR fluence series, band-gap reference, visible map), with
new noise for each seed, so that ``fits/au_cds_<preset>/model.toml`` fits it unchanged.
``--set`` changes an :class:`InterfaceParams` field (e.g. ``tau_inj_fs=100``, ``eta_cid=0.1``,
``N_it_cm2=3e12``) or an observable parameter (``kappa_mOD``, ``t0_ps``, ``tau_ref_ps``, …).
"""

from __future__ import annotations

import dataclasses

from ._options import check_out_file, int_range, non_negative

__all__ = ["add_parser", "parse_sets", "run"]


def add_parser(subparsers) -> None:
    """Register ``hotcarrier simulate``."""
    p = subparsers.add_parser(
        "simulate", help="write synthetic Au@CdS TA data from the physical model",
        description="Simulate a bundle of synthetic TA measurements (mid-IR fluence series, "
                    "band-gap calibration reference, visible map) from the linear hot-carrier "
                    "model with noise, IRF and chirp; one netCDF-4 file with one group per "
                    "measurement (the root group is a plain TA dataset).")
    p.add_argument("--preset", choices=("clean", "defective"), default="clean",
                   help="interface parameter preset (spec table 11); default clean")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override one parameter (repeatable)")
    p.add_argument("--seed", type=int_range(0), default=0, help="noise seed (default 0)")
    p.add_argument("--noise", type=non_negative, default=0.01, metavar="mOD",
                   help="mid-IR noise standard deviation in mOD (visible: 2x); default 0.01")
    p.add_argument("--barrier-model", default="all_above",
                   choices=("all_above", "hemisphere", "escape_cone", "fowler"))
    p.add_argument("--no-visible", action="store_true", help="leave out the visible map")
    p.add_argument("--out", required=True, metavar="FILE", help="output netCDF file (.nc)")
    p.set_defaults(func=run)


def parse_sets(sets):
    """Split ``NAME=VALUE`` strings into InterfaceParams and ObservableParams changes."""
    from ..errors import ModelError
    from ..physics.modelfile import O_FIELDS, P_FIELDS, parameter_problem

    p_ch, o_ch, problems = {}, {}, []
    for item in sets:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            v = float(value) if sep else None
        except ValueError:
            v = None
        if v is None:
            problems.append(f"--set {item!r}: expected NAME=NUMBER")
        elif (name in P_FIELDS or name in O_FIELDS) and parameter_problem(name, v):
            problems.append(f"--set {parameter_problem(name, v)}")
        elif name in P_FIELDS:
            p_ch[name] = v
        elif name in O_FIELDS and not name.startswith("art_"):
            o_ch[name] = v
        else:
            problems.append(f"--set {name!r}: unknown parameter; InterfaceParams fields: "
                            f"{sorted(P_FIELDS)}; observables: {sorted(O_FIELDS)}")
    if problems:
        raise ModelError("\n".join(problems))
    return p_ch, o_ch


def run(args) -> int:
    """Simulate and write the bundle; prints the true Φ_inj."""
    from pathlib import Path

    from ..errors import DataFormatError
    from ..physics.injection import injection_quantum_yield
    from ..physics.parameters import preset
    from ..physics.simulate import DEFAULT_OBS, simulate_to_file

    out = Path(args.out)
    if out.suffix.lower() not in (".nc", ".nc4", ".h5", ".netcdf"):
        raise DataFormatError(out, "the output must be a netCDF file", "use a .nc extension")
    check_out_file(out)
    p_ch, o_ch = parse_sets(args.sets)
    params = preset(args.preset).replace(**p_ch)
    obs = dataclasses.replace(DEFAULT_OBS, **o_ch)
    label = args.preset if not (p_ch or o_ch) else f"{args.preset}+" + ",".join(args.sets)
    simulate_to_file(out, params, obs=obs, seed=args.seed, noise_mOD=args.noise,
                     include_visible=not args.no_visible, model=args.barrier_model, label=label)
    phi = float(injection_quantum_yield(params, args.barrier_model))
    print(f"wrote {out}  (synthetic, preset {args.preset}, seed {args.seed}; "
          f"true Φ_inj = {phi:.4f})")
    return 0

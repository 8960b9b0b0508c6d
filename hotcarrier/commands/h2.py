"""``hotcarrier h2``: predicted photocatalytic H2 evolution, clean/defective ratio (spec §9)."""

from __future__ import annotations

import json
import math
import sys
import warnings

from ..errors import HotcarrierError
from ._options import check_out_file, fraction, int_range, non_negative, positive

__all__ = ["add_parser", "compute", "run"]


def add_parser(subparsers) -> None:
    """Register the ``h2`` sub-command."""
    p = subparsers.add_parser(
        "h2", help="predict QE_H2, rates and the clean/defective ratio (spec §9)",
        description=(
            "Predict the H2 quantum efficiency (H2 per absorbed photon) of two catalysts and "
            "their ratio. Each of --clean/--defective is a preset (clean, defective) or a fit "
            "folder / summary.json / result.nc from 'hotcarrier fit'; parameters a fit does not "
            "contain (slow µs–ms processes TA cannot see) keep the preset defaults of that role "
            "unless set with --set. Without --spectrum: the spec §9.4 reference case "
            "(monochromatic 2.1 eV absorbed by the Au core)."))
    for role in ("clean", "defective"):
        p.add_argument(f"--{role}", default=role, metavar="{clean|defective|PATH}",
                       help=f"{role} catalyst (default: preset {role})")
    p.add_argument("--spectrum", metavar="SPEC",
                   help="mono:590 | mono:2.1eV | led:450[:FWHM] | lamp[:420[:800[:flat]]] | "
                        "file:PATH[:W] | PATH (two columns nm, photons per nm)")
    p.add_argument("--irradiance", type=positive, metavar="mW/cm2",
                   help="incident irradiance (mW cm⁻²) for the photon balance")
    p.add_argument("--mass", type=positive, metavar="g", help="catalyst mass (g) for the rate")
    p.add_argument("--area", type=positive, metavar="cm2", help="illuminated area (cm²)")
    p.add_argument("--absorbance", type=non_negative,
                   help="measured decadic absorbance of the suspension (else computed from "
                        "particle number and σ_abs)")
    p.add_argument("--catalyst-share", type=fraction, default=1.0,
                   help="catalyst share of --absorbance (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE[±SE]",
                   help="set an InterfaceParams field for both catalysts (repeatable); "
                        "NAME=VALUE±SE (or +-) adds a shared, fully correlated uncertainty")
    for role in ("clean", "defective"):
        p.add_argument(f"--set-{role}", action="append", default=[], metavar="NAME=VALUE[±SE]",
                       help=f"set a field of the {role} set only (±SE: independent prior)")
    p.add_argument("--uncertainty", choices=("both", "delta", "sampling", "none"),
                   default="both", help="propagation of fit covariances (default both)")
    p.add_argument("--samples", type=int_range(2), default=2000,
                   help="draws for sampling (default 2000)")
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--no-cds-channel", action="store_true",
                   help="drop the optional CdS band-gap channel (§9.3)")
    p.add_argument("--injection-model", default="all_above",
                   choices=("all_above", "hemisphere", "escape_cone", "fowler"))
    p.add_argument("--sensitivity", action="store_true",
                   help="add the §9.4 sensitivity table and elasticities")
    p.add_argument("--plot", metavar="PATH", help="write the ratio-vs-Λ figure (png/pdf/svg)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _parse_sets(items, what) -> tuple[dict, dict]:
    """NAME=VALUE or NAME=VALUE±SE (also +-) → (values, standard errors)."""
    values, errors = {}, {}
    for it in items:
        name, sep, val = it.partition("=")
        if not sep:
            raise HotcarrierError(f"{what} {it!r}: expected NAME=VALUE or NAME=VALUE±SE "
                                  "(e.g. E_s_eV=0.28 or E_s_eV=0.30+-0.03)")
        v, _, se = val.replace("+-", "±").partition("±")
        try:
            values[name.strip()] = float(v)
            if se:
                errors[name.strip()] = float(se)
        except ValueError:
            raise HotcarrierError(f"{what} {it!r}: value is not a number") from None
    return values, errors


def _inputs(spec: str, role: str, overrides: dict, priors: dict):
    from ..h2 import H2Inputs, load_fit, with_prior
    from ..physics.parameters import preset

    if spec in ("clean", "defective"):
        try:
            inp = H2Inputs(preset(spec).replace(**overrides), source=f"preset {spec}")
        except KeyError as exc:
            raise HotcarrierError(f"--set: {exc.args[0]}") from None
    else:
        inp = load_fit(spec, base=role, overrides=overrides)
    for name, se in priors.items():
        inp = with_prior(inp, name, overrides[name], se)
    return inp


def compute(args) -> dict:
    """Run the prediction for parsed arguments; returns the JSON-able result."""
    from ..h2 import PhotonBalance, h2_ratio, parse_spectrum, plot_ratio, sensitivity

    if args.plot:
        check_out_file(args.plot, (".png", ".pdf", ".svg"))
    both, shared = _parse_sets(args.set, "--set")
    cv, cse = _parse_sets(args.set_clean, "--set-clean")
    dv, dse = _parse_sets(args.set_defective, "--set-defective")
    ci = _inputs(args.clean, "clean", {**both, **cv}, cse)
    di = _inputs(args.defective, "defective", {**both, **dv}, dse)
    spectrum = parse_spectrum(args.spectrum, args.irradiance) if args.spectrum else None
    balance = None
    if args.mass is not None or args.area is not None:
        if args.mass is None or args.area is None or args.irradiance is None:
            raise HotcarrierError("a photon balance needs --mass (g), --area (cm²) and "
                                  "--irradiance (mW cm⁻²) together")
        balance = PhotonBalance(args.mass, args.area, args.irradiance, args.absorbance,
                                args.catalyst_share)
    res = h2_ratio(ci, di, spectrum=spectrum, photon_balance=balance,
                   cds_channel=not args.no_cds_channel, injection_model=args.injection_model,
                   uncertainty=args.uncertainty, n_samples=args.samples, seed=args.seed,
                   shared_uncertainty=shared)
    out = res.to_dict()
    if args.sensitivity:
        out["sensitivity"] = sensitivity(ci, di, injection_model=args.injection_model,
                                         cds_channel=not args.no_cds_channel)
    if args.plot:
        out["figure"] = str(plot_ratio(args.plot, ci, di, ratio_value=res.value, ci95=res.ci95,
                                       injection_model=args.injection_model))
    return out


def _fmt(x, spec=".3g"):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def run(args) -> int:
    """Entry point of ``hotcarrier h2``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = compute(args)
    msgs = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if msgs:
        out.setdefault("warnings", []).extend(msgs)
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False, default=_json_default))
        return 0
    for m in msgs:
        print(f"warning: {m}", file=sys.stderr)
    c, d, r = out["clean"], out["defective"], out["ratio"]
    print(f"illumination: {c['illumination']}")
    print(f"{'':12s}{'Φ_inj':>9s}{'λ traps':>10s}{'⟨P_C→H2⟩':>11s}{'QE_H2':>11s}"
          f"{'rate µmol/g/h':>15s}")
    for name, x in (("clean", c), ("defective", d)):
        print(f"{name:12s}{_fmt(x['phi_inj'], '.4f'):>9s}{_fmt(x['mean_traps'], '.4g'):>10s}"
              f"{_fmt(x['p_c_h2']):>11s}{_fmt(x['qe_h2']):>11s}{_fmt(x['rate_umol_g_h']):>15s}")
        qci = x.get("qe_h2_ci95")
        qtxt = f"QE_H2 95 % interval [{qci[0]:.3g}, {qci[1]:.3g}]; " if qci else ""
        print(f"{'':12s}{qtxt}source: {x['source']}")
    ci = r["ci95"]
    ci_txt = (f"  95 % interval [{ci[0]:.3g}, {ci[1]:.3g}] ({r['method']})" if ci
              else "  (no uncertainty: no fit covariance)")
    print(f"ratio clean/defective: {r['value']:.4g}{ci_txt}")
    print(f"Λ_def = {d['Lambda_cm_s']:.3g} cm s⁻¹ (Λ_clean = {c['Lambda_cm_s']:.3g}); only Λ, not "
          "N_it, σ_n, E_s separately, is identifiable from H2 data")
    if "sensitivity" in out:
        s = out["sensitivity"]
        print("sensitivity (one parameter varied, §9.4):")
        for row in s["table"]:
            pairs = ", ".join(f"{v:g}: {q:.3g}" for v, q in zip(row["values"], row["ratio"]))
            print(f"  {row['parameter']:24s} {pairs}")
        e = s["elasticities"]
        print(f"  d ln r/d ln N_it,def = {e['dlnr_dlnNit_def']:.3g}, d ln r/d ln σ_n = "
              f"{e['dlnr_dlnsigma_n']:.3g}, d ln r/dE_s = {e['dlnr_dEs_per_eV']:.3g} eV⁻¹")
    if "figure" in out:
        print(f"figure: {out['figure']}")
    return 0


def _json_default(o):
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)

"""``hotcarrier demo``: the main job on the bundled data.

1. Fits the physical hot-carrier model to the bundled synthetic clean and defective Au@CdS
   datasets (mid-IR fluence series + band-gap calibration reference) and prints the
   injection quantum yield Φ_inj with its 95 % profile-likelihood interval and the true value
   the data were generated with.
2. Predicts the photocatalytic H₂ clean/defective ratio from those two fits (spec §9), with
   its uncertainty, next to the ratio of the generating parameter sets.

Figures and results go to ``--out`` (default ``hotcarrier-demo/``).
"""

from __future__ import annotations

import argparse
import json
import time

from ._options import out_dir

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Register the ``demo`` sub-command."""
    p = subparsers.add_parser(
        "demo",
        help="fit the bundled clean/defective Au@CdS data: Φ_inj with intervals, H2 ratio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="hotcarrier-demo", metavar="DIR",
                   help="folder for fit results and figures (default: hotcarrier-demo)")
    p.set_defaults(func=run)


def _true_phi(name: str) -> float | None:
    from ..bundled import datasets_dir

    try:
        import xarray as xr

        with xr.open_dataset(datasets_dir() / f"{name}.nc", engine="h5netcdf") as ds:
            return float(ds.attrs["true_injection_quantum_yield"])
    except (OSError, KeyError, ValueError):
        return None


def run(args) -> int:
    """Run the demo; prints results, writes figures under ``args.out``."""
    from ..h2 import h2_ratio, plot_ratio
    from ..io.atomic import output_set
    from ..physics import demo_fits

    out = out_dir(args)
    t_start = time.perf_counter()
    print("hotcarrier demo — bundled synthetic Au@CdS transient absorption "
          "(see datasets/README.md)")
    print("fitting the physical model (mid-IR fluence series + band-gap CdS reference, "
          "calibrated route) ...", flush=True)
    results = demo_fits(out)
    truth = {name: _true_phi(name) for name, _, _ in results}
    print(f"\n  {'interface':<12} {'Φ_inj':>7}   {'95 % interval':<17} {'true':>6}")
    for name, value, ci in results:
        label = name.removeprefix("au_cds_")
        true_s = "   n/a" if truth[name] is None else f"{truth[name]:6.4f}"
        print(f"  {label:<12} {value:7.4f}   [{ci[0]:.4f}, {ci[1]:.4f}]  {true_s}")
    print("  (Liu et al., Nano Energy 2018: ≈0.48 for clean cation-exchange interfaces)")
    fitted = h2_ratio(out / "au_cds_clean", out / "au_cds_defective")
    preset = h2_ratio("clean", "defective", uncertainty="none")
    print("\nH2 evolution (spec §9, 2.1 eV plasmon excitation, slow parameters at defaults):")
    print(f"  from the two fits:            {fitted.summary()}")
    print(f"  from the generating presets:  ratio {preset.value:.3g}")
    print("  (Liu et al. 2018 report clean samples 2–3 orders of magnitude more active;"
          " only Λ = N_it σ_n v_th exp(−E_s/k_BT) is identifiable, see docs/h2.md)")
    summary = {
        "injection_quantum_yield": {n: {"value": v, "ci95": list(c), "true": truth[n]}
                                    for n, v, c in results},
        "h2_ratio": fitted.to_dict()["ratio"],
        "h2_ratio_presets": preset.value,
        "wall_time_s": time.perf_counter() - t_start,
    }
    with output_set(out, replaces=("h2_ratio.png", "demo_summary.json"), command="demo") as stage:
        plot_ratio(stage / "h2_ratio.png", ratio_value=fitted.value, ci95=fitted.ci95)
        (stage / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nresults and figures: {out}/ (au_cds_clean/, au_cds_defective/, h2_ratio.png, "
          f"demo_summary.json); {summary['wall_time_s']:.1f} s")
    return 0

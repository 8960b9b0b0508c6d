"""``hotcarrier optics``: cross-sections of an Au@CdS particle in water (spec §2, Module A).

    hotcarrier optics [--core-radius 7.5] [--shell 5] [--from 400 --to 800 --step 1]
                      [--surface-damping bulk|default|A] [--pump NM] [--out FILE.csv]

Prints the plasmon resonance, its σ_ext and σ_sca/σ_ext and, with ``--pump``, σ_abs and the
absorbed photons per particle per µJ cm⁻² at the pump; ``--out`` writes the spectrum (σ_ext,
σ_sca, σ_abs, σ_abs,Au, σ_abs,CdS in cm², ξ_ib, photons per µJ cm⁻²) as CSV, atomically.
"""

from __future__ import annotations

from ._options import check_out_file, non_negative, positive

__all__ = ["add_parser", "run", "spectrum_csv"]


def add_parser(subparsers) -> None:
    """Register ``hotcarrier optics``."""
    p = subparsers.add_parser(
        "optics", help="cross-sections and absorbed photons of an Au@CdS particle",
        description="Quasi-static coated-sphere optics of an Au core in a CdS shell in water "
                    "(Johnson–Christy Au, Treharne CdS; spec §2): plasmon resonance, "
                    "σ_ext/σ_sca/σ_abs, the Au/CdS split of absorption and the photons "
                    "absorbed per particle per µJ cm⁻².")
    p.add_argument("--core-radius", type=positive, default=7.5, metavar="NM",
                   help="Au core radius R1 in nm (default 7.5)")
    p.add_argument("--shell", type=non_negative, default=5.0, metavar="NM",
                   help="CdS shell thickness in nm (default 5; 0 = bare Au)")
    p.add_argument("--from", dest="lo", type=positive, default=400.0, metavar="NM",
                   help="first wavelength of the spectrum, nm (default 400)")
    p.add_argument("--to", dest="hi", type=positive, default=800.0, metavar="NM",
                   help="last wavelength of the spectrum, nm (default 800)")
    p.add_argument("--step", type=positive, default=1.0, metavar="NM",
                   help="wavelength step, nm (default 1)")
    p.add_argument("--medium-index", type=positive, default=1.333, metavar="N",
                   help="refractive index of the medium (default 1.333, water)")
    p.add_argument("--surface-damping", default="bulk", metavar="bulk|default|A",
                   help="Drude surface damping: 'bulk' (Johnson–Christy as measured, the "
                        "spec's table A.4; default), 'default' (A = 0.3 for R1 < 10 nm) or a "
                        "coefficient A")
    p.add_argument("--pump", type=positive, metavar="NM",
                   help="pump wavelength, nm: print σ_abs and photons per µJ cm⁻² there")
    p.add_argument("--out", metavar="FILE", help="write the spectrum as CSV (.csv)")
    p.set_defaults(func=run)


def _damping(text: str):
    from ..errors import OptionError

    if text == "bulk":
        return 0.0
    if text == "default":
        return None
    try:
        a = float(text)
    except ValueError:
        a = -1.0
    if not 0.0 <= a <= 10.0:
        raise OptionError(f"--surface-damping {text!r}: give 'bulk', 'default' or a "
                          "coefficient A from 0 to 10 (the spec's range is 0.1–1)")
    return a


def spectrum_csv(lam, parts, sections, photons, header: list[str]) -> str:
    """The spectrum as CSV text: ``#`` header lines, a column row, one row per wavelength."""
    cols = ("wavelength_nm", "sigma_ext_cm2", "sigma_sca_cm2", "sigma_abs_cm2",
            "sigma_abs_au_cm2", "sigma_abs_cds_cm2", "xi_ib", "photons_per_uJ_cm2")
    lines = [f"# {h}" for h in header] + [",".join(cols)]
    for row in zip(lam, sections.ext, sections.sca, sections.abs, parts.abs_au, parts.abs_cds,
                   parts.xi_ib, photons):
        lines.append(f"{row[0]:.6g}," + ",".join(f"{float(v):.6e}" for v in row[1:]))
    return "\n".join(lines) + "\n"


def run(args) -> int:
    """Compute and print the optics; write the CSV with ``--out``."""
    import numpy as np

    from ..errors import OptionError
    from ..physics import optics
    from ..units import HC_EV_NM, Q_E
    from ._options import write_text

    if not args.lo < args.hi:
        raise OptionError(f"--from {args.lo:g} --to {args.hi:g}: the first wavelength must be "
                          "the smaller")
    for opt, v in (("--from", args.lo), ("--to", args.hi), ("--pump", args.pump)):
        if v is not None:
            optics.check_wavelength_nm(v, opt, bare=args.shell == 0)
    if args.out:
        check_out_file(args.out, (".csv",))
    a = _damping(args.surface_damping)
    r1 = args.core_radius
    r2 = r1 + args.shell
    optics.check_particle(r1, r2, [args.lo] + ([] if args.pump is None else [args.pump]),
                          n_medium=args.medium_index)
    n = round((args.hi - args.lo) / args.step) + 1
    if n > 200_001:
        raise OptionError(f"--step {args.step:g}: {n} wavelengths; use a larger step")
    lam = args.lo + args.step * np.arange(n)
    lam = lam[lam <= args.hi + 1e-9]
    kw = {"n_medium": args.medium_index, "surface_damping_A": a}
    s = optics.cross_sections(lam, r1, r2, **kw)
    parts = optics.absorption_partition(lam, r1, r2, **kw)
    photons = 1e-6 / (HC_EV_NM / lam * Q_E) * np.asarray(s.abs)  # per µJ cm⁻²
    peak = float(optics.lspr_peak_nm(r1, r2, lo_nm=400.0, hi_nm=900.0, **kw))
    sp = optics.cross_sections(peak, r1, r2, **kw)
    damping = ("bulk Johnson–Christy" if a == 0.0 else
               f"surface damping A = {optics.SURFACE_DAMPING_A if a is None else a:g}"
               + (" (off: R1 >= 10 nm)" if a is None and r1 >= 10 else ""))
    what = (f"Au R = {r1:g} nm" if r2 == r1 else f"Au@CdS R1/R2 = {r1:g}/{r2:g} nm")
    resonance = (f"plasmon resonance {peak:.1f} nm ({HC_EV_NM / peak:.3f} eV): σ_ext "
                 f"{float(sp.ext):.3e} cm², σ_sca/σ_ext {100 * float(sp.sca / sp.ext):.3g} %")
    lines = [f"{what} in n = {args.medium_index:g}, {damping}", resonance]
    if args.pump is not None:
        pa = optics.absorption_partition(args.pump, r1, r2, **kw)
        per = 1e-6 / (HC_EV_NM / args.pump * Q_E) * float(pa.abs)
        cds = max(0.0, 100 * float(pa.cds_share))
        lines.append(f"pump {args.pump:g} nm: σ_abs {float(pa.abs):.3e} cm² (CdS {cds:.1f} %, "
                     f"interband {100 * float(pa.xi_ib):.0f} % of the Au part), {per:.3g} "
                     "photons per particle per µJ cm⁻²")
    print("\n".join(lines))
    if args.out:
        note = ("hotcarrier optics (spec §2 Module A; docs/physics-optics.md); σ in cm², "
                "ξ_ib = interband share of the Au absorption")
        header = [*lines, note]
        write_text(args.out, spectrum_csv(lam, parts, s, photons, header))
        print(f"wrote {args.out} ({lam.size} wavelengths)")
    return 0

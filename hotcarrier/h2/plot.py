"""Figure of the clean/defective ratio against Λ and against the defective trap density.

matplotlib is imported lazily and no backend is chosen: the figure is a bare
:class:`matplotlib.figure.Figure` (no pyplot), written atomically with
:func:`hotcarrier.plotting.save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._x64 import with_x64
from ..errors import OptionError
from ..plotting import save_figure
from .load import as_inputs
from .ratio import lambda_composite, ratio_sweep

__all__ = ["plot_ratio", "ratio_vs_trap_density"]


@with_x64
def ratio_vs_trap_density(clean="clean", defective="defective", *, n_points: int = 61,
                          injection_model: str = "all_above") -> dict:
    """Ratio along three routes to the same composite Λ_def (cm s⁻¹).

    Returns arrays: ``N_it_def`` (cm⁻², 1e11…1e14) with ``Lambda_Nit`` and ``ratio_Nit``;
    ``sigma_n`` (cm², 1e-16…1e-14, both sets) with ``Lambda_sigma`` and ``ratio_sigma``;
    ``E_s`` (eV, 0.2…0.4, both sets) with ``Lambda_Es`` and ``ratio_Es``.
    The three curves do not collapse exactly: σ_n and N_it also set the ps trapping m k₁ (TA),
    E_s does not.
    """
    ci, di = as_inputs(clean, "clean"), as_inputs(defective, "defective")
    out = {"Lambda_default": float(lambda_composite(di.params))}
    for key, name, fld, vals, which in (
            ("Nit", "N_it_def", "N_it_cm2", np.geomspace(1e11, 1e14, n_points), "defective"),
            ("sigma", "sigma_n", "sigma_n_cm2", np.geomspace(1e-16, 1e-14, n_points), "both"),
            ("Es", "E_s", "E_s_eV", np.linspace(0.20, 0.40, n_points), "both")):
        out[name] = vals
        out[f"Lambda_{key}"] = np.asarray(lambda_composite(di.params.replace(**{fld: vals})))
        out[f"ratio_{key}"] = ratio_sweep(fld, vals, ci, di, which=which,
                                          injection_model=injection_model)
    return out


def plot_ratio(path, clean="clean", defective="defective", *, ratio_value: float | None = None,
               ci95=None, injection_model: str = "all_above", dpi: int = 150) -> Path:
    """Write the two-panel figure (ratio vs Λ_def; ratio vs N_it,def), marking 100 and 1000.

    ``ratio_value``/``ci95`` (optional) mark a predicted ratio with its interval.
    Returns the path written. Formats follow the file suffix (png, pdf, svg).
    """
    path = Path(path)
    if not path.parent.exists():
        raise OptionError(f"{path}: folder {path.parent} does not exist\n  fix: create it "
                          "or choose another --plot path")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    fmt = path.suffix.lstrip(".").lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise OptionError(f"{path}: matplotlib cannot write the format {fmt!r}\n  fix: use one "
                          f"of the suffixes {sorted(fig.canvas.get_supported_filetypes())}")
    d = ratio_vs_trap_density(clean, defective, injection_model=injection_model)
    di = as_inputs(defective, "defective")
    a1, a2 = fig.subplots(1, 2)
    a1.loglog(d["Lambda_Nit"], d["ratio_Nit"], label="vary N_it,def")
    a1.loglog(d["Lambda_sigma"], d["ratio_sigma"], "--", label="vary σ_n (both)")
    a1.loglog(d["Lambda_Es"], d["ratio_Es"], ":", label="vary E_s (both)")
    a1.axvline(d["Lambda_default"], color="0.6", lw=0.8)
    a1.set_xlabel("Λ_def = N_it σ_n v_th exp(−E_s/k_BT)  (cm s⁻¹)")
    a1.set_ylabel("QE_H2 clean / defective")
    a2.loglog(d["N_it_def"], d["ratio_Nit"], color="C0")
    a2.axvline(float(di.params.N_it_cm2), color="0.6", lw=0.8)
    a2.set_xlabel("defective N_it (cm⁻²)")
    for ax in (a1, a2):
        for t in (100, 1000):
            ax.axhline(t, color="k", lw=0.8, ls="-.")
            ax.annotate(str(t), (ax.get_xlim()[0], t), textcoords="offset points",
                        xytext=(3, 2), fontsize=8)
        if ratio_value is not None:
            ax.axhline(ratio_value, color="C3", lw=1.0, label=f"predicted {ratio_value:.3g}")
            if ci95 is not None:
                ax.axhspan(ci95[0], ci95[1], color="C3", alpha=0.15, label="95 % interval")
        ax.grid(True, which="major", alpha=0.3)
    a1.legend(fontsize=8)
    a1.set_title("only Λ is identifiable from H2 data", fontsize=9)
    return save_figure(fig, path, dpi)

"""Regenerate the bundled synthetic Au@CdS mid-IR datasets (deterministic: fixed seeds).

    python datasets/generate.py            # writes datasets/au_cds_clean.nc, au_cds_defective.nc

An independent numpy generator: no hotcarrier kinetics and no analytic exp⊗Gauss kernel. The
injected-electron populations are built on a 1 fs grid, the injection rise and the Gaussian IRF
are applied by direct numerical convolution (Gauss–Hermite quadrature for delays beyond 3 ps),
and the signal is the Beer–Lambert change of real units,

    ΔOD(t) = σ_CB n_e(t) ℓ / ln 10,   n_e = Φ_inj ρ_abs [IRF ⊗ rise ⊗ D](t),
    ρ_abs = (F/ħω)(1 − 10^−A)/ℓ,

with σ_CB = 1.0×10⁻¹⁶ cm² (CdS conduction-band electrons at a 4.8 µm probe, spec §14b: the
Drude estimate spans 2×10⁻¹⁷–7×10⁻¹⁶ cm²), a 50 µm D₂O cell (transparent at 4.8 µm), pump
fluences of 2, 5 and 10 µJ cm⁻² and white noise of 10 µOD (clean; a good mid-IR noise floor) or
5 µOD (the weaker defective sample, averaged 4× longer). The
recombination D(t) is *not* a form of the fit models (see :data:`SETS`), and the band-gap
reference's cross-section is q_ref = σ_CB,ref/σ_CB,s = 1.12 times the sample's (the fit is told
1.00 ± 0.15, so the truth sits 0.8σ off the prior's centre). Every dataset's attributes record
the nominal quantities a lab would have (fluence, absorbance, path, ρ_abs) and the truth
(``true_injection_quantum_yield``, ``true_q_ref``, ``generating_parameters``). Each file is a
bundle written by :func:`hotcarrier.physics.simulate.write_bundle` (the package's file layout
only): root = the 10 µJ cm⁻² sample trace; groups ``midir_F2.000``, ``midir_F5.000``,
``reference`` (datasets/README.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

__all__ = ["SETS", "SIGMA_CB_CM2", "Q_REF_TRUE", "decay", "delays", "convolved",
           "absorbed_photon_density", "delta_od", "bundle", "main"]

H_C_EV_NM = 1239.841984  # hc, eV nm
EV_J = 1.602176634e-19
SIGMA_CB_CM2 = 1.0e-16  # sample CB-electron absorption cross-section at the probe, cm²
Q_REF_TRUE = 1.12  # σ_CB,ref/σ_CB,s of the generator (prior of the fit: 1.00 ± 0.15)
PATH_CM = 0.005  # 50 µm D₂O cell, sample and reference
PROBE_NM = 4800.0
PUMP_NM, REF_PUMP_NM = 590.0, 400.0
A_SAMPLE, A_REF = 0.30, 0.25  # pump absorbances (OD)
FLUENCES = (2.0, 5.0, 10.0)  # sample, µJ cm⁻²
F_REF = 5.0  # reference, µJ cm⁻²
IRF_FWHM_PS = 0.150
T0_S, T0_R = 0.030, -0.020  # time zero of sample and reference, ps
NOISE_DEFECTIVE = 5e-6  # the weaker sample averaged 4× longer (noise ∝ 1/√shots)
PHOTONS_PER_PARTICLE_PER_UJ = 18.4  # ⟨N_abs⟩ per µJ cm⁻² at 590 nm, 15 nm core (spec §2 A.4)

SETS = {
    # name: seed, true Φ_inj, injection rise τ (ps), noise σ (OD), decay of the injected
    # electrons (the formula is :func:`decay`)
    "au_cds_clean": dict(
        seed=20240601, phi=0.4812, rise_ps=0.030, noise_od=10e-6,
        decay="0.5 e^{-t/1.2 ps} + 0.3 e^{-t/30 ps} + 0.2 e^{-t/400 ps} (non-exponential "
              "recombination as Du et al. 2009 report)"),
    "au_cds_defective": dict(
        seed=20240602, phi=0.0910, rise_ps=0.300, noise_od=NOISE_DEFECTIVE,
        decay="(1 + t/5 ps)^-0.8 (dispersive trapping at a disordered interface) after a "
              "resolvable 300 fs injection rise"),
}
REFERENCE_DECAY = "0.4 e^{-t/10 ps} + 0.35 e^{-t/250 ps} + 0.25 e^{-t/3000 ps}"


def decay(name: str, t):
    """Normalised decay D(t) (D(0) = 1) of the CB electrons, t ≥ 0 in ps."""
    t = np.asarray(t, float)
    if name == "au_cds_clean":
        return 0.5 * np.exp(-t / 1.2) + 0.3 * np.exp(-t / 30.0) + 0.2 * np.exp(-t / 400.0)
    if name == "au_cds_defective":
        return (1.0 + t / 5.0) ** -0.8
    if name == "reference":
        return 0.4 * np.exp(-t / 10.0) + 0.35 * np.exp(-t / 250.0) + 0.25 * np.exp(-t / 3000.0)
    raise KeyError(name)


def delays():
    """160 delays (ps): 10 before zero, 60 on 50 fs steps to 2.95 ps, 90 log-spaced to 2 ns."""
    return np.concatenate([np.linspace(-1.0, -0.1, 10), np.arange(60) * 0.05,
                           np.geomspace(3.0, 2000.0, 90)])


def population(name: str, t, rise_ps: float, du: float = 1e-3):
    """IRF-free population per injected electron, [r ⊗ D](t) with r(u) = e^{−u/τ}/τ, by the
    trapezoid rule on a ``du`` grid (zero before t = 0); ``rise_ps`` = 0: D(t)."""
    t = np.atleast_1d(np.asarray(t, float))
    if rise_ps <= 0.0:
        return np.where(t > 0, decay(name, np.maximum(t, 0.0)), 0.0)
    u = np.arange(0.0, 20.0 * rise_ps + du, du)
    r = np.exp(-u / rise_ps) / rise_ps
    tt = t[:, None] - u[None, :]
    f = np.where(tt >= 0, r[None, :] * decay(name, np.maximum(tt, 0.0)), 0.0)
    out = np.trapezoid(f, u, axis=1)
    return np.where(t > 0, out, 0.0)


def convolved(name: str, t, t0: float, rise_ps: float):
    """Gaussian-IRF-convolved population at delays ``t`` (ps): a 1 fs grid convolution within
    3 ps of t0, Gauss–Hermite (60 nodes) of the smooth population beyond."""
    sigma = IRF_FWHM_PS / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    tau = np.asarray(t, float) - t0
    y = np.zeros_like(tau)
    near = tau < 3.0
    grid = np.arange(-1.5, 3.5, 1e-3)
    n = population(name, grid, rise_ps)
    g = np.exp(-0.5 * ((tau[near, None] - grid[None, :]) / sigma) ** 2) \
        / (sigma * math.sqrt(2.0 * math.pi))
    y[near] = np.trapezoid(g * n[None, :], grid, axis=1)
    x, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    far = np.flatnonzero(~near)
    pts = (tau[far, None] - sigma * x[None, :]).ravel()
    y[far] = (population(name, pts, rise_ps).reshape(far.size, x.size) * w).sum(axis=1)
    return y


def absorbed_photon_density(fluence_uJ_cm2: float, pump_nm: float, absorbance: float,
                            path_cm: float = PATH_CM) -> float:
    """ρ_abs = (F/ħω)(1 − 10^−A)/ℓ, photons cm⁻³."""
    photons = fluence_uJ_cm2 * 1e-6 / (H_C_EV_NM / pump_nm * EV_J)
    return photons * (1.0 - 10.0 ** -absorbance) / path_cm


def delta_od(electrons_cm3, sigma_cm2: float, path_cm: float = PATH_CM):
    """Beer–Lambert ΔOD = σ n ℓ / ln 10 of an electron density n (cm⁻³)."""
    return sigma_cm2 * np.asarray(electrons_cm3) * path_cm / math.log(10.0)


def bundle(name: str) -> dict:
    """Name → TA dataset (mOD, weight 1/σ) of one synthetic measurement."""
    from hotcarrier.dataset import make_ta_dataset

    s = SETS[name]
    rng = np.random.default_rng(s["seed"])
    t = delays()
    ys = convolved(name, t, T0_S, s["rise_ps"])
    yr = convolved("reference", t, T0_R, 0.0)  # band-gap excitation: CB electrons at once
    truth = {"generator": "datasets/generate.py (independent numpy generator)",
             "sigma_cb_sample_cm2": SIGMA_CB_CM2, "q_ref": Q_REF_TRUE,
             "injection_quantum_yield": s["phi"], "injection_rise_ps": s["rise_ps"],
             "sample_decay": s["decay"], "reference_decay": REFERENCE_DECAY,
             "reference_yield": 1.0, "irf_fwhm_fs": 1e3 * IRF_FWHM_PS,
             "t0_ps": T0_S, "t0_ref_ps": T0_R, "noise_OD": s["noise_od"], "path_cm": PATH_CM,
             "interface": {}}
    common = {
        "synthetic": 1, "title": f"Synthetic Au@CdS mid-IR TA ({name.removeprefix('au_cds_')} "
        "interface)", "generator": "datasets/generate.py (independent numpy generator)",
        "generating_parameters": json.dumps(truth), "seed": int(s["seed"]),
        "noise_mOD": 1e3 * s["noise_od"], "true_injection_quantum_yield": s["phi"],
        "true_q_ref": Q_REF_TRUE, "irf_fwhm_fs": 1e3 * IRF_FWHM_PS,
        "metadata_text": "SYNTHETIC DATA from an independent numpy generator (datasets/"
                         "generate.py): realistic cross-section, fluences and noise, "
                         "non-exponential recombination, q_ref = 1.12; not a measurement.",
        "probe": "midir", "probe_wavelength_nm": PROBE_NM, "path_length_cm": PATH_CM,
        "solvent": "D2O"}
    sig = 1e3 * s["noise_od"]
    out = {}

    def member(y_od, **attrs):
        noisy = 1e3 * y_od + rng.normal(0.0, sig, t.size)
        return make_ta_dataset(t, [PROBE_NM], noisy[:, None], signal_units="mOD",
                               weight=np.full((t.size, 1), 1.0 / sig),
                               attrs={**common, **attrs,
                                      "history": [f"generated (seed {s['seed']}, noise "
                                                  f"{sig} mOD)"]})

    for F in FLUENCES:
        rho = absorbed_photon_density(F, PUMP_NM, A_SAMPLE)
        key = f"midir_F{F:.3f}"
        out[key] = member(delta_od(s["phi"] * rho * ys, SIGMA_CB_CM2), bundle_member=key,
                          hotcarrier_role="sample", pump_wavelength_nm=PUMP_NM,
                          pump_fluence_uJ_cm2=F, pump_absorbance=A_SAMPLE,
                          absorbed_photon_density_cm3=rho,
                          mean_absorbed_photons_per_particle=PHOTONS_PER_PARTICLE_PER_UJ * F)
    rho = absorbed_photon_density(F_REF, REF_PUMP_NM, A_REF)
    out["reference"] = member(
        delta_od(rho * yr, Q_REF_TRUE * SIGMA_CB_CM2), bundle_member="reference",
        hotcarrier_role="reference", sample="bare CdS nanocrystals, band-gap excited "
        "(reference) — SYNTHETIC", pump_wavelength_nm=REF_PUMP_NM, pump_fluence_uJ_cm2=F_REF,
        pump_absorbance=A_REF, absorbed_photon_density_cm3=rho,
        electrons_per_absorbed_photon=1.0)
    return out


def main() -> None:
    from hotcarrier.physics.simulate import write_bundle

    for name in SETS:
        path = write_bundle(bundle(name), HERE / f"{name}.nc")
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

"""Synthetic Au@CdS transient-absorption data from the physical model (issue #4, spec §7).

One *bundle* holds the measurements a calibrated injection-yield experiment needs:

* ``midir_F0.020``, ``midir_F0.050``, ``midir_F0.100`` – sample mid-IR traces (probe 3440 nm,
  pump 590 nm) at three low fluences (µJ cm⁻²): a fluence series in the linear regime
  (⟨N_abs⟩ = 18.4 per µJ cm⁻² [C] ⇒ 0.37–1.84 photons per particle, spec §6.5);
* ``reference`` – band-gap-excited CdS reference (pump 400 nm), one CB electron per absorbed
  photon, same probe: fixes the electron absorption cross-section (spec §7.1);
* ``visible`` – white-light map 450–700 nm with chirp and coherent artefact (spec §7.2–7.3).

A bundle is stored as ONE netCDF-4 file: the root group is the highest-fluence mid-IR trace (so
any TA tool, e.g. :func:`hotcarrier.io.load_ta`, opens it as a plain TA dataset) and every
other member is a netCDF group of the same name; each member is a TA dataset following
``docs/dataset.md`` with attributes saying it is synthetic and how it was made
(``synthetic``, ``generator``, ``generating_parameters`` (JSON), ``seed``, ``noise_mOD``,
``hotcarrier_role``, ``probe``, ``absorbed_photon_density_cm3``, ...).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .._x64 import with_x64
from ..dataset import make_ta_dataset
from ..errors import DataFormatError
from ..io.atomic import atomic_path
from . import observables as ob
from .excitation import absorbed_photon_density, mean_absorbed_photons
from .injection import injection_quantum_yield
from .parameters import InterfaceParams, preset
from .traps import long_lived_fraction, m_max

LINEAR_REGIME_MAX_NABS = 2.0  # ⟨N_abs⟩ ≤ 2: Φ_inj fluence-independent within 1 % (spec V16)
MIDIR_PROBE_NM = 3440.0  # mid-IR probe (Du et al. [V])
PUMP_NM = 590.0
REF_PUMP_NM = 400.0
FLUENCES = (0.02, 0.05, 0.1)  # µJ cm⁻²

DEFAULT_OBS = ob.ObservableParams(
    kappa_mOD=1.0, r_LL=1.0, r_T=0.2, beta_au_mOD_K=0.004, t0_ps=0.03,
    art_midir=(0.0, 0.0, 0.0), q_ref=1.0, tau_ref_ps=100.0, tau_ref_trap_ns=1.0,
    t0_ref_ps=-0.02, art_ref=(0.0, 0.0, 0.0), chirp_c1_ps_nm=-1.2e-3,
    chirp_c2_ps_nm2=4e-6, lambda_ref_nm=550.0)
"""Observable parameters of the bundled synthetic data (amplitude scale κ is arbitrary: it is
what the reference calibrates; the bundled signals are ~1 mOD for convenience)."""


def midir_delays():
    """Delay grid of the mid-IR traces (160 delays, −0.6 … 2000 ps), ps."""
    return np.concatenate([np.linspace(-0.6, 1.5, 64), np.geomspace(1.6, 2000.0, 96)])


def visible_delays():
    """Delay grid of the visible map (90 delays, −0.6 … 1000 ps), ps."""
    return np.concatenate([np.linspace(-0.6, 1.5, 40), np.geomspace(1.6, 1000.0, 50)])


def visible_wavelengths():
    """Probe wavelengths of the visible map (51, 450–700 nm), nm."""
    return np.linspace(450.0, 700.0, 51)


_midir_jit = jax.jit(ob.midir_signal, static_argnames=("model", "n_max"))
_ref_jit = jax.jit(ob.reference_signal)
_vis_jit = jax.jit(ob.visible_signal, static_argnames=("model", "n_max"))


def _params_json(p: InterfaceParams, o: ob.ObservableParams) -> str:
    def plain(d):
        return {k: (list(v) if isinstance(v, tuple) else float(v)) for k, v in d.items()}

    return json.dumps({"interface": plain(dataclasses.asdict(p)),
                       "observables": plain(dataclasses.asdict(o))})


@with_x64
def simulate_bundle(params: InterfaceParams | str = "clean", obs: ob.ObservableParams | None = None,
                    *, seed: int = 0, noise_mOD: float = 0.01, fluences=FLUENCES,
                    include_visible: bool = True, model: str = "all_above",
                    label: str | None = None) -> dict[str, xr.Dataset]:
    """Simulate a bundle of synthetic TA measurements (see the module docstring).

    ``params``: InterfaceParams or a preset name; ``obs`` default :data:`DEFAULT_OBS`; ``seed``
    of the numpy Gaussian noise; ``noise_mOD``: σ of the mid-IR noise (visible 2×), stored as
    ``weight`` = 1/σ; ``fluences`` (µJ cm⁻²) of the sample series; ``label`` names the
    parameter set in the metadata (default: the preset name). Returns name → dataset.
    """
    if isinstance(params, str):
        label = label or params
        params = preset(params)
    label = label or "custom"
    o = DEFAULT_OBS if obs is None else obs
    rng = np.random.default_rng(seed)
    phi = float(injection_quantum_yield(params, model))
    pjson = _params_json(params, o)
    common = {
        "synthetic": 1,
        "title": f"Synthetic Au@CdS TA data ({label} interface)",
        "sample": f"Au@CdS core–shell, R1 = {params.R1_nm} nm, shell {params.d_shell_nm} nm "
                  f"({label} interface) — SYNTHETIC",
        "generator": "hotcarrier.physics.simulate.simulate_bundle (linear model, spec §5, §7)",
        "parameter_set": label,
        "generating_parameters": pjson,
        "barrier_model": model,
        "seed": int(seed),
        "noise_mOD": float(noise_mOD),
        "true_injection_quantum_yield": phi,
        "true_long_lived_fraction": float(long_lived_fraction(params)),
        "irf_fwhm_fs": float(params.irf_fwhm_fs),
        "metadata_text": ("SYNTHETIC DATA generated by hotcarrier from the linear hot-carrier "
                          "model (spec §5, §7) with Gaussian noise; not a measurement."),
    }
    out: dict[str, xr.Dataset] = {}

    def member(t, wl, sig, noise, **attrs):
        """One bundle member: ``sig`` plus Gaussian noise (σ = ``noise``, mOD), weight 1/σ."""
        noisy = sig + noise * rng.standard_normal(sig.shape)
        history = [f"simulated (seed {seed}, noise {noise} mOD)"]
        return make_ta_dataset(t, wl, noisy, signal_units="mOD",
                               weight=np.full(sig.shape, 1.0 / noise),
                               attrs={**common, **attrs, "history": history})

    n_max = m_max(params.mean_traps)  # the exact truncated Poisson sum of spec §8.4
    t = jnp.asarray(midir_delays())
    midir = dict(probe="midir", probe_wavelength_nm=MIDIR_PROBE_NM, path_length_cm=0.1)
    for F in fluences:
        rho = absorbed_photon_density(F, PUMP_NM, 0.5, 0.1)
        sig = np.asarray(_midir_jit(t, params, o, rho * 1e-12, model=model, n_max=n_max))
        name = f"midir_F{F:.3f}"
        out[name] = member(
            t, [MIDIR_PROBE_NM], sig[:, None], noise_mOD, **midir, bundle_member=name,
            hotcarrier_role="sample", pump_wavelength_nm=PUMP_NM, pump_fluence_uJ_cm2=float(F),
            pump_absorbance=0.5, absorbed_photon_density_cm3=rho,
            mean_absorbed_photons_per_particle=float(mean_absorbed_photons(F, params)))
    rho_ref = absorbed_photon_density(0.1, REF_PUMP_NM, 0.3, 0.1)
    sig = np.asarray(_ref_jit(t, params, o, rho_ref * 1e-12))
    out["reference"] = member(
        t, [MIDIR_PROBE_NM], sig[:, None], noise_mOD, **midir, bundle_member="reference",
        hotcarrier_role="reference",
        sample="bare CdS nanocrystals, band-gap excited (reference) — SYNTHETIC",
        pump_wavelength_nm=REF_PUMP_NM, pump_fluence_uJ_cm2=0.1, pump_absorbance=0.3,
        absorbed_photon_density_cm3=rho_ref, electrons_per_absorbed_photon=1.0)
    if include_visible:
        tv = jnp.asarray(visible_delays())
        wl = visible_wavelengths()
        rho = absorbed_photon_density(max(fluences), PUMP_NM, 0.5, 0.1)
        spectra = ob.default_visible_spectra(wl)
        x = (wl - 575.0) / 125.0
        art = np.stack([0.02 * (1 + 0.5 * x), 0.0015 * x, -1e-5 * np.ones_like(x)], axis=1)
        sig = np.asarray(_vis_jit(tv, jnp.asarray(wl), params, o, rho * 1e-12, spectra,
                                  jnp.asarray(art), model=model, n_max=n_max))
        out["visible"] = member(
            tv, wl, sig, 2.0 * noise_mOD, bundle_member="visible", hotcarrier_role="sample",
            probe="visible", pump_wavelength_nm=PUMP_NM,
            pump_fluence_uJ_cm2=float(max(fluences)), pump_absorbance=0.5, path_length_cm=0.1,
            absorbed_photon_density_cm3=rho,
            mean_absorbed_photons_per_particle=float(mean_absorbed_photons(max(fluences), params)),
            visible_species=",".join(ob.VISIBLE_SPECIES))
    return out


# ------------------------------------------------------------------------------ file I/O
def _nc_attrs(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if isinstance(v, (bool, np.bool_)):
            v = int(v)
        elif v is None:
            v = ""
        elif isinstance(v, (list, tuple, dict)):
            v = json.dumps(v, default=str)
        out[k] = v
    return out


def _root_member(bundle: dict[str, xr.Dataset]) -> str:
    mids = [k for k, d in bundle.items() if d.attrs.get("hotcarrier_role") == "sample"
            and d.attrs.get("probe") == "midir"]
    return sorted(mids)[-1] if mids else next(iter(bundle))


def write_bundle(bundle: dict[str, xr.Dataset], path) -> Path:
    """Write a bundle as one netCDF-4 file (root = highest-fluence mid-IR trace), atomically."""
    path = Path(path)
    if not path.parent.exists():
        raise DataFormatError(path, "the output folder does not exist", "create it first")
    root = _root_member(bundle)
    with atomic_path(path) as tmp:
        for name in [root] + [k for k in bundle if k != root]:
            ds = bundle[name].copy()
            ds.attrs = _nc_attrs(ds.attrs)
            for v in ds.variables:
                ds[v].attrs = _nc_attrs(ds[v].attrs)
            first = name == root
            ds.to_netcdf(tmp, mode="w" if first else "a", group=None if first else name,
                         engine="h5netcdf")
    return path


def read_bundle(path) -> dict[str, xr.Dataset]:
    """Read every TA dataset of a file: the root group and each sub-group (by name)."""
    import h5netcdf

    path = Path(path)
    if not path.exists():
        raise DataFormatError(path, "file not found")
    try:
        with h5netcdf.File(path, "r") as f:
            groups = list(f.groups)
    except OSError as exc:
        raise DataFormatError(path, f"not a netCDF-4 file ({exc})",
                              "pass a bundle written by `hotcarrier simulate`") from None
    out = {}
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        root = ds.load()
    out[str(root.attrs.get("bundle_member", path.stem))] = root
    for g in groups:
        with xr.open_dataset(path, group=g, engine="h5netcdf") as ds:
            out[g] = ds.load()
    for ds in out.values():
        history = ds.attrs.get("history")
        if isinstance(history, str) and history.startswith("["):
            try:
                ds.attrs["history"] = "\n".join(json.loads(history))
            except ValueError:
                pass
    return out


def true_values(ds: xr.Dataset) -> dict:
    """The generating parameters stored in a synthetic dataset's metadata (JSON decoded)."""
    return json.loads(ds.attrs["generating_parameters"])


def simulate_to_file(path, params="clean", **kwargs) -> Path:
    """:func:`simulate_bundle` then :func:`write_bundle`."""
    return write_bundle(simulate_bundle(params, **kwargs), path)


__all__ = ["simulate_bundle", "write_bundle", "read_bundle", "simulate_to_file", "true_values",
           "DEFAULT_OBS", "FLUENCES", "midir_delays", "visible_delays", "visible_wavelengths",
           "LINEAR_REGIME_MAX_NABS"]

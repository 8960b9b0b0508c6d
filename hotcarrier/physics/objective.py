"""The physical model as an objective of the shared engine: residual, amplitudes, data.

The fit is global over a sample fluence series (mid-IR traces, spec §7.4) and a band-gap
calibration reference (spec §7.1, "calibrated route"): all share the kinetics, the IRF and
the electron absorption cross-section κ = σ_CB ℓ/ln10, so that

    Φ_inj = [A_s/ρ_abs,s] / [A_ref/ρ_abs,ref] · (σ_CB,ref/σ_CB,s)

is what the amplitudes determine. The model of each trace is that of
:mod:`hotcarrier.physics.observables`; the amplitudes that enter linearly (κ, the metal
response β_Au, the coherent-artefact terms of sample and reference) are eliminated by
variable projection (:func:`hotcarrier.fitting.projection.linear_least_squares`) inside the
residual. The nonlinear parameters are the :data:`~hotcarrier.physics.modelfile.CANDIDATES`
in unconstrained coordinates (:func:`hotcarrier.fitting.params.to_physical`, in log space for
positive quantities); the fixed ones are *pinned* by a traced mask, so every fit with data of
the same shapes (any preset, any free set, every profile-likelihood point, every batch item)
reuses one compiled program.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FitError, NonlinearRegimeWarning
from ..fitting.params import to_physical
from ..dataset import fit_mask
from ..fitting.projection import linear_least_squares
from . import observables as ob
from .injection import params_with_yield
from .linear import irf_sigma_ps
from .modelfile import CANDIDATES, LOG_SCALED, O_FIELDS, P_FIELDS, PHI
from .excitation import PHOTONS_PER_PARTICLE_PER_UJ_CM2, photons_per_fluence
from .optics import CDS_TABLE
from .simulate import LINEAR_REGIME_MAX_NABS

__all__ = ["PhysicalObjective", "collect_data", "N_NODES", "AMPLITUDE_NAMES"]

N_NODES = 16  # Gauss–Poisson nodes of the trap average (exact sum agrees to ~1e-14, tested)
AMPLITUDE_NAMES = ("kappa_mOD", "beta_au_mOD_K", "art_sample_a0", "art_sample_a1",
                   "art_sample_a2", "art_ref_a0", "art_ref_a1", "art_ref_a2")


@dataclass(frozen=True)
class PhysicalObjective:
    """Hashable residual (static configuration only; data, bounds and pins are arguments).

    ``ctrl`` = dict(lo, hi, pin (bool), pinval): parameter i takes ``pinval[i]`` where
    ``pin[i]`` and the bounded transform of ``x[i]`` otherwise.
    """

    n_nodes: int
    model: str
    fixed_kappa: bool
    visible: bool = False

    def values(self, x, ctrl):
        """Physical values of every candidate parameter (pinned ones at ``pinval``)."""
        return [jnp.where(ctrl["pin"][i], ctrl["pinval"][i],
                          to_physical(x[i], ctrl["lo"][i], ctrl["hi"][i], name in LOG_SCALED))
                for i, name in enumerate(CANDIDATES)]

    def params(self, x, ctrl, base_p, base_o):
        """(InterfaceParams, ObservableParams) at ``x``; η_CID and τ_inj follow Φ_inj."""
        vals = dict(zip(CANDIDATES, self.values(x, ctrl)))
        phi = vals.pop(PHI)
        p = dataclasses.replace(base_p, **{k: v for k, v in vals.items() if k in P_FIELDS})
        p = params_with_yield(p, phi, self.model)
        o = dataclasses.replace(base_o, **{k: v for k, v in vals.items() if k in O_FIELDS})
        return p, o

    def design(self, x, ctrl, base_p, base_o, data):
        """Design matrix (N, 8) of the mid-IR traces: the columns of :data:`AMPLITUDE_NAMES`."""
        p, o = self.params(x, ctrl, base_p, base_o)
        s = irf_sigma_ps(p)
        ts, rs = data["t_s"], data["rho_s"]
        tr, rr = data["t_r"], data["rho_r"]
        kin_s = ob.midir_kinetics(ts, p, o, model=self.model, quadrature=self.n_nodes)
        te_s = ob.metal_response(ts, p, o.t0_ps, s)[1]
        art_s = ob.artefact_basis(ts, o.t0_ps, s)
        kin_r = ob.reference_kinetics(tr, p, o) * o.q_ref
        art_r = ob.artefact_basis(tr, o.t0_ref_ps, s)
        zs, zr = jnp.zeros_like(ts), jnp.zeros_like(tr)
        sample = jnp.stack([kin_s, te_s, *art_s, zs, zs, zs], axis=1) * rs[:, None]
        reference = jnp.stack([kin_r, zr, zr, zr, zr, *art_r], axis=1) * rr[:, None]
        A = jnp.concatenate([sample, reference]) * data["col_on"][None, :]
        return A, o

    def solve(self, x, ctrl, base_p, base_o, data):
        """(weighted residual, amplitudes, model) for parameters ``x``."""
        A, o = self.design(x, ctrl, base_p, base_o, data)
        y, w = data["y"], data["w"]
        if self.fixed_kappa:  # no reference: κ held at the model file's value
            held = o.kappa_mOD * A[:, 0]
            A = A.at[:, 0].set(0.0)
            c = linear_least_squares(A * w[:, None], (y - held) * w)
            fit = A @ c + held
            c = c.at[0].set(o.kappa_mOD)
        else:  # switched-off columns (no artefact, no reference) get amplitude 0
            c = linear_least_squares(A * w[:, None], y * w)
            fit = A @ c
        return (y - fit) * w, c, fit

    def solve_visible(self, x, ctrl, base_p, base_o, data):
        """Visible map: species kinetics per wavelength (chirped t0), spectra by projection.

        Returns (weighted residual (Nt·W,), spectra (W, 8), model (Nt, W)); columns are the
        species of :data:`observables.VISIBLE_SPECIES` (×ρ_abs) and the artefact G, G', G''.
        """
        p, o = self.params(x, ctrl, base_p, base_o)
        s = irf_sigma_ps(p)
        t, wl = data["t_v"], data["wl_v"]
        t0s = ob.chirp_t0(wl, o)

        def column(t0, y, w):
            ys = ob.visible_species(t, p, t0, model=self.model, sigma=s,
                                    quadrature=self.n_nodes) * data["rho_v"]
            A = jnp.concatenate([ys, ob.artefact_basis(t, t0, s)]).T  # (Nt, 8)
            c = linear_least_squares(A * w[:, None], y * w)
            fit = A @ c
            return (y - fit) * w, c, fit

        r, c, fit = jax.vmap(column, in_axes=(0, 1, 1), out_axes=(1, 0, 1))(
            t0s, data["y_v"], data["w_v"])
        return r.ravel(), c, fit

    def __call__(self, x, ctrl, base_p, base_o, data):
        """Weighted residual of every trace (and of the visible map), flat."""
        r = self.solve(x, ctrl, base_p, base_o, data)[0]
        if self.visible:
            r = jnp.concatenate([r, self.solve_visible(x, ctrl, base_p, base_o, data)[0]])
        return r


def sample_photons_per_particle(ds, params=None) -> float | None:
    """⟨N_abs⟩ per particle of a sample dataset from its attributes, or None.

    The attribute ``mean_absorbed_photons_per_particle`` if given; else F σ_abs(λ_pump)/ħω at
    the dataset's ``pump_fluence_uJ_cm2`` and ``pump_wavelength_nm`` (optics module, spec §2;
    particle of ``params``, default CLEAN: 17.6 per µJ cm⁻² at 590 nm); else (no pump
    wavelength, or one outside the optical tables, 301–1498 nm) F × 18.43."""
    a = ds.attrs
    if "mean_absorbed_photons_per_particle" in a:
        return float(a["mean_absorbed_photons_per_particle"])
    if "pump_fluence_uJ_cm2" in a:
        fluence = float(a["pump_fluence_uJ_cm2"])
        lam = a.get("pump_wavelength_nm")
        if lam is not None and CDS_TABLE[0, 0] <= float(lam) <= CDS_TABLE[-1, 0]:
            return photons_per_fluence(params, pump_nm=float(lam)) * fluence
        return PHOTONS_PER_PARTICLE_PER_UJ_CM2 * fluence
    return None


def collect_data(datasets: dict, probes=("midir",), params=None):
    """Stack the sample and reference mid-IR traces into the fit arrays (edge function).

    Each dataset needs attributes ``hotcarrier_role`` (``sample``/``reference``), ``probe``
    (``midir``) and ``absorbed_photon_density_cm3``. Warns with
    :class:`NonlinearRegimeWarning` when a sample has ⟨N_abs⟩ > 2 photons per particle
    (:func:`sample_photons_per_particle`, particle of ``params``).
    """
    rows = {"sample": [], "reference": []}
    visible = []
    problems = []
    for name, ds in datasets.items():
        role = ds.attrs.get("hotcarrier_role")
        probe = ds.attrs.get("probe", "midir")
        if probe not in probes:
            continue
        if probe not in ("midir", "visible"):
            problems.append(f"{name}: probe {probe!r} is not supported by the fit")
            continue
        if probe == "midir" and role not in rows:
            problems.append(f"{name}: attribute hotcarrier_role must be 'sample' or 'reference' "
                            f"(got {role!r})")
            continue
        if "absorbed_photon_density_cm3" not in ds.attrs:
            problems.append(f"{name}: attribute absorbed_photon_density_cm3 is missing "
                            "(ρ_abs = (F/ħω)(1 − 10^−A)/ℓ, spec §7.1)")
            continue
        ok = fit_mask(ds)
        w = ds["weight"].values if "weight" in ds else np.ones(ds["signal"].shape)
        item = dict(name=name, t=ds["delay"].values.astype(float),
                    y=np.where(ok, ds["signal"].values, 0.0), w=np.where(ok, w, 0.0),
                    rho=float(ds.attrs["absorbed_photon_density_cm3"]) * 1e-12,
                    units=ds["signal"].attrs.get("units", ""))
        if probe == "visible":
            visible.append(dict(item, wl=ds["wavelength"].values.astype(float)))
            continue
        if ds.sizes["wavelength"] != 1:
            problems.append(f"{name}: a mid-IR dataset must hold one probe wavelength")
            continue
        if role == "sample":
            nabs = sample_photons_per_particle(ds, params)
            if nabs is not None and nabs > LINEAR_REGIME_MAX_NABS:
                warnings.warn(
                    f"{name}: ⟨N_abs⟩ = {nabs:.3g} photons per particle exceeds "
                    f"{LINEAR_REGIME_MAX_NABS}: outside the linear regime (spec §6.5); the "
                    "linear model underestimates nothing here but charging lowers the apparent "
                    "Φ_inj (−14 % at 10 µJ cm⁻²) — fit a low-fluence series or the nonlinear "
                    "module (hotcarrier.physics.ttm)", NonlinearRegimeWarning, stacklevel=3)
        rows[role].append(dict(item, y=item["y"][:, 0], w=item["w"][:, 0]))
    if not rows["sample"]:
        problems.append(f"no sample mid-IR trace found among {list(datasets)}")
    if len(visible) > 1:
        problems.append("one visible map at most can be fitted "
                        f"(got {[v['name'] for v in visible]})")
    if problems:
        raise FitError("cannot fit the physical model:\n  - " + "\n  - ".join(problems))
    units = {r["units"] for rr in rows.values() for r in rr} | {v["units"] for v in visible}
    if len(units) > 1:
        raise FitError(f"mixed signal units {sorted(units)}; convert them to one unit first")

    def stack(key, *roles):
        """``key`` of every trace of ``roles`` end to end (ρ repeated per delay)."""
        return np.concatenate([np.zeros(0)] + [np.broadcast_to(r[key], r["t"].shape)
                                               for role in roles for r in rows[role]])

    arrays = dict(t_s=stack("t", "sample"), rho_s=stack("rho", "sample"),
                  t_r=stack("t", "reference"), rho_r=stack("rho", "reference"),
                  y=stack("y", "sample", "reference"), w=stack("w", "sample", "reference"))
    if visible:
        v = visible[0]
        arrays.update(t_v=v["t"], wl_v=v["wl"], y_v=v["y"], w_v=v["w"], rho_v=v["rho"])
        rows["visible"] = visible
    return {k: jnp.asarray(v, float) for k, v in arrays.items()}, rows, units.pop()

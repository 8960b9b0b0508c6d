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

from .._x64 import device_array
from ..errors import FitError, NonlinearRegimeWarning
from ..fitting.params import to_physical
from ..dataset import fit_mask
from ..fitting.projection import golub_pereyra_block, linear_least_squares, project
from . import observables as ob
from .injection import params_with_yield
from . import linear
from .linear import irf_sigma_ps
from .modelfile import CANDIDATES, LOG_SCALED, O_FIELDS, P_FIELDS, PHI
from .excitation import PHOTONS_PER_PARTICLE_PER_UJ_CM2, photons_per_fluence
from .simulate import LINEAR_REGIME_MAX_NABS

__all__ = ["PhysicalObjective", "collect_data", "N_NODES", "AMPLITUDE_NAMES", "KINETIC",
           "REFERENCE_KINETIC"]

N_NODES = 16  # Gauss–Poisson nodes of the trap average (exact sum agrees to ~1e-14, tested)
AMPLITUDE_NAMES = ("kappa_mOD", "beta_au_mOD_K", "art_sample_a0", "art_sample_a1",
                   "art_sample_a2", "art_ref_a0", "art_ref_a1", "art_ref_a2")

KINETIC = tuple(i for i, k in enumerate(CANDIDATES) if k == PHI or k in P_FIELDS)
"""Candidates (indices) that shape the sample's kinetics, the metal response and the IRF: the
directions of the structured Jacobian's one sample/visible kinetics evaluation."""
REFERENCE_KINETIC = tuple(CANDIDATES.index(k) for k in ("irf_fwhm_fs", "tau_ref_ps",
                                                         "tau_ref_trap_ns"))
"""Candidates (indices) that shape the calibration reference's kinetics."""


def _with_directions(block, v, idx):
    """``block(v, shift) -> (..., N)`` with its derivatives by forward mode in the directions
    ``idx`` of ``v`` only and in ``shift`` (the block is evaluated at τ = t − t0 − shift, so
    ∂/∂shift serves every time zero): (value, ∂/∂v (..., N, n) with 0 outside ``idx``,
    ∂/∂shift (..., N))."""
    idx = np.asarray(idx)

    def f(z):
        b = block(v.at[idx].add(z[:-1]), z[-1])
        return b, b

    d, b = jax.jacfwd(f, has_aux=True)(jnp.zeros(idx.size + 1, v.dtype))
    dv = jnp.zeros((*b.shape, v.shape[0]), v.dtype).at[..., idx].set(d[..., :-1])
    return b, dv, d[..., -1]


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
        return self.params_at(self.values(x, ctrl), base_p, base_o)

    def params_at(self, values, base_p, base_o):
        """(InterfaceParams, ObservableParams) at the physical ``values`` of the candidates."""
        vals = dict(zip(CANDIDATES, values))
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

    def residual_jacobian(self, x, ctrl, base_p, base_o, data):
        """(r, J, aux) of :meth:`__call__` by structure: what the forward-mode Jacobian of the
        whole residual computes, at a fraction of its program size and run time.

        The sample's mid-IR traces and every wavelength of the visible map share ONE kinetics
        evaluation on their delays from their own time zero, τ = t − t0 (t0(λ) chirped), and
        the reference one more; both are differentiated (forward mode) only in the
        directions that shape them (:data:`KINETIC`, :data:`REFERENCE_KINETIC`) plus one
        shift of τ, which gives every time-zero parameter (t0, t0_ref, c1, c2) by the chain
        rule through t0 of each row. The amplitudes are projected out by QR and the
        Jacobian is the exact Golub–Pereyra one
        (:func:`hotcarrier.fitting.projection.golub_pereyra_block`). ``aux`` holds c, fit
        (and c_vis, fit_vis with the visible map) and r, as the LM wrapper's.
        """
        ts, tr = data["t_s"], data["t_r"]
        n_s = ts.shape[0]
        vis = self.visible
        # differentiated in the physical values v (each vᵢ a function of xᵢ alone), so the
        # bounded transforms are traced once; J_x = J_v·diag(dv/dx) at the end
        v, dvdx = jax.jvp(lambda xx: jnp.stack(self.values(xx, ctrl)), (x,),
                          (jnp.ones_like(x),))

        def params(vv):
            return self.params_at(list(vv), base_p, base_o)

        def time_zeros(vv):
            """t0 of every sample and visible row, and of the reference (ps)."""
            o = params(vv)[1]
            t0 = jnp.broadcast_to(o.t0_ps, ts.shape)
            if vis:
                t0v = ob.chirp_t0(data["wl_v"], o)
                t0 = jnp.concatenate([t0, jnp.repeat(t0v, data["t_v"].shape[0])])
            return t0, o.t0_ref_ps

        def sample_block(vv, shift):
            """(H, C, T, L, N, ΔT_e, ΔT_l, G, G′, G″) at every sample and visible row."""
            p, _ = params(vv)
            s = irf_sigma_ps(p)
            t = ts if not vis else jnp.concatenate(
                [ts, jnp.tile(data["t_v"], data["wl_v"].shape[0])])
            tau = t - time_zeros(vv)[0] - shift
            y = linear.populations(tau, p, model=self.model, t0=0.0, sigma=s,
                                   quadrature=self.n_nodes)
            return jnp.concatenate([y, ob.metal_response(tau, p, 0.0, s),
                                    ob.artefact_basis(tau, 0.0, s)])

        def reference_block(vv, shift):
            """(X_C, X_T, G, G′, G″) of the reference."""
            p, o = params(vv)
            s = irf_sigma_ps(p)
            tau = tr - o.t0_ref_ps - shift
            return jnp.concatenate([ob.reference_populations(tau, p, o, 0.0, s),
                                    ob.artefact_basis(tau, 0.0, s)])

        bs, dbs, shs = _with_directions(sample_block, v, KINETIC)
        br, dbr, shr = _with_directions(reference_block, v, REFERENCE_KINETIC)
        dt0, dt0r = jax.jacfwd(time_zeros)(v)  # (N, n), (n,)
        dbs = dbs + shs[..., None] * dt0
        dbr = dbr + shr[..., None] * dt0r

        def assemble(vv, bs, br):
            """Mid-IR design (N_mid, 8) and the visible designs (W, N_t, 8), unweighted."""
            _, o = params(vv)
            y, te, art = bs[:4, :n_s], bs[5, :n_s], bs[7:, :n_s]
            kin_s = y[1] + o.r_LL * y[3] + o.r_T * y[2]
            kin_r = (br[0] + o.r_T * br[1]) * o.q_ref
            zs, zr = jnp.zeros_like(ts), jnp.zeros_like(tr)
            sample = jnp.stack([kin_s, te, *art, zs, zs, zs], axis=1) * data["rho_s"][:, None]
            reference = jnp.stack([kin_r, zr, zr, zr, zr, *br[2:]], axis=1) \
                * data["rho_r"][:, None]
            A = jnp.concatenate([sample, reference]) * data["col_on"][None, :]
            if not vis:
                return A, jnp.zeros((0, 0, 8), A.dtype)
            b = bs[:, n_s:]  # the map's rows
            Av = jnp.concatenate([b[4:7] * data["rho_v"], (b[1:2] + b[3:4]) * data["rho_v"],
                                  b[2:3] * data["rho_v"], b[7:]])  # (8, W·N_t)
            Av = Av.reshape(8, data["wl_v"].shape[0], -1).transpose(1, 2, 0)
            return A, Av

        (A, Av), (dA, dAv) = jax.vmap(
            lambda dv, d1, d2: jax.jvp(assemble, (v, bs, br), (dv, d1, d2)),
            in_axes=(0, -1, -1), out_axes=((None, None), (-1, -1)))(
                jnp.eye(x.shape[0], dtype=x.dtype), dbs, dbr)
        o = params(v)[1]
        y, w = data["y"], data["w"]
        if self.fixed_kappa:  # no reference: κ held at the model file's value
            held, dheld = o.kappa_mOD * A[:, 0], o.kappa_mOD * dA[:, 0]
            A, dA = A.at[:, 0].set(0.0), dA.at[:, 0].set(0.0)
        else:
            held, dheld = jnp.zeros_like(y), None
        Q, R, rq, c = project((A * w[:, None])[None], ((y - held) * w)[None], compact=True)
        J = golub_pereyra_block(Q, R, rq, c, (dA * w[:, None, None])[None], shared=False,
                                dm=None if dheld is None else (dheld * w[:, None])[None],
                                compact=True)[0]
        c = c[0]
        fit = A @ c + held
        if self.fixed_kappa:
            c = c.at[0].set(o.kappa_mOD)
        r = (y - fit) * w
        aux = {"c": c, "fit": fit}
        if vis:
            yv, wv = data["y_v"].T, data["w_v"].T  # (W, N_t)
            Qv, Rv, rv, cv = project(Av * wv[..., None], yv * wv, compact=True)
            Jv = golub_pereyra_block(Qv, Rv, rv, cv, dAv * wv[..., None, None], shared=False,
                                     compact=True)
            fitv = jnp.einsum("wrk,wk->rw", Av, cv)
            r_v = (data["y_v"] - fitv) * data["w_v"]
            r = jnp.concatenate([r, r_v.ravel()])
            J = jnp.concatenate([J, jnp.moveaxis(Jv, 0, 1).reshape(-1, x.shape[0])])
            aux.update(c_vis=cv, fit_vis=fitv)
        aux["r"] = r
        return r, J * dvdx[None, :], aux

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
    particle of ``params``, default CLEAN: 17.6 per µJ cm⁻² at 590 nm; a pump wavelength outside
    the optical tables, 301–1498 nm, raises ModelError); else (no pump wavelength) F × 18.43."""
    a = ds.attrs
    if "mean_absorbed_photons_per_particle" in a:
        return float(a["mean_absorbed_photons_per_particle"])
    if "pump_fluence_uJ_cm2" in a:
        fluence = float(a["pump_fluence_uJ_cm2"])
        lam = a.get("pump_wavelength_nm")
        if lam is not None:  # (outside the optical tables: one ModelError naming it)
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
    return {k: device_array(v, float) for k, v in arrays.items()}, rows, units.pop()

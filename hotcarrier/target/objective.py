"""Variable projection: the spectra are solved by linear least squares inside the objective.

In general the (weighted) design matrix C (delay × column) differs per wavelength — IRF
dispersion, masks, weights and spectral constraints are per cell — so the projection is
``vmap``-ed over wavelengths; there is no Python loop over wavelengths and the whole
objective is one jitted program. Where C is the same at every wavelength and the weights
are separable (no dispersion, no per-cell masks: most global analyses and batch maps) one
QR serves all wavelengths, a matrix of right-hand sides (:func:`shared_blocks`).

The linear solve is the LAPACK-free modified Gram–Schmidt QR of
:mod:`hotcarrier.fitting.projection` (no batched-LAPACK dead-lock for batches of fits ×
wavelengths); columns that vanish (masked, constrained, dependent) get amplitude 0.

Spectral-side options (:attr:`TargetModel.per_wavelength`) solve every wavelength on its own:
non-negative amplitudes (a Lawson–Hanson passive set per wavelength, then the least-squares
amplitudes on the passive columns; the active set is held fixed in the Jacobian), guidance
spectra (extra rows ``weight·(a_s(λ) − g(λ))`` appended below the data rows of each
wavelength), parametric spectra (a known model part m(θ) subtracted from the data) and
equal-area penalties (extra residuals after all wavelengths, computed from the amplitudes as
pyglotaran does, so their Jacobian runs through ∂â/∂θ).

Several datasets either share their spectra at equal wavelengths (``link=True``, pyglotaran's
clp linking: rows of all datasets are stacked per wavelength of the union grid) or have
their own (each dataset projected separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._x64 import device_array
from ..fitting.projection import (amplitude_derivative, back_substitute, forward_substitute_t,
                                  golub_pereyra_block, mgs_qr, nnls_passive_set, project,
                                  separable_weights)
from ..kinetics import eigen_form_accurate

__all__ = ["VarproProblem", "build_problem", "spectral_arrays", "Objective", "EIGEN_MARGIN"]

#: A fit with the eigen-form kinetics is trusted only where their cancellation bound is this
#: many times below :data:`hotcarrier.kinetics.FAST_COND` (else it is redone with "newton").
EIGEN_MARGIN = 10.0


@dataclass
class VarproProblem:
    """Arrays of one fit (built at the edge by :func:`build_problem`).

    Attributes
    ----------
    link : bool
        Spectra shared across datasets on the union wavelength grid.
    wavelengths : list of ndarray
        Per block group: the wavelengths at which the design matrix is evaluated (the union
        grid when linked, else each dataset's own).
    arrays : dict
        Pytree of jnp arrays: ``t`` (list per dataset), ``y`` and ``w`` (list per dataset,
        (W_eval, T_d), weighted mask folded in), ``colmask`` (list); with guides ``gy``,
        ``gw`` and with equal-area penalties ``area`` (per block group, :func:`spectral_arrays`).
    index : list of ndarray
        Linked: per dataset the column of its own wavelength grid at each union wavelength
        (−1 = absent).
    n_data : int
        Cells taking part in the fit.
    n_delays, n_wavelengths : tuple of int
        Measured delays per dataset and wavelengths per block group; with ``pad`` the arrays
        are longer (:func:`hotcarrier.fitting.compiled.bucket`, zero weights) and every
        result is these leading entries.
    shared : tuple of bool
        Per block group: the design matrix is the same at every wavelength (no IRF
        dispersion, equal column masks) and the weights are separable (v(λ)·u(t)), so one QR
        serves all wavelengths. Empty means "all False".
    """

    link: bool
    wavelengths: list
    arrays: dict
    index: list
    n_data: int
    shared: tuple = ()
    n_delays: tuple = ()
    n_wavelengths: tuple = ()


def build_problem(model, datasets, link_tolerance: float = 0.01,
                  pad: bool = False) -> VarproProblem:
    """Assemble the fit arrays from prepared TA datasets (NumPy; the edge).

    Parameters
    ----------
    model : TargetModel
    datasets : list of xarray.Dataset
        Prepared TA datasets (one per ``model.datasets`` entry).
    link_tolerance : float, nm
        Wavelengths of different datasets closer than this are the same (linked) point.
    pad : bool
        Lengthen the delay and wavelength axes to :func:`~hotcarrier.fitting.compiled.bucket`
        sizes (the last delay and wavelength repeated, weight 0: cost, gradient and
        Jacobian unchanged), so that maps of similar size share compiled programs.

    Returns
    -------
    VarproProblem
    """
    from ..dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, WEIGHT, fit_mask

    ts, ys, ws, wls = [], [], [], []
    n_data = 0
    for d, ds in enumerate(datasets):
        ds = ds.transpose(TIME_DIM, SPECTRAL_DIM)
        t = ds[TIME_DIM].values.astype(float)
        wl = ds[SPECTRAL_DIM].values.astype(float)
        ok = fit_mask(ds)
        w = model.weight_map(d, t, wl) * ok
        if WEIGHT in ds:
            w = w * ds[WEIGHT].values
        y = np.where(ok, ds[SIGNAL].values, 0.0)
        n_data += int(np.sum(w > 0))
        ts.append(t)
        ys.append(y.T)  # (W, T)
        ws.append(w.T)
        wls.append(wl)
    n_delays = tuple(t.size for t in ts)
    if pad:
        ts, ys, ws = _pad_delays(ts, ys, ws)
    link = model.link_spectra and len(datasets) > 1
    index = []
    if link:
        allw = np.sort(np.concatenate(wls))
        union = [allw[0]]
        for x in allw[1:]:
            if x - union[-1] > link_tolerance:
                union.append(x)
        union = np.array(union)
        n_wavelengths = (union.size,)
        Y, Wt = [], []
        for y, w, wl in zip(ys, ws, wls):
            j = np.argmin(np.abs(wl[None, :] - union[:, None]), axis=1)  # nearest own λ
            idx = np.where(np.abs(wl[j] - union) <= link_tolerance, j, -1)
            index.append(idx)
            Y.append(np.where(idx[:, None] >= 0, y[np.maximum(idx, 0)], 0.0))
            Wt.append(np.where(idx[:, None] >= 0, w[np.maximum(idx, 0)], 0.0))
        ys, ws = Y, Wt
        eval_wl = [union]
    else:
        eval_wl = wls
        n_wavelengths = tuple(wl.size for wl in wls)
    extra, n_guide = spectral_arrays(model, eval_wl)
    if pad:
        eval_wl, ys, ws, extra = _pad_wavelengths(eval_wl, ys, ws, extra, link)
    colmask = [device_array(model.column_mask(wl)) for wl in eval_wl]
    arrays = dict(t=[device_array(t) for t in ts], y=[device_array(y) for y in ys],
                  w=[device_array(w) for w in ws], colmask=colmask,
                  wl=[device_array(w) for w in eval_wl])
    arrays.update(extra)
    return VarproProblem(link=link, wavelengths=eval_wl, arrays=arrays, index=index,
                         n_data=n_data + n_guide, shared=shared_blocks(model, link, ws, colmask),
                         n_delays=n_delays, n_wavelengths=n_wavelengths)


def _pad_delays(ts, ys, ws):
    """Delays per dataset to :func:`bucket` length: the last delay repeated, data and weight
    0 ((W, T) arrays)."""
    from ..fitting.compiled import bucket

    out_t, out_y, out_w = [], [], []
    for t, y, w in zip(ts, ys, ws):
        extra = bucket(t.size) - t.size
        out_t.append(np.concatenate([t, np.full(extra, t[-1])]))
        out_y.append(np.pad(y, ((0, 0), (0, extra))))
        out_w.append(np.pad(w, ((0, 0), (0, extra))))
    return out_t, out_y, out_w


def _pad_wavelengths(eval_wl, ys, ws, extra, link: bool):
    """Wavelengths per block group to :func:`bucket` length: the last wavelength repeated,
    data, weights, guide weights and equal-area selections 0."""
    from ..fitting.compiled import bucket

    sizes = [bucket(wl.size) - wl.size for wl in eval_wl]
    wl_out = [np.concatenate([wl, np.full(n, wl[-1])]) for wl, n in zip(eval_wl, sizes)]
    group = [0] * len(ys) if link else list(range(len(ys)))  # block group of each dataset
    ys = [np.pad(y, ((0, sizes[g]), (0, 0))) for y, g in zip(ys, group)]
    ws = [np.pad(w, ((0, sizes[g]), (0, 0))) for w, g in zip(ws, group)]
    extra = dict(extra)
    for key in ("gy", "gw"):
        if key in extra:
            extra[key] = [device_array(np.pad(np.asarray(a), ((0, n), (0, 0))))
                          for a, n in zip(extra[key], sizes)]
    if "area" in extra:
        extra["area"] = [device_array(np.pad(np.asarray(a), ((0, 0), (0, 0), (0, n))))
                         for a, n in zip(extra["area"], sizes)]
    return wl_out, ys, ws, extra


def spectral_arrays(model, eval_wl) -> tuple[dict, int]:
    """Guide and equal-area arrays per block group (NumPy; the edge).

    ``gy``, ``gw`` (W, n_guides): guide values interpolated on the group's wavelengths and
    their weights (0 outside a guide's range); ``area`` (n_penalties, 2, W): 0/1 selections
    of the source and target intervals (pyglotaran's rule: ends snap to the nearest
    wavelength, inclusive; an interval starting above the last wavelength selects nothing).
    Returns (arrays to add, number of guide rows taking part).
    """
    out, n = {}, 0
    if model.guides:
        gy, gw = [], []
        for wl in eval_wl:
            wl = np.asarray(wl, float)
            vals, wts = [], []
            for g in model.guides:
                gx, gv = np.asarray(g.wavelength, float), np.asarray(g.values, float)
                o = np.argsort(gx)
                gx, gv = gx[o], gv[o]
                inside = (wl >= gx[0] - 1e-9) & (wl <= gx[-1] + 1e-9)
                vals.append(np.where(inside, np.interp(wl, gx, gv), 0.0))
                wts.append(np.where(inside, float(g.weight), 0.0))
            gy.append(device_array(np.stack(vals, -1)))
            gw.append(device_array(np.stack(wts, -1)))
            n += int(np.sum(np.stack(wts, -1) > 0))
        out.update(gy=gy, gw=gw)
    if model.equal_area:
        out["area"] = [device_array(np.array(
            [[_interval_selection(wl, e.source_intervals),
              _interval_selection(wl, e.target_intervals)] for e in model.equal_area]))
            for wl in eval_wl]
    return out, n


def _interval_selection(axis, intervals) -> np.ndarray:
    """Multiplicity (0, 1, ...) of every wavelength in pyglotaran's equal-area intervals."""
    axis = np.asarray(axis, float)
    sel = np.zeros(axis.size)
    for lo, hi in intervals:
        if lo > axis[-1]:
            continue
        lo, hi = max(lo, np.min(axis)), min(hi, np.max(axis))
        lo, hi = min(lo, hi), max(lo, hi)
        i0 = int(np.argmin(np.abs(axis - lo)))
        i1 = int(np.argmin(np.abs(axis - hi))) + 1
        sel[i0:i1] += 1.0
    return sel


def shared_blocks(model, link: bool, ws, colmask) -> tuple:
    """Per block group: can one QR serve every wavelength? (see :class:`VarproProblem`)."""
    def same_matrix(ds_idx):
        return all(not model.is_dispersive(d) for d in ds_idx)

    def equal_rows(cm):
        cm = np.asarray(cm)
        return bool(np.all(cm == cm[:1]))

    if model.per_wavelength:
        return (False,) * (1 if link else len(ws))
    if link:
        w = np.concatenate([np.asarray(x) for x in ws], axis=1)
        return (same_matrix(range(len(ws))) and equal_rows(colmask[0])
                and separable_weights(w),)
    return tuple(same_matrix([d]) and equal_rows(colmask[d]) and separable_weights(ws[d])
                 for d in range(len(ws)))


class Objective:
    """Pure-JAX objective of a model on a problem's structure: θ → residuals / cost / Jacobian.

    Per block group the weighted design matrix Cw(θ) is built by
    :meth:`TargetModel.matrix`, factorised by modified Gram–Schmidt (Cw = QR) and the data
    projected: r = (I − QQᵀ)·yw. Where the design matrix is the same at every wavelength
    (``shared``) one QR serves all wavelengths (a matrix of right-hand sides); otherwise the
    QR is ``vmap``-ed over wavelengths.

    * :meth:`_cost` has the variable-projection gradient by construction: the amplitudes are
      held fixed (``stop_gradient``) at their least-squares values, and since the residual is
      orthogonal to the columns of Cw the gradient of ½‖yw − Cw(θ)a‖² equals that of the
      projected cost (the reverse pass then runs through Cw(θ) only, not through the QR).
    * :meth:`_evaluate` gives the residual, its exact (Golub–Pereyra) Jacobian
      J = −[P⊥·(∂Cw)·a + Q·R⁻ᵀ·(∂Cw)ᵀ·r] from forward-mode derivatives of Cw(θ), and the
      fit details (amplitudes, model, active columns) in one pass — what the
      Levenberg–Marquardt loop of :func:`hotcarrier.fitting.optimize.levenberg_marquardt` consumes.

    Instances are hashable by identity, so ``optimize.minimize(objective.cost, ...)`` reuses
    its compiled program for new data of the same shapes.
    """

    def __init__(self, model, link: bool, n_sets: int, shared: tuple = (),
                 kinetics: str = "auto"):
        self.model = model
        self.kinetics = kinetics
        self.link = link
        self.n_sets = n_sets
        n_blocks = 1 if link else n_sets
        self.shared = tuple(shared) if shared else (False,) * n_blocks
        self.cost = _Bound(self, "_cost")
        self.scaled_cost = _Bound(self, "_scaled_cost")
        self.normal_equations = _Bound(self, "_normal_equations")
        self._jit_details = jax.jit(self._details)
        self._jit_evaluate = jax.jit(self._evaluate)
        self._jit_point = jax.jit(self._point)
        self.eigen_margin = jax.jit(self._eigen_margin)

    @classmethod
    def for_problem(cls, model, problem: VarproProblem, kinetics: str = "auto") -> Objective:
        """The (cached) objective of ``model`` on a problem of this structure.

        Objectives are cached by the model's structural key, so fitting the same model again
        (new data of any size, new start values) reuses the compiled programs. ``kinetics``:
        the ``method`` of :func:`hotcarrier.kinetics.convolved_populations` ("eigen" is NaN
        where the eigen form is not accurate; :func:`hotcarrier.target.fit.fit_target` then
        refits with "newton").
        """
        n_sets = len(problem.arrays["t"])
        shared = tuple(problem.shared) if problem.shared else ()
        key = (model.cache_key(), problem.link, n_sets, shared, kinetics)
        obj = _CACHE.get(key)
        if obj is None:
            obj = _CACHE[key] = cls(model, problem.link, n_sets, shared, kinetics)
        return obj

    # ------------------------------------------------------------------ design matrices
    def _groups(self, arrays):
        """Per block group: dataset indices, data (W, R), weights (W, R), column mask (W, k).

        Guide rows (values ``gy``, weights ``gw``) are appended after the data rows.
        """
        if self.link:
            groups = [(list(range(self.n_sets)), jnp.concatenate(arrays["y"], axis=1),
                       jnp.concatenate(arrays["w"], axis=1), arrays["colmask"][0])]
        else:
            groups = [([d], arrays["y"][d], arrays["w"][d], arrays["colmask"][d])
                      for d in range(self.n_sets)]
        if "gy" in arrays:
            groups = [(ds, jnp.concatenate([y, gy], axis=1), jnp.concatenate([w, gw], axis=1),
                       cm) for (ds, y, w, cm), gy, gw in zip(groups, arrays["gy"], arrays["gw"])]
        return groups

    @staticmethod
    def _row_weights(w):
        """(v (W,), u (R,)) with w = v ⊗ u for a separable weight map (the shared path)."""
        v = jnp.max(w, axis=1)
        j = jnp.argmax(v)
        vj = v[j]
        u = w[j] / jnp.where(vj > 0, vj, 1.0)
        return v, u

    def _designs(self, theta, arrays):
        """Per block group the weighted design matrix Cw and the unweighted C (masked columns).

        Shared groups: (R, k) matrices (weighted with u(t)); others: (W, R, k).
        """
        ds = self._spectral_designs(theta, arrays)
        return [d["cw"] for d in ds], [d["c"] for d in ds]

    def _spectral_designs(self, theta, arrays):
        """Per block group a dict: ``cw`` (weighted design), ``c`` (unweighted, masked),
        and on the per-wavelength path with parametric spectra ``m``/``mw`` (the known
        model part, unweighted/weighted, (W, R)) and ``S`` (shaped spectra, (W, k))."""
        m = self.model
        p = m.parameters.physical(theta)
        out = []
        n_g = len(m.guides)
        if n_g:
            E = np.zeros((n_g, len(m.column_names)))
            for i, g in enumerate(m.guides):
                E[i, m.column_names.index(g.species)] = 1.0
        for (dsets, _, w, cm), shared in zip(self._groups(arrays), self.shared):
            wl = arrays["wl"][0] if self.link else arrays["wl"][dsets[0]]
            if shared:
                wl = wl[:1]
            C = jnp.concatenate([m.matrix(p, d, arrays["t"][d], wl, self.kinetics)
                                 for d in dsets], axis=1)
            if shared:
                _, u = self._row_weights(w)
                C = C[0] * cm[0][None, :]
                out.append(dict(cw=C * u[:, None], c=C))
                continue
            item = {}
            if m.shapes:
                S = m.shape_spectra(p, wl)
                mm = jnp.einsum("wrk,wk->wr", C, S)
                if n_g:
                    mm = jnp.concatenate([mm, jnp.zeros((mm.shape[0], n_g))], axis=1)
                item.update(S=S, m=mm, mw=mm * w)
            if n_g:
                C = jnp.concatenate([C, jnp.broadcast_to(E, (C.shape[0], *E.shape))], axis=1)
            C = C * cm[:, None, :]
            item.update(cw=C * w[:, :, None], c=C)
            out.append(item)
        return out

    # ------------------------------------------------------------------ projection
    def _project(self, Cw, y, w, shared, mw=None):
        """QR, projected residual (W, R) and weighted-space amplitudes (W, k) of one group.

        ``mw``: a known (weighted) model part subtracted from the data. With non-negative
        amplitudes the columns outside each wavelength's NNLS passive set are zeroed first.
        """
        yw = y * w
        if mw is not None:
            yw = yw - mw
        if not shared and self.model.non_negative:
            P = jax.vmap(nnls_passive_set, in_axes=(0, 0, None))(
                Cw, yw, jnp.asarray(self.model.non_negative_mask()))
            Cw = Cw * P[:, None, :]
        if shared:
            Q, R = mgs_qr(Cw)
            A = yw @ Q  # (W, k)
            r = yw - A @ Q.T
            ahat = back_substitute(R, A.T).T  # amplitudes of the u-weighted design
        else:
            Q, R, r, ahat = project(Cw, yw)
        return Q, R, r, ahat

    def _amplitudes(self, ahat, w, shared):
        """Physical amplitudes (W, k) from the weighted-space ones."""
        if not shared:
            return ahat
        v, _ = self._row_weights(w)
        return jnp.where(v[:, None] > 0, ahat / jnp.where(v > 0, v, 1.0)[:, None], 0.0)

    def _design_derivatives(self, theta, arrays):
        """(∂Cw/∂θ, Cw, C) per block group (forward mode, one pass)."""
        d, dd = self._spectral_derivatives(theta, arrays)
        return [x["cw"] for x in dd], [x["cw"] for x in d], [x["c"] for x in d]

    def _spectral_derivatives(self, theta, arrays):
        """(:meth:`_spectral_designs`, its θ-derivatives) per block group (forward mode)."""
        def designs(th):
            ds = self._spectral_designs(th, arrays)
            diff = [{k: v for k, v in x.items() if k in ("cw", "mw", "S")} for x in ds]
            return diff, ds

        dd, d = jax.jacfwd(designs, has_aux=True)(theta)
        return d, dd

    def _residual(self, theta, arrays):
        ds = self._spectral_designs(theta, arrays)
        rs, amps = [], []
        for d, (_, y, w, _), shared in zip(ds, self._groups(arrays), self.shared):
            _, _, r, ahat = self._project(d["cw"], y, w, shared, d.get("mw"))
            rs.append(r.ravel())
            amps.append(ahat if "S" not in d else ahat + d["S"])
        if self.model.equal_area:
            rs.append(self._penalty(theta, amps, arrays))
        return jnp.concatenate(rs)

    def _cost(self, theta, arrays):
        # variable-projection gradient: amplitudes fixed at their least-squares values
        ds = self._spectral_designs(theta, arrays)
        total, amps = 0.0, []
        for d, (_, y, w, _), shared in zip(ds, self._groups(arrays), self.shared):
            Cw, mw = d["cw"], d.get("mw")
            _, _, _, ahat = self._project(jax.lax.stop_gradient(Cw), y, w, shared,
                                          None if mw is None else jax.lax.stop_gradient(mw))
            ahat = jax.lax.stop_gradient(ahat)
            if shared:
                r = y * w - ahat @ Cw.T
            else:
                r = y * w - jnp.einsum("wrk,wk->wr", Cw, ahat)
            if mw is not None:
                r = r - mw
            total = total + 0.5 * jnp.sum(r * r)
            if self.model.equal_area:  # the penalty needs the full derivative of â(θ)
                a = self._project(Cw, y, w, shared, mw)[3]
                amps.append(a if "S" not in d else a + d["S"])
        if self.model.equal_area:
            pen = self._penalty(theta, amps, arrays)
            total = total + 0.5 * jnp.sum(pen * pen)
        return total

    def _penalty(self, theta, amps, arrays):
        """Equal-area penalties (pyglotaran's ``equal_area``), (n_groups·n_penalties,).

        ``amps``: per block group the physical amplitudes (W, k) of the columns; species
        spectra follow through the relations.
        """
        m = self.model
        p = m.parameters.physical(theta)
        env = m._env(p)
        Rm = m.relation_matrix(p)
        n_sp = len(m.free_species)
        out = []
        for a, sel in zip(amps, arrays["area"]):
            spec = a[:, :n_sp] @ Rm.T  # (W, compartments)
            for i, e in enumerate(m.equal_area):
                src = jnp.sum(sel[i, 0] * spec[:, m.compartments.index(e.source)])
                tgt = jnp.sum(sel[i, 1] * spec[:, m.compartments.index(e.target)])
                out.append(e.weight * jnp.abs(src - m._ev(e.parameter, env) * tgt))
        return jnp.stack(out)

    def _scaled_cost(self, u, arrays, scale):
        """Cost at θ = u / scale (diagonal preconditioning of the optimiser's variables)."""
        return self._cost(u / scale, arrays)

    # ------------------------------------------------------------------ residual + Jacobian
    def _evaluate(self, theta, arrays):
        """Residual vector, its Jacobian and the fit details at ``theta`` (one pass).

        Returns
        -------
        r : Array (N,)
            Weighted projected residuals (block groups concatenated, wavelength-major).
        J : Array (N, n_free)
            Exact variable-projection Jacobian ∂r/∂θ (Golub–Pereyra).
        details : list of tuples
            Per block group (amplitudes (W, k), unweighted model (W, R), weighted
            residual (W, R), number of active columns per wavelength (W,)).
        """
        ds, dds = self._spectral_derivatives(theta, arrays)
        rs, Js, det, amps, damps = [], [], [], [], []
        for d, dd, (_, y, w, _), shared in zip(ds, dds, self._groups(arrays), self.shared):
            Q, R, r, ahat = self._project(d["cw"], y, w, shared, d.get("mw"))
            J = golub_pereyra_block(Q, R, r, ahat, dd["cw"], shared, dd.get("mw"))
            rs.append(r.ravel())
            Js.append(J.reshape(-1, J.shape[-1]))
            det.append(self._group_details(d["c"], w, R, r, ahat, shared, d))
            if self.model.equal_area:
                da = amplitude_derivative(Q, R, r, ahat, dd["cw"], dd.get("mw"))
                amps.append(ahat if "S" not in d else ahat + d["S"])
                damps.append(da if "S" not in d else da + dd["S"])
        if self.model.equal_area:
            pen = self._penalty(theta, amps, arrays)
            jt, ja = jax.jacfwd(self._penalty, argnums=(0, 1))(theta, amps, arrays)
            Jp = jt + sum(jnp.einsum("nwk,wkp->np", j, da) for j, da in zip(ja, damps))
            rs.append(pen)
            Js.append(Jp)
        return jnp.concatenate(rs), jnp.concatenate(Js), det

    def _point(self, theta, arrays, lam_ref):
        """Everything a single fit needs on the host at one θ, as one compiled program.

        :meth:`_evaluate` (``r``, ``J``, ``details``) plus ``cost``, ``grad`` (Jᵀr),
        ``precond`` (:func:`hotcarrier.fitting.optimize.diagonal_preconditioner` of J's columns),
        ``physical`` (parameter values) and ``dphys`` (∂physical/∂θ, for the delta method),
        ``rate_matrix``, ``initial`` and ``relations`` (the model's matrices at the values),
        ``populations`` (per dataset, at its reference wavelength ``lam_ref[d]`` (nm),
        (T, n)) and ``eigen_margin`` (True where the eigen-form kinetics are accurate with a
        margin of :data:`EIGEN_MARGIN`: a fit with ``kinetics="eigen"`` that ends without it
        is redone with "newton"). Compiling this once replaces dozens of small
        eager operations and separate programs after a fit.
        """
        from ..fitting.optimize import diagonal_preconditioner

        m = self.model
        r, J, det = self._evaluate(theta, arrays)
        p = m.parameters.physical(theta)
        return dict(
            r=r, J=J, details=det, cost=0.5 * jnp.sum(r * r), grad=J.T @ r,
            precond=diagonal_preconditioner(jnp.sum(J * J, axis=0)),
            physical=p, dphys=jax.jacfwd(m.parameters.physical)(theta),
            rate_matrix=m.rate_matrix(p), initial=m.initial_populations(p),
            relations=m.relation_matrix(p),
            populations=[m.species_populations(p, d, arrays["t"][d], lam_ref[d:d + 1],
                                               self.kinetics)[0] for d in range(self.n_sets)],
            eigen_margin=self._eigen_margin(theta))

    def _eigen_margin(self, theta):
        """True where the eigen-form kinetics are accurate at θ with the margin
        :data:`EIGEN_MARGIN` (:func:`hotcarrier.kinetics.eigen_form_accurate`)."""
        m = self.model
        p = m.parameters.physical(theta)
        return eigen_form_accurate(m.scheme, m.rates(p), m.initial_populations(p), EIGEN_MARGIN)

    def point(self, theta, arrays, lam_ref):
        """Jitted :meth:`_point` (compiled once per objective and array shapes)."""
        return self._jit_point(theta, arrays, jnp.asarray(lam_ref, dtype=float))

    @property
    def point_program(self):
        """The jitted :meth:`_point` itself (for ahead-of-time compilation)."""
        return self._jit_point

    def weighted_data(self, arrays):
        """Per block group the weighted data y·w (W, R): loop-invariant, so a caller that
        evaluates many θ on the same data computes it once (:meth:`normal_equations`)."""
        return [y * w for _, y, w, _ in self._groups(arrays)]

    def _normal_equations(self, theta, arrays, yws=None):
        """Cost, gradient Jᵀr and Gauss–Newton matrix JᵀJ of the exact varpro Jacobian, without
        forming J where one QR serves all wavelengths.

        For a shared group (Cw = QR of shape (R, k), amplitudes â (W, k), residual r (W, R))
        the Golub–Pereyra Jacobian of parameter p is J_p = −[P⊥·∂_pCw·âᵀ + Q·R⁻ᵀ·∂_pCwᵀ·rᵀ]ᵀ;
        its two terms are orthogonal (P⊥Q = 0) and Qᵀr = 0, so

        * Jᵀr_p = −⟨∂_pCw, rᵀâ⟩,
        * JᵀJ_pq = tr[(P⊥∂_pCw)ᵀ(P⊥∂_qCw)·âᵀâ] + ⟨R⁻ᵀ∂_pCwᵀrᵀ, R⁻ᵀ∂_qCwᵀrᵀ⟩,

        which costs O(p·k·R·W) instead of the O(p²·R·W) of JᵀJ from an (R·W, p) Jacobian.
        Other groups form J (:meth:`_evaluate`). ``yws``: :meth:`weighted_data` of
        ``arrays``, if already at hand. Returns (cost, grad (n,), JᵀJ (n, n), lean details:
        per group (amplitudes (W, k), active columns (W,)), what a batch keeps).
        """
        if not any(self.shared):
            r, J, det = self._evaluate(theta, arrays)
            return (0.5 * jnp.sum(r * r), J.T @ r, J.T @ J,
                    [(a, active) for a, _, _, active in det])

        dcws, cws, cs = self._design_derivatives(theta, arrays)
        if yws is None:
            yws = self.weighted_data(arrays)
        f, g, H, det = 0.0, 0.0, 0.0, []
        for Cw, C, dCw, (_, y, w, _), yw, shared in zip(cws, cs, dcws, self._groups(arrays),
                                                        yws, self.shared):
            if shared:
                # one pass over the data: yw·[Q, ∂Cw] (W, k + k·p)
                n_r, k, n_p = dCw.shape
                Q, R = mgs_qr(Cw)
                P = yw @ jnp.concatenate([Q, dCw.reshape(n_r, k * n_p)], axis=1)
                A = P[:, :k]  # Qᵀyw per wavelength
                ahat = back_substitute(R, A.T).T  # (W, k)
                r = yw - A @ Q.T
                QtdC = jnp.einsum("rk,rjp->kjp", Q, dCw)
                rdC = P[:, k:].reshape(-1, k, n_p) - jnp.einsum("wk,kjp->wjp", A, QtdC)
                g_grp = -jnp.einsum("wk,wkp->p", ahat, rdC)
                E = dCw - jnp.einsum("rk,kjp->rjp", Q, QtdC)  # P⊥·∂Cw
                EG = jnp.einsum("rkp,kj->rjp", E, ahat.T @ ahat).reshape(-1, n_p)
                H1 = EG.T @ E.reshape(-1, n_p)  # tr[Eₚᵀ E_q âᵀâ]
                Z = forward_substitute_t(R, jnp.moveaxis(rdC, 1, 0))  # (k, W, p)
                H_grp = H1 + jnp.einsum("kwp,kwq->pq", Z, Z)
            else:
                Q, R, r, ahat = self._project(Cw, y, w, shared)
                J = golub_pereyra_block(Q, R, r, ahat, dCw, shared)
                g_grp = jnp.einsum("wrp,wr->p", J, r)
                H_grp = jnp.einsum("wrp,wrq->pq", J, J)
            f = f + 0.5 * jnp.sum(r * r)
            g = g + g_grp
            H = H + H_grp
            a, _, _, active = self._group_details(C, w, R, r, ahat, shared)
            det.append((a, active))
        return f, g, H, det

    def _details(self, theta, arrays):
        """Per block group: coef (W, k), unweighted model (W, R), weighted residual (W, R),
        and the number of active (non-vanishing) columns per wavelength (W,)."""
        ds = self._spectral_designs(theta, arrays)
        res = []
        for d, (_, y, w, _), shared in zip(ds, self._groups(arrays), self.shared):
            _, R, r, ahat = self._project(d["cw"], y, w, shared, d.get("mw"))
            res.append(self._group_details(d["c"], w, R, r, ahat, shared, d))
        return res

    def _group_details(self, C, w, R, r, ahat, shared, design=None):
        """(amplitudes (W, k), unweighted model (W, R), weighted residual, active columns (W,)).

        ``design``: the group's :meth:`_spectral_designs` entry (parametric spectra enter the
        amplitudes and the model). The model holds the data rows only; the residual also the
        guide rows.
        """
        a = self._amplitudes(ahat, w, shared)
        if shared:
            model = a @ C.T
            active = jnp.sum(jnp.diag(R) > 0) * (self._row_weights(w)[0] > 0)
        else:
            model = jnp.einsum("wrk,wk->wr", C, a)
            active = jnp.sum(jnp.diagonal(R, axis1=1, axis2=2) > 0, axis=1)
            if design is not None and "m" in design:
                model = model + design["m"]
                a = a + design["S"]
            if self.model.guides:
                model = model[:, :model.shape[1] - len(self.model.guides)]
        return a, model, r, active

    def details(self, theta, arrays):
        """Jitted :meth:`_details`."""
        return self._jit_details(theta, arrays)

    def jacobian(self, theta, arrays):
        """Exact variable-projection Jacobian of :meth:`_residual`, (N, n_free) (jitted)."""
        return self._jit_evaluate(theta, arrays)[1]


_CACHE: dict = {}


@dataclass(frozen=True)
class _Bound:
    """A hashable callable bound to an Objective (identity hash → stable jit cache)."""

    obj: Objective
    name: str

    def __call__(self, theta, *args):
        return getattr(self.obj, self.name)(theta, *args)

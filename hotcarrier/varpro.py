"""Variable projection: the spectra are solved by linear least squares inside the objective.

For every wavelength the (weighted) design matrix C (delay × column) differs — IRF
dispersion, masks, weights and spectral constraints are per cell — so the projection is
``vmap``-ed over wavelengths; there is no Python loop over wavelengths and the whole
objective is one jitted program.

The linear solve is a LAPACK-free modified Gram–Schmidt QR with re-orthogonalisation
("twice is enough"), unrolled over the few columns: it is exact to rounding for the
well-conditioned small systems of target analysis, differentiable, and avoids the batched
LAPACK dead-lock of jax 0.10 on CPU for vmapped batches > 512 (see jax-notes.md), which a
batch of fits × wavelengths would otherwise hit. Columns that vanish (masked, constrained
to zero, or linearly dependent) get amplitude 0.

Several datasets either share their spectra at equal wavelengths (``link=True``, pyglotaran's
clp linking: rows of all datasets are stacked per wavelength of the union grid) or have
their own (each dataset projected separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["project", "VarproProblem", "build_problem"]

_RANK_RTOL = 1e-10


def project(C, y):
    """Least-squares projection of ``y`` onto the columns of ``C`` (one wavelength).

    Parameters
    ----------
    C : Array (T, k)
        Weighted design matrix (rows of masked cells are zero).
    y : Array (T,)
        Weighted data.

    Returns
    -------
    residual : Array (T,)
        y − C a.
    coef : Array (k,)
        a = argmin ‖y − C a‖ (0 for vanishing / dependent columns).
    """
    T, k = C.shape
    # sqrt is not differentiable at 0 (an all-zero column: a fully masked wavelength, a
    # spectral constraint), so take it only of values guarded away from 0.
    scale2 = jnp.max(jnp.sum(C * C, axis=0))
    scale = jnp.sqrt(jnp.where(scale2 > 0, scale2, 1.0)) * (scale2 > 0)
    tiny = _RANK_RTOL * scale + 1e-300
    qs, R = [], jnp.zeros((k, k), C.dtype)
    for j in range(k):
        v = C[:, j]
        for _ in range(2):  # re-orthogonalise
            for i, q in enumerate(qs):
                c = jnp.dot(q, v)
                v = v - c * q
                R = R.at[i, j].add(c)
        nrm2 = jnp.dot(v, v)
        ok = nrm2 > tiny * tiny
        safe = jnp.sqrt(jnp.where(ok, nrm2, 1.0))
        nrm = jnp.where(ok, safe, 0.0)
        q = jnp.where(ok, v / safe, 0.0)
        R = R.at[j, j].set(jnp.where(ok, nrm, 0.0))
        qs.append(q)
    Q = jnp.stack(qs, axis=1)
    qty = Q.T @ y
    r = y - Q @ qty
    # back substitution R a = Qᵀy, skipping vanished columns
    a = [None] * k
    for j in reversed(range(k)):
        s = qty[j]
        for i in range(j + 1, k):
            s = s - R[j, i] * a[i]
        d = R[j, j]
        a[j] = jnp.where(d > 0, s / jnp.where(d > 0, d, 1.0), 0.0)
    return r, jnp.stack(a)


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
        (W_eval, T_d), weighted mask folded in), ``colmask`` (list).
    index : list of ndarray
        Linked: per dataset the column of its own wavelength grid at each union wavelength
        (−1 = absent).
    n_data : int
        Cells taking part in the fit.
    """

    link: bool
    wavelengths: list
    arrays: dict
    index: list
    n_data: int


def build_problem(model, datasets, link_tolerance: float = 0.01) -> VarproProblem:
    """Assemble the fit arrays from prepared TA datasets (NumPy; the edge).

    Parameters
    ----------
    model : TargetModel
    datasets : list of xarray.Dataset
        Prepared TA datasets (one per ``model.datasets`` entry).
    link_tolerance : float, nm
        Wavelengths of different datasets closer than this are the same (linked) point.

    Returns
    -------
    VarproProblem
    """
    from .dataset import SIGNAL, SPECTRAL_DIM, TIME_DIM, WEIGHT, fit_mask

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
    link = model.link_spectra and len(datasets) > 1
    index = []
    if link:
        allw = np.sort(np.concatenate(wls))
        union = [allw[0]]
        for x in allw[1:]:
            if x - union[-1] > link_tolerance:
                union.append(x)
        union = np.array(union)
        Y, Wt = [], []
        for y, w, wl in zip(ys, ws, wls):
            pos = np.searchsorted(wl, union) if np.all(np.diff(wl) > 0) else None
            idx = np.full(union.size, -1)
            for u, x in enumerate(union):
                j = int(np.argmin(np.abs(wl - x)))
                if abs(wl[j] - x) <= link_tolerance:
                    idx[u] = j
            del pos
            index.append(idx)
            Y.append(np.where(idx[:, None] >= 0, y[np.maximum(idx, 0)], 0.0))
            Wt.append(np.where(idx[:, None] >= 0, w[np.maximum(idx, 0)], 0.0))
        ys, ws = Y, Wt
        eval_wl = [union]
        colmask = [jnp.asarray(model.column_mask(union))]
    else:
        eval_wl = wls
        colmask = [jnp.asarray(model.column_mask(wl)) for wl in wls]
    arrays = dict(t=[jnp.asarray(t) for t in ts], y=[jnp.asarray(y) for y in ys],
                  w=[jnp.asarray(w) for w in ws], colmask=colmask,
                  wl=[jnp.asarray(w) for w in eval_wl])
    return VarproProblem(link=link, wavelengths=eval_wl, arrays=arrays, index=index,
                         n_data=n_data)


class Objective:
    """Pure-JAX objective of a model on a problem's structure: θ → residuals / cost / spectra.

    Instances are hashable by identity, so ``optimize.minimize(objective.cost, ...)`` reuses
    its compiled program for new data of the same shapes.
    """

    def __init__(self, model, link: bool, n_sets: int):
        self.model = model
        self.link = link
        self.n_sets = n_sets
        self.cost = _Bound(self, "_cost")
        self.residual = _Bound(self, "_residual")
        self.scaled_cost = _Bound(self, "_scaled_cost")
        self._jit_details = jax.jit(self._details)
        self.jacobian = jax.jit(jax.jacfwd(lambda th, arrays: self._residual(th, arrays)))

    @classmethod
    def for_problem(cls, model, problem: VarproProblem) -> Objective:
        """The (cached) objective of ``model`` on a problem of this structure.

        Objectives are cached by the model's structural key, so fitting the same model again
        (new data of any size, new start values) reuses the compiled programs.
        """
        key = (model.cache_key(), problem.link, len(problem.arrays["t"]))
        obj = _CACHE.get(key)
        if obj is None:
            obj = _CACHE[key] = cls(model, problem.link, len(problem.arrays["t"]))
        return obj

    def _scaled_cost(self, u, arrays, scale):
        """Cost at θ = u / scale (diagonal preconditioning of the optimiser's variables)."""
        return self._cost(u / scale, arrays)

    def _blocks(self, theta, arrays):
        """Per block group: design matrices (W, R, k), data (W, R), weights (W, R)."""
        p = self.model.parameters.physical(theta)
        if self.link:
            Cs = [self.model.matrix(p, d, arrays["t"][d], arrays["wl"][0])
                  for d in range(self.n_sets)]
            C = jnp.concatenate(Cs, axis=1)
            y = jnp.concatenate(arrays["y"], axis=1)
            w = jnp.concatenate(arrays["w"], axis=1)
            return [(C, y, w, arrays["colmask"][0])]
        return [(self.model.matrix(p, d, arrays["t"][d], arrays["wl"][d]), arrays["y"][d],
                 arrays["w"][d], arrays["colmask"][d]) for d in range(self.n_sets)]

    @staticmethod
    def _solve(C, y, w, cm):
        Cw = C * w[:, :, None] * cm[:, None, :]
        return jax.vmap(project)(Cw, y * w)

    def _residual(self, theta, arrays):
        out = []
        for C, y, w, cm in self._blocks(theta, arrays):
            r, _ = self._solve(C, y, w, cm)
            out.append(r.ravel())
        return jnp.concatenate(out)

    def _cost(self, theta, arrays):
        r = self._residual(theta, arrays)
        return 0.5 * jnp.sum(r * r)

    def _details(self, theta, arrays):
        """Per block group: coef (W, k), unweighted model (W, R), weighted residual (W, R),
        and the number of active (non-vanishing) columns per wavelength (W,)."""
        res = []
        for C, y, w, cm in self._blocks(theta, arrays):
            r, a = self._solve(C, y, w, cm)
            model = jnp.einsum("wrk,wk->wr", C * cm[:, None, :], a)
            norms = jnp.sqrt(jnp.sum((C * w[:, :, None] * cm[:, None, :]) ** 2, axis=1))
            active = jnp.sum(norms > _RANK_RTOL * jnp.max(norms, axis=1, keepdims=True), axis=1)
            res.append((a, model, r, active))
        return res

    def details(self, theta, arrays):
        """Jitted :meth:`_details`."""
        return self._jit_details(theta, arrays)


_CACHE: dict = {}


class _Bound:
    """A hashable callable bound to an Objective (identity hash → stable jit cache)."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __call__(self, theta, *args):
        return getattr(self.obj, self.name)(theta, *args)

    def __hash__(self):
        return hash((id(self.obj), self.name))

    def __eq__(self, other):
        return isinstance(other, _Bound) and other.obj is self.obj and other.name == self.name

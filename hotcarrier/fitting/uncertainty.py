"""Parameter uncertainties: Gauss–Newton covariance, identifiability, delta method, profiles.

One routine each, used by every model (target analysis, the physical model, batches).

Conventions (pyglotaran's): with J the Jacobian of the (weighted, projected) residual vector
with respect to the free parameters, cost = ½Σr² and

    dof        = n_data − n_free − n_amplitudes
    RMSE²      = 2·cost / dof           (= reduced χ² of the weighted residuals)
    covariance = (JᵀJ)⁻¹ · RMSE²
    stderr     = √diag(covariance)

A parameter the data cannot determine (JᵀJ singular or ill-conditioned along a direction in
which it takes part) is flagged ``identifiable = False`` and gets NaN standard errors — never 0.
The functions are pure JAX/NumPy on arrays; parameters are flat vectors.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CovarianceResult", "gauss_newton_covariance", "gauss_newton_covariances",
           "propagate_covariance", "standard_errors", "correlation_matrix", "profile_interval"]


class CovarianceResult(NamedTuple):
    """Gauss–Newton covariance of free parameters.

    Attributes
    ----------
    covariance : ndarray (n, n)
        NaN in rows/columns of non-identifiable parameters.
    stderr : ndarray (n,)
        Standard errors; NaN where not identifiable.
    correlation : ndarray (n, n)
    identifiable : ndarray (n,) of bool
    rmse : float
        √(2·cost/dof).
    dof : int
    condition : float
        Condition number of the column-scaled JᵀJ.
    null_directions : ndarray (n, m)
        Eigenvectors (column-scaled space) spanning the undetermined directions.
    """

    covariance: np.ndarray
    stderr: np.ndarray
    correlation: np.ndarray
    identifiable: np.ndarray
    rmse: float
    dof: int
    condition: float
    null_directions: np.ndarray


def gauss_newton_covariance(jac, cost, n_data: int, n_amplitudes: int = 0,
                            rcond: float = 1e-10, participation: float = 0.05,
                            col_rtol: float = 1e-8, max_stderr: float = math.inf
                            ) -> CovarianceResult:
    """Covariance of the free parameters from the residual Jacobian.

    Parameters
    ----------
    jac : array (n_residuals, n)
        Jacobian of the weighted residuals (masked cells give zero rows).
    cost : float
        ½Σr² at the optimum.
    n_data : int
        Number of data points that take part in the fit.
    n_amplitudes : int
        Linear parameters solved by variable projection (conditionally linear amplitudes).
    rcond : float
        Eigenvalues of the column-normalised JᵀJ below ``rcond · λ_max`` (equivalently,
        singular values of J below √rcond · s_max ≈ 1e-5 · s_max) are treated as zero.
    participation : float
        A parameter whose squared weight in the null directions exceeds this is flagged
        non-identifiable.
    col_rtol : float
        A parameter whose Jacobian column norm is below ``col_rtol`` × the largest one has
        (almost) no effect on the residuals — e.g. a rate that ran away to 0 or ∞ in log
        space — and is flagged non-identifiable.
    max_stderr : float
        Standard errors above this (in the parameters' own units, e.g. log/logit space
        where 100 means "not even the order of magnitude") are flagged non-identifiable.

    Returns
    -------
    CovarianceResult

    Notes
    -----
    Columns are normalised first, so the threshold is independent of parameter units. The
    covariance of the identifiable parameters is the inverse of JᵀJ restricted to them (the
    undetermined ones are held at their values), scaled by RMSE².
    """
    J = np.asarray(jac, dtype=float)
    n = J.shape[1]
    dof = int(n_data - n - n_amplitudes)
    rmse2 = 2.0 * float(cost) / dof if dof > 0 else float("nan")
    JTJ = J.T @ J
    norms = np.sqrt(np.clip(np.diag(JTJ), 0.0, None))
    ok_col = norms > col_rtol * (norms.max() if n else 1.0)
    scale = np.where(ok_col, norms, 1.0)
    M = JTJ / np.outer(scale, scale)
    M[~ok_col, :] = 0.0
    M[:, ~ok_col] = 0.0
    w, V = np.linalg.eigh(M)
    wmax = max(float(w.max()), np.finfo(float).tiny) if n else 1.0
    null = w <= rcond * wmax
    Vn = V[:, null]
    weight_null = np.sum(Vn**2, axis=1) if Vn.size else np.zeros(n)
    identifiable = ok_col & (weight_null <= participation)
    pos = w[w > rcond * wmax]
    condition = float(wmax / pos.min()) if pos.size and not null.any() else float("inf")

    def restricted_inverse(keep):
        cov = np.full((n, n), np.nan)
        idx = np.flatnonzero(keep)
        cov[np.ix_(idx, idx)] = (np.linalg.inv(M[np.ix_(idx, idx)])
                                 / np.outer(scale[idx], scale[idx]) * rmse2)
        return cov, standard_errors(cov)

    cov, stderr = restricted_inverse(identifiable)
    huge = np.isfinite(stderr) & (stderr > max_stderr)
    if huge.any():  # undetermined: recompute without them so the others are conditional
        identifiable = identifiable & ~huge
        cov, stderr = restricted_inverse(identifiable)
    return CovarianceResult(covariance=cov, stderr=stderr, correlation=correlation_matrix(cov),
                            identifiable=identifiable, rmse=float(np.sqrt(rmse2)), dof=dof,
                            condition=condition, null_directions=Vn)


def gauss_newton_covariances(jtj, cost, n_data, n_amplitudes, rcond: float = 1e-10,
                             col_rtol: float = 1e-8, max_stderr: float = math.inf,
                             **options):
    """:func:`gauss_newton_covariance` for a stack of fits, from their JᵀJ (batch fits).

    Parameters
    ----------
    jtj : array (k, n, n)
        Gauss–Newton matrices JᵀJ of ``k`` fits (non-finite ones are skipped).
    cost, n_data, n_amplitudes : arrays (k,)
    rcond, col_rtol, max_stderr, options
        As in :func:`gauss_newton_covariance`.

    Returns
    -------
    covariance : ndarray (k, n, n)
        NaN for skipped fits and in rows/columns of non-identifiable parameters.
    identifiable : ndarray (k, n) of bool

    Notes
    -----
    Regular fits (every column effective, no eigenvalue of the column-normalised JᵀJ below
    ``rcond`` × the largest, no standard error above ``max_stderr``) are inverted together;
    the others go through :func:`gauss_newton_covariance` one by one, so both give the same
    numbers.
    """
    H = np.asarray(jtj, dtype=float)
    k, n = H.shape[0], H.shape[-1]
    H = 0.5 * (H + np.swapaxes(H, 1, 2))
    cost = np.asarray(cost, float)
    n_data = np.asarray(n_data, np.int64)
    n_amplitudes = np.asarray(n_amplitudes, np.int64)
    cov = np.full((k, n, n), np.nan)
    ident = np.zeros((k, n), bool)
    finite = np.all(np.isfinite(H), axis=(1, 2)) & np.isfinite(cost)
    if not finite.any() or n == 0:
        return cov, ident
    dof = n_data - n - n_amplitudes
    rmse2 = np.where(dof > 0, 2.0 * cost / np.maximum(dof, 1), np.nan)
    norms = np.sqrt(np.clip(np.diagonal(H, axis1=1, axis2=2), 0.0, None))
    ok_col = norms > col_rtol * norms.max(axis=1, keepdims=True)
    scale = np.where(ok_col, norms, 1.0)
    M = H / (scale[:, :, None] * scale[:, None, :])
    w = np.full((k, n), np.nan)
    w[finite] = np.linalg.eigvalsh(M[finite])
    wmax = np.maximum(np.nanmax(np.where(np.isfinite(w), w, -np.inf), axis=1),
                      np.finfo(float).tiny)
    regular = finite & ok_col.all(axis=1) & np.all(w > rcond * wmax[:, None], axis=1)
    if regular.any():
        inv = np.linalg.inv(M[regular]) / (scale[regular, :, None] * scale[regular, None, :])
        c = inv * rmse2[regular, None, None]
        d = np.diagonal(c, axis1=1, axis2=2)
        huge = np.any(np.isfinite(d) & (np.sqrt(np.abs(d)) > max_stderr), axis=1)
        rows = np.flatnonzero(regular)
        cov[rows[~huge]] = c[~huge]
        ident[rows[~huge]] = True
        regular[rows[huge]] = False
    for i in np.flatnonzero(finite & ~regular):
        wi, V = np.linalg.eigh(H[i])
        jhalf = np.sqrt(np.clip(wi, 0.0, None))[:, None] * V.T  # jhalfᵀ jhalf = JᵀJ
        cr = gauss_newton_covariance(jhalf, cost[i], int(n_data[i]), int(n_amplitudes[i]),
                                     rcond=rcond, col_rtol=col_rtol, max_stderr=max_stderr,
                                     **options)
        cov[i], ident[i] = cr.covariance, cr.identifiable
    return cov, ident


def propagate_covariance(transform, x, cov, identifiable=None, jac=None):
    """Delta method: covariance of ``transform(x)`` given the covariance of ``x``.

    The package's one delta method (single fits, stacks of fits, derived quantities).

    Parameters
    ----------
    transform : callable or None
        ``transform(x) -> Array (m,)`` (e.g. unconstrained → physical parameters); unused
        when ``jac`` is given.
    x : array (n,), or None with ``jac``
    cov : array (..., n, n)
        May contain NaN rows/columns for non-identifiable entries; a leading batch shape
        (stacked fits) needs ``jac`` with the same leading shape.
    identifiable : array (..., n) of bool, optional
        Defaults to the finite diagonal of ``cov``.
    jac : array (..., m, n), optional
        ∂transform/∂x when already computed (else by forward-mode autodiff).

    Returns
    -------
    cov_out : ndarray (..., m, m)
        J cov Jᵀ; outputs that depend on a non-identifiable input get NaN rows/columns.
    jac : ndarray (..., m, n)
    """
    cov = np.asarray(cov, dtype=float)
    if identifiable is None:
        identifiable = np.isfinite(np.diagonal(cov, axis1=-2, axis2=-1))
    identifiable = np.asarray(identifiable, bool)
    J = (np.asarray(jac, float) if jac is not None else
         np.asarray(jax.jacfwd(lambda p: jnp.ravel(transform(p)))(jnp.asarray(x, float))))
    c0 = np.where(np.isfinite(cov), cov, 0.0)
    out = np.einsum("...pi,...ij,...qj->...pq", J, c0, J)
    bad = np.any((np.abs(J) > 0) & ~identifiable[..., None, :], axis=-1)  # (..., m)
    out = np.where(bad[..., :, None] | bad[..., None, :], np.nan, out)
    return out, J


def standard_errors(cov):
    """√diag of a (stack of) covariance matrices; NaN where a variance is NaN or < 0."""
    d = np.diagonal(np.asarray(cov, float), axis1=-2, axis2=-1)
    return np.sqrt(np.where(d >= 0, d, np.nan))


def correlation_matrix(cov):
    """Correlation matrix of a covariance (NaN where a variance is NaN or ≤ 0)."""
    cov = np.asarray(cov, dtype=float)
    d = np.diag(cov)
    s = np.sqrt(np.where(d > 0, d, np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(s, s)


def profile_interval(refit, value: float, step: float, threshold: float, *, cost0: float,
                     warm=None, bounds=(-math.inf, math.inf), max_steps: int = 30,
                     extrapolate: bool = False):
    """Profile-likelihood interval of one parameter: the package's one profile routine.

    Walks away from the optimum ``value`` in steps of ``step`` on each side; at every point
    the parameter is pinned and all others are re-optimised by ``refit`` (warm-started from
    the previous point), until the profiled cost has risen by ``threshold``. The crossing
    is interpolated linearly in √Δcost, exact for a quadratic profile.

    Parameters
    ----------
    refit : callable
        ``refit(v, warm) -> (cost, warm)``: the cost minimised over the other parameters
        with this one pinned at ``v``, and the state to warm-start the next point from.
    value : float
        The parameter at the optimum (in the coordinates ``refit`` takes).
    step : float
        Step size (e.g. 0.5–0.8 standard errors).
    threshold : float
        Rise of the cost that defines the interval. For cost = ½Σr² with
        RMSE² = 2·cost/dof: 68 % is RMSE²/2 (Δχ² = 1), 95 % is 1.92·RMSE² (Δχ² = 3.84).
    cost0 : float
        Cost at the optimum.
    warm : any
        Start state of the first ``refit`` on each side (e.g. the optimum's parameters).
    bounds : (float, float)
        The parameter's own bounds: a side that reaches one ends there.
    max_steps : int
        Points per side. A side whose crossing is not reached ends at ±inf, or with
        ``extrapolate`` at the √Δcost-linear extrapolation from its last point.

    Returns
    -------
    (lower, upper) : tuple of float
    grid : ndarray
        Parameter values visited (sorted, the optimum included).
    delta_cost : ndarray
        Profiled cost minus ``cost0`` at ``grid``.
    """
    ends, pts = [], {float(value): 0.0}
    for sign in (-1.0, 1.0):
        state, prev_v, prev_d, end = warm, float(value), 0.0, None
        for k in range(1, max_steps + 1):
            v = float(value) + sign * k * step
            if not bounds[0] < v < bounds[1]:
                end = bounds[0] if sign < 0 else bounds[1]
                break
            cost, state = refit(v, state)
            d = float(cost) - float(cost0)
            pts[v] = d
            if d >= threshold:
                a, b = math.sqrt(max(prev_d, 0.0)), math.sqrt(d)
                end = prev_v + (v - prev_v) * (math.sqrt(threshold) - a) / (b - a)
                break
            prev_v, prev_d = v, d
        if end is None:
            end = (float(value) + sign * abs(prev_v - float(value))
                   * math.sqrt(threshold / max(prev_d, 1e-300))) if extrapolate else sign * math.inf
        ends.append(float(end))
    grid = np.array(sorted(pts))
    return (ends[0], ends[1]), grid, np.array([pts[g] for g in grid])

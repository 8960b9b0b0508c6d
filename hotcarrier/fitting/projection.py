"""Variable projection numerics: QR, triangular solves, the Golub–Pereyra Jacobian.

Shared by every model whose prediction is linear in some amplitudes (spectra, calibration
constants): the amplitudes are solved by linear least squares inside the objective, and the
objective's Jacobian with respect to the nonlinear parameters is the exact Golub–Pereyra
one. Pure JAX, arrays in, arrays out.

The linear solve is a LAPACK-free modified Gram–Schmidt QR with re-orthogonalisation
("twice is enough"), unrolled over the few columns: exact to rounding for the small,
well-conditioned systems here, differentiable, and free of the batched-LAPACK dead-lock of
jax 0.10 on CPU for vmapped batches > 512 (see jax-notes.md). Columns that vanish (masked,
constrained to zero, or linearly dependent) get amplitude 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["mgs_qr", "back_substitute", "forward_substitute_t", "project", "golub_pereyra_block",
           "amplitude_derivative", "separable_weights", "cholesky_solve",
           "linear_least_squares", "nnls_passive_set"]

_RANK_RTOL = 1e-10


def mgs_qr(C, compact: bool = False):
    """Thin QR of a small design matrix by modified Gram–Schmidt, twice (LAPACK-free).

    Parameters
    ----------
    C : Array (T, k)
    compact : bool
        One ``lax.scan`` step per column (classical Gram–Schmidt, twice) even for few
        columns: a program several times smaller, for programs whose compilation is most
        of their cost; the same factorisation to rounding.

    Returns
    -------
    Q : Array (T, k)
        Orthonormal columns; 0 for a vanished (zero, masked or dependent) column.
    R : Array (k, k)
        Upper triangular, C = Q R on the kept columns; R[j, j] = 0 marks a vanished column.
        Q and R are NaN when C has a non-finite entry (a NaN model column is never taken for
        a vanished one: the residual and the cost are NaN, and an optimiser step rejected).
    """
    Q, R = _mgs_qr(C, compact)
    bad = ~jnp.all(jnp.isfinite(C))
    return jnp.where(bad, jnp.nan, Q), jnp.where(bad, jnp.nan, R)


def _mgs_qr(C, compact=False):
    T, k = C.shape
    # sqrt is not differentiable at 0 (an all-zero column: a fully masked wavelength, a
    # spectral constraint), so take it only of values guarded away from 0.
    scale2 = jnp.max(jnp.sum(C * C, axis=0))
    scale = jnp.sqrt(jnp.where(scale2 > 0, scale2, 1.0)) * (scale2 > 0)
    tiny = _RANK_RTOL * scale + 1e-300
    if compact or k > UNROLL_MAX:
        return _gram_schmidt_scan(C, tiny)
    qs, R = [], jnp.zeros((k, k), C.dtype)
    for j in range(k):
        v = C[:, j]
        for _ in range(2):  # re-orthogonalise ("twice is enough")
            for i, q in enumerate(qs):
                c = jnp.dot(q, v)
                v = v - c * q
                R = R.at[i, j].add(c)
        nrm2 = jnp.dot(v, v)
        ok = nrm2 > tiny * tiny
        safe = jnp.sqrt(jnp.where(ok, nrm2, 1.0))
        q = jnp.where(ok, v / safe, 0.0)
        R = R.at[j, j].set(jnp.where(ok, safe, 0.0))
        qs.append(q)
    return jnp.stack(qs, axis=1), R


#: Up to this many columns the QR and the substitutions are unrolled (fastest for the usual
#: few columns); beyond, one ``lax.scan`` step per column keeps the compiled program the same
#: size for any number of compartments.
UNROLL_MAX = 8


def _gram_schmidt_scan(C, tiny):
    """:func:`mgs_qr` as a scan over columns (classical Gram–Schmidt, twice: orthogonal to
    rounding like the unrolled modified one; same vanished-column rule)."""
    T, k = C.shape

    def column(carry, j):
        Q, R = carry  # columns ≥ j of Q are still 0, so Qᵀv has zeros there
        v = jnp.take(C, j, axis=1)
        for _ in range(2):  # re-orthogonalise ("twice is enough")
            c = Q.T @ v
            v = v - Q @ c
            R = R.at[:, j].add(c)
        nrm2 = jnp.dot(v, v)
        ok = nrm2 > tiny * tiny
        safe = jnp.sqrt(jnp.where(ok, nrm2, 1.0))
        Q = Q.at[:, j].set(jnp.where(ok, v / safe, 0.0))
        R = R.at[j, j].set(jnp.where(ok, safe, 0.0))
        return (Q, R), None

    zero = jnp.zeros((T, k), C.dtype), jnp.zeros((k, k), C.dtype)
    return jax.lax.scan(column, zero, jnp.arange(k))[0]


def back_substitute(R, b, compact: bool = False):
    """Solve R a = b (R upper triangular (k, k), b (k, ...)); a_j = 0 where R[j, j] = 0.
    ``compact``: a scan over the columns however few (as :func:`mgs_qr`)."""
    return _substitute(R, b, transpose=False, compact=compact)


def forward_substitute_t(R, b, compact: bool = False):
    """Solve Rᵀ z = b (R upper triangular (k, k), b (k, ...)); z_j = 0 where R[j, j] = 0.
    ``compact``: a scan over the columns however few (as :func:`mgs_qr`)."""
    return _substitute(R, b, transpose=True, compact=compact)


def _substitute(R, b, transpose: bool, compact: bool = False):
    """Unrolled back (R) or forward (Rᵀ) substitution over the few columns."""
    k = R.shape[0]
    if compact or k > UNROLL_MAX:
        return _substitute_scan(R, b, transpose)
    x = [None] * k
    for j in (range(k) if transpose else reversed(range(k))):
        s = b[j]
        for i in (range(j) if transpose else range(j + 1, k)):
            s = s - (R[i, j] if transpose else R[j, i]) * x[i]
        d = R[j, j]
        x[j] = jnp.where(d > 0, s / jnp.where(d > 0, d, 1.0), 0.0)
    return jnp.stack(x)


def project(Cw, yw, compact: bool = False):
    """Least-squares projection of one data block per row of a batch (LAPACK-free QR).

    ``Cw`` (W, R, k) weighted designs, ``yw`` (W, R) weighted data (a known model part
    already subtracted); ``compact`` as in :func:`mgs_qr`. Returns (Q (W, R, k), R (W, k, k),
    projected residual r (W, R), amplitudes â (W, k)) — the inputs of
    :func:`golub_pereyra_block`.
    """
    Q, R = jax.vmap(lambda C: mgs_qr(C, compact))(Cw)
    A = jnp.einsum("wrk,wr->wk", Q, yw)
    r = yw - jnp.einsum("wrk,wk->wr", Q, A)
    return Q, R, r, jax.vmap(lambda R_, a: back_substitute(R_, a, compact))(R, A)


def golub_pereyra_block(Q, R, r, ahat, dCw, shared: bool, dm=None, compact: bool = False):
    """Exact (Golub–Pereyra) Jacobian of one group's projected residual, (W, R, p).

    J_p = −[P⊥·∂_pCw·â + Q·R⁻ᵀ·∂_pCwᵀ·r] per wavelength, from the QR (Q, R), the residual r
    (W, R), the amplitudes â (W, k) and the design derivatives ∂Cw ((R, k, p) shared,
    else (W, R, k, p)). ``dm`` (W, R, p; per-wavelength path only): derivative of a known
    model part m(θ) subtracted from the data (r = P⊥(y − m)); it adds −P⊥·∂_pm.
    Vanished columns (R[j, j] = 0: masked, or held at zero by an active NNLS constraint)
    contribute nothing, so an NNLS active set is treated as fixed. ``compact``: the
    substitutions as scans (as :func:`mgs_qr`).
    """
    if shared:
        U = jnp.einsum("rkp,wk->wrp", dCw, ahat)
        PU = U - jnp.einsum("rk,wkp->wrp", Q, jnp.einsum("rk,wrp->wkp", Q, U))
        Z = forward_substitute_t(R, jnp.einsum("rkp,wr->kwp", dCw, r), compact)  # (k, W, p)
        return -(PU + jnp.einsum("rk,kwp->wrp", Q, Z))
    U = jnp.einsum("wrkp,wk->wrp", dCw, ahat)
    if dm is not None:
        U = U + dm
    PU = U - jnp.einsum("wrk,wkp->wrp", Q, jnp.einsum("wrk,wrp->wkp", Q, U))
    Z = jax.vmap(lambda R_, b: forward_substitute_t(R_, b, compact))(
        R, jnp.einsum("wrkp,wr->wkp", dCw, r))  # (W, k, p)
    return -(PU + jnp.einsum("wrk,wkp->wrp", Q, Z))


def amplitude_derivative(Q, R, r, ahat, dCw, dm=None):
    """∂â/∂θ of the per-wavelength least-squares amplitudes, (W, k, p).

    â = R⁻¹Qᵀ(y − m) gives ∂_pâ = R⁻¹[R⁻ᵀ·∂_pCwᵀ·r − Qᵀ·(∂_pCw·â + ∂_pm)] (Q (W, R, k),
    R (W, k, k), r (W, R), â (W, k), ∂Cw (W, R, k, p), ``dm`` (W, R, p) or None); 0 for
    vanished columns (an active NNLS constraint stays at zero).
    """
    U = jnp.einsum("wrkp,wk->wrp", dCw, ahat)
    if dm is not None:
        U = U + dm
    Z = jax.vmap(forward_substitute_t)(R, jnp.einsum("wrkp,wr->wkp", dCw, r))
    return jax.vmap(back_substitute)(R, Z - jnp.einsum("wrk,wrp->wkp", Q, U))


def separable_weights(w, rtol: float = 1e-12):
    """True when a (W, R) weight map is an outer product v(λ)·u(t) (NumPy, host side).

    Then every wavelength's weighted least-squares problem has the same design matrix up to
    a factor, and the projection is one QR for all wavelengths (:class:`Objective`).
    """
    w = np.asarray(w, float)
    if w.size == 0 or not np.all(np.isfinite(w)):
        return False
    v = w.max(axis=1)
    j = int(np.argmax(v))
    if v[j] <= 0:
        return False
    u = w[j] / v[j]
    return bool(np.allclose(np.outer(v, u), w, rtol=rtol, atol=0.0))


def cholesky_solve(A, b):
    """Solve A x = b for a small symmetric positive definite A (LAPACK-free, ``fori_loop``).

    Batched LAPACK inside large ``vmap``s dead-locks on CPU with jax 0.10 (jax-notes.md),
    and the systems here are n_free × n_free, so a few vector operations per column do.
    """
    n = A.shape[0]
    idx = jnp.arange(n)

    def column(j, L):
        v = A[:, j] - L @ L[j, :]
        piv = v[j]
        ok = piv > 0
        col = jnp.where(idx >= j, v / jnp.sqrt(jnp.where(ok, piv, 1.0)), 0.0)
        return L.at[:, j].set(jnp.where(ok, col, (idx == j).astype(A.dtype)))

    L = jax.lax.fori_loop(0, n, column, jnp.zeros_like(A))

    def forward(i, y):
        return y.at[i].set((b[i] - L[i, :] @ y) / L[i, i])

    y = jax.lax.fori_loop(0, n, forward, jnp.zeros_like(b))

    def backward(k, x):
        i = n - 1 - k
        return x.at[i].set((y[i] - L[:, i] @ x) / L[i, i])

    return jax.lax.fori_loop(0, n, backward, jnp.zeros_like(b))


def linear_least_squares(A, y):
    """Amplitudes c minimising ‖A c − y‖ for a few columns (A (N, k), y (N,), k ≲ 10).

    Column-scaled normal equations solved by :func:`cholesky_solve` (LAPACK-free, so safe
    under large ``vmap``s): exact to rounding for the small, well-conditioned designs of the
    physical model, and several times cheaper to compile inside a forward-mode Jacobian than
    the QR of :func:`mgs_qr` (which serves the per-wavelength target projection). An all-zero
    column (a switched-off amplitude) gets amplitude 0.

    Returns
    -------
    c : Array (k,)
    """
    sumsq = jnp.sum(A * A, axis=0)
    off = sumsq == 0.0
    scale = jnp.sqrt(jnp.where(off, 1.0, sumsq))  # double where: finite gradients
    As = jnp.where(off[None, :], 0.0, A / scale)
    M = As.T @ As + jnp.diag(jnp.where(off, 1.0, 0.0))
    return jnp.where(off, 0.0, cholesky_solve(M, As.T @ y) / scale)


def _substitute_scan(R, b, transpose: bool):
    """:func:`_substitute` as a scan over columns (unknowns not yet solved are 0)."""
    k = R.shape[0]
    A = R.T if transpose else R  # solve A x = b, A lower (Rᵀ) or upper (R) triangular
    b = jnp.asarray(b)

    def step(x, j):
        s = b[j] - jnp.tensordot(A[j], x, axes=1)
        d = R[j, j]
        return x.at[j].set(jnp.where(d > 0, s / jnp.where(d > 0, d, 1.0), 0.0)), None

    order = jnp.arange(k) if transpose else jnp.arange(k - 1, -1, -1)
    return jax.lax.scan(step, jnp.zeros_like(b), order)[0]


def nnls_passive_set(A, y, constrained=None, max_iter: int | None = None):
    """Passive set of the non-negative least-squares problem min ‖A x − y‖, x ≥ 0.

    Lawson–Hanson active-set iterations on the column-scaled normal equations of the few
    columns (A (N, k), y (N,)), LAPACK-free (:func:`cholesky_solve`) and ``vmap``-safe, with a
    fixed iteration cap (default 5k + 5). ``constrained`` (k,) bool: the columns that must be
    ≥ 0 (default all); the others are always passive. Zero columns are never passive.

    The set only selects the columns; the amplitudes are then the ordinary least-squares
    ones on the passive columns (the NNLS solution when the set is right), computed by the
    caller with the accurate QR, and their derivative treats the active set as fixed.

    Returns
    -------
    passive : Array (k,) bool
    """
    k = A.shape[1]
    cons = jnp.ones(k, bool) if constrained is None else jnp.asarray(constrained, bool)
    n_iter = 5 * k + 5 if max_iter is None else int(max_iter)
    A = jax.lax.stop_gradient(A)
    y = jax.lax.stop_gradient(y)
    sumsq = jnp.sum(A * A, axis=0)
    live = sumsq > 0
    d = jnp.sqrt(jnp.where(live, sumsq, 1.0))
    G = (A.T @ A) / (d[:, None] * d[None, :])
    b = (A.T @ y) / d
    tol = 1e-12 * (jnp.max(jnp.abs(b)) + 1e-300)
    eye = jnp.eye(k, dtype=A.dtype)

    def solve(P):
        M = jnp.where(P[:, None] & P[None, :], G, 0.0) + jnp.where(P, 0.0, 1.0) * eye
        return jnp.where(P, cholesky_solve(M, jnp.where(P, b, 0.0)), 0.0)

    def body(state):
        x, P, it, done = state
        s = solve(P)
        bad = P & cons & (s <= 0)
        feasible = ~jnp.any(bad)
        # feasible: accept s and add the column with the largest positive gradient
        w = b - G @ s
        cand = ~P & live & (w > tol)
        j = jnp.argmax(jnp.where(cand, w, -jnp.inf))
        add = feasible & jnp.any(cand)
        P_feas = P | (add & (jnp.arange(k) == j))
        # infeasible: step from x towards s until a constrained amplitude hits 0, drop it
        ratio = jnp.where(bad, x / jnp.where(bad, x - s, 1.0), jnp.inf)
        alpha = jnp.clip(jnp.min(ratio), 0.0, 1.0)
        xn = x + alpha * (s - x)
        P_inf = P & ~(cons & (xn <= 1e-14 * (jnp.max(jnp.abs(xn)) + 1e-300)))
        P_inf = P_inf.at[jnp.argmin(jnp.where(bad, ratio, jnp.inf))].set(False)
        x_new = jnp.where(feasible, s, jnp.where(P_inf, xn, 0.0))
        P_new = jnp.where(feasible, P_feas, P_inf)
        return x_new, P_new, it + 1, feasible & ~jnp.any(cand)

    P0 = ~cons & live
    x0 = jnp.zeros(k, A.dtype)
    _, P, _, _ = jax.lax.while_loop(lambda st: ~st[3] & (st[2] < n_iter), body,
                                    (x0, P0, jnp.asarray(0), jnp.asarray(False)))
    return P

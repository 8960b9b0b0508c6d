"""A generic, jitted, vmap-friendly minimiser: optax L-BFGS inside ``lax.while_loop``.

Arrays/pytrees in, arrays out; no Python control flow on traced values, so
``jax.vmap(lambda x0, y: minimize(loss, x0, y))`` fits a batch with a convergence criterion
per item (an item that has converged is frozen while the others continue).

Convergence criterion (per item), checked after every L-BFGS step:

* ``status 0`` gradient: ‖∇f‖_∞ ≤ gtol · (|f| + f_floor) — the gradient is small relative
  to the loss (scale-free in the loss; parameters are assumed O(1), e.g. unconstrained);
* ``status 1`` stall at a minimum: relative decrease (f_prev − f) ≤ ftol · |f| on
  ``patience`` consecutive steps and ‖∇f‖_∞ ≤ √gtol · (|f| + f_floor) (the line search can no
  longer improve the loss and the gradient is small: converged to machine precision);
* ``status 4`` stall elsewhere: the same, but with a large gradient (line search failure,
  e.g. at a kink or after a parameter ran away; ``converged`` False);
* ``status 6`` run-away (checked after the tests above, before the cap): over the last
  :data:`RUNAWAY_WINDOW` iterations the relative loss decrease is ≤ ``runaway_ftol`` while
  some coordinate moved away from 0 on every one of those steps, by ≥ ``runaway_step`` in
  all (in the unconstrained space of a bounded parameter that is a walk towards a bound or
  infinity: the data no longer determine it). ``converged`` False; ``runaway`` of the result
  flags the coordinates. ``runaway_ftol = 0`` switches the test off;
* ``status 2`` iteration cap reached (``converged`` False);
* ``status 3`` the loss or gradient became non-finite (``converged`` False; the caller should
  raise a clear error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .projection import cholesky_solve

__all__ = ["OptimizeResult", "LMResult", "minimize", "least_squares", "levenberg_marquardt",
           "STATUS_MESSAGES", "CONVERGED_STATUSES", "NO_DATA", "NOT_PREPARED",
           "diagonal_preconditioner", "RUNAWAY", "RUNAWAY_WINDOW", "RUNAWAY_FTOL"]

STATUS_MESSAGES = {
    0: "gradient criterion met",
    1: "relative loss decrease below ftol",
    2: "iteration cap reached",
    3: "loss or gradient became non-finite",
    4: "stalled: no further decrease although the gradient is not small",
    5: "relative step below xtol",
    6: "stopped early: a parameter ran away towards a bound or infinity while the cost no "
       "longer decreased",
    10: "too few usable data points (all NaN or masked)",
    11: "item could not be prepared (load or validation error)",
}
"""The one status table of every fit (single and batch). Converged: 0, 1 and 5; a stall
(4), a run-away (6), the iteration cap (2) or a non-finite cost (3) is never converged; 10
and 11 are a batch item's own (no fit was run)."""

CONVERGED_STATUSES = (0, 1, 5)

RUNAWAY = 6
"""Status of a fit stopped early because a parameter ran away (see the module docstring)."""

RUNAWAY_WINDOW = 20
"""Iterations (Levenberg–Marquardt: accepted steps) over which a run-away is judged."""

RUNAWAY_FTOL = 1e-6
"""Default ``runaway_ftol``: relative loss decrease over :data:`RUNAWAY_WINDOW` iterations
below which a steady walk of a coordinate away from 0 stops the fit (status 6)."""

NO_DATA = 10
NOT_PREPARED = 11


class OptimizeResult(NamedTuple):
    """Outcome of :func:`minimize` and :func:`levenberg_marquardt` (a pytree; every field is
    an array under vmap).

    Attributes
    ----------
    x : pytree
        Final parameters (same structure as ``x0``).
    fun : Array
        Final loss (½‖r‖² for Levenberg–Marquardt).
    n_iter : Array (int)
        Iterations taken (Levenberg–Marquardt: trial steps).
    converged : Array (bool)
        Status in :data:`CONVERGED_STATUSES` (see the module docstring).
    grad_norm : Array
        ‖∇f‖_∞ at ``x``.
    status : Array (int)
        See :data:`STATUS_MESSAGES`.
    n_eval : Array (int)
        Loss evaluations (including line-search evaluations), as far as optax reports them.
    jtj, grad, aux : Array (n, n), Array (n,), pytree
        Levenberg–Marquardt only (else None): the Gauss–Newton matrix JᵀJ and Jᵀr at ``x``
        (for the covariance; no further evaluation needed) and the residual function's
        auxiliary output at ``x`` (e.g. the fit details).
    runaway : Array (n,) of bool
        With status 6: the coordinates (of the flattened ``x``) that ran away, else all
        False.
    """

    x: Any
    fun: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    grad_norm: jax.Array
    status: jax.Array
    n_eval: jax.Array
    jtj: jax.Array | None = None
    grad: jax.Array | None = None
    aux: Any = None
    runaway: Any = None


LMResult = OptimizeResult
"""Outcome of :func:`levenberg_marquardt` (the same record, with ``jtj``, ``grad``, ``aux``)."""


def diagonal_preconditioner(col_sq):
    """Diagonal scale D of a least-squares problem from its Jacobian at the start.

    The optimiser then works on u = D·θ. D_i = √(n · Σ_r J_ri²): column norms make every
    direction's Gauss–Newton curvature 1, and the factor √n (n = number of parameters) bounds
    the largest curvature by 1 (Gershgorin), so L-BFGS's first unit step never overshoots the
    quadratic model (a large first step can jump basins). A parameter with (almost) no effect
    at the start (D_i ≤ 1e-8 max D, or not finite) gets the median scale of the others, since
    dividing by ~0 would turn the first unit step into an enormous jump.

    ``col_sq`` (n,): squared column norms Σ_r J_ri² of the residual Jacobian. Returns D (n,)
    without gradient (traceable, e.g. per item under ``vmap``).
    """
    col_sq = jax.lax.stop_gradient(jnp.asarray(col_sq))
    n = col_sq.shape[0]
    good = jnp.isfinite(col_sq) & (col_sq > 0)
    D = jnp.where(good, jnp.sqrt(jnp.where(good, col_sq, 1.0) * n), 0.0)
    ok = D > 1e-8 * jnp.max(D)
    typical = jnp.nanmedian(jnp.where(ok, D, jnp.nan))
    typical = jnp.where(jnp.any(ok), typical, 1.0)
    return jnp.where(ok, D, typical)


def _runaway_start(f0, x0):
    """Run-away tracker state at the start point (ring buffers of the last
    :data:`RUNAWAY_WINDOW` losses and points, per-coordinate run of outward steps)."""
    n = x0.shape[0]
    return dict(fh=jnp.full(RUNAWAY_WINDOW, f0, x0.dtype),
                xh=jnp.broadcast_to(x0, (RUNAWAY_WINDOW, n)).astype(x0.dtype),
                run=jnp.zeros(n, jnp.int32), drift=jnp.zeros(n, bool),
                k=jnp.asarray(0, jnp.int32))


def _runaway_step(rs, moved, x_old, x_new, f_new, ftol, step):
    """Advance the tracker by one step ``x_old → x_new`` (only where ``moved``).

    Returns (state, stop): ``stop`` when over the last :data:`RUNAWAY_WINDOW` steps the
    relative loss decrease is ≤ ``ftol`` and some coordinate moved away from 0 on every one
    of them, by ≥ ``step`` (per coordinate; inf exempts it) in all; ``state["drift"]`` flags
    those coordinates. Traceable and vmap-safe.
    """
    k = rs["k"] + moved.astype(jnp.int32)
    slot = k % RUNAWAY_WINDOW
    f_ref, x_ref = rs["fh"][slot], rs["xh"][slot]  # RUNAWAY_WINDOW steps ago
    dx = x_new - x_old
    run = jnp.where(dx * x_new > 0, rs["run"] + 1, 0)
    drift = (run >= RUNAWAY_WINDOW) & (jnp.abs(x_new - x_ref) >= step)
    stop = (moved & (ftol > 0) & (k >= RUNAWAY_WINDOW) & jnp.any(drift)
            & ((f_ref - f_new) <= ftol * jnp.abs(f_new)))
    new = dict(fh=rs["fh"].at[slot].set(f_new), xh=rs["xh"].at[slot].set(x_new), run=run,
               drift=drift, k=k)
    return jax.tree.map(lambda a, b: jnp.where(moved, a, b), new, rs), stop


@partial(jax.jit, static_argnames=("loss_fn", "memory_size", "patience",
                                   "max_linesearch_steps", "callback"))
def minimize(loss_fn, x0, *args, max_iter: int = 500, gtol: float = 1e-9, ftol: float = 1e-13,
             f_floor: float = 1e-300, patience: int = 3, memory_size: int = 10,
             max_linesearch_steps: int = 30, callback=None, value0=None,
             grad0=None, runaway_ftol: float = RUNAWAY_FTOL,
             runaway_step=None) -> OptimizeResult:
    """Minimise ``loss_fn(x, *args)`` with optax L-BFGS (zoom line search).

    ``loss_fn`` is differentiable and static (pass the same object to reuse the compiled
    program); ``x0`` is a pytree of unconstrained parameters; ``args`` are traced data (new
    data does not recompile; nor does a new ``max_iter``, ``gtol`` or ``ftol``: they are
    traced too). ``gtol``, ``ftol``, ``f_floor``, ``patience``: the convergence
    criterion of the module docstring; ``memory_size``, ``max_linesearch_steps``: L-BFGS
    history and zoom line-search budget. ``callback(n_iter, loss, grad_norm)`` runs on the
    host after every iteration (static: a stable function). ``value0``, ``grad0``: loss and
    gradient at ``x0`` when the caller has them (one traced copy of the gradient fewer:
    about a third less compile time for a large objective). ``runaway_ftol``,
    ``runaway_step`` (scalar or per flat coordinate, default 1; inf exempts a coordinate):
    the early stop of a run-away (status 6, module docstring); traced.
    """
    import optax  # here, not at import: a program loaded from disk never needs it

    flat0, unravel = ravel_pytree(x0)
    flat0 = jnp.asarray(flat0)

    def f(flat):
        return loss_fn(unravel(flat), *args)

    opt = optax.lbfgs(memory_size=memory_size,
                      linesearch=optax.scale_by_zoom_linesearch(
                          max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"))
    state0 = opt.init(flat0)
    if value0 is None or grad0 is None:
        v0, g0 = jax.value_and_grad(f)(flat0)
    else:
        v0 = jnp.asarray(value0, flat0.dtype)
        g0 = jnp.ravel(jnp.asarray(grad0, flat0.dtype))
    dtype = v0.dtype

    def grad_ok(v, g, tol=gtol):
        return jnp.max(jnp.abs(g)) <= tol * (jnp.abs(v) + f_floor)

    rstep = jnp.broadcast_to(jnp.asarray(1.0 if runaway_step is None else runaway_step,
                                         dtype), flat0.shape)
    carry0 = dict(x=flat0, state=state0, f=v0, g=g0, it=jnp.asarray(0, jnp.int32),
                  nev=jnp.asarray(1, jnp.int32), ra=_runaway_start(v0, flat0),
                  stall=jnp.asarray(0, jnp.int32), status=jnp.asarray(jnp.where(
                      jnp.isfinite(v0) & jnp.all(jnp.isfinite(g0)),
                      jnp.where(grad_ok(v0, g0), 0, -1), 3), jnp.int32))

    def cond(c):
        return c["status"] < 0

    def body(c):
        # the loss and gradient at x are carried (from the line search), not recomputed;
        # this also keeps a single traced copy of the gradient inside the loop
        value, grad = c["f"], c["g"]
        upd, state = opt.update(grad, c["state"], c["x"], value=value, grad=grad, value_fn=f)
        x = optax.apply_updates(c["x"], upd)
        # value/grad at the new point are cached by the line search in the state
        fv = optax.tree_utils.tree_get(state, "value")
        gv = optax.tree_utils.tree_get(state, "grad")
        fv = jnp.asarray(fv, dtype)
        it = c["it"] + 1
        finite = jnp.isfinite(fv) & jnp.all(jnp.isfinite(gv))
        small = (c["f"] - fv) <= ftol * jnp.abs(fv)
        stall = jnp.where(small, c["stall"] + 1, 0)
        ra, runaway = _runaway_step(c["ra"], jnp.asarray(True), c["x"], x, fv, runaway_ftol,
                                    rstep)
        status = jnp.where(~finite, 3,
                           jnp.where(grad_ok(fv, gv), 0,
                                     jnp.where(stall >= patience,
                                               jnp.where(grad_ok(fv, gv, jnp.sqrt(gtol)), 1, 4),
                                               jnp.where(runaway, RUNAWAY,
                                                         jnp.where(it >= max_iter, 2, -1)))))
        nls = optax.tree_utils.tree_get(state, "num_linesearch_steps")
        nev = c["nev"] + jnp.asarray(nls, jnp.int32)
        new = dict(x=x, state=state, f=fv, g=gv, it=it, nev=nev, stall=stall, ra=ra,
                   status=jnp.asarray(status, jnp.int32))
        if callback is not None:
            jax.debug.callback(callback, it, fv, jnp.max(jnp.abs(gv)))
        # freeze items that had already stopped (matters under vmap)
        done = c["status"] >= 0
        return jax.tree.map(lambda old, nw: jnp.where(done, old, nw), c, new)

    c = jax.lax.while_loop(cond, body, carry0)
    return OptimizeResult(x=unravel(c["x"]), fun=c["f"], n_iter=c["it"],
                          converged=jnp.isin(c["status"], jnp.array(CONVERGED_STATUSES)),
                          grad_norm=jnp.max(jnp.abs(c["g"])), status=c["status"], n_eval=c["nev"],
                          runaway=c["ra"]["drift"] & (c["status"] == RUNAWAY))


def least_squares(residual_fn, x0, *args, **kwargs) -> OptimizeResult:
    """Minimise ½‖r(x, *args)‖² with :func:`minimize` (same options; ``fun`` is the cost).

    ``residual_fn(x, *args) -> Array`` (any shape; masked cells should be 0).
    """
    return minimize(_HalfSquaredNorm(residual_fn), x0, *args, **kwargs)


@dataclass(frozen=True)
class _HalfSquaredNorm:
    """Hashable wrapper: loss(x, *args) = ½Σ residual_fn(x, *args)² (stable jit cache key)."""

    residual_fn: Callable

    def __call__(self, x, *args):
        r = self.residual_fn(x, *args)
        return 0.5 * jnp.sum(r * r)


# ---------------------------------------------------------------------------------------------
# Levenberg–Marquardt on a residual with its Jacobian
# ---------------------------------------------------------------------------------------------

@partial(jax.jit, static_argnames=("fn", "callback", "normal"))
def levenberg_marquardt(fn, x0, *args, max_iter: int = 200, ftol: float = 1e-10,
                        xtol: float = 1e-10, gtol: float = 1e-10, lambda0: float = 1e-3,
                        callback=None, normal: bool = False, free=None,
                        runaway_ftol: float = RUNAWAY_FTOL,
                        runaway_step=None) -> OptimizeResult:
    """Minimise ½‖r(x)‖² by Levenberg–Marquardt with Marquardt's diagonal scaling.

    Pure JAX (``lax.while_loop``), vmap-friendly: under ``vmap`` every item has its own
    state and convergence test and is frozen once it stops.

    Parameters
    ----------
    fn : callable
        ``fn(x, *args) -> (r, J, aux)``: residual vector (N,), its Jacobian (N, n) and any
        auxiliary pytree (returned for the final point). Static (pass the same object to
        reuse the compiled program). The loop traces ``fn`` once: every iteration evaluates
        it at the trial point, and the Jacobian of an accepted trial is the next one's.
    x0 : Array (n,)
        Start (unconstrained parameters).
    *args : pytree
        Passed to ``fn`` (traced; new data does not recompile).
    normal : bool
        ``fn`` returns the Gauss–Newton model instead, ``(½‖r‖², Jᵀr, JᵀJ, aux)`` — for
        residuals whose normal equations are cheaper than their Jacobian (e.g.
        :meth:`hotcarrier.target.objective.Objective.normal_equations`).
    max_iter : int
        Cap on trial steps (traced: a new cap does not recompile).
    ftol, xtol, gtol : float
        Stop (converged) when, after an accepted step, the actual and predicted relative
        decrease of the cost are both ≤ ``ftol`` (status 1); when the scaled step is
        ≤ ``xtol`` × the scaled parameter norm (status 5); or when every Jacobian column is
        nearly orthogonal to the residual, max_j |J_jᵀr|/(‖J_j‖‖r‖) ≤ ``gtol`` (status 0).
        A rejected step counts as status 1 only when both its predicted decrease and the
        undamped Gauss–Newton decrement ½gᵀ(JᵀJ)⁻¹g are ≤ ``ftol`` × cost (nothing left to
        gain at rounding level); a damping that grows past 1e16 without an accepted step is
        a stall (status 4), never converged.
    lambda0 : float
        Initial damping (relative to the scaled Gauss–Newton matrix).
    callback : callable, optional
        ``callback(n_eval, cost, grad_norm)`` on the host after every evaluation.
    free : Array (n,) of bool, optional
        Pin mask: coordinates where it is False keep their start value (their gradient and
        Gauss–Newton rows are masked out). Traced, so fits with different pinned sets — a
        profile likelihood, another model file's free parameters — share one compiled
        program. ``jtj`` and ``grad`` of the result are masked the same way.
    runaway_ftol, runaway_step : float, float or Array (n,)
        Early stop of a run-away (status 6, module docstring), judged on the last
        :data:`RUNAWAY_WINDOW` accepted steps; ``runaway_step`` defaults to 1 (inf exempts a
        coordinate), ``runaway_ftol = 0`` switches it off. Traced.

    Returns
    -------
    OptimizeResult
        With ``jtj`` and ``grad`` (masked like the pins) and ``aux``.

    Notes
    -----
    Step: (ŝJᵀJŝ + λI)·z = −ŝJᵀr, δ = ŝz, with ŝ = diag(max-so-far of diag JᵀJ)^−½ (MINPACK's
    scaling). λ follows Nielsen's rule: ×max(1/3, 1 − (2ρ − 1)³) after an accepted step
    (ρ = actual/predicted decrease), ×ν (ν doubling) after a rejected one. A non-finite
    trial is rejected like an uphill one; a non-finite start stops with status 3.
    """
    x0 = jnp.asarray(x0)
    n = x0.shape[0]
    dtype = x0.dtype
    r_shape = jax.eval_shape(lambda x: fn(x, *args), x0)
    aux0 = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), r_shape[-1])
    mask = jnp.ones(n, dtype) if free is None else jnp.asarray(free).astype(dtype)

    def model(x):
        if normal:
            f, g, jtj, aux = fn(x, *args)
        else:
            r, J, aux = fn(x, *args)
            f, g, jtj = 0.5 * jnp.sum(r * r), J.T @ r, J.T @ J
        return f, g * mask, jtj * mask[:, None] * mask[None, :], aux
    carry0 = dict(x=x0, f=jnp.asarray(jnp.inf, dtype), g=jnp.zeros(n, dtype),
                  jtj=jnp.zeros((n, n), dtype), aux=aux0, D=jnp.zeros(n, dtype),
                  lam=jnp.asarray(lambda0, dtype), nu=jnp.asarray(2.0, dtype), xt=x0,
                  pred=jnp.asarray(jnp.inf, dtype), gn=jnp.asarray(jnp.inf, dtype),
                  nev=jnp.asarray(0, jnp.int32),
                  ra=_runaway_start(jnp.asarray(jnp.inf, dtype), x0),
                  status=jnp.asarray(-1, jnp.int32))
    rstep = jnp.broadcast_to(jnp.asarray(1.0 if runaway_step is None else runaway_step, dtype),
                             (n,))

    def cond(c):
        return c["status"] < 0

    def body(c):
        ft, g_t, jtj_t, aux = model(c["xt"])
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(jtj_t)) & jnp.all(jnp.isfinite(g_t))
        first = c["nev"] == 0
        nev = c["nev"] + 1
        accept = finite & (first | (ft < c["f"]))
        rho = (c["f"] - ft) / jnp.where(c["pred"] > 0, c["pred"], 1.0)
        lam = jnp.where(first, c["lam"],
                        jnp.where(accept, c["lam"] * jnp.maximum(1.0 / 3.0,
                                                                 1.0 - (2.0 * rho - 1.0) ** 3),
                                  c["lam"] * c["nu"]))
        nu = jnp.where(accept, 2.0, c["nu"] * 2.0)
        x, f, g, jtj, aux_new = jax.tree.map(lambda a, b: jnp.where(accept, a, b),
                                             (c["xt"], ft, g_t, jtj_t, aux),
                                             (c["x"], c["f"], c["g"], c["jtj"], c["aux"]))
        D = jnp.where(accept, jnp.maximum(c["D"], jnp.diag(jtj_t)), c["D"])
        # --- convergence (tests on the accepted state)
        step = c["xt"] - c["x"]
        dnorm = jnp.sqrt(jnp.sum(D * step * step))
        xnorm = jnp.sqrt(jnp.sum(D * x * x))
        colnorm = jnp.sqrt(jnp.diag(jtj))
        rnorm = jnp.sqrt(2.0 * f)
        cosines = jnp.abs(g) / jnp.where(colnorm > 0, colnorm * rnorm, 1.0)
        gconv = jnp.max(jnp.where(colnorm > 0, cosines, 0.0)) <= gtol
        actual = (c["f"] - ft) / jnp.where(c["f"] > 0, c["f"], 1.0)
        predicted = c["pred"] / jnp.where(c["f"] > 0, c["f"], 1.0)
        fconv = accept & ~first & (actual <= ftol) & (predicted <= ftol) & (rho <= 2.0)
        # a rejected step counts as converged only when even the undamped Gauss–Newton step
        # would gain nothing above rounding (a large λ shrinks any prediction: that is a stall)
        gn_rel = c["gn"] / jnp.where(c["f"] > 0, c["f"], 1.0)
        fconv = fconv | (~accept & ~first & finite & (predicted <= ftol) & (gn_rel <= ftol))
        xconv = accept & ~first & (dnorm <= xtol * (xnorm + xtol))
        ra, runaway = _runaway_step(c["ra"], accept & ~first, c["x"], x, f, runaway_ftol, rstep)
        ra = jax.tree.map(lambda a, b: jnp.where(first, a, b), _runaway_start(f, x), ra)
        status = jnp.where(first & ~finite, 3,
                           jnp.where(gconv, 0,
                                     jnp.where(fconv, 1,
                                               jnp.where(xconv, 5,
                                                         jnp.where(lam > 1e16, 4,
                                                                   jnp.where(runaway, RUNAWAY,
                                                                             jnp.where(
                                                                                 nev > max_iter,
                                                                                 2, -1)))))))
        # --- next trial step from the accepted state
        s = 1.0 / jnp.sqrt(jnp.where(D > 0, D, jnp.where(jnp.max(D) > 0, jnp.max(D), 1.0)))
        A = jtj * s[:, None] * s[None, :] + lam * jnp.eye(n, dtype=dtype)
        z = cholesky_solve(A, -g * s)
        delta = s * z
        pred = -(g @ delta + 0.5 * delta @ (jtj @ delta))
        # Gauss–Newton decrement ½ gᵀ(JᵀJ)⁻¹g of the accepted state (λ → rounding level)
        A0 = jtj * s[:, None] * s[None, :]
        z0 = cholesky_solve(A0 + 1e-12 * jnp.max(jnp.diag(A0)) * jnp.eye(n, dtype=dtype),
                             -g * s)
        gn = 0.5 * jnp.abs(g @ (s * z0))
        if callback is not None:
            jax.debug.callback(callback, nev, f, jnp.max(jnp.abs(g)))
        new = dict(x=x, f=f, g=g, jtj=jtj, aux=aux_new, D=D, lam=lam, nu=nu, xt=x + delta,
                   pred=pred, gn=gn, nev=nev, ra=ra, status=jnp.asarray(status, jnp.int32))
        done = c["status"] >= 0  # frozen (matters under vmap)
        return jax.tree.map(lambda old, nw: jnp.where(done, old, nw), c, new)

    c = jax.lax.while_loop(cond, body, carry0)
    return OptimizeResult(x=c["x"], fun=c["f"], n_iter=jnp.maximum(c["nev"] - 1, 0),
                          converged=jnp.isin(c["status"], jnp.array(CONVERGED_STATUSES)),
                          grad_norm=jnp.max(jnp.abs(c["g"])), status=c["status"],
                          n_eval=c["nev"], jtj=c["jtj"], grad=c["g"], aux=c["aux"],
                          runaway=c["ra"]["drift"] & (c["status"] == RUNAWAY))

"""Fate of one photo-generated electron as an absorbing Markov chain (spec §9.2, §9.3, §8.4).

Transient states (index order of every matrix here)::

    C   injected electron in the CdS conduction band near the interface (hole in Au)
    T   electron in an interfacial deep trap
    L   long-lived separated electron (shallow shell state), Au hole still present
    L*  long-lived electron after the Au hole was scavenged
    X   CdS band-gap excitation (optional channel, §9.3)

Absorbing states: BET (back transfer), TREC (trap recombination), CR (charge recombination),
H2 (proton reduction, one of the two electrons of an H2), LOSS.

Transitions (rates in s⁻¹; ``m`` = number of interfacial traps of the particle)::

    C  → BET (k_BET), T (m k₁), L (k_sep)
    T  → TREC (k_Trec)                                       (deep-trap re-emission e_T = 0, §5.2)
    L  → CR (k_CR), T (m k₁ f_CB), L* (k_hs), H2 (k_H)
    L* → H2 (k_H), LOSS (k_loss2 + m k₁ f_CB)
    X  → L* (k_hsX), LOSS (k_X + k_XAu), T (m k₁)

The X row is the optional CdS channel of §9.3: the hole is scavenged at the shell surface, which
leaves the electron in the same situation as L* (hole gone); losses k_X; electron transfer into
the buried Au core k_XAu is counted as LOSS (closed core–shell, spec §9.3); trapping m k₁.
With these rules the spec's defaults ⟨P_X→H2⟩ = 0.86 (clean) and 8.4e-4 (defective) [C]
are reproduced (tests/test_h2_markov.py).

Everything here is pure JAX (pytrees in, arrays out), differentiable, and jit/vmap-safe. Every
function of ``m`` is elementwise, so an array of trap counts broadcasts; the Poisson average over
m (spec §8.4) is :func:`hotcarrier.physics.traps.poisson_average`, e.g.
``poisson_average(lambda m: p_c_to_h2(r, m), r.lam, padded_m_max(r.lam))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..physics.parameters import InterfaceParams

__all__ = [
    "ABSORBING",
    "TRANSIENT",
    "SlowRates",
    "absorption_closed_form",
    "absorption_matrix",
    "fundamental_matrix",
    "generator",
    "mean_field",
    "p_c_to_h2",
    "p_x_to_h2",
    "phi_ll",
    "slow_rates",
    "theta",
]

TRANSIENT = ("C", "T", "L", "L*", "X")
"""Names of the transient states, in matrix order."""
ABSORBING = ("BET", "TREC", "CR", "H2", "LOSS")
"""Names of the absorbing states, in matrix order."""


class SlowRates(NamedTuple):
    """Rates of the steady-state chain, all in s⁻¹ (a pytree; fields may be JAX arrays).

    ``k1`` is the capture rate per trap σ_n v_th / V_sh, ``f_cb`` = exp(−E_s/k_BT) (–),
    ``lam`` the mean trap number λ = N_it A_int (–).
    """

    k_bet: jax.Array
    k_sep: jax.Array
    k_trec: jax.Array
    k1: jax.Array
    f_cb: jax.Array
    k_cr: jax.Array
    k_hs: jax.Array
    k_h: jax.Array
    k_loss2: jax.Array
    k_hsx: jax.Array
    k_x: jax.Array
    k_xau: jax.Array
    lam: jax.Array


def slow_rates(p: InterfaceParams) -> SlowRates:
    """Convert the parameter set to the chain's rates in s⁻¹ (units from the field names).

    Defaults (spec §11): k_BET = 5e11, k_sep = 6.67e10, k_Trec = 1e9, k₁ = 1.559e9,
    f_CB = 9.1e-6 (E_s = 0.30 eV, 300 K), k_CR = 2e4, k_hs = 1e5, k_H = 1e4, k_loss2 = 1e2,
    k_hsX = 1e10, k_X = 1e9, k_XAu = 0 s⁻¹.
    """
    return SlowRates(
        k_bet=1e12 / jnp.asarray(p.tau_bet_ps),
        k_sep=1e12 / jnp.asarray(p.tau_sep_ps),
        k_trec=1e9 / jnp.asarray(p.tau_trec_ns),
        k1=jnp.asarray(p.k1_per_s),
        f_cb=jnp.asarray(p.f_cb),
        k_cr=1e6 / jnp.asarray(p.tau_cr_us),
        k_hs=1e6 / jnp.asarray(p.tau_hs_us),
        k_h=1e6 / jnp.asarray(p.tau_H_us),
        k_loss2=1e3 / jnp.asarray(p.tau_loss2_ms),
        k_hsx=1e12 / jnp.asarray(p.tau_hsX_ps),
        k_x=1e9 / jnp.asarray(p.tau_X_ns),
        k_xau=1e12 * jnp.asarray(p.k_XAu_ps),
        lam=jnp.asarray(p.mean_traps),
    )


# ----------------------------------------------------------------------------- general form
def generator(r: SlowRates, m) -> tuple[jax.Array, jax.Array]:
    """Transient generator Q (5×5) and transient→absorbing rates R (5×5) for ``m`` traps, s⁻¹.

    Rows/columns follow :data:`TRANSIENT` and :data:`ABSORBING`. Q's diagonal holds minus the
    total exit rate of each state, so every row of [Q | R] sums to zero.
    """
    m = jnp.asarray(m, dtype=jnp.result_type(float))
    mk = m * r.k1
    mkf = mk * r.f_cb
    z = jnp.zeros_like(mk)
    C, T, L, LS, X = range(5)
    BET, TREC, CR, H2, LOSS = range(5)
    q = [[z] * 5 for _ in range(5)]
    a = [[z] * 5 for _ in range(5)]
    # C
    q[C][T] = mk
    q[C][L] = z + r.k_sep
    a[C][BET] = z + r.k_bet
    # T
    a[T][TREC] = z + r.k_trec
    # L
    q[L][T] = mkf
    q[L][LS] = z + r.k_hs
    a[L][CR] = z + r.k_cr
    a[L][H2] = z + r.k_h
    # L*
    a[LS][H2] = z + r.k_h
    a[LS][LOSS] = r.k_loss2 + mkf
    # X
    q[X][LS] = z + r.k_hsx
    q[X][T] = mk
    a[X][LOSS] = z + r.k_x + r.k_xau
    Q = jnp.stack([jnp.stack(row, -1) for row in q], -2)
    R = jnp.stack([jnp.stack(row, -1) for row in a], -2)
    out = Q.sum(-1) + R.sum(-1)  # total exit rate per state
    Q = Q - out[..., :, None] * jnp.eye(5)
    return Q, R


def absorption_matrix(r: SlowRates, m) -> jax.Array:
    """Absorption probabilities B = (−Q)⁻¹R (5×5), general matrix form of §9.2.

    B[i, j] = probability that an electron starting in transient state i ends in absorbing
    state j. Row "C" is the fate of an injected electron.
    """
    Q, R = generator(r, m)
    return jnp.linalg.solve(-Q, R)


def fundamental_matrix(r: SlowRates, m) -> jax.Array:
    """N = (−Q)⁻¹ (5×5), s: N[i, j] is the mean time spent in state j starting from state i."""
    Q, _ = generator(r, m)
    return jnp.linalg.inv(-Q)


# ----------------------------------------------------------------------------- closed form
def phi_ll(r: SlowRates, m):
    """φ_LL(m) = k_sep / (k_sep + k_BET + m k₁): share of injected electrons reaching L, –."""
    return r.k_sep / (r.k_sep + r.k_bet + m * r.k1)


def theta(r: SlowRates, m):
    """θ(m) = k_H / (k_H + k_loss2 + m k₁ f_CB): H2 probability from L*, –."""
    return r.k_h / (r.k_h + r.k_loss2 + m * r.k1 * r.f_cb)


def p_c_to_h2(r: SlowRates, m):
    """P_C→H2(m) of spec §9.2 (closed form), –.

    P = φ_LL(m) [k_H + k_hs θ(m)] / [k_H + k_hs + k_CR + m k₁ f_CB].
    """
    den = r.k_h + r.k_hs + r.k_cr + m * r.k1 * r.f_cb
    return phi_ll(r, m) * (r.k_h + r.k_hs * theta(r, m)) / den


def p_x_to_h2(r: SlowRates, m):
    """P_X→H2(m) of the optional CdS channel (§9.3), –: k_hsX/(k_hsX + k_X + k_XAu + m k₁)·θ(m)."""
    return r.k_hsx / (r.k_hsx + r.k_x + r.k_xau + m * r.k1) * theta(r, m)


def absorption_closed_form(r: SlowRates, m) -> jax.Array:
    """All absorption probabilities (5×5, like :func:`absorption_matrix`) in closed form.

    The chain is acyclic (C → {T, L}, L → {T, L*}, X → {T, L*}), so each row is a product of
    branching ratios along the paths.
    """
    m = jnp.asarray(m, dtype=jnp.result_type(float))
    mk = m * r.k1
    mkf = mk * r.f_cb
    # L*
    k_ls = r.k_h + r.k_loss2 + mkf
    b_ls = jnp.stack([0 * mk, 0 * mk, 0 * mk, r.k_h / k_ls + 0 * mk, (r.k_loss2 + mkf) / k_ls], -1)
    # T
    b_t = jnp.stack([0 * mk, 1 + 0 * mk, 0 * mk, 0 * mk, 0 * mk], -1)
    # L
    k_l = r.k_cr + r.k_hs + r.k_h + mkf
    direct_l = jnp.stack([0 * mk, 0 * mk, r.k_cr / k_l + 0 * mk, r.k_h / k_l + 0 * mk, 0 * mk], -1)
    b_l = direct_l + (mkf / k_l)[..., None] * b_t + (r.k_hs / k_l + 0 * mk)[..., None] * b_ls
    # C
    k_c = r.k_bet + mk + r.k_sep
    b_c = (jnp.stack([r.k_bet / k_c, 0 * mk, 0 * mk, 0 * mk, 0 * mk], -1)
           + (mk / k_c)[..., None] * b_t + (r.k_sep / k_c)[..., None] * b_l)
    # X
    k_xt = r.k_hsx + r.k_x + r.k_xau + mk
    b_x = (jnp.stack([0 * mk, 0 * mk, 0 * mk, 0 * mk, (r.k_x + r.k_xau) / k_xt], -1)
           + (mk / k_xt)[..., None] * b_t + (r.k_hsx / k_xt)[..., None] * b_ls)
    return jnp.stack([b_c, b_t, b_l, b_ls, b_x], -2)


# ----------------------------------------------------------------------------- mean field
def mean_field(fn, r: SlowRates):
    """``fn(r, m)`` at the mean trap number m := λ (the mean-field approximation of §8.4).

    Acceptable only for λ ≪ 1 or λ ≫ 10; the Poisson average
    (:func:`hotcarrier.physics.traps.poisson_average`) is the model.
    """
    return fn(r, r.lam)

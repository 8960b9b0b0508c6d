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

Pure JAX (pytrees in, arrays out; jit/vmap/grad-safe). Functions of ``m`` are elementwise;
the Poisson average over m (§8.4) is :func:`hotcarrier.physics.traps.poisson_average`.
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
    "generator",
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
C, T, L, LS, X = range(5)  # transient states, TRANSIENT order
BET, TREC, CR, H2, LOSS = range(5)  # absorbing states, ABSORBING order


def generator(r: SlowRates, m) -> tuple[jax.Array, jax.Array]:
    """Transient generator Q (5×5) and transient→absorbing rates R (5×5) for ``m`` traps, s⁻¹.

    Rows/columns follow :data:`TRANSIENT` and :data:`ABSORBING`; every row of [Q | R] sums to 0.
    """
    mk = jnp.asarray(m, dtype=jnp.result_type(float)) * r.k1
    mkf = mk * r.f_cb
    q = {(C, T): mk, (C, L): r.k_sep, (L, T): mkf, (L, LS): r.k_hs, (X, LS): r.k_hsx, (X, T): mk}
    a = {(C, BET): r.k_bet, (T, TREC): r.k_trec, (L, CR): r.k_cr, (L, H2): r.k_h,
         (LS, H2): r.k_h, (LS, LOSS): r.k_loss2 + mkf, (X, LOSS): r.k_x + r.k_xau}
    Q, R = (_dense(entries, mk.shape) for entries in (q, a))
    Q = Q - (Q.sum(-1) + R.sum(-1))[..., :, None] * jnp.eye(5)  # minus the total exit rates
    return Q, R


def _dense(entries: dict, shape) -> jax.Array:
    """5×5 matrices (leading ``shape``) with the given {(row, column): rate} entries."""
    out = jnp.zeros((*shape, 5, 5))
    for (i, j), v in entries.items():
        out = out.at[..., i, j].set(v)
    return out


def absorption_matrix(r: SlowRates, m) -> jax.Array:
    """Absorption probabilities B = (−Q)⁻¹R (5×5): B[i, j] = P(start in state i, end in j)."""
    Q, R = generator(r, m)
    return jnp.linalg.solve(-Q, R)


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
    """All absorption probabilities (like :func:`absorption_matrix`) as products of branching
    ratios along the paths of the acyclic chain (C → {T, L}, L → {T, L*}, X → {T, L*})."""
    mk = jnp.asarray(m, dtype=jnp.result_type(float)) * r.k1
    mkf = mk * r.f_cb
    e = jnp.eye(5)  # certain absorption in each absorbing state

    def mix(*branches):  # Σ branching ratio × absorption distribution of the next state
        return sum((w + 0 * mk)[..., None] * b for w, b in branches)

    b_t = mix((1.0, e[TREC]))
    k_ls = r.k_h + r.k_loss2 + mkf
    b_ls = mix((r.k_h / k_ls, e[H2]), ((r.k_loss2 + mkf) / k_ls, e[LOSS]))
    k_l = r.k_cr + r.k_hs + r.k_h + mkf
    b_l = mix((r.k_cr / k_l, e[CR]), (r.k_h / k_l, e[H2]), (mkf / k_l, b_t), (r.k_hs / k_l, b_ls))
    k_c = r.k_bet + mk + r.k_sep
    b_c = mix((r.k_bet / k_c, e[BET]), (mk / k_c, b_t), (r.k_sep / k_c, b_l))
    k_xt = r.k_hsx + r.k_x + r.k_xau + mk
    b_x = mix(((r.k_x + r.k_xau) / k_xt, e[LOSS]), (mk / k_xt, b_t), (r.k_hsx / k_xt, b_ls))
    return jnp.stack([b_c, b_t, b_l, b_ls, b_x], -2)

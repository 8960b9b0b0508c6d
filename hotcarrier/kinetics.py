"""Linear compartmental kinetics: rate matrices and IRF-convolved populations.

A scheme is a set of first-order transfers ``source → target`` (target ``None`` = ground
state) between ``n`` compartments. Its rate matrix K (dx/dt = K x) has K[j, i] = k(i→j) and
K[i, i] = −dᵢ, with dᵢ the total decay rate of compartment i.

For an *acyclic* scheme (parallel/DAS, sequential/EAS, branched target schemes) the
populations are a sum over the transfer paths a → … → i from every initially populated
compartment of p₀[a] · ∏ k(path) · (−1)^m · φ[d₀, …, d_m](t): φ(d)(t) = exp_conv_gauss(t, d,
μ, σ) is the IRF-convolved decay and φ[…] its divided difference in the rate (the Bateman
solution). No eigen-decomposition is needed (``jnp.linalg.eig`` has no derivative for
non-symmetric matrices), so derivatives are exact autodiff of closed forms.

The divided differences are computed recursively over node sets (:func:`_dd_all`), with a
Taylor branch where the rates of a set are (nearly) equal; when every two coupled rates
differ by more than 1 % (:func:`well_separated`) the explicit Bateman sum
(:func:`bateman_matrix`) is used instead, chosen with ``lax.cond``.

Schemes with cycles (reversible transfers) are rejected with a :class:`ModelError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property, partial
from itertools import combinations
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ModelError
from .irf import exp_conv_gauss, exp_conv_gauss_moments

__all__ = ["Scheme", "rate_matrix", "decay_rates", "convolved_populations", "populations",
           "bateman_matrix", "well_separated"]

RTOL_DEGENERATE = 1e-5
ATOL_DEGENERATE = 1e-12  # ps⁻¹
RTOL_FAST = 1e-2  # Bateman sum when every coupled pair of rates differs by more than this
#: A fit with the Bateman-only kinetics that ends with two coupled rates closer than this
#: (relative) is redone with the robust kinetics (single fits and batches alike).
RTOL_REFIT = 2e-2


def rate_matrix(n: int, transfers: Sequence[tuple[int, int | None]], rates):
    """Rate matrix K (n, n), ps⁻¹, with dx/dt = K x, of ``n`` compartments.

    ``transfers`` are (source, target) indices (target None: decay to the ground state) with
    ``rates`` (ps⁻¹); K[target, source] = +k and K[source, source] = −Σ outgoing k.
    """
    rates = jnp.asarray(rates)
    K = jnp.zeros((n, n), dtype=rates.dtype)
    for e, (s, tgt) in enumerate(transfers):
        K = K.at[s, s].add(-rates[e])
        if tgt is not None:
            K = K.at[tgt, s].add(rates[e])
    return K


def decay_rates(n: int, transfers, rates):
    """Total decay rate dᵢ = Σ outgoing rates of each compartment (ps⁻¹), shape (n,)."""
    rates = jnp.asarray(rates)
    sources = np.array([s for s, _ in transfers], int)
    return jax.ops.segment_sum(rates, sources, num_segments=n)


@dataclass(frozen=True)
class Scheme:
    """Static structure of an acyclic scheme: ``n`` compartments, (source, target or None)
    ``transfers`` (hashable; no traced values). Raises ModelError for a bad index or a cycle."""

    n: int
    transfers: Sequence[tuple[int, int | None]]

    def __post_init__(self):
        n = int(self.n)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "transfers", tuple((int(s), None if t is None else int(t))
                                                    for s, t in self.transfers))
        problems = []
        for s, t in self.transfers:
            if not 0 <= s < n or (t is not None and not 0 <= t < n):
                problems.append(f"transfer {s}→{t} refers to a compartment outside 0..{n - 1}")
            if s == t:
                problems.append(f"transfer {s}→{t} goes from a compartment to itself")
        if problems:
            raise ModelError("invalid kinetic scheme:\n  - " + "\n  - ".join(problems))
        self.order  # raises on cycles

    @cached_property
    def order(self) -> tuple[int, ...]:
        """A topological order of the compartments (sources before targets)."""
        indeg = [sum(t == i for _, t in self.transfers) for i in range(self.n)]
        ready = [i for i in range(self.n) if indeg[i] == 0]
        out = []
        while ready:
            i = ready.pop(0)
            out.append(i)
            for s, t in self.transfers:
                if s == i and t is not None:
                    indeg[t] -= 1
                    if indeg[t] == 0:
                        ready.append(t)
        if len(out) != self.n:
            cyc = sorted(set(range(self.n)) - set(out))
            raise ModelError(f"the kinetic scheme has a cycle through compartments {cyc}; only "
                             "acyclic schemes (no reversible transfers) are supported")
        return tuple(out)

    @cached_property
    def paths(self) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """Every path as (compartments, transfer indices), starting at any compartment."""
        out = []

        def walk(nodes, edges):
            out.append((tuple(nodes), tuple(edges)))
            for e, (s, t) in enumerate(self.transfers):
                if s == nodes[-1] and t is not None:
                    walk([*nodes, t], [*edges, e])

        for i in range(self.n):
            walk([i], [])
        return tuple(out)


class _Tables(NamedTuple):
    """Static index tables of a scheme (NumPy), so the solver is a few array operations.

    P paths of at most L compartments; node sets grouped by size k = 1 … L (``levels``).
    """

    path_nodes: np.ndarray  # (P, L) compartments along each path (padded with 0)
    path_valid: np.ndarray  # (P, L) bool
    path_edges: np.ndarray  # (P, max(L − 1, 1)) transfers along each path (padded with 0)
    edge_valid: np.ndarray  # (P, max(L − 1, 1)) bool
    path_start: np.ndarray  # (P, n) one-hot first compartment
    path_end: np.ndarray  # (P, n) one-hot last compartment
    path_sign: np.ndarray  # (P,) (−1)^(number of transfers)
    path_pairs: np.ndarray  # (P, L, L) bool: j ≠ l, both on the path
    path_onehot: np.ndarray  # (P, L, n) one-hot of each path compartment (0 on padding)
    levels: tuple  # per set size k: (nodes (N_k, k), subsets (N_k, k) index into level k − 1)
    path_set: np.ndarray  # (P,) index of each path's node set in the concatenated levels


@cache
def _tables(scheme: Scheme) -> _Tables:
    """Build (once per scheme) the static tables of :class:`_Tables`."""
    n, paths = scheme.n, scheme.paths
    P, L = len(paths), max(len(nodes) for nodes, _ in paths)
    path_nodes = np.zeros((P, L), int)
    path_valid = np.zeros((P, L), bool)
    path_edges = np.zeros((P, max(L - 1, 1)), int)
    edge_valid = np.zeros((P, max(L - 1, 1)), bool)
    path_start, path_end, path_sign = np.zeros((P, n)), np.zeros((P, n)), np.zeros(P)
    for q, (nodes, edges) in enumerate(paths):
        path_nodes[q, :len(nodes)], path_valid[q, :len(nodes)] = nodes, True
        path_edges[q, :len(edges)], edge_valid[q, :len(edges)] = edges, True
        path_start[q, nodes[0]], path_end[q, nodes[-1]] = 1.0, 1.0
        path_sign[q] = (-1.0) ** (len(nodes) - 1)
    path_pairs = path_valid[:, :, None] & path_valid[:, None, :] & ~np.eye(L, dtype=bool)
    path_onehot = np.eye(n)[path_nodes] * path_valid[..., None]
    sets = set()
    for nodes, _ in paths:
        for r in range(1, len(nodes) + 1):
            sets.update(tuple(sorted(c)) for c in combinations(nodes, r))
    by_size = [sorted(S for S in sets if len(S) == k) for k in range(1, L + 1)]
    index = [{S: i for i, S in enumerate(level)} for level in by_size]
    offsets = np.cumsum([0] + [len(level) for level in by_size])
    levels = []
    for k, level in enumerate(by_size, start=1):
        nodes = np.array(level, int).reshape(len(level), k)
        subs = np.array([[index[k - 2][S[:i] + S[i + 1:]] for i in range(k)] for S in level]
                        if k > 1 else np.zeros((len(level), 0)), int)
        levels.append((nodes, subs))
    path_set = np.array([offsets[len(nodes) - 1] + index[len(nodes) - 1][tuple(sorted(nodes))]
                         for nodes, _ in paths], int)
    return _Tables(path_nodes, path_valid, path_edges, edge_valid, path_start,
                   path_end, path_sign, path_pairs, path_onehot, tuple(levels), path_set)


def _dd_all(scheme: Scheme, d, moments):
    """Divided differences (w.r.t. rate) over every node set of the scheme's paths, (T, sets).

    ``moments(rates, order)`` returns h_n(rates) for n = 0..order, shape (order+1, T, len)
    (φ = h₀, φ⁽ᵐ⁾ = (−1)ᵐ h_m); it is called ONCE, at the n compartment rates. For a set S
    of m + 1 rates DD(S) = (DD(S∖{a}) − DD(S∖{b}))/(d_b − d_a), with a, b the slowest and
    fastest member (the largest denominator). When all rates of S lie within
    ``RTOL_DEGENERATE·max|d| + ATOL_DEGENERATE`` of each other (0/0 or cancellation), the
    Taylor form DD(S) = (−1)ᵐ/m!·[h_m(d₀) − (d̄ − d₀)·h_{m+1}(d₀)] at the mean rate d̄ is
    used (error O((RTOL_DEGENERATE·d·t)²)). Both branches see safe inputs and are selected
    with ``where`` (finite gradients everywhere); all sets of one size are computed together
    (static index tables, :func:`_tables`), levels concatenated in the order of ``_tables``.
    """
    levels = _tables(scheme).levels
    max_m = len(levels) - 1
    H = moments(d, max_m + 1) if max_m > 0 else moments(d, 0)  # (order+1, T, n)
    out = [H[0][:, levels[0][0][:, 0]]]
    for m, (nodes, subs) in enumerate(levels[1:], start=1):
        ds = d[nodes]  # (N, m + 1)
        lo, hi = jnp.min(ds, axis=1), jnp.max(ds, axis=1)
        close = (hi - lo) <= RTOL_DEGENERATE * jnp.maximum(jnp.abs(lo), jnp.abs(hi)) \
            + ATOL_DEGENERATE
        ia, ib = jnp.argmin(ds, axis=1), jnp.argmax(ds, axis=1)
        sub = out[-1][:, subs]  # (T, N, m + 1): DD(S ∖ {member i})
        without_a = jnp.take_along_axis(sub, ia[None, :, None], axis=2)[..., 0]
        without_b = jnp.take_along_axis(sub, ib[None, :, None], axis=2)[..., 0]
        den = jnp.take_along_axis(ds, ib[:, None], 1)[:, 0] \
            - jnp.take_along_axis(ds, ia[:, None], 1)[:, 0]
        safe = jnp.where(close | (den == 0.0), 1.0, den)
        regular = (without_a - without_b) / safe
        base = nodes[:, 0]
        shift = jnp.mean(ds, axis=1) - d[base]
        taylor = (-1.0) ** m * (H[m][:, base] - shift * H[m + 1][:, base]) / math.factorial(m)
        out.append(jnp.where(close, taylor, regular))
    return jnp.concatenate(out, axis=1)


def _path_coefficients(scheme: Scheme, rates, p0):
    """(−1)^m · p₀[start] · ∏ k(path) of every path, shape (P,)."""
    tb = _tables(scheme)
    coef = jnp.asarray(tb.path_sign) * jnp.matmul(tb.path_start, p0)
    if tb.edge_valid.any():  # (a scheme without transfers between compartments has none)
        coef = coef * jnp.prod(jnp.where(tb.edge_valid, rates[tb.path_edges], 1.0), axis=1)
    return coef


def _assemble(scheme: Scheme, rates, p0, dd):
    """Populations (T, n): Σ over paths ending in each compartment of coefficient × DD."""
    tb = _tables(scheme)
    return jnp.matmul(dd[:, tb.path_set] * _path_coefficients(scheme, rates, p0), tb.path_end)


def _coupled_pairs(scheme: Scheme) -> tuple[tuple[int, int], ...]:
    """Pairs of compartments that lie on a common transfer path (their rates are divided)."""
    return tuple(sorted({tuple(sorted(pair)) for nodes, _ in scheme.paths
                         for pair in combinations(nodes, 2)}))


def well_separated(scheme: Scheme, d, rtol: float = RTOL_FAST):
    """True when every two decay rates on a common path differ by more than ``rtol`` (relative).

    Then the explicit Bateman sum (:func:`bateman_matrix`) is accurate: its cancellation error
    is ≲ ε·m!/(rtol)^m for a path of m transfers (≲ 1e-9 for m ≤ 3 at rtol = 1e-2).
    """
    pairs = _coupled_pairs(scheme)
    if not pairs:
        return jnp.asarray(True)
    i = jnp.array([p[0] for p in pairs])
    j = jnp.array([p[1] for p in pairs])
    gap = jnp.abs(d[i] - d[j])
    return jnp.all(gap > rtol * jnp.maximum(jnp.abs(d[i]), jnp.abs(d[j])) + ATOL_DEGENERATE)


def bateman_matrix(scheme: Scheme, rates, p0, d):
    """M (n, n) with populations x(t) = Σⱼ φ(dⱼ)(t)·M[j, :] for distinct rates (Bateman).

    The divided difference over a path's rates is Σⱼ φ(dⱼ)/∏_{l≠j}(dⱼ − d_l), so every
    population is a fixed combination of the n kernels φ(dⱼ) — one kernel evaluation per
    compartment and a small matrix product. Valid only when :func:`well_separated`.
    """
    tb = _tables(scheme)
    dn = d[tb.path_nodes]  # (P, L)
    den = jnp.prod(jnp.where(tb.path_pairs, dn[:, :, None] - dn[:, None, :], 1.0), axis=2)
    coef = _path_coefficients(scheme, jnp.asarray(rates), p0)
    val = jnp.where(tb.path_valid, coef[:, None] / den, 0.0)
    return jnp.einsum("pl,plj,pn->jn", val, tb.path_onehot, tb.path_end)


def convolved_populations(scheme: Scheme, t, rates, p0, mu, sigma, robust: bool = True):
    """Compartment populations (..., T, n) convolved with a unit-area Gaussian IRF.

    Parameters
    ----------
    scheme : Scheme
        Static acyclic scheme.
    t : Array (T,), ps
        Delays.
    rates : Array (..., n_transfers), ps⁻¹
        Transfer rates (≥ 0), in the order of ``scheme.transfers``. Leading axes are a batch
        of rate sets (e.g. one per trap count) that share ``t``, ``mu`` and ``sigma``.
    p0 : Array (..., n)
        Initial populations (at the IRF centre); leading axes broadcast with ``rates``.
    mu, sigma : float, ps
        IRF centre and standard deviation.
    robust : bool
        True: handle (nearly) equal rates. False: the Bateman sum only, NaN when the rates
        are not :func:`well_separated` — a smaller program that compiles in about half the
        time (``fit_target`` tries it first and falls back to the robust program).

    Notes
    -----
    For σ → 0 this is the solution of dx/dt = K x for t > μ, x(μ) = p₀. The Bateman sum
    (:func:`bateman_matrix`) or the divided-difference recursion (:func:`_dd_all`) is picked
    by a ``lax.cond`` on the rates; a batch takes ONE branch for all its members (under
    ``vmap`` a batched predicate would run both), so batch through ``rates``, not ``vmap``.
    """
    t = jnp.asarray(t)
    rates = jnp.asarray(rates)
    p0 = jnp.asarray(p0)
    batch = jnp.broadcast_shapes(rates.shape[:-1], p0.shape[:-1])
    mu = jnp.asarray(mu, dtype=rates.dtype)
    sigma = jnp.asarray(sigma, dtype=rates.dtype)

    decay = partial(decay_rates, scheme.n, scheme.transfers)
    separated = partial(well_separated, scheme)

    def bateman(rates, p0, d, mu, sigma, guard=False):
        phi = exp_conv_gauss(t[:, None], d[None, :], mu, sigma)
        M = bateman_matrix(scheme, rates, p0, d)
        if guard:  # NaN where the Bateman sum is not accurate (the caller then falls back)
            M = jnp.where(separated(d), M, jnp.nan)
        return phi @ M

    def recursive(rates, p0, d, mu, sigma):
        def moments(k, order):
            return exp_conv_gauss_moments(t[:, None], k[None, :], mu, sigma, order)

        return _assemble(scheme, rates, p0, _dd_all(scheme, d, moments))

    fast, guarded = bateman, partial(bateman, guard=True)
    all_separated = separated
    if batch:  # the per-member functions, vmapped; one branch for the whole batch
        size = math.prod(batch)
        rates = jnp.broadcast_to(rates, (*batch, rates.shape[-1])).reshape(size, -1)
        p0 = jnp.broadcast_to(p0, (*batch, p0.shape[-1])).reshape(size, -1)
        over = (0, 0, 0, None, None)
        fast, guarded, recursive = (jax.vmap(f, in_axes=over) for f in (fast, guarded, recursive))
        decay = jax.vmap(decay)

        def all_separated(d):
            return jnp.all(jax.vmap(separated)(d))

    d = decay(rates)
    if not _coupled_pairs(scheme):  # parallel scheme: nothing is ever divided
        out = fast(rates, p0, d, mu, sigma)
    elif not robust:
        out = guarded(rates, p0, d, mu, sigma)
    else:
        out = jax.lax.cond(all_separated(d), fast, recursive, rates, p0, d, mu, sigma)
    return out.reshape(*batch, *out.shape[-2:]) if batch else out


def populations(scheme: Scheme, t, rates, p0):
    """Populations (T, n) without IRF (a δ excitation at t = 0; zero before).

    ``scheme``, ``t``, ``rates`` and ``p0`` as in :func:`convolved_populations`.
    """
    t = jnp.asarray(t)
    d = decay_rates(scheme.n, scheme.transfers, rates)
    pos = t >= 0
    tt = jnp.where(pos, t, 0.0)

    def moments(k, order):
        e = jnp.where(pos[:, None], jnp.exp(-k[None, :] * tt[:, None]), 0.0)
        return jnp.stack([tt[:, None] ** n * e for n in range(order + 1)])

    return _assemble(scheme, rates, jnp.asarray(p0), _dd_all(scheme, d, moments))

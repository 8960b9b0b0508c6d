"""Linear compartmental kinetics: rate matrices and IRF-convolved populations.

A scheme is a set of first-order transfers ``source → target`` (target ``None`` = ground
state) between ``n`` compartments. Its rate matrix K (dx/dt = K x) has K[j, i] = k(i→j) and
K[i, i] = −dᵢ, with dᵢ the total decay rate of compartment i.

Method (and why)
----------------
For an *acyclic* scheme (no compartment feeds back into itself, which covers parallel/DAS,
sequential/EAS and branched target schemes) the populations have a closed form as a sum
over the transfer paths from every initially populated compartment. For a path
a → … → i through compartments with decay rates (d₀, …, d_m),

    x_i(t) ⊇ p₀[a] · ∏ k(path) · (−1)^m · φ[d₀, …, d_m](t)

where φ(d)(t) = exp_conv_gauss(t, d, μ, σ) is the IRF-convolved decay and φ[…] its divided
difference with respect to the rate (the Bateman solution written as a divided
difference; convolution commutes with it). This needs no eigen-decomposition, so there is
no ``jnp.linalg.eig`` (which has no derivative for non-symmetric matrices) and derivatives
are exact autodiff of closed forms.

Divided differences of a set S are symmetric in its points and computed recursively,
DD(S) = (DD(S∖{a}) − DD(S∖{b})) / (d_b − d_a), choosing a, b = the slowest and fastest
member (the largest denominator), and cached per set. When all rates of S lie within
``rtol·max|d| + atol`` of each other (exactly or nearly equal rates: degenerate
eigenvalues), the recursion would divide 0 by 0 or cancel catastrophically; there
DD(S) = φ⁽ᵐ⁾(d̄)/m! at the mean rate d̄ (Taylor; error O(δ²)), from the analytic
moment kernels of :func:`~hotcarrier.irf.exp_conv_gauss_moments` at the compartment
rates (confluent kernel and its recurrence) plus one Taylor term. Both branches are always
evaluated on safe inputs and selected with ``where`` (finite gradients everywhere). With
rtol = 1e-5 the regular branch loses at most ~5 digits to cancellation (≈1e-11 relative)
and the Taylor branch errs by ≲ (1e-5·d·t)²/2.

Fast path: when every two rates on a common path differ by more than 1 %
(:func:`well_separated`), the divided differences are the explicit Bateman sums
Σⱼ φ(dⱼ)/∏(dⱼ − d_l): n kernels and an (n × n) coefficient matrix
(:func:`bateman_matrix`). :func:`convolved_populations` picks the path with ``lax.cond``.

Schemes with cycles (reversible transfers) are rejected with a :class:`ModelError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import jax
import jax.numpy as jnp

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
    """Rate matrix K (dx/dt = K x) of a linear compartmental scheme.

    Parameters
    ----------
    n : int
        Number of compartments.
    transfers : sequence of (source, target)
        Compartment indices; target ``None`` means decay to the ground state.
    rates : Array (len(transfers),), ps⁻¹
        Rate of each transfer.

    Returns
    -------
    Array (n, n), ps⁻¹
        K[target, source] = +k, K[source, source] = −Σ outgoing k. Columns of a scheme
        without ground-state decay sum to zero (population is conserved).
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
    d = jnp.zeros((n,), dtype=rates.dtype)
    for e, (s, _) in enumerate(transfers):
        d = d.at[s].add(rates[e])
    return d


class Scheme:
    """Static structure of an acyclic compartmental scheme (hashable; no traced values).

    Parameters
    ----------
    n : int
        Number of compartments.
    transfers : sequence of (source, target or None)

    Raises
    ------
    ModelError
        If an index is out of range or the scheme has a cycle.
    """

    def __init__(self, n: int, transfers: Sequence[tuple[int, int | None]]):
        self.n = int(n)
        self.transfers = tuple((int(s), None if t is None else int(t)) for s, t in transfers)
        problems = []
        for s, t in self.transfers:
            if not 0 <= s < n or (t is not None and not 0 <= t < n):
                problems.append(f"transfer {s}→{t} refers to a compartment outside 0..{n - 1}")
            if s == t:
                problems.append(f"transfer {s}→{t} goes from a compartment to itself")
        if problems:
            raise ModelError("invalid kinetic scheme:\n  - " + "\n  - ".join(problems))
        self.order  # raises on cycles

    def __hash__(self):
        return hash((self.n, self.transfers))

    def __eq__(self, other):
        return isinstance(other, Scheme) and (self.n, self.transfers) == (other.n, other.transfers)

    def __repr__(self):
        return f"Scheme(n={self.n}, transfers={self.transfers})"

    @cached_property
    def order(self) -> tuple[int, ...]:
        """A topological order of the compartments (sources before targets)."""
        indeg = [0] * self.n
        for _, t in self.transfers:
            if t is not None:
                indeg[t] += 1
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


def _node_sets(scheme: Scheme):
    """Every node set the divided-difference recursion may need (all subsets of path sets)."""
    from itertools import combinations

    sets = set()
    for nodes, _ in scheme.paths:
        for r in range(1, len(nodes) + 1):
            sets.update(frozenset(c) for c in combinations(nodes, r))
    return sorted(sets, key=lambda S: (len(S), sorted(S)))


def _dd_all(scheme: Scheme, d, moments):
    """Divided differences (w.r.t. rate) over every node set used by the scheme's paths.

    ``moments(rates, order)`` returns h_n(rates) for n = 0..order, shape (order+1, T, len);
    φ = h₀ and φ⁽ᵐ⁾ = (−1)ᵐ h_m. It is called ONCE, at the n compartment rates (one
    special-function evaluation per compartment, higher orders by recurrence).

    For a set S of m + 1 rates: if they are not all within ``RTOL_DEGENERATE`` of each
    other, DD(S) = (DD(S∖{a}) − DD(S∖{b}))/(d_b − d_a) with a, b the slowest and fastest
    member (the largest denominator; chosen at run time by one-hot contraction, so the
    traced program has two selections per set rather than one branch per pair). Otherwise
    DD(S) = φ⁽ᵐ⁾(d̄)/m! + O(δ²) at the mean rate d̄, with φ⁽ᵐ⁾(d̄) from the first member's
    moments and one Taylor term: (−1)ᵐ/m!·[h_m(d₀) − (d̄ − d₀)·h_{m+1}(d₀)] (error
    O((RTOL_DEGENERATE·d·t)²)). Both branches see safe inputs (finite gradients everywhere).
    """
    sets = _node_sets(scheme)
    max_m = max((len(S) - 1 for S in sets), default=0)
    H = moments(d, max_m + 1) if max_m > 0 else moments(d, 0)  # (order+1, T, n)
    cache: dict[frozenset, jnp.ndarray] = {}

    def dd(S: frozenset):
        if S in cache:
            return cache[S]
        nodes = sorted(S)
        if len(nodes) == 1:
            val = H[0, :, nodes[0]]
        else:
            m = len(nodes) - 1
            ds = jnp.stack([d[i] for i in nodes])
            lo, hi = jnp.min(ds), jnp.max(ds)
            close = (hi - lo) <= RTOL_DEGENERATE * jnp.maximum(jnp.abs(lo), jnp.abs(hi)) \
                + ATOL_DEGENERATE
            ia, ib = jnp.argmin(ds), jnp.argmax(ds)
            subs = jnp.stack([dd(S - {x}) for x in nodes])  # (m + 1, T)
            sel = jnp.arange(m + 1)
            without_a = jnp.tensordot((sel == ia).astype(ds.dtype), subs, 1)
            without_b = jnp.tensordot((sel == ib).astype(ds.dtype), subs, 1)
            den = ds[ib] - ds[ia]
            safe = jnp.where(close | (den == 0.0), 1.0, den)
            regular = (without_a - without_b) / safe
            base = nodes[0]
            shift = jnp.mean(ds) - d[base]
            taylor = (-1.0) ** m * (H[m, :, base] - shift * H[m + 1, :, base]) / math.factorial(m)
            val = jnp.where(close, taylor, regular)
        cache[S] = val
        return val

    return dd


def _assemble(scheme: Scheme, rates, p0, dd):
    rates = jnp.asarray(rates)
    cols = [0.0] * scheme.n
    for nodes, edges in scheme.paths:
        coef = p0[nodes[0]]
        for e in edges:
            coef = coef * rates[e]
        sign = (-1.0) ** (len(nodes) - 1)
        cols[nodes[-1]] = cols[nodes[-1]] + sign * coef * dd(frozenset(nodes))
    return jnp.stack(cols, axis=-1)


def _coupled_pairs(scheme: Scheme) -> tuple[tuple[int, int], ...]:
    """Pairs of compartments that lie on a common transfer path (their rates are divided)."""
    pairs = set()
    for nodes, _ in scheme.paths:
        for a in range(len(nodes)):
            for b in range(a + 1, len(nodes)):
                pairs.add((min(nodes[a], nodes[b]), max(nodes[a], nodes[b])))
    return tuple(sorted(pairs))


def well_separated(scheme: Scheme, d, rtol: float = None):
    """True when every two decay rates on a common path differ by more than ``rtol`` (relative).

    Then the explicit Bateman sum (:func:`bateman_matrix`) is accurate: its cancellation error
    is ≲ ε·m!/(rtol)^m for a path of m transfers (≲ 1e-9 for m ≤ 3 at rtol = 1e-2).
    """
    rtol = RTOL_FAST if rtol is None else rtol
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
    rates = jnp.asarray(rates)
    n = scheme.n
    M = jnp.zeros((n, n), dtype=rates.dtype)
    for nodes, edges in scheme.paths:
        coef = p0[nodes[0]]
        for e in edges:
            coef = coef * rates[e]
        sign = (-1.0) ** (len(nodes) - 1)
        for j in nodes:
            den = 1.0
            for l in nodes:
                if l != j:
                    den = den * (d[j] - d[l])
            M = M.at[j, nodes[-1]].add(sign * coef / den)
    return M


def convolved_populations(scheme: Scheme, t, rates, p0, mu, sigma, robust: bool = True):
    """Compartment populations convolved with a unit-area Gaussian IRF.

    Parameters
    ----------
    scheme : Scheme
        Static acyclic scheme.
    t : Array (T,), ps
        Delays.
    rates : Array (n_transfers,), ps⁻¹
        Transfer rates (≥ 0), in the order of ``scheme.transfers``.
    p0 : Array (n,)
        Initial populations (at the IRF centre).
    mu : float, ps
        IRF centre.
    sigma : float, ps
        IRF standard deviation.
    robust : bool
        True: handle (nearly) equal rates (below). False: the Bateman sum only, NaN when
        the rates are not :func:`well_separated` — a smaller program that compiles in about
        half the time; :func:`hotcarrier.target.fit.fit_target` uses it first and falls back to the robust
        program when it meets NaN or ends near equal rates.

    Returns
    -------
    Array (T, n)
        Populations; for σ → 0 the solution of dx/dt = K x for t > μ, x(μ) = p₀.

    Notes
    -----
    When the rates on every path are well separated (:func:`well_separated`, relative gap
    > 1 %) the populations are the Bateman sum: n kernels and one (n × n) matrix
    (:func:`bateman_matrix`). Otherwise (equal or nearly equal rates) the divided-difference
    recursion with its Taylor branch is used (module docstring). The choice is a
    ``lax.cond`` on the rates only, so a single fit runs just one branch; both are exact to
    rounding where they are used and their derivatives are exact.
    """
    t = jnp.asarray(t)
    rates = jnp.asarray(rates)
    p0 = jnp.asarray(p0)
    d = decay_rates(scheme.n, scheme.transfers, rates)
    mu = jnp.asarray(mu, dtype=d.dtype)
    sigma = jnp.asarray(sigma, dtype=d.dtype)

    def fast(rates, p0, d, mu, sigma, guard=False):
        phi = exp_conv_gauss(t[:, None], d[None, :], mu, sigma)
        M = bateman_matrix(scheme, rates, p0, d)
        if guard:  # NaN where the Bateman sum is not accurate (the caller then falls back)
            M = jnp.where(well_separated(scheme, d), M, jnp.nan)
        return phi @ M

    def recursive(rates, p0, d, mu, sigma):
        def moments(k, order):
            return exp_conv_gauss_moments(t[:, None], k[None, :], mu, sigma, order)

        return _assemble(scheme, rates, p0, _dd_all(scheme, d, moments))

    if not _coupled_pairs(scheme):  # parallel scheme: nothing is ever divided
        return fast(rates, p0, d, mu, sigma)
    if not robust:
        return fast(rates, p0, d, mu, sigma, guard=True)
    return jax.lax.cond(well_separated(scheme, d), fast, recursive, rates, p0, d, mu, sigma)


def populations(scheme: Scheme, t, rates, p0):
    """Populations without IRF (a δ excitation at t = 0; zero before).

    Parameters
    ----------
    scheme, t, rates, p0
        As in :func:`convolved_populations`.

    Returns
    -------
    Array (T, n)
    """
    t = jnp.asarray(t)
    d = decay_rates(scheme.n, scheme.transfers, rates)
    pos = t >= 0
    tt = jnp.where(pos, t, 0.0)

    def moments(k, order):
        e = jnp.where(pos[:, None], jnp.exp(-k[None, :] * tt[:, None]), 0.0)
        return jnp.stack([tt[:, None] ** n * e for n in range(order + 1)])

    return _assemble(scheme, rates, jnp.asarray(p0), _dd_all(scheme, d, moments))

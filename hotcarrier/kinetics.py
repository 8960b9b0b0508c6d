"""Linear compartmental kinetics: rate matrices and IRF-convolved populations.

A scheme is a set of first-order transfers ``source → target`` (target ``None`` = ground
state) between ``n`` compartments. Its rate matrix K (dx/dt = K x) has K[j, i] = k(i→j) and
K[i, i] = −dᵢ, with dᵢ the total decay rate of compartment i.

The IRF-convolved populations are a matrix function, x(t) = f_t(K)·p₀ with the scalar kernel
f_t(λ) = exp_conv_gauss(t, −λ, μ, σ) (:mod:`hotcarrier.irf`). They are evaluated in the
Newton (Hermite) form of the interpolating polynomial of f_t at the eigenvalues λ₀ … λₙ₋₁ of
K, counted with multiplicity and taken in the *Newton order* (strongly connected groups in
topological order; exact for every matrix by Cayley–Hamilton, defective ones included):

    x(t) = Σₘ f_t[λ₀, …, λₘ] · wₘ,    wₘ = (K − λₘ₋₁) ⋯ (K − λ₀) p₀,

with f_t[…] the divided differences of the kernel. No eigenvectors are formed: for a chain
wₘ = k₀⋯kₘ₋₁·eₘ exactly (the Bateman solution), and in topological order every term is a
genuine path contribution, so the sum does not cancel (an ascending-rate order instead leaves
huge cancelling terms in long unordered chains). The divided difference of each prefix set is
read from the classical table over that set *sorted* (:func:`_prefix_divided_differences`):
a difference quotient never divides by less than its set's spread, and where the spread is
within ``RTOL_DEGENERATE`` (relative) the second-order Taylor form in f⁽ᵐ⁾(λ)/m! = h_m/m!
(:func:`hotcarrier.irf.exp_conv_gauss_moments`, by their recurrence) is used: exactly equal
rates (Jordan blocks) are exact, nearly equal ones accurate, and both branches see safe
inputs (finite gradients). All prefixes are tabulated together, one level per step of a
``lax.scan``: the compiled program has the same size for any number of compartments; the
work is O(n³·T).

Eigenvalues: for an acyclic scheme (parallel, sequential, branched), K is triangular in a
topological order and λᵢ = −dᵢ. Cycles are allowed when every cycle is made of reversible
pairs (A ⇌ B, A ⇌ B ⇌ C, any tree of reversible pairs inside a strongly connected group):
such a block is similar to the symmetric matrix with off-diagonal entries √(k(a→b)·k(b→a)),
whose real eigenvalues come from ``eigh`` with the exact first-order derivative
dλᵢ = vᵢᵀ dS vᵢ (:func:`_eigvalsh`). Other cycles (A → B → C → A) can have complex eigenvalues
(damped oscillating populations) and are refused with a :class:`ModelError`.

Eigen form: where the eigenvalues are well separated the sum collapses to x(t) =
Σⱼ f_t(λⱼ)·M[j] (the Bateman solution generalised, :func:`_eigen_form`) — one kernel per
compartment instead of the O(n³·T) table. Its cancellation bound is computed from the rates,
and ``method`` of :func:`convolved_populations` picks the form ("auto": the eigen form where
it is accurate, a ``lax.cond`` on the rates alone).

Derivatives are exact autodiff of these closed forms (forward and reverse mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ModelError
from .irf import exp_conv_gauss, exp_conv_gauss_moments

__all__ = ["Scheme", "rate_matrix", "decay_rates", "eigenvalues", "convolved_populations",
           "populations", "eigen_form_accurate", "METHODS"]

#: Sets of eigenvalues whose spread is at most this (relative) use the Taylor form: its error
#: is O(spread³), that of the difference quotient O(ε/spread) per nearly equal pair.
RTOL_DEGENERATE = 1e-4
ATOL_DEGENERATE = 1e-12  # ps⁻¹
#: The eigen form (:func:`_eigen_form`) is used when its cancellation bound cond is at most
#: this (times max|p₀|): absolute error ≲ n·ε·cond ≈ 1e-11 for n ≤ 50.
FAST_COND = 1e3
#: ... and no two eigenvalues it divides by are within this (relative) of each other.
EIGEN_GAP = 1e-10
#: Up to this many compartments the Newton vectors are unrolled (smaller programs for the
#: usual few compartments); beyond, one ``lax.scan`` step each.
UNROLL_MAX = 8
#: ``method`` values of :func:`convolved_populations`.
METHODS = ("auto", "eigen", "newton")


def rate_matrix(n: int, transfers: Sequence[tuple[int, int | None]], rates):
    """Rate matrix K (n, n), ps⁻¹, with dx/dt = K x, of ``n`` compartments.

    ``transfers`` are (source, target) indices (target None: decay to the ground state) with
    ``rates`` (ps⁻¹); K[target, source] = +k and K[source, source] = −Σ outgoing k.
    """
    rates = jnp.asarray(rates)
    src = np.array([s for s, _ in transfers], int)
    K = jnp.zeros((n, n), dtype=rates.dtype).at[src, src].add(-rates)
    inner = [e for e, (_, t) in enumerate(transfers) if t is not None]
    if inner:
        tgt = np.array([transfers[e][1] for e in inner], int)
        K = K.at[tgt, src[inner]].add(rates[np.array(inner)])
    return K


def decay_rates(n: int, transfers, rates):
    """Total decay rate dᵢ = Σ outgoing rates of each compartment (ps⁻¹), shape (n,)."""
    rates = jnp.asarray(rates)
    sources = np.array([s for s, _ in transfers], int)
    return jax.ops.segment_sum(rates, sources, num_segments=n)


@dataclass(frozen=True)
class Scheme:
    """Static structure of a scheme: ``n`` compartments, (source, target or None)
    ``transfers`` (hashable; no traced values); ``names`` (optional) for error messages.

    Raises ModelError for a bad index or a cycle that is not made of reversible pairs.
    """

    n: int
    transfers: Sequence[tuple[int, int | None]]
    names: Sequence[str] | None = field(default=None, compare=False)

    def __post_init__(self):
        n = int(self.n)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "transfers", tuple((int(s), None if t is None else int(t))
                                                    for s, t in self.transfers))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(str(x) for x in self.names))
        problems = []
        for s, t in self.transfers:
            if not 0 <= s < n or (t is not None and not 0 <= t < n):
                problems.append(f"transfer {s}→{t} refers to a compartment outside 0..{n - 1}")
            if s == t:
                problems.append(f"transfer {s}→{t} goes from a compartment to itself")
        if problems:
            raise ModelError("invalid kinetic scheme:\n  - " + "\n  - ".join(problems))
        self.reversible_pairs  # raises on cycles that are not reversible pairs

    def _name(self, i: int) -> str:
        return self.names[i] if self.names is not None else str(i)

    @cached_property
    def groups(self) -> tuple[tuple[int, ...], ...]:
        """Strongly connected groups of compartments (one per compartment when acyclic)."""
        reach = np.eye(self.n, dtype=bool)
        for s, t in self.transfers:
            if t is not None:
                reach[s, t] = True
        for k in range(self.n):  # transitive closure (Floyd–Warshall)
            reach |= reach[:, k:k + 1] & reach[k:k + 1, :]
        mutual = reach & reach.T
        seen, out = set(), []
        for i in range(self.n):
            if i not in seen:
                g = tuple(int(j) for j in np.flatnonzero(mutual[i]))
                seen.update(g)
                out.append(g)
        return tuple(out)

    @cached_property
    def group_order(self) -> tuple[tuple[int, ...], ...]:
        """The strongly connected groups in a topological order (sources before targets)."""
        gid = {i: k for k, g in enumerate(self.groups) for i in g}
        succ = {k: set() for k in range(len(self.groups))}
        for s, t in self.transfers:
            if t is not None and gid[s] != gid[t]:
                succ[gid[s]].add(gid[t])
        indeg = {k: 0 for k in succ}
        for k in succ:
            for j in succ[k]:
                indeg[j] += 1
        ready = [k for k in succ if indeg[k] == 0]
        out = []
        while ready:
            k = ready.pop(0)
            out.append(self.groups[k])
            for j in sorted(succ[k]):
                indeg[j] -= 1
                if indeg[j] == 0:
                    ready.append(j)
        return tuple(out)

    @property
    def acyclic(self) -> bool:
        """True when no compartment can be reached back from itself."""
        return all(len(g) == 1 for g in self.groups)

    @cached_property
    def reversible_pairs(self) -> tuple[tuple[int, int], ...]:
        """The (a, b), a < b, of every reversible pair a ⇌ b inside a cyclic group.

        Every cyclic group must be a tree of reversible pairs (then its block of K has real
        eigenvalues); otherwise a :class:`ModelError` names the cycle.
        """
        pairs = []
        for g in self.groups:
            if len(g) == 1:
                continue
            inner = {(s, t) for s, t in self.transfers if s in g and t in g}
            one_way = sorted((s, t) for s, t in inner if (t, s) not in inner)
            und = sorted({(min(s, t), max(s, t)) for s, t in inner})
            if one_way or len(und) != len(g) - 1:
                names = ", ".join(self._name(i) for i in g)
                what = ("the one-way transfer(s) " + ", ".join(
                    f"{self._name(s)}→{self._name(t)}" for s, t in one_way) if one_way
                    else "a loop of reversible pairs")
                raise ModelError(
                    f"the kinetic scheme has a cycle through compartments [{names}] with "
                    f"{what}: such cycles can have complex eigenvalues (oscillating "
                    "populations), which are not supported; make every cycle a reversible "
                    "pair (A ⇌ B, give both directions) or remove a transfer")
            pairs.extend(und)
        return tuple(pairs)


@jax.custom_jvp
def _eigvalsh(S):
    """Eigenvalues of the symmetric matrix S (ascending) with dλᵢ = vᵢᵀ dS vᵢ (finite at
    degenerate eigenvalues, where every symmetric function of them is still exact)."""
    return jnp.linalg.eigh(S)[0]


@_eigvalsh.defjvp
def _eigvalsh_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    w, V = jnp.linalg.eigh(S)
    return w, jnp.einsum("ai,ab,bi->i", V, dS, V)


@jax.custom_jvp
def _sqrt0(x):
    """√x for x ≥ 0 with derivative 0 at x = 0 (a rate of exactly zero in a reversible pair)."""
    return jnp.sqrt(jnp.maximum(x, 0.0))


@_sqrt0.defjvp
def _sqrt0_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    r = _sqrt0(x)
    return r, jnp.where(r > 0.0, dx / (2.0 * jnp.where(r > 0.0, r, 1.0)), 0.0)


def eigenvalues(scheme: Scheme, K):
    """Eigenvalues of the rate matrix K of ``scheme`` (n,), ps⁻¹, real, in the Newton order:
    groups in topological order, ascending within a group.

    Acyclic compartments: their diagonal entry of K. Reversible groups: eigenvalues of the
    symmetrised block (see the module notes), with exact derivatives.
    """
    order = np.array([i for g in scheme.group_order for i in g], int)
    lam = jnp.diagonal(K)[order]  # one gather for every acyclic compartment
    start = 0
    for g in scheme.group_order:
        start += len(g)
        if len(g) == 1:
            continue
        idx = np.array(g, int)
        loc = {i: j for j, i in enumerate(g)}
        pairs = [p for p in scheme.reversible_pairs if p[0] in loc]
        a = np.array([loc[p[0]] for p in pairs], int)
        b = np.array([loc[p[1]] for p in pairs], int)
        ga = np.array([p[0] for p in pairs], int)
        gb = np.array([p[1] for p in pairs], int)
        off = _sqrt0(K[ga, gb] * K[gb, ga])
        S = jnp.diag(K[idx, idx]).at[a, b].add(off).at[b, a].add(off)
        lam = lam.at[start - len(g):start].set(_eigvalsh(S))
    return lam


def _done_mask(scheme: Scheme) -> np.ndarray:
    """(n, n) 0/1: row m is 0 on the compartments of groups whose eigenvalues all come before
    position m of the Newton order (there wₘ vanishes exactly: Cayley–Hamilton per block)."""
    n = scheme.n
    Z = np.ones((n, n))
    pos = 0
    for g in scheme.group_order:
        pos += len(g)
        Z[pos:, list(g)] = 0.0
    return Z


def _newton_vectors(K, lam, p0, done):
    """wₘ = (K − λₘ₋₁) ⋯ (K − λ₀) p₀ for m = 0 … n − 1, shape (n, n) (rows)."""
    n = K.shape[0]
    eye = jnp.eye(n, dtype=K.dtype)

    def step(w, lam_m):  # (K − λI) formed first: its diagonal is exactly 0 where λ = −dᵢ
        return (K - lam_m * eye) @ w, w

    if n > UNROLL_MAX:  # one scan step per eigenvalue: the program does not grow with n
        return jax.lax.scan(step, p0, lam)[1] * done
    rows, w = [], p0
    for m in range(n):
        rows.append(w)
        w = step(w, lam[m])[0]
    return jnp.stack(rows) * done


def _prefix_divided_differences(lam, g0, g1, a, s2):
    """f[λ₀, …, λₘ] for m = 0 … n − 1 (the Newton order), shape (T, n).

    ``lam`` (n,) eigenvalues in the Newton order; ``g0``, ``g1`` (T, n) the kernel f and its
    derivative f′ = h₁ at each of them; ``a`` (T, n) = τ + λσ² and ``s2`` = σ² give the
    normalised derivatives gⱼ = f⁽ʲ⁾/j! by g_{j+1} = (a·gⱼ + σ²·g_{j−1})/(j + 1).

    The divided difference of each prefix set is read from the classical table over that
    set *sorted* (all prefixes at once, one table level per ``scan`` step; points outside a
    prefix are padding at its end): level ℓ holds f over ℓ + 1 consecutive sorted points,
    the difference quotient of two level ℓ − 1 entries divided by the spread of the set —
    or, where that spread is within RTOL_DEGENERATE (relative) of 0, the Taylor form
    g_ℓ + g_{ℓ+1}·h₁(δ) + g_{ℓ+2}·h₂(δ) at the smallest point (δ the offsets from it, hⱼ
    their complete homogeneous symmetric polynomials; error O(spread³)). Sorted sets never
    divide by a gap smaller than the set's spread, so equal rates anywhere in a scheme are
    exact.
    """
    n = lam.shape[0]
    if n == 1:
        return g0
    idx = np.arange(n)
    inside = idx[None, :] <= idx[:, None]  # (prefix m, point j): j in prefix m
    big = jnp.max(lam) + 1.0
    order = jnp.argsort(jnp.where(inside, lam[None, :], big), axis=1)  # (m, position)
    pts = jnp.where(inside, lam[order], big)  # sorted prefix points, padding at the end

    def at(g):  # (T, n) per point → (m, T, position)
        return jnp.moveaxis(g[:, order], 0, 1)

    a = at(a)
    g0, g1 = at(g0), at(g1)

    def level(carry, lvl):
        D, gl, gl1, s1, p2 = carry  # g_l, g_{l+1} at the sorted points (m, T, position)
        gl2 = (a * gl1 + s2 * gl) / (lvl + 2.0)
        hi = jnp.minimum(idx + lvl, n - 1)
        spread = pts[:, hi] - pts  # (m, position) ≥ 0
        s1 = s1 + spread
        p2 = p2 + spread * spread
        close = spread <= RTOL_DEGENERATE * jnp.maximum(jnp.abs(pts), jnp.abs(pts[:, hi])) \
            + ATOL_DEGENERATE
        up = jnp.concatenate([D[..., 1:], D[..., -1:]], axis=-1)  # D[i + 1]
        regular = (up - D) / jnp.where(close, 1.0, spread)[:, None, :]
        taylor = gl + gl1 * s1[:, None, :] + gl2 * (0.5 * (s1 * s1 + p2))[:, None, :]
        D = jnp.where(close[:, None, :], taylor, regular)
        return (D, gl1, gl2, s1, p2), D[:, :, 0]

    zero = jnp.zeros_like(pts)
    first = g0[0, :, :1]  # f(λ₀)
    out = jax.lax.scan(level, (g0, g1, 0.5 * (a * g1 + s2 * g0), zero, zero),
                       jnp.arange(1, n))[1]  # (l, m, T)
    lead = out[idx[1:] - 1, idx[1:]]  # level m of prefix m: (n − 1, T)
    return jnp.concatenate([first, lead.T], axis=1)


def _eigen_form(scheme: Scheme, rates, p0):
    """Rate-only part of the populations: eigenvalues ``lam`` (n,) in the Newton order, Newton
    vectors ``W`` (n, n), the eigen-form matrix ``M`` (n, n) and its cancellation bound
    ``cond`` (relative to max|p₀|; inf at (nearly) equal eigenvalues).

    With distinct eigenvalues the Newton form collapses to x(t) = Σⱼ f_t(λⱼ)·M[j] (the Bateman
    solution generalised), M[j] = Σ_{m≥j} wₘ / ∏_{l≤m, l≠j}(λⱼ − λₗ): one kernel evaluation per
    compartment and a small matrix product instead of the O(n³·T) divided-difference table.
    Its rounding error is ≤ n·ε·cond·max|f| with cond = max_c Σ_{j,m} |wₘ[c]/∏(λⱼ − λₗ)| (|f| ≤ 1
    for a decaying kernel), so it is used only where cond ≤ FAST_COND·max|p₀| (absolute error
    ≲ 1e-11·max|p₀| for n ≤ 50); equal or nearly equal eigenvalues (Jordan blocks, equal rates
    of uncoupled compartments alike) fail that test and take the divided differences.
    """
    n = scheme.n
    K = rate_matrix(n, scheme.transfers, rates)
    lam = eigenvalues(scheme, K)
    W = _newton_vectors(K, lam, p0, _done_mask(scheme))
    j, m, q = np.ogrid[:n, :n, :n]
    inside = (q <= m) & (q != j)  # (j, m, l) static: λₗ divides in column m
    valid = np.triu(np.ones((n, n), bool))  # (j, m): m ≥ j
    gap = lam[:, None] - lam[None, :]  # (j, l)
    same = jnp.abs(gap) <= EIGEN_GAP * jnp.maximum(jnp.abs(lam)[:, None], jnp.abs(lam)[None, :]) \
        + ATOL_DEGENERATE  # (numerically) equal: the division would be 0/0
    used = inside & valid[:, :, None]
    bad = jnp.any(used & same[:, None, :])
    factor = jnp.where(same | np.eye(n, dtype=bool), 1.0, gap)  # (j, l)
    cols, den = [], jnp.ones(n, lam.dtype)
    for col in range(n):  # den[j, m] = ∏_{l≤m, l≠j} (λⱼ − λₗ): a running product over m
        den = den * factor[:, col]
        cols.append(den)
    den = jnp.stack(cols, axis=1)
    inv = jnp.where(valid, 1.0 / den, 0.0)  # (j, m)
    terms = inv[:, :, None] * W[None, :, :]  # (j, m, c)
    M = jnp.sum(terms, axis=1)
    cond = jnp.max(jnp.sum(jnp.abs(terms), axis=(0, 1))) / (jnp.max(jnp.abs(p0)) + 1e-300)
    cond = jnp.where(bad | ~jnp.isfinite(cond), jnp.inf, cond)
    return lam, W, M, cond


def eigen_form_accurate(scheme: Scheme, rates, p0, margin: float = 1.0):
    """True (traceable) when the eigen form is accurate at these rates and initial populations
    with a safety ``margin`` (its cancellation bound ≤ FAST_COND / margin; see
    :func:`convolved_populations`). Leading batch axes of ``rates``/``p0`` are reduced (all)."""
    rates, p0, _ = _flat_batch(rates, p0)
    cond = jax.vmap(lambda r, q: _eigen_form(scheme, r, q)[3])(rates, p0)
    return jnp.all(cond * margin <= FAST_COND)


def _flat_batch(rates, p0):
    """``rates`` (..., n_transfers) and ``p0`` (..., n) broadcast over their leading axes and
    flattened to (B, ·); with the leading (batch) shape."""
    rates = jnp.asarray(rates)
    p0 = jnp.asarray(p0, dtype=rates.dtype)
    batch = jnp.broadcast_shapes(rates.shape[:-1], p0.shape[:-1])
    return (jnp.broadcast_to(rates, (*batch, rates.shape[-1])).reshape(-1, rates.shape[-1]),
            jnp.broadcast_to(p0, (*batch, p0.shape[-1])).reshape(-1, p0.shape[-1]), batch)


def _solve(scheme: Scheme, rates, p0, mu, sigma, kernel, method):
    """Populations (..., *S, T, n) of the batch ``rates``/``p0`` (leading axes) for the IRF
    centres/widths ``mu``/``sigma`` of shape S.

    ``kernel(lam, mu, sigma, moments)`` on (T, n) for one eigenvalue set and one IRF: the
    kernel f (``moments`` False: the eigen form) or (g0, g1, a, σ²) of the divided
    differences. The eigen-form test is a function of the rates only and is reduced over the
    batch, so ``lax.cond`` runs ONE branch for the whole call (a per-wavelength IRF does not
    turn it into a ``select``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    rates, p0, batch = _flat_batch(rates, p0)
    irf_shape = jnp.broadcast_shapes(jnp.shape(mu), jnp.shape(sigma))
    mus = jnp.broadcast_to(mu, irf_shape).reshape(-1)
    sigmas = jnp.broadcast_to(sigma, irf_shape).reshape(-1)
    lam, W, M, cond = jax.vmap(lambda r, q: _eigen_form(scheme, r, q))(rates, p0)
    ok = jnp.all(cond <= FAST_COND)

    def over_irf(fn):  # fn(lam, W or M, mu, sigma) → (T, n); over batch × IRF
        one = jax.vmap(fn, in_axes=(None, None, 0, 0))
        return jax.vmap(one, in_axes=(0, 0, None, None))

    def eigen(lam, W, M):
        return over_irf(lambda lm, Mb, mm, ss: kernel(lm, mm, ss, False) @ Mb)(lam, M, mus, sigmas)

    def newton(lam, W, M):
        def one(lm, Wb, mm, ss):
            return _prefix_divided_differences(lm, *kernel(lm, mm, ss, True)) @ Wb
        return over_irf(one)(lam, W, mus, sigmas)

    if method == "eigen":  # NaN where the eigen form is not accurate
        out = jnp.where(ok, eigen(lam, W, M), jnp.nan)
    elif method == "newton":
        out = newton(lam, W, M)
    else:
        out = jax.lax.cond(ok, eigen, newton, lam, W, M)  # (B, S, T, n)
    return out.reshape(*batch, *irf_shape, *out.shape[-2:])


def convolved_populations(scheme: Scheme, t, rates, p0, mu, sigma, method: str = "auto"):
    """Compartment populations (..., *S, T, n) convolved with a unit-area Gaussian IRF.

    Parameters
    ----------
    scheme : Scheme
        Static scheme (acyclic, or with cycles made of reversible pairs).
    t : Array (T,), ps
        Delays.
    rates : Array (..., n_transfers), ps⁻¹
        Transfer rates (≥ 0), in the order of ``scheme.transfers``. Leading axes are a batch
        of rate sets (e.g. one per trap count) that share ``t``, ``mu`` and ``sigma``.
    p0 : Array (..., n)
        Initial populations (at the IRF centre); leading axes broadcast with ``rates``.
    mu, sigma : float or Array (S), ps
        IRF centre(s) and standard deviation(s) (σ > 0); arrays (e.g. one IRF per
        wavelength, shape S) give one population set each, after the batch axes.
    method : {"auto", "eigen", "newton"}
        "auto": the eigen form where it is accurate, else the Newton form (a ``lax.cond``:
        both are compiled). "eigen": the eigen form only, NaN where it is not accurate — a
        program about half the size, for callers that fall back themselves (the target fit
        does). "newton": the divided differences only (any eigenvalues).

    Notes
    -----
    For σ → 0 this is the solution of dx/dt = K x for t > μ, x(μ) = p₀. Well-separated
    eigenvalues use the eigen form (:func:`_eigen_form`: one kernel per compartment), others
    the Newton form with divided differences; both accurate to ~1e-11 absolute on O(1)
    populations, for distinct, nearly equal and equal rates, with finite derivatives.
    """
    t = jnp.asarray(t)
    dtype = jnp.result_type(t, jnp.asarray(rates), float)
    t = t.astype(dtype)
    mu = jnp.asarray(mu, dtype=dtype)
    sigma = jnp.asarray(sigma, dtype=dtype)

    def kernel(lam, mu, sigma, moments):
        if not moments:
            return exp_conv_gauss(t[:, None], -lam[None, :], mu, sigma)
        h = exp_conv_gauss_moments(t[:, None], -lam[None, :], mu, sigma, 1)
        s2 = sigma * sigma
        a = (t - mu)[:, None] + lam[None, :] * s2
        return h[0], h[1], a, s2

    return _solve(scheme, jnp.asarray(rates, dtype), p0, mu, sigma, kernel, method)


def populations(scheme: Scheme, t, rates, p0, method: str = "auto"):
    """Populations (..., T, n) without IRF (a δ excitation at t = 0; zero before).

    ``scheme``, ``t``, ``rates``, ``p0`` and ``method`` as in :func:`convolved_populations`.
    """
    t = jnp.asarray(t)
    dtype = jnp.result_type(t, jnp.asarray(rates), float)
    t = t.astype(dtype)
    pos = t >= 0
    tt = jnp.where(pos, t, 0.0)[:, None]

    def kernel(lam, mu, sigma, moments):
        e = jnp.where(pos[:, None], jnp.exp(jnp.minimum(lam[None, :] * tt, 700.0)), 0.0)
        if not moments:
            return e
        return e, tt * e, tt + 0.0 * lam[None, :], jnp.zeros((), dtype)

    zero = jnp.zeros((), dtype)
    return _solve(scheme, jnp.asarray(rates, dtype), p0, zero, zero, kernel, method)

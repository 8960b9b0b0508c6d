"""Kinetics: rate matrices, Bateman/expm references, degenerate rates, gradients, IRF limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import expm

from hotcarrier.errors import ModelError
from hotcarrier.kinetics import Scheme, convolved_populations, populations, rate_matrix

T = np.linspace(0.0, 50.0, 26)  # ps (NumPy: float64 whatever the JAX setting at import)
SEQ3 = Scheme(3, [(0, 1), (1, 2), (2, None)])
BRANCHED = Scheme(5, [(0, 1), (0, 2), (1, 3), (2, 3), (3, None), (4, None)])


def _expm_pops(scheme, rates, p0, t=T):
    K = rate_matrix(scheme.n, scheme.transfers, rates)
    return jnp.stack([expm(K * ti) @ p0 for ti in t])


def test_sequential_matches_bateman():
    k1, k2 = 2.0, 0.5
    pop = populations(Scheme(2, [(0, 1), (1, None)]), T, jnp.array([k1, k2]), jnp.array([1.0, 0.0]))
    bateman = k1 / (k2 - k1) * (jnp.exp(-k1 * T) - jnp.exp(-k2 * T))
    np.testing.assert_allclose(pop[:, 1], bateman, rtol=1e-12, atol=1e-15)  # closed forms


def test_branched_matches_expm():
    rates = jnp.array([1.4, 8.1, 0.35, 0.04, 0.02, 99.0])
    p0 = jnp.array([0.5, 0, 0, 0, 0.5])
    # expm (Padé, float64) agrees to ~1e-14 absolute on O(1) populations
    np.testing.assert_allclose(populations(BRANCHED, T, rates, p0), _expm_pops(BRANCHED, rates, p0),
                               atol=1e-12)


@pytest.mark.parametrize("rates", [
    [0.5, 0.5, 0.5],               # exactly triple-degenerate
    [0.5, 0.5 + 1e-9, 0.5 - 1e-9],  # within the degeneracy tolerance
    [0.5, 0.5 + 1e-6, 0.2],         # near-equal pair, regular branch with cancellation
    [0.5, 0.501, 0.502],            # close but resolved
    [1.0, 0.5, 0.0],                # a non-decaying last compartment
])
def test_degenerate_rates_match_expm(rates):
    r = jnp.array(rates)
    p0 = jnp.array([1.0, 0.0, 0.0])
    # tolerance: worst case is the near-equal regular branch (~1e-10 relative cancellation)
    np.testing.assert_allclose(populations(SEQ3, T, r, p0), _expm_pops(SEQ3, r, p0), atol=1e-10)


def test_gradient_at_degeneracy_matches_expm():
    r = jnp.array([0.5, 0.5, 0.5])
    p0 = jnp.array([1.0, 0.0, 0.0])
    g = jax.jacfwd(lambda q: populations(SEQ3, T, q, p0))(r)
    ge = jax.jacfwd(lambda q: _expm_pops(SEQ3, q, p0))(r)
    # Taylor branch has zero derivative in the spread (error O(δ)); at exact equality exact
    np.testing.assert_allclose(g, ge, atol=1e-9)


def test_reverse_mode_gradient_at_partial_degeneracy():
    # k1 = k2 ≠ k3: the unselected divided-difference candidates divide by zero; the
    # reverse pass must not turn 0·∞ into NaN (jacfwd vs grad must agree)
    r = jnp.array([0.1, 0.1, 1 / 150])
    t = jnp.linspace(-1.0, 50.0, 30)

    @jax.jit
    def f(q):
        return populations(SEQ3, t, q, jnp.array([1.0, 0.0, 0.0])).sum()

    g = jax.jit(jax.grad(f))(r)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, jax.jacfwd(f)(r), rtol=1e-12)  # same closed form


def test_conservation_without_loss():
    sch = Scheme(3, [(0, 1), (0, 2), (1, 2)])
    pop = populations(sch, T, jnp.array([0.7, 0.2, 0.05]), jnp.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(pop.sum(axis=1), 1.0, atol=1e-13)


def test_convolved_tends_to_plain_for_narrow_irf():
    rates = jnp.array([1.4, 8.1, 0.35, 0.04, 0.02, 99.0])
    p0 = jnp.array([0.5, 0, 0, 0, 0.5])
    t = jnp.linspace(0.5, 50, 30)
    # σ = 1e-5 ps: relative correction O(kσ) ≤ 1e-3 for k = 99 ps⁻¹, O(1e-5) for the others
    np.testing.assert_allclose(convolved_populations(BRANCHED, t, rates, p0, 0.0, 1e-5),
                               populations(BRANCHED, t, rates, p0), atol=2e-4)


def test_batched_rates_equal_members_and_share_one_branch():
    # a batch of rate sets (leading axes) gives what each member gives on its own, whether
    # all members are well separated or one is degenerate
    t = jnp.linspace(-0.5, 40.0, 30)
    p0 = jnp.array([0.5, 0, 0, 0, 0.5])
    f = jax.jit(lambda r, q: convolved_populations(BRANCHED, t, r, q, 0.1, 0.08))
    sep = jnp.array([[1.4, 8.1, 0.35, 0.04, 0.02, 99.0], [2.0, 3.0, 0.5, 0.07, 0.3, 9.0]])
    deg = sep.at[1, 2].set(0.3)  # member 1: decay rates of compartments 1 and 3 both 0.3
    for rates in (sep, deg):
        out = f(rates, p0)
        assert out.shape == (2, 30, 5)
        np.testing.assert_allclose(out, jnp.stack([f(r, p0) for r in rates]), rtol=1e-10,
                                   atol=1e-14)
        out2 = f(rates[None], jnp.stack([p0, p0])[None])  # p0 batched too, two batch axes
        assert out2.shape == (1, 2, 30, 5)
        np.testing.assert_allclose(out2[0], out, rtol=1e-15)
    g = jax.jacfwd(lambda r: f(r, p0).sum())(deg)
    assert np.all(np.isfinite(g))


def test_irreversible_cycles_and_bad_indices_rejected():
    Scheme(2, [(0, 1), (1, 0)])  # a reversible pair is fine
    with pytest.raises(ModelError, match="cycle through compartments"):
        Scheme(3, [(0, 1), (1, 2), (2, 0)])  # may have complex eigenvalues
    with pytest.raises(ModelError, match="loop of reversible pairs"):
        Scheme(3, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (0, 2)])
    with pytest.raises(ModelError, match="outside"):
        Scheme(2, [(0, 5)])

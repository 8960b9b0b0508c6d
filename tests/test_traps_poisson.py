"""The one Poisson average over the trap count (spec §8.4), against closed-form Poisson averages.

λ range used by the models: 0 (trap-free) … 0.0707 (clean) … 70.7 (defective) … 707 (the H2
sensitivity analysis evaluates up to 10 × the defective λ; N_it = 1e14 cm⁻² sweeps reach it).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import poisson

from hotcarrier.errors import HotcarrierError
from hotcarrier.h2 import markov
from hotcarrier.physics.parameters import DEFECTIVE
from hotcarrier.physics.traps import (
    m_max,
    padded_m_max,
    poisson_average,
    poisson_weights,
    trap_counts,
)

LAMBDAS = [0.0, 0.0707, 1.0, 7.07, 70.7, 212.1, 707.0]
Z = 0.9


def _closed_forms(lam):
    """Exact ⟨Q⟩ for m ~ Poisson(λ): Q = 1, m, (m − λ)², z^m, 1/(m + 1)."""
    inv = -math.expm1(-lam) / lam if lam > 0 else 1.0
    return {"one": (lambda m: jnp.ones_like(m), 1.0),
            "mean": (lambda m: m, lam),
            "variance": (lambda m: (m - lam) ** 2, lam),
            "generating function": (lambda m: Z**m, math.exp(lam * (Z - 1.0))),
            "1/(m+1)": (lambda m: 1.0 / (m + 1.0), inv)}


@pytest.mark.parametrize("lam", LAMBDAS)
@pytest.mark.parametrize("pad", [False, True], ids=["m_max", "padded"])
def test_truncated_sum_is_the_exact_average(lam, pad):
    n_max = padded_m_max(lam) if pad else m_max(lam)
    for name, (q, exact) in _closed_forms(lam).items():
        got = float(poisson_average(q, lam, n_max))
        # the variance is a difference of O(λ²) terms: cancellation costs a factor ~λ
        tol = 1e-12 * (1.0 + lam if name == "variance" else 1.0)
        assert abs(got - exact) <= tol * max(abs(exact), 1e-300) or got == exact, (name, got)


def test_term_count_convention():
    # n_max is the largest trap count included: m = 0 … n_max, n_max + 1 terms
    assert trap_counts(5).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert poisson_weights(2.0, 5).shape == (6,)
    # spec §8.4: m_max = ⌈λ + 12√λ + 30⌉ (202 for the defective λ = 70.69, 30 for λ = 0)
    assert m_max(DEFECTIVE.mean_traps) == 202 and m_max(0.0) == 30
    for lam in LAMBDAS:
        n = padded_m_max(lam)
        assert n >= m_max(lam) and (n + 1) % 64 == 0
        # the neglected tail is far below float64 resolution
        assert poisson.sf(m_max(lam), lam) < 1e-20
    assert padded_m_max(0.07, 70.7) == padded_m_max(70.7) == 255


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_mean_trap_number_names_the_input(bad):
    with pytest.raises(HotcarrierError, match="mean trap number.*N_it_cm2"):
        m_max(bad)


def test_weights_match_scipy_and_gradient_matches_closed_form():
    lam = 70.7
    n = m_max(lam)
    np.testing.assert_allclose(poisson_weights(lam, n), poisson.pmf(np.arange(n + 1), lam),
                               rtol=1e-12, atol=1e-300)
    # d/dλ ⟨1/(m+1)⟩ = d/dλ (1 − e^{−λ})/λ = e^{−λ}/λ − (1 − e^{−λ})/λ²
    g = float(jax.grad(lambda x: poisson_average(lambda m: 1.0 / (m + 1.0), x, n))(lam))
    exact = math.exp(-lam) / lam + math.expm1(-lam) / lam**2
    np.testing.assert_allclose(g, exact, rtol=1e-12)


def test_h2_chain_average_matches_an_independent_sum():
    # the H2 model's ⟨P_C→H2⟩ (spec §9.2) through traps.poisson_average vs a plain NumPy loop
    # over scipy's Poisson pmf
    r = markov.slow_rates(DEFECTIVE)
    lam = float(r.lam)
    ours = float(poisson_average(lambda m: markov.p_c_to_h2(r, m), r.lam, padded_m_max(lam)))
    m = np.arange(m_max(lam) + 1)
    ref = sum(poisson.pmf(k, lam) * float(markov.p_c_to_h2(r, float(k))) for k in m)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)

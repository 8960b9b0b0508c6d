"""Spec §9.2 absorbing Markov chain and §8.4 Poisson average: V11 (fate part), V12, V17."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotcarrier.h2 import markov
from hotcarrier.physics.parameters import CLEAN, DEFECTIVE
from hotcarrier.physics.traps import m_max, padded_m_max, poisson_average, poisson_weights

with jax.enable_x64(True):  # at import, before the per-test float64 switch (conftest.py)
    RC = markov.slow_rates(CLEAN)
    RD = markov.slow_rates(DEFECTIVE)


def test_default_rates_match_spec_units():
    # spec §8.1/§11 [C]: k1 = 1.559e9 s⁻¹ (V10), λ = 0.0707 / 70.7, f_CB = 9.1e-6 at 0.30 eV
    np.testing.assert_allclose(float(RC.k1), 1.559e9, rtol=5e-4)  # 4 digits quoted
    np.testing.assert_allclose(float(RC.lam), 0.0707, rtol=1e-3)
    np.testing.assert_allclose(float(RD.lam), 70.7, rtol=1e-3)
    np.testing.assert_allclose(float(RC.f_cb), 9.1e-6, rtol=1e-2)  # 2 digits quoted
    assert float(RC.k_bet) == 5e11 and float(RC.k_h) == 1e4 and float(RC.k_loss2) == 1e2


def _average(fn, r, n_max):
    return poisson_average(lambda m: fn(r, m), r.lam, n_max)


def test_poisson_truncation_rule():
    # spec §8.4: m_max = ⌈λ + 12√λ + 30⌉ → m = 0 … m_max (m_max + 1 terms)
    # λ_def = 70.69: 70.69 + 12·8.41 + 30 = 201.6 → m_max = 202, i.e. 203 terms
    assert m_max(70.68583470577035) == 202
    assert m_max(0.0) == 30  # 31 terms
    w = poisson_weights(RD.lam, padded_m_max(float(RD.lam)))
    assert abs(float(w.sum()) - 1.0) < 1e-13  # truncated tail < e^-60


@pytest.mark.parametrize("r", [RC, RD], ids=["clean", "defective"])
def test_v12_rows_sum_to_one_and_closed_form_equals_matrix_form(r):
    # V12: every row of B = (−Q)⁻¹R sums to 1 and equals the closed form, for all m ≤ m_max
    m = jnp.arange(m_max(float(r.lam)) + 1, dtype=jnp.float64)
    b_mat = jax.jit(jax.vmap(markov.absorption_matrix, (None, 0)))(r, m)
    b_cf = jax.jit(jax.vmap(markov.absorption_closed_form, (None, 0)))(r, m)
    assert float(jnp.max(jnp.abs(b_mat.sum(-1) - 1.0))) < 1e-12
    assert float(jnp.max(jnp.abs(b_cf.sum(-1) - 1.0))) < 1e-12
    assert float(jnp.max(jnp.abs(b_mat - b_cf))) < 1e-12
    assert float(jnp.min(b_mat)) > -1e-13  # probabilities (LU round-off around exact zeros)
    # the §9.2 formula for P_C→H2 is the (C, H2) entry
    h2 = markov.ABSORBING.index("H2")
    np.testing.assert_allclose(b_mat[:, 0, h2], jax.vmap(lambda mm: markov.p_c_to_h2(r, mm))(m),
                               rtol=1e-12)


@given(logk=st.lists(st.floats(-2.0, 14.0), min_size=12, max_size=12),
       m=st.integers(0, 300))
def test_v12_rows_sum_to_one_for_any_positive_rates(logk, m):
    r = markov.SlowRates(*[jnp.float64(10.0**x) for x in logk], lam=jnp.float64(1.0))
    r = r._replace(f_cb=jnp.float64(min(1.0, r.f_cb)))
    b = markov.absorption_matrix(r, m)
    b_cf = markov.absorption_closed_form(r, m)
    # closed form: products of branching ratios, exact to round-off whatever the rates
    assert float(jnp.max(jnp.abs(b_cf.sum(-1) - 1.0))) < 1e-12
    # LU solve: backward stable, forward error ≲ cond(−Q)·ε (rates spanning 16 decades)
    q, _ = markov.generator(r, m)
    tol = max(1e-12, 10 * float(jnp.linalg.cond(-q)) * 2.2e-16)
    assert float(jnp.max(jnp.abs(b.sum(-1) - 1.0))) < tol
    np.testing.assert_allclose(b, b_cf, atol=tol)


def test_v11_fate_probabilities():
    # spec §9.4 [C]: ⟨P_C→H2⟩ = 9.47e-2 (clean), 9.68e-4 (defective), ratio 97.8 — 3 digits
    pc = float(_average(markov.p_c_to_h2, RC, 63))
    pd = float(_average(markov.p_c_to_h2, RD, 255))
    np.testing.assert_allclose(pc, 9.47e-2, rtol=5e-4 / 9.47 * 10)  # ± half a unit of the 3rd digit
    np.testing.assert_allclose(pd, 9.68e-4, rtol=5e-4 / 9.68 * 10)
    assert round(pc / pd, 1) == 97.8


def test_cds_channel_defaults():
    # spec §9.3 [C]: ⟨P_X→H2⟩ = 0.86 (clean), 8.4e-4 (defective) — 2 digits
    px_c = float(_average(markov.p_x_to_h2, RC, 63))
    px_d = float(_average(markov.p_x_to_h2, RD, 255))
    assert round(px_c, 2) == 0.86
    assert round(px_d * 1e4, 1) == 8.4


@pytest.mark.parametrize("n_it, expected", [(1e10, 1.054), (1e11, 1.342), (3e11, 1.40),
                                            (1e12, 1.15), (1e13, 1.017)])
def test_v17_poisson_vs_mean_field(n_it, expected):
    # V17 (3 digits) and §8.4 (5/34/40/15/2 %): Poisson-averaged H2 yield / mean-field (m := λ)
    r = markov.slow_rates(dataclasses.replace(CLEAN, N_it_cm2=n_it))
    ratio = float(_average(markov.p_c_to_h2, r, padded_m_max(float(r.lam)))
                  / markov.p_c_to_h2(r, r.lam))  # mean field: m := λ
    digits = len(str(expected).split(".")[1])
    assert round(ratio, digits) == expected


def test_gradient_of_poisson_average_matches_finite_difference():
    # the ratio's sensitivities use jax.grad through the Poisson weights and the chain
    def f(log_nit):
        p = dataclasses.replace(DEFECTIVE, N_it_cm2=jnp.exp(log_nit))
        return jnp.log(_average(markov.p_c_to_h2, markov.slow_rates(p), 255))

    x = jnp.log(1e13)
    g = float(jax.grad(f)(x))
    h = 1e-5
    fd = float((f(x + h) - f(x - h)) / (2 * h))
    np.testing.assert_allclose(g, fd, rtol=1e-6)  # central difference error ~h² · f''' ≈ 1e-10
    assert -1.2 < g < -0.9  # deep in the trap-limited regime P ∝ ~1/λ

"""Nonlinear metal module (spec §6): extended TTM, thermionic injection, charging.

Validation checks V7, V8, V9, V15, V16 of spec §12 and rows of the §6.4 table. Compiled
solvers are shared through module-scoped fixtures (one compile per switch set and batch shape).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.physics.injection import injection_quantum_yield
from hotcarrier.physics.parameters import CLEAN
from hotcarrier.physics.excitation import mean_absorbed_photons
from hotcarrier.physics.ttm import (
    V7_CONFIG,
    TTMConfig,
    charging_capacitance_F,
    charging_shift_per_electron_eV,
    core_volume_m3,
    default_times,
    electron_phonon_time_ps,
    effective_barrier_eV,
    energy_balance,
    pump_envelope,
    simulate_ttm,
    solve_ttm,
    solve_ttm_batch,
    thermionic_current,
)
from hotcarrier.physics.ttm import _energy_unit, _vector_field
from hotcarrier.units import KB_J, Q_E

TABLE_F = np.array([0.1, 1.0, 10.0, 50.0, 100.0])  # µJ cm⁻², the §6.4 rows
TABLE_TEMAX = np.array([304.0, 341.0, 621.0, 1340.0, 1920.0])  # K
TABLE_PHOTO = np.array([0.89, 8.9, 89.0, 443.0, 887.0])  # electrons (no charging)
TABLE_THERMIONIC = np.array([3.5e-12, 1.7e-10, 8.6e-5, 2.1, 46.0])  # electrons (no charging)
TABLE_PHI_CHARGING = np.array([0.481, 0.474, 0.416, 0.270, 0.236])


def energy_rate_residual(p, t, state, n_abs, pump_fwhm_fs=100.0, cfg=TTMConfig()):
    """Pointwise §6.3 identity at one (t, state): d(content)/dt − (sources − sinks), J m⁻³ ps⁻¹.

    ``state`` = (N [J m⁻³], T_e [K], T_l [K], H, C, T, L [electrons]). The left side is formed
    from the model's time derivatives (N', γT_e T_e', C_l T_l'); the right side is written
    independently from the §6.3 formula. Zero up to round-off for a correct vector field.
    """
    N, T_e, T_l, H, C, Tr, L = (jnp.asarray(v, float) for v in state)
    T0 = p.temperature_K
    eu = _energy_unit(p)
    y = jnp.stack([N / eu, 0.5 * p.gamma_e * (T_e**2 - T0**2) / eu, p.C_l * (T_l - T0) / eu,
                   H, C, Tr, L] + [jnp.zeros(())] * 6)
    dy = _vector_field(t, y, (p, jnp.asarray(n_abs, float), pump_fwhm_fs, cfg))
    lhs = (dy[0] + dy[1] + dy[2]) * eu
    # §6.3 right side, written out again from the spec formula
    V_c = core_volume_m3(p)
    n_s = C + Tr + L
    phi = effective_barrier_eV(p, n_s, cfg.charging)
    s = n_abs * pump_envelope(t, pump_fwhm_fs)
    J_inj = (p.k_inj * H + p.eta_cid * s) if cfg.injection else 0.0
    e_inj = (0.5 * (p.hbar_omega_eV + phi) if cfg.injected_energy == "spec"
             else p.hbar_omega_eV - phi) * Q_E
    J_th = thermionic_current(p, T_e, n_s, cfg.charging) if cfg.thermionic else 0.0
    rhs = ((1.0 - p.eta_rad) * p.hbar_omega_eV * Q_E * s / V_c - e_inj * J_inj / V_c
           - J_th * (phi * Q_E + 2.0 * KB_J * T_e) / V_c
           - (p.C_l * (T_l - T0) / p.tau_env_ps if cfg.environment else 0.0))
    return lhs - rhs


def relaxation_time_ps(ts, T_e, T_l):
    """e–ph relaxation time (ps) from a least-squares line through log(T_e − T_l) vs t."""
    d = jnp.log(T_e - T_l)
    tm, dm = jnp.mean(ts), jnp.mean(d)
    slope = jnp.sum((ts - tm) * (d - dm)) / jnp.sum((ts - tm) ** 2)
    return -1.0 / slope


@pytest.fixture(scope="module")
def v7():
    return solve_ttm(CLEAN, 100.0, cfg=V7_CONFIG)


@pytest.fixture(scope="module")
def table_charging():
    return solve_ttm_batch(CLEAN, mean_absorbed_photons(TABLE_F, CLEAN))


@pytest.fixture(scope="module")
def table_no_charging():
    return solve_ttm_batch(CLEAN, mean_absorbed_photons(TABLE_F, CLEAN),
                           cfg=TTMConfig(charging=False))


# ------------------------------------------------------------------ constants and algebra
def test_geometry_and_excitation_constants():
    # spec §2 A.4: ≈ 18.4 photons per particle per µJ cm⁻² (F σ_abs/ħω, ħω = 2.1 eV)
    assert round(float(mean_absorbed_photons(1.0, CLEAN)), 1) == 18.4
    # spec §6.4 ⟨N_abs⟩ column: 1.8 / 18 / 184 / 921 / 1843
    n = np.asarray(mean_absorbed_photons(TABLE_F, CLEAN))
    np.testing.assert_allclose(n, [1.843, 18.43, 184.3, 921.4, 1842.7], rtol=1e-3)
    # spec §6.2: C_eff = 1.86e-17 F, 8.6 mV per electron (3 significant figures each)
    assert round(charging_capacitance_F(CLEAN) * 1e17, 2) == 1.86
    assert round(charging_shift_per_electron_eV(CLEAN) * 1e3, 1) == 8.6
    assert math.isclose(core_volume_m3(CLEAN), 4 / 3 * math.pi * (7.5e-9) ** 3, rel_tol=1e-15)


def test_v15_detailed_balance_exact():
    """V15: J_th = 0 exactly at T_e = T_0, n_s = 0 (both terms are the same float expression)."""
    for p in (CLEAN, CLEAN.replace(temperature_K=350.0, dphi_pin_eV=0.2)):
        for charging in (True, False):
            assert float(thermionic_current(p, p.temperature_K, 0.0, charging)) == 0.0
    # signs: hotter electrons emit; a charged shell at T_0 returns electrons
    assert thermionic_current(CLEAN, 400.0, 0.0) > 0
    assert thermionic_current(CLEAN, 300.0, 5.0) < 0
    # magnitude of each one-way current at 300 K: A* A_int T² e^{−φ/kT}/q = 3.5 s⁻¹
    one_way = float(thermionic_current(CLEAN, 300.0, 1e4)) * -1e12
    expected = 24 * 7.0686e-12 / Q_E * 9e4 * math.exp(-0.8 / (8.617333262e-5 * 300))
    assert math.isclose(one_way, expected, rel_tol=1e-4)


def test_equilibrium_is_stationary():
    """With no pump the exact equilibrium stays put (J_th = 0 exactly, V15 in the ODE)."""
    sol = solve_ttm(CLEAN, 0.0, cfg=V7_CONFIG)
    assert float(jnp.max(jnp.abs(sol.T_e - 300.0))) == 0.0
    assert float(jnp.max(jnp.abs(sol.C))) == 0.0


# ------------------------------------------------------------------ V7 energy conservation
def test_v7_energy_conservation(v7):
    """V7: injection, thermionic and τ_env off; N_abs = 100, R1 = 7.5 nm."""
    eb = energy_balance(CLEAN, v7)
    # spec: rel. err < 1e-8 (oracle 9.9e-10). Here the total energy is a linear invariant of the
    # scaled state, so Kvaerno5 conserves it to round-off (~1e-14).
    assert float(eb.relative_error) < 1e-8
    # all of (1−η_rad) N_abs ħω / V_c was absorbed: the solver's quadrature of the Gaussian
    # pump is accurate to its rtol 1e-8 (1.2e-10 observed; pump area before t_start 6e-16)
    e_in = 100 * (1 - CLEAN.eta_rad) * CLEAN.hbar_omega_eV * Q_E / core_volume_m3(CLEAN)
    assert math.isclose(float(v7.energy_absorbed[-1]), e_in, rel_tol=1e-8)


def test_v7_peak_and_final_temperature(v7):
    # spec "≈ 560 K" (3 significant figures): we get 559.82 K
    assert abs(float(v7.T_e_max) - 560.0) < 0.5
    # final state: T_e = T_l (1000 ps ≫ τ_eph) and equal to the closed-form equilibrium
    # γ(T² − T_0²)/2 + C_l (T − T_0) = (1−η_rad) N_abs ħω / V_c
    e_in = 100 * (1 - CLEAN.eta_rad) * CLEAN.hbar_omega_eV * Q_E / core_volume_m3(CLEAN)
    a, b = CLEAN.gamma_e / 2, CLEAN.C_l
    c = -(e_in + a * 300.0**2 + b * 300.0)
    t_eq = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert abs(float(v7.T_e[-1] - v7.T_l[-1])) < 1e-6
    assert abs(float(v7.T_e[-1]) - t_eq) < 1e-6  # PID rtol 1e-8 on ~1e2-photon energies
    # spec "≈ 307.6 K": 307.546 K with η_rad = 0.005 (307.584 K with η_rad = 0); both are
    # within 0.06 K of the stated value
    assert abs(float(v7.T_e[-1]) - 307.6) < 0.06
    assert float(v7.N[-1]) < 1e-6 * e_in


def test_energy_balance_everything_on(table_charging):
    """§6.3 with injection, thermionic emission, charging and τ_env on, all fluences."""
    eb = energy_balance(CLEAN, table_charging)
    assert float(jnp.max(eb.relative_error)) < 1e-10
    # injection removes ε̄ per electron: E_inj = Σ ε̄ J_inj ≥ (ħω + φ_B)/2 · photo-injected
    v_c = core_volume_m3(CLEAN)
    low = 0.5 * (2.1 + 0.8) * Q_E * table_charging.photo_injected[:, -1] / v_c
    assert bool(jnp.all(table_charging.energy_injection[:, -1] >= low * (1 - 1e-12)))


def test_energy_rate_identity_pointwise():
    """§6.3 written independently equals d(content)/dt from the vector field (any state)."""
    rng = np.random.default_rng(0)
    for charging in (True, False):
        cfg = TTMConfig(charging=charging)
        for _ in range(5):
            state = (rng.uniform(0, 5e7), rng.uniform(300, 3000), rng.uniform(300, 600),
                     rng.uniform(0, 50), rng.uniform(0, 100), rng.uniform(0, 5), rng.uniform(0, 20))
            t = rng.uniform(-0.2, 0.2)
            r = energy_rate_residual(CLEAN, t, state, 500.0, cfg=cfg)
            scale = 500.0 * 2.1 * Q_E / core_volume_m3(CLEAN) / 0.04  # peak absorbed power
            assert abs(float(r)) < 1e-12 * scale


# ------------------------------------------------------------------ V8 e–ph time
def test_v8_linearised_eph_time_analytic():
    # spec V8: 0.805 ps (3 significant figures); exact value 0.80465 ps
    tau = electron_phonon_time_ps(CLEAN)
    assert abs(tau - 0.805) < 5e-4
    g = CLEAN
    assert math.isclose(tau, 1 / (g.G_eph * 1e-12 * (1 / (g.gamma_e * 300) + 1 / g.C_l)),
                        rel_tol=1e-15)


def test_v8_small_signal_relaxation_of_ode():
    """T_e − T_l of the ODE relaxes as exp(−t/τ_eph) after a 10 mK electron offset."""
    ts = default_times()
    sol = solve_ttm(CLEAN, 0.0, cfg=V7_CONFIG, ts=ts, initial_dT_e=1e-2)
    window = (ts > 0.2) & (ts < 4.0)  # 5 e-folds, well above the 1e-11 atol floor
    tau = relaxation_time_ps(ts[window], sol.T_e[window], sol.T_l[window])
    # nonlinearity of C_e = γT_e contributes δT/T_0 ~ 3e-5 relative; solver rtol 1e-8
    assert math.isclose(float(tau), electron_phonon_time_ps(CLEAN), rel_tol=1e-4)
    # energy moves from electrons to lattice only: final T = T_0 + γ T_0 δ/(C_l + γT_0) approx.
    assert float(sol.T_l[-1]) > 300.0


# ------------------------------------------------------------------ V9 thermionic vs photo
def test_v9_thermionic_over_photo_injected(table_no_charging):
    """V9 (charging off): ≈ 1e-6 / 5e-3 / 5e-2 at 10 / 50 / 100 µJ cm⁻², order of magnitude.

    We get 6.5e-7 / 3.5e-3 / 4.1e-2. Tolerance: a factor of 2. J_th ∝ exp(−φ_B/k_BT_e), so
    d ln J_th / d ln T_e = φ_B/k_BT_e ≈ 15 / 7 / 5 at 620 / 1340 / 1920 K: the 1.5–3 % lower
    T_e,max of the spec's ε̄_inj reading (see docs/physics-nonlinear.md) moves the ratio by
    15–35 %, well inside a factor of 2 (and inside the "order of magnitude" of the spec).
    """
    ratio = np.asarray(table_no_charging.thermionic_ratio)[2:]
    spec = np.array([1e-6, 5e-3, 5e-2])
    assert np.all(np.abs(np.log10(ratio / spec)) < math.log10(2.0)), ratio
    # photo-injected column = Φ_inj(linear) N_abs (no charging): 0.89 / 8.9 / 89 / 443 / 887
    np.testing.assert_allclose(table_no_charging.photo_injected[:, -1], TABLE_PHOTO, rtol=6e-3)


def test_table_thermionic_counts(table_no_charging):
    """§6.4 thermionic column (no charging) within a factor of 2 where it is physical.

    8.6e-5 / 2.1 / 46 at 10 / 50 / 100 µJ cm⁻²: we get 5.7e-5 / 1.55 / 36.7 (T_e 1.5–3 % lower,
    see V9). 1 µJ cm⁻²: 1.73e-10 vs 1.7e-10. At 0.1 µJ cm⁻² (6.3e-12 vs 3.5e-12) the count is
    dominated by the slow tail (T_l − T_0 ≈ 0.1 K for ~τ_env), so it depends on the window.
    """
    th = np.asarray(table_no_charging.thermionic[:, -1])
    assert np.all(np.abs(np.log10(th[1:] / TABLE_THERMIONIC[1:])) < math.log10(2.0)), th
    assert 1e-12 < th[0] < 1e-11


# ------------------------------------------------------------------ V16 + table Φ with charging
def test_v16_linear_regime_yield():
    """V16: with charging on, Φ_inj(⟨N_abs⟩ ≤ 2) is within 1 % of the linear closed form."""
    phi_lin = float(injection_quantum_yield(CLEAN))  # 0.4812 (V1)
    sol = solve_ttm_batch(CLEAN, jnp.array([1e-3, 0.5, 1.0, 1.5, 2.0]))
    phi = np.asarray(sol.injection_yield)
    assert np.all(np.abs(phi / phi_lin - 1) < 0.01), phi
    # N_abs → 0 recovers the linear model to solver accuracy (charging ∝ N_abs vanishes)
    assert abs(phi[0] / phi_lin - 1) < 1e-5
    assert np.all(np.diff(phi) < 0)  # charging only lowers the yield


def test_v16_and_table_phi_with_charging(table_charging):
    """§6.4 last column / V16: 0.481 / 0.474 / 0.416 / 0.270 / 0.236 (3 decimals)."""
    phi = np.asarray(table_charging.injection_yield)
    np.testing.assert_allclose(phi, TABLE_PHI_CHARGING, atol=5e-4)  # rounding of the last digit
    # §6.5: charging alone lowers Φ by 14 % at 10 µJ cm⁻²
    assert round(1 - phi[2] / float(injection_quantum_yield(CLEAN)), 2) == 0.14


def test_table_peak_electron_temperature(table_charging, table_no_charging):
    """§6.4 T_e,max column: 304 / 341 / 621 / 1340 / 1920 K.

    With the spec's ε̄_inj = (ħω + φ_eff)/2 we get 304 / 339 / 612 / 1380 / 1971 K (charging on)
    and 304 / 339 / 607 / 1302 / 1866 K (off): within 3.5 % of the table. The table itself
    follows ε̄ = ħω − φ_B without charging (to 0.3 %, slow test below); the 3.5 % bound is the
    size of that documented reading difference, not a fit.
    """
    for sol in (table_charging, table_no_charging):
        te = np.asarray(sol.T_e_max)
        np.testing.assert_allclose(te, TABLE_TEMAX, rtol=0.035)
    assert round(float(table_charging.T_e_max[0])) == 304


@pytest.mark.slow
def test_table_reproduced_by_gap_reading():
    """The §6.4 oracle columns follow ε̄_inj = ħω − φ_B (no charging): T_e,max to 0.5 %,
    thermionic counts to 10 % at 10–300 µJ cm⁻² (the 1 µJ cm⁻² count, 2.0e-10 vs 1.7e-10, is
    dominated by the T_l tail after the pulse, whose weight depends on the solve window)."""
    f = jnp.array([1.0, 10.0, 50.0, 100.0, 300.0])
    sol = solve_ttm_batch(CLEAN, mean_absorbed_photons(f, CLEAN),
                          cfg=TTMConfig(charging=False, injected_energy="gap"))
    np.testing.assert_allclose(sol.T_e_max, [341, 621, 1340, 1920, 3275], rtol=5e-3)
    np.testing.assert_allclose(sol.thermionic[1:, -1], [8.6e-5, 2.1, 46, 1.2e3], rtol=0.1)
    np.testing.assert_allclose(sol.thermionic_ratio[1:], [1e-6, 5e-3, 5e-2, 0.45], rtol=0.1)


@pytest.mark.slow
def test_table_300_row_with_charging():
    """300 µJ cm⁻² (outside TTM validity): Φ_inj with charging 0.212."""
    sol = solve_ttm_batch(CLEAN, mean_absorbed_photons(jnp.array([300.0]), CLEAN))
    assert abs(float(sol.injection_yield[0]) - 0.212) < 5e-4


# ------------------------------------------------------------------ differentiability
def test_forward_mode_derivatives_match_finite_differences():
    n_abs = mean_absorbed_photons(10.0, CLEAN)
    ts = jnp.array([-1.0, 1000.0])

    def phi(tau_inj, eps_r):
        q = CLEAN.replace(tau_inj_fs=tau_inj, eps_r=eps_r)
        return solve_ttm(q, n_abs, ts=ts).injection_yield

    d_tau, d_eps = jax.jacfwd(phi, argnums=(0, 1))(30.0, 8.9)
    h = 1e-3
    fd_tau = (phi(30.0 + h, 8.9) - phi(30.0 - h, 8.9)) / (2 * h)
    fd_eps = (phi(30.0, 8.9 + h) - phi(30.0, 8.9 - h)) / (2 * h)
    # central differences: O(h²) truncation + rtol 1e-8/h noise → ~1e-5 relative
    assert math.isclose(float(d_tau), float(fd_tau), rel_tol=1e-4)
    assert math.isclose(float(d_eps), float(fd_eps), rel_tol=1e-4)
    assert float(d_tau) < 0 < float(d_eps)  # slower injection / weaker charging


def test_simulate_edge_wrapper_rejects_ambiguous_input():
    with pytest.raises(ValueError, match="exactly one"):
        simulate_ttm(CLEAN, 1.0, n_abs=18.4)
    with pytest.raises(ValueError, match="injected_energy"):
        solve_ttm(CLEAN, 1.0, cfg=TTMConfig(injected_energy="bogus"))

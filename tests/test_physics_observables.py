"""TA observables, synthetic bundles, the simulate command and embedding in JAX code."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.physics import linear, observables as ob, simulate, traps
from hotcarrier.physics.parameters import CLEAN, DEFECTIVE


def test_gauss_poisson_quadrature_matches_truncated_sum():
    # the fitter's 16-node Gauss–Poisson quadrature vs the exact sum truncated at
    # ⌈λ + 12√λ + 30⌉ (spec §8.4), over λ from 0 to 212 (N_it up to 3e13 cm⁻²): the
    # integrands are smooth in m, agreement to 1e-12 absolute (populations ≤ 1)
    t = jnp.asarray(simulate.midir_delays())
    for n_it in (0.0, 3e11, 3e13):  # λ = 0, 2.1, 212
        p = DEFECTIVE.replace(N_it_cm2=n_it)
        exact = linear.populations(t, p)
        quad = linear.populations(t, p, quadrature=16)
        np.testing.assert_allclose(np.asarray(quad), np.asarray(exact), atol=1e-12)
    x, w = traps.gauss_poisson_nodes(70.7, 16)
    assert float(jnp.sum(w)) == pytest.approx(1.0, abs=1e-13)
    assert float(jnp.sum(w * x)) == pytest.approx(70.7, rel=1e-12)  # mean
    assert float(jnp.sum(w * (x - 70.7) ** 2)) == pytest.approx(70.7, rel=1e-10)  # variance


def test_metal_response_energy_and_limits():
    t = jnp.linspace(-0.5, 400.0, 4001)
    m = ob.metal_response(t, CLEAN)
    assert np.all(np.isfinite(np.asarray(m)))
    assert float(jnp.min(m)) > -1e-12
    # ΔT_e peaks after the pump and decays on the e–ph time (~0.8 ps); ΔT_l peaks later
    te, tl = np.asarray(m[1]), np.asarray(m[2])
    assert 0.1 < float(t[np.argmax(te)]) < 1.5 and float(t[np.argmax(tl)]) > 2.0
    # energy balance of the linearised chain: lattice heat at its maximum ≈ absorbed energy
    # minus what has already left to the solvent (τ_env = 100 ps): C_l V ΔT_l,max/ħω ≈ 0.95
    vc = 4 / 3 * np.pi * (7.5e-9) ** 3
    frac = tl.max() * CLEAN.C_l * vc / (2.1 * 1.602176634e-19)
    assert 0.9 < frac < 1.0


def _dd(t, a, b, t0, s):
    """(g(a) − g(b))/(b − a), the IRF-convolved two-level Bateman function (a ≠ b)."""
    from hotcarrier.irf import exp_conv_gauss

    return (exp_conv_gauss(t, a, t0, s) - exp_conv_gauss(t, b, t0, s)) / (b - a)


def test_metal_and_reference_chains_match_closed_forms():
    # the kinetics solver vs the closed forms observables.py hand-coded before (independent
    # oracle): N = (1−η_rad) g(a+b), E_e = (1−η_rad) a D(a+b, k_eph),
    # E_l = (1−η_rad)[b D(a+b, k_env) + a k_eph D₂(a+b, k_eph, k_env)]; relative 1e-10 with
    # an absolute floor of 1e-16 of each row's maximum for the early tail
    from hotcarrier.irf import exp_conv_gauss
    from hotcarrier.units import Q_E, fwhm_to_sigma

    t = jnp.concatenate([jnp.linspace(-0.4, 3.0, 30), jnp.geomspace(3.5, 2000.0, 20)])
    t0, p = 0.05, CLEAN.replace(temperature_K=250.0)
    s = fwhm_to_sigma(p.irf_fwhm_fs * 1e-3)
    a, b, T0 = 1 / p.tau_th_ps, 1 / p.tau_b_ps, 250.0
    kN, ke, kl = a + b, p.G_eph / (p.gamma_e * T0) * 1e-12, 1 / p.tau_env_ps
    src = 1 - p.eta_rad
    D2 = (_dd(t, kN, ke, t0, s) - _dd(t, ke, kl, t0, s)) / (kl - kN)
    E = np.stack([src * exp_conv_gauss(t, kN, t0, s), src * a * _dd(t, kN, ke, t0, s),
                  src * (b * _dd(t, kN, kl, t0, s) + a * ke * D2)])
    vc = 4 / 3 * np.pi * (p.R1_nm * 1e-9) ** 3
    ref = E * np.array([1.0, p.hbar_omega_eV * Q_E / (p.gamma_e * T0 * vc),
                        p.hbar_omega_eV * Q_E / (p.C_l * vc)])[:, None]
    m = np.asarray(ob.metal_response(t, p, t0))  # T0 from p.temperature_K
    np.testing.assert_allclose(m, ref, rtol=1e-10, atol=1e-16 * np.abs(ref).max())
    # the ambient temperature comes from the parameters (an explicit T0 still overrides it)
    np.testing.assert_array_equal(np.asarray(ob.metal_response(t, p, t0, None, 250.0)), m)
    assert not np.allclose(np.asarray(ob.metal_response(t, p.replace(temperature_K=300.0), t0)), m)
    # reference: X = g(k), X_T = k D(k, k_T)
    o = ob.ObservableParams(tau_ref_ps=80.0, tau_ref_trap_ns=0.7, r_T=0.3, t0_ref_ps=-0.02)
    k, kT = 1 / 80.0, 1e-3 / 0.7
    ref = exp_conv_gauss(t, k, -0.02, s) + 0.3 * k * _dd(t, k, kT, -0.02, s)
    np.testing.assert_allclose(np.asarray(ob.reference_kinetics(t, CLEAN, o)), np.asarray(ref),
                               rtol=1e-10, atol=1e-16)


def test_reference_kinetics_one_electron_per_photon():
    t = jnp.array([0.5, 1.0])
    o = ob.ObservableParams(tau_ref_ps=1e9, r_T=0.0)
    # no decay ⇒ after the IRF the reference holds exactly one CB electron per photon
    np.testing.assert_allclose(np.asarray(ob.reference_kinetics(t, CLEAN, o)), 1.0, atol=1e-9)


def test_visible_chirp_shifts_time_zero():
    o = ob.ObservableParams(chirp_c1_ps_nm=-2e-3, chirp_c2_ps_nm2=1e-5, t0_ps=0.1)
    wl = jnp.array([450.0, 550.0, 650.0])
    t0 = ob.chirp_t0(wl, o)
    np.testing.assert_allclose(np.asarray(t0), [0.1 + 0.2 + 0.1, 0.1, 0.1 - 0.2 + 0.1])
    spectra = ob.default_visible_spectra(wl)
    t = jnp.linspace(-1, 3, 81)
    A = ob.visible_signal(t, wl, CLEAN, o, 1.0, spectra, n_max=40)
    assert A.shape == (81, 3) and np.all(np.isfinite(np.asarray(A)))
    # at 450 nm (t0 = 0.4 ps) nothing has happened yet at τ = 0.1 ps
    assert abs(float(A[np.argmin(np.abs(np.asarray(t) - 0.1)), 0])) < 1e-3 * float(jnp.max(jnp.abs(A)))


def test_artefact_basis_derivatives():
    s = 0.0637
    t = jnp.linspace(-0.6, 0.6, 1201)  # ±9.4σ: the Gaussian tail beyond is < 1e-19
    b = ob.artefact_basis(t, 0.0, s)
    assert float(jnp.trapezoid(b[0], t)) == pytest.approx(1.0, rel=1e-6)
    assert float(jnp.trapezoid(b[1], t)) == pytest.approx(0.0, abs=1e-6)


def test_bundle_write_read_roundtrip(tmp_path):
    import xarray as xr

    from hotcarrier.io import load_ta

    b = simulate.simulate_bundle("defective", seed=3, include_visible=True)
    assert set(b) == {"midir_F0.020", "midir_F0.050", "midir_F0.100", "reference", "visible"}
    for ds in b.values():
        assert ds.attrs["synthetic"] == 1 and "generating_parameters" in ds.attrs
    path = simulate.write_bundle(b, tmp_path / "x.nc")
    back = simulate.read_bundle(path)
    assert set(back) == set(b)
    for k in b:
        xr.testing.assert_allclose(back[k]["signal"], b[k]["signal"])
    root = load_ta(path)  # a plain TA dataset for any tool
    assert root.attrs["bundle_member"] == "midir_F0.100"
    tv = simulate.true_values(back["reference"])
    assert tv["interface"]["N_it_cm2"] == 1e13
    # new noise for each seed, same noise for the same seed
    b2 = simulate.simulate_bundle("defective", seed=3, include_visible=False)
    b3 = simulate.simulate_bundle("defective", seed=4, include_visible=False)
    np.testing.assert_array_equal(b2["reference"].signal.values, b["reference"].signal.values)
    assert not np.allclose(b3["reference"].signal.values, b2["reference"].signal.values)


def test_simulate_cli(tmp_path):
    out = tmp_path / "s.nc"
    r = subprocess.run([sys.executable, "-m", "hotcarrier", "simulate", "--preset", "clean",
                        "--set", "tau_inj_fs=60", "--seed", "2", "--no-visible", "--out",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "true Φ_inj" in r.stdout and out.exists()
    r = subprocess.run([sys.executable, "-m", "hotcarrier", "simulate", "--set", "nope=1",
                        "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown parameter" in r.stderr


def test_embedding_jit_vmap_grad():
    # the model inside user JAX code: a jitted, vmapped loss over parameter sets, and its
    # gradient w.r.t. InterfaceParams fields (documented in docs/embedding.md)
    t = jnp.linspace(-0.5, 20.0, 50)

    @jax.jit
    def midir(p):
        return ob.midir_kinetics(t, p, ob.ObservableParams(), quadrature=16)

    target = midir(CLEAN)
    loss = jax.jit(lambda p: jnp.sum((midir(p) - target) ** 2))
    taus = jnp.array([1.0, 2.0, 4.0])
    batch = jax.vmap(lambda tb: loss(CLEAN.replace(tau_bet_ps=tb)))(taus)
    assert float(batch[1]) < 1e-20 and float(batch[0]) > 0 and float(batch[2]) > 0
    g = jax.grad(lambda tb: loss(CLEAN.replace(tau_bet_ps=tb)))(2.5)
    assert np.isfinite(float(g)) and float(g) > 0

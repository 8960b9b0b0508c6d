"""QE_H2, spectra, absorption split, photon balance and the §9.5 validity check (spec §9.3–9.5)."""

import math
import warnings

import numpy as np
import pytest

from hotcarrier.errors import HotcarrierError, NonlinearRegimeWarning
from hotcarrier.h2 import (
    PhotonBalance,
    SimpleAbsorption,
    SpectrumError,
    from_file,
    lamp,
    led,
    monochromatic,
    parse_spectrum,
    particles_per_gram,
    predict_h2,
    single_charge_occupancy,
)
from hotcarrier.physics.parameters import CLEAN, DEFECTIVE


def _round_sig(x, n):
    return float(f"{x:.{n - 1}e}")


@pytest.fixture(scope="module")
def refs():
    return predict_h2(CLEAN), predict_h2(DEFECTIVE)


def test_v11_qe_and_ratio(refs):
    # V11 / §9.4 [C]: QE_H2 2.28e-2 and 4.41e-5, ratio 517 (3 significant digits quoted);
    # Φ_inj 0.4812 / 0.0910 (V1/V2, 4 digits) from hotcarrier.physics.injection
    c, d = refs
    assert round(c.phi_inj, 4) == 0.4812 and round(d.phi_inj, 4) == 0.0910
    assert _round_sig(c.qe_h2, 3) == 2.28e-2
    assert _round_sig(d.qe_h2, 3) == 4.41e-5
    assert round(c.qe_h2 / d.qe_h2) == 517
    assert 100 <= c.qe_h2 / d.qe_h2 <= 1000  # V11 acceptance band
    assert _round_sig(c.p_c_h2, 3) == 9.47e-2 and _round_sig(d.p_c_h2, 3) == 9.68e-4
    # the spec's note: QE_H2 = ½ Φ_inj ⟨P_C→H2⟩ for the plasmon channel
    assert math.isclose(c.qe_h2, 0.5 * c.phi_inj * c.p_c_h2, rel_tol=1e-14)
    assert round(c.phi_inj / d.phi_inj, 2) == 5.29


def test_qe_is_linear_in_injection_yield():
    a = predict_h2(CLEAN, phi_inj=0.2).qe_h2
    b = predict_h2(CLEAN, phi_inj=0.4).qe_h2
    assert math.isclose(b, 2 * a, rel_tol=1e-14)


def test_particles_per_gram():
    # §9.3 [C]: 1.54e16 g⁻¹ for R1 = 7.5 nm, shell 5 nm, ρ_Au 19.32, ρ_CdS 4.82 g cm⁻³
    assert _round_sig(float(particles_per_gram(CLEAN)), 3) == 1.54e16


def test_single_charge_numbers_of_spec_9_5():
    # §9.5 [C] (one significant digit): 0.005, 0.05, 0.5, 9 at g = 1e3, 1e4, 1e5, 1.9e6 s⁻¹.
    # "spec" = the spec's formula (τ_H = 1/k_H); "exact" = fundamental-matrix occupancy, ~5 %
    # lower; both round to the quoted digit.
    g = [1e3, 1e4, 1e5, 1.9e6]
    for method in ("spec", "exact"):
        occ = single_charge_occupancy(CLEAN, g, method=method)
        assert [_round_sig(x, 1) for x in occ] == [0.005, 0.05, 0.5, 9.0]
    spec = single_charge_occupancy(CLEAN, g, method="spec")
    np.testing.assert_allclose(spec[-1], 9.04, rtol=1e-3)  # Poisson-averaged spec formula


def test_photon_balance_warns_outside_single_charge_regime():
    # 100 mW cm⁻² at 590 nm on an optically thin suspension: g ≈ 1.9e6 s⁻¹ (§9.5) → occupancy ~9
    thin = PhotonBalance(catalyst_mass_g=1e-12, illuminated_area_cm2=1.0)  # N_p σ/A ≈ 1e-7
    spec = monochromatic(590.0, irradiance_mW_cm2=100.0)
    with pytest.warns(NonlinearRegimeWarning, match="9.5"):
        pred = predict_h2(CLEAN, spec, photon_balance=thin)
    assert pred.linear_regime_ok is False
    flux = 0.1 / (1239.84198 / 590.0 * 1.602176634e-19)  # photons cm⁻² s⁻¹
    sigma = SimpleAbsorption().split(590.0)[0][0]  # 6.1e-12 cm² (Lorentzian 4 nm off the peak)
    np.testing.assert_allclose(pred.absorbed_per_particle_s, flux * sigma, rtol=1e-6)
    assert abs(pred.absorbed_per_particle_s / 1.9e6 - 1) < 0.05  # spec: 1.9e6 with 6.2e-12 cm²
    # a dim source stays in the linear regime and warns nothing
    dim = monochromatic(590.0, irradiance_mW_cm2=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = predict_h2(CLEAN, dim, photon_balance=thin)
    assert pred.linear_regime_ok is True


def test_rate_from_photon_balance_is_photon_count_times_qe():
    # r = 3600·1e6 · Q_abs · QE / (N_A m_cat), µmol g⁻¹ h⁻¹ (§9.3)
    spec = monochromatic(590.0, irradiance_mW_cm2=1.0)
    bal = PhotonBalance(0.005, 4.0, absorbance=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonlinearRegimeWarning)
        p = predict_h2(CLEAN, spec, photon_balance=bal)
    flux = 1e-3 / (1239.84198 / 590.0 * 1.602176634e-19)  # photons cm⁻² s⁻¹
    q_abs = 4.0 * flux * (1 - 10**-1.0)
    expected = 3600e6 * q_abs * p.qe_h2 / (6.02214076e23 * 0.005)
    np.testing.assert_allclose(p.rate_umol_g_h, expected, rtol=1e-6)


def test_absorption_split_sums_to_one_and_is_zero_below_gap():
    model = SimpleAbsorption()
    wl = np.linspace(400, 800, 81)
    sigma, xa, xc = model.split(wl)
    np.testing.assert_allclose(xa + xc, 1.0, rtol=0, atol=1e-15)
    assert np.all(xc[wl > 1239.84198 / 2.4] == 0)  # no CdS absorption below E_g = 2.4 eV
    np.testing.assert_allclose(model.split([450, 500])[2], [0.26, 0.20])  # §2 A.4 anchors
    assert np.argmax(sigma) == np.argmin(abs(wl - 594))  # LSPR 594 nm (2.09 eV)


def test_spectra_are_normalised_photon_distributions(tmp_path):
    for s in (led(450, 20), lamp(420), lamp(420, kind="flat"), monochromatic(energy_eV=2.1)):
        assert math.isclose(s.photon_fraction.sum(), 1.0, rel_tol=1e-12)
    assert lamp(420).wavelength_nm.min() > 420
    f = tmp_path / "s.txt"
    f.write_text("# nm  W/nm\n500, 1\n600, 1\n")
    s = from_file(f, unit="W")
    np.testing.assert_allclose(s.photon_fraction, [500 / 1100, 600 / 1100])  # photons ∝ P λ
    assert parse_spectrum("mono:2.1eV").photon_energy_eV[0] == pytest.approx(2.1)
    assert parse_spectrum(f"file:{f}:W").label.startswith("file s.txt")


def test_spectrum_file_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(SpectrumError, match="nope.txt.*not found") as e:
        from_file(tmp_path / "nope.txt")
    assert "fix:" in str(e.value)
    bad = tmp_path / "bad.txt"
    bad.write_text("500 abc\n")
    with pytest.raises(SpectrumError, match="bad.txt") as e:
        from_file(bad)
    assert "fix:" in str(e.value)
    with pytest.raises(SpectrumError, match="neither a known form"):
        parse_spectrum("sun")
    assert issubclass(SpectrumError, HotcarrierError)


def test_cds_channel_under_blue_light():
    # below 517 nm the shell absorbs (ξ_CdS > 0) and the CdS channel adds ½ ξ_CdS ⟨P_X→H2⟩
    s = monochromatic(450.0)
    on = predict_h2(CLEAN, s)
    off = predict_h2(CLEAN, s, cds_channel=False)
    assert on.xi_cds == pytest.approx(0.26)
    np.testing.assert_allclose(on.qe_h2 - off.qe_h2, 0.5 * 0.26 * on.p_x_h2, rtol=1e-12)


def test_bad_parameters_are_reported_at_the_edge():
    from hotcarrier.errors import ModelError

    bad = CLEAN.replace(tau_hs_us=0.0, N_it_cm2=-1.0)
    with pytest.raises(ModelError, match="tau_hs_us.*\n.*N_it_cm2"):
        predict_h2(bad)
    with pytest.raises(ModelError, match="phi_inj"):
        predict_h2(CLEAN, phi_inj=1.5)

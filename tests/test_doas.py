"""Damped oscillations (DOAS): the oscillation ⊗ Gaussian kernel against numerical
convolution, the Faddeeva function against scipy, the model's columns, and a fit that
recovers frequency, damping, DOAS and phase of a simulated map."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erfc, wofz

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ModelError
from hotcarrier.irf import angular_frequency, faddeeva, oscillation_conv_gauss
from hotcarrier.target.fit import fit_target
from hotcarrier.target.modelfile import parse_model

C_CM_PS = 0.0299792458


def _numeric_oscillation(t, rate, omega, t0, sigma):
    """G_σ ⊗ [θ(±τ)e^{−γτ}e^{iωτ}] by the trapezoidal rule on a 0.1 fs grid (numpy)."""
    h = 1e-4
    t = np.asarray(t, float)
    if rate >= 0:  # the Gaussian vanishes beyond 12 σ
        s = np.arange(0.0, max(t.max() - t0 + 12 * sigma, h), h)
    else:
        s = -np.arange(0.0, max(t0 - t.min() + 12 * sigma, h), h)[::-1]
    f = np.exp(-rate * s + 1j * omega * s)
    out = []
    for tt in t:
        g = np.exp(-0.5 * ((tt - t0 - s) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        out.append(np.trapezoid(f * g, s))
    return np.array(out)


def _scipy_oscillation(t, rate, omega, sigma):
    """The closed form ½·e^{−t²/2σ²}·w(iz) with scipy's Faddeeva function (reflected after
    the IRF: e^{−kt + k²σ²/2} − ½·e^{−t²/2σ²}·w(−iz)); rate ≥ 0, IRF centre 0."""
    k = rate - 1j * omega
    z = (k * sigma**2 - t) / (sigma * math.sqrt(2))
    e = np.exp(-0.5 * (t / sigma) ** 2)
    early = z.real >= 0
    late = np.exp(-k * np.where(early, 0.0, t) + 0.5 * k * k * sigma**2)
    return np.where(early, 0.5 * e * wofz(np.where(early, 1j * z, 0)),
                    late - 0.5 * e * wofz(np.where(early, 0, -1j * z)))


def test_faddeeva_matches_scipy_on_the_upper_half_plane():
    x = np.linspace(-40, 40, 161)
    y = np.concatenate([np.linspace(0, 6, 31), np.geomspace(7, 1e3, 20)])
    z = (x[:, None] + 1j * y[None, :]).ravel()
    w = np.asarray(faddeeva(jnp.asarray(z)))
    assert np.max(np.abs(w - wofz(z)) / np.abs(wofz(z))) < 1e-11


@pytest.mark.parametrize("rate, omega", [(0.5, 20.0), (0.0, 5.0), (3.0, 60.0), (0.05, 0.8),
                                         (-2.0, 30.0), (0.7, 0.0)])
def test_oscillation_kernel_equals_numerical_convolution(rate, omega):
    sigma, t0 = 0.05, 0.1
    t = np.linspace(-0.6, 3.0, 37)
    cos, sin = oscillation_conv_gauss(t, rate, omega, t0, sigma)
    ref = _numeric_oscillation(t, rate, omega, t0, sigma)
    assert np.max(np.abs(np.asarray(cos) - ref.real)) < 1e-6
    assert np.max(np.abs(np.asarray(sin) - ref.imag)) < 1e-6


def test_oscillation_kernel_zero_frequency_is_the_exponential_kernel():
    # ω = 0: the cos part is ½ e^{−kτ+k²σ²/2} erfc((kσ² − τ)/(σ√2)) (scipy), the sin part 0
    t, k, s = np.linspace(-1, 40, 200), 0.3, 0.08
    z = (k * s * s - t) / (s * math.sqrt(2))
    ref = 0.5 * np.exp(-k * t + 0.5 * (k * s) ** 2) * erfc(z)
    cos, sin = oscillation_conv_gauss(t, k, 0.0, 0.0, s)
    np.testing.assert_allclose(np.asarray(cos), ref, rtol=1e-11, atol=1e-15)
    assert np.max(np.abs(np.asarray(sin))) == 0.0


def test_oscillation_kernel_far_tails_and_derivatives_finite():
    t = jnp.concatenate([jnp.linspace(-5, 2, 50), jnp.geomspace(2.1, 5e3, 50)])

    @jax.jit
    def f(p):
        return jnp.stack(oscillation_conv_gauss(t, p[0], p[1], p[2], p[3]))

    jac = jax.jit(jax.jacfwd(f))
    for p in ([0.0, 0.0, 0.0, 0.05], [1e3, 1e4, 0.1, 0.05], [0.01, 300.0, 0.0, 0.01],
              [-5.0, 50.0, 0.0, 0.03]):
        p = jnp.asarray(p)
        assert np.all(np.isfinite(f(p))) and np.all(np.isfinite(jac(p)))
    # derivatives against central differences
    p = jnp.asarray([0.8, 25.0, 0.05, 0.07])
    J = np.asarray(jac(p))
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6
        fd = (np.asarray(f(p + e)) - np.asarray(f(p - e))) / 2e-6
        np.testing.assert_allclose(J[..., i], fd, atol=1e-6)


def test_angular_frequency_of_a_wavenumber():
    assert float(angular_frequency(100.0)) == pytest.approx(2 * math.pi * C_CM_PS * 100.0)


MODEL = """
[model]
compartments = ["s1"]
initial = {s1 = 1}

[parameters]
k1 = 0.4
irf_center = 0.0
irf_width = {value = 0.06, fixed = true}
nu = 3.9
gamma = 0.08

[[transfers]]
from = "s1"
rate = "k1"

[[oscillations]]
label = "breathing"
frequency = "nu"
rate = "gamma"
unit = "THz"
"""


def test_model_columns_are_the_oscillation_pair_in_cm1_and_thz():
    m = parse_model(MODEL)
    assert m.column_names == ["s1", "breathing_cos", "breathing_sin"]
    p = m.parameters.physical(m.parameters.theta0())
    t = np.linspace(-0.5, 10, 60)
    C = np.asarray(jax.jit(lambda p: m.matrix(p, 0, t, np.array([500.0, 600.0])))(p))
    ref = _numeric_oscillation(t, 0.08, 2 * math.pi * 3.9, 0.0, 0.06)
    np.testing.assert_allclose(C[1, :, 1], ref.real, atol=1e-6)
    np.testing.assert_allclose(C[0, :, 2], ref.imag, atol=1e-6)
    # a frequency in cm⁻¹ gives ω = 2π·c·ν̃
    m2 = parse_model(MODEL.replace('unit = "THz"', 'unit = "cm-1"').replace("nu = 3.9",
                                                                            "nu = 130.0"))
    om = float(m2.angular_frequencies(jnp.asarray([q.value for q in m2.parameters.params]))[0])
    assert om == pytest.approx(2 * math.pi * C_CM_PS * 130.0)


def test_model_file_oscillation_errors_are_reported():
    with pytest.raises(ModelError, match="unit 'Hz'"):
        parse_model(MODEL.replace('unit = "THz"', 'unit = "Hz"'))
    with pytest.raises(ModelError, match="undefined parameter"):
        parse_model(MODEL.replace('rate = "gamma"', 'rate = "gama"'))
    with pytest.raises(ModelError, match="must be unique"):
        parse_model(MODEL.replace('label = "breathing"', 'label = "s1"'))


@pytest.fixture(scope="module")
def doas_fit():
    """A 1-compartment decay plus an acoustic breathing mode (period 8 ps) on a 161 × 6 map,
    0.1 mOD noise; truth: k 0.5 ps⁻¹, ν 0.125 THz, γ 0.05 ps⁻¹, DOAS/phase per wavelength."""
    with jax.enable_x64(True):
        t = np.concatenate([np.arange(-1.0, 10.0, 0.1), np.arange(10.0, 60.0, 1.0)])
        wl = np.linspace(500.0, 600.0, 6)
        s, k, f, g = 0.06, 0.5, 0.125, 0.05
        dec = 0.5 * np.exp(-k * t + 0.5 * (k * s) ** 2) * erfc((k * s * s - t) / (s * math.sqrt(2)))
        osc = _scipy_oscillation(t, g, 2 * math.pi * f, s)
        x = (wl - 550.0) / 50.0
        das = -2e-3 * np.exp(-x**2)
        doas, phase = 1e-3 * (0.5 + x**2), 0.4 + 0.6 * x
        y = (np.outer(dec, das) + np.outer(osc.real, doas * np.cos(phase))
             - np.outer(osc.imag, doas * np.sin(phase)))
        y = y + np.random.default_rng(3).normal(0.0, 1e-4, y.shape)
        res = fit_target(make_ta_dataset(t, wl, y), parse_model(MODEL.replace(
            "nu = 3.9", "nu = 0.11")))
    return res, dict(k=k, f=f, g=g, doas=doas, phase=phase)


def test_doas_fit_recovers_frequency_damping_and_spectra(doas_fit):
    res, truth = doas_fit
    p = res.summary()["parameters"]
    for name, true in (("k1", truth["k"]), ("nu", truth["f"]), ("gamma", truth["g"])):
        assert abs(p[name]["value"] - true) < 3 * p[name]["stderr"], name
    ds = res.dataset
    assert ds["oscillation"].values.tolist() == ["breathing"]
    assert float(ds["oscillation_frequency"][0]) == pytest.approx(p["nu"]["value"])
    np.testing.assert_allclose(ds["doas"].values[0], truth["doas"], rtol=0.1)
    np.testing.assert_allclose(ds["doas_phase"].values[0], truth["phase"], atol=0.1)


def test_quick_cli_options_build_oscillation_measured_irf_and_shift_models(tmp_path):
    from hotcarrier.cli import build_parser
    from hotcarrier.commands.fit import build_model

    irf = tmp_path / "irf.txt"
    tm = np.arange(-0.3, 0.3, 0.01)
    irf.write_text("\n".join(f"{a} {b}" for a, b in zip(tm, np.exp(-0.5 * (tm / 0.05) ** 2))))
    args = build_parser().parse_args(
        ["fit", "x.csv", "--out", str(tmp_path), "--scheme", "parallel", "--lifetimes", "2,50",
         "--oscillation", "120,2", "--oscillation", "0.125THz,0.05", "--irf-file", str(irf),
         "--t0-per-wavelength"])
    m = build_model(args)
    assert m.column_names == ["s1", "s2", "osc1_cos", "osc1_sin", "osc2_cos", "osc2_sin"]
    assert [o.unit for o in m.oscillations] == ["cm-1", "THz"]
    assert m.parameters["nu2"].value == 0.125 and m.parameters["gamma1"].value == 2.0
    assert m.datasets[0].irf.measured is not None and "irf_fwhm" not in m.parameters.names
    assert m.needs_binding()
    bad = build_parser().parse_args(["fit", "x.csv", "--out", str(tmp_path), "--scheme",
                                     "parallel", "--lifetimes", "2", "--oscillation", "fast"])
    with pytest.raises(ModelError, match="--oscillation 'fast'"):
        build_model(bad)


@pytest.mark.slow
def test_overview_figure_shows_the_doas(doas_fit, tmp_path):
    from hotcarrier.plotting import overview

    res, _ = doas_fit
    path = overview(res, tmp_path / "overview.png")
    assert path.stat().st_size > 10_000


def test_wavenumber_dispersion_and_artifact_width():
    # pyglotaran's model_dispersion_with_wavenumber: μ(λ) = μ0 + Σ dᵢ (10³/λ − 10³/λc)ⁱ; the
    # artefact columns use their own width around μ(λ)
    text = MODEL.replace("[[transfers]]", """[irf]
center = "irf_center"
width = "irf_width"
dispersion_center = 600.0
center_dispersion = ["d1", "d2"]
wavenumber_dispersion = true

[[transfers]]""").replace("nu = 3.9", "nu = 3.9\nd1 = 0.05\nd2 = -0.02\nca = 0.02").replace(
        "initial = {s1 = 1}", 'initial = {s1 = 1}\ncoherent_artifact = 1\nartifact_width = "ca"')
    m = parse_model(text)
    p = jnp.asarray([q.value for q in m.parameters.params])
    wl = np.array([500.0, 650.0])
    mu, _, _ = m.irf_at(p, 0, wl)
    x = 1e3 / wl - 1e3 / 600.0
    np.testing.assert_allclose(np.asarray(mu)[:, 0], 0.05 * x - 0.02 * x**2, rtol=1e-12)
    t = np.linspace(-0.2, 0.3, 41)
    C = np.asarray(jax.jit(lambda p: m.matrix(p, 0, t, wl))(p))
    j = m.column_names.index("artifact0")
    ref = np.exp(-0.5 * ((t[None, :] - (0.05 * x - 0.02 * x**2)[:, None]) / 0.02) ** 2) / math.sqrt(
        2 * math.pi)
    np.testing.assert_allclose(C[:, :, j], ref, rtol=1e-10, atol=1e-14)

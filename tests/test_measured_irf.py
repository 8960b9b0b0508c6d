"""Measured IRF: the Gaussian-sum representation, the model's columns against numerical
convolution with the measured trace, and a fit of a map simulated with a non-Gaussian
(asymmetric, two-peaked) IRF that recovers its lifetimes within 1 %."""

import math

import jax
import numpy as np
import pytest
from scipy.special import erfc

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ModelError
from hotcarrier.irf import gaussian_sum_irf
from hotcarrier.target.fit import fit_target
from hotcarrier.target.modelfile import parse_model

SQ2PI = math.sqrt(2 * math.pi)


def two_peak_irf(t, smooth: float = 0.0):
    """A non-Gaussian IRF (ps⁻¹ up to a factor): a σ = 60 fs peak, a 35 % satellite 250 fs
    later (σ 90 fs) and a 0.3 ps exponential shoulder rising with the peak (an exponentially
    modified Gaussian) — asymmetric, area 1.5. ``smooth`` > 0: the same convolved with a
    Gaussian of that σ (closed forms)."""
    s1, s2 = math.hypot(0.06, smooth), math.hypot(0.09, smooth)
    g = np.exp(-0.5 * (t / s1) ** 2) / (s1 * SQ2PI)
    g2 = 0.35 * np.exp(-0.5 * ((t - 0.25) / s2) ** 2) / (s2 * SQ2PI)
    # θ(t)e^{−t/τ} ⊗ G_σ = ½ e^{−t/τ + σ²/2τ²} erfc((σ²/τ − t)/(σ√2))
    tail = 0.5 * np.exp(-t / 0.3 + 0.5 * (s1 / 0.3) ** 2) * erfc(
        (s1**2 / 0.3 - t) / (s1 * math.sqrt(2)))
    return g + g2 + 0.15 * tail / 0.3


def convolve_fine(t_data, irf, populations, shift, h=1e-3, lo=-1.0, hi=3.0):
    """(T, n) populations convolved with the IRF (numpy): c(t) = ∫₀^∞ x(u)·I(t − u − shift) du
    by the trapezoidal rule on a 1 fs grid in u that starts at the excitation step u = 0
    (x: δ-excited populations of ``populations``; the IRF lives on [lo, hi] ps, unit area)."""
    area = np.trapezoid(irf(np.arange(lo - 5, hi + 5, h)), dx=h)
    out = []
    for t in t_data:
        u_hi = t - shift - lo
        if u_hi <= 0:
            out.append(np.zeros(3))
            continue
        u = np.arange(max(0.0, t - shift - hi), u_hi + h, h)
        out.append(np.trapezoid(populations(u) * irf(t - shift - u)[:, None], u, axis=0))
    return np.array(out) / area


def test_gaussian_sum_is_the_trace_smoothed_by_its_step():
    # a Gaussian trace of σ0 sampled every Δ: the sum is a Gaussian of σ² = σ0² + Δ²
    s0, step = 0.05, 0.005
    tm = np.arange(-0.4, 0.4, step)
    centres, w, sig = gaussian_sum_irf(tm, np.exp(-0.5 * (tm / s0) ** 2))
    assert sig == pytest.approx(step) and w.sum() == pytest.approx(1.0)
    t = np.linspace(-0.3, 0.3, 121)
    model = np.sum(w[None, :] * np.exp(-0.5 * ((t[:, None] - centres[None, :]) / sig) ** 2)
                   / (sig * SQ2PI), axis=1)
    se = math.hypot(s0, step)
    ref = np.exp(-0.5 * (t / se) ** 2) / (se * SQ2PI)
    assert np.max(np.abs(model - ref)) < 1e-5 * ref.max()


def test_gaussian_sum_errors():
    with pytest.raises(ModelError, match="at least 3"):
        gaussian_sum_irf([0, 1], [1, 2])
    with pytest.raises(ModelError, match="all values are ≤ 0"):
        gaussian_sum_irf([0, 1, 2], [0, -1, 0])
    with pytest.raises(ModelError, match="repeated"):
        gaussian_sum_irf([0, 1, 1], [0, 1, 0])


def _model_text(times, values, extra=""):
    tl = ", ".join(f"{x:.6g}" for x in times)
    vl = ", ".join(f"{x:.9g}" for x in values)
    return f"""
[model]
compartments = ["s1", "s2", "s3"]
initial = {{s1 = 1}}
{extra}
[parameters]
k1 = 1.6
k2 = 0.25
k3 = 0.028
irf_shift = 0.0

[irf]
center = "irf_shift"
measured = {{times = [{tl}], values = [{vl}]}}

[[transfers]]
from = "s1"
to = "s2"
rate = "k1"

[[transfers]]
from = "s2"
to = "s3"
rate = "k2"

[[transfers]]
from = "s3"
rate = "k3"
"""


TAUS = (0.7, 4.0, 40.0)


def sequential(tt):
    """δ-excited populations (…, 3) of s1 → s2 → s3 → ground (Bateman, numpy)."""
    k1, k2, k3 = (1 / x for x in TAUS)
    e1, e2, e3 = np.exp(-k1 * tt), np.exp(-k2 * tt), np.exp(-k3 * tt)
    x2 = k1 / (k2 - k1) * (e1 - e2)
    x3 = k1 * k2 * (e1 / ((k2 - k1) * (k3 - k1)) + e2 / ((k1 - k2) * (k3 - k2))
                    + e3 / ((k1 - k3) * (k2 - k3)))
    return np.stack([e1, x2, x3], -1)


IRF_T = np.arange(-0.4, 2.0, 0.01)  # the "measured" trace: 10 fs steps, its own time axis


def test_measured_irf_columns_equal_numerical_convolution():
    m = parse_model(_model_text(IRF_T, two_peak_irf(IRF_T)))
    t = np.linspace(-0.5, 6.0, 80)
    p = np.array([1 / TAUS[0], 1 / TAUS[1], 1 / TAUS[2], 0.1])
    C = np.asarray(jax.jit(lambda p: m.matrix(p, 0, t, np.array([500.0])))(p))[0]
    # the model's IRF is the trace smoothed by a Gaussian of σ = its 10 fs step
    ref = convolve_fine(t, lambda u: two_peak_irf(u, smooth=0.01), sequential, shift=0.1)
    assert np.max(np.abs(C - ref)) < 2e-4
    # ... which differs from the unsmoothed trace by < 0.3 % of the peak population
    assert np.max(np.abs(C - convolve_fine(t, two_peak_irf, sequential, shift=0.1))) < 3e-3


def test_measured_irf_file_and_errors(tmp_path):
    f = tmp_path / "irf.csv"
    f.write_text("# time_ps, value\n" + "\n".join(f"{a}, {b}" for a, b in
                                                   zip(IRF_T, two_peak_irf(IRF_T))))
    mf = tmp_path / "model.toml"
    mf.write_text(_model_text(IRF_T, two_peak_irf(IRF_T)).replace(
        "measured = {times", 'measured = "irf.csv"\n#{times'))
    from hotcarrier.target.modelfile import load_target_model

    m = load_target_model(mf)
    np.testing.assert_allclose(m.datasets[0].irf.measured.times, IRF_T, rtol=1e-12)
    (tmp_path / "bad.toml").write_text(mf.read_text().replace("irf.csv", "nope.csv"))
    with pytest.raises(ModelError, match="nope.csv"):
        load_target_model(tmp_path / "bad.toml")


@pytest.fixture(scope="module")
def measured_fit():
    """A 3-compartment sequential map (τ 0.7, 4, 40 ps; 200 delays × 8 wavelengths) convolved
    on a 1 fs grid with the two-peaked IRF, shifted by +0.12 ps, 0.01 mOD noise (the peak
    signal is 2 mOD); fitted with
    the measured trace (10 fs steps, own time axis) and a free shift, from starts 20 % off."""
    with jax.enable_x64(True):
        t = np.concatenate([np.arange(-0.6, 3.0, 0.03), np.geomspace(3.05, 200.0, 80)])
        wl = np.linspace(500.0, 600.0, 8)
        pops = convolve_fine(t, two_peak_irf, sequential, shift=0.12)
        x = (wl - 550.0) / 50.0
        sas = np.stack([2e-3 * np.exp(-x**2), -1.5e-3 * np.exp(-(x - 0.5) ** 2),
                        1e-3 * (1 + 0.3 * x)])
        y = pops @ sas + np.random.default_rng(5).normal(0.0, 1e-5, (t.size, wl.size))
        res = fit_target(make_ta_dataset(t, wl, y),
                         parse_model(_model_text(IRF_T, two_peak_irf(IRF_T))))
    return res


def test_measured_irf_fit_recovers_lifetimes_within_1_percent(measured_fit):
    p = measured_fit.summary()["parameters"]
    for k, tau in zip(("k1", "k2", "k3"), TAUS):
        assert 1 / p[k]["value"] == pytest.approx(tau, rel=0.01), k
    assert p["irf_shift"]["value"] == pytest.approx(0.12, abs=0.005)
    assert measured_fit.summary()["converged"]


def test_artefact_columns_follow_the_measured_irf():
    # artefact column 0 = the model's IRF (the Gaussian sum, shifted) × its effective σ
    m = parse_model(_model_text(IRF_T, two_peak_irf(IRF_T),
                                extra="coherent_artifact = 1"))
    t = np.linspace(-0.5, 1.5, 60)
    p = np.array([1.0, 0.2, 0.02, 0.1])
    C = np.asarray(jax.jit(lambda p: m.matrix(p, 0, t, np.array([500.0])))(p))[0]
    col = C[:, m.column_names.index("artifact0")]
    ref = two_peak_irf(t - 0.1, smooth=0.01) / 1.5  # unit area
    s_eff = col.max() / ref.max()
    np.testing.assert_allclose(col / s_eff, ref, atol=2e-4 * ref.max())
    c, w, step = m.datasets[0].irf.measured.kernel()
    assert s_eff == pytest.approx(math.sqrt(w @ (c - w @ c) ** 2 + step**2), rel=1e-3)

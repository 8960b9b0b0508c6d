"""Free per-wavelength time-zero shift: parameters bound to the data's wavelengths, the
design matrix shifted per wavelength, and a fit that recovers a known shift pattern within
the noise."""

import math

import jax
import numpy as np
import pytest
from scipy.special import erfc

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ModelError
from hotcarrier.target.fit import fit_target
from hotcarrier.target.modelfile import parse_model

MODEL = """
[model]
compartments = ["s1", "s2"]
initial = {s1 = 1}

[parameters]
k1 = 0.6
k2 = 0.04
irf_center = 0.02
irf_width = 0.07

[irf]
center = "irf_center"
width = "irf_width"
t0_shift = {value = 0.0, min = -0.5, max = 0.5}

[[transfers]]
from = "s1"
to = "s2"
rate = "k1"

[[transfers]]
from = "s2"
rate = "k2"
"""


def decay(t, k, mu, s):
    """½·e^{−k(t−μ)+k²σ²/2}·erfc((kσ² − (t−μ))/(σ√2)) (scipy)."""
    tau = t - mu
    z = (k * s * s - tau) / (s * math.sqrt(2))
    return 0.5 * np.exp(-k * tau + 0.5 * (k * s) ** 2) * erfc(z)


def test_binding_makes_one_parameter_per_wavelength_and_fixes_the_reference():
    m = parse_model(MODEL)
    assert m.needs_binding() and "t0_shift_1" not in m.parameters.names
    wl = np.array([500.0, 520.0, 540.0, 560.0, 580.0])
    b = m.bind([wl])
    names = [f"t0_shift_{i}" for i in range(1, 6)]
    assert all(n in b.parameters.names for n in names)
    assert [b.parameters[n].fixed for n in names] == [False, False, True, False, False]
    assert b.bind([wl]) is b  # idempotent
    assert len(b.bind([wl[:3]]).parameters.names) == len(m.parameters.names) + 3
    # the matrix at wavelength i is the unshifted one at centre + δᵢ
    p = np.array([b.parameters[n].value for n in b.parameters.names])
    p[b.parameters.index["t0_shift_2"]] = 0.3
    t = np.linspace(-1, 5, 40)
    C = np.asarray(jax.jit(lambda p: b.matrix(p, 0, t, wl))(p))
    np.testing.assert_allclose(C[1, :, 0], decay(t, 0.6, 0.32, 0.07), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(C[0, :, 0], decay(t, 0.6, 0.02, 0.07), rtol=1e-10, atol=1e-14)


def test_t0_shift_errors():
    with pytest.raises(ModelError, match="reference"):
        parse_model(MODEL.replace("max = 0.5}", "max = 0.5, reference = \"middle\"}"))
    with pytest.raises(ModelError, match="outside"):
        parse_model(MODEL.replace("value = 0.0, min", "value = 0.9, min"))


@pytest.fixture(scope="module")
def shift_fit():
    """s1 → s2 (τ 2 ps, 25 ps), IRF σ 80 fs, 10 wavelengths whose time zero follows a
    residual-chirp pattern of ±60 fs; 0.05 mOD noise on a ~2 mOD signal."""
    with jax.enable_x64(True):
        t = np.concatenate([np.arange(-0.8, 2.0, 0.02), np.geomspace(2.05, 100.0, 40)])
        wl = np.linspace(480.0, 660.0, 10)
        x = (wl - 570.0) / 90.0
        delta = 0.06 * np.sin(2.2 * x) + 0.03 * x**2
        k1, k2, sig, mu0 = 0.5, 0.04, 0.08, 0.05
        sas1, sas2 = 2e-3 * np.exp(-x**2), -1e-3 * (1 + 0.5 * x)
        y = np.empty((t.size, wl.size))
        for j, (d, a1, a2) in enumerate(zip(delta, sas1, sas2)):
            c1 = decay(t, k1, mu0 + d, sig)
            c2 = k1 / (k2 - k1) * (c1 - decay(t, k2, mu0 + d, sig))
            y[:, j] = a1 * c1 + a2 * c2
        y += np.random.default_rng(11).normal(0.0, 5e-5, y.shape)
        res = fit_target(make_ta_dataset(t, wl, y), parse_model(MODEL))
    return res, dict(mu=mu0 + delta, k1=k1, k2=k2)


def test_t0_shift_fit_recovers_the_shift_pattern_within_the_noise(shift_fit):
    res, truth = shift_fit
    p = res.summary()["parameters"]
    ds = res.dataset
    # the time zero per wavelength, centre + δ(λ), against the truth, in standard errors
    t0 = p["irf_center"]["value"] + ds["t0_shift"].values
    se = np.hypot(ds["t0_shift_stderr"].fillna(0.0).values, p["irf_center"]["stderr"])
    assert np.all(np.abs(t0 - truth["mu"]) < 4 * se)
    assert np.max(np.abs(t0 - truth["mu"])) < 0.01  # ps, against a ±60 fs pattern
    for k in ("k1", "k2"):
        assert abs(p[k]["value"] - truth[k]) < 4 * p[k]["stderr"], k


@pytest.mark.slow
def test_batch_fit_binds_the_shifts_and_matches_the_single_fit(shift_fit):
    from hotcarrier.batch import fit_arrays

    res, _ = shift_fit
    ds = res.dataset
    y = ds["data"].values
    out = fit_arrays(parse_model(MODEL), ds["delay"].values, ds["wavelength"].values,
                     np.stack([y, y]))
    names = list(out["param"].values)
    assert "t0_shift_10" in names
    single = res.summary()["parameters"]
    for n in ("k1", "k2", "irf_center", "t0_shift_1", "t0_shift_10"):
        got = out["value"].sel(param=n).values
        np.testing.assert_allclose(got, single[n]["value"], rtol=1e-4, atol=1e-6)

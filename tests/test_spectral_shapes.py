"""Parametric spectral shapes (Gaussian, skewed Gaussian), against NumPy/SciPy.

The shapes are pyglotaran 0.7.5's (``glotaran/builtin/megacomplexes/spectral/shape.py``,
rewritten here in NumPy); a real fit with the spectrum of s2 a Gaussian (amplitude, position,
FWHM as parameters) and s1 free is checked against an independent SciPy least-squares fit of
the residual written here (the known s2 part subtracted, s1 projected out per wavelength).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import least_squares

import spectral_reference as ref
from hotcarrier import fit
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ModelError
from hotcarrier.target.model import spectral_shape
from hotcarrier.target.modelfile import parse_model

NAMES = ["k1", "k2", "mu", "sig", "amp", "loc", "fwhm"]
SHAPE_TOML = dict(
    top='[[shapes]]\nspecies = "s2"\ntype = "gaussian"\namplitude = "amp"\nlocation = "loc"\n'
        'width = "fwhm"\n',
    params='amp = 0.5\nloc = {value = 610.0, min = 450, max = 750}\n'
           'fwhm = {value = 70.0, min = 10}\n')


def _skewed(x, amp, loc, width, b):
    """pyglotaran's SpectralShapeSkewedGaussian.calculate, in NumPy."""
    arg = 1 + 2 * b * (x - loc) / width
    out = np.zeros_like(x)
    ok = arg > 0
    out[ok] = amp * np.exp(-np.log(2) * np.square(np.log(arg[ok]) / b))
    return out


def test_shapes_match_pyglotaran_formulas():
    x = np.linspace(300.0, 900.0, 601)
    with jax.enable_x64(True):  # one compiled program for all shapes
        @jax.jit
        def shapes(b):
            def skew(bb):
                return spectral_shape("skewed-gaussian", x, 2.0, 550.0, 80.0, bb)

            return (spectral_shape("gaussian", x, 2.0, 550.0, 80.0), skew(b[0]), skew(b[1]),
                    skew(b[2]), jax.grad(lambda bb: jnp.sum(skew(bb)))(b[3]))

        g, s, s0, s_neg, grad = (np.asarray(v) for v in shapes(jnp.array([0.6, 0.0, -0.4,
                                                                           0.3])))
    np.testing.assert_allclose(g, ref.gaussian(x, 2.0, 550.0, 80.0), rtol=1e-12)
    np.testing.assert_allclose(s, _skewed(x, 2.0, 550.0, 80.0, 0.6), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(s_neg, _skewed(x, 2.0, 550.0, 80.0, -0.4), rtol=1e-12)
    np.testing.assert_allclose(s0, g, rtol=1e-12)  # b → 0: the Gaussian
    assert np.any(s == 0) and np.isfinite(grad)  # cut-off where 1 + 2b(x − x0)/Δ ≤ 0


def _reference_residual(x, Y):
    k1, k2, mu, sig, amp, loc, fwhm = x
    C = ref.populations(k1, k2, mu, sig)
    R = Y - np.outer(C[:, 1], ref.gaussian(ref.WL, amp, loc, fwhm))  # known s2 part
    c1 = C[:, :1]
    a1 = np.linalg.lstsq(c1, R, rcond=None)[0]  # s1 projected out at every wavelength
    return (R - c1 @ a1).T.ravel()


@pytest.fixture(scope="module")
def shape_fit():
    S = np.stack([ref.gaussian(ref.WL, 1.0, 520.0, 80.0) - 0.3,
                  ref.gaussian(ref.WL, 0.8, 600.0, 60.0)])
    Y = ref.simulate(S, noise=0.01)
    with jax.enable_x64(True):
        model = parse_model(ref.toml(**SHAPE_TOML), source="shape test")
        res = fit(make_ta_dataset(ref.T, ref.WL, Y), model, ftol=1e-13, gtol=1e-10)
        J = np.asarray(res.setup.objective.jacobian(jnp.asarray(res.theta), res.setup.arrays))
        dphys = np.asarray(jax.jacfwd(model.parameters.physical)(jnp.asarray(res.theta)))
    return res, Y, J, dphys


@pytest.mark.slow  # the default run fits a shape in test_guidance.py (all options, one fit)
def test_shape_fit_matches_reference(shape_fit):
    res, Y, J, dphys = shape_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in NAMES])
    r = _reference_residual(x, Y)
    assert sm["cost"] == pytest.approx(0.5 * r @ r, rel=1e-9)
    assert sm["n_amplitudes"] == ref.WL.size  # only s1 is a linear amplitude
    np.testing.assert_allclose(res.dataset["sas"].sel(species="s2").values,
                               ref.gaussian(ref.WL, *x[4:]), rtol=1e-12)
    x0 = np.array([ref.START[n] for n in NAMES[:4]] + [0.5, 610.0, 70.0])
    ls = least_squares(_reference_residual, x0, args=(Y,), x_scale="jac", xtol=1e-12,
                       ftol=1e-12)
    assert sm["cost"] == pytest.approx(ls.cost, rel=1e-7)
    np.testing.assert_allclose(x, ls.x, rtol=1e-4)
    Jfd = ref.fd_jacobian(lambda v: _reference_residual(v, Y), x)
    np.testing.assert_allclose(J, Jfd @ dphys, rtol=1e-5, atol=1e-6 * np.abs(J).max())
    se = ref.gauss_newton_stderr(Jfd, r, sm["n_amplitudes"])
    got = np.array([sm["parameters"][n]["stderr"] for n in NAMES])
    np.testing.assert_allclose(got, se, rtol=1e-4)
    # the true band (600 nm, FWHM 60 nm, 0.8) within 3 standard errors
    for n, v in (("amp", 0.8), ("loc", 600.0), ("fwhm", 60.0)):
        p = sm["parameters"][n]
        assert abs(p["value"] - v) < 3 * p["stderr"], (n, p)


@pytest.mark.slow
def test_shape_batch_equals_single_fit(shape_fit):
    """The batch path (vmapped Levenberg–Marquardt) reaches the single fit's optimum."""
    from hotcarrier.batch import fit_arrays

    res, Y, _, _ = shape_fit
    with jax.enable_x64(True):
        b = fit_arrays(res.setup.model, ref.T, ref.WL, Y[None], max_iter=300)
    sm = res.summary()
    assert float(b["cost"].values[0]) == pytest.approx(sm["cost"], rel=1e-8)
    for n in NAMES:
        assert float(b["value"].sel(param=n).values[0]) == pytest.approx(
            sm["parameters"][n]["value"], rel=1e-5)


@pytest.mark.parametrize("shape, message", [
    ('species = "s2"\ntype = "lorentzian"\namplitude = "1"\nlocation = "1"\nwidth = "1"',
     "expected 'gaussian'"),
    ('species = "s2"\ntype = "skewed-gaussian"\namplitude = "1"\nlocation = "1"\nwidth = "1"',
     "needs 'skewness'"),
    ('species = "s2"\ntype = "gaussian"\namplitude = "1"', "missing"),
])
def test_shape_errors(shape, message):
    with pytest.raises(ModelError, match=message):
        parse_model(ref.toml(top="[[shapes]]\n" + shape + "\n"), source="bad.toml")

"""The fast paths of the fitting core against the general ones they replace.

* the exp ⊗ Gaussian kernel's closed-form derivatives (``custom_jvp``) against central finite
  differences, on both branches and for large k·σ;
* the one-QR projection for separable weights against the per-wavelength projection, and the
  exact variable-projection Jacobian / envelope gradient against autodiff of the residual;
* the Levenberg–Marquardt loop on a problem with a known optimum, alone and under vmap.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.irf import exp_conv_gauss
from hotcarrier.fitting.optimize import levenberg_marquardt
from hotcarrier.target.model import TargetModel
from hotcarrier.target.objective import Objective, build_problem, separable_weights


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("tau,k,sigma", [(-0.3, 0.5, 0.1), (0.02, 2.0, 0.08), (1.5, 0.05, 0.2),
                                         (0.0, 40.0, 0.1), (3.0, 0.0, 0.05)])
def test_kernel_derivatives_match_finite_differences(tau, k, sigma):
    x0 = np.array([tau, k, sigma])
    f = lambda x: exp_conv_gauss(x[0], x[1], 0.0, x[2])  # noqa: E731
    g_fwd = np.asarray(jax.jacfwd(f)(jnp.asarray(x0)))
    g_rev = np.asarray(jax.grad(f)(jnp.asarray(x0)))
    h = 1e-6
    fd = np.array([(float(f(x0 + h * e)) - float(f(x0 - h * e))) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(g_fwd, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-14, atol=1e-300)


def test_kernel_second_derivative_finite():
    # jvp of the custom jvp (used by nothing critical, but must not break): finite and right
    f = lambda k: exp_conv_gauss(0.3, k, 0.0, 0.1)  # noqa: E731
    d2 = float(jax.grad(jax.grad(f))(1.2))
    h = 1e-4
    fd = (float(f(1.2 + h)) - 2 * float(f(1.2)) + float(f(1.2 - h))) / h**2
    assert math.isfinite(d2) and abs(d2 - fd) < 1e-5 * max(1.0, abs(fd))


def _quick_problem(weights=None, mask=None, dispersion=False):
    from hotcarrier.dataset import make_ta_dataset

    m = TargetModel.from_scheme("sequential", [2.0, 20.0, 200.0], irf_fwhm=0.15)
    t = np.concatenate([np.linspace(-1, 3, 25), np.geomspace(3.2, 800, 25)])
    wl = np.linspace(450, 650, 12)
    rng = np.random.default_rng(1)
    sig = rng.normal(size=(t.size, wl.size)) * 1e-3 + np.exp(-t / 20)[:, None] * (t > 0)[:, None]
    ds = make_ta_dataset(t, wl, sig)
    if weights is not None:
        ds["weight"] = (("delay", "wavelength"), weights(t, wl))
    if mask is not None:
        ds["signal"].values[mask] = np.nan
    return m, build_problem(m, [ds])


@pytest.mark.slow  # default-suite budget (2 cores): run with -m slow
def test_shared_projection_equals_per_wavelength():
    # separable weights (a time window × a wavelength band): one QR serves all wavelengths
    w = lambda t, wl: np.outer(np.where(t > 100, 0.5, 1.0), np.where(wl > 600, 0.1, 1.0))  # noqa: E731
    m, prob = _quick_problem(weights=w)
    assert prob.shared == (True,)
    fast = Objective(m, False, 1, shared=(True,))
    general = Objective(m, False, 1, shared=(False,))
    th = jnp.asarray(m.parameters.theta0()) + 0.05
    r1, J1, d1 = jax.jit(fast._evaluate)(th, prob.arrays)
    r2, J2, d2 = jax.jit(general._evaluate)(th, prob.arrays)
    np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(J1, J2, rtol=1e-8, atol=1e-12)
    for a, b in zip(d1[0], d2[0]):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    # exact Jacobian = autodiff of the projected residual; envelope gradient = Jᵀr
    Jad = jax.jacfwd(general._residual)(th, prob.arrays)
    np.testing.assert_allclose(J2, Jad, rtol=1e-9, atol=1e-13)
    g = jax.grad(fast._cost)(th, prob.arrays)
    np.testing.assert_allclose(g, J1.T @ r1, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("shared", [True, False])
def test_normal_equations_equal_jacobian_products(shared):
    # cost, Jᵀr and JᵀJ without forming J (shared) / from J (general) = from the exact J
    w = lambda t, wl: np.outer(np.where(t > 100, 0.5, 1.0), np.where(wl > 600, 0.1, 1.0))  # noqa: E731
    m, prob = _quick_problem(weights=w)
    obj = Objective(m, False, 1, shared=(shared,))
    th = jnp.asarray(m.parameters.theta0()) + 0.05
    wd = obj.weighted_data(prob.arrays)  # computed once outside, as a loop would

    @jax.jit  # one program for the three evaluations (compiling dominates this test)
    def evaluate(th, arrays, wd):
        return (obj._evaluate(th, arrays), obj._normal_equations(th, arrays),
                obj._normal_equations(th, arrays, wd))

    (r, J, _), (f, g, H, aux), (f2, g2, H2, _) = evaluate(th, prob.arrays, wd)
    np.testing.assert_allclose(f, 0.5 * r @ r, rtol=1e-12)
    np.testing.assert_allclose(g, J.T @ r, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(g))))
    np.testing.assert_allclose(H, J.T @ J, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(H))))
    # the weighted data may be passed in (computed once outside a loop)
    np.testing.assert_allclose(H2, H, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(H))))


def test_masked_cells_use_the_per_wavelength_projection():
    mask = np.zeros((50, 12), bool)
    mask[10, 3] = True
    _, prob = _quick_problem(mask=mask)
    assert prob.shared == (False,)
    assert not separable_weights(np.asarray(prob.arrays["w"][0]))


def test_levenberg_marquardt_known_optimum_and_vmap():
    t = jnp.linspace(0.0, 5.0, 40)

    def fn(x, y):
        model = x[0] * jnp.exp(-x[1] * t)
        r = model - y
        J = jnp.stack([jnp.exp(-x[1] * t), -x[0] * t * jnp.exp(-x[1] * t)], axis=1)
        return r, J, model

    ys = jnp.stack([2.0 * jnp.exp(-0.7 * t), 0.5 * jnp.exp(-3.0 * t)])
    res = levenberg_marquardt(fn, jnp.array([1.0, 0.2]), ys[0])
    assert bool(res.converged) and int(res.status) in (0, 1, 5)
    np.testing.assert_allclose(res.x, [2.0, 0.7], rtol=1e-8)
    np.testing.assert_allclose(res.aux, ys[0], atol=1e-8)
    batch = jax.vmap(lambda y: levenberg_marquardt(fn, jnp.array([1.0, 0.2]), y))(ys)
    np.testing.assert_allclose(batch.x, [[2.0, 0.7], [0.5, 3.0]], rtol=1e-7)
    assert np.all(np.asarray(batch.converged))
    # a non-finite start stops at once with status 3
    bad = levenberg_marquardt(fn, jnp.array([jnp.nan, 0.2]), ys[0])
    assert int(bad.status) == 3 and not bool(bad.converged)
    # the same loop fed the Gauss–Newton model (cost, Jᵀr, JᵀJ) instead of (r, J)
    def normal(x, y):
        r, J, model = fn(x, y)
        return 0.5 * r @ r, J.T @ r, J.T @ J, model

    same = levenberg_marquardt(normal, jnp.array([1.0, 0.2]), ys[0], normal=True)
    np.testing.assert_allclose(same.x, res.x, rtol=1e-12)
    assert int(same.n_eval) == int(res.n_eval) and int(same.status) == int(res.status)

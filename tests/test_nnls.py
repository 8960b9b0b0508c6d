"""Non-negative amplitudes (NNLS inside the variable projection), against SciPy.

* the Lawson–Hanson passive set equals scipy.optimize.nnls / lsq_linear on random problems;
* a real NNLS fit of a small synthetic map (the independent model of ``spectral_reference``):
  amplitudes and cost equal scipy.optimize.nnls at every wavelength; the Jacobian (active set
  held fixed) equals central finite differences of the SciPy NNLS residual; the standard errors
  equal Gauss–Newton ones from that finite-difference Jacobian; and an independent
  scipy.optimize.least_squares fit of the SciPy NNLS residual finds the same optimum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import least_squares, lsq_linear, nnls

import spectral_reference as ref
from hotcarrier import fit
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.fitting.projection import nnls_passive_set
from hotcarrier.target.modelfile import parse_model

NAMES = ["k1", "k2", "mu", "sig"]


def test_passive_set_matches_scipy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(100, 25, 5)) * rng.uniform(1e-2, 1e2, size=(100, 1, 5))
    y = rng.normal(size=(100, 25))
    cons = np.array([True, False, True, True, False])
    with jax.enable_x64(True):  # one program for both masks (the mask is an argument)
        solve = jax.jit(jax.vmap(nnls_passive_set, in_axes=(0, 0, None)))
        P = np.asarray(solve(A, y, np.ones(5, bool)))
        Pc = np.asarray(solve(A, y, cons))
    for a, b, p, pc in zip(A, y, P, Pc):
        x, _ = nnls(a, b)
        np.testing.assert_array_equal(p, x > 0)
        lo = np.where(cons, 0.0, -np.inf)
        xs = lsq_linear(a, b, bounds=(lo, np.inf), method="bvls", tol=1e-14).x
        np.testing.assert_array_equal(pc, ~cons | (xs > 1e-12 * np.max(np.abs(xs))))


def _scipy_residual(x, Y):
    """Independent NNLS variable-projection residual (scipy.optimize.nnls per wavelength)."""
    C = ref.populations(*x)
    return np.concatenate([Y[:, j] - C @ nnls(C, Y[:, j])[0] for j in range(Y.shape[1])])


@pytest.fixture(scope="module")
def nnls_fit():
    # s2 is zero in the red and s1 in the blue: the constraints are active at several λ
    S = np.stack([ref.gaussian(ref.WL, 1.0, 500.0, 90.0) * (ref.WL < 620),
                  np.clip(np.sin((ref.WL - 450.0) / 50.0), 0.0, None)])
    Y = ref.simulate(S, noise=0.01)
    with jax.enable_x64(True):
        model = parse_model(ref.toml(model="non_negative = true"), source="nnls test")
        res = fit(make_ta_dataset(ref.T, ref.WL, Y), model, ftol=1e-13, gtol=1e-10)
        th = jnp.asarray(res.theta)
        J = np.asarray(res.setup.objective.jacobian(th, res.setup.arrays))
    return res, Y, J


@pytest.mark.slow  # the default run fits NNLS in test_guidance.py (all options, one fit)
def test_nnls_fit_matches_scipy(nnls_fit):
    res, Y, J = nnls_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in NAMES])
    C = ref.populations(*x)
    A = np.array([nnls(C, Y[:, j])[0] for j in range(Y.shape[1])])  # (W, 2)
    assert np.sum(A == 0) >= 3  # the constraints matter
    np.testing.assert_allclose(res.dataset["sas"].values.T, A, atol=1e-10)
    r = _scipy_residual(x, Y)
    assert sm["cost"] == pytest.approx(0.5 * r @ r, rel=1e-10)
    assert sm["n_amplitudes"] == int(np.sum(A > 0))
    # an independent fit of the SciPy NNLS residual reaches the same optimum
    x0 = np.array([ref.START[n] for n in NAMES])
    ls = least_squares(_scipy_residual, x0, args=(Y,), x_scale="jac", xtol=1e-12, ftol=1e-12)
    assert sm["cost"] == pytest.approx(ls.cost, rel=1e-7)
    np.testing.assert_allclose(x, ls.x, rtol=1e-4)


@pytest.mark.slow
def test_nnls_batch_equals_single_fit(nnls_fit):
    """The batch path (vmapped Levenberg–Marquardt) reaches the single fit's optimum."""
    from hotcarrier.batch import fit_arrays

    res, Y, _ = nnls_fit
    with jax.enable_x64(True):
        b = fit_arrays(res.setup.model, ref.T, ref.WL, Y[None], max_iter=300)
    sm = res.summary()
    assert float(b["cost"].values[0]) == pytest.approx(sm["cost"], rel=1e-8)
    for n in NAMES:
        assert float(b["value"].sel(param=n).values[0]) == pytest.approx(
            sm["parameters"][n]["value"], rel=1e-5)


@pytest.mark.slow
def test_nnls_jacobian_and_stderr(nnls_fit):
    """Active set held fixed: the exact Jacobian is the finite-difference one of SciPy's NNLS
    residual (the set does not change under small steps), and the standard errors follow."""
    res, Y, J = nnls_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in NAMES])
    Jfd = ref.fd_jacobian(lambda v: _scipy_residual(v, Y), x)
    # ours is with respect to the unconstrained θ: chain rule through ∂physical/∂θ
    with jax.enable_x64(True):
        dphys = np.asarray(jax.jacfwd(res.setup.model.parameters.physical)(
            jnp.asarray(res.theta)))
    np.testing.assert_allclose(J, Jfd @ dphys, rtol=1e-5, atol=1e-6 * np.abs(J).max())
    se = ref.gauss_newton_stderr(Jfd, _scipy_residual(x, Y), sm["n_amplitudes"])
    got = np.array([sm["parameters"][n]["stderr"] for n in NAMES])
    np.testing.assert_allclose(got, se, rtol=1e-4)


def test_projection_derivatives_with_known_part_and_held_column():
    """Golub–Pereyra block with a known model part m(θ) and the amplitude derivative ∂â/∂θ,
    against central differences of numpy.linalg.lstsq; a column held at zero (an active NNLS
    constraint) is dropped from the reference problem."""
    from hotcarrier.fitting.projection import (amplitude_derivative, back_substitute,
                                               golub_pereyra_block, mgs_qr)

    rng = np.random.default_rng(3)
    W, R, k, p = 3, 12, 3, 2
    C0, C1, C2 = (rng.normal(size=(W, R, k)) for _ in range(3))
    M1, M2, Y = (rng.normal(size=(W, R)) for _ in range(3))
    keep = np.array([True, False, True])  # column 1 held at zero

    def design(th):
        return (C0 + th[0] * C1 + th[1] ** 2 * C2) * keep, np.sin(th[0]) * M1 + th[1] * M2

    def reference(th):
        C, m = design(th)
        a = np.array([np.linalg.lstsq(C[w][:, keep], Y[w] - m[w], rcond=None)[0]
                      for w in range(W)])
        r = np.array([Y[w] - m[w] - C[w][:, keep] @ a[w] for w in range(W)])
        return r, a

    th = np.array([0.3, -0.7])
    C, m = design(th)
    dC = np.stack([C1 * keep, 2 * th[1] * C2 * keep], axis=-1)
    dm = np.stack([np.cos(th[0]) * M1, M2], axis=-1)
    @jax.jit
    def ours(C, yw, dC, dm):
        Q, Rm = jax.vmap(mgs_qr)(C)
        A = jnp.einsum("wrk,wr->wk", Q, yw)
        r = yw - jnp.einsum("wrk,wk->wr", Q, A)
        ahat = jax.vmap(back_substitute)(Rm, A)
        return (r, ahat, golub_pereyra_block(Q, Rm, r, ahat, dC, False, dm),
                amplitude_derivative(Q, Rm, r, ahat, dC, dm))

    with jax.enable_x64(True):
        r, ahat, J, da = (np.asarray(v) for v in ours(C, Y - m, dC, dm))
    r_ref, a_ref = reference(th)
    np.testing.assert_allclose(np.asarray(r), r_ref, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ahat)[:, keep], a_ref, atol=1e-12)
    assert np.all(np.asarray(ahat)[:, ~keep] == 0) and np.all(da[:, ~keep] == 0)
    Jfd = ref.fd_jacobian(lambda v: reference(v)[0].ravel(), th)
    dafd = ref.fd_jacobian(lambda v: reference(v)[1].ravel(), th)
    np.testing.assert_allclose(J.reshape(-1, p), Jfd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(da[:, keep].reshape(-1, p), dafd, rtol=1e-6, atol=1e-8)

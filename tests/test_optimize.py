"""The generic L-BFGS minimiser: convergence, pytrees, vmap, honest status."""

import jax
import jax.numpy as jnp
import numpy as np

from hotcarrier.fitting.optimize import least_squares, minimize


def rosen(x, a):
    return (a - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_rosenbrock_and_vmap():
    r = minimize(rosen, jnp.array([-1.2, 1.0]), 1.0)
    assert bool(r.converged)
    np.testing.assert_allclose(r.x, [1.0, 1.0], atol=1e-6)  # minimum (a, a²); gtol-limited
    x0 = jnp.array([[-1.2, 1.0], [0.5, 0.5], [3.0, 3.0]])
    a = jnp.array([1.0, 2.0, 0.5])
    rb = jax.vmap(lambda x, aa: minimize(rosen, x, aa))(x0, a)
    assert rb.converged.shape == (3,) and bool(jnp.all(rb.converged))
    np.testing.assert_allclose(rb.x[:, 0], a, atol=1e-6)
    np.testing.assert_allclose(rb.x[:, 1], a**2, atol=1e-5)


def test_iteration_cap_is_reported():
    r = minimize(rosen, jnp.array([-1.2, 1.0]), 1.0, max_iter=3)
    assert not bool(r.converged) and int(r.status) == 2 and int(r.n_iter) == 3


def test_nonfinite_is_reported():
    r = minimize(lambda x: jnp.sum(jnp.log(x)), jnp.array([-1.0]))
    assert not bool(r.converged) and int(r.status) == 3


def test_least_squares_pytree():
    t = jnp.linspace(0, 5, 50)
    y = 2 * jnp.exp(-1.3 * t)

    def res(x, t, y):
        return x["a"] * jnp.exp(-x["k"] * t) - y

    r = least_squares(res, {"a": 1.0, "k": 0.5}, t, y)
    assert bool(r.converged)
    np.testing.assert_allclose([r.x["a"], r.x["k"]], [2.0, 1.3], rtol=1e-8)  # noise-free data


def test_diagonal_preconditioner_scales_and_guards_dead_columns():
    from hotcarrier.fitting.optimize import diagonal_preconditioner

    # column norms 3, 4, 0 (a parameter without effect) and NaN: D = √(n Σ J²) with n = 4;
    # dead/non-finite columns take the median of the others (√4·3 = 6, √4·4 = 8 → 7)
    D = np.asarray(diagonal_preconditioner(jnp.array([9.0, 16.0, 0.0, jnp.nan])))
    np.testing.assert_allclose(D, [6.0, 8.0, 7.0, 7.0], rtol=1e-15)
    np.testing.assert_allclose(np.asarray(diagonal_preconditioner(jnp.zeros(3))), 1.0)

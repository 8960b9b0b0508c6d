"""The one kinetics solver on any scheme with real eigenvalues, against independent references.

Reference: x(u) = expm(K u)·p₀ (SciPy, Padé; panel to panel by expm(K h)) convolved with the
unit-area Gaussian IRF by Gauss–Legendre quadrature in u on panels of width h = σ/4 (written
here, no package code): for a
reversible pair with back-transfer, a branched scheme with a merge, exactly and nearly
(1e-8, 1e-4 relative) equal rates, equal rates on non-adjacent compartments, and a
30-compartment chain with unordered rates. Derivatives against central finite differences
(forward and reverse mode); a small reversible target fit recovers its rates from a map
simulated with a NumPy eigen-decomposition and SciPy's erfc (no package code).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import erfc

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.kinetics import Scheme
from hotcarrier import kinetics

# one compiled program per scheme and shape (eager dispatch would compile every operation)
convolved_populations = jax.jit(kinetics.convolved_populations, static_argnums=(0, 6))
populations = jax.jit(kinetics.populations, static_argnums=0)

MU, SIGMA = 0.1, 0.08  # ps
T = np.concatenate([np.linspace(-0.4, 1.5, 24), np.geomspace(1.7, 12.0, 12)])  # ps

REVERSIBLE = Scheme(4, [(0, 1), (1, 0), (1, 2), (2, 3), (3, 2), (3, None), (0, None)])
BRANCHED = Scheme(5, [(0, 1), (0, 2), (1, 3), (2, 3), (3, None), (4, None), (4, 3)])
CHAIN3 = Scheme(3, [(0, 1), (1, 2), (2, None)])


def _K(scheme, rates):
    K = np.zeros((scheme.n, scheme.n))
    for k, (s, t) in zip(rates, scheme.transfers):
        K[s, s] -= k
        if t is not None:
            K[t, s] += k
    return K


def reference(scheme, rates, p0, t=T, mu=MU, sigma=SIGMA):
    """Populations (T, n): expm ⊗ Gaussian by Gauss–Legendre quadrature (8 nodes per σ/4)."""
    K = _K(scheme, rates)
    x, w = np.polynomial.legendre.leggauss(8)
    h = sigma / 4
    edges = np.arange(0.0, t.max() - mu + 9 * sigma + h, h)
    u = ((edges[:-1, None] + edges[1:, None]) / 2 + h / 2 * x[None, :]).ravel()
    wu = np.tile(w * h / 2, edges.size - 1)
    step = expm(K * h)  # x at the panel edges, then at the nodes inside each panel
    inner = np.stack([expm(K * (h / 2) * (1 + xq)) for xq in x])  # (8, n, n)
    xe = [np.asarray(p0, float)]
    for _ in range(edges.size - 2):
        xe.append(step @ xe[-1])
    X = np.einsum("qij,ej->eqi", inner, np.stack(xe)).reshape(-1, K.shape[0])  # (U, n)
    G = np.exp(-0.5 * ((t[:, None] - mu - u[None, :]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return (G * wu) @ X


def test_reversible_pairs_match_reference():
    # A ⇌ B → C ⇌ D → ground (and A → ground): two reversible groups, real eigenvalues
    rates = np.array([2.0, 0.7, 0.3, 1.1, 0.4, 0.05, 0.2])
    p0 = np.array([1.0, 0.0, 0.0, 0.0])
    ours = np.asarray(convolved_populations(REVERSIBLE, T, jnp.asarray(rates), p0, MU, SIGMA))
    np.testing.assert_allclose(ours, reference(REVERSIBLE, rates, p0), atol=1e-11)


def test_branched_with_merge_matches_reference():
    rates = np.array([1.4, 8.1, 0.35, 0.04, 0.02, 0.9, 0.3])
    p0 = np.array([0.6, 0, 0, 0, 0.4])
    ours = np.asarray(convolved_populations(BRANCHED, T, jnp.asarray(rates), p0, MU, SIGMA))
    np.testing.assert_allclose(ours, reference(BRANCHED, rates, p0), atol=1e-11)


@pytest.mark.parametrize("scheme,rates,atol", [
    (CHAIN3, [0.5, 0.5, 0.5], 1e-11),                        # a 3 × 3 Jordan block
    (CHAIN3, [0.5, 0.5 * (1 + 1e-8), 0.5 * (1 - 1e-8)], 1e-8),  # nearly defective (the
    # reference: SciPy's expm loses ~1e-9 there; the solver is exact to ~1e-16, see below)
    (CHAIN3, [0.5, 0.5 * (1 + 1e-4), 0.2], 1e-11),           # near-equal pair
    (CHAIN3, [1.0, 10.0, 1.0], 1e-11),                      # equal rates, not adjacent
    (BRANCHED, [0.9, 1.7, 0.3, 0.11, 0.3, 0.4, 0.3], 1e-11),  # equal decay rates on a merge
])
def test_equal_and_nearly_equal_rates_match_reference(scheme, rates, atol):
    rates = np.asarray(rates)
    p0 = np.eye(scheme.n)[0] + (np.eye(scheme.n)[4] if scheme.n == 5 else 0)
    ours = np.asarray(convolved_populations(scheme, T, jnp.asarray(rates), p0, MU, SIGMA))
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, reference(scheme, rates, p0), atol=atol)


def test_nearly_defective_chain_exact_without_irf():
    # the Bateman solution in exact arithmetic (Python decimals, 60 digits) at t = 6 ps
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    r = [0.5, 0.5 * (1 + 1e-8), 0.5 * (1 - 1e-8)]
    pts = [Decimal(-x) for x in r]

    def dd(p, t=Decimal(6)):
        tab = [(x * t).exp() for x in p]
        for m in range(1, len(p)):
            tab = [(tab[i + 1] - tab[i]) / (p[i + m] - p[i]) for i in range(len(tab) - 1)]
        return tab[0]

    exact = [float(dd(pts[:1])), float(Decimal(r[0]) * dd(pts[:2])),
             float(Decimal(r[0]) * Decimal(r[1]) * dd(pts))]
    ours = np.asarray(populations(CHAIN3, np.array([6.0]), jnp.asarray(r), np.eye(3)[0]))[0]
    np.testing.assert_allclose(ours, exact, rtol=1e-13)


def test_thirty_compartment_chain_with_unordered_rates():
    # lifetimes 0.2 … 2000 ps in a shuffled order (fast and slow steps interleaved)
    n = 30
    rng = np.random.default_rng(7)
    rates = rng.permutation(1 / np.geomspace(0.2, 2000.0, n))
    rates[5] = rates[17]  # and two equal rates far apart in the chain
    sch = Scheme(n, [(i, i + 1 if i + 1 < n else None) for i in range(n)])
    p0 = np.eye(n)[0]
    t = np.geomspace(0.05, 5000.0, 25)
    K = _K(sch, rates)
    ref = np.stack([expm(K * ti) @ p0 for ti in t])
    ours = np.asarray(populations(sch, t, jnp.asarray(rates), p0))
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    early = T[T < 3.0]
    conv = np.asarray(convolved_populations(sch, early, jnp.asarray(rates), p0, MU, SIGMA))
    np.testing.assert_allclose(conv, reference(sch, rates, p0, early), atol=1e-11)


@pytest.mark.parametrize("scheme,rates", [
    pytest.param(REVERSIBLE, [2.0, 0.7, 0.3, 1.1, 0.4, 0.05, 0.2],
                 marks=pytest.mark.slow),  # default-suite budget; the reversible fit below
    # differentiates this solver too
    (CHAIN3, [0.5, 0.5, 0.5]),                      # at exact degeneracy
    (CHAIN3, [1.0, 10.0, 1.0 * (1 + 1e-6)]),          # nearly equal, not adjacent
])
def test_derivatives_match_finite_differences(scheme, rates):
    rates = jnp.asarray(rates)
    p0 = jnp.eye(scheme.n)[0]
    w = jnp.asarray(np.random.default_rng(3).normal(size=(T.size, scheme.n)))

    def f(x):  # rates, IRF centre and width
        return jnp.sum(w * convolved_populations(scheme, T, x[:-2], p0, x[-2], x[-1]))

    x0 = jnp.concatenate([rates, jnp.array([MU, SIGMA])])
    h = 1e-6
    steps = jnp.concatenate([h * jnp.eye(x0.size), -h * jnp.eye(x0.size)])

    @jax.jit  # one program: reverse, forward and the central differences
    def all_three(x):
        return jax.grad(f)(x), jax.jacfwd(f)(x), jax.vmap(lambda d: f(x + d))(steps)

    g_rev, g_fwd, vals = (np.asarray(v) for v in all_three(x0))
    fd = (vals[:x0.size] - vals[x0.size:]) / (2 * h)
    assert np.all(np.isfinite(g_rev))
    np.testing.assert_allclose(g_fwd, g_rev, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_rev, fd, rtol=1e-6, atol=1e-7)


def _two_state_map(t, wl, kf, kb, kd, mu, sigma, spectra):
    """A ⇌ B → ground from the IRF centre, by NumPy eig + SciPy erfc (closed form)."""
    K = np.array([[-kf, kb], [kf, -kb - kd]])
    lam, V = np.linalg.eig(K)
    c = V @ np.diag(np.linalg.solve(V, [1.0, 0.0]))  # x(t) = Σᵢ cᵢ exp(λᵢ t) ⊗ IRF
    tau = t[:, None] - mu
    k = -lam[None, :]
    kern = 0.5 * np.exp(-k * tau + 0.5 * (k * sigma) ** 2) \
        * erfc((k * sigma**2 - tau) / (sigma * math.sqrt(2)))
    pops = kern @ c.T  # (T, 2)
    return pops @ spectra  # (T, W)


def test_reversible_target_fit_recovers_rates():
    from hotcarrier import fit
    from hotcarrier.target.model import (IRF, DatasetModel, Parameter, ParameterSet,
                                        TargetModel, Transfer)

    t = np.concatenate([np.linspace(-0.5, 2.0, 26), np.geomspace(2.2, 300.0, 24)])
    wl = np.linspace(500.0, 700.0, 12)
    # with free spectra only the two eigenvalues are determined: the decay kd is known (fixed)
    true = dict(kf=0.5, kb=0.2, mu=0.1, sig=0.07)
    kd = 0.02
    spectra = np.stack([np.exp(-0.5 * ((wl - 560) / 40) ** 2),
                        -0.7 * np.exp(-0.5 * ((wl - 640) / 35) ** 2)]) * 1e-2
    rng = np.random.default_rng(11)
    noise = 2e-5
    sig = _two_state_map(t, wl, true["kf"], true["kb"], kd, true["mu"], true["sig"],
                         spectra) + noise * rng.standard_normal((t.size, wl.size))
    P = [Parameter("kf", 0.3, 0.0, math.inf), Parameter("kb", 0.3, 0.0, math.inf),
         Parameter("kd", kd, fixed=True), Parameter("mu", 0.0),
         Parameter("sig", 0.1, 0.0, math.inf)]
    m = TargetModel(compartments=["A", "B"],
                    transfers=[Transfer("A", "B", "kf"), Transfer("B", "A", "kb"),
                               Transfer("B", None, "kd")],
                    initial={"A": "1"}, parameters=ParameterSet(P),
                    datasets=[DatasetModel(irf=IRF("mu", "sig"))])
    res = fit(make_ta_dataset(t, wl, sig), m)
    assert res.converged
    for name, v in true.items():
        p = res.parameters[name]
        assert abs(p["value"] - v) < 4 * p["stderr"], (name, p["value"], v, p["stderr"])
        assert abs(p["value"] / v - 1) < 0.02, (name, p["value"], v)
    assert abs(res.summary()["rmse"] / noise - 1) < 0.1


def test_model_errors_name_the_cycle():
    from hotcarrier.errors import ModelError
    from hotcarrier.target.model import Parameter, ParameterSet, TargetModel, Transfer

    P = ParameterSet([Parameter("k", 1.0, 0.0, math.inf), Parameter("irf_center", 0.0),
                      Parameter("irf_width", 0.1, 0.0, math.inf)])
    ok = TargetModel(compartments=["A", "B"], initial={"A": "1"}, parameters=P,
                     transfers=[Transfer("A", "B", "k"), Transfer("B", "A", "k"),
                                Transfer("B", None, "k")])
    assert ok.scheme.reversible_pairs == ((0, 1),)
    with pytest.raises(ModelError, match=r"\[A, B, C\] with the one-way transfer\(s\) A→B"):
        TargetModel(compartments=["A", "B", "C"], initial={"A": "1"}, parameters=P,
                    transfers=[Transfer("A", "B", "k"), Transfer("B", "C", "k"),
                               Transfer("C", "A", "k")])


# ---------------------------------------------------------------- the two forms of the solver
CHAIN12 = Scheme(12, [(i, i + 1 if i + 1 < 12 else None) for i in range(12)])
RATES12 = 1 / np.array([0.3, 0.9, 2.5, 7.0, 15.0, 40.0, 1.4, 110.0, 4.2, 300.0, 0.6, 900.0])


@pytest.mark.parametrize("scheme,rates,p0", [
    pytest.param(REVERSIBLE, [2.0, 0.7, 0.3, 1.1, 0.4, 0.05, 0.2], [1.0, 0, 0, 0],
                 marks=pytest.mark.slow),  # suite budget; the reversible fit below runs both
    (BRANCHED, [1.4, 8.1, 0.35, 0.04, 0.02, 0.9, 0.3], [0.6, 0, 0, 0, 0.4]),
    (CHAIN12, RATES12, np.eye(12)[0]),
])
def test_eigen_and_newton_forms_agree(scheme, rates, p0):
    """The eigen form (one kernel per compartment) against the divided differences where both
    apply (distinct eigenvalues): values, and derivatives in the rates and the IRF."""
    rates, p0 = jnp.asarray(rates, float), jnp.asarray(p0, float)
    assert bool(kinetics.eigen_form_accurate(scheme, rates, p0))
    w = jnp.asarray(np.random.default_rng(5).normal(size=(T.size, scheme.n)))

    @jax.jit
    def both(x):
        def f(x, method):
            return kinetics.convolved_populations(scheme, T, x[:-2], p0, x[-2], x[-1], method)
        out = [f(x, m) for m in ("eigen", "newton")]
        grads = [jax.grad(lambda y, m=m: jnp.sum(w * f(y, m)))(x) for m in ("eigen", "newton")]
        return out, grads

    (pe, pn), (ge, gn) = both(jnp.concatenate([rates, jnp.array([MU, SIGMA])]))
    np.testing.assert_allclose(np.asarray(pe), np.asarray(pn), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(ge), np.asarray(gn), rtol=1e-9,
                               atol=1e-9 * float(np.max(np.abs(np.asarray(gn)))))


def test_eigen_form_refuses_equal_rates_and_auto_falls_back():
    rates, p0 = jnp.array([0.5, 0.5, 0.5]), jnp.eye(3)[0]
    assert not bool(kinetics.eigen_form_accurate(CHAIN3, rates, p0))
    assert np.all(np.isnan(np.asarray(
        convolved_populations(CHAIN3, T, rates, p0, MU, SIGMA, "eigen"))))
    auto = np.asarray(convolved_populations(CHAIN3, T, rates, p0, MU, SIGMA))
    np.testing.assert_allclose(auto, reference(CHAIN3, np.asarray(rates), np.asarray(p0)),
                               atol=1e-11)
    # equal rates of compartments on no common path (a parallel scheme) are refused too: the
    # bound then divides 0 by 0
    par = Scheme(2, [(0, None), (1, None)])
    assert not bool(kinetics.eigen_form_accurate(par, jnp.array([0.3, 0.3]), jnp.ones(2)))


def test_irf_arrays_and_rate_batches_give_one_set_each():
    mus, sigs = np.array([0.0, 0.1, 0.25]), np.array([0.05, 0.08, 0.12])
    rates = jnp.array([[1.4, 8.1, 0.35, 0.04, 0.02, 0.9, 0.3],
                       [1.0, 2.0, 0.5, 0.1, 0.05, 0.3, 0.3]])  # the second: a degenerate merge
    p0 = jnp.array([0.6, 0, 0, 0, 0.4])
    out = np.asarray(convolved_populations(BRANCHED, T, rates, p0, jnp.asarray(mus),
                                           jnp.asarray(sigs)))
    assert out.shape == (2, 3, T.size, 5)
    for b in range(2):
        for i in range(3):
            np.testing.assert_allclose(out[b, i], reference(BRANCHED, np.asarray(rates[b]),
                                                            np.asarray(p0), mu=mus[i],
                                                            sigma=sigs[i]), atol=1e-11)

"""Model features without a full fit (design-matrix level) and the error paths of fit()."""

import math
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import FitError
from hotcarrier import fit
from hotcarrier.irf import gaussian_irf
from hotcarrier.kinetics import convolved_populations
from hotcarrier.target.model import (
    IRF,
    Constraint,
    DatasetModel,
    Parameter,
    ParameterSet,
    TargetModel,
    Transfer,
)

T = np.linspace(-1.0, 10.0, 56)  # NumPy: float64 whatever the JAX setting at import
WL = np.array([400.0, 500.0, 600.0])


def _model(**kw):
    P = [Parameter("k1", 1.0, 0, math.inf), Parameter("k2", 0.1, 0, math.inf),
         Parameter("mu", 0.1), Parameter("sig", 0.05, 0, math.inf), Parameter("d1", 0.2),
         Parameter("shift", 0.3), Parameter("sig2", 0.2, 0, math.inf), Parameter("a2", 0.5, 0, 5)]
    irf = IRF("mu", "sig", 500.0, ["d1"], extra=[("shift", "sig2", "a2")])
    return TargetModel(compartments=["a", "b"],
                       transfers=[Transfer("a", "b", "k1"), Transfer("b", None, "k2")],
                       initial={"a": "1"}, parameters=ParameterSet(P),
                       datasets=[DatasetModel(irf=irf)], **kw)


def test_design_matrix_features():
    m = _model(coherent_artifact=3, baseline=True,
               constraints=[Constraint("b", 450.0, 550.0)])
    assert m.column_names == ["a", "b", "artifact0", "artifact1", "artifact2", "baseline"]
    with jax.enable_x64(True):
        p = m.parameters.physical(jnp.asarray(m.parameters.theta0()))
        C = np.asarray(jax.jit(lambda q: m.matrix(q, 0, T, WL))(p))
        rates = jnp.array([1.0, 0.1])
        # multi-Gaussian IRF: (1·pop(μ, σ) + 0.5·pop(μ + 0.3, 0.2)) / 1.5, with μ(λ) dispersed
        for j, lam in enumerate([400.0, 500.0, 600.0]):
            mu = 0.1 + 0.2 * (lam - 500) / 100
            ref = (convolved_populations(m.scheme, T, rates, jnp.array([1.0, 0]), mu, 0.05)
                   + 0.5 * convolved_populations(m.scheme, T, rates, jnp.array([1.0, 0]),
                                                 mu + 0.3, 0.2)) / 1.5
            np.testing.assert_allclose(C[j, :, :2], ref, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(C[j, :, 2], gaussian_irf(T, mu, 0.05) * 0.05, rtol=1e-12)
    assert np.all(C[:, :, 5] == 1.0)
    np.testing.assert_array_equal(m.column_mask(WL)[:, 1], [1.0, 0.0, 1.0])


def test_nan_model_is_a_clear_fit_error():
    P = [Parameter("tau", 0.0, fixed=True), Parameter("mu", 0.0), Parameter("sig", 0.1, 0, 1)]
    m = TargetModel(compartments=["a"], transfers=[Transfer("a", None, "1/tau - 1/tau")],
                    initial={"a": "1"}, parameters=ParameterSet(P),
                    datasets=[DatasetModel(irf=IRF("mu", "sig"))])
    data = make_ta_dataset(np.asarray(T), np.asarray(WL), np.ones((T.size, 3)))
    with pytest.raises(FitError, match="not finite at the start values"):
        fit(data, m)

"""Model specification: parameters, transforms, expressions, TOML files, quick schemes."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.errors import ModelError
from hotcarrier.target.modelfile import load_target_model as load_model, parse_model
from hotcarrier.target.model import Parameter, ParameterSet, TargetModel


def test_transforms_round_trip_and_expressions():
    ps = ParameterSet([Parameter("b", 0.3, 0, 1), Parameter("k", 2.0, 0, math.inf),
                       Parameter("lo", 5.0, 1.0, math.inf), Parameter("hi", -2.0, -math.inf, 0),
                       Parameter("x", -1.5), Parameter("c", 7.0, fixed=True),
                       Parameter("e", expr="b * k + sqrt(c) - exp(0)")])
    with jax.enable_x64(True):
        v = np.asarray(ps.physical(jnp.asarray(ps.theta0())))
    np.testing.assert_allclose(v[:6], [0.3, 2.0, 5.0, -2.0, -1.5, 7.0], rtol=1e-14)
    assert v[6] == pytest.approx(0.3 * 2.0 + math.sqrt(7.0) - 1.0, rel=1e-14)
    assert ps.free_names == ["b", "k", "lo", "hi", "x"]


def test_parameter_problems_are_collected():
    with pytest.raises(ModelError) as e:
        ParameterSet([Parameter("a", 2.0, 0, 1), Parameter("b", expr="a + zz"),
                      Parameter("c", expr="d"), Parameter("d", expr="c")])
    msg = str(e.value)
    assert "outside its open bounds" in msg and "'zz'" in msg
    with pytest.raises(ModelError, match="circular"):
        ParameterSet([Parameter("c", expr="d"), Parameter("d", expr="c")])


def test_model_file_errors_name_the_file_and_list_all(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('transfers = [{from = "s1", to = "s2"}]\n[model]\ncompartments = ["s1", "s2"]\n'
                 'initial = {s1 = 1}\ncolour = "red"\n[parameters]\nk1 = {value = 1, vaule = 2}\n')
    with pytest.raises(ModelError) as e:
        load_model(p)
    msg = str(e.value)
    assert str(p) in msg and "missing 'rate'" in msg and "'colour'" in msg and "'vaule'" in msg
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope.toml")


def test_model_validation_lists_bad_references():
    text = ('transfers = [{from = "s1", to = "s3", rate = "k9"}]\n'
            '[model]\ncompartments = ["s1", "s2"]\ninitial = {s1 = 1}\n'
            '[parameters]\nk1 = 1\n[irf]\ncenter = "t0"\nwidth = "w"\n')
    with pytest.raises(ModelError) as e:
        parse_model(text, "x.toml")
    msg = str(e.value)
    assert "x.toml" in msg and "'s3'" in msg and "k9" in msg and "t0" in msg


def test_hippius_model_file(request):
    m = load_model(request.config.rootpath / "fits/hippius/model.toml")
    assert m.compartments == ["s1", "s2", "s3", "s4", "s5"]
    assert m.free_species == ["s1", "s2", "s4", "s5"] and m.column_names == m.free_species
    assert m.parameters["k3"].min == 0.0  # rates default to positive
    assert m.parameters.free_names == ["b", "k3", "k4", "k5", "mu0", "sigma", "d1", "d2", "d3"]
    with jax.enable_x64(True):
        p = m.parameters.physical(jnp.asarray(m.parameters.theta0()))
        np.testing.assert_allclose(m.initial_populations(p), [0.5, 0, 0, 0, 0.5])
        K = np.asarray(m.rate_matrix(p))
    np.testing.assert_allclose(K[:, 0], [-9.49943878184853, 0.22 * 9.49943878184853,
                                         0.78 * 9.49943878184853, 0, 0], rtol=1e-14)


def test_weights_snap_to_nearest_grid_point(request):
    m = load_model(request.config.rootpath / "fits/hippius/model.toml")
    wl = np.array([548.6, 549.99, 551.4, 719.33, 720.68, 730.0])
    w = m.weight_map(0, np.array([0.0]), wl)[0]
    # 719.33 is the point nearest to 720 nm, so pyglotaran's interval includes it
    np.testing.assert_allclose(w, [0.1, 0.1, 1.0, 0.1, 0.1, 0.1])


def test_quick_scheme():
    m = TargetModel.from_scheme("sequential", [4, 75, 1e5], fix_lifetime=[3], irf_fwhm=0.12)
    assert m.parameters.free_names == ["tau1", "tau2", "irf_fwhm", "t0"]
    with pytest.raises(ModelError, match="only 3 lifetimes"):
        TargetModel.from_scheme("parallel", [4, 75, 1e5], fix_lifetime=[4])
    a = TargetModel.from_scheme("parallel", [1, 2])
    b = TargetModel.from_scheme("parallel", [3, 4])
    assert a.cache_key() == b.cache_key()  # start values do not force a recompile

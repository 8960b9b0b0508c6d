"""The package skeleton: x64 policy, dataset convention and its validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hotcarrier
from hotcarrier.dataset import check_ta, make_ta_dataset
from hotcarrier.errors import DatasetValidationError
from hotcarrier.physics.parameters import CLEAN, DEFECTIVE


def test_x64_context_does_not_leak():
    before = jax.config.jax_enable_x64
    with hotcarrier.x64():
        assert jnp.ones(1).dtype == jnp.float64
    assert jax.config.jax_enable_x64 == before


def test_check_ta_reports_every_problem_at_once():
    ds = make_ta_dataset([0.0, 1.0, 1.0], [500.0, 600.0], np.zeros((3, 2)), signal_units="bogus")
    ds["delay"].attrs["units"] = "fs"
    with pytest.raises(DatasetValidationError) as err:
        check_ta(ds)
    msg = str(err.value)
    assert "units='fs'" in msg and "duplicated delay" in msg and "units='bogus'" in msg


def test_valid_dataset_passes():
    ds = make_ta_dataset(np.linspace(-1, 10, 5), [500.0, 600.0], np.ones((5, 2)),
                         signal_units="mOD", attrs={"history": ["loaded"]})
    check_ta(ds)
    assert ds.attrs["history"] == "loaded"


def test_presets_reproduce_trap_numbers_of_spec_v10():
    # spec §8.1/§8.2 [C]: λ_clean 0.0707, λ_def 70.7, k1 1.559e9 s⁻¹
    assert CLEAN.mean_traps == pytest.approx(0.0707, rel=2e-3)
    assert DEFECTIVE.mean_traps == pytest.approx(70.7, rel=2e-3)
    assert CLEAN.k1_per_s == pytest.approx(1.559e9, rel=1e-3)
    assert float(np.exp(-CLEAN.mean_traps)) == pytest.approx(0.932, abs=5e-4)


def test_cli_compilation_cache_location_and_opt_out(tmp_path):
    from hotcarrier.cli import _use_compilation_cache

    env = {"XDG_CACHE_HOME": str(tmp_path)}
    _use_compilation_cache(env)
    from hotcarrier._source import source_digest

    # one folder per package source (the digest of every module: 64 hex digits)
    digest = source_digest()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "hotcarrier" / "jax" / digest[:16])
    env = {"HOTCARRIER_NO_COMPILE_CACHE": "1"}
    _use_compilation_cache(env)
    assert "JAX_COMPILATION_CACHE_DIR" not in env
    env = {"JAX_COMPILATION_CACHE_DIR": "/elsewhere"}
    _use_compilation_cache(env)
    assert env["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"

"""Numeric policy for the tests: float64, strict dtype promotion off, hypothesis without deadline."""

from pathlib import Path

import jax
import pytest
from hypothesis import settings

jax.config.update("jax_enable_x64", True)
settings.register_profile("jax", deadline=None, max_examples=50)
settings.load_profile("jax")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real TA data not found at {SHARED_DATA} (../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def one_rate_model():
    """Factory: A → B → ground with ONE lifetime ``tau`` for both steps (degenerate decay
    rates by construction: B(t) = k t e^{−kt} ⊗ IRF), Gaussian IRF (``mu``, ``sig``), ps."""
    import math

    from hotcarrier.target.model import (IRF, DatasetModel, Parameter, ParameterSet,
                                        TargetModel, Transfer)

    def make(tau=5.0, mu=0.1, sig=0.06):
        P = [Parameter("tau", tau, 0.0, math.inf, unit="ps"), Parameter("mu", mu),
             Parameter("sig", sig, 0.0, math.inf)]
        return TargetModel(compartments=["a", "b"],
                           transfers=[Transfer("a", "b", "1/tau"), Transfer("b", None, "1/tau")],
                           initial={"a": "1"}, parameters=ParameterSet(P),
                           datasets=[DatasetModel(irf=IRF("mu", "sig"))])

    return make

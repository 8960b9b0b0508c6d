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

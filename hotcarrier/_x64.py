"""Float64 policy.

hotcarrier's numbers span ~1e14 s⁻¹ to ~1e2 s⁻¹, so its JAX code is meant to run in float64.
``jax_enable_x64`` is process-global, so the package never flips it at import time:

* the command-line tool enables it for its own process;
* the public edge functions (``fit``, ``simulate``, ``predict_h2``, ...) run inside
  :func:`x64`, a context manager that enables float64 only for their own duration;
* code that embeds the pure JAX core in its own pipeline calls
  ``jax.config.update("jax_enable_x64", True)`` itself (or uses ``with hotcarrier.x64():``).
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["x64", "with_x64", "device_array"]


@contextlib.contextmanager
def x64():
    """Enable float64 in JAX for the duration of the ``with`` block only."""
    import jax  # lazily: reading files must not pay for importing JAX

    with jax.enable_x64(True):
        yield


def with_x64(fn):
    """Decorate a public edge function so that it runs with float64 enabled."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with x64():
            return fn(*args, **kwargs)

    return wrapper


def device_array(x, dtype=None):
    """A JAX array of the host data ``x`` (dtype canonicalised as by ``jnp.asarray``).

    ``jax.device_put`` of a NumPy array: ``jnp.asarray`` compiles a small copy program
    (``jit(stage)``, 15–25 ms with its lowering) for every new shape and dtype, five of them
    in a warm Hippius fit; this compiles nothing.
    """
    import jax
    import numpy as np

    if isinstance(x, jax.Array):  # already on a device (or a tracer): no copy
        return x if dtype is None else x.astype(dtype)
    return jax.device_put(np.asarray(x, dtype=dtype))

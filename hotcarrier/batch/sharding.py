"""Spreading a batch of independent fits over devices with ``jax.sharding``.

Every fit in a batch is independent, so the batch axis is split across the devices of a
one-dimensional mesh and each device runs ``vmap(fit)`` on its own slice with
``jax.shard_map`` (no communication). With a ``lax.while_loop`` solver this beats a plain
``jit`` with ``in_shardings``: each device stops when *its* fits have converged instead of
waiting for the slowest fit of the whole batch (see ``shared/jax-notes.md``). ``check_vma`` is
off because optax's ``value_and_grad_from_state`` fails the varying-manual-axes check.

One device (the usual single-CPU case) gives a plain ``jit(vmap(fit))``; the results of the
two paths agree to rounding (tested to 1e-10 with 8 forced host devices).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

__all__ = ["resolve_devices", "BatchMap", "BATCH_AXIS"]

BATCH_AXIS = "batch"


def resolve_devices(devices=None) -> list:
    """The devices a batch runs on.

    Parameters
    ----------
    devices : None, "all", int or sequence of jax.Device
        ``None``/``"all"``: every local device of the default backend (``jax.local_devices()``);
        an int ``n``: the first ``n`` of them; a sequence: exactly those devices.

    Returns
    -------
    list of jax.Device
    """
    local = jax.local_devices()
    if devices is None or (isinstance(devices, str) and devices == "all"):
        return list(local)
    if isinstance(devices, (int, np.integer)):
        n = int(devices)
        if not 1 <= n <= len(local):
            raise ValueError(f"devices={n}: {len(local)} local device(s) available "
                             f"({local[0].platform}); for more CPU devices set "
                             "XLA_FLAGS=--xla_force_host_platform_device_count=N before "
                             "importing jax")
        return list(local[:n])
    out = list(devices)
    if not out:
        raise ValueError("devices is an empty sequence")
    return out


class BatchMap:
    """``fn`` mapped over a leading batch axis, compiled once, on one or several devices.

    Parameters
    ----------
    fn : callable
        ``fn(*item_args) -> pytree`` for one item (no batch axis).
    devices : list of jax.Device
        From :func:`resolve_devices`.
    key : str, optional
        What ``fn`` depends on besides its arguments' shapes (a model's structure, static
        options). With one device the compiled program is then kept on disk like a single
        fit's (:func:`hotcarrier.fitting.compiled.compile_all`): a later process loads it
        instead of tracing and compiling. Without a key (or with several devices) it is an
        ordinary ``jax.jit``.

    Notes
    -----
    Call with arguments whose every leaf has the batch axis first; the batch size must be a
    multiple of ``len(devices)`` (the chunker pads). Calls return device arrays immediately
    (asynchronous dispatch), so the caller can prepare the next chunk meanwhile.
    """

    def __init__(self, fn: Callable, devices: Sequence, key: str | None = None):
        self.devices = list(devices)
        self.n_devices = len(self.devices)
        self.key = key if len(self.devices) == 1 else None
        vfn = jax.vmap(fn)
        if self.n_devices == 1:
            self.mesh = None
            self._sharding = jax.sharding.SingleDeviceSharding(self.devices[0])
            self._fn = jax.jit(vfn)
        else:
            self.mesh = jax.make_mesh((self.n_devices,), (BATCH_AXIS,),
                                      axis_types=(jax.sharding.AxisType.Auto,),
                                      devices=self.devices)
            spec = PartitionSpec(BATCH_AXIS)
            self._sharding = NamedSharding(self.mesh, spec)
            self._fn = jax.jit(jax.shard_map(vfn, mesh=self.mesh, in_specs=spec,
                                             out_specs=spec, check_vma=False))

    def put(self, tree):
        """Place host arrays (batch axis first) on the device(s), split along the batch."""
        return jax.device_put(tree, self._sharding)

    def __call__(self, *args):
        """Run the mapped function on placed (or host) arrays; returns device arrays."""
        if self.key is None:
            return self._fn(*args)
        from ..fitting.compiled import compiled

        return compiled(self._fn, "batch|" + self.key, *args)(*args)

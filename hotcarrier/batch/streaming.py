"""Streaming a batch through the compiled fitter in fixed-size chunks.

Items are pulled lazily from any iterable (a list, a generator, file paths loaded on demand),
grouped into chunks of ``chunk_size`` items, padded to that size (so every chunk reuses one
compiled program) and fitted; only the small per-item results are kept on the host. Peak
memory is therefore set by the chunk size, not by the number of items. While a chunk runs on
the device(s) (asynchronous dispatch), the next one is read and stacked on the host.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import numpy as np

__all__ = ["chunks", "pad_to", "TextProgress", "DEFAULT_CHUNK_SIZE"]

#: Default items per compiled call. jax 0.10.x dead-locked on 2 CPU cores in batched LAPACK
#: calls above ~512 items (jax-notes.md); the batch objective is LAPACK-free, but keeping
#: chunks ≤ 512 also bounds memory and gives regular progress updates.
DEFAULT_CHUNK_SIZE = 256


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items, pulled lazily from ``items``."""
    if size < 1:
        raise ValueError(f"chunk size {size} must be >= 1")
    it = iter(items)
    while True:
        block = list(islice(it, size))
        if not block:
            return
        yield block


def pad_to(items: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Stack equal-shape arrays along a new first axis, padded to ``n`` by repeating the first.

    One copy (no stack-then-concatenate). Repeating a real item (rather than zeros) keeps the
    padding numerically harmless: it converges like the item it copies and never adds
    iterations to the chunk.
    """
    first = np.asarray(items[0])
    out = np.empty((n, *first.shape), dtype=np.result_type(*items))
    for i, a in enumerate(items):
        out[i] = a
    out[len(items):] = first
    return out


class TextProgress:
    """A dependency-free progress bar written to a stream (stderr by default).

    Use as ``progress=TextProgress()`` in :func:`hotcarrier.batch.fit_batch`; it is called
    as ``progress(done, total, info)`` after every chunk (``total`` may be None for a
    generator of unknown length).
    """

    def __init__(self, stream=None, width: int = 30, label: str = "fit"):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.label = label
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int | None, info: dict | None = None) -> None:
        """Redraw the bar."""
        el = time.perf_counter() - self.t0
        info = info or {}
        conv = info.get("n_converged")
        tail = f" {conv}/{done} converged" if conv is not None else ""
        if total:
            f = done / total
            bar = "#" * int(round(f * self.width))
            eta = el / f - el if f > 0 else float("nan")
            line = (f"\r{self.label} [{bar:<{self.width}}] {done}/{total} "
                    f"{el:6.1f}s elapsed, ~{eta:5.0f}s left{tail}")
        else:
            line = f"\r{self.label} {done} items {el:6.1f}s{tail}"
        self.stream.write(line)
        if total and done >= total:
            self.stream.write("\n")
        self.stream.flush()

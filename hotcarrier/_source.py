"""A digest of the package's own Python sources (no JAX import): the key under which compiled
programs are kept between runs, so that a changed or upgraded package never loads, nor is
served, a program compiled from other sources."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

__all__ = ["source_digest"]


@cache
def source_digest() -> str:
    """SHA-256 (hex) of every ``*.py`` file of the package, names and contents."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()

"""Locate the data and fit files the project ships (``datasets/`` and ``fits/``).

In a wheel they are installed inside the package as ``hotcarrier/_bundled/{datasets,fits}``;
in a source checkout (editable install) they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

from .errors import HotcarrierError

__all__ = ["datasets_dir", "fits_dir", "dataset_path"]

_PKG = Path(__file__).resolve().parent


def _root(kind: str) -> Path:
    for cand in (_PKG / "_bundled" / kind, _PKG.parent / kind):
        if cand.is_dir():
            return cand
    raise HotcarrierError(
        f"the bundled {kind!r} folder was not found next to the package ({_PKG}); "
        "reinstall hotcarrier from a complete source tree (pip install .)"
    )


def datasets_dir() -> Path:
    """Folder of the bundled datasets."""
    return _root("datasets")


def fits_dir() -> Path:
    """Folder of the bundled model files and saved fits."""
    return _root("fits")


def dataset_path(name: str) -> Path:
    """Path of one bundled dataset file, e.g. ``dataset_path("au_cds_clean.nc")``."""
    p = datasets_dir() / name
    if not p.exists():
        avail = sorted(x.name for x in datasets_dir().iterdir() if x.suffix == ".nc")
        raise HotcarrierError(f"no bundled dataset {name!r}; available: {avail}")
    return p

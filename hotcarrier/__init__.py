"""hotcarrier: ultrafast carrier dynamics in plasmonic metal–semiconductor nanocrystals.

Float64: the package does not change JAX's global settings at import; see
:mod:`hotcarrier._x64` (``hotcarrier.x64()`` is a context manager enabling float64).
Importing the package imports neither JAX nor NumPy/xarray; the names below load their modules
on first use.
The entry point is ``hotcarrier.fit(data, model)`` for a target or a physical model.
"""

from __future__ import annotations

import importlib

from ._x64 import x64
from .errors import DataFormatError, HotcarrierError

__version__ = "0.1.0"

_LAZY = {
    "check_ta": "hotcarrier.dataset",
    "make_ta_dataset": "hotcarrier.dataset",
    "load_ta": "hotcarrier.io",
    "save_ta": "hotcarrier.io",
    "preprocess": "hotcarrier.preprocess",
    "predict_h2": "hotcarrier.h2",
    "h2_ratio": "hotcarrier.h2",
    "fit": "hotcarrier.api",
    "model_kind": "hotcarrier.api",
    "FitResult": "hotcarrier.fitting.result",
    "TargetModel": "hotcarrier.target.model",
    "load_model": "hotcarrier.api",
    "PhysicalModel": "hotcarrier.physics.modelfile",
    "fit_batch": "hotcarrier.batch",
    "choose_model": "hotcarrier.analysis.choice",
    "bundled": "hotcarrier.bundled",
    "InterfaceParams": "hotcarrier.physics.parameters",
    "lifetime_density": "hotcarrier.analysis",
    "residual_svd": "hotcarrier.analysis",
}

__all__ = ["x64", "DataFormatError", "HotcarrierError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        mod = importlib.import_module(_LAZY[name])
        return getattr(mod, name) if hasattr(mod, name) else mod
    raise AttributeError(f"module 'hotcarrier' has no attribute {name!r}")

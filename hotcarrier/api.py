"""The package's front door: ``fit(data, model)`` for every kind of model.

A model is a target/global-analysis model (:class:`~hotcarrier.target.model.TargetModel`,
or a TOML model file) or the hot-carrier physical model (a model file with
``[model] type = "hotcarrier"``, or :class:`~hotcarrier.physics.modelfile.PhysicalModel`).
Both are fitted by the one engine of :mod:`hotcarrier.fitting` and return a
:class:`~hotcarrier.fitting.result.FitResult`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import ModelError

__all__ = ["fit", "load_model", "model_kind"]


def model_kind(model) -> str:
    """``"physical"`` or ``"target"`` for a model object or model-file path (a path is read
    as TOML: ``[model] type = "hotcarrier"`` is physical; nothing is imported for it)."""
    if isinstance(model, (str, Path)):
        from .target.modelfile import is_physical_model_file

        return "physical" if is_physical_model_file(model) else "target"
    physics = sys.modules.get("hotcarrier.physics.modelfile")  # its objects exist only then
    if physics is not None and isinstance(model, physics.PhysicalModel):
        return "physical"
    return "target"


def _check_model_path(path) -> None:
    if not isinstance(path, (str, Path)) or not str(path):
        raise ModelError(f"model {path!r}: give the path of a TOML model file")
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{path}: model file not found; give the path of a TOML model file "
                         "(docs/model-file.md)")
    if not p.is_file():
        raise ModelError(f"{path}: not a regular file (a folder, pipe or device); give the path "
                         "of a TOML model file (docs/model-file.md)")


def load_model(path):
    """Read a TOML model file of either kind (target or physical); raises ModelError."""
    _check_model_path(path)
    if model_kind(path) == "physical":
        from .physics.modelfile import PhysicalModel

        return PhysicalModel.from_toml(path)
    from .target.modelfile import load_target_model

    return load_target_model(path)


def fit(data, model, **options):
    """Fit ``model`` to ``data`` and return the result.

    Parameters
    ----------
    data : xarray.Dataset, path, or a list of them
        TA data (for the physical model: the sample traces and the calibration reference,
        or a bundle file holding them).
    model : TargetModel, PhysicalModel, or path to a TOML model file
    **options
        Passed to the model's fit (:func:`hotcarrier.target.fit.fit_target` or
        :func:`hotcarrier.physics.fit.fit_physical`).

    Returns
    -------
    FitResult
    """
    from .physics.modelfile import PhysicalModel
    from .target.model import TargetModel

    if not isinstance(model, (str, Path, TargetModel, PhysicalModel)):
        raise ModelError(f"model must be a TargetModel, a PhysicalModel or the path of a TOML "
                         f"model file, not {type(model).__name__}")
    if isinstance(model, (str, Path)):
        _check_model_path(model)
    if model_kind(model) == "physical":
        from .physics.fit import as_datasets, fit_physical

        spec = model if isinstance(model, PhysicalModel) else load_model(model)
        _check_options(fit_physical, options)
        return fit_physical(as_datasets(data), spec, **options)
    from .target.fit import fit_target

    _check_options(fit_target, options)
    return fit_target(data, model, **options)


def _check_options(func, options: dict) -> None:
    """Unknown keywords and a bad ``max_iter`` raise OptionError before anything runs."""
    import inspect

    from .errors import OptionError
    from .target.modelfile import did_you_mean

    known = [k for k, p in list(inspect.signature(func).parameters.items())[2:]
             if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for k in options:
        if k not in known:
            raise OptionError(f"fit: unknown option {k!r}{did_you_mean(k, known)} (options: "
                              f"{', '.join(known)})")
    mi = options.get("max_iter")
    if mi is not None and (isinstance(mi, bool) or not isinstance(mi, int) or mi < 1):
        raise OptionError(f"fit: max_iter = {mi!r}: expected a whole number >= 1")

"""Error and warning types of hotcarrier.

Every problem a user can cause (a bad file, a bad model file, a fit that cannot run) is raised
as a :class:`HotcarrierError`; the command-line interface turns it into one message and exit
code 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "ConvergenceWarning",
    "DataFormatError",
    "DatasetValidationError",
    "FitError",
    "FitResultError",
    "HotcarrierError",
    "HotcarrierWarning",
    "LifetimeWarning",
    "ModelChoiceWarning",
    "ModelError",
    "NonlinearRegimeWarning",
    "OptionError",
    "ParameterAtBoundWarning",
    "ParameterNameError",
    "SignalUnitWarning",
    "SpectrumError",
    "warn_caller",
]


class HotcarrierError(Exception):
    """Base class for errors caused by input (files, models, options)."""


class DataFormatError(HotcarrierError, ValueError):
    """A file cannot be read as TA data.

    Parameters
    ----------
    path : str or Path or None
        The file (named in the message).
    problem : str
        What is wrong.
    fix : str, optional
        What the user can do about it.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path else ""
        msg = f"{where}{problem}"
        if fix:
            msg += f"\n  fix: {fix}"
        super().__init__(msg)


class DatasetValidationError(HotcarrierError, ValueError):
    """A TA dataset object breaks the convention; lists every problem at once."""

    def __init__(self, problems: Iterable[str], name: str | None = None):
        self.problems = list(problems)
        head = f"TA dataset {name!r}" if name else "TA dataset"
        super().__init__(
            f"{head} is not valid ({len(self.problems)} problem(s)):\n  - "
            + "\n  - ".join(self.problems)
        )


class ModelError(HotcarrierError, ValueError):
    """A kinetic or physical model (or its TOML file) is inconsistent."""


class ParameterNameError(ModelError, KeyError):
    """An unknown parameter or preset name (also a ``KeyError``: it is a failed look-up)."""

    __str__ = Exception.__str__  # the message as written, not KeyError's quoted repr


class OptionError(HotcarrierError, ValueError):
    """An argument or command-line option has a value outside its allowed choices or range."""


class SpectrumError(HotcarrierError, ValueError):
    """An illumination spectrum (argument or file) cannot be used (H2 model, spec §9.3)."""


class FitResultError(HotcarrierError, ValueError):
    """A fit (folder, ``summary.json`` or ``result.nc``) cannot be used as H2-model input."""


class FitError(HotcarrierError, RuntimeError):
    """A fit cannot proceed (NaN, divergence, no free parameters, ...)."""


class HotcarrierWarning(UserWarning):
    """Base class for physics and fit warnings."""


class ParameterAtBoundWarning(HotcarrierWarning):
    """A fitted parameter ended within 1 % of one of its bounds."""


class NonlinearRegimeWarning(HotcarrierWarning):
    """Excitation outside the linear regime (spec section 6.5 / 9.5)."""


class SignalUnitWarning(HotcarrierWarning):
    """A signal read as OD is implausibly large (most likely mOD); the message names the
    override (``signal_units='mOD'``, CLI ``--signal-units mOD``)."""


class ConvergenceWarning(HotcarrierWarning):
    """A fit stopped at its iteration cap without meeting its criterion."""


class LifetimeWarning(HotcarrierWarning):
    """A fitted lifetime the data cannot support: far below the instrument response or the
    first fitted delay, far beyond the measured window, or collapsed onto another one."""


def warn_caller(message: str, category: type[Warning] = HotcarrierWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside the hotcarrier package (the
    user's line, not a decorator or an inner module)."""
    import os
    import sys
    import warnings

    pkg = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2  # stacklevel 1 is this function
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class ModelChoiceWarning(HotcarrierWarning):
    """Φ_inj moves across plausible decay models more than its statistical error."""

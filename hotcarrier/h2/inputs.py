"""One catalyst as input to the H2 model (a leaf module used by :mod:`.load` and :mod:`.ratio`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..physics.parameters import InterfaceParams

__all__ = ["Z95", "H2Inputs"]

Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution, –."""


@dataclass(frozen=True)
class H2Inputs:
    """One catalyst for the H2 model.

    ``params``: the parameter set (fitted values merged onto a preset); ``phi_inj``: fitted
    gross injection yield at ``params.hbar_omega_eV`` (None → model value); ``names``: the
    uncertain quantities (InterfaceParams fields or ``"phi_inj"``) with covariance ``cov`` in
    the field-name units; ``source``: preset name or file; ``notes``: remarks for the report.
    """

    params: InterfaceParams
    phi_inj: float | None = None
    names: tuple = ()
    cov: np.ndarray | None = None
    source: str = ""
    notes: tuple = field(default=(), compare=False)

    @property
    def has_uncertainty(self) -> bool:
        """True if a usable covariance is attached."""
        return self.cov is not None and len(self.names) > 0

    def values(self) -> np.ndarray:
        """Current values of ``names`` (float64, in field-name units)."""
        return np.array([self.phi_inj if n == "phi_inj" else float(getattr(self.params, n))
                         for n in self.names], dtype=float)

"""One catalyst as input to the H2 model: a parameter set, an optional fitted Φ_inj, covariance.

A leaf module (imports only the parameter set), so that the loader (:mod:`.load`) and the ratio
(:mod:`.ratio`) both use :class:`H2Inputs` without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..physics.parameters import InterfaceParams

__all__ = ["Z95", "H2Inputs"]

Z95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal distribution, –."""


@dataclass(frozen=True)
class H2Inputs:
    """One catalyst for the H2 model: parameters, optional fitted Φ_inj and covariance.

    Attributes
    ----------
    params : InterfaceParams
        Parameter set (fitted values merged onto a preset).
    phi_inj : float or None, –
        Fitted gross injection yield at ``params.hbar_omega_eV``; None → model value.
    names : tuple of str
        Uncertain quantities: InterfaceParams field names or ``"phi_inj"``.
    cov : ndarray or None
        Covariance of ``names`` in their own units (field-name units).
    source : str
        Where the set came from (preset name or file).
    notes : tuple of str
        Remarks for the report (e.g. which slow parameters were left at preset values).
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

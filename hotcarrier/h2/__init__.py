"""Photocatalytic H2 evolution of Au@CdS particles (spec §9): QE, rate, clean/defective ratio.

Curated API::

    predict_h2(params, spectrum=None, *, phi_inj=None, photon_balance=None, ...) -> H2Prediction
    h2_ratio(clean="clean", defective="defective", *, spectrum=None, uncertainty="both", ...)
    sensitivity(clean, defective) -> dict          # §9.4 table, elasticities, Λ note
    ratio_sweep(field, values, clean, defective, which="defective") -> ndarray
    plot_ratio(path, clean, defective)             # ratio vs Λ and vs N_it,def (matplotlib)
    load_fit(path, base="clean") -> H2Inputs       # summary.json / result.nc of `hotcarrier fit`
    with_prior(inputs, name, value, stderr)        # a user-supplied uncertainty (slow params)
    spectra: monochromatic, led, lamp, from_file, parse_spectrum; PhotonBalance

Modules (lower layers first): ``illumination`` (spectra, absorption split), ``markov`` (fate
of one electron), ``rate`` (QE, photon balance), ``inputs`` (H2Inputs), ``load`` (fits →
inputs), ``ratio`` (ratio, uncertainty, sensitivity), ``plot``. The Poisson average over the
trap count is :mod:`hotcarrier.physics.traps`; errors live in :mod:`hotcarrier.errors`.

See ``docs/h2.md`` for the model, its assumptions and a worked example.
"""

from ..errors import FitResultError, SpectrumError
from .illumination import (
                           SimpleAbsorption,
                           Spectrum,
                           TabulatedAbsorption,
                           from_file,
                           lamp,
                           led,
                           monochromatic,
                           parse_spectrum,
)
from .inputs import H2Inputs
from .load import load_fit
from .plot import plot_ratio, ratio_vs_trap_density
from .rate import (
                           H2Prediction,
                           PhotonBalance,
                           particles_per_gram,
                           predict_h2,
                           single_charge_occupancy,
)
from .ratio import (
                           H2Ratio,
                           h2_ratio,
                           lambda_composite,
                           ratio_sweep,
                           sensitivity,
                           with_prior,
)

__all__ = [
                           "FitResultError",
                           "H2Inputs",
                           "H2Prediction",
                           "H2Ratio",
                           "PhotonBalance",
                           "SimpleAbsorption",
                           "Spectrum",
                           "SpectrumError",
                           "TabulatedAbsorption",
                           "from_file",
                           "h2_ratio",
                           "lambda_composite",
                           "lamp",
                           "led",
                           "load_fit",
                           "monochromatic",
                           "parse_spectrum",
                           "particles_per_gram",
                           "plot_ratio",
                           "predict_h2",
                           "ratio_sweep",
                           "ratio_vs_trap_density",
                           "sensitivity",
                           "single_charge_occupancy",
                           "with_prior",
]

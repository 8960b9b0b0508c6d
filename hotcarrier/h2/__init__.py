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
Names load lazily, like :mod:`hotcarrier.physics`. See ``docs/h2.md`` for the model.
"""

_EXPORTS = {
    "FitResultError": "..errors",
    "SpectrumError": "..errors",
    "SimpleAbsorption": ".illumination",
    "Spectrum": ".illumination",
    "TabulatedAbsorption": ".illumination",
    "from_file": ".illumination",
    "lamp": ".illumination",
    "led": ".illumination",
    "monochromatic": ".illumination",
    "parse_spectrum": ".illumination",
    "H2Inputs": ".inputs",
    "load_fit": ".load",
    "plot_ratio": ".plot",
    "ratio_vs_trap_density": ".plot",
    "H2Prediction": ".rate",
    "PhotonBalance": ".rate",
    "particles_per_gram": ".rate",
    "predict_h2": ".rate",
    "single_charge_occupancy": ".rate",
    "H2Ratio": ".ratio",
    "h2_ratio": ".ratio",
    "lambda_composite": ".ratio",
    "ratio_sweep": ".ratio",
    "sensitivity": ".ratio",
    "with_prior": ".ratio",
}


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

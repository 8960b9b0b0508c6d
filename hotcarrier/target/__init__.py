"""Global and target analysis: the kinetic model, its model file, objective and fit.

* :mod:`~hotcarrier.target.model` — :class:`TargetModel` (compartments, transfers, IRF, spectra);
* :mod:`~hotcarrier.target.modelfile` — the TOML model file;
* :mod:`~hotcarrier.target.objective` — variable-projection objective of a target model;
* :mod:`~hotcarrier.target.fit` — ``fit_target(data, model) -> FitResult``.
"""

__all__: list[str] = []

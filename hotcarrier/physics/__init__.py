"""The hot-carrier physical model of Au@CdS (see docs/physics.md).

Lazy exports (importing this package does not import JAX):

* :func:`injection_quantum_yield` — Φ_inj of an :class:`InterfaceParams` (spec §5.4);
* :func:`populations` — IRF-convolved, Poisson-averaged (H, C, T, L) (spec §5.3, §8.4);
* :func:`simulate_bundle` — synthetic TA data; :func:`fit_physical_model_file` — fits;
* :func:`demo_fits` — fit the bundled clean/defective datasets → [(name, Φ_inj, ci95)]
  (:func:`demo_results`: the FitResults).
"""

_EXPORTS = {
    "injection_quantum_yield": "injection",
    "populations": "linear",
    "simulate_bundle": "simulate",
    "fit_physical": "fit",
    "fit_physical_model_file": "fit",
    "demo_fits": "fit",
    "demo_results": "fit",
    "PhysicalModel": "modelfile",
    "is_physical_model_file": "modelfile",
    "InterfaceParams": "parameters",
    "CLEAN": "parameters",
    "DEFECTIVE": "parameters",
}


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)

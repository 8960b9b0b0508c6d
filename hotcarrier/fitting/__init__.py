"""Numerics shared by every model: parameters and transforms, variable projection, the
optimisers, uncertainties and the one fit result (arrays in, arrays out, except the result).

* :mod:`~hotcarrier.fitting.params` — parameters, expressions, the bounded transform;
* :mod:`~hotcarrier.fitting.projection` — QR, Golub–Pereyra Jacobian, linear least squares;
* :mod:`~hotcarrier.fitting.optimize` — optax L-BFGS and one jitted Levenberg–Marquardt;
* :mod:`~hotcarrier.fitting.uncertainty` — Gauss–Newton covariance, delta method, profiles;
* :mod:`~hotcarrier.fitting.result` — :class:`FitResult` and its ``summary.json`` schema.
"""

__all__: list[str] = []

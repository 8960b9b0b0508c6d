"""``fit-many`` flags suspicious items for a refit with the single-fit engine of ``fit``."""

import numpy as np
import xarray as xr

from hotcarrier.commands.fit_many import suspicious


def _batch(values, stderr, converged):
    pn = ["tau1", "tau2", "tau3", "irf_fwhm", "t0"]
    n = len(values)
    return xr.Dataset(
        {"value": (("batch", "param"), np.asarray(values, float)),
         "stderr": (("batch", "param"), np.asarray(stderr, float)),
         "converged": (("batch",), np.asarray(converged, bool)),
         "status": (("batch",), np.where(np.asarray(converged, bool), 0, 2)),
         "error": (("batch",), np.array([""] * n))},
        coords={"param": pn, "free_param": ["tau1", "tau2", "irf_fwhm", "t0"]})


def test_suspicious_items():
    ds = _batch([[4.0, 70.0, 1.8e5, 0.12, 0.0],      # fine (τ3 fixed: never flagged)
                 [0.78, 0.781, 1.8e5, 0.12, 0.0],    # collapsed
                 [2e-21, 70.0, 1.8e5, 0.12, 0.0],    # far below the IRF
                 [4.0, 70.0, 1.8e5, 0.12, 0.0]],     # not converged
                [[0.1, 2.0, np.nan, 0.01, 0.01], [0.1, 0.1, np.nan, 0.01, 0.01],
                 [np.nan, 2.0, np.nan, 0.01, 0.01], [0.1, 2.0, np.nan, 0.01, 0.01]],
                [True, True, True, False])
    assert suspicious(ds, 0, "sequential") == []
    assert "collapsed" in suspicious(ds, 1, "sequential")[0]
    why = suspicious(ds, 2, "sequential")
    assert "far below the instrument response" in why[0] and "tau1 has no standard error" in why
    assert suspicious(ds, 3, "sequential") == ["not converged"]
    assert suspicious(ds, 1, None) == []  # a target model: only convergence is judged
    ds["status"].values[3] = 10  # too few usable data points: a refit cannot help
    assert suspicious(ds, 3, "sequential") == []

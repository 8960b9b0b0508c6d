"""A run-away parameter stops the fit early (status 6), and a converging fit is untouched.

The maps are numpy-made (exp ⊗ Gaussian IRF, written out with erfc here) on 40 delays × 15
wavelengths. The run-away map holds two decays (3 ps, 150 ps) and a slow linear *rise* that
no decaying exponential describes: a third lifetime started at 1 ns walks off towards ∞
(together with a collapsing IRF width) while the cost creeps down by ~1e-7 of itself per
iteration — without the early stop the optimiser spends over a thousand iterations on it.
The converging map holds three real decays (3, 150, 800 ps) and is fitted with the same model
structure (one compiled program for every fit here).
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.special import erfc

from hotcarrier import fit
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ConvergenceWarning
from hotcarrier.fitting.optimize import RUNAWAY, STATUS_MESSAGES
from hotcarrier.target.model import TargetModel

T = np.concatenate([np.linspace(-0.5, 1.0, 10), np.geomspace(1.2, 1800.0, 30)])  # ps
WL = np.linspace(450.0, 700.0, 15)  # nm
FWHM = 0.1  # ps
NOISE = 2e-4  # OD
CAP = 2000


def _band(center, amp):
    return amp * np.exp(-0.5 * ((WL - center) / 40.0) ** 2)


def _decay(tau):
    """exp(−t/τ) for t ≥ 0 convolved with a unit-area Gaussian of FWHM ``FWHM``."""
    s = FWHM / (2 * math.sqrt(2 * math.log(2)))
    return 0.5 * np.exp(-T / tau + s**2 / (2 * tau**2)) * erfc(-(T - s**2 / tau)
                                                               / (math.sqrt(2) * s))


def _map(extra, seed=0):
    sig = (_decay(3.0)[:, None] * _band(500, 1e-2)[None]
           + _decay(150.0)[:, None] * _band(620, -8e-3)[None] + extra)
    sig = sig + np.random.default_rng(seed).normal(0, NOISE, sig.shape)
    return make_ta_dataset(T, WL, sig, signal_units="OD")


RISE = (np.clip(T, 0, None) / T.max())[:, None] * _band(560, 3e-3)[None]  # no decay fits it
THIRD = _decay(800.0)[:, None] * _band(560, 6e-3)[None]


def _model():
    return TargetModel.from_scheme("parallel", [3.0, 150.0, 1000.0], irf_fwhm=FWHM, t0=0.0)


@pytest.fixture(scope="module")
def runaway_map():
    return _map(RISE)


def _fit_recording(*args, **kw):
    """(result, [(warning class, message)]) of :func:`hotcarrier.fit`."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = fit(*args, **kw)
    return res, [(w.category, str(w.message)) for w in rec]


@pytest.fixture(scope="module")
def stopped(runaway_map):
    return _fit_recording(runaway_map, _model(), max_iter=CAP)


@pytest.fixture(scope="module")
def crept(runaway_map):
    """The same fit without the early stop (the optimiser before it existed)."""
    return _fit_recording(runaway_map, _model(), max_iter=CAP, runaway_ftol=0.0)[0]


def test_runaway_stops_early_with_the_reason(stopped, crept):
    res, warned = stopped
    s, s0 = res.summary(), crept.summary()
    # without the stop: over a thousand iterations of creeping (measured 1262, status 4)
    assert s0["n_iterations"] > 1000 and not s0["converged"]
    assert s["status"] == RUNAWAY and not s["converged"] and not res.converged
    assert s["n_iterations"] <= 150  # measured 95
    assert s["n_iterations"] < s0["n_iterations"] / 5
    # the walk bought nothing: χ² changes by far less than 1 (Δχ² = 2Δcost/σ²)
    assert 0 <= 2 * (s["cost"] - s0["cost"]) / NOISE**2 < 0.1
    # the reason names the parameter, its value in natural units, the window, what to do
    assert s["runaway"][0] == "tau3"
    msg = s["message"]
    assert msg != STATUS_MESSAGES[RUNAWAY]
    tau3 = s["parameters"]["tau3"]["value"]
    assert tau3 > 1e3 * T.max()
    assert "tau3 = " in msg and "ran past the 1.8 ns delay window" in msg
    assert "fix it" in msg and "drop the component" in msg
    assert any(c is ConvergenceWarning and msg in w for c, w in warned)
    assert msg in repr(res) and "NOT converged" in repr(res)
    # the two decays the data hold are still where they were when it stopped
    assert s["lifetimes_ps"][:2] == pytest.approx(s0["lifetimes_ps"][:2], rel=1e-3)


def test_converging_fit_is_unchanged_by_the_stop():
    ds = _map(THIRD, seed=1)
    on, warned = _fit_recording(ds, _model(), max_iter=CAP)
    off = fit(ds, _model(), max_iter=CAP, runaway_ftol=0.0)
    assert warned == []
    a, b = on.summary(), off.summary()
    assert a["converged"] and a["status"] == b["status"]
    assert a["n_iterations"] == b["n_iterations"] and a["cost"] == b["cost"]
    assert "runaway" not in a
    # and the fit finds the simulated lifetimes (within 3 standard errors)
    for name, true in (("tau1", 3.0), ("tau2", 150.0), ("tau3", 800.0)):
        p = a["parameters"][name]
        assert abs(p["value"] - true) < 3 * p["stderr"], (name, p)


@pytest.mark.slow  # compiles the batch (Levenberg–Marquardt under vmap) program: ~8 s
def test_batch_item_stops_early_and_is_suspicious(runaway_map):
    from hotcarrier.batch import fit_batch
    from hotcarrier.commands.fit_many import suspicious

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = fit_batch(_model(), [runaway_map, _map(THIRD, seed=1)], names=["rise", "three"],
                       max_iter=CAP)
    status, n_iter = ds["status"].values, ds["n_iter"].values
    assert status[0] == RUNAWAY and not ds["converged"].values[0]
    assert n_iter[0] <= 100  # measured 47 (before: status 1 "converged" after 204, τ3 ≈ 7e11 ps)
    assert ds["converged"].values[1]
    msgs = json.loads(ds.attrs["status_messages"])
    assert msgs[str(RUNAWAY)] == STATUS_MESSAGES[RUNAWAY]
    why = suspicious(ds, 0, "parallel")
    assert why and why[0].startswith("not converged") and "ran away" in why[0]
    assert suspicious(ds, 1, "parallel") == []


def test_cli_prints_the_runaway(runaway_map, tmp_path, capsys):
    from hotcarrier.cli import main
    from hotcarrier.io import save_ta

    data = save_ta(runaway_map, tmp_path / "rise.nc")
    out = tmp_path / "fit"
    with warnings.catch_warnings(record=True) as rec:  # the CLI prints them on stderr
        warnings.simplefilter("always")
        rc = main(["fit", str(data), "--scheme", "parallel", "--lifetimes", "3,150,1000",
                   "--irf-fwhm", str(FWHM), "--out", str(out), "--no-figure", "--no-report",
                   "--no-netcdf"])
    assert rc == 3  # a fit that ran but did not converge: written for inspection, not a result
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == RUNAWAY and s["converged"] is False and s["runaway"] == ["tau3"]
    assert "ran past the 1.8 ns delay window" in s["message"]
    printed = capsys.readouterr()
    assert "NOT converged" in printed.out and "ran past the 1.8 ns delay window" in printed.out
    assert any(issubclass(w.category, ConvergenceWarning) and s["message"] in str(w.message)
               for w in rec)


def test_runaway_message_in_natural_units():
    from hotcarrier.fitting.result import runaway_message

    # a rate heading for 0 is a lifetime past the window: 1/(1/2100 ps⁻¹) = 2.1 ns
    m = runaway_message("k3", 1 / 2100.0, "1/ps", 0.0, n_iterations=60, window_ps=1800.0)
    assert "k3 → 1/k3 = 2.1 ns ran past the 1.8 ns delay window" in m
    assert "after 60 iterations" in m and "drop the component" in m
    # a lifetime heading for its bound 0 collapses under the IRF (FWHM 120 fs)
    m = runaway_message("tau1", 2e-4, "ps", 0.0, n_iterations=80, window_ps=1800.0,
                        irf_fwhm_ps=0.12)
    assert "tau1 = 0.2 fs collapsed towards zero, far below the instrument response " \
           "(FWHM 120 fs)" in m and "coherent-artefact" in m
    # a rate heading for ∞ is a collapsing lifetime too
    m = runaway_message("k1", 5e3, "1/ps", math.inf, n_iterations=80, irf_fwhm_ps=0.12)
    assert "k1 → 1/k1 = 0.2 fs collapsed towards zero" in m
    # anything else: its value and the bound it ran to
    m = runaway_message("irf_fwhm", 3e-6, "ps", 0.0, n_iterations=80, component=False)
    assert "irf_fwhm = 0.003 fs ran towards its bound 0 ps" in m


def test_fit_many_lists_a_stopped_item_for_its_refit():
    import xarray as xr

    from hotcarrier.commands.fit_many import suspicious

    pn = ["tau1", "tau2", "tau3", "irf_fwhm", "t0"]
    ds = xr.Dataset(
        {"value": (("batch", "param"), [[3.1, 190.0, 3.4e17, 1e-4, 0.0]]),
         "stderr": (("batch", "param"), [[0.01, 1.0, np.nan, np.nan, 1e-3]]),
         "converged": (("batch",), [False]), "status": (("batch",), [RUNAWAY]),
         "error": (("batch",), np.array([""]))},
        coords={"param": pn, "free_param": pn})
    why = suspicious(ds, 0, "parallel")
    assert why[0] == f"not converged: {STATUS_MESSAGES[RUNAWAY]}"
    assert "tau3 has no standard error" in why

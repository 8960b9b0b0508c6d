"""The adversarial cases of ``tests/adversarial.py`` kept as tests (issue 14), and the
mechanisms behind them: output sets, the non-finite rule, the signal-size warning.

Every case must end in a clear error (a HotcarrierError; on the command line exit code 2
with one message) or the correct result; never a traceback, a silent wrong answer, a mixed
output folder, a hang or a memory blow-up. Cases that fit or start several processes are
``slow``; the default run keeps one SIGKILL-interrupted write and one concurrency case.
"""

import json
import math
import os

import numpy as np
import pytest

import adversarial as adv
from hotcarrier.errors import FitError, FitResultError, HotcarrierError, SignalUnitWarning

CASES = adv.all_cases(slow=True)


def _param(case):
    marks = [pytest.mark.slow] if case.slow else []
    return pytest.param(case, id=case.id, marks=marks)


def test_generator_covers_the_issue():
    """≥ 300 cases over the seven categories of issue 14."""
    assert len(CASES) >= 300
    counts = {c: sum(case.category == c for case in CASES) for c in adv.CATEGORIES}
    assert all(n >= 10 for n in counts.values()), counts


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case, tmp_path):
    outcome, detail = adv.classify(case, tmp_path)
    expected = "clear error" if case.expect == "error" else "correct result"
    if case.expect is adv.valid_or_error or case.error_ok:  # refused, or read correctly
        assert outcome in adv.GOOD, f"{outcome}: {detail}"
    else:
        assert outcome == expected, f"{outcome}: {detail}"


# ---------------------------------------------------------------------- output sets

def test_output_set_replaces_the_previous_set_and_stale_files(tmp_path):
    from hotcarrier.io.atomic import MANIFEST, check_output_set, output_set

    out = tmp_path / "out"
    with output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("1")
        (stage / "fig.png").write_bytes(b"old figure")
    (out / "user.txt").write_text("not ours")  # never touched
    with output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("2")
    doc = check_output_set(out)
    assert sorted(doc["files"]) == ["a.txt"] and (out / "a.txt").read_text() == "2"
    assert not (out / "fig.png").exists() and (out / "user.txt").read_text() == "not ours"
    assert sorted(p.name for p in out.iterdir()) == sorted([".hotcarrier.lock", MANIFEST,
                                                            "a.txt", "user.txt"])


def test_output_set_failure_keeps_the_previous_set(tmp_path):
    from hotcarrier.io.atomic import check_output_set, output_set

    out = tmp_path / "out"
    with output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("2")
        raise RuntimeError("the run failed while writing")
    assert check_output_set(out) and (out / "a.txt").read_text() == "1"
    assert [p.name for p in out.iterdir() if "staging" in p.name] == []


def test_output_set_interrupted_while_moving_is_refused(tmp_path, monkeypatch):
    """A run killed between the moves (here: the second os.replace fails) leaves a manifest
    marked incomplete; the reader refuses the folder rather than mixing two runs."""
    from hotcarrier.io import atomic
    from hotcarrier.io.atomic import check_output_set, output_set

    out = tmp_path / "out"
    with output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("1")
        (stage / "b.txt").write_text("1")
    real, calls = os.replace, []

    def dying_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # manifest (incomplete), a.txt, then b.txt dies
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt), output_set(out, command="t") as stage:
        (stage / "a.txt").write_text("2")
        (stage / "b.txt").write_text("2")
    monkeypatch.setattr(atomic.os, "replace", real)
    assert (out / "a.txt").read_text() == "2" and (out / "b.txt").read_text() == "1"
    with pytest.raises(FitResultError, match="incomplete output set"):
        check_output_set(out)


def test_output_set_detects_a_changed_file(tmp_path):
    from hotcarrier.io.atomic import check_output_set, output_set

    out = tmp_path / "out"
    with output_set(out, command="t") as stage:
        (stage / "summary.json").write_text('{"a": 1}')
    (out / "summary.json").write_text('{"a": 2}')
    with pytest.raises(FitResultError, match="does not match"):
        check_output_set(out)


def test_output_location_is_checked_before_work(tmp_path):
    from hotcarrier.errors import OptionError
    from hotcarrier.io.atomic import check_output_folder

    (tmp_path / "f").write_text("x")
    for bad in ("f", "f/sub", ""):
        with pytest.raises(OptionError):
            check_output_folder(tmp_path / bad if bad else bad)


# ------------------------------------------------------------------- non-finite rule

def _summary(cost, value, status=0):
    from hotcarrier.fitting.result import build_summary, parameter_entry
    from hotcarrier.fitting.uncertainty import CovarianceResult  # noqa: F401  (type only)

    class Cov:
        dof, condition = 10, 1.0

    return build_summary(model={"type": "target", "name": "m", "file": "m.toml"}, status=status,
                         n_iterations=3, n_evaluations=4, wall_time_s=0.1, fit_time_s=0.1,
                         optimizer="x", criterion="x", cost=cost, n_data=12, n_amplitudes=1,
                         covariance=Cov(),
                         parameters={"k": parameter_entry(value, 0.1, "1/ps", min=0.0)},
                         datasets=["d"])


@pytest.mark.parametrize(("cost", "value"), [(math.nan, 1.0), (math.inf, 1.0), (1.0, math.nan)])
def test_non_finite_fit_is_never_converged_nor_written(tmp_path, cost, value):
    import xarray as xr

    from hotcarrier.fitting.result import FitResult

    s = _summary(cost, value)
    assert s["converged"] is False and s["status"] == 3
    with pytest.raises(FitError, match="not finite"):
        FitResult(xr.Dataset(), s).write(tmp_path / "out", figure=False)
    assert not (tmp_path / "out").exists()


def test_unconverged_results_are_refused_downstream(tmp_path):
    from hotcarrier.fitting.result import FitResult
    from hotcarrier.h2 import load_fit

    src = adv.ROOT / "fits" / "au_cds_clean"
    s = json.loads((src / "summary.json").read_text())
    s.update(converged=False, status=2, message="iteration cap reached")
    (tmp_path / "summary.json").write_text(json.dumps(s))
    with pytest.raises(FitResultError, match="did not converge"):
        load_fit(tmp_path)
    res = FitResult.from_netcdf(src / "result.nc")  # a converged published fit reloads
    assert res.converged
    res.summary_dict.update(converged=False, message="iteration cap reached")
    res.to_netcdf(tmp_path / "result.nc")
    with pytest.raises(FitResultError, match="did not converge"):
        FitResult.from_netcdf(tmp_path / "result.nc")
    assert not FitResult.from_netcdf(tmp_path / "result.nc", allow_unconverged=True).converged


def test_fit_folder_is_one_set_and_a_new_run_without_figure_drops_the_old_one(tmp_path):
    from hotcarrier.fitting.result import FitResult
    from hotcarrier.h2 import load_fit
    from hotcarrier.io.atomic import check_output_set

    res = FitResult.from_netcdf(adv.ROOT / "fits" / "au_cds_clean" / "result.nc")
    out = tmp_path / "fit"
    res.write(out, figure=False)
    (out / "overview.png").write_bytes(b"a figure of an older run")  # stale
    res.write(out, figure=False)
    assert sorted(check_output_set(out)["files"]) == ["result.nc", "summary.json"]
    assert not (out / "overview.png").exists()
    assert load_fit(out).phi_inj == pytest.approx(res.derived["injection_quantum_yield"]["value"])


# -------------------------------------------------------------- plausibility of units

def test_real_od_files_that_are_mod_warn_with_the_override(shared_data):
    """Hippius 2016co (ΔA up to ~48) and Ru-dppz (21.5) are mOD read as OD: the load warns
    and names the override; with it the numbers are 1000× smaller and nothing warns."""
    from hotcarrier.io import load_ta

    path = shared_data / "kimopack_ru_dppz" / "TA_Ru-dppz_400nm_ACN.SIA"
    with pytest.warns(SignalUnitWarning, match="signal_units='mOD'.*--signal-units mOD"):
        od = load_ta(path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mod = load_ta(path, signal_units="mOD")
    assert mod["signal"].attrs["units"] == "mOD"
    np.testing.assert_array_equal(mod["signal"].values, od["signal"].values)


def test_implausible_wavelength_axis_names_the_overrides(tmp_path):
    from hotcarrier.errors import DataFormatError
    from hotcarrier.io import load_ta

    t, w = adv.T[3:], adv.W
    s = adv.reference()["signal"].values[3:]
    p = tmp_path / "rows_are_delays.csv"
    p.write_text(adv.matrix_text(t, w, s, corner="0", sep=","))
    with pytest.raises(DataFormatError, match="orientation='time_rows'.*check_axes=False"):
        load_ta(p)
    ds = load_ta(p, format="delimited", orientation="time_rows")
    assert adv.same_numbers(ds, adv.reference().isel(delay=slice(3, None))) is None
    assert load_ta(p, check_axes=False).sizes["wavelength"] == t.size  # as read, on request


def test_error_contract_every_error_is_a_hotcarrier_error():
    """The classes the CLI turns into exit code 2 all derive from HotcarrierError."""
    import hotcarrier.errors as e

    for name in e.__all__:
        cls = getattr(e, name)
        if name.endswith("Error"):
            assert issubclass(cls, HotcarrierError), name

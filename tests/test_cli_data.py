"""``hotcarrier info`` and ``hotcarrier convert``."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hotcarrier.cli import main
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.io import load_ta, save_ta


@pytest.fixture
def small_file(tmp_path):
    t, w = np.array([-1.0, 0.0, 1.0, 1.0, 5.0]), np.array([400.0, 500.0, 600.0])
    s = np.outer(np.exp(-np.clip(t, 0, None)), [1.0, 2.0, 3.0])
    s[0, 0] = np.nan
    ds = make_ta_dataset(t, w, s, signal_units="mOD", attrs={"sample": "Au@CdS"})
    return save_ta(ds, tmp_path / "small.nc")


def test_info_json(small_file, capsys):
    assert main(["info", str(small_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "netcdf"
    assert (out["n_time"], out["n_wavelength"]) == (5, 3)
    assert (out["time_min_ps"], out["time_max_ps"]) == (-1.0, 5.0)
    assert (out["wavelength_min_nm"], out["wavelength_max_nm"]) == (400.0, 600.0)
    assert out["n_nan"] == 1 and out["n_duplicated_delays"] == 2
    assert out["signal_units"] == "mOD" and out["sample"] == "Au@CdS"
    # the map is rank 1 (outer product) apart from the NaN cell filled with 0
    sv = out["singular_values"]
    assert len(sv) == 3 and sv[1] / sv[0] < 0.2


def test_info_text_real_sia(shared_data, capsys):
    path = shared_data / "kimopack_ru_dppz" / "TA_Ru-dppz_400nm_ACN.SIA"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "195 delays × 512 wavelengths" in out and "sia" in out
    assert "7 rows share delay(s) 1799.9999 ps" in out


def test_info_json_real_helios(shared_data, capsys):
    path = shared_data / "helios_thf_solvent" / "Prueba_solvente_csv.csv"
    assert main(["info", "--json", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "helios-csv" and (out["n_time"], out["n_wavelength"]) == (95, 298)
    assert out["time_min_ps"] == -0.98667 and out["time_max_ps"] == 5.24
    assert out["pump_wavelength_nm"] == 425.0 and out["n_nan"] == 0


@pytest.mark.parametrize("ext", [".nc", ".npz", ".ufs", ".csv", ".sia", ".ascii"])
def test_convert_between_formats(small_file, tmp_path, ext, capsys):
    out = tmp_path / f"out{ext}"
    assert main(["convert", str(small_file), str(out)]) == 0
    back = load_ta(out, signal_units="mOD") if ext in (".sia", ".ascii") else load_ta(out)
    src = load_ta(small_file)
    np.testing.assert_array_equal(back["signal"].values, src["signal"].values)
    np.testing.assert_array_equal(back["delay"].values, src["delay"].values)
    assert "→" in capsys.readouterr().out


def test_convert_nc_roundtrip_keeps_everything_but_adds_a_step(small_file, tmp_path):
    out = tmp_path / "copy.nc"
    assert main(["convert", str(small_file), str(out)]) == 0
    a, b = load_ta(small_file), load_ta(out)
    assert b.attrs["history"].endswith("convert: written as netcdf to copy.nc")
    b.attrs["history"] = a.attrs["history"]
    xr.testing.assert_identical(a, b)


def test_convert_refuses_to_overwrite(small_file, tmp_path, capsys):
    out = tmp_path / "exists.csv"
    out.write_text("keep")
    assert main(["convert", str(small_file), str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == "keep"
    assert main(["convert", str(small_file), str(out), "--force"]) == 0


def test_bad_file_exit_code_2_one_message(tmp_path, capsys):
    p = tmp_path / "broken.csv"
    p.write_bytes(b"0,1,2\r\n500,1\r\n")
    assert main(["info", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotcarrier info: error: ") and "broken.csv" in err
    assert "Traceback" not in err


def test_console_script_subprocess(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "hotcarrier", "info", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "empty.txt: file is empty" in r.stderr and "Traceback" not in r.stderr


def test_program_output_is_whole_although_the_process_skips_teardown(small_file, tmp_path,
                                                                     capsys):
    # `python -m hotcarrier` ends with os._exit after flushing (cli.run): what it prints
    # into a pipe and the files it writes are those of main() called in-process
    assert main(["info", str(small_file), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    r = subprocess.run([sys.executable, "-m", "hotcarrier", "info", str(small_file), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == expected
    out = tmp_path / "copy.csv"
    r = subprocess.run([sys.executable, "-m", "hotcarrier", "convert", str(small_file),
                        str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(load_ta(out).signal.values, load_ta(small_file).signal.values)


def _program(args, shell_tail: str = "", env=None):
    """``python -m hotcarrier ARGS`` through bash (pipefail), with ``shell_tail`` after it."""
    import os
    import shlex

    cmd = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "hotcarrier", *args])
    return subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} {shell_tail}"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_program_output_that_cannot_be_written_is_an_error(small_file):
    # a full disk behind standard output: one error line and exit 1, buffered or not
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is needed (Linux)")
    for unbuffered in ("", "1"):
        r = _program(["info", str(small_file)], "> /dev/full",
                     env={"PYTHONUNBUFFERED": unbuffered})
        assert r.returncode == 1, r.stderr
        assert "standard output could not be written" in r.stderr
        assert "Traceback" not in r.stderr


def test_program_survives_a_reader_that_went_away_and_a_closed_stdout(small_file):
    # `| true` closes the pipe before anything is read; `>&-` closes standard output
    for tail in ("| true", ">&-"):
        r = _program(["info", str(small_file), "--json"], tail, env={"PYTHONUNBUFFERED": "1"})
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr


def test_bad_input_leaves_no_output_folder(small_file, tmp_path, capsys):
    out = tmp_path / "new" / "results"
    assert main(["fit", str(small_file), "--model", str(tmp_path / "none.toml"),
                 "--out", str(out)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_unwritable_cache_folder_is_one_warning(tmp_path):
    # the command still runs; the user learns why every run compiles, in one line
    from hotcarrier.cli import _use_compilation_cache

    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"XDG_CACHE_HOME": str(blocker / "sub")}
    r = subprocess.run([sys.executable, "-c", "import sys, json; from hotcarrier.cli import "
                        "_use_compilation_cache as u; e = json.loads(sys.argv[1]); u(e); "
                        "print(json.dumps(e))", json.dumps(env)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "JAX_COMPILATION_CACHE_DIR" not in json.loads(r.stdout)
    assert r.stderr.count("warning: no compilation cache") == 1
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    _use_compilation_cache(env)
    assert Path(env["JAX_COMPILATION_CACHE_DIR"]).is_dir()


def test_ctrl_c_stops_the_program_at_once(small_file, tmp_path):
    # SIGINT during a fit: exit code 130 and one line, never swallowed (JAX's garbage-collection
    # hook swallowed a KeyboardInterrupt raised inside it and the fit went on)
    import signal

    with subprocess.Popen([sys.executable, "-m", "hotcarrier", "fit", str(small_file),
                           "--scheme", "parallel", "--lifetimes", "1", "--out",
                           str(tmp_path / "out")], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as p:
        first = p.stderr.readline()  # "fitting ... with ...": the fit starts now
        assert first.startswith("fitting"), first
        p.send_signal(signal.SIGINT)
        err = p.stderr.read()
        assert p.wait(timeout=60) == 130
    assert "hotcarrier: interrupted" in err and "Traceback" not in err

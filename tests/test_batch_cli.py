"""``hotcarrier fit-many``: files/folders/globs, per-item results, failures reported."""

import json

import numpy as np
import pytest
import xarray as xr
from test_batch import CHUNK, TRUE, WL, T, noisy

from hotcarrier.cli import main
from hotcarrier.commands.fit_many import expand_inputs
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.io import save_ta

QUICK = ["--scheme", "sequential", "--lifetimes", "3,12", "--irf-fwhm", "0.4",
         "--chunk-size", str(CHUNK), "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("maps")
    data = noisy(7, seed=100)
    for i, x in enumerate(data):
        save_ta(make_ta_dataset(T, WL, x, attrs={"title": f"map {i}"}), d / f"map{i:02d}.nc")
    dead = np.full_like(data[0], np.nan)
    dead[:3, 0] = 1e-3  # three finite cells: fewer data than parameters
    save_ta(make_ta_dataset(T, WL, dead), d / "dead.nc")
    (d / "broken.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    return d


def test_expand_inputs(folder):
    files = expand_inputs([str(folder), str(folder / "map0*.nc")])
    assert len(files) == 9 and files[0].name == "broken.nc"  # duplicates once, sorted
    assert len(expand_inputs([str(folder / "map0[0-2].nc")])) == 3


def test_fit_many_writes_results_and_reports_failures(folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["fit-many", str(folder), "--out", str(out), *QUICK])
    assert rc == 1  # some items did not converge
    ds = xr.load_dataset(out / "batch.nc", engine="h5netcdf")
    names = list(ds["item"].values)
    assert names[0] == "broken.nc" and names[1] == "dead.nc" and len(names) == 9
    conv = ds["converged"].values
    assert conv.tolist() == [False, False] + [True] * 7
    assert int(ds["status"].values[0]) == 11 and "broken" not in str(ds["error"].values[1])
    assert int(ds["status"].values[1]) == 10
    tau = ds["value"].sel(param=["tau1", "tau2"]).values[2:]
    np.testing.assert_allclose(np.median(np.sort(tau, axis=1), axis=0),
                               [TRUE["tau1"], TRUE["tau2"]], rtol=0.05)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_items"] == 9 and summary["n_converged"] == 7
    item = json.loads((out / "items" / "map03.json").read_text())
    assert item["converged"] and item["parameters"]["tau1"]["stderr"] > 0
    assert (out / "items" / "broken.json").exists()


@pytest.mark.slow  # default-suite budget (2 cores): run with -m slow
def test_fit_many_prints_table_and_needs_a_model(folder, tmp_path, capsys):
    rc = main(["fit-many", str(folder / "map0[0-6].nc"), "--out", str(tmp_path / "o"),
               *QUICK[:-1]])
    assert rc == 0
    text = capsys.readouterr().out
    assert "7/7 converged" in text and "map00.nc" in text
    assert main(["fit-many", str(folder), "--out", str(tmp_path / "x")]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["fit-many", str(tmp_path / "nothing*.nc"), "--out", str(tmp_path / "y"),
                 *QUICK]) == 2

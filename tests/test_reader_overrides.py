"""Reader overrides reach every command that reads data, and a delay axis in the wrong unit is
refused with the override to pass (no fit is compiled here)."""

import numpy as np
import pytest

from hotcarrier.cli import main
from hotcarrier.errors import DataFormatError, ModelError
from hotcarrier.io import load_ta
from hotcarrier.preprocess import read_options
from hotcarrier.target.model import TargetModel
from hotcarrier.target.modelfile import parse_model


@pytest.fixture()
def ns_file(tmp_path):
    """A delays-as-rows CSV written in ns (−1 ps … 50 ps as −0.001 … 0.05) with no unit label."""
    delay = np.linspace(-0.001, 0.05, 40)
    wl = np.linspace(400.0, 700.0, 30)
    sig = np.random.default_rng(1).normal(scale=1e-3, size=(delay.size, wl.size))
    path = tmp_path / "map_ns.csv"
    np.savetxt(path, np.vstack([np.r_[0.0, wl], np.column_stack([delay, sig])]), delimiter=",")
    return path


def test_delays_in_another_unit_are_refused_with_the_override(ns_file):
    with pytest.raises(DataFormatError, match=r"(?s)span only 0\.051 ps.*time_unit="):
        load_ta(ns_file, orientation="time_rows")
    ds = load_ta(ns_file, orientation="time_rows", time_unit="ns")
    assert ds.delay.values[[0, -1]] == pytest.approx([-1.0, 50.0])
    kept = load_ta(ns_file, orientation="time_rows", check_axes=False)
    assert kept.delay.values[-1] == pytest.approx(0.05)


def test_target_fit_reads_with_the_model_s_read_table(ns_file):
    from hotcarrier.target.fit import _load

    model = TargetModel.from_scheme("parallel", [1.0, 10.0])
    model.preprocess = {"read": {"orientation": "time_rows", "time_unit": "ns"}}
    assert read_options(model.preprocess) == {"orientation": "time_rows", "time_unit": "ns"}
    ds = _load(str(ns_file), model, None)
    assert float(ds.delay.max()) == pytest.approx(50.0)


def test_model_file_read_table_is_checked():
    base = ('[model]\ncompartments = ["a"]\ninitial = {a = 1}\n[parameters]\n'
            'k = {value = 1}\nirf_center = {value = 0}\nirf_width = {value = 0.1}\n'
            '[[transfers]]\nfrom = "a"\nto = "ground"\nrate = "k"\n[preprocess]\n')
    m = parse_model(base + 'read = {time_unit = "fs", check_axes = false}\n')
    assert m.preprocess["read"] == {"time_unit": "fs", "check_axes": False}
    with pytest.raises(ModelError, match="read.time_unit"):
        parse_model(base + "read = {time_unit = 3}\n")
    with pytest.raises(ModelError, match="read.unit"):
        parse_model(base + 'read = {unit = "fs"}\n')


def test_inspect_takes_the_reader_overrides(ns_file, tmp_path, capsys):
    assert main(["inspect", str(ns_file), "--figure", str(tmp_path / "i.png")]) == 2
    assert "--orientation" in capsys.readouterr().err
    rc = main(["inspect", str(ns_file), "--orientation", "time_rows", "--time-unit", "ns",
               "--figure", str(tmp_path / "i.png")])
    assert rc == 0 and (tmp_path / "i.png").stat().st_size > 0

"""Generic delimited matrices and Glotaran variants: delimiters, orientation, units, overrides."""

import numpy as np
import pytest

from hotcarrier.dataset import check_ta, history
from hotcarrier.errors import DataFormatError
from hotcarrier.io import detect_format, load_ta

T = [-1.0, 0.0, 0.5, 2.0]  # ps
W = [450.0, 500.0, 550.0]  # nm
S = np.arange(12, dtype=float).reshape(4, 3) / 8.0  # exact in binary and decimal


def matrix_text(delim=",", corner="", time_rows=True, decimal=".", eol="\n"):
    cols, rows, vals = (W, T, S) if time_rows else (T, W, S.T)

    def f(x):
        txt = repr(float(x))
        return txt.replace(".", ",") if decimal == "," else txt

    lines = []
    head = [f(c) for c in cols]
    lines.append(delim.join(([corner] if corner is not None else []) + head))
    for r, row in zip(rows, vals):
        lines.append(delim.join([f(r), *map(f, row)]))
    return eol.join(lines) + eol


def check_standard(ds):
    check_ta(ds)
    np.testing.assert_array_equal(ds["delay"].values, T)
    np.testing.assert_array_equal(ds["wavelength"].values, W)
    np.testing.assert_array_equal(ds["signal"].values, S)


@pytest.mark.parametrize("delim", ["\t", ",", ";", " ", "   "])
@pytest.mark.parametrize("time_rows", [True, False])
def test_delimiters_and_orientations(tmp_path, delim, time_rows):
    corner = "Time [ps]" if time_rows else "Wavelength [nm]"
    p = tmp_path / "m.txt"
    p.write_text(matrix_text(delim, corner, time_rows))
    check_standard(load_ta(p, format="delimited"))


def test_orientation_from_negative_delays_without_corner(tmp_path):
    p = tmp_path / "m.txt"
    p.write_text(matrix_text("\t", None, time_rows=False))  # header row lacks a corner cell
    ds = load_ta(p)
    check_standard(ds)
    assert "load_ta: matrix orientation wavelength_rows" in history(ds)


def test_decimal_comma_with_semicolons(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(matrix_text(";", "Time [ps]", True, decimal=","))
    assert detect_format(p) == "delimited"
    check_standard(load_ta(p))


def test_ambiguous_orientation_asks_for_override(tmp_path):
    p = tmp_path / "m.txt"
    body = "x\t500\t600\n1\t1\t2\n2\t3\t4\n"  # both axes positive, no useful corner
    p.write_text(body)
    with pytest.raises(DataFormatError, match="orientation="):
        load_ta(p)
    ds = load_ta(p, orientation="time_rows")
    assert ds["delay"].values.tolist() == [1.0, 2.0]


def test_fs_and_wavenumber_are_converted_and_sorted(tmp_path):
    p = tmp_path / "m.txt"
    p.write_text("Time [fs]\t20000\t25000\n-100\t1\t2\n500\t3\t4\n")  # cm⁻¹ columns
    ds = load_ta(p, spectral_unit="cm-1")
    np.testing.assert_allclose(ds["delay"].values, [-0.1, 0.5], rtol=1e-15)
    np.testing.assert_allclose(ds["wavelength"].values, [400.0, 500.0], rtol=1e-15)
    assert ds["signal"].values.tolist() == [[2.0, 1.0], [4.0, 3.0]]
    h = "\n".join(history(ds))
    assert "from fs to ps" in h and "from cm-1 to nm" in h and "sorted ascending" in h


def test_energy_axis(tmp_path):
    p = tmp_path / "m.txt"
    p.write_text("Time [ps]\t2.0\t2.5\n0\t1\t2\n1\t3\t4\n")
    ds = load_ta(p, spectral_unit="eV")
    # λ = hc/E with hc = 1239.84198 eV nm
    np.testing.assert_allclose(ds["wavelength"].values, [1239.84198 / 2.5, 1239.84198 / 2.0],
                               rtol=1e-8)


def test_descending_delays_are_sorted(tmp_path):
    p = tmp_path / "m.txt"
    p.write_text("Time [ps]\t500\t600\n3\t1\t2\n1\t3\t4\n-1\t5\t6\n")
    ds = load_ta(p)
    assert ds["delay"].values.tolist() == [-1.0, 1.0, 3.0]
    assert ds["signal"].values[0].tolist() == [5.0, 6.0]


def test_crlf_nan_cells_and_all_nan_rows(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes(b"0,-1,0,1\r\n500,NaN,1e-3,2e-3\r\n550,NaN,NaN,NaN\r\n600,1,2,3\r\n"
                  b"file info:Date: today\r\nTime units: ps\r\nZ axis title: mOD\r\n")
    assert detect_format(p) == "helios-csv"
    ds = load_ta(p)
    assert ds["signal"].attrs["units"] == "mOD"
    assert int(np.isnan(ds["signal"].values).sum()) == 4
    assert any("1 all-NaN wavelength row" in h for h in history(ds))
    assert ds.attrs["date"] == "today"


GLOTARAN_WL = """title line
second line
Wavelength explicit
Intervalnr 3
450 500 550
-1 0 0.125 0.25
0 0.375 0.5 0.625
0.5 0.75 0.875 1
2 1.125 1.25 1.375
"""


def test_glotaran_wavelength_explicit(tmp_path):
    p = tmp_path / "w.ascii"
    p.write_text(GLOTARAN_WL)
    ds = load_ta(p)
    assert ds.attrs["source_format"] == "glotaran"
    check_standard(ds)


def test_glotaran_wrapped_records(tmp_path):
    # Fortran-style exports wrap long records over several lines
    txt = "t\n\nTime explicit\nIntervalnr 4\n-1 0\n0.5 2\n450 0 0.375\n0.75 1.125\n500 0.125 " \
          "0.5 0.875 1.25\n550 0.25 0.625 1 1.375\n"
    p = tmp_path / "wrap.ascii"
    p.write_text(txt)
    check_standard(load_ta(p))


def test_unknown_override_is_reported(tmp_path):
    p = tmp_path / "w.ascii"
    p.write_text(GLOTARAN_WL)
    with pytest.raises(DataFormatError, match="option not understood"):
        load_ta(p, orientation="time_rows")

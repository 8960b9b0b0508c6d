"""Bad input: one clear DataFormatError naming the file, the problem and a fix."""

import struct

import numpy as np
import pytest

from hotcarrier.errors import DataFormatError
from hotcarrier.io import load_ta

GOOD_SIA = "Time [ps]\t500\t600\n-1\t0.1\t0.2\n0\t0.3\t0.4\n1\t0.5\t0.6\n"
GOOD_GLOTARAN = "h\nh\nTime explicit\nIntervalnr 3\n-1 0 1\n500 1 2 3\n600 4 5 6\n"

CASES = {
    "empty": (b"", "file is empty"),
    "whitespace only": (b"  \n\n", "file is empty"),
    "wrong binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "binary file"),
    "ragged rows": (b"Time [ps]\t500\t600\n-1\t0.1\t0.2\n0\t0.3\n1\t0.5\t0.6\n", "ragged rows"),
    "truncated last row": (GOOD_SIA.encode()[:-6], "ragged rows"),
    "non-numeric cell": (b"Time [ps]\t500\t600\n-1\t0.1\tabc\n0\t0.3\t0.4\n",
                         "non-numeric cell 'abc'"),
    "non-monotonic delay": (b"Time [ps]\t500\t600\n-1\t1\t2\n2\t3\t4\n1\t5\t6\n",
                            "delay axis is not monotonic"),
    "duplicated wavelength": (b"Time [ps]\t500\t500\n-1\t1\t2\n0\t3\t4\n",
                              "wavelength axis is duplicated"),
    "all NaN": (b"Time [ps]\t500\t600\n-1\tNaN\tNaN\n0\tnan\tNaN\n", "all 4 signal values are NaN"),
    "header/data mismatch": (b"Time [ps]\t500\t600\t700\t800\n-1\t1\t2\n0\t3\t4\n",
                             "header line 1 has 5 fields"),
    "glotaran truncated axis": (b"h\nh\nTime explicit\nIntervalnr 5\n-1 0 1\n",
                                "the explicit time axis has 3 values"),
    "glotaran truncated record": (GOOD_GLOTARAN.encode()[:-4], "ragged rows"),
    "glotaran bad Intervalnr": (b"h\nTime explicit\nIntervalnr x\n", "is not an integer"),
    "glotaran non-numeric": (GOOD_GLOTARAN.replace("5 6", "5 x").encode(), "non-numeric cell"),
    "not utf-8 with NUL": (b"Time [ps]\t500\n\x00\x01\x02", "binary file"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_text_input(tmp_path, case):
    content, expected = CASES[case]
    p = tmp_path / "bad_input.dat"
    p.write_bytes(content)
    with pytest.raises(DataFormatError) as err:
        load_ta(p)
    msg = str(err.value)
    assert "bad_input.dat" in msg and expected in msg, msg


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataFormatError, match="file not found"):
        load_ta(tmp_path / "nope.csv")
    with pytest.raises(DataFormatError, match="is a directory"):
        load_ta(tmp_path)


def _ufs(n_wl=2, n_t=3, tail=b"", data_n=None):
    def s(x):
        return struct.pack(">I", len(x)) + x

    wl, t = np.linspace(500, 600, n_wl), np.linspace(-1, 1, n_t)
    d = np.ones(n_wl * n_t if data_n is None else data_n)
    return (s(b"Version2") + s(b"Wavelength") + s(b"nm") + struct.pack(">I", n_wl)
            + wl.astype(">f8").tobytes() + s(b"Time") + s(b"ps") + struct.pack(">I", n_t)
            + t.astype(">f8").tobytes() + s(b"DA") + struct.pack(">III", 0, n_wl, n_t)
            + d.astype(">f8").tobytes() + s(b"meta") + tail)


@pytest.mark.parametrize(("raw", "expected"), [
    (_ufs()[:-20], "truncated"),
    (_ufs(tail=b"xx"), "2 unexpected byte(s)"),
    (_ufs()[:40], "truncated"),
])
def test_bad_ufs(tmp_path, raw, expected):
    p = tmp_path / "x.ufs"
    p.write_bytes(raw)
    with pytest.raises(DataFormatError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_ta(p)


def test_good_ufs_helper_loads(tmp_path):
    p = tmp_path / "x.ufs"
    p.write_bytes(_ufs())
    assert load_ta(p).sizes == {"delay": 3, "wavelength": 2}


def test_npz_mismatched_shapes(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, delay=np.arange(3.0), wavelength=np.arange(4.0) + 400, signal=np.ones((5, 5)))
    with pytest.raises(DataFormatError, match="mismatched shapes"):
        load_ta(p)


def test_npz_missing_array(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, foo=np.arange(3.0))
    with pytest.raises(DataFormatError, match="no delay array"):
        load_ta(p)


def test_damaged_netcdf(tmp_path):
    p = tmp_path / "x.nc"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataFormatError, match="not a readable netCDF"):
        load_ta(p)


def test_unknown_format_name(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("Time [ps]\t500\n0\t1\n")
    with pytest.raises(DataFormatError, match="unknown format 'xls'"):
        load_ta(p, format="xls")


@pytest.mark.parametrize("corner, problem", [("Time [fsec]", "unknown time unit 'fsec'"),
                                             ("Time (min)", "unknown time unit 'min'"),
                                             ("Wavelength [Å]", "unknown spectral unit 'Å'")])
def test_unknown_unit_label_in_a_delimited_header_is_refused(tmp_path, corner, problem):
    """An unknown unit in the corner cell is an error naming the label and the override —
    never read as ps or nm by default."""
    if corner.startswith("Time"):
        text = f"{corner},500,600\n-1,0.1,0.2\n1,0.3,0.4\n2,0.2,0.1\n"
    else:
        text = f"{corner},-1,1,2\n500,0.1,0.3,0.2\n600,0.2,0.4,0.1\n"
    f = tmp_path / "map.csv"
    f.write_text(text)
    with pytest.raises(DataFormatError, match=problem) as exc:
        load_ta(f)
    assert "time_unit=" in str(exc.value) or "spectral_unit=" in str(exc.value)
    ds = load_ta(f, **({"time_unit": "fs"} if corner.startswith("Time") else
                       {"spectral_unit": "nm"}))
    assert ds.sizes["delay"] == 3


def test_unknown_delay_units_in_netcdf_are_refused(tmp_path):
    import numpy as np
    import xarray as xr

    ds = xr.Dataset({"signal": (("delay", "wavelength"), np.ones((3, 2)))},
                    coords={"delay": ("delay", [-1.0, 1.0, 2.0], {"units": "fsec"}),
                            "wavelength": [500.0, 600.0]})
    f = tmp_path / "map.nc"
    ds.to_netcdf(f, engine="h5netcdf")
    with pytest.raises(DataFormatError, match="delay units 'fsec'"):
        load_ta(f)

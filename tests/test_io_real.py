"""Every real file in ../shared/data loads with the shapes and ranges its README states."""

import numpy as np
import pytest

from hotcarrier.dataset import check_ta, history
from hotcarrier.errors import DataFormatError
from hotcarrier.io import detect_format, load_ta

# Axis values are compared with the README's printed digits; the README rounds them
# (e.g. 909.85 for 909.854797, 445 for 444.979), so the tolerance is half a unit of the last
# digit the README shows.
HIPPIUS = [
    ("demo_data_Hippius_etal_JPCC2007_111_13988_Figs5_9.ascii", (335, 346),
     (-0.00095, 909.85), (377.96, 854.40)),
    ("2016co_tol.ascii", (335, 255), (-0.00095, 909.85), (420.15, 772.88)),
    ("2016c2o_tol.ascii", (224, 252), (-0.00121, 898.47), (420.15, 768.89)),
]


@pytest.mark.parametrize(("name", "shape", "trange", "wrange"), HIPPIUS)
def test_glotaran_hippius_files(shared_data, name, shape, trange, wrange):
    path = shared_data / "glotaran_hippius" / name
    assert detect_format(path) == "glotaran"
    ds = load_ta(path)
    check_ta(ds)  # no duplicated delays here: strictly valid
    assert (ds.sizes["delay"], ds.sizes["wavelength"]) == shape
    assert ds["delay"].values[[0, -1]] == pytest.approx(trange, abs=5e-3)
    assert ds["wavelength"].values[[0, -1]] == pytest.approx(wrange, abs=5e-3)
    assert ds["delay"].attrs["units"] == "ps" and ds["wavelength"].attrs["units"] == "nm"
    assert ds.attrs["source_format"] == "glotaran"
    assert not np.isnan(ds["signal"].values).any()


def test_glotaran_first_cells_match_the_text(shared_data):
    # first wavelength record of the demo file: "377.96045\t-0.00403\t-0.00055 ..."
    ds = load_ta(shared_data / "glotaran_hippius" / HIPPIUS[0][0])
    assert ds["wavelength"].values[0] == 377.96045
    assert ds["signal"].values[:2, 0].tolist() == [-0.00403, -0.00055]


def test_kimopack_sia(shared_data):
    path = shared_data / "kimopack_ru_dppz" / "TA_Ru-dppz_400nm_ACN.SIA"
    assert detect_format(path) == "sia"
    ds = load_ta(path)
    assert (ds.sizes["delay"], ds.sizes["wavelength"]) == (195, 512)
    assert ds["delay"].values[[0, -1]].tolist() == [-40.0001, 1799.9999]
    assert ds["wavelength"].values[[0, -1]].tolist() == [275.0, 786.0]
    # seven rows repeat the last delay; they are kept and recorded, and only the strict
    # check (the fit path) complains
    assert int(np.sum(ds["delay"].values == 1799.9999)) == 7
    assert any("7 rows share 1 repeated delay" in h for h in history(ds))
    check_ta(ds, allow_duplicate_delays=True)
    with pytest.raises(Exception, match="duplicated delay"):
        check_ta(ds)
    s = ds["signal"].values
    sentinel = np.isclose(s, -21.47483647, rtol=1e-12, atol=0)
    assert int(sentinel.sum()) == 5873
    w = np.broadcast_to(ds["wavelength"].values, s.shape)
    assert np.all((w[sentinel] <= 308) | (w[sentinel] == 786))


def test_helios_csv_with_footer(shared_data):
    path = shared_data / "helios_thf_solvent" / "Prueba_solvente_csv.csv"
    assert detect_format(path) == "helios-csv"
    ds = load_ta(path)
    check_ta(ds)
    assert (ds.sizes["delay"], ds.sizes["wavelength"]) == (95, 298)
    assert ds["delay"].values[[0, -1]].tolist() == [-0.98667, 5.24]
    # README: 445 … 800 nm (rounded); the file has 444.979 … 799.958
    assert ds["wavelength"].values[[0, -1]] == pytest.approx([445, 800], abs=0.05)
    assert ds["signal"].attrs["units"] == "OD"  # "Z axis title: dA"
    assert ds.attrs["date"] == "July 22, 2009"
    assert ds.attrs["pump_wavelength_nm"] == 425.0
    assert ds.attrs["pump_energy_uJ"] == 1.0
    assert ds.attrs["solvent"] == "THF"
    assert ds.attrs["metadata_text"].startswith("file info:Date: July 22, 2009")
    assert "Z axis title: dA" in ds.attrs["metadata_text"]
    assert any("Data cropped to ranges" in h for h in history(ds))


def test_helios_time_units_are_honoured(shared_data, tmp_path):
    # the same export with "Time units: fs" must give delays 1000× smaller in ps
    src = (shared_data / "helios_thf_solvent" / "Prueba_solvente_csv.csv").read_bytes()
    p = tmp_path / "fs.csv"
    p.write_bytes(src.replace(b"Time units: ps", b"Time units: fs"))
    ps = load_ta(shared_data / "helios_thf_solvent" / "Prueba_solvente_csv.csv")
    with pytest.raises(DataFormatError, match="time unit is probably not fs"):
        load_ta(p)  # 6 fs of delays: implausible, refused with the override to pass
    fs = load_ta(p, check_axes=False)
    np.testing.assert_array_equal(fs["delay"].values, ps["delay"].values * 1e-3)
    assert any("from fs to ps" in h for h in history(fs))


def test_kimopack_chirp_file(shared_data):
    from hotcarrier.preprocess import read_chirp_file

    c = read_chirp_file(shared_data / "kimopack_ru_dppz" / "TA_Ru-dppz_400nm_ACN_chirp.dat")
    assert c.shape == (5,)
    # README: about −1.9 ps at 350 nm to +0.9 ps at 700 nm ("about": ±0.35 ps)
    assert np.polyval(c, 350.0) == pytest.approx(-1.9, abs=0.1)
    assert np.polyval(c, 700.0) == pytest.approx(0.9, abs=0.35)

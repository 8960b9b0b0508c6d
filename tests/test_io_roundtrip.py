"""Write → read round-trips: exact for netCDF, npz, .ufs, CSV; text formats keep the numbers."""

import dataclasses
import os

import numpy as np
import pytest
import xarray as xr

from hotcarrier.dataset import make_ta_dataset
from hotcarrier.io import FORMATS, detect_format, load_ta, save_ta


def small_ds(with_extras=True):
    rng = np.random.default_rng(0)
    t = np.array([-1.0, -0.1, 0.0, 0.05, 1.0 / 3.0, 2.5, 100.0])
    w = np.array([400.0, 450.5, 500.25, 612.0 + 1e-9])
    s = rng.normal(size=(t.size, w.size)) * 1e-3
    s[2, 1] = np.nan
    kw = {}
    if with_extras:
        kw["weight"] = rng.uniform(0.1, 1.0, size=s.shape)
        mask = np.zeros(s.shape, bool)
        mask[1, 3] = True
        kw["mask"] = mask
    return make_ta_dataset(t, w, s, signal_units="mOD",
                           attrs={"title": "synthetic", "sample": "Au@CdS — test",
                                  "pump_wavelength_nm": 532.0, "date": "2026-01-02",
                                  "metadata_text": "line 1\nline 2: µ", "history": ["made"]},
                           **kw)


@pytest.mark.parametrize("ext", [".nc", ".npz"])
def test_full_object_roundtrip_is_identical(tmp_path, ext):
    ds = small_ds()
    p = save_ta(ds, tmp_path / f"x{ext}")
    back = load_ta(p)
    xr.testing.assert_identical(back, ds)
    assert back["mask"].dtype == bool


@pytest.mark.parametrize(("ext", "fmt"), [(".csv", "helios-csv"), (".ufs", "ufs"),
                                          (".sia", "sia"), (".ascii", "glotaran"),
                                          (".txt", "sia")])
def test_matrix_roundtrip_is_exact(tmp_path, ext, fmt):
    ds = small_ds(with_extras=False)
    p = save_ta(ds, tmp_path / f"x{ext}")
    assert detect_format(p) == fmt
    back = load_ta(p, signal_units="mOD") if fmt == "sia" else load_ta(p)
    # bit-exact: the writers print repr(float) (shortest exact decimal) or raw float64
    np.testing.assert_array_equal(back["signal"].values, ds["signal"].values)
    np.testing.assert_array_equal(back["delay"].values, ds["delay"].values)
    np.testing.assert_array_equal(back["wavelength"].values, ds["wavelength"].values)
    assert back["signal"].attrs["units"] == "mOD"


@pytest.mark.parametrize("ext", [".csv", ".ufs"])
def test_helios_metadata_survives_csv_and_ufs(shared_data, tmp_path, ext):
    src = load_ta(shared_data / "helios_thf_solvent" / "Prueba_solvente_csv.csv")
    back = load_ta(save_ta(src, tmp_path / f"h{ext}"))
    np.testing.assert_array_equal(back["signal"].values, src["signal"].values)
    np.testing.assert_array_equal(back["delay"].values, src["delay"].values)
    np.testing.assert_array_equal(back["wavelength"].values, src["wavelength"].values)
    for key in ("metadata_text", "date", "pump_wavelength_nm", "pump_energy_uJ", "solvent"):
        assert back.attrs[key] == src.attrs[key]


def test_csv_written_like_helios(tmp_path):
    p = save_ta(small_ds(False), tmp_path / "x.csv")
    raw = p.read_bytes()
    assert raw.startswith(b"0,-1.0,-0.1,0.0,0.05,")
    assert b"\r\n" in raw and b"NaN" in raw and b"file info:" in raw and b"Time units: ps" in raw


def test_ufs_layout_matches_the_spec(tmp_path):
    import struct

    ds = small_ds(False)
    raw = save_ta(ds, tmp_path / "x.ufs").read_bytes()
    (n,) = struct.unpack(">I", raw[:4])
    assert raw[4:4 + n] == b"Version2"
    # after version: "Wavelength", "nm", n1, wavelengths (big-endian float64)
    pos = 4 + n
    (n,) = struct.unpack(">I", raw[pos:pos + 4])
    assert raw[pos + 4:pos + 4 + n] == b"Wavelength"


def test_ufs_foreign_units_are_converted(tmp_path):
    import struct

    def s(x):
        b = x.encode()
        return struct.pack(">I", len(b)) + b

    wn = np.array([25000.0, 20000.0])  # cm⁻¹ → 400, 500 nm (descending in nm order)
    t = np.array([-100.0, 0.0, 500.0])  # fs
    data = np.arange(6, dtype=float).reshape(2, 3)  # axis-1 (wavenumber) major
    raw = (s("Version2") + s("Wavenumber") + s("cm-1") + struct.pack(">I", 2)
           + wn.astype(">f8").tobytes() + s("Time") + s("fs") + struct.pack(">I", 3)
           + t.astype(">f8").tobytes() + s("mOD") + struct.pack(">III", 1, 2, 3)
           + data.astype(">f8").tobytes() + s(""))
    p = tmp_path / "w.ufs"
    p.write_bytes(raw)
    ds = load_ta(p)
    np.testing.assert_allclose(ds["delay"].values, [-0.1, 0.0, 0.5], rtol=1e-15)
    np.testing.assert_allclose(ds["wavelength"].values, [400.0, 500.0], rtol=1e-15)
    # wavenumber 25000 (400 nm) held row 0 = [0, 1, 2]
    np.testing.assert_array_equal(ds["signal"].sel(wavelength=400.0, method="nearest").values,
                                  [0.0, 1.0, 2.0])
    assert ds["signal"].attrs["units"] == "mOD"


def test_writes_are_atomic_and_inputs_untouched(tmp_path, monkeypatch):
    ds = small_ds()
    target = tmp_path / "keep.nc"
    target.write_bytes(b"old content")
    import hotcarrier.io.netcdf as nc

    def boom(ds, path):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setitem(FORMATS, "netcdf", dataclasses.replace(FORMATS["netcdf"], write=boom))
    with pytest.raises(RuntimeError):
        save_ta(ds, target)
    assert target.read_bytes() == b"old content"
    assert sorted(os.listdir(tmp_path)) == ["keep.nc"]  # no temporary file left behind
    assert nc.write is not boom


def test_loading_does_not_modify_the_file(tmp_path):
    p = save_ta(small_ds(False), tmp_path / "x.csv")
    before, mtime = p.read_bytes(), p.stat().st_mtime_ns
    load_ta(p)
    assert p.read_bytes() == before and p.stat().st_mtime_ns == mtime


def test_npz_foreign_names_and_orientation(tmp_path):
    p = tmp_path / "f.npz"
    t, w = np.array([0.0, 1.0, 2.0]), np.array([500.0, 600.0])
    np.savez(p, time=t * 1e3, wl=w, data=np.arange(6.0).reshape(2, 3))  # wl × time, fs
    ds = load_ta(p, time_unit="fs")
    np.testing.assert_array_equal(ds["delay"].values, t)
    assert ds["signal"].values[:, 0].tolist() == [0.0, 1.0, 2.0]

"""Preprocessing: pure functions, recorded in the history; KiMoPack chirp parity."""

import numpy as np
import pytest
from scipy.special import erf

from hotcarrier import preprocess as pp
from hotcarrier.dataset import check_ta, history, make_ta_dataset
from hotcarrier.errors import DatasetValidationError

IRF_FWHM = 0.12  # ps, the KiMoPack reference fit's IRF


def grid_ds(signal=None, t=None, w=None, **kw):
    t = np.linspace(-2.0, 5.0, 71) if t is None else np.asarray(t, float)
    w = np.linspace(400.0, 700.0, 31) if w is None else np.asarray(w, float)
    if signal is None:
        signal = np.outer(np.exp(-np.clip(t, 0, None)), np.ones(w.size))
    return make_ta_dataset(t, w, signal, signal_units="OD", attrs={"history": "start"}, **kw)


def test_functions_are_pure_and_record_history():
    ds = grid_ds()
    before = ds.copy(deep=True)
    out = pp.crop(ds, delay=(0.0, 3.0), wavelength=(450.0, None))
    out = pp.exclude_band(out, 500.0, 520.0)
    assert before.identical(ds)  # input untouched
    assert out["delay"].values.min() >= 0.0 and out["delay"].values.max() <= 3.0
    w = out["wavelength"].values
    assert w.min() >= 450.0 and not np.any((w >= 500.0) & (w <= 520.0))
    h = history(out)
    assert h[0] == "start" and h[1].startswith("crop:") and h[2].startswith("exclude_band:")
    check_ta(out)


def test_crop_to_nothing_is_reported():
    with pytest.raises(DatasetValidationError, match="leaves no data"):
        pp.crop(grid_ds(), delay=(100.0, 200.0))


def test_exclude_band_mask_keeps_columns():
    out = pp.exclude_band(grid_ds(), 500.0, 520.0, how="mask")
    assert out.sizes == grid_ds().sizes
    assert int(out["mask"].values.any(axis=0).sum()) == 3  # 500, 510, 520 nm on a 10 nm grid
    assert out["mask"].dtype == bool


def test_mask_bad_values_counts_each_kind():
    s = np.zeros((4, 3))
    s[0, 0] = -21.47483647
    s[1, 1] = -19.6
    s[2, 2] = np.nan
    out = pp.mask_bad_values(grid_ds(s, t=[0, 1, 2, 3], w=[400, 500, 600]), threshold=1.0)
    assert out["mask"].values.sum() == 3
    assert np.isnan(out["signal"].values[out["mask"].values]).all()
    assert "1 sentinel -21.47483647, 1 more with |signal| > 1, 1 non-finite" in history(out)[-1]


def test_merge_duplicate_delays_averages_valid_cells():
    t = [0.0, 1.0, 1.0, 1.0, 2.0]
    s = np.array([[1.0, 1.0], [2.0, np.nan], [4.0, 6.0], [6.0, 8.0], [9.0, 9.0]])
    ds = grid_ds(s, t=t, w=[500.0, 600.0])
    with pytest.raises(DatasetValidationError, match="duplicated delay"):
        check_ta(ds)
    out = pp.merge_duplicate_delays(ds)
    check_ta(out)
    assert out["delay"].values.tolist() == [0.0, 1.0, 2.0]
    assert out["signal"].values[1].tolist() == [4.0, 7.0]  # NaN left out of the mean
    # the mean of n rows has σ/√n: weight √(valid rows), 1 elsewhere
    np.testing.assert_allclose(out["weight"].values, [[1, 1], [3**0.5, 2**0.5], [1, 1]])
    assert "3 rows at 1 repeated delay(s)" in history(out)[-1]
    # least squares: Σ over the repeated rows of (s_i − m)² = w²(s̄ − m)² + a constant, so the
    # merged map has the minimum of the repeated rows (checked for two model values m)
    rows = s[1:4, 0]
    for m in (0.0, 5.0):
        full = np.sum((rows - m) ** 2) - np.sum((rows - rows.mean()) ** 2)
        merged = (out["weight"].values[1, 0] * (out["signal"].values[1, 0] - m)) ** 2
        assert merged == pytest.approx(full, rel=1e-14)


def test_merge_duplicate_delays_inverse_variance_with_weights():
    t = [0.0, 1.0, 1.0]
    s = np.array([[0.0], [2.0], [5.0]])
    w = np.array([[1.0], [1.0], [2.0]])  # 1/σ: the second repeat is 4× less variable
    out = pp.merge_duplicate_delays(grid_ds(s, t=t, w=[500.0], weight=w))
    assert out["signal"].values[1, 0] == pytest.approx((1 * 2.0 + 4 * 5.0) / 5)
    assert out["weight"].values[1, 0] == pytest.approx(5**0.5)


def test_average_scans_and_mismatch():
    a, b = grid_ds(), grid_ds()
    b["signal"] = b["signal"] * 3.0
    avg = pp.average_scans([a, b])
    np.testing.assert_allclose(avg["signal"].values, 2.0 * a["signal"].values, rtol=1e-15)
    with pytest.raises(DatasetValidationError, match="different delay axis"):
        pp.average_scans([a, pp.crop(b, delay=(0.0, None))])


def test_subtract_background():
    ds = grid_ds()
    shifted = ds.copy()
    shifted["signal"] = ds["signal"] + np.linspace(0, 1, ds.sizes["wavelength"])
    out = pp.subtract_background(shifted, before=-0.5)
    # delays < −0.5 ps hold exactly 1 + offset, so the offset is removed (to rounding)
    np.testing.assert_allclose(out["signal"].values, ds["signal"].values - 1.0, atol=1e-14)
    with pytest.raises(DatasetValidationError, match="no delay before"):
        pp.subtract_background(ds, before=-10.0)


def test_background_window_ends_at_each_wavelengths_time_zero():
    # a chirped step (t0 from −1.4 to +0.6 ps) on a per-wavelength offset: a flat window
    # (delays < −0.5 ps) reaches into the blue signal; the window before t0(λ) − 0.5 ps holds
    # only the offset, so it is removed exactly
    t = np.arange(-4.0, 5.0, 0.05)
    w = np.linspace(400.0, 700.0, 16)
    c = np.polyfit([400.0, 550.0, 700.0], [-1.4, -0.2, 0.6], 2)
    step = step_map(t, w, np.polyval(c, w))
    offset = np.linspace(-2e-3, 3e-3, w.size)
    ds = grid_ds(step + offset, t=t, w=w)
    out = pp.subtract_background(ds, before=-0.5, chirp=c)
    np.testing.assert_allclose(out["signal"].values, step, atol=1e-12)
    flat = pp.subtract_background(ds, before=-0.5)
    assert np.abs(flat["signal"].values - step).max() > 0.1  # the blue side lost signal
    assert "each wavelength's own time zero" in history(out)[-1]


def test_prepare_takes_the_background_after_the_chirp():
    t = np.arange(-4.0, 5.0, 0.05)
    w = np.linspace(400.0, 700.0, 16)
    c = np.polyfit([400.0, 550.0, 700.0], [-1.4, -0.2, 0.6], 2)
    step = step_map(t, w, np.polyval(c, w))
    ds = grid_ds(step + 1e-3, t=t, w=w)
    st = pp.prepare_steps(ds, {"background_before": -0.5, "chirp": list(c),
                               "time_range": [0.5, 4.0]})
    # corrected and background-free: the step is 1 after its time zero
    np.testing.assert_allclose(st.data["signal"].values, 1.0, atol=1e-9)
    steps = [h.split(":")[0] for h in st.history]
    assert steps[1:] == ["subtract_background", "chirp_correct", "crop"]
    rec = st.record()
    assert rec["chirp_coefficients"] == pytest.approx(list(c))
    assert rec["chirp_rms_ps"] < 0.05  # half-max onsets of erf steps sit on t0(λ)
    np.testing.assert_allclose(st.data.attrs["chirp_coefficients"], c)


def test_subtract_dataset_same_and_interpolated_grid():
    ds = grid_ds()
    solvent = grid_ds(signal=np.full((71, 31), 0.25))
    out = pp.subtract_dataset(ds, solvent, scale=2.0)
    np.testing.assert_allclose(out["signal"].values, ds["signal"].values - 0.5, atol=1e-15)
    coarse = grid_ds(signal=np.full((8, 4), 0.25), t=np.linspace(-3, 6, 8),
                     w=[350.0, 500.0, 650.0, 800.0])
    out2 = pp.subtract_dataset(ds, coarse)  # constant → interpolation is exact
    np.testing.assert_allclose(out2["signal"].values, ds["signal"].values - 0.25, atol=1e-15)


def step_map(t, w, t0, irf_fwhm=IRF_FWHM):
    sigma = irf_fwhm / 2.3548200450309493
    return 0.5 * (1 + erf((t[:, None] - t0[None, :]) / (sigma * np.sqrt(2))))


def test_chirp_correct_moves_a_known_chirp_to_zero():
    t = np.arange(-3.0, 3.0, 0.01)
    w = np.linspace(350.0, 700.0, 15)
    x = (w - 525.0) / 175.0
    c = np.polyfit(w, 0.5 * x + 0.2 * x**2 - 0.1, 2)  # t0(λ) in ps, −0.4 … +0.6 ps
    t0 = np.polyval(c, w)
    ds = grid_ds(step_map(t, w, t0), t=t, w=w)
    out = pp.chirp_correct(ds, c)
    on = pp.find_onsets(out, delay_window=(-2.0, 2.0)).values
    # the half-max of an erf step is its centre; linear interpolation on a 0.01 ps grid of a
    # curve this smooth errs by far less than 1e-3 ps
    np.testing.assert_allclose(on, 0.0, atol=1e-3)
    # cells whose source lies outside the measured delays become NaN
    assert np.isnan(out["signal"].values[-1, np.argmax(t0)])
    assert np.isnan(out["signal"].values[0, np.argmin(t0)])
    assert history(out)[-1].startswith("chirp_correct: t0(λ) = polyval([")


def test_estimate_chirp_recovers_a_cubic():
    t = np.arange(-3.0, 3.0, 0.02)
    w = np.linspace(350.0, 700.0, 36)
    c = np.array([1e-7, -1.5e-4, 0.08, -14.0])
    ds = grid_ds(step_map(t, w, np.polyval(c, w)), t=t, w=w)
    est = pp.estimate_chirp(ds, order=3)
    # onsets found to ≈ 1e-4 ps on a 0.02 ps grid; the fitted cubic reproduces t0(λ) to that
    np.testing.assert_allclose(np.polyval(est.coeffs, w), np.polyval(c, w), atol=2e-3)
    assert "chirp t0(λ) = polyval" in str(est)


def test_svd_of_a_rank_two_map():
    from hotcarrier.svd import svd

    t, w = np.linspace(0, 10, 50), np.linspace(400, 700, 40)
    m = np.outer(np.exp(-t), np.sin(w / 50)) + 0.5 * np.outer(np.exp(-t / 5), np.cos(w / 30))
    ds = grid_ds(m, t=t, w=w)
    r = svd(ds, n_components=4)
    s = r["singular_value"].values
    assert s[2] / s[0] < 1e-12  # rank 2 up to float64 rounding
    recon = (r["lsv"].values[:, :2] * s[:2]) @ r["rsv"].values[:2]
    np.testing.assert_allclose(recon, m, atol=1e-12)


# --- KiMoPack parity ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kimopack(shared_data):
    from hotcarrier.io import load_ta

    d = shared_data / "kimopack_ru_dppz"
    ds = load_ta(d / "TA_Ru-dppz_400nm_ACN.SIA")
    return ds, pp.read_chirp_file(d / "TA_Ru-dppz_400nm_ACN_chirp.dat")


def _onsets_350_700(ds):
    sub = pp.exclude_band(pp.crop(ds, wavelength=(350.0, 700.0)), 380.0, 405.0)
    return pp.find_onsets(sub, fraction=0.5, delay_window=(-3.0, 3.0)).values


def test_kimopack_chain_and_chirp_parity(kimopack):
    raw, c = kimopack
    ds = pp.merge_duplicate_delays(raw)
    assert ds.sizes["delay"] == 189  # 195 rows, 7 of them at 1799.9999 ps
    ds = pp.mask_bad_values(ds, threshold=1.0)
    ds = pp.subtract_background(ds, before=-0.5)
    raw_on = _onsets_350_700(ds)
    # before correction the onsets follow the chirp: about −1.9 ps (blue) to +0.9 ps (red)
    assert np.nanpercentile(raw_on, 5) < -1.4 and np.nanpercentile(raw_on, 95) > 0.5
    corrected = pp.chirp_correct(ds, c)
    on = _onsets_350_700(corrected)
    # after correction: within one IRF of zero. Tolerance 0.2 ps = IRF FWHM 0.12 ps + the
    # 0.05 ps delay step around zero (+ rounding). A few wavelengths sit on zero crossings of
    # ΔA (≈494 nm, ≈660 nm) where |ΔA| is noise-level and a half-max onset is meaningless;
    # so ≥ 98 % of the wavelengths must pass, and the median must be well inside the IRF.
    ok = np.abs(on) < 0.2
    assert ok.mean() >= 0.98, np.nanmax(np.abs(on))
    assert np.nanmedian(np.abs(on)) < IRF_FWHM
    # The estimate from the data's half-max onsets: applying it also brings the onsets
    # within one IRF (self-consistency), and it follows KiMoPack's polynomial: their
    # difference is a near-constant ≈0.1 ps offset (the corrected onsets above sit at
    # ≈+0.1 ps, i.e. KiMoPack's t0 marks the start of the rise, not its half-max), largest
    # at the blue edge where the rise is slowest; so: median difference < 1 IRF,
    # maximum over 350–700 nm < 2 IRF. Order 4 as KiMoPack's own polynomial.
    sub = pp.exclude_band(pp.crop(ds, wavelength=(350.0, 700.0)), 380, 405)
    est = pp.estimate_chirp(sub, order=4, delay_window=(-3.0, 3.0))
    on_est = _onsets_350_700(pp.chirp_correct(ds, est.coeffs))
    assert (np.abs(on_est) < 0.2).mean() >= 0.98
    w = np.linspace(350.0, 700.0, 36)
    diff = np.abs(np.polyval(est.coeffs, w) - np.polyval(c, w))
    assert np.median(diff) < IRF_FWHM and diff.max() < 2 * IRF_FWHM
    # the KiMoPack fit window
    fit = pp.exclude_band(pp.crop(corrected, delay=(0.35, 2000.0), wavelength=(320.0, 770.0)),
                          380.0, 405.0)
    check_ta(fit)
    assert fit["wavelength"].values.min() == 320.0 and fit["wavelength"].values.max() == 770.0
    assert fit["delay"].values.min() >= 0.35


def test_sentinels_are_all_masked(kimopack):
    raw, _ = kimopack
    out = pp.mask_bad_values(raw)
    assert int(out["mask"].values.sum()) == 5873  # README: 5873 sentinel cells


def test_solvent_outside_its_scan_is_refused_zeroed_or_warned():
    ds = grid_ds()  # −2 … 5 ps
    short = grid_ds(signal=np.full((31, 31), 0.25), t=np.linspace(-2.0, 1.0, 31))  # ends at 1 ps
    with pytest.raises(DatasetValidationError, match=r"covers delays -2…1 ps.*outside='zero'"):
        pp.subtract_dataset(ds, short)
    out = pp.subtract_dataset(ds, short, outside="zero")
    late = ds["delay"].values > 1.0 + 1e-9
    np.testing.assert_allclose(out["signal"].values[late], ds["signal"].values[late], atol=0)
    np.testing.assert_allclose(out["signal"].values[~late], ds["signal"].values[~late] - 0.25,
                               atol=1e-15)
    assert "left unchanged (outside='zero')" in history(out)[-1]
    with pytest.warns(UserWarning, match=r"1240 of 2201 valid cells \(56 %\) became NaN"):
        pp.subtract_dataset(ds, short, outside="nan")


def test_prepare_subtracts_a_scaled_solvent_before_the_chirp():
    t = np.arange(-2.0, 5.0, 0.05)
    w = np.linspace(400.0, 700.0, 16)
    solvent = grid_ds(signal=np.full((t.size, w.size), 0.1), t=t, w=w)
    ds = grid_ds(signal=np.full((t.size, w.size), 0.3), t=t, w=w)
    st = pp.prepare_steps(ds, {"solvent": solvent, "solvent_scale": 3.0})
    np.testing.assert_allclose(st.data["signal"].values, 0.0, atol=1e-15)
    assert history(st.data)[-1].startswith("subtract_dataset: 3 × ")

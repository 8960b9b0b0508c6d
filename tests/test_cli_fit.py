"""``hotcarrier fit``: the quick global-analysis path on real data, outputs, errors."""

import json

import pytest

from hotcarrier.cli import main

RU = "kimopack_ru_dppz/TA_Ru-dppz_400nm_ACN.SIA"
CHIRP = "kimopack_ru_dppz/TA_Ru-dppz_400nm_ACN_chirp.dat"


def test_ru_dppz_quick_path_matches_kimopack(shared_data, tmp_path, capsys):
    out = tmp_path / "ru"
    rc = main(["fit", str(shared_data / RU), "--scheme", "sequential", "--lifetimes", "4,75,1.8e5",
               "--fix-lifetime", "3", "--irf-fwhm", "0.12", "--fix-irf", "--t0", "0", "--fix-t0",
               "--time-range", "0.35", "2000", "--wavelength-range", "320", "770",
               "--exclude", "380", "404.5", "--background-before", "-0.5", "--bad-values", "20",
               "--chirp", str(shared_data / CHIRP), "--out", str(out), "--no-figure",
               "--progress"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["converged"] and (out / "result.nc").is_file()
    for key in ("n_iterations", "wall_time_s", "cost", "rmse", "chi2_reduced", "n_data", "n_free",
                "parameters"):
        assert key in s
    assert s["n_free"] == 2 and s["parameters"]["tau3"]["fixed"]
    t1, t2, t3 = s["lifetimes_ps"]
    # KiMoPack 7.14.1 on the same file with the same settings (benchmarks/parity_kimopack.py,
    # results/parity_kimopack.json): τ1 = 4.01794 ps, τ2 = 65.3686 ps. We get 4.089 and 64.83
    # (+1.8 %, −0.8 %); KiMoPack's scatter cut [380, 405) keeps 405 nm, hence 404.5 here. The
    # rest is KiMoPack filling the cells beyond the last delay with 0 (its 0.35–1700 ps fit
    # agrees with ours to 4e-5, and both engines agree to 1e-5 on KiMoPack's own matrix).
    assert t1 == pytest.approx(4.01794, rel=0.02) and t2 == pytest.approx(65.3686, rel=0.02)
    assert t3 == 1.8e5
    # the preprocessing is stored: every step in order and the chirp polynomial of the file
    pre = s["preprocessing"][0]
    steps = [h.split(":")[0] for h in pre["history"] if not h.startswith("load_ta")]
    assert steps == ["mask_bad_values", "merge_duplicate_delays", "crop", "subtract_background",
                     "chirp_correct", "crop", "exclude_band"]
    chirp = [float(x) for x in (shared_data / CHIRP).read_text().split(",")]
    assert pre["chirp_coefficients"] == chirp and pre["options"]["background_before"] == -0.5
    from hotcarrier.fitting.result import FitResult

    back = FitResult.from_netcdf(out / "result.nc")
    assert back.dataset.attrs["preprocessing_history"].splitlines() == pre["history"]
    assert list(back.dataset.attrs["chirp_coefficients"]) == chirp
    printed = capsys.readouterr()
    assert "FitResult  converged" in printed.out and "iteration" in printed.err


def test_bad_model_file_lists_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('transfers = [{from = "s1", to = "s9", rate = "k1"}]\n'
                   '[model]\ncompartments = ["s1", "s2"]\ninitial = {s1 = 1}\n'
                   '[parameters]\nk1 = {vaule = 1}\n')
    data = tmp_path / "d.csv"
    data.write_text("x")
    rc = main(["fit", str(data), "--model", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and "vaule" in err


def test_quick_path_needs_lifetimes(tmp_path, capsys):
    rc = main(["fit", "x.ascii", "--scheme", "parallel", "--out", str(tmp_path)])
    assert rc == 2 and "--lifetimes" in capsys.readouterr().err


def test_inspect_prints_the_chirp_and_writes_the_figure(shared_data, tmp_path, capsys):
    fig = tmp_path / "ru.png"
    rc = main(["inspect", str(shared_data / RU), "--bad-values", "20", "--background-before",
               "-0.5", "--chirp", str(shared_data / CHIRP), "--wavelength-range", "320", "770",
               "--exclude", "380", "404.5", "--figure", str(fig)])
    out = capsys.readouterr().out
    assert rc == 0 and fig.stat().st_size > 50_000
    assert "polyval([-2.884956468e-11, 1.04278309e-07" in out
    # KiMoPack's hand-picked polynomial marks the start of the rise; the half-maximum onsets
    # sit ≈0.1 ps later (tests/test_preprocess.py), so their rms about it is ~0.1 ps, not 0
    rms = float(out.split("about it: ")[1].split(" ps")[0])
    assert 0.03 < rms < 0.2
    assert "before t0(λ) − 0.5 ps" in out and "merge_duplicate_delays" in out


def test_inspect_json_is_the_only_thing_on_stdout(tmp_path, capsys):
    # `inspect --json | python -m json.tool` works: the "wrote FIGURE" line goes to stderr
    import numpy as np

    from hotcarrier.dataset import make_ta_dataset
    from hotcarrier.io import save_ta

    t, wl = np.linspace(-1.0, 20.0, 30), np.linspace(450.0, 650.0, 12)
    sig = np.outer(np.exp(-np.clip(t, 0, None) / 5.0) * (t > 0), np.ones(wl.size)) * 1e-3
    data = save_ta(make_ta_dataset(t, wl, sig, signal_units="OD"), tmp_path / "m.nc")
    fig = tmp_path / "i.png"
    assert main(["inspect", str(data), "--json", "--figure", str(fig)]) == 0
    io = capsys.readouterr()
    doc = json.loads(io.out)
    assert isinstance(doc, dict) and doc and f"wrote {fig}" in io.err and fig.exists()

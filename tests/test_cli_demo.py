"""`hotcarrier demo` (README quick start, command 1) runs end to end and prints real results."""

import json

from hotcarrier.cli import main


def test_demo_prints_yields_and_ratio(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Φ_inj" in out and "clean/defective H2 ratio" in out
    s = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    clean = s["injection_quantum_yield"]["au_cds_clean"]
    defective = s["injection_quantum_yield"]["au_cds_defective"]
    # The bundled data were generated with Φ_inj = 0.4812 / 0.0910 (spec V1/V2); the fitted
    # 95 % intervals must contain those true values (they are profile-likelihood intervals).
    for d in (clean, defective):
        assert d["ci95"][0] <= d["true"] <= d["ci95"][1]
    # The ratio predicted from the two fits must contain the generating presets' ratio (517,
    # spec V11) within its 95 % interval (issue 5's acceptance criterion).
    lo, hi = s["h2_ratio"]["ci95"]
    assert lo <= s["h2_ratio_presets"] <= hi
    assert abs(s["h2_ratio_presets"] - 517) < 1.0
    assert (tmp_path / "demo" / "h2_ratio.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "au_cds_clean" / "summary.json").exists()


def test_fit_cli_dispatches_physical_model_files(tmp_path, capsys):
    from hotcarrier.bundled import dataset_path, fits_dir

    rc = main(["fit", str(dataset_path("au_cds_defective.nc")), "--model",
               str(fits_dir() / "au_cds_defective" / "model.toml"), "--out", str(tmp_path / "f")])
    assert rc == 0
    s = json.loads((tmp_path / "f" / "summary.json").read_text())
    phi = s["derived"]["injection_quantum_yield"]
    # generated with Φ_inj = 0.0910 (spec V2): within 3 standard errors and inside the interval
    assert abs(phi["value"] - 0.0910) < 3 * phi["stderr"]
    assert phi["ci95"][0] < 0.0910 < phi["ci95"][1]

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

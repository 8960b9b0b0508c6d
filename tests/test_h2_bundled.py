"""Ratio from the fits of the bundled clean and defective datasets vs their generating parameters.

Runs when the repository holds saved fits of the physical model for the bundled synthetic
datasets: ``fits/<name containing 'clean'>/summary.json`` and
``fits/<name containing 'defective'>/summary.json`` (layout: docs/h2.md §5). The generating
parameters are read from a ``true_parameters`` block (name → value) of the summary or of
``datasets/<same name>.json`` when present, else they are the presets (the bundled datasets are
simulated from ``CLEAN``/``DEFECTIVE``). Skipped, with the reason, while those files are absent.
"""

import json
from pathlib import Path

import pytest

from hotcarrier.h2 import H2Inputs, h2_ratio
from hotcarrier.physics.parameters import preset

ROOT = Path(__file__).resolve().parents[1]


def _find(role: str):
    for s in sorted((ROOT / "fits").glob("*/summary.json")):
        name = s.parent.name.lower()
        if role in name and not (role == "clean" and "defective" in name):
            return s
    return None


def _truth(summary: Path, role: str):
    p = preset(role)
    blocks = []
    data = json.loads(summary.read_text())
    blocks.append(data.get("true_parameters"))
    side = ROOT / "datasets" / f"{summary.parent.name}.json"
    if side.is_file():
        blocks.append(json.loads(side.read_text()).get("true_parameters"))
    for b in blocks:
        if isinstance(b, dict):
            known = {k: float(v) for k, v in b.items() if hasattr(p, k)}
            return p.replace(**known)
    return p


def test_ratio_from_bundled_fits_covers_generating_ratio():
    c, d = _find("clean"), _find("defective")
    if c is None or d is None:
        pytest.skip("no saved fits of the bundled clean/defective datasets under fits/ yet")
    res = h2_ratio(str(c), str(d), n_samples=1000)
    if res.ci95 is None:
        pytest.skip(f"{c} / {d} carry no stderr: no interval to test")
    true = h2_ratio(H2Inputs(_truth(c, "clean")), H2Inputs(_truth(d, "defective"))).value
    lo, hi = res.ci95
    assert lo < true < hi, (res.value, res.ci95, true)

"""Ratio from the fits of the bundled clean and defective datasets vs their generating parameters.

Runs when the repository holds saved fits of the physical model for the bundled synthetic
datasets: ``fits/<name containing 'clean'>/summary.json`` and
``fits/<name containing 'defective'>/summary.json`` (layout: docs/h2.md §5). The generating
parameters are the ``generating_parameters`` attribute (JSON, ``interface`` block) of the
bundled dataset ``datasets/<fit folder name>*.nc`` written by
:mod:`hotcarrier.physics.simulate`, else the presets. Skipped, with the reason, while those
files are absent.
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
    for nc in sorted((ROOT / "datasets").glob(f"{summary.parent.name}*.nc")):
        xr = pytest.importorskip("xarray")
        with xr.open_dataset(nc) as ds:
            gp = ds.attrs.get("generating_parameters")
        if isinstance(gp, str):
            block = json.loads(gp).get("interface", {})
            return p.replace(**{k: float(v) for k, v in block.items() if hasattr(p, k)})
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

"""Batches of physical-model fits: a batch item equals the single fit of the same data; an
unreadable item is flagged, not fatal; ``fit-many`` with a physical model file gives the same
per-item results on 1 and on 8 (forced) CPU devices."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hotcarrier.batch import fit_batch
from hotcarrier.physics import simulate
from hotcarrier.physics.fit import fit_physical
from hotcarrier.physics.modelfile import PhysicalModel
from hotcarrier.physics.parameters import CLEAN

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fits" / "au_cds_clean" / "model_rigid.toml"  # batches fit the rigid chain


def _bundles(folder: Path, n: int) -> list[Path]:
    """``n`` simulated samples: Φ_inj varied through τ_inj, independent noise."""
    paths = []
    for i in range(n):
        b = simulate.simulate_bundle(CLEAN.replace(tau_inj_fs=20.0 + 3.0 * i), seed=100 + i,
                                     include_visible=False)
        paths.append(simulate.write_bundle(b, folder / f"sample{i:02d}.nc"))
    return paths


def test_batch_item_equals_single_fit_and_bad_item_is_flagged(tmp_path):
    paths = _bundles(tmp_path, 2)
    model = PhysicalModel.from_toml(MODEL)
    ds = fit_batch(MODEL, [*paths, tmp_path / "missing.nc"])
    assert ds["converged"].values.tolist() == [True, True, False]
    assert int(ds["status"].values[2]) == 11 and "missing.nc" in str(ds["error"].values[2])
    single = fit_physical(simulate.read_bundle(paths[1]), model)
    phi = single.derived["injection_quantum_yield"]
    got = ds.sel(param="injection_quantum_yield").isel(batch=1)
    assert float(got["value"]) == pytest.approx(phi["value"], rel=1e-8)
    assert float(got["stderr"]) == pytest.approx(phi["stderr"], rel=1e-6)
    for name in model.free:
        assert float(ds["value"].sel(param=name).values[1]) == pytest.approx(
            single.parameters[name]["value"], rel=1e-7)


SCRIPT = """
import json, sys
sys.argv = ["hotcarrier", "fit-many", {folder!r}, "--model", {model!r}, "--out", {out!r},
            "--devices", {devices!r}, "--quiet"]
from hotcarrier.cli import main
rc = main()
print("RC", rc)
"""


@pytest.mark.slow  # two processes, each compiling the batch program (~1 min on 2 cores)
def test_fit_many_physical_same_on_1_and_8_devices(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _bundles(folder, 16)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    results = {}
    for devices in ("1", "8"):
        out = tmp_path / f"out{devices}"
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(folder=str(folder), model=str(MODEL),
                                                  out=str(out), devices=devices)],
            env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[devices] = json.loads((out / "summary.json").read_text())["items"]
    assert len(results["1"]) == 16 and all(r["converged"] for r in results["1"])
    for a, b in zip(results["1"], results["8"]):
        assert a["item"] == b["item"] and a["status"] == b["status"]
        for name, pa in a["parameters"].items():
            pb = b["parameters"][name]
            np.testing.assert_allclose(pb["value"], pa["value"], rtol=1e-8, err_msg=name)
            np.testing.assert_allclose(pb["stderr"], pa["stderr"], rtol=1e-6, err_msg=name)

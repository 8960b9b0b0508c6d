"""The tutorial notebooks in docs/tutorials run: their code cells are executed in order, in
one namespace, in a temporary copy of the folder (no Jupyter needed; each notebook checks its
own numbers with asserts)."""

import json
import os
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_notebook(path: Path, workdir: Path) -> dict:
    """Execute the code cells of ``path`` in ``workdir``; returns the namespace."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    ns: dict = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for k, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                exec(compile("".join(cell["source"]), f"{path.name}[cell {k}]", "exec"), ns)
    finally:
        os.chdir(cwd)
    return ns


def _workdir(tmp_path: Path) -> Path:
    # notebooks find the shared data as ../../../shared/data, as from docs/tutorials
    work = tmp_path / "repo" / "docs" / "tutorials"
    work.mkdir(parents=True)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED.parent, target_is_directory=True)
    return work


def test_fit_your_own_map(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/data (the real Ru-dppz map) is absent")
    work = _workdir(tmp_path)
    ns = run_notebook(TUTORIALS / "01_fit_your_own_map.ipynb", work)
    assert ns["res"].converged and ns["fig"].axes


@pytest.mark.notebook  # two more compilations (parallel and sequential schemes)
def test_global_to_target(tmp_path):
    ns = run_notebook(TUTORIALS / "02_global_to_target.ipynb", _workdir(tmp_path))
    assert ns["sequential"].converged


@pytest.mark.notebook  # a physical-model fit with its profile interval
def test_physical_yield(tmp_path):
    ns = run_notebook(TUTORIALS / "03_physical_yield.ipynb", _workdir(tmp_path))
    assert ns["res"].converged


def test_notebooks_are_listed():
    assert sorted(p.name for p in TUTORIALS.glob("*.ipynb")) == [
        "01_fit_your_own_map.ipynb", "02_global_to_target.ipynb", "03_physical_yield.ipynb"]

"""Repository hygiene: no unresolved merge-conflict markers in the text files users read."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("*.md", "*.py", "*.toml", "*.cfg", "*.txt", "*.ipynb", "*.sh")
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def _files():
    for pattern in TEXT:
        for path in ROOT.rglob(pattern):
            rel = path.relative_to(ROOT)
            if not any(part.startswith(".") or part in {"build", "dist", "__pycache__"}
                       or part.endswith(".egg-info") for part in rel.parts):
                yield rel


def test_no_merge_conflict_markers():
    files = list(_files())
    assert len(files) > 50, "the repository's text files were not found"
    bad = []
    for rel in files:
        for no, line in enumerate((ROOT / rel).read_text(errors="replace").splitlines(), 1):
            if line.startswith(MARKERS) or line == "=======":
                bad.append(f"{rel}:{no}: {line[:40]}")
    if bad:
        pytest.fail("unresolved merge-conflict markers:\n" + "\n".join(bad))

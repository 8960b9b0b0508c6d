"""Fuzzing the readers: random bytes, truncations and mutations of small valid files.

Invariant: a reader either returns a valid TA dataset or raises the project's own error
(:class:`~hotcarrier.errors.HotcarrierError`); never another exception, never a warning
(pytest turns warnings into errors), never a change to the input file.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotcarrier.dataset import check_ta, make_ta_dataset
from hotcarrier.errors import HotcarrierError
from hotcarrier.io import FORMATS, load_ta, save_ta

# 60 examples per test keep the file at ~1 s; HOTCARRIER_FUZZ_EXAMPLES=2000 for a deep run
FUZZ = settings(max_examples=int(os.environ.get("HOTCARRIER_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _valid_files() -> dict[str, bytes]:
    t = np.array([-0.5, 0.0, 0.25, 1.0, 10.0])
    w = np.array([450.0, 500.0, 550.0, 600.0])
    s = np.sin(np.add.outer(t, w / 100.0)) * 1e-3
    s[1, 2] = np.nan
    ds = make_ta_dataset(t, w, s, mask=np.eye(5, 4, dtype=bool),
                         attrs={"sample": "fuzz", "metadata_text": "file info:Date: x"})
    out = {}
    with tempfile.TemporaryDirectory() as d:
        for ext in (".csv", ".ufs", ".sia", ".ascii", ".npz", ".nc"):
            p = save_ta(ds, Path(d) / f"v{ext}")
            out[ext] = p.read_bytes()
    return out


VALID = _valid_files()


def _load_or_own_error(tmp_path: Path, data: bytes, name: str = "f.bin", fmt=None):
    p = tmp_path / name
    p.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    try:
        ds = load_ta(p, format=fmt)
    except HotcarrierError as exc:
        assert str(exc)  # a message, naming the file when it is a file problem
        if hasattr(exc, "path") and exc.path is not None:
            assert name in str(exc)
    else:
        check_ta(ds, allow_duplicate_delays=True)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == digest  # input untouched


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    _load_or_own_error(tmp_path, data)


@FUZZ
@given(data=st.binary(max_size=300), fmt=st.sampled_from(sorted(FORMATS)))
def test_random_bytes_forced_format(tmp_path, data, fmt):
    _load_or_own_error(tmp_path, data, fmt=fmt)


@FUZZ
@given(ext=st.sampled_from(sorted(VALID)), frac=st.floats(0.0, 1.0))
def test_truncations(tmp_path, ext, frac):
    raw = VALID[ext]
    _load_or_own_error(tmp_path, raw[: int(len(raw) * frac)], name=f"t{ext}")


@pytest.mark.slow  # default-suite budget (2 cores): run with -m slow
@FUZZ
@given(ext=st.sampled_from(sorted(VALID)), data=st.data())
def test_mutations(tmp_path, ext, data):
    raw = bytearray(VALID[ext])
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=4))
        elif raw:
            del raw[i: i + data.draw(st.integers(1, 4))]
    _load_or_own_error(tmp_path, bytes(raw), name=f"m{ext}")


TEXT_CHARS = st.sampled_from(list("0123456789.-+eE,;\t \n\rNaN") + ["Time [ps]", "nan", "x"])


@FUZZ
@given(parts=st.lists(TEXT_CHARS, max_size=120))
def test_numberlike_text(tmp_path, parts):
    _load_or_own_error(tmp_path, "".join(parts).encode(), name="n.txt")


@pytest.mark.parametrize("ext", sorted(VALID))
def test_valid_fuzz_seeds_load(tmp_path, ext):
    p = tmp_path / f"v{ext}"
    p.write_bytes(VALID[ext])
    ds = load_ta(p)
    assert ds.sizes == {"delay": 5, "wavelength": 4}

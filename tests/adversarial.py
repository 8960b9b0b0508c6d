"""The adversarial generator: ≥ 300 bad (and a few good) inputs in seven categories, each run
and classified by what the package did with it.

Categories (issue 14): damaged files in every format, bad model files, bad options, interrupted
and concurrent runs, degenerate data, API misuse, large files. Outcomes:

- ``clear error``     a :class:`~hotcarrier.errors.HotcarrierError` (CLI: exit code 2 with
                      ``hotcarrier CMD: error: ...``, or argparse's usage error) — the expected
                      answer to bad input;
- ``correct result``  a valid result where one was expected (checked against the input:
                      same numbers, a warning that was due, a complete output set);
- ``traceback``       any other exception (a bug shown to the user);
- ``silent wrong``    a result where an error (or a warning) was due, a misread value, or
                      — for command-line options — the fit started although an option or the
                      output location was unusable (it would fail or mislead only afterwards);
- ``mixed output``    an output folder holding files of two runs, a truncated file, or a
                      stale file, that a reader accepts;
- ``hang``            no answer within the case's time limit (FIFOs);
- ``memory``          a peak of traced allocations above the case's limit (3 × the data used,
                      plus a fixed 16 MiB for the interpreter's own buffers).

Run ``python tests/adversarial.py`` (from the repository root) for the table; ``--slow``
adds the cases that fit or start processes; ``--json`` prints every case. The cases are kept
as tests in ``tests/test_adversarial.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hotcarrier.errors import HotcarrierError  # noqa: E402

CATEGORIES = ("damaged files", "model files", "options", "interrupted/concurrent",
              "degenerate data", "API misuse", "large files")
OUTCOMES = ("clear error", "correct result", "traceback", "silent wrong", "mixed output", "hang",
            "memory")
GOOD = ("clear error", "correct result")
SLACK = 16 << 20  # bytes of fixed overhead allowed on top of 3 × the data used


@dataclass
class Case:
    """One adversarial input.

    ``run(folder)`` does the thing in a fresh folder and returns what came out. ``expect`` is
    ``"error"`` (a HotcarrierError is the right answer; anything returned is silent wrong) or
    a checker ``check(result, folder) -> None | str`` (None: correct; a string: what is
    wrong, a silent-wrong or, when it starts with ``"mixed:"``, a mixed-output result).
    """

    category: str
    name: str
    run: Callable
    expect: object = "error"
    timeout: float | None = None  # seconds; run in a thread, 'hang' when exceeded
    unblock: Callable | None = None  # releases a hung thread (e.g. opens a FIFO's other end)
    mem_limit: Callable | None = None  # folder -> bytes allowed (traced peak)
    slow: bool = False  # fits, or several processes: excluded from the default test run
    prepare: Callable | None = None  # makes the input files (before memory is traced)
    error_ok: bool = False  # a clear error is as good as the checked result
    warns: bool = False  # a HotcarrierWarning is part of the correct answer

    @property
    def id(self) -> str:
        return f"{self.category}: {self.name}"


class FitReached(Exception):
    """Raised in place of the fit: a command got past its option checks."""


# ---------------------------------------------------------------------------------- running

def classify(case: Case, folder: Path) -> tuple[str, str]:
    """(outcome, detail) of one case run in ``folder``."""
    import warnings

    from hotcarrier.errors import HotcarrierWarning

    box: dict = {}
    if case.prepare:
        case.prepare(folder)

    def target():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if case.mem_limit:
                tracemalloc.start()
            try:
                box["result"] = case.run(folder)
            except BaseException as exc:  # noqa: BLE001 — classified below
                box["exc"] = exc
            finally:
                if case.mem_limit:
                    box["peak"] = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
        box["warnings"] = [w for w in caught if issubclass(w.category, HotcarrierWarning)]

    if case.timeout:
        th = threading.Thread(target=target, daemon=True)
        th.start()
        th.join(case.timeout)
        if th.is_alive():
            if case.unblock:
                case.unblock(folder)
                th.join(5)
            return "hang", f"no answer in {case.timeout:g} s"
    else:
        target()
    if "peak" in box:
        limit = case.mem_limit(folder)
        if box["peak"] > limit:
            return "memory", f"peak {box['peak'] / 2**20:.1f} MiB > {limit / 2**20:.1f} MiB"
    exc = box.get("exc")
    if isinstance(exc, MemoryError):
        return "memory", "MemoryError"
    if exc is not None:
        if isinstance(exc, HotcarrierError) and case.expect != "error" and not case.error_ok \
                and case.expect is not valid_or_error:
            return "silent wrong", f"a valid input was refused: {str(exc)[:160]}"
        if isinstance(exc, HotcarrierError) and str(exc).strip():
            peak = f" [peak {box['peak'] / 2**20:.2f} MiB]" if "peak" in box else ""
            return "clear error", str(exc).splitlines()[0][:160] + peak
        if isinstance(exc, SystemExit) and exc.code == 2:
            return "clear error", "usage error (argparse)"
        if isinstance(exc, FitReached):
            if case.expect != "error":
                return "correct result", "reached the fit"
            return "silent wrong", "the fit started before the bad option was refused"
        return "traceback", f"{type(exc).__name__}: {str(exc)[:160]}"
    result = box.get("result")
    if isinstance(result, CliOutcome) and case.expect == "error":
        if result.code == 2 and ": error:" in result.stderr:
            return "clear error", result.stderr.strip().splitlines()[0][:160]
        if result.traceback:
            return "traceback", result.traceback
    if case.expect == "error":
        return "silent wrong", f"no error; returned {type(result).__name__}"
    if case.warns and not box.get("warnings"):
        return "silent wrong", "no warning (a HotcarrierWarning naming the override was due)"
    problem = case.expect(result, folder)
    if problem is None:
        peak = (f"peak {box['peak'] / 2**20:.2f} MiB (limit {case.mem_limit(folder) / 2**20:.1f})"
                if "peak" in box else "")
        return "correct result", peak
    if problem.startswith("mixed:"):
        return "mixed output", problem[6:].strip()
    return "silent wrong", problem


def run_cases(cases, base: Path | None = None) -> list[dict]:
    """Run every case in its own folder under ``base`` (a temporary folder by default)."""
    out = []
    with contextlib.ExitStack() as stack:
        root = Path(base) if base else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for k, case in enumerate(cases):
            folder = root / f"case{k:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            outcome, detail = classify(case, folder)
            out.append({"category": case.category, "name": case.name, "outcome": outcome,
                        "detail": detail, "seconds": round(time.perf_counter() - t0, 3)})
    return out


def table(results: list[dict]) -> str:
    """The category × outcome table (markdown)."""
    head = "| category | cases | " + " | ".join(OUTCOMES) + " |"
    rows = [head, "|" + "---|" * (len(OUTCOMES) + 2)]
    total = dict.fromkeys(OUTCOMES, 0)
    for cat in CATEGORIES:
        rs = [r for r in results if r["category"] == cat]
        counts = {o: sum(r["outcome"] == o for r in rs) for o in OUTCOMES}
        for o in OUTCOMES:
            total[o] += counts[o]
        rows.append(f"| {cat} | {len(rs)} | " + " | ".join(str(counts[o]) for o in OUTCOMES)
                    + " |")
    rows.append(f"| **all** | {len(results)} | " + " | ".join(str(total[o]) for o in OUTCOMES)
                + " |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------ CLI helper

@dataclass
class CliOutcome:
    code: int
    stdout: str
    stderr: str
    traceback: str = ""


def cli(argv, folder: Path, *, stop_at_fit: bool = True) -> CliOutcome:
    """Run ``hotcarrier ARGV`` in-process (cwd = ``folder``); the fit functions of every
    command replaced by :class:`FitReached` when ``stop_at_fit``."""
    from unittest import mock

    from hotcarrier.cli import main

    patches = []
    if stop_at_fit:
        def stop(*a, **k):
            raise FitReached

        # the expensive stage of each command (data are read and prepared before it)
        for target in ("hotcarrier.target.fit._minimise", "hotcarrier.physics.fit._optimise",
                       "hotcarrier.batch.fit._drive", "hotcarrier.analysis.choice._fit_candidate",
                       "hotcarrier.analysis.lda.lda_kernel", "hotcarrier.physics.demo_fits",
                       "hotcarrier.physics.simulate.simulate_to_file",
                       "hotcarrier.h2.h2_ratio"):
            patches.append(mock.patch(target, stop))
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        os.chdir(folder)
        with contextlib.ExitStack() as st:
            for p in patches:
                st.enter_context(p)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(old)
    return CliOutcome(int(code), out.getvalue(), err.getvalue())


# ------------------------------------------------------------------------------ data helpers

T = np.array([-1.0, -0.2, 0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0])
W = np.linspace(450.0, 650.0, 9)


def reference(scale=1e-3):
    """A small clean map: two decays, signal in OD."""
    from hotcarrier.dataset import make_ta_dataset

    tt = np.clip(T, 0, None)[:, None]
    s = scale * (np.exp(-tt / 3.0) * np.sin(W / 40.0) + 0.5 * np.exp(-tt / 80.0) * np.cos(W / 60.0))
    s = np.where(T[:, None] < 0, 0.0, s) + 1e-6 * np.cos(np.add.outer(T, W))
    return make_ta_dataset(T, W, s, attrs={"sample": "adversarial",
                                           "metadata_text": "file info:Date: x"})


_VALID: dict = {}


def write_valid(folder: Path, ext: str, ds=None) -> Path:
    """The reference map saved as ``valid<ext>`` (the bytes are made once per format)."""
    from hotcarrier.io import save_ta

    path = folder / f"valid{ext}"
    if ds is not None:
        return save_ta(ds, path)
    if ext not in _VALID:
        _VALID[ext] = save_ta(reference(), path).read_bytes()
    path.write_bytes(_VALID[ext])
    return path


def same_numbers(ds, ref=None, rtol=1e-9) -> str | None:
    """None when ``ds`` holds the reference map (axes and signal), else what differs."""
    ref = reference() if ref is None else ref
    if ds is None:
        return "no dataset returned"
    if ds.sizes.get("delay") != ref.sizes["delay"] or \
            ds.sizes.get("wavelength") != ref.sizes["wavelength"]:
        return f"shape {dict(ds.sizes)} instead of {dict(ref.sizes)}"
    for k in ("delay", "wavelength"):
        if not np.allclose(ds[k].values, ref[k].values, rtol=rtol):
            return f"{k} axis differs"
    a = ds["signal"].transpose("delay", "wavelength").values
    if not np.allclose(a, ref["signal"].values, rtol=1e-6, atol=1e-12, equal_nan=True):
        return "signal differs"
    return None


def valid_or_error(ds, folder) -> str | None:
    """A damaged file that loads must give a dataset following the convention."""
    from hotcarrier.dataset import check_ta

    try:
        check_ta(ds, allow_duplicate_delays=True)
    except HotcarrierError as exc:
        return f"returned an invalid dataset: {exc}"
    return None


def load(name, **kw):
    def run(folder):
        from hotcarrier.io import load_ta

        return load_ta(folder / name, **kw)
    return run


def text_case(cat, name, text, expect="error", fname="data.txt", warns=False, **kw):
    def run(folder):
        from hotcarrier.io import load_ta

        p = folder / fname
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        return load_ta(p, **kw)
    return Case(cat, name, run, expect, warns=warns)


def matrix_text(delay, wl, sig, corner="Time [ps]", sep="\t", rows="delay"):
    if rows == "delay":
        head = sep.join([corner, *map(repr, map(float, wl))])
        body = [sep.join([repr(float(t)), *map(repr, map(float, r))]) for t, r in zip(delay, sig)]
    else:
        head = sep.join([corner, *map(repr, map(float, delay))])
        body = [sep.join([repr(float(w)), *map(repr, map(float, r))])
                for w, r in zip(wl, sig.T)]
    return "\n".join([head, *body]) + "\n"


# =========================================================================== 1 damaged files

EXTS = (".csv", ".ufs", ".sia", ".ascii", ".npz", ".nc")


def _damaged(ext: str, how: str, arg) -> Case:
    def run(folder):
        from hotcarrier.io import load_ta

        raw = bytearray(write_valid(folder, ext).read_bytes())
        rng = np.random.default_rng(zlib.crc32(f"{ext} {how} {arg!r}".encode()))
        if how == "truncate":
            raw = raw[: int(len(raw) * arg)]
        elif how == "flip":
            for i in rng.integers(0, len(raw), arg):
                raw[i] ^= 0xFF
        elif how == "zero block":
            i = int(len(raw) * arg)
            raw[i: i + 64] = bytes(min(64, len(raw) - i))
        elif how == "append":
            raw += arg
        elif how == "insert":
            i = int(len(raw) * 0.5)
            raw[i:i] = arg
        elif how == "delete":
            i = int(len(raw) * arg)
            del raw[i: i + 7]
        p = folder / f"damaged{ext}"
        p.write_bytes(bytes(raw))
        before = p.read_bytes()
        ds = load_ta(p)
        assert p.read_bytes() == before
        return ds
    return Case("damaged files", f"{ext} {how} {arg!r}"[:60], run, valid_or_error)


def damaged_cases() -> list[Case]:
    cases = []
    for ext in EXTS:
        for frac in (0.0, 0.05, 0.3, 0.5, 0.8, 0.97, 0.999):
            cases.append(_damaged(ext, "truncate", frac))
        for n in (1, 3, 20):
            cases.append(_damaged(ext, "flip", n))
        cases.append(_damaged(ext, "zero block", 0.5))
        cases.append(_damaged(ext, "append", b"\x00garbage\xff" * 3))
        cases.append(_damaged(ext, "insert", b"1e999,nan,\t"))
        cases.append(_damaged(ext, "delete", 0.4))
    # targeted text damage and unit labels
    t, w, s = T, W, reference()["signal"].values
    good = matrix_text(t, w, s)
    cat = "damaged files"
    cases += [
        text_case(cat, "delimited corner unit 'fsec'", good.replace("Time [ps]", "Time [fsec]")),
        text_case(cat, "SIA corner unit 'min'", good.replace("Time [ps]", "Time [min]"),
                  fname="data.SIA"),
        text_case(cat, "delimited corner unit 'parsec'",
                  good.replace("Time [ps]", "Time [parsec]")),
        text_case(cat, "wavelength corner unit 'furlong'",
                  matrix_text(t, w, s, corner="Wavelength [furlong]", rows="wl")),
        text_case(cat, "helios footer Time units: fsec",
                  matrix_text(t, w, s, corner="0", sep=",", rows="wl")
                  + "file info:Date: x\nTime units: fsec\n", fname="data.csv"),
        text_case(cat, "helios footer Z axis title: furlongs",
                  matrix_text(t, w, s, corner="0", sep=",", rows="wl")
                  + "file info:Date: x\nZ axis title: furlongs\n", fname="data.csv"),
        text_case(cat, "glotaran 'signal in furlongs' header",
                  "title\ndelay in ps, wavelength in nm, signal in furlongs\nTime explicit\n"
                  f"Intervalnr {t.size}\n" + " ".join(map(repr, t)) + "\n"
                  + "\n".join(" ".join(map(repr, [wl, *col])) for wl, col in zip(w, s.T)) + "\n",
                  fname="data.ascii"),
        text_case(cat, "comma CSV, 0 corner, delays as rows (all > 0)",
                  matrix_text(t[3:], w, s[3:], corner="0", sep=","), fname="data.csv"),
        text_case(cat, "comma CSV, 0 corner, delays as rows (with negatives)",
                  matrix_text(t, w, s, corner="0", sep=","), fname="data.csv"),
        text_case(cat, "tab matrix, no corner label, delays as rows (all > 0)",
                  matrix_text(t[3:], w, s[3:], corner="0")),
        text_case(cat, "wavelength rows with a 'Time' corner (mislabelled)",
                  matrix_text(t[3:], w, s[3:], corner="Time [ps]", rows="wl")),
        text_case(cat, "header of text, no numbers", "a\tb\tc\nd\te\tf\n"),
        text_case(cat, "decimal comma and comma delimiter",
                  "Time [ps];500;600\n-1;0,1;0,2\n0;0,3;0,4\n".replace(";", ",")),
        text_case(cat, "UTF-16 text", good.encode("utf-16")),
        text_case(cat, "a PNG file", b"\x89PNG\r\n\x1a\n" + bytes(200), fname="x.png"),
        text_case(cat, "a ZIP that is not npz", _zip_bytes({"a.txt": b"hello"}), fname="x.npz"),
        text_case(cat, "HDF5 magic then garbage", b"\x89HDF\r\n\x1a\n" + bytes(300),
                  fname="x.nc"),
        text_case(cat, "netCDF classic magic then garbage", b"CDF\x01" + b"\xff" * 200,
                  fname="x.nc"),
        text_case(cat, "ufs with an absurd axis length",
                  _ufs_bytes(n_claim=2**31), fname="x.ufs"),
        text_case(cat, "ufs with units 'fsec'", _ufs_bytes(time_units="fsec"), fname="x.ufs"),
        text_case(cat, "npz with pickled object array", _npz_pickle(), fname="x.npz"),
        text_case(cat, "npz with text signal", _npz_bytes(signal=np.array(["a", "b"])),
                  fname="x.npz"),
        text_case(cat, "npz with 3-D signal", _npz_bytes(signal=np.zeros((2, 3, 4))),
                  fname="x.npz"),
        text_case(cat, "npz with delay units 'fsec'", _npz_bytes(units="fsec"), fname="x.npz"),
        text_case(cat, "netCDF with delay units 'fsec'", _nc_bytes(units="fsec"), fname="x.nc"),
        text_case(cat, "netCDF without signal", _nc_bytes(drop_signal=True), fname="x.nc"),
    ]
    return cases


def _zip_bytes(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


def _npz_bytes(signal=None, units=None, extra=None, compress=False) -> bytes:
    arrs = {"delay": T, "wavelength": W,
            "signal": reference()["signal"].values if signal is None else signal}
    if units:
        arrs["hotcarrier_attrs"] = np.array(json.dumps({"delay_units": units}))
    arrs.update(extra or {})
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrs)
    return buf.getvalue()


def _npz_pickle() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, delay=T, wavelength=W, signal=np.array([{"a": 1}], dtype=object))
    return buf.getvalue()


def _nc_bytes(units=None, drop_signal=False, extra=None) -> bytes:
    ds = reference()
    if units:
        ds["delay"].attrs["units"] = units
    if drop_signal:
        ds = ds.rename({"signal": "dA"})
    for k, v in (extra or {}).items():
        ds[k] = v
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.nc"
        enc = {k: {"zlib": True, "complevel": 9, "chunksizes": (1000, 1000)}
               for k in (extra or {})}
        ds.to_netcdf(p, engine="h5netcdf", encoding=enc)
        return p.read_bytes()


def _ufs_bytes(n_claim=None, time_units="ps") -> bytes:
    import struct

    def s(x: str) -> bytes:
        b = x.encode()
        return struct.pack(">I", len(b)) + b

    wl, t = W, T
    sig = reference()["signal"].values.T
    n1 = wl.size if n_claim is None else n_claim
    return b"".join([s("Version2"), s("Wavelength"), s("nm"), struct.pack(">I", n1),
                     wl.astype(">f8").tobytes(), s("Time"), s(time_units),
                     struct.pack(">I", t.size), t.astype(">f8").tobytes(), s("DA"),
                     struct.pack(">III", 0, wl.size, t.size), sig.astype(">f8").tobytes(),
                     s("file info:")])


# ============================================================================ 2 model files

TARGET_OK = """
[model]
compartments = ["s1", "s2"]
initial = {s1 = 1}
[parameters]
k1 = {value = 0.3, min = 0}
k2 = {value = 0.01, min = 0}
irf_center = {value = 0.0}
irf_width = {value = 0.1, min = 0.01}
[[transfers]]
from = "s1"
to = "s2"
rate = "k1"
[[transfers]]
from = "s2"
rate = "k2"
"""

PHYS_OK = """
[model]
type = "hotcarrier"
preset = "clean"
[parameters]
tau_bet_ps = 2.0
[free]
injection_quantum_yield = [0.001, 0.72]
tau_bet_ps = [0.5, 20.0]
[data]
probes = ["midir"]
"""


def model_case(name, text, expect="error", kind="target"):
    def run(folder):
        from hotcarrier.api import load_model

        p = folder / "model.toml"
        p.write_bytes(text.encode() if isinstance(text, str) else text)
        m = load_model(p)
        if kind == "target":
            m.validate()
        return m
    return Case("model files", name, run, expect)


def _sub(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def model_cases() -> list[Case]:
    T0, P0 = TARGET_OK, PHYS_OK

    def target_ok(m, folder):
        names = m.parameters.free_names
        return None if set(names) == {"k1", "k2", "irf_center", "irf_width"} else \
            f"free parameters {names}"

    def fixed_false(m, folder):
        return None if "k1" in m.parameters.free_names else "fixed = false read as fixed"

    def profile_off(m, folder):
        return None if m.profile is False else f"profile = {m.profile!r}"

    cases = [
        model_case("valid target model", T0, target_ok),
        model_case("valid physical model", P0, lambda m, f: None if "tau_bet_ps" in m.free
                   else "tau_bet_ps not free", kind="physical"),
        model_case("fixed = false (boolean)", _sub(T0, "value = 0.3, min = 0",
                                                   "value = 0.3, min = 0, fixed = false"),
                   fixed_false),
        model_case("[uncertainty] profile = false", P0 + "[uncertainty]\nprofile = false\n",
                   profile_off, kind="physical"),
        model_case("not TOML", "[model\ncompartments = "),
        model_case("empty file", ""),
        model_case("binary bytes", b"\x00\x01\xff\xfe" * 50),
        model_case("Latin-1 bytes", "[model]\nname = 'caf\xe9'\n".encode("latin-1")),
        model_case("model = \"foo\"", 'model = "foo"\n' + T0.replace("[model]", "[model2]")),
        model_case("[model] is an array", T0.replace("[model]", "[[model]]")),
        model_case("compartments is a string", _sub(T0, '["s1", "s2"]', '"s1"')),
        model_case("compartments has numbers", _sub(T0, '["s1", "s2"]', '["s1", 2]')),
        model_case("compartments empty", _sub(T0, '["s1", "s2"]', "[]")),
        model_case("duplicated compartment", _sub(T0, '["s1", "s2"]', '["s1", "s1"]')),
        model_case("fixed = \"no\"", _sub(T0, "value = 0.3, min = 0",
                                          'value = 0.3, min = 0, fixed = "no"')),
        model_case("fixed = 1", _sub(T0, "value = 0.3, min = 0",
                                     "value = 0.3, min = 0, fixed = 1")),
        model_case("value = \"0.3\" (text)", _sub(T0, "value = 0.3", 'value = "0.3"')),
        model_case("value = nan", _sub(T0, "value = 0.3", "value = nan")),
        model_case("value = inf", _sub(T0, "value = 0.3", "value = inf")),
        model_case("min > max", _sub(T0, "value = 0.3, min = 0", "value = 0.3, min = 1, max = 0")),
        model_case("start below min", _sub(T0, "value = 0.3, min = 0", "value = 0.3, min = 1")),
        model_case("start above max", _sub(T0, "value = 0.3, min = 0", "value = 50, min = 0, "
                                           "max = 1")),
        model_case("start on a bound", _sub(T0, "value = 0.3, min = 0",
                                            "value = 0.3, min = 0.3")),
        model_case("negative rate start", _sub(T0, "value = 0.3, min = 0", "value = -0.3")),
        model_case("min = \"zero\"", _sub(T0, "value = 0.3, min = 0", 'value = 0.3, min = "zero"')),
        model_case("typo 'vaule'", _sub(T0, "value = 0.3", "vaule = 0.3")),
        model_case("typo section [paramters]", T0.replace("[parameters]", "[paramters]")),
        model_case("typo section [[transfer]]", T0.replace("[[transfers]]", "[[transfer]]")),
        model_case("typo key in [model] 'compartment'", _sub(T0, "compartments =",
                                                            "compartment =")),
        model_case("unknown compartment in transfer", _sub(T0, 'from = "s1"', 'from = "s9"')),
        model_case("unknown rate parameter", _sub(T0, 'rate = "k1"', 'rate = "k9"')),
        model_case("rate is a number (a fixed rate)", _sub(T0, 'rate = "k1"', "rate = 0.3"),
                   lambda m, f: None if m.transfers[0].rate == "0.3" else "rate misread"),
        model_case("rate is a table", _sub(T0, 'rate = "k1"', "rate = {a = 1}")),
        model_case("transfers is a table", T0.replace("[[transfers]]", "[transfers]", 1)
                   .split("[[transfers]]")[0]),
        model_case("expression with code", _sub(T0, 'rate = "k1"',
                                                'rate = "__import__(\'os\').getcwd()"')),
        model_case("expression syntax error", _sub(T0, 'rate = "k1"', 'rate = "k1 *"')),
        model_case("expression of 3000 terms", _sub(T0, 'rate = "k1"',
                                                    'rate = "' + "+".join(["k1"] * 3000) + '"')),
        model_case("expression nested 500 deep", _sub(T0, 'rate = "k1"',
                                                      'rate = "' + "(" * 500 + "k1"
                                                      + ")" * 500 + '"')),
        model_case("expr and value both", _sub(T0, "value = 0.01, min = 0",
                                               'value = 0.01, expr = "k1/10"')),
        model_case("expr is a number", _sub(T0, "value = 0.01, min = 0", "expr = 3")),
        model_case("parameter is an array", _sub(T0, "k2 = {value = 0.01, min = 0}",
                                                 "k2 = [1, 2]")),
        model_case("parameter is text", _sub(T0, "k2 = {value = 0.01, min = 0}", 'k2 = "x"')),
        model_case("parameter is a boolean", _sub(T0, "k2 = {value = 0.01, min = 0}",
                                                  "k2 = true")),
        model_case("unit is a number", _sub(T0, "value = 0.3, min = 0",
                                            "value = 0.3, min = 0, unit = 5")),
        model_case("irf dispersion_center text", T0 + '[irf]\ndispersion_center = "abc"\n'),
        model_case("irf dispersion_center nan", T0 + "[irf]\ndispersion_center = nan\n"),
        model_case("irf center is a number", T0 + "[irf]\ncenter = 0.1\n"),
        model_case("irf center_dispersion not a list", T0 + '[irf]\ncenter_dispersion = "c1"\n'),
        model_case("irf extra text", T0 + '[irf]\nextra = "x"\n'),
        model_case("irf extra numbers", T0 + "[irf]\nextra = [1, 2]\n"),
        model_case("irf unknown key 'widht'", T0 + '[irf]\nwidht = "irf_width"\n'),
        model_case("weights value text", T0 + '[[weights]]\nvalue = "big"\n'),
        model_case("weights wavelength one number", T0 + "[[weights]]\nvalue = 2\n"
                   "wavelength = 500\n"),
        model_case("weights wavelength three numbers", T0 + "[[weights]]\nvalue = 2\n"
                   "wavelength = [1, 2, 3]\n"),
        model_case("weights negative", T0 + "[[weights]]\nvalue = -2\n"),
        model_case("constraints zero text", T0 + '[[constraints]]\nspecies = "s1"\nzero = "a"\n'),
        model_case("constraints zero 3 numbers", T0 + '[[constraints]]\nspecies = "s1"\n'
                   "zero = [1, 2, 3]\n"),
        model_case("constraints unknown species", T0 + '[[constraints]]\nspecies = "s7"\n'
                   "zero = [1, 2]\n"),
        model_case("relations factor table", T0 + '[[relations]]\nspecies = "s1"\nto = "s2"\n'
                   "factor = {a = 1}\n"),
        model_case("relations is a table", T0 + '[relations]\nspecies = "s1"\n'),
        model_case("constraints is a table", T0 + '[constraints]\nspecies = "s1"\n'),
        model_case("datasets not a list", T0 + '[datasets]\nname = "a"\n'),
        model_case("datasets irf not a table", T0 + '[[datasets]]\nirf = 5\n'),
        model_case("initial not numeric", _sub(T0, "initial = {s1 = 1}",
                                               'initial = {s1 = true}')),
        model_case("initial unknown compartment", _sub(T0, "initial = {s1 = 1}",
                                                       "initial = {s9 = 1}")),
        model_case("coherent_artifact = \"two\"", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\n'
                                                       'coherent_artifact = "two"')),
        model_case("coherent_artifact = 9", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\n'
                                                 "coherent_artifact = 9")),
        model_case("coherent_artifact = 1.5", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\n'
                                                   "coherent_artifact = 1.5")),
        model_case("baseline = \"yes\"", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\n'
                                              'baseline = "yes"')),
        model_case("link_spectra = 1", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\nlink_spectra = 1')),
        model_case("normalize_initial = \"true\"", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\n'
                                                        'normalize_initial = "true"')),
        model_case("name is a number", _sub(T0, '["s1", "s2"]', '["s1", "s2"]\nname = 5')),
        model_case("preprocess time_range text", T0 + '[preprocess]\ntime_range = "0-10"\n'),
        model_case("preprocess time_range reversed", T0 + "[preprocess]\ntime_range = [10, 0]\n"),
        model_case("preprocess exclude flat list", T0 + "[preprocess]\nexclude = [500, 520]\n"),
        model_case("preprocess chirp number", T0 + "[preprocess]\nchirp = 5\n"),
        model_case("preprocess bad_values text", T0 + '[preprocess]\nbad_values = "big"\n'),
        model_case("preprocess merge_duplicate_delays text",
                   T0 + '[preprocess]\nmerge_duplicate_delays = "no"\n'),
        model_case("preprocess typo 'time_rnage'", T0 + "[preprocess]\ntime_rnage = [0, 1]\n"),
        model_case("top-level key after a table", T0 + 'scheme = "x"\n'),
        model_case("deeply nested arrays", "x = " + "[" * 3000 + "]" * 3000 + "\n"),
        # physical model files
        model_case("phys: unknown section [fre]", P0.replace("[free]", "[fre]"), kind="physical"),
        model_case("phys: unknown section [fitt]", P0 + "[fitt]\nmax_iter = 5\n",
                   kind="physical"),
        model_case("phys: unknown [model] key 'presett'", _sub(P0, 'preset = "clean"',
                                                              'presett = "clean"'),
                   kind="physical"),
        model_case("phys: unknown preset", _sub(P0, '"clean"', '"dirty"'), kind="physical"),
        model_case("phys: preset is a number", _sub(P0, '"clean"', "3"), kind="physical"),
        model_case("phys: barrier model unknown", _sub(P0, 'preset = "clean"', 'preset = "clean"'
                                                       '\nbarrier_model = "tunnel"'),
                   kind="physical"),
        model_case("phys: tau_bet_ps = -1", _sub(P0, "tau_bet_ps = 2.0", "tau_bet_ps = -1.0"),
                   kind="physical"),
        model_case("phys: tau_bet_ps = nan", _sub(P0, "tau_bet_ps = 2.0", "tau_bet_ps = nan"),
                   kind="physical"),
        model_case("phys: tau_bet_ps = \"2\"", _sub(P0, "tau_bet_ps = 2.0", 'tau_bet_ps = "2"'),
                   kind="physical"),
        model_case("phys: fixed N_it_cm2 = -3e12", _sub(P0, "tau_bet_ps = 2.0",
                                                        "tau_bet_ps = 2.0\nN_it_cm2 = -3e12"),
                   kind="physical"),
        model_case("phys: fixed eta_cid = 2", _sub(P0, "tau_bet_ps = 2.0",
                                                   "tau_bet_ps = 2.0\neta_cid = 2.0"),
                   kind="physical"),
        model_case("phys: fixed r_T = -0.5", _sub(P0, "tau_bet_ps = 2.0",
                                                  "tau_bet_ps = 2.0\nr_T = -0.5"),
                   kind="physical"),
        model_case("phys: fixed r_LL = -7", _sub(P0, "tau_bet_ps = 2.0",
                                                "tau_bet_ps = 2.0\nr_LL = -7.0"),
                   kind="physical"),
        model_case("phys: fixed q_ref = -1", _sub(P0, "tau_bet_ps = 2.0",
                                                  "tau_bet_ps = 2.0\nq_ref = -1.0"),
                   kind="physical"),
        model_case("phys: parameter typo 'tau_bett_ps'", _sub(P0, "tau_bet_ps = 2.0",
                                                              "tau_bett_ps = 2.0"),
                   kind="physical"),
        model_case("phys: parameter is a table", _sub(P0, "tau_bet_ps = 2.0",
                                                      "tau_bet_ps = {value = 2}"),
                   kind="physical"),
        model_case("phys: [parameters] is a list", P0.replace("[parameters]\ntau_bet_ps = 2.0\n",
                                                              "parameters = [1]\n"),
                   kind="physical"),
        model_case("phys: free bounds reversed", _sub(P0, "[0.5, 20.0]", "[20.0, 0.5]"),
                   kind="physical"),
        model_case("phys: free bounds text", _sub(P0, "[0.5, 20.0]", '"wide"'), kind="physical"),
        model_case("phys: free bounds with nan", _sub(P0, "[0.5, 20.0]", "[nan, 20.0]"),
                   kind="physical"),
        model_case("phys: free = false", _sub(P0, "[0.5, 20.0]", "false"), kind="physical"),
        model_case("phys: start outside bounds", _sub(P0, "tau_bet_ps = 2.0", "tau_bet_ps = 50.0"),
                   kind="physical"),
        model_case("phys: free name not fittable", P0 + "\n", kind="physical")
        if False else
        model_case("phys: free unknown name", _sub(P0, "tau_bet_ps = [0.5, 20.0]",
                                                   "tau_bett_ps = [0.5, 20.0]"), kind="physical"),
        model_case("phys: probes is a string", _sub(P0, 'probes = ["midir"]', 'probes = "midir"'),
                   kind="physical"),
        model_case("phys: probes unknown", _sub(P0, 'probes = ["midir"]', 'probes = ["xray"]'),
                   kind="physical"),
        model_case("phys: probes empty", _sub(P0, 'probes = ["midir"]', "probes = []"),
                   kind="physical"),
        model_case("phys: [data] unknown key", P0 + "midir_artifact = true\n", kind="physical"),
        model_case("phys: midir_artefact = \"yes\"", P0 + 'midir_artefact = "yes"\n',
                   kind="physical"),
        model_case("phys: max_iter text", P0 + '[fit]\nmax_iter = "many"\n', kind="physical"),
        model_case("phys: max_iter = 0", P0 + "[fit]\nmax_iter = 0\n", kind="physical"),
        model_case("phys: max_iter = 2.5", P0 + "[fit]\nmax_iter = 2.5\n", kind="physical"),
        model_case("phys: optimizer unknown", P0 + '[fit]\noptimizer = "adam"\n', kind="physical"),
        model_case("phys: [fit] unknown key", P0 + "[fit]\nmaxiter = 5\n", kind="physical"),
        model_case("phys: profile = \"no\"", P0 + '[uncertainty]\nprofile = "no"\n',
                   kind="physical"),
        model_case("phys: [uncertainty] unknown key", P0 + "[uncertainty]\nprofil = false\n",
                   kind="physical"),
        model_case("phys: [model] is text", 'model = "hotcarrier"\n' + P0.split("\n", 3)[3],
                   kind="physical"),
        model_case("phys: [free] is a list", P0.replace("[free]\n", "").replace(
            "injection_quantum_yield = [0.001, 0.72]\ntau_bet_ps = [0.5, 20.0]\n",
            "free = [1]\n"), kind="physical"),
    ]
    return cases


# ================================================================================ 3 options

def options_cases() -> list[Case]:
    cat = "options"

    def c(name, argv_fn, expect="error"):
        def run(folder):
            write_valid(folder, ".sia")
            (folder / "model.toml").write_text(TARGET_OK)
            (folder / "afile").write_text("x")
            return cli(argv_fn(folder), folder)
        return Case(cat, name, run, expect)

    def reached(res, folder):
        return None if isinstance(res, CliOutcome) else "unexpected"

    fit = ["fit", "valid.sia", "--scheme", "sequential", "--lifetimes", "3,80", "--out", "o"]
    quick = ["fit", "valid.sia", "--scheme", "sequential", "--lifetimes", "3,80"]
    many = ["fit-many", "valid.sia", "--scheme", "parallel", "--lifetimes", "3,80"]
    cases = [
        Case(cat, "valid fit options reach the fit", lambda f: _reach(f, fit), _reached_ok),
        Case(cat, "valid fit-many options reach the fit", lambda f: _reach(f, [*many, "--out",
                                                                                "o"]), _reached_ok),
        c("fit --out is a file", lambda f: [*quick, "--out", "afile"]),
        c("fit --out under a file", lambda f: [*quick, "--out", "afile/sub"]),
        c("fit --out unwritable", lambda f: [*quick, "--out", "/proc/hotcarrier-out"]),
        c("fit --out empty", lambda f: [*quick, "--out", ""]),
        c("fit --profile unknown", lambda f: [*fit, "--profile", "k99"]),
        c("fit --max-iter 0", lambda f: [*fit, "--max-iter", "0"]),
        c("fit --max-iter -5", lambda f: [*fit, "--max-iter", "-5"]),
        c("fit --lifetimes 0", lambda f: [*fit[:-4], "--lifetimes", "0,80", "--out", "o"]),
        c("fit --lifetimes -3", lambda f: [*fit[:-4], "--lifetimes", "-3,80", "--out", "o"]),
        c("fit --lifetimes nan", lambda f: [*fit[:-4], "--lifetimes", "nan,80", "--out", "o"]),
        c("fit --lifetimes text", lambda f: [*fit[:-4], "--lifetimes", "a,b", "--out", "o"]),
        c("fit --irf-fwhm 0", lambda f: [*fit, "--irf-fwhm", "0"]),
        c("fit --irf-fwhm -0.1", lambda f: [*fit, "--irf-fwhm", "-0.1"]),
        c("fit --irf-fwhm nan", lambda f: [*fit, "--irf-fwhm", "nan"]),
        c("fit --t0 inf", lambda f: [*fit, "--t0", "inf"]),
        c("fit --coherent-artifact 7", lambda f: [*fit, "--coherent-artifact", "7"]),
        c("fit --coherent-artifact -1", lambda f: [*fit, "--coherent-artifact", "-1"]),
        c("fit --fix-lifetime 9", lambda f: [*fit, "--fix-lifetime", "9"]),
        c("fit --fix-lifetime 0", lambda f: [*fit, "--fix-lifetime", "0"]),
        c("fit --time-range reversed", lambda f: [*fit, "--time-range", "10", "1"]),
        c("fit --time-range outside data", lambda f: [*fit, "--time-range", "1e6", "2e6"]),
        c("fit --time-range nan", lambda f: [*fit, "--time-range", "nan", "5"]),
        c("fit --wavelength-range reversed", lambda f: [*fit, "--wavelength-range", "600",
                                                        "500"]),
        c("fit --wavelength-range outside data", lambda f: [*fit, "--wavelength-range", "1",
                                                            "2"]),
        c("fit --exclude everything", lambda f: [*fit, "--exclude", "0", "1e4"]),
        c("fit --bad-values -1", lambda f: [*fit, "--bad-values", "-1"]),
        c("fit --background-before nan", lambda f: [*fit, "--background-before", "nan"]),
        c("fit --chirp missing file", lambda f: [*fit, "--chirp", "nochirp.txt"]),
        c("fit --chirp a directory", lambda f: [*fit, "--chirp", "."]),
        c("fit --chirp garbage file", lambda f: [*fit, "--chirp", "afile"]),
        c("fit --scheme without --lifetimes", lambda f: ["fit", "valid.sia", "--scheme",
                                                         "parallel", "--out", "o"]),
        c("fit --model and --scheme", lambda f: [*fit, "--model", "model.toml"]),
        c("fit --model missing", lambda f: ["fit", "valid.sia", "--model", "none.toml",
                                            "--out", "o"]),
        c("fit --model is a directory", lambda f: ["fit", "valid.sia", "--model", ".",
                                                   "--out", "o"]),
        c("fit no model", lambda f: ["fit", "valid.sia", "--out", "o"]),
        c("fit data missing", lambda f: ["fit", "none.sia", "--scheme", "parallel",
                                         "--lifetimes", "3", "--out", "o"]),
        c("fit data is a directory", lambda f: ["fit", ".", "--scheme", "parallel",
                                                "--lifetimes", "3", "--out", "o"]),
        c("fit two data files for one dataset model", lambda f: ["fit", "valid.sia", "valid.sia",
                                                                  "--model", "model.toml",
                                                                  "--out", "o"]),
        c("fit unknown option", lambda f: [*fit, "--lifetimez", "3"]),
        c("fit-many --out is a file", lambda f: [*many, "--out", "afile"]),
        c("fit-many --chunk-size 0", lambda f: [*many, "--out", "o", "--chunk-size", "0"]),
        c("fit-many --starts 0", lambda f: [*many, "--out", "o", "--starts", "0"]),
        c("fit-many --start-factor -1", lambda f: [*many, "--out", "o", "--start-factor", "-1"]),
        c("fit-many --start-factor 0.5", lambda f: [*many, "--out", "o", "--start-factor",
                                                    "0.5"]),
        c("fit-many --devices 0", lambda f: [*many, "--out", "o", "--devices", "0"]),
        c("fit-many --max-iter 0", lambda f: [*many, "--out", "o", "--max-iter", "0"]),
        c("fit-many no files match", lambda f: ["fit-many", "nothing*.sia", "--scheme",
                                                "parallel", "--lifetimes", "3", "--out", "o"]),
        c("fit-many --rows -1", lambda f: [*many, "--out", "o", "--rows", "-1"]),
        c("choose --max-components 0", lambda f: ["choose", "valid.sia", "--out", "o",
                                                  "--max-components", "0"]),
        c("choose --max-components 50", lambda f: ["choose", "valid.sia", "--out", "o",
                                                   "--max-components", "50"]),
        c("choose --starts 0", lambda f: ["choose", "valid.sia", "--out", "o", "--starts", "0"]),
        c("choose --folds 1", lambda f: ["choose", "valid.sia", "--out", "o", "--folds", "1"]),
        c("choose --folds -2", lambda f: ["choose", "valid.sia", "--out", "o", "--folds", "-2"]),
        c("choose --irf-fwhm -1", lambda f: ["choose", "valid.sia", "--out", "o", "--irf-fwhm",
                                             "-1"]),
        c("choose --out is a file", lambda f: ["choose", "valid.sia", "--out", "afile"]),
        c("choose data missing", lambda f: ["choose", "none.sia", "--out", "o"]),
        c("lda --n-lifetimes 1", lambda f: ["lda", "valid.sia", "--out", "o", "--n-lifetimes",
                                            "1"]),
        c("lda --tmin > --tmax", lambda f: ["lda", "valid.sia", "--out", "o", "--tmin", "100",
                                            "--tmax", "1"]),
        c("lda --tmin -1", lambda f: ["lda", "valid.sia", "--out", "o", "--tmin", "-1"]),
        c("lda --alpha -1", lambda f: ["lda", "valid.sia", "--out", "o", "--alpha", "-1"]),
        c("lda --l1-ratio 2", lambda f: ["lda", "valid.sia", "--out", "o", "--l1-ratio", "2"]),
        c("lda --irf-fwhm 0", lambda f: ["lda", "valid.sia", "--out", "o", "--irf-fwhm", "0"]),
        c("lda --out is a file", lambda f: ["lda", "valid.sia", "--out", "afile"]),
        c("simulate --noise -1", lambda f: ["simulate", "--noise", "-1", "--out", "s.nc"]),
        c("simulate --noise nan", lambda f: ["simulate", "--noise", "nan", "--out", "s.nc"]),
        c("simulate --set bad", lambda f: ["simulate", "--set", "x", "--out", "s.nc"]),
        c("simulate --set unknown", lambda f: ["simulate", "--set", "foo=1", "--out", "s.nc"]),
        c("simulate --set tau_bet_ps=-1", lambda f: ["simulate", "--set", "tau_bet_ps=-1",
                                                     "--out", "s.nc"]),
        c("simulate --out .txt", lambda f: ["simulate", "--out", "s.txt"]),
        c("simulate --out a directory", lambda f: ["simulate", "--out", "."]),
        c("simulate --out in missing folder", lambda f: ["simulate", "--out", "no/dir/s.nc"]),
        c("h2 --samples 0", lambda f: ["h2", "--samples", "0"]),
        c("h2 --mass -1", lambda f: ["h2", "--mass", "-1", "--area", "1", "--irradiance", "1"]),
        c("h2 --irradiance -1", lambda f: ["h2", "--spectrum", "mono:590", "--irradiance", "-1"]),
        c("h2 --catalyst-share 2", lambda f: ["h2", "--absorbance", "0.5", "--catalyst-share",
                                              "2", "--mass", "1", "--area", "1",
                                              "--irradiance", "1"]),
        c("h2 --set x=y", lambda f: ["h2", "--set", "E_s_eV=y"]),
        c("h2 --set unknown", lambda f: ["h2", "--set", "foo=1"]),
        c("h2 --clean missing folder", lambda f: ["h2", "--clean", "nofit/"]),
        c("h2 --spectrum garbage", lambda f: ["h2", "--spectrum", "laser:xyz"]),
        c("h2 --plot in missing folder", lambda f: ["h2", "--plot", "no/dir/r.png"]),
        c("h2 --plot unknown extension", lambda f: ["h2", "--plot", "r.xyz"]),
        c("convert --to unknown", lambda f: ["convert", "valid.sia", "o.nc", "--to", "xyz"]),
        c("convert output exists", lambda f: ["convert", "valid.sia", "afile"]),
        c("convert output folder missing", lambda f: ["convert", "valid.sia", "no/dir/o.nc"]),
        c("convert output is the input", lambda f: ["convert", "valid.sia", "valid.sia",
                                                    "--force", "--to", "sia"]),
        c("convert unknown extension", lambda f: ["convert", "valid.sia", "o.xyz"]),
        c("info --time-unit fsec", lambda f: ["info", "valid.sia", "--time-unit", "fsec"]),
        c("info --format unknown", lambda f: ["info", "valid.sia", "--format", "xyz"]),
        c("info --signal-units furlong", lambda f: ["info", "valid.sia", "--signal-units",
                                                    "furlong"]),
        c("info --delimiter empty", lambda f: ["info", "valid.sia", "--delimiter", ""]),
        c("info --orientation bad", lambda f: ["info", "valid.sia", "--orientation", "diag"]),
        c("demo --out is a file", lambda f: ["demo", "--out", "afile"]),
        Case(cat, "no command: help, exit 2", lambda f: cli([], f),
             lambda r, f: None if r.code == 2 and "usage" in r.stdout else f"exit {r.code}"),
        c("unknown command", lambda f: ["fitt"]),
    ]
    return cases


def _reach(folder, argv):
    write_valid(folder, ".sia")
    return cli(argv, folder)


def _reached_ok(res, folder):
    """A valid command reaches the fit (FitReached, classified before this is called)."""
    return f"did not reach the fit: exit {res.code}: {res.stderr.strip()[-200:]}"


# ==================================================================== 4 interrupted/concurrent

WRITER = r"""
import json, os, sys, time
import numpy as np
import xarray as xr
sys.path.insert(0, sys.argv[1])
from hotcarrier.fitting.result import FitResult
out, run_id, figure = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
res = FitResult.from_netcdf(sys.argv[5], allow_unconverged=True) if "allow" in sys.argv[6:] \
    else FitResult.from_netcdf(sys.argv[5])
res.summary_dict["wall_time_s"] = float(run_id)
res.dataset.attrs["run_id"] = run_id
print("ready", flush=True)
res.write(out, figure=figure)
print("done", flush=True)
"""


def _result_nc() -> Path:
    return ROOT / "fits" / "au_cds_clean" / "result.nc"


def _run_ids(folder: Path) -> dict:
    """{file: run id} of a fit output folder (summary.json, result.nc; the figure by age)."""
    import xarray as xr

    ids = {}
    s = folder / "summary.json"
    if s.exists():
        try:
            ids["summary.json"] = str(json.loads(s.read_text())["wall_time_s"])
        except (ValueError, KeyError):
            ids["summary.json"] = "truncated"
    r = folder / "result.nc"
    if r.exists():
        try:
            with xr.open_dataset(r, engine="h5netcdf") as ds:
                ids["result.nc"] = str(float(json.loads(ds.attrs["summary_json"])
                                             ["wall_time_s"]))
        except Exception:  # noqa: BLE001 — a truncated file of any kind
            ids["result.nc"] = "truncated"
    return ids


def _reader_accepts(folder: Path) -> bool:
    """Does the package's reader of fit folders (``h2.load_fit``) accept the folder?"""
    from hotcarrier.h2 import load_fit

    try:
        load_fit(folder)
    except HotcarrierError:
        return False
    return True


def _check_set(folder: Path, allowed: set, since: float | None = None) -> str | None:
    """An output folder must hold one complete run (in ``allowed``), or be refused; with
    ``since`` (the start of the last run), a figure older than a result of that run is stale."""
    out = folder / "out"
    ids = _run_ids(out)
    fig = out / "overview.png"
    if since is not None and fig.exists() and ids.get("summary.json") == max(allowed) \
            and fig.stat().st_mtime < since:
        ids["overview.png"] = "stale"
    vals = set(ids.values())
    accepted = _reader_accepts(out) if out.exists() else False
    if not accepted:
        return None  # refused (or absent): never used as a result
    if "stale" in vals:
        return f"mixed: the old run's figure is accepted beside the new result ({ids})"
    if "truncated" in vals:
        return f"mixed: a truncated file is accepted ({ids})"
    if len(vals) > 1:
        return f"mixed: files of two runs accepted together ({ids})"
    if vals and not vals <= allowed:
        return f"mixed: unexpected run id {vals}"
    if len(ids) < 2:
        return f"mixed: incomplete set accepted ({ids})"
    return None


def _write_in_process(out: Path, run_id: str) -> None:
    """The first, complete run (as the writer process does it)."""
    from hotcarrier.fitting.result import FitResult

    res = FitResult.from_netcdf(_result_nc())
    res.summary_dict["wall_time_s"] = float(run_id)
    res.dataset.attrs["run_id"] = run_id
    res.write(out)


def _spawn(out: Path, run_id: str, figure=True):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT), str(out), run_id,
                             "1" if figure else "0", str(_result_nc())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})


def _finish(p, timeout: float) -> str:
    """Wait for ``p``, close its pipes; its stderr."""
    _, err = p.communicate(timeout=timeout)
    return err or ""


def _wait_ready(p) -> None:
    line = p.stdout.readline()
    if "ready" not in line:
        raise RuntimeError(f"writer did not start: {line!r} {p.stderr.read()[:2000]}")


def kill_case(sig: int, delay: float, stale_figure: bool = False, slow=True) -> Case:
    name = f"{signal.Signals(sig).name} after {delay * 1000:.0f} ms" + \
        (" (new run without figure)" if stale_figure else "")

    def run(folder):
        out = folder / "out"
        _write_in_process(out, "1.0")
        time.sleep(0.05)
        (folder / "since").write_text(repr(time.time()))
        p = _spawn(out, "2.0", figure=not stale_figure)
        _wait_ready(p)
        time.sleep(delay)
        p.send_signal(sig)
        err = _finish(p, 60)
        if "Traceback" in err and "KeyboardInterrupt" not in err:
            raise RuntimeError(err[-1500:])
        return p.returncode

    def check(code, folder):
        bad = _check_set(folder, {"1.0", "2.0"}, float((folder / "since").read_text()))
        if bad:
            return bad
        out = folder / "out"
        if stale_figure and code == 0 and (out / "overview.png").exists():
            return "mixed: the old run's overview.png is left beside the new result"
        return None
    return Case("interrupted/concurrent", name, run, check, slow=slow)


def concurrent_case(n: int, slow=True) -> Case:
    def run(folder):
        out = folder / "out"
        procs = [_spawn(out, f"{k + 1}.0") for k in range(n)]
        errs = []
        for p in procs:
            errs.append(_finish(p, 180))
        bad = [e for e in errs if "Traceback" in e]
        if bad:
            raise RuntimeError(bad[0][-1500:])
        return [p.returncode for p in procs]

    def check(codes, folder):
        out = folder / "out"
        if not _reader_accepts(out):
            return "no complete result after the runs"
        return _check_set(folder, {f"{k + 1}.0" for k in range(n)})
    return Case("interrupted/concurrent", f"{n} concurrent writers into one folder", run, check,
                slow=slow)


def _save_kill_case(delay: float) -> Case:
    code = r"""
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.io import save_ta
t = np.linspace(-1, 100, 400); w = np.linspace(400, 700, 500)
ds = make_ta_dataset(t, w, np.random.default_rng(0).normal(size=(400, 500)))
print("ready", flush=True)
while True:
    save_ta(ds, sys.argv[2])
"""

    def run(folder):
        out = folder / "map.csv"
        p = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_ready(p)
        time.sleep(delay)
        p.kill()
        _finish(p, 30)
        return out

    def check(out, folder):
        from hotcarrier.io import load_ta

        if not out.exists():
            return None
        leftovers = [x.name for x in folder.iterdir() if x.name != "map.csv"]
        try:
            ds = load_ta(out)
        except HotcarrierError as exc:
            return f"mixed: the killed write left an unreadable file ({exc})"
        if ds.sizes["delay"] != 400:
            return "mixed: truncated map"
        return None if len(leftovers) <= 1 else f"stray temporary files {leftovers}"
    return Case("interrupted/concurrent", f"SIGKILL during save_ta after {delay:g} s", run,
                check, slow=True)


SET_WRITER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from hotcarrier.io.atomic import output_set
out, run_id, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
print("ready", flush=True)
for k in range(n):
    tag = f"{run_id}.{k}"
    with output_set(out, replaces=("result.bin", "summary.json", "figure.bin"),
                    command="fit") as stage:
        (stage / "result.bin").write_bytes(tag.encode().ljust(16) * 40000)
        (stage / "summary.json").write_text(json.dumps({"run": tag}))
        (stage / "figure.bin").write_bytes(tag.encode().ljust(16) * 20000)
"""


def _set_tags(out: Path) -> set:
    """The run tags of the files of a light output set."""
    tags = set()
    for name in ("result.bin", "figure.bin"):
        p = out / name
        if p.exists():
            raw = p.read_bytes()
            tags.add(raw[:16].decode().strip() if raw and len(raw) % 16 == 0 else "truncated")
    p = out / "summary.json"
    if p.exists():
        try:
            tags.add(json.loads(p.read_text())["run"])
        except ValueError:
            tags.add("truncated")
    return tags


def _light_check(out: Path) -> str | None:
    """A light output set is complete and of one run, or refused by check_output_set."""
    from hotcarrier.io.atomic import check_output_set

    try:
        check_output_set(out)
    except HotcarrierError:
        return None  # refused: an interrupted set is never used
    tags = _set_tags(out)
    if len(tags) != 1 or "truncated" in tags:
        return f"mixed: the accepted set holds {sorted(tags)}"
    return None


def light_kill_case(sig: int, delay: float, slow=False) -> Case:
    """A writer of output sets (no fit, no JAX) killed while it writes set after set."""
    def run(folder):
        out = folder / "out"
        p = subprocess.Popen([sys.executable, "-c", SET_WRITER, str(ROOT), str(out), "r", "1000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_ready(p)
        time.sleep(delay)
        p.send_signal(sig)
        err = _finish(p, 60)
        if "Traceback" in err and "KeyboardInterrupt" not in err:
            raise RuntimeError(err[-1500:])
        return out

    def check(out, folder):
        if not (out / "summary.json").exists():
            return "no set was written before the kill"
        return _light_check(out)
    return Case("interrupted/concurrent", f"output-set writer, {signal.Signals(sig).name} after "
                f"{delay * 1000:.0f} ms", run, check, slow=slow)


def light_concurrent_case(n: int, slow=False) -> Case:
    """n writers committing sets into one folder at the same time."""
    def run(folder):
        out = folder / "out"
        procs = [subprocess.Popen([sys.executable, "-c", SET_WRITER, str(ROOT), str(out),
                                   f"w{k}", "10"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for k in range(n)]
        errs = []
        for p in procs:
            errs.append(_finish(p, 120))
        bad = [e for e in errs if "Traceback" in e]
        if bad:
            raise RuntimeError(bad[0][-1500:])
        return out

    def check(out, folder):
        from hotcarrier.io.atomic import check_output_set

        try:
            check_output_set(out)
        except HotcarrierError as exc:
            return f"no complete set after the runs: {exc}"
        tags = _set_tags(out)
        if len(tags) != 1 or not next(iter(tags)).endswith(".9"):
            return f"mixed: {sorted(tags)}"
        return None
    return Case("interrupted/concurrent", f"{n} output-set writers into one folder", run, check,
                slow=slow)


def interrupted_cases() -> list[Case]:
    cases = [light_kill_case(signal.SIGKILL, 0.3), light_concurrent_case(2),
             light_kill_case(signal.SIGINT, 0.3, slow=True), light_concurrent_case(4, slow=True)]
    cases += [kill_case(signal.SIGKILL, d) for d in (0.25, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2)]
    cases += [kill_case(signal.SIGINT, d) for d in (0.05, 0.2, 0.5, 1.0)]
    cases += [kill_case(signal.SIGKILL, 10.0, stale_figure=True)]
    cases += [concurrent_case(2), concurrent_case(3), concurrent_case(4)]
    cases += [_save_kill_case(d) for d in (0.8, 1.5)]
    return cases


# =========================================================================== 5 degenerate data

def degenerate_cases() -> list[Case]:
    cat = "degenerate data"
    from hotcarrier.dataset import make_ta_dataset

    def ds_case(name, build, expect="error", via="setup"):
        def run(folder):
            ds = build()
            if via == "setup":
                from hotcarrier.target.fit import setup
                from hotcarrier.target.model import TargetModel

                m = TargetModel.from_scheme("sequential", [3.0, 80.0])
                return setup(ds, m)
            if via == "save":
                from hotcarrier.io import load_ta, save_ta

                p = save_ta(ds, folder / "d.nc")
                return load_ta(p)
            if via == "svd":
                from hotcarrier.svd import svd

                return svd(ds, n_components=3)
            if via == "prepare":
                from hotcarrier.preprocess import prepare

                return prepare(ds, {"time_range": [0.0, 100.0]})
            raise AssertionError(via)
        return Case(cat, name, run, expect)

    def m(sig=None, t=T, w=W, **kw):
        s = reference()["signal"].values if sig is None else sig
        return lambda: make_ta_dataset(t, w, s, **kw)

    ok = lambda res, folder: None  # noqa: E731  (a setup or result was correctly produced)
    z = np.zeros((T.size, W.size))
    nanrows = reference()["signal"].values.copy()
    nanrows[::2] = np.nan
    onefinite = np.full((T.size, W.size), np.nan)
    onefinite[3, 3] = 1e-3
    cases = [
        ds_case("valid map binds", m(), ok),
        ds_case("all-zero signal", m(z)),
        ds_case("constant signal", m(z + 1e-3), ok),
        ds_case("all NaN", m(z * np.nan)),
        ds_case("one finite value", m(onefinite)),
        ds_case("single delay", m(reference()["signal"].values[:1], t=T[:1])),
        ds_case("two delays", m(reference()["signal"].values[:2], t=T[:2])),
        ds_case("single wavelength", m(reference()["signal"].values[:, :1], w=W[:1]), ok),
        ds_case("fewer data than parameters", m(reference()["signal"].values[:3, :1], t=T[:3],
                                               w=W[:1])),
        ds_case("every cell masked", m(mask=np.ones((T.size, W.size), bool))),
        ds_case("all weights zero", m(weight=z)),
        ds_case("negative weights", m(weight=z - 1)),
        ds_case("NaN weights", m(weight=z * np.nan)),
        ds_case("half the rows NaN", m(nanrows), ok),
        ds_case("values 1e300", m(reference()["signal"].values * 1e303)),
        ds_case("values 1e-300", m(reference()["signal"].values * 1e-297), ok),
        ds_case("inf cells", m(np.where(np.eye(T.size, W.size) > 0, np.inf,
                                         reference()["signal"].values))),
        ds_case("repeated delays", m(t=np.sort(np.r_[T[:-1], T[-2]])), ok),
        ds_case("all delays equal", m(t=np.zeros(T.size))),
        ds_case("delays descending", m(t=T[::-1])),
        ds_case("wavelengths descending", m(w=W[::-1]), ok),
        ds_case("non-finite delay", m(t=np.r_[T[:-1], np.nan])),
        ds_case("negative wavelengths", m(w=-W)),
        ds_case("delays only before time zero", m(t=np.linspace(-5, -1, T.size)), ok),
        ds_case("round trip of a 1×1 map", m(reference()["signal"].values[:1, :1], t=T[:1],
                                            w=W[:1]), lambda r, f: None, via="save"),
        ds_case("svd of a constant map", m(z + 1.0), lambda r, f: None, via="svd"),
        ds_case("svd of an all-zero map", m(z), lambda r, f: None, via="svd"),
        ds_case("crop to nothing", m(t=np.linspace(200, 300, T.size)), via="prepare"),
    ]
    cases += _degenerate_fits()
    return cases


def _degenerate_fits() -> list[Case]:
    """Real fits (slow): the result is flagged honestly (an error, or not converged)."""
    cat = "degenerate data"

    def fit_case(name, sig, lifetimes=(3.0, 80.0), expect="honest"):
        def run(folder):
            from hotcarrier.api import fit
            from hotcarrier.dataset import make_ta_dataset
            from hotcarrier.target.model import TargetModel

            ds = make_ta_dataset(T, W, sig)
            mdl = TargetModel.from_scheme("parallel", list(lifetimes))
            return fit(ds, mdl, max_iter=60)

        def honest(res, folder):
            s = res.summary_dict
            finite = np.isfinite(s["cost"]) and all(
                v["value"] is None or np.isfinite(v["value"]) for v in s["parameters"].values())
            if s["converged"] and not finite:
                return "non-finite result marked converged"
            if s["converged"] and not (res.params_at_bound or s["non_identifiable"]):
                return "a fit to data without kinetics reported as converged and identifiable"
            return None
        return Case(cat, name, run, honest if expect == "honest" else expect, slow=True,
                    error_ok=expect == "honest")

    z = np.zeros((T.size, W.size))
    rng = np.random.default_rng(1)
    return [
        fit_case("fit to all-zero data", z),
        fit_case("fit to pure noise", rng.normal(0, 1e-4, z.shape)),
        fit_case("fit to a constant map", z + 1e-3),
        fit_case("fit with equal start lifetimes", reference()["signal"].values, (5.0, 5.0),
                 expect=lambda r, f: None if np.isfinite(r.summary_dict["cost"]) else "NaN cost"),
    ]


# ============================================================================== 6 API misuse

def api_cases() -> list[Case]:
    cat = "API misuse"
    import xarray as xr

    from hotcarrier.dataset import make_ta_dataset

    def a(name, fn, expect="error"):
        return Case(cat, name, lambda folder: fn(folder), expect)

    def fit_model():
        from hotcarrier.target.model import TargetModel

        return TargetModel.from_scheme("parallel", [3.0, 80.0])

    def bind(data):
        from hotcarrier.target.fit import setup

        return setup(data, fit_model())

    s = reference()["signal"].values
    bad_dims = xr.Dataset({"signal": (("time", "wl"), s)}, coords={"time": T, "wl": W})
    cases = [
        a("make_ta_dataset wrong signal shape", lambda f: make_ta_dataset(T, W, s.T)),
        a("make_ta_dataset 1-D signal", lambda f: make_ta_dataset(T, W, s.ravel())),
        a("make_ta_dataset 3-D signal", lambda f: make_ta_dataset(T, W, s[None])),
        a("make_ta_dataset complex signal", lambda f: make_ta_dataset(T, W, s + 1j)),
        a("make_ta_dataset text signal", lambda f: make_ta_dataset(T, W, s.astype(str))),
        a("make_ta_dataset 2-D delay", lambda f: make_ta_dataset(T[:, None], W, s)),
        a("make_ta_dataset weight wrong shape", lambda f: make_ta_dataset(T, W, s,
                                                                          weight=np.ones(3))),
        a("make_ta_dataset mask wrong shape", lambda f: make_ta_dataset(T, W, s,
                                                                        mask=np.ones((2, 2)))),
        a("make_ta_dataset unknown signal unit", lambda f: _check(make_ta_dataset(
            T, W, s, signal_units="furlong"))),
        a("make_ta_dataset attrs not a mapping", lambda f: make_ta_dataset(T, W, s, attrs=[1])),
        a("float32 signal is kept float64", lambda f: make_ta_dataset(
            T, W, s.astype(np.float32)), lambda ds, f: None if ds["signal"].dtype == np.float64
          else f"signal dtype {ds['signal'].dtype}"),
        a("check_ta of a DataArray", lambda f: _check(reference()["signal"])),
        a("check_ta of a dict", lambda f: _check({"signal": s})),
        a("check_ta wrong dimension names", lambda f: _check(bad_dims)),
        a("check_ta complex signal", lambda f: _check(_resigned((
            ("delay", "wavelength"), s + 0j)))),
        a("check_ta float32 signal", lambda f: _check(_resigned((
            ("delay", "wavelength"), s.astype(np.float32)))), lambda r, f: None),
        a("check_ta transposed signal", lambda f: _check(_resigned((
            ("wavelength", "delay"), s.T))), lambda r, f: None),
        a("setup with wrong dimension names", lambda f: bind(bad_dims)),
        a("setup with a numpy array", lambda f: bind(s)),
        a("setup with a DataArray", lambda f: bind(reference()["signal"])),
        a("setup with None", lambda f: bind(None)),
        a("setup with an int", lambda f: bind(5)),
        a("setup with a complex dataset", lambda f: bind(_resigned((
            ("delay", "wavelength"), s + 1j)))),
        a("setup with a float32 dataset", lambda f: bind(_resigned((
            ("delay", "wavelength"), s.astype(np.float32)))), lambda r, f: None),
        a("setup with a missing path", lambda f: bind(f / "none.nc")),
        a("setup with two datasets for one", lambda f: bind([reference(), reference()])),
        a("fit with model = 5", lambda f: _fit(reference(), 5)),
        a("fit with model = None", lambda f: _fit(reference(), None)),
        a("fit with a missing model file", lambda f: _fit(reference(), f / "none.toml")),
        a("fit with max_iter = -1", lambda f: _fit(reference(), fit_model(), max_iter=-1)),
        a("fit with max_iter = 'many'", lambda f: _fit(reference(), fit_model(),
                                                       max_iter="many")),
        a("fit with unknown option", lambda f: _fit(reference(), fit_model(), maxiter=5)),
        a("fit with profile of unknown name", lambda f: _fit(reference(), fit_model(),
                                                             profile=["k99"])),
        a("from_scheme unknown kind", lambda f: _scheme("diagonal", [3.0])),
        a("from_scheme negative lifetime", lambda f: _scheme("parallel", [-3.0])),
        a("from_scheme nan lifetime", lambda f: _scheme("parallel", [np.nan])),
        a("from_scheme lifetimes as text", lambda f: _scheme("parallel", "3,80")),
        a("from_scheme irf_fwhm = 0", lambda f: _scheme("parallel", [3.0], irf_fwhm=0.0)),
        a("load_ta unknown format", lambda f: _load_fmt(f, format="xyz")),
        a("load_ta unknown option", lambda f: _load_fmt(f, bogus=1)),
        a("load_ta time_unit='fsec'", lambda f: _load_fmt(f, time_unit="fsec")),
        a("load_ta signal_units='furlong'", lambda f: _load_fmt(f, signal_units="furlong")),
        a("load_ta path = None", lambda f: _load_path(None)),
        a("load_ta path = 5", lambda f: _load_path(5)),
        a("save_ta of a DataArray", lambda f: _save(reference()["signal"], f / "x.nc")),
        a("save_ta unknown extension", lambda f: _save(reference(), f / "x.xyz")),
        a("save_ta into a missing folder", lambda f: _save(reference(), f / "no" / "x.nc")),
        a("crop reversed range", lambda f: _pp("crop", reference(), delay=(10.0, 1.0))),
        a("crop to nothing", lambda f: _pp("crop", reference(), wavelength=(1.0, 2.0))),
        a("subtract_background before every delay", lambda f: _pp("subtract_background",
                                                                   reference(), before=-1e9)),
        a("chirp_correct with text coefficients", lambda f: _pp("chirp_correct", reference(),
                                                                "abc")),
        a("svd n_components = -1", lambda f: _svd(reference(), -1)),
        a("h2_ratio unknown preset", lambda f: _h2("clean", "nonsense")),
        a("load_fit missing folder", lambda f: _load_fit(f / "none")),
        a("load_fit of a data file", lambda f: _load_fit(write_valid(f, ".nc"))),
        a("FitResult.from_netcdf of a data file", lambda f: _from_nc(write_valid(f, ".nc"))),
        a("FitResult.from_netcdf missing", lambda f: _from_nc(f / "none.nc")),
        a("fit_batch with no data", lambda f: _batch([])),
        a("fit_batch with model = 'x'", lambda f: _batch([reference()], model="x")),
    ]
    return cases


def _resigned(var):
    """The reference dataset with its signal replaced by ``(dims, values)`` (units kept)."""
    dims, values = var
    ds = reference()
    out = ds.drop_vars("signal")
    out["signal"] = (dims, values, dict(ds["signal"].attrs))
    return out


def _check(obj):
    from hotcarrier.dataset import check_ta

    check_ta(obj)
    return obj


def _fit(data, model, **kw):
    from unittest import mock

    from hotcarrier.api import fit

    def stop(*a, **k):
        raise FitReached

    # a valid call reaches the optimiser: stop there (the argument checks come first)
    with mock.patch("hotcarrier.target.fit._minimise", stop):
        return fit(data, model, **kw)


def _scheme(kind, lifetimes, **kw):
    from hotcarrier.target.model import TargetModel

    return TargetModel.from_scheme(kind, lifetimes, **kw)


def _load_fmt(folder, **kw):
    from hotcarrier.io import load_ta

    return load_ta(write_valid(folder, ".sia"), **kw)


def _load_path(p):
    from hotcarrier.io import load_ta

    return load_ta(p)


def _save(ds, p):
    from hotcarrier.io import save_ta

    return save_ta(ds, p)


def _pp(name, *a, **kw):
    from hotcarrier import preprocess

    return getattr(preprocess, name)(*a, **kw)


def _svd(ds, n):
    from hotcarrier.svd import svd

    return svd(ds, n_components=n)


def _h2(c, d):
    from hotcarrier.h2 import h2_ratio

    return h2_ratio(c, d, uncertainty="none")


def _load_fit(p):
    from hotcarrier.h2 import load_fit

    return load_fit(p)


def _from_nc(p):
    from hotcarrier.fitting.result import FitResult

    return FitResult.from_netcdf(p)


def _batch(data, model=None):
    from unittest import mock

    from hotcarrier.batch import fit_batch
    from hotcarrier.target.model import TargetModel

    def stop(*a, **k):
        raise FitReached

    model = TargetModel.from_scheme("parallel", [3.0]) if model is None else model
    with mock.patch("hotcarrier.batch.fit._fit_chunk", stop, create=True):
        return fit_batch(model, data)


# =========================================================================== 7 large files

def _mem(factor_of: Callable[[Path], int]):
    return lambda folder: 3 * factor_of(folder) + SLACK


def large_cases() -> list[Case]:
    cat = "large files"
    small_used = lambda folder: reference()["signal"].nbytes * 3  # noqa: E731

    def fifo(name, fn, suffix=".csv"):
        def run(folder):
            p = folder / f"pipe{suffix}"
            os.mkfifo(p)
            return fn(p, folder)

        def unblock(folder):
            with contextlib.suppress(OSError):
                fd = os.open(folder / f"pipe{suffix}", os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
        return Case(cat, name, run, "error", timeout=10.0, unblock=unblock)

    def dev(name, path, fn):
        return Case(cat, name, lambda folder: fn(Path(path), folder), "error", timeout=20.0,
                    mem_limit=_mem(lambda f: 0))

    def ld(p, folder):
        from hotcarrier.io import load_ta

        return load_ta(p)

    def model(p, folder):
        from hotcarrier.api import load_model

        return load_model(p)

    def chirp(p, folder):
        from hotcarrier.preprocess import read_chirp_file

        return read_chirp_file(p)

    def fit_folder(p, folder):
        from hotcarrier.h2 import load_fit

        return load_fit(p)

    def spectrum(p, folder):
        from hotcarrier.h2 import parse_spectrum

        return parse_spectrum(f"file:{p}")

    def info(p, folder):
        return cli(["info", str(p)], folder)

    def is_physical(p, folder):
        from hotcarrier.api import model_kind

        return model_kind(p)

    cases = [
        fifo("FIFO as data file", ld),
        fifo("FIFO as data file, format forced", lambda p, f: _load_forced(p, "sia")),
        fifo("FIFO as model file", model, ".toml"),
        fifo("FIFO as chirp file", chirp, ".txt"),
        fifo("FIFO as summary.json", fit_folder, ".json"),
        fifo("FIFO as spectrum file", spectrum, ".txt"),
        fifo("FIFO via hotcarrier info", info),
        fifo("FIFO as model file (kind sniffing)", lambda p, f: _kind_then_load(p), ".toml"),
        dev("/dev/zero as data", "/dev/zero", ld),
        dev("/dev/zero as model file", "/dev/zero", model),
        dev("/dev/zero as chirp file", "/dev/zero", chirp),
        dev("/dev/urandom as data", "/dev/urandom", ld),
        dev("/dev/null as data", "/dev/null", ld),
        dev("/dev/zero via hotcarrier info", "/dev/zero", info),
        dev("/dev/zero as spectrum", "/dev/zero", spectrum),
    ]

    def big(name, make, used, expect=valid_or_error):
        path = {}

        def run(folder):
            from hotcarrier.io import load_ta

            return load_ta(path[folder])
        return Case(cat, name, run, expect, mem_limit=_mem(used),
                    prepare=lambda folder: path.__setitem__(folder, make(folder)))

    def npz_unused(folder):
        p = folder / "x.npz"
        p.write_bytes(_npz_bytes(extra={"junk": np.zeros((2000, 2000))}, compress=True))
        return p

    def npz_header_lie(folder):
        raw = _npz_bytes()
        p = folder / "x.npz"
        p.write_bytes(_lie_npz(raw))
        return p

    def nc_unused(folder):
        p = folder / "x.nc"
        p.write_bytes(_nc_bytes(extra={"junk": (("a", "b"), np.zeros((2000, 2000)))}))
        return p

    def text_big(folder):
        t = np.linspace(-1, 1000, 200)
        w = np.linspace(400, 800, 400)
        s = np.random.default_rng(0).normal(0, 1e-3, (t.size, w.size))
        p = folder / "big.txt"
        p.write_text(matrix_text(t, w, s))
        return p

    def sparse(folder):
        p = folder / "sparse.txt"
        with open(p, "wb") as fh:
            fh.truncate(3 << 30)
        return p

    def long_line(folder):
        p = folder / "line.txt"
        p.write_bytes(b"Time [ps]\t" + b"1\t" * 2_000_000 + b"\n")
        return p

    def ufs_claim(folder):
        p = folder / "x.ufs"
        p.write_bytes(_ufs_bytes(n_claim=2**29))
        return p

    big_used = lambda folder: (folder / "big.txt").stat().st_size  # noqa: E731
    cases += [
        big("npz with an unused 32 MB member", npz_unused, small_used),
        big("npz whose header declares 2**40 values", npz_header_lie, small_used, "error"),
        big("netCDF with an unused 32 MB variable", nc_unused, small_used),
        big("1.5 MB text map (memory vs data)", text_big, big_used),
        big("3 GB sparse file of zeros", sparse, lambda f: 0, "error"),
        big("one 4 MB line", long_line, lambda f: 4 << 20, "error"),
        big("ufs claiming 2**29 wavelengths", ufs_claim, small_used, "error"),
        Case(cat, "model file of 50 MB", _big_model, "error", mem_limit=_mem(lambda f: 0),
             prepare=lambda f: (f / "model.toml").write_text(
                 TARGET_OK + "# " + "x" * (50 << 20) + "\n")),
    ]
    return cases


def _load_forced(p, fmt):
    from hotcarrier.io import load_ta

    return load_ta(p, format=fmt)


def _kind_then_load(p):
    from hotcarrier.api import load_model, model_kind

    model_kind(p)
    return load_model(p)


def _lie_npz(raw: bytes) -> bytes:
    """The archive with the signal member's header claiming 2**40 float64 values."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "signal.npy":
                data = data.replace(b"(10, 9)", b"(1048576, 1048576)")
            z.writestr(info, data)
    return buf.getvalue()


def _big_model(folder):
    from hotcarrier.api import load_model

    return load_model(folder / "model.toml")


# ==================================================================================== all

def all_cases(slow: bool = True) -> list[Case]:
    """Every case of the generator (``slow=False``: only the fast ones)."""
    cases = [*damaged_cases(), *model_cases(), *options_cases(), *interrupted_cases(),
             *degenerate_cases(), *api_cases(), *large_cases()]
    return cases if slow else [c for c in cases if not c.slow]


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slow", action="store_true", help="include the slow cases")
    p.add_argument("--json", action="store_true", help="print every case as JSON")
    p.add_argument("--category", help="only this category")
    p.add_argument("--bad", action="store_true", help="list the cases that failed")
    args = p.parse_args(argv)
    import jax

    with jax.enable_x64(True):
        cases = all_cases(slow=args.slow)
        if args.category:
            cases = [c for c in cases if c.category == args.category]
        res = run_cases(cases)
    if args.json:
        print(json.dumps(res, indent=1))
    print(table(res))
    if args.bad:
        for r in res:
            if r["outcome"] not in GOOD:
                print(f"- [{r['outcome']}] {r['category']}: {r['name']}: {r['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

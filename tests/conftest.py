"""Numeric policy for the tests: float64 per test (never process-wide), hypothesis without deadline.

The package never flips ``jax_enable_x64`` for the process (README "Float64"), so neither do
the tests: every test runs inside ``jax.enable_x64(True)`` (the pure JAX core needs float64),
except tests marked ``@pytest.mark.float32_process``, which run with float64 OFF — as a user's
process that did not enable it would (tests/test_float64_policy.py). Fixtures of wider scope
(module, session) are built under float64 too, since they run before the per-test switch.
``jax.enable_x64`` is thread-local: a test that starts threads enables it in each of them.
"""

import ctypes
import gc
import os
import shutil
import tempfile
from pathlib import Path

# The default suite is dominated by XLA compilation of programs that then run for milliseconds:
# compile them with LLVM's cheap pipeline and XLA's classic (non-MLIR) fusion emitters (the
# Hippius programs: 3.9 s compile CPU with the cheap pipeline alone, 1.6 s with both; the fit
# runs 25 % slower) — for the tests and their subprocesses. HOTCARRIER_TEST_FULL_XLA=1 keeps
# XLA's defaults (e.g. for timing or parity checks).
if not os.environ.get("HOTCARRIER_TEST_FULL_XLA"):
    os.environ["XLA_FLAGS"] = " ".join([
        os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0",
        "--xla_llvm_disable_expensive_passes=true",
        "--xla_cpu_use_fusion_emitters=false"]).strip()
    os.environ["HOTCARRIER_PROGRAM_XLA_OPTIONS"] = "0"  # no program's own (costlier) options

import pytest  # noqa: E402
from hypothesis import settings

settings.register_profile("jax", deadline=None, max_examples=50)
settings.load_profile("jax")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _limit_heap_arenas() -> None:
    """At most two glibc malloc arenas (XLA's compile threads otherwise each keep one; the
    heavy test modules peak ~10 % lower). A no-op where glibc is absent."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


_limit_heap_arenas()


def _is_xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses",
                                                               0))


def pytest_configure(config):
    """A persistent compilation cache private to this pytest run (a fresh temporary folder,
    removed at the end): a program that several test modules compile (the physical fit, the
    batch program of one map shape, ...) is compiled once and read back from disk after
    :func:`_release_compiled_programs` dropped it from memory. Nothing outlives the run, so
    every run compiles each program at least once. ``HOTCARRIER_TEST_NO_COMPILE_CACHE=1``
    switches it off.

    Subprocesses (``python -m hotcarrier ...``, scripts run by the tests) inherit the same
    folder through ``JAX_COMPILATION_CACHE_DIR``, which the command line honours before its
    default ``$XDG_CACHE_HOME/hotcarrier/jax`` (``hotcarrier/cli.py``): the tests never read
    or fill a developer's ``~/.cache/hotcarrier``. With the cache off they get
    ``HOTCARRIER_NO_COMPILE_CACHE=1`` instead (no cache at all)."""
    controller = _is_xdist_controller(config)
    if controller:
        # the workers compute; each compiles one program at a time (the workers are the
        # parallelism: two concurrent compiles per worker would double the compiler's peak)
        os.environ.setdefault("HOTCARRIER_COMPILE_THREADS", "1")
    if os.environ.get("HOTCARRIER_TEST_NO_COMPILE_CACHE"):
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
        os.environ["HOTCARRIER_NO_COMPILE_CACHE"] = "1"
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller's folder
        folder = os.environ["HOTCARRIER_TEST_XLA_CACHE"]
    else:
        folder = tempfile.mkdtemp(prefix="hotcarrier-test-xla-")
        config._hotcarrier_xla_cache = folder
        os.environ["HOTCARRIER_TEST_XLA_CACHE"] = folder  # inherited by the workers
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder  # for subprocesses (read at jax import)
    # a failed cache read/write is a JAX warning, not a test failure (filterwarnings=error)
    config.addinivalue_line("filterwarnings",
                            "ignore:Error (reading|writing) persistent compilation cache")
    if controller:  # runs no test: never imports JAX (~0.2 GB less)
        return
    import jax  # (after XLA_FLAGS: XLA reads them when its backend starts)

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_xdist_auto_num_workers(config):
    """Workers of ``-n auto`` (pyproject's addopts): one per core, as many as memory allows
    (~1.5 GB each at their peak), none for the tutorial notebooks (each fits in-process and
    peaks near 3.3 GB on its own). The suite is mostly XLA compilation, one core per
    program: two workers on two cores take ~0.6× the serial time.
    ``HOTCARRIER_TEST_WORKERS=N`` chooses (0: serial, in this process)."""
    if os.environ.get("HOTCARRIER_TEST_WORKERS"):
        return int(os.environ["HOTCARRIER_TEST_WORKERS"])
    if "notebook" in config.option.markexpr.replace("not notebook", ""):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        by_memory = int(pages // 1.5e9)
    except (ValueError, OSError, AttributeError):
        by_memory = 1
    n = max(1, min(cores or 1, by_memory))
    return 0 if n == 1 else n


def pytest_unconfigure(config):
    folder = getattr(config, "_hotcarrier_xla_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _float64_per_test(request):
    """float64 on for the test's duration (off for ``float32_process`` tests); checks it is
    restored afterwards, so that a test (or the code under test) cannot leak the switch."""
    import jax

    before = jax.config.jax_enable_x64
    on = request.node.get_closest_marker("float32_process") is None
    with jax.enable_x64(on):
        yield
    assert jax.config.jax_enable_x64 == before, "jax_enable_x64 changed during the test"


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """Build module- and session-scoped fixtures under float64 (they are set up before the
    function-scoped switch above and outlive it)."""
    if fixturedef.scope == "function":
        return (yield)
    import jax

    with jax.enable_x64(True):
        return (yield)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real TA data not found at {SHARED_DATA} (../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def one_rate_model():
    """Factory: A → B → ground with ONE lifetime ``tau`` for both steps (degenerate decay
    rates by construction: B(t) = k t e^{−kt} ⊗ IRF), Gaussian IRF (``mu``, ``sig``), ps."""
    import math

    from hotcarrier.target.model import (IRF, DatasetModel, Parameter, ParameterSet,
                                        TargetModel, Transfer)

    def make(tau=5.0, mu=0.1, sig=0.06):
        P = [Parameter("tau", tau, 0.0, math.inf, unit="ps"), Parameter("mu", mu),
             Parameter("sig", sig, 0.0, math.inf)]
        return TargetModel(compartments=["a", "b"],
                           transfers=[Transfer("a", "b", "1/tau"), Transfer("b", None, "1/tau")],
                           initial={"a": "1"}, parameters=ParameterSet(P),
                           datasets=[DatasetModel(irf=IRF("mu", "sig"))])

    return make


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module: each module compiles its own
    shapes, and keeping every module's executables makes the pytest process grow past 5 GB."""
    yield
    import jax

    jax.clear_caches()
    from hotcarrier.fitting.compiled import clear_memory

    clear_memory()  # the ahead-of-time programs (their disk copies stay for later modules)
    gc.collect()
    _trim_heap()


def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``): the executables dropped
    above leave the process's resident size high otherwise. A no-op where glibc is absent."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass

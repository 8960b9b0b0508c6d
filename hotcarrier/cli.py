"""Command-line interface: a thin layer over the Python API.

Each sub-command lives in ``hotcarrier/commands/<name>.py`` with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``. Errors caused by input
(:class:`~hotcarrier.errors.HotcarrierError`) print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

__all__ = ["main", "run", "build_parser", "COMMANDS"]

COMMANDS = ("info", "inspect", "convert", "fit", "fit_many", "choose", "lda", "simulate", "h2",
            "optics", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The ``hotcarrier`` argument parser with every sub-command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hotcarrier",
        description="Ultrafast hot-carrier dynamics and transient-absorption analysis.",
    )
    parser.add_argument("--version", action="version", version=f"hotcarrier {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hotcarrier.commands.{name}").add_parser(sub)
    return parser


_NO_JAX = ("info", "convert")
"""Commands that never import JAX (no compilation cache folder is made for them)."""


def _use_compilation_cache(env) -> None:
    """Keep XLA's compiled programs between runs in ``$XDG_CACHE_HOME/hotcarrier/jax/<S>``,
    ``<S>`` the first 16 hex digits of the package sources' digest.

    One folder per package source: JAX's persistent cache is keyed by the program, not by
    the package, so after an upgrade that leaves a program unchanged it would serve it, and a
    program JAX served cannot be stored ready-to-load (:mod:`hotcarrier.fitting.compiled`
    then compiles it once more to store it). ``JAX_COMPILATION_CACHE_DIR`` moves the cache
    (used as given), ``HOTCARRIER_NO_COMPILE_CACHE=1`` turns it off.
    """
    from pathlib import Path

    from ._source import source_digest

    if env.get("HOTCARRIER_NO_COMPILE_CACHE") or env.get("JAX_COMPILATION_CACHE_DIR"):
        return
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "hotcarrier" / "jax" / source_digest()[:16]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # the command still runs, compiling as a first run does
        print(f"hotcarrier: warning: no compilation cache ({folder}: {exc.strerror or exc}); "
              "every run compiles its programs anew — set XDG_CACHE_HOME or "
              "JAX_COMPILATION_CACHE_DIR to a writable folder", file=sys.stderr)
        return
    env["JAX_COMPILATION_CACHE_DIR"] = str(folder)


@contextlib.contextmanager
def _float64(command: str = ""):
    """float64 for the command only: :func:`jax.enable_x64` when JAX is imported, else
    ``JAX_ENABLE_X64`` in the environment (so info/convert never import JAX); the
    compilation cache for the commands that compile."""
    import os

    if "jax" in sys.modules:
        with sys.modules["jax"].enable_x64(True):
            yield
        return
    old = os.environ.get("JAX_ENABLE_X64")
    os.environ["JAX_ENABLE_X64"] = "1"
    if command not in _NO_JAX:
        _use_compilation_cache(os.environ)
    try:
        yield
    finally:
        if old is None:
            del os.environ["JAX_ENABLE_X64"]
        else:
            os.environ["JAX_ENABLE_X64"] = old
        if "jax" in sys.modules:  # imported by the command: it read the variable at import
            enabled = (old or "").strip().lower() in ("1", "true", "yes", "on")
            sys.modules["jax"].config.update("jax_enable_x64", enabled)


@contextlib.contextmanager
def _plain_warnings(command: str):
    """Warnings of hotcarrier as one line each, ``hotcarrier CMD: warning: ...`` (no source
    line of the library); others keep Python's format."""
    import warnings

    from .errors import HotcarrierWarning

    original = warnings.formatwarning

    def fmt(message, category, filename, lineno, line=None):
        if issubclass(category, HotcarrierWarning) or "hotcarrier" in str(filename):
            return f"hotcarrier {command}: warning: {message}\n"
        return original(message, category, filename, lineno, line)

    warnings.formatwarning = fmt
    try:
        yield
    finally:
        warnings.formatwarning = original


def _single_threaded_blas() -> None:
    """One BLAS thread for NumPy/SciPy in the command's process, unless the user chose.

    The heavy numerics run in XLA, whose own thread pool keeps the cores; a multi-threaded
    OpenBLAS call beside it (the residual SVD of a fitted map) oversubscribes them: on two
    cores a 335 × 346 SVD took 0.2–1.8 s instead of 0.03 s. Takes effect only where NumPy is
    not imported yet (a fresh ``hotcarrier`` process), never in a caller's Python session."""
    import os

    if "numpy" in sys.modules:
        return
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if var in os.environ:
            return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotcarrier`` console script (float64 on for the command only)."""
    from .errors import HotcarrierError

    _single_threaded_blas()

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        with _float64(args.command), _plain_warnings(args.command):
            return int(args.func(args) or 0)
    except HotcarrierError as exc:
        print(f"hotcarrier {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hotcarrier: interrupted", file=sys.stderr)
        return 130


def _instrumented() -> bool:
    """A tracer, profiler or ``sys.monitoring`` tool (coverage, cProfile) is active."""
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    mon = getattr(sys, "monitoring", None)  # Python ≥ 3.12
    return mon is not None and any(mon.get_tool(i) is not None for i in range(6))


class _GuardedOutput:
    """Standard output that never stops the command: when the reader has gone (``| head``,
    a closed pipe) or a write fails (a full disk), the rest goes to /dev/null and the work —
    the result files — is finished; :func:`run` reports a failed write afterwards."""

    def __init__(self, stream):
        self._stream = stream
        self.error: OSError | None = None  # a failed write other than a closed pipe

    def _divert(self, exc: OSError) -> None:
        import os

        if not isinstance(exc, BrokenPipeError) and self.error is None:
            self.error = exc
        self._stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._divert(exc)
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as exc:
            self._divert(exc)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def run() -> None:
    """The ``hotcarrier`` program: :func:`main`, then the process ends without Python's
    teardown.

    Every output is written and closed by then (atomically, :mod:`hotcarrier.io.atomic`),
    and the compiled-program caches are written synchronously; what the teardown would still
    do is free JAX's compiled programs, buffers and thread pools one by one — 0.35 s of a
    2 s warm Hippius fit (benchmarks/README.md). Standard output is guarded
    (:class:`_GuardedOutput`): a reader that went away does not stop the command, and an
    output that could not be written is one error line on stderr and exit code 1. Ctrl-C
    ends it at once with code 130. An exception, or a profiler or coverage tool in the
    process, ends it the usual way.
    ``main`` itself, called from Python (tests, notebooks), returns.
    """
    import os
    import signal

    def interrupted(signum, frame):
        # at once, not as a KeyboardInterrupt: raised inside JAX's garbage-collection hook it
        # was swallowed ("Exception ignored in _xla_gc_callback") and the fit went on; output
        # folders are written as sets, so a stop at any point leaves the previous set whole
        try:
            os.write(2, b"hotcarrier: interrupted\n")
        finally:
            os._exit(130)

    if not _instrumented():
        signal.signal(signal.SIGINT, interrupted)
    out = sys.stdout = _GuardedOutput(sys.stdout) if sys.stdout is not None else None
    code = main()
    if out is not None:
        out.flush()
        if out.error is not None:
            print(f"hotcarrier: error: standard output could not be written "
                  f"({out.error.strerror or out.error}); files written by the command are "
                  "complete", file=sys.stderr)
            code = code or 1
    if _instrumented():
        sys.exit(code)  # a profiler or coverage tool writes its data at exit
    if sys.stderr is not None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe or stream
            pass
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

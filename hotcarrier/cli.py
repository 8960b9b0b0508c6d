"""Command-line interface: a thin layer over the Python API.

Each sub-command lives in ``hotcarrier/commands/<name>.py`` with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``. Errors caused by input
(:class:`~hotcarrier.errors.HotcarrierError`) print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("info", "convert", "fit", "fit_many", "simulate", "h2", "demo")


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
        try:
            mod = importlib.import_module(f"hotcarrier.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"hotcarrier.commands.{name}":
                continue
            raise
        mod.add_parser(sub)
    return parser


def _use_compilation_cache(env) -> None:
    """Keep XLA's compiled programs between runs (JAX's persistent compilation cache).

    Compilation dominates a single fit on a CPU (tens of seconds for a target model); with the
    cache a second run of the same model structure skips most of it. The cache lives in
    ``$XDG_CACHE_HOME/hotcarrier/jax`` (default ``~/.cache/hotcarrier/jax``); set
    ``JAX_COMPILATION_CACHE_DIR`` to move it or ``HOTCARRIER_NO_COMPILE_CACHE=1`` to turn it off.
    """
    from pathlib import Path

    if env.get("HOTCARRIER_NO_COMPILE_CACHE") or env.get("JAX_COMPILATION_CACHE_DIR"):
        return
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    env["JAX_COMPILATION_CACHE_DIR"] = str(base / "hotcarrier" / "jax")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotcarrier`` console script."""
    import os

    from .errors import HotcarrierError

    # Our own process: float64 throughout. Set through the environment so that commands
    # that never touch JAX (info, convert) do not pay for importing it.
    if "jax" in sys.modules:
        sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        os.environ["JAX_ENABLE_X64"] = "1"
        _use_compilation_cache(os.environ)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HotcarrierError as exc:
        print(f"hotcarrier {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hotcarrier: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

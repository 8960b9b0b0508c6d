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

"""The ``energysim`` command line. Each sub-command lives in a module of this package with ``register(subparsers)``.

Errors meant for users (``EnergySimError``, and pydantic/OS errors about their inputs) print one line on
stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from energysim.cli import catalog, estimate, sweep, timeloop
from energysim.errors import EnergySimError

#: The modules that add sub-commands. Each defines ``register(subparsers)``; the handler is set with
#: ``parser.set_defaults(func=...)`` and returns an exit status.
COMMAND_MODULES = (catalog, estimate, timeloop, sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energysim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in COMMAND_MODULES:
        mod.register(sub)
    return parser


def run_command(func, args) -> int:
    """Call a handler, turning user-facing errors into one line on stderr and exit status 2."""
    from pydantic import ValidationError

    try:
        return int(func(args) or 0)
    except (EnergySimError, ValidationError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        msg = str(exc).strip().replace("\n", "; ")
        print(f"{parser_prog(args)}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parser_prog(args) -> str:
    return getattr(args, "_prog", "energysim")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)

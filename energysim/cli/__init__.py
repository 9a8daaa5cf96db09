"""The ``energysim`` command line. Each sub-command lives in a module of this package with ``register(subparsers)``.

Exit status: 0 success, 2 a usage or input error (a bad flag, an unknown model, a malformed profile, ...), 1 a
failure that is not the input's fault, 130 interrupted (Ctrl-C); each failure is one line on stderr, and
``--debug`` adds the traceback (``energysim.cli.runner``). The helpers in this package (``runner``, ``options``,
``outputs``, ``progress``) are shared with the ``dkm`` command line.
"""

from __future__ import annotations

import argparse
import importlib

#: The modules that add sub-commands (imported when the parser is built). Each defines ``register(subparsers)``;
#: the handler is set with ``parser.set_defaults(func=...)`` and returns an exit status.
COMMAND_MODULES = ("catalog", "estimate", "timeloop", "sweep")


def build_parser() -> argparse.ArgumentParser:
    from energysim.cli.runner import Parser, add_debug, add_global_flags

    parser = Parser(prog="energysim",
                    description="A dataflow-level energy simulator for CNN inference on Eyeriss-style accelerators.")
    add_global_flags(parser, "energysim")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"energysim.cli.{name}").register(sub)
    add_debug(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    from energysim.cli.runner import run

    return run("energysim", build_parser, argv)

"""The ``energysim`` command line. Each sub-command lives in a module of this package with ``register(subparsers)``.

Exit status: 0 success, 2 a usage or input error (a bad flag, an unknown model, a malformed profile, ...), 1 a
failure that is not the input's fault, 130 interrupted (Ctrl-C); each failure is one line on stderr, and
``--debug`` adds the traceback (``energysim.cli.runner``). The helpers in this package (``runner``, ``options``,
``outputs``, ``progress``) are shared with the ``dkm`` command line.

Start-up: when the command line names a sub-command, only the module that registers it is imported (``energysim
models`` does not import the estimate command's dataflow list, which pulls in the hardware profiles and the
mapper); anything else (``--help``, a typo, no command) builds the whole parser.
"""

from __future__ import annotations

import argparse
import importlib

#: The modules that add sub-commands (imported when the parser is built). Each defines ``register(subparsers)``;
#: the handler is set with ``parser.set_defaults(func=...)`` and returns an exit status.
COMMAND_MODULES = ("catalog", "estimate", "timeloop", "sweep")

#: Which module registers each sub-command (tests/test_speed_paths.py checks this against the modules).
COMMANDS = {"models": "catalog", "layers": "catalog", "profiles": "catalog", "estimate": "estimate",
            "timeloop": "timeloop", "sweep": "sweep"}


def _named_command(argv: list[str] | None) -> str | None:
    """The sub-command ``argv`` names (its first word that is not a flag: the top-level flags take no value), if
    it is one of ``COMMANDS``."""
    for word in argv or ():
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a sub-command, only that sub-command's module is registered."""
    from energysim.cli.runner import Parser, add_debug, add_global_flags

    parser = Parser(prog="energysim",
                    description="A dataflow-level energy simulator for DNN inference (CNNs, transformers, any "
                                "einsum) on Eyeriss-style accelerators.")
    add_global_flags(parser, "energysim")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = _named_command(argv)
    for name in COMMAND_MODULES if command is None else (COMMANDS[command],):
        importlib.import_module(f"energysim.cli.{name}").register(sub)
    add_debug(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    import sys

    from energysim.cli.runner import run

    argv = list(sys.argv[1:] if argv is None else argv)
    return run("energysim", lambda: build_parser(argv), argv)

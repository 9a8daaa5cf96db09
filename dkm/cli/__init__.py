"""The ``dkm`` command line: ``compress``, ``inspect``, ``score``, ``compare-metrics``.

Each sub-command is a ``Command`` (``dkm.cli.common``) in a module of this package, listed in ``COMMANDS``. Exit
status as for ``energysim`` (``energysim.cli.runner``): 0 success, 2 a usage or input error (one line,
``dkm: error: ...``), 1 a failure that is not the input's fault, 130 interrupted; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os

from dkm.cli import compare, compress, export, inspect, ratio, score
from dkm.cli.common import Command, Parser
from energysim.cli.runner import add_debug, add_global_flags, run

COMMANDS: list[Command] = [compress.COMMAND, inspect.COMMAND, score.COMMAND, compare.COMMAND, ratio.COMMAND, export.COMMAND]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dkm", description="Deep k-Means CNN compression")
    add_global_flags(parser, "dkm")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(func=cmd.run)
    add_debug(parser)
    return parser


def _one_thread() -> None:
    if "OMP_NUM_THREADS" not in os.environ:
        # The models here are small: one intra-op thread is as fast on an idle machine and avoids a 10-20x
        # slow-down from spinning thread pools on a busy one. OMP_NUM_THREADS overrides.
        import torch

        torch.set_num_threads(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    return run("dkm", build_parser, argv, setup=_one_thread)

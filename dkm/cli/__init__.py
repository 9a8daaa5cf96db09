"""The ``dkm`` command line: ``compress``, ``inspect``, ``score``, ``compare-metrics``.

Each sub-command is a ``Command`` (``dkm.cli.common``) in a module of this package, listed in ``COMMANDS``. A bad
input prints one line (``dkm: error: ...``) and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from dkm.cli import compare, compress, inspect, score
from dkm.cli.common import Command, Parser
from energysim.errors import EnergySimError

COMMANDS: list[Command] = [compress.COMMAND, inspect.COMMAND, score.COMMAND, compare.COMMAND]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dkm", description="Deep k-Means CNN compression")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for cmd in COMMANDS:
        cmd.configure(sub.add_parser(cmd.name, help=cmd.help, description=cmd.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    if "OMP_NUM_THREADS" not in os.environ:
        # The models here are small: one intra-op thread is as fast on an idle machine and avoids a 10-20x
        # slow-down from spinning thread pools on a busy one. OMP_NUM_THREADS overrides.
        import torch

        torch.set_num_threads(1)
    try:
        args = build_parser().parse_args(argv)
        cmd = next(c for c in COMMANDS if c.name == args.command)
        return cmd.run(args)
    except EnergySimError as e:  # DKMError is one; both are the user's input, not our bug
        print(f"dkm: error: {e}", file=sys.stderr)
        return 2

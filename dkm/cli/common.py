"""What the ``dkm`` sub-commands share: the ``Command`` record, the parser that reports usage errors as one line,
and parsers of comma-separated option values."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from dkm.errors import DKMError


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure(parser)`` adds its arguments, ``run(args) -> exit code``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, through main's handler
        raise DKMError(message)


def floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise DKMError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def clusters(text: str):
    """``K1,K2,...`` (layer order) or ``name=K,...``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        if all("=" in t for t in items):
            return {n.strip(): int(k) for n, k in (t.split("=", 1) for t in items)}
        return [int(t) for t in items]
    except ValueError:
        raise DKMError(f"--clusters: expected integers K1,K2,... or name=K,..., got {text!r}") from None

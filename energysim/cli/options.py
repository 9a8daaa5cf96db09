"""The flags both command lines share, with one meaning and one set of choices everywhere, and argparse value
types that check ranges (every number finite) so that a bad value is an exit-2 line naming the flag and value.

=============  ==========================================================================================
``MODEL``      a zoo model name (``energysim models``) or an ``.onnx`` file
``--profile``  a shipped profile name (``energysim profiles``) or a profile YAML file; default eyeriss-65nm
``--dataflow`` rs, ws, os (the mapping search constrained to that dataflow; the default), search (free
               search), rs-template, ws-template, os-template, nlr-template (fixed templates; nlr = nlr-template);
               rs-search, ws-search, os-search still mean rs, ws, os
``--batch``    batch size N, 1 .. ``MAX_BATCH`` (``MAX_SEARCH_BATCH`` with a mapping search)
``--out``      an output folder, checked before any work and written atomically (``energysim.cli.outputs``)
``--json``     one JSON object on stdout (``schema_version``, ``kind``, ...) instead of text
``--quiet``    no progress on stderr (progress shows only on a terminal anyway)
``--lenient``  keep ops the importer does not know as ``unsupported`` layers (the API's ``strict=False``)
=============  ==========================================================================================
"""

from __future__ import annotations

import argparse
import math

DEFAULT_PROFILE = "eyeriss-65nm"
#: Largest batch any command takes: loop bounds stay far from int64 overflow in every count.
MAX_BATCH = 2**31 - 1
#: Largest batch the mapping search takes: its mapspace grows with the factors of every loop bound.
MAX_SEARCH_BATCH = 4096


def number(kind=float, lo=None, hi=None, lo_open=False, hi_open=False, what="a number"):
    """An argparse ``type`` for an int or a finite float in a range; errors say which value and why."""

    def parse(text: str):
        t = str(text).strip()
        try:
            v = kind(t)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and (v >= hi if hi_open else v > hi):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'<' if hi_open else '<='} {hi:,}")
        return v

    parse.__name__ = what
    return parse


positive_int = number(int, lo=1, what="an integer")
nonneg_int = number(int, lo=0, what="an integer")
finite_float = number(float)
nonneg_float = number(float, lo=0)
positive_float = number(float, lo=0, lo_open=True)
fraction = number(float, lo=0, hi=1)  # a density / non-zero fraction, [0, 1]
batch_size = number(int, lo=1, hi=MAX_BATCH, what="an integer")
seed = number(int, lo=0, hi=2**63 - 1, what="an integer")  # torch and numpy take seeds up to int64


def dataflow_names() -> tuple[str, ...]:
    from energysim.mapping.dataflow import DATAFLOW_NAMES

    return DATAFLOW_NAMES


def check_search_batch(batch: int, dataflow: str) -> None:
    """A mapping search at a batch above ``MAX_SEARCH_BATCH`` would run for minutes: say so instead."""
    from energysim.errors import EnergySimError

    from energysim.mapping.dataflow import is_search

    if batch > MAX_SEARCH_BATCH and is_search(dataflow):
        raise EnergySimError(f"--batch {batch} is above {MAX_SEARCH_BATCH}, the largest the mapping search "
                             f"(--dataflow {dataflow}) takes: its mapspace grows with the factors of the batch; use "
                             "a template (--dataflow rs-template, ws-template, os-template, nlr-template) for "
                             "larger batches")


def add_model(p: argparse.ArgumentParser, zoo_only: bool = False, nargs=None) -> None:
    what = "zoo model name (see `energysim models`)" + ("" if zoo_only else " or an .onnx file")
    p.add_argument("model", metavar="MODEL", nargs=nargs, help=what)


def add_batch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=batch_size, default=1, metavar="N",
                   help=f"batch size N, 1 to {MAX_BATCH:,} ({MAX_SEARCH_BATCH:,} with a mapping search)")


def add_profile(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE, metavar="NAME|FILE",
                   help=help or "hardware profile: a shipped name (see `energysim profiles`) or a profile YAML file")


def add_dataflow(p: argparse.ArgumentParser, default: str = "rs") -> None:
    p.add_argument("--dataflow", default=default, choices=dataflow_names(), metavar="NAME",
                   help="rs, ws, os: the mapping search constrained to that dataflow (rs-search, ... are the same); "
                        "search: the free search; rs-template, ws-template, os-template, nlr-template (nlr): a "
                        "fixed greedy template, fast but often far from the searched energy")


def path_text(text: str) -> str:
    """An argparse ``type`` for a path: not empty (``--out ""`` would otherwise mean "no output" silently)."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("an empty path; give a folder")
    return text


def add_out(p: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    p.add_argument("--out", type=path_text, required=required, metavar="DIR",
                   help=f"output folder for {what}; checked before any work, written atomically"
                        + ("" if required else " (nothing is written without it)"))


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (with schema_version and kind) instead of text")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (shown only on a terminal anyway)")


def add_lenient(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lenient", action="store_true",
                   help="keep ops the importer does not understand as 'unsupported' layers (their tensors, no MACs) "
                        "instead of failing; estimates leave them out and list them")

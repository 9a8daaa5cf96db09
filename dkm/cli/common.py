"""What the ``dkm`` sub-commands share: the ``Command`` record, the parser that reports usage errors as one line,
and parsers of comma-separated option values."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from dkm.errors import DKMError
from energysim.cli.options import number
from energysim.cli.runner import Parser as _SharedParser


@dataclass(frozen=True)
class Command:
    """A subcommand: ``configure(parser)`` adds its arguments, ``run(args) -> exit code``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# one-line usage errors (exit 2), defaults in --help, negative-number values: shared with energysim's CLI
Parser = _SharedParser


#: A cluster rate: K = ceil(rate * N) clusters for N rows, so rates above 1 would ask for more clusters than rows.
rate = number(float, lo=0, hi=1, lo_open=True, what="a cluster rate")
#: A seed: torch and numpy take seeds up to int64 (a larger one fails deep inside torch.manual_seed).
seed = number(int, lo=0, hi=2**63 - 1, what="an integer")


def path_arg(text: str) -> str:
    """An argparse ``type`` for an output path: not empty (``Path("")`` is the current folder, and an empty
    ``--out`` would otherwise mean the default, or no output, without a word)."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return text


def floats(text: str, what: str) -> list[float]:
    """Comma-separated finite numbers."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise DKMError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    bad = [v for v in vals if not math.isfinite(v)]
    if bad:
        raise DKMError(f"{what}: {bad[0]} is not a finite number (in {text!r})")
    return vals


def model_name(a: argparse.Namespace) -> str:
    """The zoo model named by the positional ``MODEL`` or by ``--model`` (kept for existing scripts)."""
    pos, flag = getattr(a, "model", None), getattr(a, "model_flag", None)
    if pos and flag and pos != flag:
        raise DKMError(f"MODEL {pos!r} and --model {flag!r} differ; give the model once")
    if not (pos or flag):
        raise DKMError("no model given: name a zoo model (see `energysim models`), e.g. dkm compress digits_cnn "
                       "--data digits --out out/digits")
    return pos or flag


def load_state_dict(path: str, model, flag: str = "--state-dict") -> dict:
    """The torch state_dict in ``path``, checked against ``model`` (every key, shape and value) before any work:
    a missing file, a file that is not a state_dict, or another model's weights is a one-line ``DKMError``."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DKMError(f"{flag} {path!r}: " + ("no such file" if not p.exists() else "not a file"))
    with open(p, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and head[:1] != b"\x80":  # torch.save's zip archive, or its legacy pickle
        raise DKMError(f"{flag} {path!r} is not a file written by torch.save")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- torch/pickle raise many types for a file that is not theirs
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Weights only load failed" in first:
            first = "it holds objects other than tensors, which are not loaded"
        raise DKMError(f"{flag} {path!r} cannot be read as a state_dict: {first[:160]}") from None
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        hint = " (a training checkpoint? save its 'state_dict' entry)" if isinstance(state, Mapping) else ""
        raise DKMError(f"{flag} {path!r} holds a {type(state).__name__}, not a state_dict{hint}")
    if isinstance(state.get("state_dict"), Mapping) and "state_dict" not in model.state_dict():
        raise DKMError(f"{flag} {path!r} is a training checkpoint, not a state_dict: save its 'state_dict' entry")
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    name = type(model).__name__
    if missing or extra:
        keys = missing or extra
        more = f" and {len(keys) - 1} more key(s)" if len(keys) > 1 else ""
        what = f"lacks {keys[0]!r}{more}" if missing else f"has {keys[0]!r}{more}, which {name} does not have"
        raise DKMError(f"{flag} {path!r} does not fit the model ({name}): it {what}; another model's weights?")
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise DKMError(f"{flag} {path!r}: {k!r} is a {type(v).__name__}, not a tensor")
        if tuple(v.shape) != tuple(want[k].shape):
            raise DKMError(f"{flag} {path!r}: {k!r} has shape {tuple(v.shape)}, the model ({name}) needs "
                           f"{tuple(want[k].shape)}; another model's weights?")
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise DKMError(f"{flag} {path!r}: {k!r} has non-finite values (nan or inf)")
    return dict(state)


def clusters(text: str):
    """``K1,K2,...`` (layer order) or ``name=K,...``; an empty entry or a layer named twice is an error, not
    skipped or overwritten."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip():
        raise DKMError(f"--clusters: an empty value {text!r}; give K1,K2,... or name=K,... (or leave it out)")
    if "" in items:
        raise DKMError(f"--clusters: an empty entry in {text!r}; give K1,K2,... or name=K,...")
    try:
        if not all("=" in t for t in items):
            return [int(t) for t in items]
        pairs = [(n.strip(), int(k)) for n, k in (t.split("=", 1) for t in items)]
    except ValueError:
        raise DKMError(f"--clusters: expected integers K1,K2,... or name=K,..., got {text!r}") from None
    names = [n for n, _ in pairs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise DKMError(f"--clusters: layer {dup!r} is given twice in {text!r}")
    return dict(pairs)

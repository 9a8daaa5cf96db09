"""The zoo's traced workloads, shipped: each built-in model traced and saved as JSON, so that ``estimate resnet50``
and the like read a ``Network`` without importing torch (about 1.2 CPU seconds, more than the rest of a template
estimate).

A file holds the model at batch 1 and, for other batches, the slope of every number that changes with the batch
(taken from the trace at batch 2): every zoo model's shapes are affine in the batch, checked when the files are
written on the traces at batches 3 and 7 and by the tests on more. A file is used only while it is what tracing
gives now: it carries a fingerprint of the sources that produce a zoo workload (every module of
``energysim.workload``); after any edit to them ``trace_model`` traces with torch as before, and
``tests/test_zoo_snapshot.py`` fails until the files are written again::

    python -m energysim.cli.snapshots          # (re)write every model's file
    python -m energysim.cli.snapshots --check  # exit 1 naming each file unlike a fresh trace
"""

from __future__ import annotations

import hashlib
import json
import warnings
from functools import cache
from pathlib import Path

from energysim.workload.network import Network

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "zoo_snapshots"
FORMAT = 1


@cache
def fingerprint() -> str:
    """sha256 of the workload package's sources (the files that decide what a traced zoo model is); read once per
    process."""
    h = hashlib.sha256()
    for p in sorted(HERE.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def path(name: str) -> Path:
    return FOLDER / f"{name}.json"


def load(name: str, batch: int = 1) -> Network | None:
    """Model ``name`` at ``batch`` from its file; None when there is none, it is stale or has no batch slopes."""
    p = path(name)
    if batch < 1 or not p.is_file():
        return None
    try:
        d = json.loads(p.read_text())
        if d.get("format") != FORMAT or d.get("fingerprint") != fingerprint():
            return None
        if batch != 1 and d.get("slopes") is None:
            return None
        return at_batch(d, batch)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # a damaged file (pydantic's ValidationError is a ValueError): the trace is the answer, said once
        warnings.warn(f"energysim: {p} is unreadable ({type(exc).__name__}: {exc}); tracing {name!r} with torch "
                      "instead", stacklevel=3)
        return None


def at_batch(d: dict, batch: int) -> Network:
    """The network of file content ``d`` at ``batch``: the stored one, each sloped number moved by ``batch - 1``
    slopes."""
    net = Network.from_dict(d["network"])
    if batch == 1:
        return net
    full = _full(net)
    for where, slope in d["slopes"]:
        *parent, key = where
        node = full
        for k in parent:
            node = node[k]
        node[key] += (batch - 1) * slope
    return Network.from_dict(full)


def _full(net: Network) -> dict:
    """``net.to_dict()`` with every layer field written out (defaults too: a slope may apply to one)."""
    d = net.to_dict()
    d["layers"] = [l.model_dump(mode="json") for l in net]
    return d


def _numbers(x, where=()):
    """(path, leaf) of every leaf of a JSON-like structure."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, (*where, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _numbers(v, (*where, i))
    else:
        yield where, x


def slopes(net1: Network, net2: Network) -> list | None:
    """[path, slope] of every number that differs between the traces at batch 1 and 2; None when anything else
    differs (structure, names, a non-integer)."""
    a, b = dict(_numbers(_full(net1))), dict(_numbers(_full(net2)))
    if a.keys() != b.keys():
        return None
    out = []
    for where, v in a.items():
        w = b[where]
        if v != w:
            if not (type(v) is int and type(w) is int):
                return None
            out.append([list(where), w - v])
    return out


def content(net1: Network, net2: Network) -> dict:
    """A file's content: the traced ``net1`` (batch 1) and ``net2`` (batch 2) of a zoo model, with the current
    fingerprint."""
    return {"format": FORMAT, "fingerprint": fingerprint(), "model": net1.name, "network": net1.to_dict(),
            "slopes": slopes(net1, net2)}


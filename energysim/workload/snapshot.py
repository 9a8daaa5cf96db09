"""The zoo's traced workloads, shipped: each built-in model traced at batch 1 and saved as JSON, so that
``estimate resnet50`` and the like read a ``Network`` without importing torch (about 1.2 CPU seconds, more than
the rest of a template estimate).

A snapshot is used only while it is what tracing gives now: each file carries a fingerprint of the sources that
produce a zoo workload (every module of ``energysim.workload``); after any edit to them ``trace_model`` traces
with torch as before, and ``tests/test_zoo_snapshot.py`` fails until the files are written again::

    python -m energysim.workload.write_snapshots          # (re)write every model's file
    python -m energysim.workload.write_snapshots --check  # exit 1 naming each file unlike a fresh trace
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from energysim.workload.network import Network

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "zoo_snapshots"
FORMAT = 1


def fingerprint() -> str:
    """sha256 of the workload package's sources (the files that decide what a traced zoo model is)."""
    h = hashlib.sha256()
    for p in sorted(HERE.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def path(name: str) -> Path:
    return FOLDER / f"{name}.json"


def load(name: str, batch: int = 1) -> Network | None:
    """Model ``name`` at ``batch`` from its snapshot; None when there is none for that batch or it is stale."""
    p = path(name)
    if batch != 1 or not p.is_file():
        return None
    d = json.loads(p.read_text())
    if d.get("format") != FORMAT or d.get("fingerprint") != fingerprint() or d.get("batch") != batch:
        return None
    return Network.from_dict(d["network"])


def content(net: Network) -> dict:
    """A file's content: the traced batch-1 ``net`` of a zoo model with the current fingerprint."""
    return {"format": FORMAT, "fingerprint": fingerprint(), "model": net.name, "batch": 1, "network": net.to_dict()}


def write(p: Path, d: dict) -> None:
    """``d`` as the JSON file ``p``, written beside and moved into place (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(d, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        os.unlink(tmp)
        raise

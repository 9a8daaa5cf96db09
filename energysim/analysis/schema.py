"""The shape every JSON report shares: an object whose first keys are ``schema_version`` (an integer, raised when
a key changes meaning or disappears) and ``kind`` (which report it is, e.g. ``energysim.estimate``), followed by
the report's own keys. docs/json.md lists the keys of each kind.

JSON has no infinite or not-a-number values (Python's ``json`` writes ``Infinity`` / ``NaN``, which other JSON
readers reject): :func:`dumps` writes them as ``null``.
"""

from __future__ import annotations

import json
import math
import os

SCHEMA_VERSION = 1


def stamped(kind: str, body: dict) -> dict:
    """``body`` with ``schema_version`` and ``kind`` in front."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **body}


def finite_json(obj):
    """``obj`` with every non-finite float replaced by ``None`` (recursively through dicts, lists, tuples)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def _default(o):
    if hasattr(o, "item") and callable(o.item):  # numpy scalars
        return finite_json(o.item())
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def dumps(obj, indent: int | None = None) -> str:
    """Valid JSON text of ``obj``: non-finite numbers become ``null``; numpy scalars and paths are converted."""
    return json.dumps(finite_json(obj), indent=indent, allow_nan=False, default=_default)

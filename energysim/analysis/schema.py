"""The shape every JSON report shares: an object whose first keys are ``schema_version`` (an integer, raised when
a key changes meaning or disappears) and ``kind`` (which report it is, e.g. ``energysim.estimate``), followed by
the report's own keys. docs/simulator.md lists the keys of each kind."""

from __future__ import annotations

SCHEMA_VERSION = 1


def stamped(kind: str, body: dict) -> dict:
    """``body`` with ``schema_version`` and ``kind`` in front."""
    return {"schema_version": SCHEMA_VERSION, "kind": kind, **body}

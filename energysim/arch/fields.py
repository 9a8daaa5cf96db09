"""The field types every profile model shares: bounded integers and finite numbers that are never booleans,
names fit for file names, and a mesh's completion from its instance count."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

#: Bounds on every number of a profile: far beyond any real accelerator, and far enough from overflow that counts
#: times energies stay finite.
MAX_INT = 2**40
MAX_FLOAT = 1e18


def not_bool(v):
    # YAML's true/false would otherwise pass as 1/0 (``depth: true`` became a one-word buffer)
    if isinstance(v, bool):
        raise ValueError("expected a number, got a boolean")
    return v


def file_safe(v: str) -> str:
    if any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError("must not hold a path separator or a control character (files are named after it)")
    return v


#: An integer field: not a boolean, at most ``MAX_INT``.
Int = Annotated[int, BeforeValidator(not_bool), Field(le=MAX_INT)]
#: A number field: finite (no .inf / .nan: ``allow_inf_nan=False`` on every model), not a boolean, at most
#: ``MAX_FLOAT``.
Float = Annotated[float, BeforeValidator(not_bool), Field(le=MAX_FLOAT)]
MODEL_CONFIG = dict(extra="forbid", allow_inf_nan=False)


def complete_mesh_x(instances: int, mesh_x: int | None, mesh_y: int) -> int:
    """``mesh_x`` completed from ``instances / mesh_y`` and checked against ``instances``."""
    if mesh_x is None:
        if instances % mesh_y:
            raise ValueError(f"instances={instances} is not divisible by mesh_y={mesh_y}")
        mesh_x = instances // mesh_y
    if mesh_x * mesh_y != instances:
        raise ValueError(f"mesh_x*mesh_y = {mesh_x}*{mesh_y} = {mesh_x * mesh_y} differs from instances={instances}")
    return mesh_x

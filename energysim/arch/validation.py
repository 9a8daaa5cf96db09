"""One line per problem for pydantic validation errors of user files (profiles, mappings): the field path with
list items named by their ``name`` where they have one, the value, and what is wrong."""

from __future__ import annotations

from pydantic import ValidationError


def format_validation_error(exc: ValidationError, data=None) -> str:
    """One line per problem: ``levels[2] (name 'glb').depth = -3: Input should be greater than or equal to 1``."""
    parts = []
    for err in exc.errors():
        loc = err.get("loc", ())
        path = ""
        node = data
        for key in loc:
            if isinstance(key, int):
                path += f"[{key}]"
                try:
                    node = node[key]
                    if isinstance(node, dict) and "name" in node:
                        path += f" (name {node['name']!r})"
                except (TypeError, IndexError, KeyError):
                    node = None
            else:
                path += ("." if path else "") + str(key)
                try:
                    node = node[key] if isinstance(node, dict) else None
                except (TypeError, KeyError):
                    node = None
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if err.get("type") == "missing":
            parts.append(f"{path}: missing required field")
        elif err.get("type") in ("extra_forbidden",):
            parts.append(f"{path}: unknown field (value {err.get('input')!r})")
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            parts.append(f"{path} = {err['input']!r}: {msg}")
        else:
            parts.append(f"{path or '<top>'}: {msg}")
    return "; ".join(parts)

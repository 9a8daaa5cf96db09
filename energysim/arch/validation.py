"""One line per problem for pydantic validation errors of user files (profiles, mappings): the field path with
list items named by their ``name`` where they have one, the value, and what is wrong."""

from __future__ import annotations

import reprlib

from pydantic import ValidationError


#: Longest quoted value in a message: a value copied from a large file must not make a large message.
MAX_VALUE_REPR = 80


# bounded: the repr of a value nested by YAML aliases (a few hundred bytes of file) can be gigabytes long
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 3, 8, 8
_REPR.maxstring = _REPR.maxother = MAX_VALUE_REPR


def _short(value) -> str:
    r = _REPR.repr(value)
    return r if len(r) <= MAX_VALUE_REPR else r[: MAX_VALUE_REPR - 3] + "..."


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
            parts.append(f"{path}: unknown field (value {_short(err.get('input'))})")
        elif "input" in err and not isinstance(err["input"], (dict, list)):
            parts.append(f"{path} = {_short(err['input'])}: {msg}")
        else:
            parts.append(f"{path or '<top>'}: {msg}")
    if len(parts) > 5:  # a file full of mistakes: the first few say what is wrong
        parts = parts[:5] + [f"and {len(parts) - 5} more problem(s)"]
    return "; ".join(parts)

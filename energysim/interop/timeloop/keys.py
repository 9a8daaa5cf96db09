"""Strict reading of Timeloop inputs: every key is either read, known to be irrelevant to the model, or an
error naming the file, the key path and the value. Timeloop v0.3 spellings (``read-write``, ``block-size``,
``word-bits``, ...) are mapped to the v0.4 names we read; a key given in both spellings with different values
is an error, never a silent choice.

A *schema* here is a dict ``{key: sub-schema}``: ``ANY`` accepts any value unchecked (documentation, or a
section that only Timeloop's mapper or Accelergy reads), a dict is checked recursively, ``[schema]`` checks
every element of a list, and the key ``"*"`` stands for any key name (e.g. level names).
"""

from __future__ import annotations

import difflib

from energysim.errors import EnergySimError

ANY = None


def show(value, limit: int = 60) -> str:
    """A value as it appears in an error message: its repr, cut to ``limit`` characters."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def unknown(source: str, path: str, value, known=(), why: str = "") -> EnergySimError:
    """The error for a key we do not read: file, key path, value, and the closest known key if any."""
    key = path.rsplit(".", 1)[-1].split("[")[0]
    near = difflib.get_close_matches(key, [str(k) for k in known if k != "*"], n=1, cutoff=0.75)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return EnergySimError(f"{source}: unknown key {path!r} = {show(value)}{hint}{why}")


def check(data, schema, source: str, path: str = "") -> None:
    """Raise ``EnergySimError`` for the first key of ``data`` that ``schema`` does not know (module docstring)."""
    if schema is ANY:
        return
    if isinstance(schema, list):
        if data is None:
            return
        if not isinstance(data, list):
            raise EnergySimError(f"{source}: {path!r} must be a list, got {show(data)}")
        for k, item in enumerate(data):
            check(item, schema[0], source, join(path, k))
        return
    if data is None:
        return
    if not isinstance(data, dict):
        raise EnergySimError(f"{source}: {path or 'the file'!r} must be a mapping, got {show(data)}")
    for k, v in data.items():
        if k in schema:
            check(v, schema[k], source, join(path, k))
        elif "*" in schema:
            check(v, schema["*"], source, join(path, k))
        else:
            raise unknown(source, join(path, k), v, schema)


def canonical(data: dict, aliases: dict[str, str], source: str, path: str) -> dict:
    """``data`` with every alias spelling renamed to its canonical key; the same key given under two
    spellings with different values is an error naming both."""
    out: dict = {}
    seen: dict[str, str] = {}
    for k, v in data.items():
        c = aliases.get(k, k)
        if c in out and out[c] != v:
            raise EnergySimError(f"{source}: {join(path, seen[c])!r} = {show(out[c])} and {join(path, k)!r} = "
                                 f"{show(v)} are two spellings of {c!r} with different values")
        out[c] = v
        seen.setdefault(c, k)
    return out


def require_mapping(data, source: str, path: str) -> dict:
    if not isinstance(data, dict):
        raise EnergySimError(f"{source}: {path!r} must be a mapping, got {show(data)}")
    return data

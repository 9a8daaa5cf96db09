"""``unchanged_profiles``: a block in which no hardware profile changes, so that the digests a search keys its memos
by (``HardwareProfile.levels_key``, ``as_json``) are computed once per profile instead of on every call."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

# (id, what) -> (the object, its value), while ``unchanged_profiles`` is in effect (None: not held)
_HELD: ContextVar[dict | None] = ContextVar("energysim_profile_digests", default=None)


@contextmanager
def unchanged_profiles():
    """A promise that no profile changes inside the block, which lets ``levels_key`` and ``as_json`` be computed
    once per profile there (a search asks for them a few dozen times; a sweep's design once per layer). Nested
    blocks share the outermost one's values; each thread has its own."""
    if _HELD.get() is not None:
        yield
        return
    token = _HELD.set({})
    try:
        yield
    finally:
        _HELD.reset(token)


def held(obj, what: str, compute):
    """``compute()``, once per (``obj``, ``what``) inside ``unchanged_profiles``, on every call outside."""
    values = _HELD.get()
    if values is None:
        return compute()
    key = (id(obj), what)
    hit = values.get(key)
    if hit is None or hit[0] is not obj:
        hit = values[key] = (obj, compute())
    return hit[1]

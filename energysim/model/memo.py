"""``Memo``: a bounded dict that threads may share (sweeps on Dask search in threads), for results that are pure
functions of their key; the oldest entries go first once it is full. Every ``Memo`` made is registered, and
``clear_all`` empties them all (for cold timings: no result depends on a memo)."""

from __future__ import annotations

import threading
import weakref

_ALL: weakref.WeakSet = weakref.WeakSet()


class Memo:
    """At most ``size`` entries, first in first out."""

    def __init__(self, size: int):
        self.size = size
        self._d: dict = {}
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self, key, default=None):
        return self._d.get(key, default)

    def put(self, key, value):
        """Store ``value`` under ``key`` (the oldest entry goes when full) and return it."""
        with self._lock:
            if key not in self._d and len(self._d) >= self.size:
                self._d.pop(next(iter(self._d)), None)
            self._d[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()

    def values(self):
        return list(self._d.values())

    def __contains__(self, key) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)


def clear_all() -> None:
    """Empty every ``Memo`` of the process."""
    for m in list(_ALL):
        m.clear()

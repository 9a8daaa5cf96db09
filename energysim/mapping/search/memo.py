"""The search's memos of what reads no capacity: ``BatchEvaluator.sp_bound`` and its rank tables, by what they
depend on (the problem, the profile but its capacities, the keeps, the spatial unrolling). They are shared by the
spaces of one search and by the designs of a sweep that differ only in buffer sizes. Bounded: the oldest entries
go first."""

from __future__ import annotations

import threading

BOUNDS: dict[tuple, tuple[float, dict]] = {}
RANK_SLOTS: dict[tuple, dict] = {}
SIZE = 4096
_LOCK = threading.Lock()  # sweeps on Dask may search in threads


def remember(memo: dict, key, value):
    """Store ``value`` under ``key`` in ``memo`` (dropping the oldest entry when full) and return it."""
    with _LOCK:
        if len(memo) >= SIZE:
            memo.pop(next(iter(memo)), None)
        memo[key] = value
    return value


def clear_memos() -> None:
    """Forget the memoized bounds and rank tables (for cold timings; results never depend on them)."""
    with _LOCK:
        BOUNDS.clear()
        RANK_SLOTS.clear()


def sp_key(sp: dict) -> tuple:
    """A spatial unrolling {level: (spatial_x, spatial_y)} as a hashable key."""
    return tuple((l, tuple(x.items()), tuple(y.items())) for l, (x, y) in sorted(sp.items()))

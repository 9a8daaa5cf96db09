"""Small numpy helpers of the mapping search: exact, faster stand-ins for ``itertools.product``, ``np.unique``
and stable sorts on the tiling enumeration's hot paths, and integer divisors / smallest prime factors."""

from __future__ import annotations

import math
from functools import lru_cache
from math import prod

import numpy as np


@lru_cache(maxsize=4096)
def divisors(n: int) -> tuple[int, ...]:
    """The divisors of n, ascending (by pairs up to its square root; a search asks for the same few often)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(small + [n // d for d in reversed(small) if d * d != n])


@lru_cache(maxsize=65536)
def distinct_sums(factors: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """How many distinct values ``sum(i_g * strides[g])`` takes over ``0 <= i_g < factors[g]``: the offsets of one
    rank moved by several loops (a sliding window's rows, a strided convolution's touched input rows). By
    enumeration when the combinations are fewer than the values' span, else by marking the span."""
    terms = [(f, s) for f, s in zip(factors, strides) if f > 1 and s != 0]
    if len(terms) <= 1:
        return terms[0][0] if terms else 1
    span = sum(abs(s) * (f - 1) for f, s in terms) + 1
    if prod(f for f, _ in terms) <= span:
        vals = np.zeros(1, dtype=np.int64)
        for f, s in terms:
            vals = (vals[:, None] + np.arange(f, dtype=np.int64)[None, :] * s).reshape(-1)
        return len(np.unique(vals))
    hit = np.zeros(span, dtype=bool)
    hit[-sum(min(0, s * (f - 1)) for f, s in terms)] = True
    for f, s in terms:
        nxt = hit.copy()
        for x in range(1, f):
            d = s * x
            if d > 0:
                nxt[d:] |= hit[:span - d]
            else:
                nxt[:span + d] |= hit[-d:]
        hit = nxt
    return int(hit.sum())


def product_grid(values: list[np.ndarray]) -> np.ndarray:
    """Every combination of one value per column [n, len(values)], in ``itertools.product`` order."""
    sizes = [len(v) for v in values]
    n = prod(sizes)
    out = np.empty((n, len(values)), dtype=np.result_type(*values) if values else np.int64)
    inner = n
    for c, v in enumerate(values):
        inner //= max(sizes[c], 1)
        # column c: each value repeated for every combination of the later columns, the block tiled over
        # every combination of the earlier ones
        out[:, c] = np.tile(np.repeat(v, inner), n // max(sizes[c] * inner, 1)) if n else v[:0]
    return out


def unique_small(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_index=True, return_inverse=True)`` for integer keys in [0, size), by table
    lookup instead of sorting: the sorted distinct keys, the index of each one's first occurrence, and each
    key's position among them."""
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    ukey = np.nonzero(seen)[0]
    pos = np.zeros(size, dtype=np.int64)
    pos[ukey] = np.arange(len(ukey))
    first = np.full(len(ukey), len(keys), dtype=np.int64)
    np.minimum.at(first, pos[keys], np.arange(len(keys)))
    return ukey, first, pos[keys]


def best_first(values: np.ndarray, cap: int) -> np.ndarray:
    """Indices of the ``cap`` largest ``values``, largest first, ties in index order: the first ``cap`` of a
    stable sort by descending value, i.e. ``np.lexsort((np.arange(n), -values))[:cap]``. Only the values at
    least as large as the cap-th largest are sorted."""
    if len(values) > cap:
        kth = np.partition(values, len(values) - cap)[len(values) - cap]
        sel = np.nonzero(values >= kth)[0]
        return sel[np.argsort(-values[sel], kind="stable")[:cap]]
    return np.argsort(-values, kind="stable")


def round_robin(keys: np.ndarray, cap: int, per_key: int = 1) -> np.ndarray:
    """Positions of at most ``cap`` entries of a ranked list (best first) with the given ``keys``: the first
    ``per_key`` of every key, then the next ``per_key`` of every key, and so on, each round in list order; the
    positions come back in list order."""
    if len(keys) <= cap:
        return np.arange(len(keys))
    srt = np.argsort(keys, kind="stable")
    ks = keys[srt]
    start = np.r_[0, np.nonzero(ks[1:] != ks[:-1])[0] + 1]
    occ = np.empty(len(keys), dtype=np.int64)  # rank of each entry among those with its key
    occ[srt] = np.arange(len(ks)) - np.repeat(start, np.diff(np.r_[start, len(ks)]))
    return np.sort(np.lexsort((np.arange(len(keys)), occ // per_key))[:cap])


def diverse_best_first(values: np.ndarray, keys: np.ndarray, cap: int, per_key: int) -> np.ndarray:
    """Indices of at most ``cap`` entries, largest ``values`` first (ties in index order), taken round-robin over
    ``keys`` (``per_key`` per key per round; see :func:`round_robin`)."""
    order = np.argsort(-values, kind="stable")
    return order[round_robin(keys[order], cap, per_key)]


def smallest_prime(n: int) -> int:
    for p in range(2, int(math.isqrt(n)) + 1):
        if n % p == 0:
            return p
    return n

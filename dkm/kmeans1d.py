"""Optimal k-means of scalars (exact, by dynamic programming over the sorted values): what coremltools' DKM starts
from on small scalar layers (``kmeans_opt1d_threshold``: at most 1024 weights) instead of k-means++ + Lloyd.

With the values sorted, every optimal cluster is a run of consecutive values, so the least total squared error of
splitting the first j values into k clusters is ``D[k, j] = min_i D[k-1, i] + SSE(i, j)`` (the run i..j-1), with
``SSE`` from prefix sums. O(k n^2) time and O(k n) memory: meant for the small layers it is used on.
"""

from __future__ import annotations

import numpy as np

from .errors import DKMError

#: the largest number of values ``optimal_1d`` takes (k n^2 work)
MAX_VALUES = 1 << 14


def optimal_1d(values, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres ``(k,)`` ascending, labels ``(n,)``) of an optimal k-means of ``values`` (squared error; ties go to
    the earliest split). ``k`` must be at most the number of values; equal values may give equal centres."""
    x = np.asarray(values, dtype=np.float64).ravel()
    n = len(x)
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= n):
        raise DKMError(f"optimal 1-D k-means: k must be an integer in 1..{n} (the number of values), got {k!r}")
    if n > MAX_VALUES:
        raise DKMError(f"optimal 1-D k-means takes at most {MAX_VALUES} values, got {n}")
    if not np.isfinite(x).all():
        raise DKMError("optimal 1-D k-means: the values are not all finite")
    order = np.argsort(x, kind="stable")
    xs = x[order]
    s1 = np.concatenate([[0.0], np.cumsum(xs)])
    s2 = np.concatenate([[0.0], np.cumsum(xs * xs)])
    i = np.arange(n + 1)[:, None]  # run start
    j = np.arange(n + 1)[None, :]  # run end (exclusive)
    m = j - i
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = (s2[j] - s2[i]) - (s1[j] - s1[i]) ** 2 / m
    sse = np.where(m > 0, np.maximum(sse, 0.0), np.inf)  # an empty run is not a cluster
    D = sse[0].copy()  # one cluster: the run 0..j-1
    back = np.zeros((k, n + 1), dtype=np.int64)
    for c in range(1, k):
        tot = D[:, None] + sse  # [i, j]: c clusters on 0..i-1, the last on i..j-1
        back[c] = np.argmin(tot, axis=0)
        D = tot[back[c], np.arange(n + 1)]
    bounds = [n]
    for c in range(k - 1, 0, -1):
        bounds.append(int(back[c, bounds[-1]]))
    bounds.append(0)
    bounds = bounds[::-1]  # 0 = b0 < b1 < ... < bk = n
    centres = np.array([xs[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:])])
    labels_sorted = np.repeat(np.arange(k), np.diff(bounds))
    labels = np.empty(n, dtype=np.int64)
    labels[order] = labels_sorted
    return centres, labels

"""Seeded, vectorized k-means in torch: k-means++ seeding and Lloyd iterations with Hamerly bounds.

Samples are the rows of ``X`` (shape ``(N, d)``; for a layer that is ``W.T`` from :mod:`dkm.grouping`).
Distances use ``||x||^2 - 2 x.c + ||c||^2`` on chunks (one matmul each), so no ``N x K x d`` tensor is built.
Hamerly's bounds (an upper bound on the distance to the own centre, a lower bound on the second nearest) let
later iterations skip the points whose assignment cannot change; the result is the same as plain Lloyd's up
to floating-point ties. Every random choice comes from a ``torch.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from .errors import DKMError

_CHUNK_ELEMS = 1 << 19  # distance entries per chunk: big enough for BLAS, small enough to stay in cache


@dataclass
class KMeansResult:
    """Centres ``(K, d)`` float32, labels ``(N,)`` int64, inertia (sum of squared distances), iterations run."""

    centers: torch.Tensor
    labels: torch.Tensor
    inertia: float
    n_iter: int


def check_samples(X: torch.Tensor, k: int, name: str = "") -> None:
    """Raise :class:`DKMError` (naming layer ``name`` and the value) for K < 1 or non-finite samples."""
    where = f"layer {name!r}: " if name else ""
    if int(k) != k or k < 1:
        raise DKMError(f"{where}number of clusters K must be an integer >= 1, got {k!r}")
    bad = ~torch.isfinite(X)
    if bad.any():
        v = X[bad][0].item()
        raise DKMError(f"{where}weights contain {int(bad.sum())} non-finite value(s), e.g. {v}")


def _top2(X: torch.Tensor, xx: torch.Tensor, C: torch.Tensor):
    """Nearest and second-nearest centre of each row of X: (labels, d1, d2) with Euclidean distances."""
    N, K = X.shape[0], C.shape[0]
    cc = (C * C).sum(1)
    labels = torch.empty(N, dtype=torch.long)
    d1 = torch.empty(N, dtype=X.dtype)
    d2 = torch.full((N,), math.inf, dtype=X.dtype)
    step = max(1, _CHUNK_ELEMS // K)
    for a in range(0, N, step):
        b = min(N, a + step)
        D = torch.addmm(cc, X[a:b], C.T, alpha=-2.0)  # ||x||^2 is constant per row: add it after the min
        if K > 1:  # two mins beat topk(2) on CPU by ~4x
            v, i = D.min(1)
            labels[a:b], d1[a:b] = i, v
            d2[a:b] = D.scatter_(1, i[:, None], math.inf).min(1).values
        else:
            d1[a:b] = D[:, 0]
            labels[a:b] = 0
    d1 = (d1 + xx).clamp_min_(0).sqrt_()
    d2 = (d2 + xx).clamp_min_(0).sqrt_()
    return labels, d1, d2


def kmeans_plusplus(X: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; 2 + ln k candidates per step, as scikit-learn).

    Returns ``(k, d)`` centres taken from the rows of ``X``; deterministic for a given ``seed``.
    """
    N = X.shape[0]
    g = torch.Generator().manual_seed(int(seed))
    trials = 2 + int(math.log(k))
    xx = (X * X).sum(1)
    idx = [int(torch.randint(N, (1,), generator=g))]
    closest = ((X - X[idx[0]]) ** 2).sum(1)
    for _ in range(1, k):
        pot = closest.double().cumsum(0)
        if pot[-1] <= 0:  # every point already coincides with a centre: take any
            cand = torch.randint(N, (trials,), generator=g)
        else:
            r = torch.rand(trials, generator=g, dtype=torch.float64) * pot[-1]
            cand = torch.searchsorted(pot, r).clamp_(max=N - 1)
        Xc = X[cand]
        D = (torch.addmm((Xc * Xc).sum(1), X, Xc.T, alpha=-2.0) + xx[:, None]).clamp_min_(0)
        D = torch.minimum(D, closest[:, None])
        best = int(torch.argmin(D.double().sum(0)))
        idx.append(int(cand[best]))
        closest = D[:, best].contiguous()
    return X[idx].clone()


def _relocate_empty(X, C, labels, counts):
    """Move empty centres onto the points farthest from their own centre (deterministic order)."""
    empty = torch.nonzero(counts == 0).flatten()
    dist = ((X - C[labels]) ** 2).sum(1)
    far = torch.argsort(dist, descending=True, stable=True)[: len(empty)]
    C[empty] = X[far]
    return C


def kmeans(X: torch.Tensor, k: int, *, seed: int = 0, max_iter: int = 100, tol: float = 1e-4,
           init: torch.Tensor | None = None, name: str = "") -> KMeansResult:
    """Cluster the rows of ``X`` (``(N, d)``) into ``k`` groups.

    ``tol`` is relative, as in scikit-learn: stop when the summed squared centre shift is at most
    ``tol * mean(var(X, axis=0))``; always stop when no label changes. ``K >= N`` is a no-op (every sample
    is its own centre) and warns. ``K < 1`` or NaN/inf samples raise :class:`DKMError` naming ``name``.
    """
    X = X.detach().to(torch.float32).contiguous()
    check_samples(X, k, name)
    N, d = X.shape
    if k >= N:
        warnings.warn(f"layer {name!r}: K={k} >= N={N} samples; weight sharing is a no-op", stacklevel=2)
        return KMeansResult(X.clone(), torch.arange(N), 0.0, 0)
    if init is not None and tuple(init.shape) != (k, d):
        raise DKMError(f"layer {name!r}: init centres must have shape {(k, d)}, got {tuple(init.shape)}")
    C = kmeans_plusplus(X, k, seed) if init is None else init.detach().to(torch.float32).clone()
    X64 = X.double()
    xx = (X * X).sum(1)
    tol_abs = float(tol) * float(X64.var(0, unbiased=False).mean())
    labels, u, l = _top2(X, xx, C)
    # Cluster sums are kept up to date from the points that change label (not recomputed over N).
    sums = torch.zeros(k, d, dtype=torch.float64).index_add_(0, labels, X64)
    counts = torch.bincount(labels, minlength=k)
    n_iter, strict = 0, False
    for n_iter in range(1, max_iter + 1):
        newC = (sums / counts.clamp_min(1)[:, None]).float()
        relocated = bool((counts == 0).any())
        if relocated:  # rare: empty clusters go to the farthest points
            newC = _relocate_empty(X, newC, labels, counts)
        shift = (newC - C).norm(dim=1)
        C = newC
        if float((shift.double() ** 2).sum()) <= tol_abs and not relocated:
            break
        # Hamerly: bounds move with the centres; only points that may change label are recomputed.
        if relocated:
            cand = torch.arange(N)
        else:
            u += shift[labels]
            l -= shift.max()
            cc = torch.cdist(C, C)
            cc.fill_diagonal_(math.inf)
            half = 0.5 * cc.min(1).values if k > 1 else torch.full((1,), math.inf)
            lim = torch.maximum(l, half[labels])
            cand = torch.nonzero(u > lim).flatten()
            if len(cand):
                u[cand] = (X[cand] - C[labels[cand]]).norm(dim=1)
                cand = cand[u[cand] > lim[cand]]
        changed = False
        if len(cand):
            nl, nu, nw = _top2(X[cand], xx[cand], C)
            old = labels[cand]
            moved = nl != old
            if bool(moved.any()):
                changed = True
                mv = cand[moved]
                sums.index_add_(0, old[moved], X64[mv], alpha=-1.0)
                sums.index_add_(0, nl[moved], X64[mv])
                counts += torch.bincount(nl[moved], minlength=k) - torch.bincount(old[moved], minlength=k)
            labels[cand], u[cand], l[cand] = nl, nu, nw
        if not changed and not relocated:
            strict = True
            break
    if not strict:  # labels must match the final centres (as scikit-learn's last E-step)
        labels, _, _ = _top2(X, xx, C)
    inertia = float(((X64 - C.double()[labels]) ** 2).sum())
    return KMeansResult(C, labels, inertia, n_iter)

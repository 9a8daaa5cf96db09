"""Seeded k-means: k-means++ seeding and exact Lloyd iterations, by one of two backends.

Samples are the rows of ``X`` (shape ``(N, d)``; for a layer that is ``W.T`` from :mod:`dkm.grouping`).

- ``"tree"`` (d <= 4, needs numba: ``pip install deep-kmeans-energy[fast]``): k-d-tree filtering (Kanungo et
  al. 2002) in :mod:`dkm._kmeans_tree`. Whole tree cells whose nearest centre is certain are assigned at once,
  and only what changes cluster is updated, so an iteration touches the cells along the cluster boundaries.
- ``"torch"``: distances ``||x||^2 - 2 x.c + ||c||^2`` on chunks (one matmul each, no ``N x K x d`` tensor)
  with Hamerly's bounds (an upper bound on the distance to the own centre, a lower bound on the second
  nearest), which let later iterations skip the points whose assignment cannot change.

``"auto"`` (the default) takes the tree when numba can be imported and d <= 4. Both give the labels of plain
Lloyd (same init, same stopping rule, same handling of empty clusters) up to floating-point near-ties. Every
random choice comes from a ``torch.Generator`` seeded by ``seed``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from . import _compiled
from .errors import DKMError

_CHUNK_ELEMS = 1 << 19  # distance entries per chunk: big enough for BLAS, small enough to stay in cache
#: Largest sample dimension for the k-d-tree backend (it pads coordinates to 4; the pruning weakens as d grows).
TREE_MAX_D = 4
BACKENDS = ("auto", "tree", "torch")


def _tree_module():
    """:mod:`dkm._kmeans_tree`, or None without numba."""
    return _compiled.load("_kmeans_tree")


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


def _use_tree(backend: str, d: int, N: int, name: str) -> bool:
    """Whether ``kmeans`` takes the k-d-tree path (``backend`` already checked to be one of BACKENDS)."""
    fits = 1 <= d <= TREE_MAX_D and N < 2**31 - 1
    if backend == "torch" or (backend == "auto" and not fits):
        return False
    if not fits:
        raise DKMError(f"layer {name!r}: k-means backend 'tree' needs sample dimension 1..{TREE_MAX_D}, got {d}")
    if _tree_module() is None:
        if backend == "tree":
            raise DKMError(f"layer {name!r}: k-means backend 'tree' needs numba ({_compiled.INSTALL_HINT})")
        return False
    return True


def _kmeans_tree(X: torch.Tensor, C: torch.Tensor, max_iter: int, tol_abs: float) -> KMeansResult:
    kt = _tree_module()
    Xn = X.numpy()
    tree = kt.build(Xn, kt.LEAF_SIZE, kt.CELLS_PER_LEAF)
    C, labels, n_iter, inertia = kt.lloyd(Xn, *tree, C.numpy(), int(max_iter), tol_abs)
    return KMeansResult(torch.from_numpy(C), torch.from_numpy(labels), float(inertia), int(n_iter))


def kmeans(X: torch.Tensor, k: int, *, seed: int = 0, max_iter: int = 100, tol: float = 1e-4,
           init: torch.Tensor | None = None, name: str = "", backend: str = "auto") -> KMeansResult:
    """Cluster the rows of ``X`` (``(N, d)``) into ``k`` groups.

    ``tol`` is relative, as in scikit-learn: stop when the summed squared centre shift is at most
    ``tol * mean(var(X, axis=0))``; always stop when no label changes. ``K >= N`` is a no-op (every sample
    is its own centre) and warns. ``K < 1`` or NaN/inf samples raise :class:`DKMError` naming ``name``.
    ``backend`` is ``"auto"``, ``"tree"`` or ``"torch"`` (see the module docstring); the result does not
    depend on it beyond floating-point near-ties.
    """
    if backend not in BACKENDS:
        raise DKMError(f"layer {name!r}: k-means backend must be one of {BACKENDS}, got {backend!r}")
    X = X.detach().to(torch.float32).contiguous()
    check_samples(X, k, name)
    N, d = X.shape
    if k >= N:
        warnings.warn(f"layer {name!r}: K={k} >= N={N} samples; weight sharing is a no-op", stacklevel=2)
        return KMeansResult(X.clone(), torch.arange(N), 0.0, 0)
    if init is not None and tuple(init.shape) != (k, d):
        raise DKMError(f"layer {name!r}: init centres must have shape {(k, d)}, got {tuple(init.shape)}")
    tree = _use_tree(backend, d, N, name)
    C = kmeans_plusplus(X, k, seed) if init is None else init.detach().to(torch.float32).clone()
    X64 = X.double()
    tol_abs = float(tol) * float(X64.var(0, unbiased=False).mean()) if tol else 0.0
    if tree:
        return _kmeans_tree(X, C.contiguous(), max_iter, tol_abs)
    xx = (X * X).sum(1)
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

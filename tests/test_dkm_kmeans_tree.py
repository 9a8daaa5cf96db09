"""The k-d-tree k-means backend (numba) against brute-force Lloyd, and the backend switch with its fallback."""

import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dkm import _compiled
from dkm.errors import DKMError
from dkm.kmeans import kmeans, kmeans_plusplus

km = importlib.import_module("dkm.kmeans")  # the module (the package exports the function under that name)

needs_numba = pytest.mark.skipif(km._tree_module() is None, reason="numba not installed")


def _ref_lloyd(X: np.ndarray, C0: np.ndarray, max_iter: int, tol_abs: float = 0.0):
    """Brute-force Lloyd in float64 with kmeans()'s contract: float32 centres, empty clusters moved to the
    farthest points (float32 distances, ties by index), stop on tol or when no label changes, final E-step."""
    X64 = X.astype(np.float64)
    K = C0.shape[0]

    def assign(C):
        return ((X64[:, None, :] - C.astype(np.float64)[None]) ** 2).sum(2).argmin(1)

    C, labels, n_iter, fresh = C0.copy(), assign(C0), 0, True
    for it in range(1, max_iter + 1):
        n_iter = it
        counts = np.bincount(labels, minlength=K)
        sums = np.zeros((K, X.shape[1]))
        np.add.at(sums, labels, X64)
        newC = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        relocated = bool((counts == 0).any())
        if relocated:
            dist = ((X - newC[labels]) ** 2).sum(1)
            far = np.argsort(-dist, kind="stable")[: int((counts == 0).sum())]
            newC[counts == 0] = X[far]
        shift = float((((newC - C) ** 2).sum(1)).astype(np.float64).sum())
        fresh = fresh and shift == 0
        C = newC
        if shift <= tol_abs and not relocated:
            break
        new = assign(C)
        changed = bool((new != labels).any())
        labels, fresh = new, True
        if not changed and not relocated:
            break
    if not fresh:
        labels = assign(C)
    inertia = float(((X64 - C.astype(np.float64)[labels]) ** 2).sum())
    return C, labels, n_iter, inertia


def _check_equal(X, C0, max_iter=50, tol=0.0):
    Xt, Ct = torch.from_numpy(X), torch.from_numpy(C0)
    tol_abs = tol * float(X.astype(np.float64).var(0).mean())
    r = kmeans(Xt, C0.shape[0], init=Ct, max_iter=max_iter, tol=tol, backend="tree")
    C, labels, n_iter, inertia = _ref_lloyd(X, C0, max_iter, tol_abs)
    assert r.labels.dtype == torch.int64 and r.centers.dtype == torch.float32
    np.testing.assert_array_equal(r.labels.numpy(), labels)
    np.testing.assert_allclose(r.centers.numpy(), C, rtol=1e-6, atol=1e-6)
    assert r.n_iter == n_iter
    assert r.inertia == pytest.approx(inertia, rel=1e-9, abs=1e-9)


def _data(kind, N, d, seed):
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((N, d), dtype=np.float32) - 0.5
    if kind == "blobs":
        c = rng.normal(size=(6, d)) * 5
        return (c[rng.integers(6, size=N)] + rng.normal(size=(N, d))).astype(np.float32)
    if kind == "grid":  # small integers: many duplicate points and exact distance ties
        return rng.integers(-3, 4, size=(N, d)).astype(np.float32)
    if kind == "outlier":  # all but one point in a tiny region: leaves are split inside one grid cell
        X = (rng.random((N, d)) * 1e-4).astype(np.float32)
        X[0] = 1e3
        return X
    raise ValueError(kind)


@needs_numba
@pytest.mark.parametrize("kind", ["uniform", "blobs", "grid", "outlier"])
@pytest.mark.parametrize("N,d,K", [(2, 1, 1), (50, 1, 1), (700, 3, 1), (900, 1, 7), (1500, 2, 25), (3000, 3, 40),
                                   (800, 4, 12), (300, 3, 299), (400, 2, 150), (2500, 3, 7)])
def test_tree_equals_bruteforce(kind, N, d, K):
    X = _data(kind, N, d, seed=N + d + K)
    rng = np.random.default_rng(K)
    C0 = X[rng.choice(N, K, replace=False)].copy()
    _check_equal(X, C0)


@needs_numba
@pytest.mark.parametrize("seed", range(3))
def test_tree_equals_bruteforce_kmeanspp_and_tol(seed):
    X = _data("blobs", 2000, 3, seed)
    C0 = kmeans_plusplus(torch.from_numpy(X), 30, seed=seed).numpy()
    _check_equal(X, C0, max_iter=100)
    _check_equal(X, C0, max_iter=100, tol=1e-3)
    _check_equal(X, C0, max_iter=3)
    _check_equal(X, C0, max_iter=0)


@needs_numba
def test_empty_clusters_relocated_as_bruteforce():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 10]).astype(np.float32)
    C0 = np.array([[0, 0], [10, 10], [500, 500], [600, 600], [700, 700]], np.float32)  # three attract nothing
    _check_equal(X, C0, max_iter=20)
    Xd = np.repeat(X[:5], 20, axis=0)  # 5 distinct points, 8 centres: clusters stay empty and keep moving
    _check_equal(Xd, Xd[[0, 1, 20, 21, 40, 41, 60, 80]].copy(), max_iter=10)


@needs_numba
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_tree_equals_bruteforce_property(data):
    N = data.draw(st.integers(2, 80))
    d = data.draw(st.integers(1, 4))
    K = data.draw(st.integers(1, N - 1))  # (K >= N is a no-op)
    vals = data.draw(st.lists(st.integers(-4, 4), min_size=N * d, max_size=N * d))
    X = (np.array(vals, np.float32).reshape(N, d) * data.draw(st.sampled_from([1.0, 0.37, 1e3])))
    idx = data.draw(st.lists(st.integers(0, N - 1), min_size=K, max_size=K))  # repeats: duplicate centres
    _check_equal(X.astype(np.float32), X[idx].astype(np.float32).copy(), max_iter=30)


@needs_numba
def test_tree_deterministic_and_backends_agree():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(8, 3, generator=g) * 6
    X = centers[torch.randint(8, (4000,), generator=g)] + torch.randn(4000, 3, generator=g)
    a, b = kmeans(X, 12, seed=5), kmeans(X, 12, seed=5)
    assert torch.equal(a.centers, b.centers) and torch.equal(a.labels, b.labels) and a.n_iter == b.n_iter
    t = kmeans(X, 12, seed=5, backend="torch", tol=0, max_iter=200)
    r = kmeans(X, 12, seed=5, backend="tree", tol=0, max_iter=200)
    assert torch.equal(r.labels, t.labels) and r.n_iter == t.n_iter
    torch.testing.assert_close(r.centers, t.centers, rtol=1e-5, atol=1e-5)
    assert r.inertia == pytest.approx(t.inertia, rel=1e-5)


@needs_numba
def test_tree_build_invariants():
    kt = km._tree_module()
    for kind in ["uniform", "outlier", "grid"]:
        X = _data(kind, 5000, 3, 1)
        Xs, perm, box, nsum, start, end, right, depth = kt.build(X, 32, 4)
        assert sorted(perm.tolist()) == list(range(len(X)))
        np.testing.assert_array_equal(Xs[:3].T, X[perm])
        assert not Xs[3].any()
        for v in range(len(start)):
            pts = Xs[:, start[v]:end[v]]
            np.testing.assert_array_equal(box[v, :4], pts.min(1))
            np.testing.assert_array_equal(box[v, 4:], pts.max(1))
            np.testing.assert_allclose(nsum[v], pts.sum(1), rtol=1e-12, atol=1e-9)
            if right[v] < 0:
                assert end[v] - start[v] <= 32 or (pts == pts[:, :1]).all()
            else:
                assert start[v + 1] == start[v] and end[v + 1] == start[right[v]] and end[right[v]] == end[v]


def test_backend_choice_and_fallback(monkeypatch):
    X = torch.rand(500, 3)
    with pytest.raises(DKMError, match="conv3.*backend.*'gpu'"):
        kmeans(X, 4, backend="gpu", name="conv3")
    with pytest.raises(DKMError, match="backend 'tree' needs sample dimension"):
        kmeans(torch.rand(100, 6), 4, backend="tree")
    assert kmeans(torch.rand(100, 6), 4).centers.shape == (4, 6)  # auto: the torch path for d > 4
    monkeypatch.setitem(_compiled._modules, "_kmeans_tree", None)  # as if numba were not installed
    assert km._tree_module() is None
    with pytest.raises(DKMError, match="needs numba"):
        kmeans(X, 4, backend="tree")
    a, t = kmeans(X, 4, seed=1), kmeans(X, 4, seed=1, backend="torch")
    assert torch.equal(a.labels, t.labels) and torch.equal(a.centers, t.centers)

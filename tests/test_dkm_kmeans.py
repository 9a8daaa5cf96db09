import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from dkm.errors import DKMError
from dkm.kmeans import kmeans, kmeans_plusplus
from dkm.layers import resolve_layers
from energysim import zoo



def _blobs(n=3000, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(8, d, generator=g) * 4
    return centers[torch.randint(8, (n,), generator=g)] + torch.randn(n, d, generator=g)


def test_deterministic():
    X = _blobs()
    a, b = kmeans(X, 10, seed=3), kmeans(X, 10, seed=3)
    assert torch.equal(a.centers, b.centers) and torch.equal(a.labels, b.labels)
    assert not torch.equal(kmeans_plusplus(X, 10, seed=3), kmeans_plusplus(X, 10, seed=4))


@pytest.mark.parametrize("k,d", [(5, 1), (10, 3), (40, 3), (16, 9)])
def test_quality_vs_sklearn(k, d):
    X = _blobs(4000, d, seed=k)
    ours = kmeans(X, k, seed=0, max_iter=300, tol=0)
    sk = KMeans(k, n_init=5, random_state=0).fit(X.numpy().astype(np.float64))
    assert ours.inertia <= sk.inertia_ * 1.03
    # inertia reported = sum of squared distances to the assigned centres; labels are nearest centres
    d2 = torch.cdist(X.double(), ours.centers.double()) ** 2
    assert abs(float(d2.min(1).values.sum()) - ours.inertia) <= 1e-6 * ours.inertia
    assert (d2.gather(1, ours.labels[:, None]).squeeze(1) <= d2.min(1).values * (1 + 1e-5) + 1e-9).all()


def test_same_init_matches_sklearn_lloyd():
    X = torch.rand(5000, 3)
    C0 = kmeans_plusplus(X, 20, seed=1)
    ours = kmeans(X, 20, init=C0, max_iter=50, tol=0)
    sk = KMeans(20, init=C0.numpy(), n_init=1, max_iter=50, tol=0, algorithm="lloyd").fit(X.numpy())
    assert abs(ours.inertia / sk.inertia_ - 1) < 1e-3


def test_k_ge_n_is_noop_with_warning():
    X = torch.randn(5, 3)
    with pytest.warns(UserWarning, match="no-op"):
        r = kmeans(X, 7, name="conv1")
    assert torch.equal(r.centers[r.labels], X) and r.inertia == 0


def test_empty_clusters_reseeded():
    g = torch.Generator().manual_seed(0)
    X = torch.cat([torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g) + 10])
    init = torch.tensor([[0.0, 0.0], [10.0, 10.0], [500.0, 500.0], [600.0, 600.0]])  # two attract nothing
    r = kmeans(X, 4, init=init, max_iter=10)
    assert torch.bincount(r.labels, minlength=4).min() > 0
    assert r.inertia < kmeans(X, 2, init=init[:2], max_iter=10).inertia
    assert torch.equal(r.labels, kmeans(X, 4, init=init, max_iter=10).labels)


@pytest.mark.parametrize("bad,match", [(0, "K must be"), (-2, "K must be")])
def test_bad_k(bad, match):
    with pytest.raises(DKMError, match=f"conv2.*{match}.*{bad}"):
        kmeans(torch.randn(10, 3), bad, name="conv2")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nonfinite(value):
    X = torch.randn(10, 3)
    X[3, 1] = value
    with pytest.raises(DKMError, match=f"fc1.*non-finite.*{value}"):
        kmeans(X, 2, name="fc1")


def test_cluster_rates_and_lists():
    m = zoo.build("lenet5")
    specs = resolve_layers(m, cluster_rate=0.1, first_rate=0.5, linear_vector_size=4)
    assert [(s.name, s.n, s.k) for s in specs] == [("conv1", 100, 50), ("conv2", 5000, 500),
                                                    ("fc1", 100000, 10000), ("fc2", 1250, 125)]
    specs = resolve_layers(m, clusters={"conv2": 7, "conv1": 3})
    assert [s.k for s in specs] == [3, 7]
    with pytest.raises(DKMError, match="unknown layer 'conv9'"):
        resolve_layers(m, clusters={"conv9": 3})
    with pytest.raises(DKMError, match="got 3 value"):
        resolve_layers(m, clusters=[1, 2, 3])
    with pytest.raises(DKMError, match="conv2.*K must be.*0"):
        resolve_layers(m, clusters=[4, 0])

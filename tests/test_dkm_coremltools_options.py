"""coremltools' DKM options in ``dkm.differentiable`` (``epsilon``, ``prune_threshold``, ``split_duplicates``,
``opt1d_threshold``) against a re-statement of coremltools 9.0's ``diff_palettize_seq`` loop, and the optimal
1-D k-means against brute force."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from dkm.differentiable import ATTENTION_FLOOR, COREMLTOOLS, DifferentiableKMeans, _SoftCluster
from dkm.errors import DKMError
from dkm.kmeans1d import optimal_1d
from dkm.layers import resolve_layers


def _coremltools_seq(X, C, tau, iters, epsilon, prune):
    """coremltools' soft k-means of one partition, written out (float64): squared cdist, prune on centroid 0,
    softmax with the attention floor, centroid update, inertia of this step and the early stop after it."""
    X, C = X.double(), C.double()
    last = None
    steps = 0
    for _ in range(iters):
        d = torch.cdist(X, C).square()
        d[:, :1] -= prune
        A = torch.softmax(-d / tau, dim=-1).clamp(min=ATTENTION_FLOOR)
        C = (X.T @ A).T / A.sum(0).view(-1, 1)
        steps += 1
        inertia = float(d.min(dim=-1).values.sum())
        if last and abs(last - inertia) <= epsilon:
            break
        last = inertia
    return A @ C, C, steps


@pytest.mark.parametrize("epsilon,prune", [(None, 0.0), (1e-4, 1e-7), (10.0, 0.0), (1e-12, 0.05)])
def test_soft_steps_match_coremltools_loop(epsilon, prune):
    torch.manual_seed(0)
    X = torch.randn(200, 3) * 0.1
    C = X[torch.randperm(200)[:8]].clone()
    tau = 1e-3
    sc = _SoftCluster(resolve_layers(nn.Conv2d(1, 1, 3), clusters=[8])[0], C[None].clone(), 0.3, 3, tau, epsilon,
                      prune, False)
    out, C1 = sc._soft(X.double(), C.double(), tau)
    expect, Ce, steps = _coremltools_seq(X, C, tau, 3, float("inf") if epsilon is None else epsilon, prune)
    if epsilon is None:
        # no early stop: every step runs (a tolerance of inf in the reference would stop after the second)
        expect, Ce, steps = _coremltools_seq(X, C, tau, 3, -1.0, prune)
        assert steps == 3
    if epsilon == 10.0:
        assert steps == 2  # a huge tolerance stops after the second step, never the first
    assert torch.allclose(out, expect, atol=1e-10) and torch.allclose(C1, Ce, atol=1e-10)


def test_split_duplicates_as_coremltools():
    C = torch.tensor([[0.5], [0.1], [0.5], [0.9], [0.1]])
    _SoftCluster._split_duplicates(C)
    # unique (sorted): 0.1 (x2), 0.5 (x2), 0.9; the first copy of 0.1 (row 1) -> (0.1 + 0.5) / 2, the first
    # copy of 0.5 (row 0) -> (0.5 + 0.9) / 2
    assert torch.allclose(C[:, 0], torch.tensor([0.7, 0.3, 0.5, 0.9, 0.1]))
    D = torch.tensor([[0.2], [0.4]])
    _SoftCluster._split_duplicates(D)  # nothing duplicated: untouched
    assert torch.equal(D, torch.tensor([[0.2], [0.4]]))


def test_training_forward_splits_duplicates_only_when_asked():
    for split in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3))
        reg = DifferentiableKMeans(net, resolve_layers(net, clusters=[4], mode="scalar"), tau=1e-3,
                                   split_duplicates=split)
        sc = reg.mods["0"]
        sc.centers[0, 1] = sc.centers[0, 0]  # a duplicate
        seen = []
        orig = sc._soft
        sc._soft = lambda X, C, tau: (seen.append(C.clone()), orig(X, C, tau))[1]
        net.train()
        net[0].weight  # noqa: B018 (the parametrization runs)
        assert (len(torch.unique(seen[0], dim=0)) == 4) == split
        reg.close()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-20, 20), min_size=1, max_size=7), st.integers(1, 7))
def test_optimal_1d_is_optimal(vals, k):
    x = np.array(vals, dtype=float) / 4
    k = min(k, len(x))
    c, lab = optimal_1d(x, k)
    assert np.all(np.diff(c) >= 0) and sorted(set(lab.tolist())) == list(range(k))
    sse = ((x - c[lab]) ** 2).sum()
    best = min(sum(((x[np.array(a) == g] - x[np.array(a) == g].mean()) ** 2).sum() for g in range(k))
               for a in itertools.product(range(k), repeat=len(x)) if len(set(a)) == k)
    assert sse == pytest.approx(best, abs=1e-9)


def test_optimal_1d_rejects_bad_input():
    with pytest.raises(DKMError, match="k must be"):
        optimal_1d([1.0, 2.0], 3)
    with pytest.raises(DKMError, match="finite"):
        optimal_1d([1.0, float("nan")], 1)


def test_opt1d_start_on_small_scalar_layers_only():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(8, 16, 3))  # 72 and 1152 weights
    w0 = net[0].weight.detach().clone()
    reg = DifferentiableKMeans(net, resolve_layers(net, clusters=[4, 4], mode="scalar"), tau=1e-3,
                               opt1d_threshold=1024)
    expect = torch.from_numpy(optimal_1d(w0.double().numpy(), 4)[0]).float()
    assert torch.allclose(reg.mods["0"].centers[0, :, 0], expect)
    # the larger layer starts from k-means (not necessarily the optimum's centres)
    assert reg.mods["1"].centers.shape == (1, 4, 1)
    reg.close()


@pytest.mark.parametrize("kw,match", [({"epsilon": 0}, "epsilon"), ({"epsilon": float("nan")}, "epsilon"),
                                      ({"prune_threshold": -1e-7}, "prune_threshold"),
                                      ({"prune_threshold": "1e-7"}, "prune_threshold"),
                                      ({"split_duplicates": 1}, "split_duplicates"),
                                      ({"opt1d_threshold": -1}, "opt1d_threshold"),
                                      ({"opt1d_threshold": 2.5}, "opt1d_threshold")])
def test_bad_options_rejected(kw, match):
    net = nn.Sequential(nn.Conv2d(1, 4, 3))
    with pytest.raises(DKMError, match=match):
        DifferentiableKMeans(net, resolve_layers(net, clusters=[4]), **kw)


def test_coremltools_preset_is_accepted():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3))
    reg = DifferentiableKMeans(net, resolve_layers(net, clusters=[4], mode="scalar"), **COREMLTOOLS)
    net.train()
    w = net[0].weight
    assert torch.isfinite(w).all() and w.requires_grad
    reg.close()

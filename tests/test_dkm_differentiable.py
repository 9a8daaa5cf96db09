"""Differentiable k-means (dkm.differentiable): the soft k-means forward against a direct re-statement of Cho et
al.'s iteration, the hard weight in eval mode, gradients, detaching, lookup tables, sparsity, the pipeline."""

import numpy as np
import pytest
import torch
from torch import nn

import dkm
from dkm.data import Dataset
from dkm.differentiable import DifferentiableKMeans
from dkm.errors import DKMError
from dkm.layers import resolve_layers


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 2), 1))


def _net(seed=0):
    torch.manual_seed(seed)
    return Net()


def _reference(X, C, tau, iters):
    """Cho et al.'s soft k-means written out: attention over squared distances, then centroid update."""
    X, C = X.double(), C.double()
    for _ in range(iters):
        D = ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)
        A = torch.softmax(-D / tau, dim=1)
        C = (A.T @ X) / A.sum(0)[:, None]
    return A @ C, C


def test_soft_forward_matches_the_iteration_and_eval_is_hard():
    net = _net()
    X0 = net.conv.weight.detach().reshape(-1, 3).clone()
    specs = resolve_layers(net, clusters=[4])
    reg = DifferentiableKMeans(net, specs, temperature=0.3, iters=2)
    sc = reg.mods["conv"]
    C0, tau = sc.centers[0].clone(), float(sc.tau)
    # tau is the temperature times the mean squared distance to the nearest centroid
    d = ((X0[:, None] - C0[None]) ** 2).sum(-1).min(1).values.mean()
    assert tau == pytest.approx(0.3 * float(d), rel=1e-5)
    net.train()
    W = net.conv.weight  # computed by the parametrization
    expect, C1 = _reference(X0, C0, tau, 2)
    assert torch.allclose(W.reshape(-1, 3).double(), expect, atol=1e-5)
    assert torch.allclose(sc.centers[0].double(), C1, atol=1e-5)  # kept for the next step
    net.eval()
    Wh = net.conv.weight.detach().reshape(-1, 3)
    C = sc.centers[0]
    nearest = ((X0[:, None] - C[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(Wh, C[nearest])
    assert reg.loss(net).item() == 0.0


def test_gradients_reach_the_latent_weights_and_close_restores_them():
    net = _net()
    reg = DifferentiableKMeans(net, resolve_layers(net, clusters=[3]))
    net.train()
    x, y = torch.randn(8, 2, 6, 6), torch.randint(3, (8,))
    nn.functional.cross_entropy(net(x), y).backward()
    latent = net.conv.parametrizations.weight.original
    assert latent.grad is not None and latent.grad.abs().sum() > 0
    before = latent.detach().clone()
    reg.close()
    assert isinstance(net.conv.weight, nn.Parameter) and torch.equal(net.conv.weight.detach(), before)
    assert set(net.state_dict()) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}
    inits = reg.warm_start()
    assert inits["conv"].shape == (3, 3)


def test_lookup_tables_and_sparsity():
    net = _net()
    specs = resolve_layers(net, clusters=[2], lut_group=3)  # 2 LUTs of 2 codewords
    reg = DifferentiableKMeans(net, specs)
    net.eval()
    W = net.conv.weight.detach().reshape(2, -1, 3)
    C = reg.mods["conv"].centers
    assert C.shape == (2, 2, 3)
    for g in range(2):  # every row of LUT g is one of LUT g's own codewords
        assert all(any(torch.equal(r, c) for c in C[g]) for r in W[g])
    reg.close()

    for mode in ("zero", "mean"):
        net = _net()
        specs = resolve_layers(net, clusters=[4], sparsity=0.25, sparsity_mode=mode)
        reg = DifferentiableKMeans(net, specs)
        sc = reg.mods["conv"]
        assert sc.centers.shape == (1, 3, 3) and int(sc.mask.sum()) == int(round(0.25 * 36))
        X = net.conv.parametrizations.weight.original.detach().reshape(-1, 3)
        net.train()
        rows = net.conv.weight.detach().reshape(-1, 3)[sc.mask]
        first = torch.zeros(3) if mode == "zero" else X[sc.mask].mean(0)
        assert torch.allclose(rows, first.expand_as(rows), atol=1e-6)
        reg.close()
    with pytest.raises(DKMError, match="sparsity or several lookup tables"):
        DifferentiableKMeans(_net(), resolve_layers(_net(), clusters=[2], lut_group=3, sparsity=0.2))
    with pytest.raises(DKMError, match="temperature"):
        DifferentiableKMeans(_net(), resolve_layers(_net(), clusters=[2]), temperature=0)


def test_dkm_in_the_pipeline_ends_shared():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, 6, 6, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long() + (x[:, 0].mean((1, 2)) > 0.2).long()
    data = Dataset("toy", x[:64], y[:64], x[64:], y[64:])
    net = _net()
    cfg = dkm.CompressConfig(clusters=[4], regularizer="dkm", pretrain_epochs=2, retrain_epochs=2,
                             finetune_epochs=1, retrain_optimizer="adam", retrain_lr=1e-3, batch_size=16)
    res = dkm.compress(net, data, cfg)
    sl = res.shared["conv"]
    assert sl.k == 4 and torch.equal(net.conv.weight.detach(), sl.weight())
    assert not torch.nn.utils.parametrize.is_parametrized(net.conv)
    assert res.config["regularizer"] == "dkm" and 0 <= res.accuracy <= 100
    rows = net.conv.weight.detach().reshape(-1, 3).numpy()
    assert len(np.unique(rows, axis=0)) <= 4

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


# --- coremltools' configuration (issue 17): absolute tau, n_init restarts, snap (finalize), validation ---------------

class TwoConv(nn.Module):
    """Two conv layers whose weights differ in scale by 10x (a relative temperature would differ per layer)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 6, 3)
        self.b = nn.Conv2d(6, 6, 3)
        with torch.no_grad():
            self.b.weight.mul_(10)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))).mean((2, 3))


def _two(seed=0):
    torch.manual_seed(seed)
    return TwoConv()


def test_absolute_tau_is_used_on_every_layer():
    from dkm.differentiable import COREMLTOOLS_TAU

    net = _two()
    X0 = {n: getattr(net, n).weight.detach().reshape(-1, 3).clone() for n in ("a", "b")}
    reg = DifferentiableKMeans(net, resolve_layers(net, clusters=[4, 4]), tau=1e-3, iters=2)
    assert reg.tau == 1e-3 and COREMLTOOLS_TAU == 1e-4
    net.train()
    for n in ("a", "b"):
        sc = reg.mods[n]
        assert float(sc.tau) == pytest.approx(1e-3, rel=1e-6)
        C0 = sc.centers[0].clone()
        expect, _ = _reference(X0[n], C0, 1e-3, 2)
        assert torch.allclose(getattr(net, n).weight.reshape(-1, 3).double(), expect, atol=1e-5)
    reg.on_epoch_end(0)  # the relative scale is not recomputed over an absolute tau
    assert all(float(sc.tau) == pytest.approx(1e-3, rel=1e-6) for sc in reg.mods.values())
    reg.close()
    # the relative temperature differs between the two layers (so the check above is not vacuous)
    rel = DifferentiableKMeans(_two(), resolve_layers(_two(), clusters=[4, 4]), temperature=0.3)
    ta, tb = float(rel.mods["a"].tau), float(rel.mods["b"].tau)
    assert tb > 10 * ta


def test_n_init_keeps_the_lowest_distortion_start_deterministically():
    from dkm.share import share_layer

    net = _net(3)
    specs = resolve_layers(net, clusters=[6])
    w = net.conv.weight.detach().clone()
    runs = [share_layer(w, specs[0], 7 + 1000 * j) for j in range(5)]  # seed 7, layer 0: seeds 7 + 1000 j
    dist = [float(((r.weight() - w) ** 2).sum()) for r in runs]
    assert len({round(d, 9) for d in dist}) > 1  # the starts really differ here
    best = runs[int(np.argmin(dist))]
    reg = DifferentiableKMeans(net, specs, n_init=5, seed=7)
    C = reg.mods["conv"].centers[0]
    assert reg.n_init == 5 and torch.equal(C, torch.from_numpy(best.codebook))
    reg.close()
    again = DifferentiableKMeans(_net(3), resolve_layers(_net(3), clusters=[6]), n_init=5, seed=7)
    assert torch.equal(again.mods["conv"].centers, reg.mods["conv"].centers)
    one = DifferentiableKMeans(_net(3), resolve_layers(_net(3), clusters=[6]), n_init=1, seed=7)
    assert torch.equal(one.mods["conv"].centers[0], torch.from_numpy(runs[0].codebook))


def test_snap_writes_the_hard_clustering_into_the_latent_weights():
    from dkm.share import share_weights

    net = _net()
    specs = resolve_layers(net, clusters=[4])
    reg = DifferentiableKMeans(net, specs, tau=1e-2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.randn(16, 2, 6, 6, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 3
    net.train()
    for _ in range(3):  # move the latent weights off the centroids
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    latent = net.conv.parametrizations.weight.original
    C = reg.mods["conv"].centers[0].clone()
    hard = net.conv.weight.detach().clone()
    out = net(x).detach()
    assert not torch.equal(latent.detach(), hard)
    reg.snap()
    assert torch.equal(latent.detach(), hard)  # every latent row is now its nearest centroid
    rows = latent.detach().reshape(-1, 3)
    assert all(any(torch.equal(r, c) for c in C) for r in rows)
    assert torch.equal(net(x).detach(), out)  # the eval output does not change
    assert not reg.mods["conv"].training  # snap keeps the module's mode
    net.train()
    reg.snap()  # from training mode too: the hard clustering, and the mode is kept
    assert torch.equal(latent.detach(), hard) and reg.mods["conv"].training
    reg.close()
    assert torch.equal(net.conv.weight.detach(), hard)
    shared = share_weights(net, specs, inits=reg.warm_start())  # the final k-means only confirms it
    assert torch.equal(net.conv.weight.detach(), hard) and torch.equal(shared["conv"].weight(), hard)


@pytest.mark.parametrize("kw, word", [
    ({"tau": 0}, "tau"), ({"tau": -1e-4}, "tau"), ({"tau": float("nan")}, "tau"), ({"tau": float("inf")}, "tau"),
    ({"tau": "1e-4"}, "tau"), ({"n_init": 0}, "n_init"), ({"n_init": 2.5}, "n_init"), ({"n_init": None}, "n_init"),
    ({"n_init": "3"}, "n_init"), ({"n_init": float("nan")}, "n_init"), ({"n_init": True}, "n_init"),
    ({"iters": 0}, "iterations"), ({"temperature": "x"}, "temperature"),
])
def test_bad_tau_and_n_init_are_one_line_errors(kw, word):
    net = _net()
    with pytest.raises(DKMError) as e:
        DifferentiableKMeans(net, resolve_layers(net, clusters=[2]), **kw)
    msg = str(e.value)
    assert word in msg and "\n" not in msg and repr(list(kw.values())[0]) in msg
    assert not torch.nn.utils.parametrize.is_parametrized(net.conv)  # nothing attached


def test_out_channel_vectors_of_the_peers_toy_are_coremltools_vectors():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dkm_peers.py"
    spec = importlib.util.spec_from_file_location("dkm_peers_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    plain = bench.ToyCNN()
    oc = bench.ToyCNN(out_channel_vectors=True)
    oc.load_state_dict(bench.to_out_channel_vectors(plain.state_dict()))
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(oc(x), plain(x), atol=1e-6)
    w = plain.conv2.weight.detach()
    # coremltools' vectorize(w, 3, vector_ch_axis=0): w.transpose(0, -1).reshape(-1, 3)
    assert torch.equal(oc.conv2.weight.detach().reshape(-1, 3), w.transpose(0, -1).reshape(-1, 3))
    assert torch.equal(oc.conv2.dense(oc.conv2.weight).detach(), w)
    specs = resolve_layers(oc, clusters=[4, 4, 4])
    assert [s.s for s in specs] == [3, 3, 3]


def test_tau_and_n_init_reach_dkm_from_the_pipeline_and_the_cli():
    from dkm.pipeline import CompressConfig
    from dkm.regularizers import make

    net = _two()
    reg = make("dkm", net, resolve_layers(net, clusters=[4, 4]), tau=1e-3, n_init=2)
    assert reg.tau == 1e-3 and reg.n_init == 2
    reg.close()
    for bad in (dict(dkm_tau=-1.0), dict(dkm_tau=float("inf")), dict(dkm_n_init=0)):
        with pytest.raises(DKMError, match=next(iter(bad))):
            CompressConfig(regularizer="dkm", **bad).validate()
    from dkm.cli import build_parser

    a = build_parser().parse_args(["compress", "--model", "digits_cnn", "--data", "digits", "--regularizer", "dkm",
                                   "--dkm-tau", "1e-4", "--dkm-n-init", "10", "--out", "x"])
    assert a.dkm_tau == 1e-4 and a.dkm_n_init == 10

import numpy as np
import pytest
import torch
from torch import nn

from dkm.data import Dataset
from dkm.grouping import group, ungroup
from dkm.layers import resolve_layers
from dkm.regularizers import HardRegularizer, SpectralRegularizer
from dkm.share import share_weights
from dkm.train import finetune_centroids


LAM = 0.3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 2), 1))


def _net(seed=0):
    torch.manual_seed(seed)
    return Net()


def _loss_and_grad(reg, net):
    net.zero_grad()
    loss = reg.loss(net)
    loss.backward()
    return loss.item(), net.conv.weight.grad.clone()


@pytest.mark.parametrize("k", [2, 5])
def test_spectral_loss_and_gradient_match_formula(k):
    net = _net()
    spec = resolve_layers(net, clusters={"conv": k})
    reg = SpectralRegularizer(net, spec, lam=LAM)
    W0 = group(net.conv.weight.detach()).numpy().astype(np.float64)
    with torch.no_grad():  # make F stale so the term is not trivially zero
        net.conv.weight.add_(0.3 * torch.randn_like(net.conv.weight))
    W = group(net.conv.weight.detach()).double()
    _, _, Vh = np.linalg.svd(W0, full_matrices=False)
    F = reg.state["conv"]["F"].double()
    assert F.shape == (24, min(k, 3))
    top = Vh[: min(k, 3)].T  # same subspace as numpy's top singular vectors
    assert np.allclose(top @ top.T, (F @ F.T).numpy(), atol=1e-5)
    assert torch.allclose(F.T @ F, torch.eye(F.shape[1], dtype=F.dtype), atol=1e-5)
    N = W.shape[1]
    expect = LAM / 2 * (torch.trace(W.T @ W) - torch.trace(F.T @ W.T @ W @ F))
    loss, grad = _loss_and_grad(reg, net)
    assert loss == pytest.approx(float(expect), rel=1e-4)
    expect_grad = ungroup(LAM * W @ (torch.eye(N, dtype=W.dtype) - F @ F.T), net.conv.weight.shape)
    assert torch.allclose(grad.double(), expect_grad, atol=1e-6)


def test_spectral_is_zero_right_after_update_when_k_ge_s():
    net = _net()
    reg = SpectralRegularizer(net, resolve_layers(net, clusters={"conv": 8}), lam=LAM)
    assert abs(reg.loss(net).item()) < 1e-6
    reg2 = SpectralRegularizer(net, resolve_layers(net, clusters={"conv": 1}), lam=LAM)
    assert reg2.loss(net).item() > 1e-3  # K < rank: a real low-rank penalty


def test_spectral_f_refresh_every_t_epochs():
    net = _net()
    reg = SpectralRegularizer(net, resolve_layers(net, clusters={"conv": 5}), lam=LAM, update_every=3)
    for e in range(6):
        reg.on_epoch_end(e)
    assert reg.updates == 3  # construction + after epochs 3 and 6


def test_hard_loss_is_kmeans_distortion_and_trace_form():
    net = _net()
    reg = HardRegularizer(net, resolve_layers(net, clusters={"conv": 4}), lam=LAM)
    with torch.no_grad():
        net.conv.weight.add_(0.1 * torch.randn_like(net.conv.weight))
    labels = reg.state["conv"]["labels"]
    X = group(net.conv.weight.detach()).T.double()
    means = torch.stack([X[labels == j].mean(0) for j in range(4)])
    distortion = float(((X - means[labels]) ** 2).sum())
    F = torch.zeros(X.shape[0], 4, dtype=torch.float64)
    counts = torch.bincount(labels, minlength=4).double()
    F[torch.arange(X.shape[0]), labels] = 1 / counts[labels].sqrt()
    W = X.T
    trace = float(torch.trace(W.T @ W) - torch.trace(F.T @ W.T @ W @ F))
    loss, grad = _loss_and_grad(reg, net)
    assert loss == pytest.approx(LAM / 2 * distortion, rel=1e-4)
    assert trace == pytest.approx(distortion, rel=1e-8)
    expect_grad = ungroup((LAM * (X - means[labels])).T, net.conv.weight.shape)
    assert torch.allclose(grad.double(), expect_grad, atol=1e-6)


def test_sparsity_variant():
    net = _net()
    specs = resolve_layers(net, clusters={"conv": 4}, sparsity={"conv": 0.25})
    reg = HardRegularizer(net, specs, lam=LAM)
    W = group(net.conv.weight.detach())
    zero = reg.state["conv"]["zero"]
    assert int(zero.sum()) == 6  # round(0.25 * 24)
    assert W[:, zero].norm(dim=0).max() <= W[:, ~zero].norm(dim=0).min()
    loss = reg.loss(net).item()
    rest = W[:, ~zero].T.double()
    lab = reg.state["conv"]["labels"]
    means = torch.stack([rest[lab == j].mean(0) for j in range(3)])
    expect = LAM / 2 * (float((W[:, zero].double() ** 2).sum()) + float(((rest - means[lab]) ** 2).sum()))
    assert loss == pytest.approx(expect, rel=1e-4)

    shared = share_weights(net, specs)["conv"]
    assert shared.sparse and shared.k == 4 and np.all(shared.codebook[0] == 0)
    assert np.sum(shared.assignments == 0) == 6
    Wn = group(net.conv.weight.detach())
    assert torch.equal(Wn[:, zero], torch.zeros(3, 6))


def test_finetune_keeps_indices_and_zero_codeword():
    net = _net()
    specs = resolve_layers(net, clusters={"conv": 5}, sparsity=0.2)
    shared = share_weights(net, specs)
    before = shared["conv"].codebook.copy()
    idx = shared["conv"].assignments.copy()
    g = torch.Generator().manual_seed(0)
    data = Dataset("toy", torch.randn(64, 2, 6, 6, generator=g), torch.randint(3, (64,), generator=g),
                   torch.randn(16, 2, 6, 6, generator=g), torch.randint(3, (16,), generator=g))
    finetune_centroids(net, shared, data, 2, lr=0.05, batch_size=16)
    sl = shared["conv"]
    assert np.array_equal(sl.assignments, idx)
    assert np.all(sl.codebook[0] == 0) and not np.allclose(sl.codebook[1:], before[1:])
    assert torch.equal(net.conv.weight.detach(), sl.weight())


def test_codeword_gradient_is_sum_of_row_gradients():
    net = _net()
    shared = share_weights(net, resolve_layers(net, clusters={"conv": 3}))
    x, y = torch.randn(8, 2, 6, 6), torch.randint(3, (8,))
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    rows = net.conv.weight.grad.reshape(-1, 3)
    cb = torch.from_numpy(shared["conv"].codebook.copy()).requires_grad_()
    w = ungroup(cb[torch.from_numpy(shared["conv"].assignments)].T, net.conv.weight.shape)
    out = nn.functional.cross_entropy(net.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(
        nn.functional.conv2d(x, w, net.conv.bias), 2), 1)), y)
    out.backward()
    summed = torch.zeros(3, 3).index_add_(0, torch.from_numpy(shared["conv"].assignments), rows)
    assert torch.allclose(cb.grad, summed, atol=1e-6)


def test_warm_start_from_hard_regularizer():
    from dkm.regularizers import warm_start

    net = _net()
    specs = resolve_layers(net, clusters={"conv": 4}, sparsity=0.25)
    hard = HardRegularizer(net, specs, lam=LAM)
    inits = warm_start(hard)
    assert inits["conv"].shape == (3, 3)  # K-1 centres besides the fixed zero
    shared = share_weights(net, specs, inits=inits)["conv"]
    assert shared.k == 4 and np.all(shared.codebook[0] == 0)
    assert warm_start(SpectralRegularizer(net, specs, lam=LAM)) == {}


class _Layers(nn.Module):
    """Layers of several sizes (no forward needed): small conv, a large linear (row-blocked products, N % 4 == 0),
    a large linear with N % 4 != 0 (plain products) and a small linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)              # N = 54 samples of 3
        self.big = nn.Linear(1024, 64)              # N = 16384 samples of 4
        self.odd = nn.Linear(4 * 4097, 1)           # N = 4097 samples of 4
        self.small = nn.Linear(12, 10)              # N = 30 samples of 4


def _reference(reg, net, specs, lam):
    """lam/2 sum_layers [sum_zero ||w_i||^2 + Tr(Wr'Wr) - Tr(F'Wr'WrF)] by plain float64 autograd, F from the
    regularizer's state (spectral: its singular vectors; hard: the normalized indicator of its labels)."""
    total, weights = 0.0, []
    for spec in specs:
        w = get_module_weight(net, spec.name).detach().double().requires_grad_()
        weights.append(w)
        W = group(w, spec.mode, spec.linear_vector_size)
        st = reg.state[spec.name]
        if st["zero"] is not None:
            total = total + (W[:, st["zero"]] ** 2).sum()
            W = W[:, st["rest"]]
        if isinstance(reg, SpectralRegularizer):
            F = st["F"].double()
        else:
            lab, k = st["labels"], st["k"]
            counts = torch.bincount(lab, minlength=k).double()
            F = torch.zeros(W.shape[1], k, dtype=torch.float64)
            F[torch.arange(W.shape[1]), lab] = 1 / counts[lab].sqrt()
        WF = W @ F  # Tr(F'W'WF) = ||WF||^2, without the N x N product W'W
        total = total + torch.trace(W @ W.T) - torch.trace(WF.T @ WF)
    loss = lam / 2 * total
    return float(loss.detach()), torch.autograd.grad(loss, weights)


def get_module_weight(net, name):
    return net.get_submodule(name).weight


try:
    import numba  # noqa: F401
    BACKENDS = ["torch", "numba", "auto"]
except ImportError:  # the compiled kernels are optional
    BACKENDS = ["torch", "auto"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["spectral", "hard"])
@pytest.mark.parametrize("sparsity", [None, {"conv": 0.25, "big": 0.3, "odd": 0.1}])
def test_fused_loss_and_gradient_match_autograd_reference(kind, sparsity, backend):
    torch.manual_seed(0)
    net = _Layers()
    specs = resolve_layers(net, clusters={"conv": 4, "big": 16, "odd": 8, "small": 3}, sparsity=sparsity,
                           linear_vector_size=4)
    cls = SpectralRegularizer if kind == "spectral" else HardRegularizer
    reg = cls(net, specs, lam=LAM, backend=backend)
    kernels = {name: st["kernel"] is not None for name, st in reg.state.items()}
    if backend == "torch" or "numba" not in BACKENDS:
        assert not any(kernels.values())
    elif backend == "numba":
        assert all(kernels.values())
    else:  # auto: the large layers, and a small layer of the same kernel shape (hard: s = 4; spectral: r = 3
        # for "small" with K = 3, so not the shape of the large layers' r = s = 4)
        assert kernels == {"conv": False, "big": True, "odd": True, "small": kind == "hard"}
    if kind == "spectral":  # K >= s everywhere: make F stale so the term is not trivially zero
        with torch.no_grad():
            for p in (net.conv.weight, net.big.weight, net.odd.weight, net.small.weight):
                p.add_(0.05 * torch.randn_like(p))
    if kind == "spectral":  # both the row-blocked and the plain products are exercised
        assert (reg.state["big"]["m"], reg.state["odd"]["m"], reg.state["conv"]["m"]) == (4, 1, 1)
    expect, expect_grads = _reference(reg, net, specs, LAM)
    net.zero_grad(set_to_none=True)
    loss = reg.loss(net)
    loss.backward()
    assert loss.item() == pytest.approx(expect, rel=1e-4)
    assert expect > 1e-4
    for spec, g in zip(specs, expect_grads):
        got = get_module_weight(net, spec.name).grad
        assert got.shape == g.shape
        assert torch.allclose(got.double(), g, rtol=1e-4, atol=1e-7), spec.name
        if sparsity is not None and spec.name in sparsity:  # zero columns: gradient lam * w_i
            W = group(get_module_weight(net, spec.name).detach(), spec.mode, spec.linear_vector_size)
            Gz = group(got, spec.mode, spec.linear_vector_size)[:, reg.state[spec.name]["zero"]]
            assert torch.allclose(Gz, LAM * W[:, reg.state[spec.name]["zero"]], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["spectral", "hard"])
def test_fused_gradient_accumulates_scales_and_survives_retain_graph(kind, backend):
    torch.manual_seed(1)
    net = _Layers()
    specs = resolve_layers(net, clusters={"conv": 4, "big": 16, "odd": 8, "small": 3}, sparsity={"big": 0.2},
                           linear_vector_size=4)
    reg = (SpectralRegularizer if kind == "spectral" else HardRegularizer)(net, specs, lam=LAM, backend=backend)
    with torch.no_grad():
        net.big.weight.add_(0.05 * torch.randn_like(net.big.weight))
    net.zero_grad(set_to_none=True)
    reg.loss(net).backward()
    g1 = net.big.weight.grad.clone()
    # another gradient source on the same weight adds; an incoming gradient of 3 scales
    net.zero_grad(set_to_none=True)
    (3 * reg.loss(net) + (net.big.weight ** 2).sum()).backward()
    assert torch.allclose(net.big.weight.grad, 3 * g1 + 2 * net.big.weight.detach(), rtol=1e-5, atol=1e-7)
    # a retained graph can be backpropagated twice (the second pass recomputes)
    net.zero_grad(set_to_none=True)
    loss = reg.loss(net)
    loss.backward(retain_graph=True)
    loss.backward()
    assert torch.allclose(net.big.weight.grad, 2 * g1, rtol=1e-5, atol=1e-7)
    # lam = 0: zero term and gradient
    reg.lam = 0.0
    net.zero_grad(set_to_none=True)
    loss = reg.loss(net)
    loss.backward()
    assert loss.item() == 0.0 and float(net.big.weight.grad.abs().max()) == 0.0


@pytest.mark.parametrize("kind", ["spectral", "hard"])
def test_backends_agree_and_odd_weights_take_the_torch_path(kind):
    """Kernel and torch paths give the same loss and gradients; a non-contiguous or float64 weight falls back to
    the torch products (the kernels read float32 memory as rows) with the same result."""
    if "numba" not in BACKENDS:
        pytest.skip("numba not installed")
    cls = SpectralRegularizer if kind == "spectral" else HardRegularizer
    results = []
    for backend in ("torch", "numba"):
        torch.manual_seed(2)
        net = _Layers()
        specs = resolve_layers(net, clusters={"conv": 4, "big": 16, "odd": 8, "small": 3}, sparsity={"odd": 0.2},
                               linear_vector_size=4)
        reg = cls(net, specs, lam=LAM, backend=backend)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.05 * torch.randn_like(p))
        net.zero_grad(set_to_none=True)
        loss = reg.loss(net)
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in (net.conv.weight, net.big.weight, net.odd.weight)]))
    (l0, g0), (l1, g1) = results
    assert l1 == pytest.approx(l0, rel=1e-5)
    for a, b in zip(g0, g1):  # float32 rounding apart: the model gradient is added to lam R in both
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
    # the same regularizer on a transposed copy of the big weight (same values, not contiguous) and in float64
    w = net.big.weight.detach()
    st = reg.state["big"]
    assert st["kernel"] is not None
    r_kernel, ss = reg._residual(w, st, LAM)
    r_strided, ss2 = reg._residual(w.T.contiguous().T, st, LAM)
    assert ss is not None and ss2 is None
    assert torch.allclose(r_kernel, r_strided, rtol=1e-4, atol=1e-6 * float(r_kernel.abs().max()))
    assert float((r_kernel.double() ** 2).sum()) == pytest.approx(ss, rel=1e-5)


def test_backend_errors(monkeypatch):
    from dkm import _compiled
    from dkm.errors import DKMError

    net = _Layers()  # "big" and "odd" would use kernels with numba (see the fused test above)
    specs = resolve_layers(net, clusters={"conv": 4, "big": 16, "odd": 8, "small": 3}, linear_vector_size=4)
    with pytest.raises(DKMError, match="backend must be one of .*'cuda'"):
        SpectralRegularizer(net, specs, backend="cuda")
    monkeypatch.setitem(_compiled._modules, "_reg_kernels", None)  # as if numba were missing
    with pytest.raises(DKMError, match="'numba' needs numba"):
        HardRegularizer(net, specs, backend="numba")
    reg = HardRegularizer(net, specs, backend="auto")  # auto falls back to torch
    assert all(st["kernel"] is None for st in reg.state.values())
    net.zero_grad(set_to_none=True)
    reg.loss(net).backward()  # and the torch path runs
    assert net.big.weight.grad is not None

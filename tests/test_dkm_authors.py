"""The Deep k-Means authors' conventions: their compression-ratio arithmetic, their sparsity rule, their WRN-16-4,
one definition of index bits, and the guards on K."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import dkm
from dkm.bitcodes import index_bits
from dkm.cli import main
from dkm.errors import DKMError
from dkm.layers import resolve_layers
from dkm.ratio import han_ratio, layer_bits, ratios
from dkm.share import SharedLayer, share_layer, share_weights
from energysim import zoo

# The authors' per-layer lists for WRN-16-4 (../shared/DESIGN.md section 7), 16 conv layers in order.
K45 = [144, 90, 80, 50, 30, 30, 100, 50, 10, 50, 50, 30, 7, 12, 7, 7]
P45 = [0, 0.3, 0.4, 0.5, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5, 0.5, 0.62, 0.9, 0.5, 0.75, 0.9]
K47 = K45[:11] + [7, 6, 12, 7, 7]
LISTS = {45: (K45, P45, 43.6), 47: (K47, P45[:11] + [0.6] + P45[12:], 45.5),
         50: (K47, P45[:11] + [0.87] + P45[12:], 48.2)}


def _authors_formula(model: nn.Module, ks: list[int]) -> float:
    """The authors' arithmetic, written again from their description alone (not from dkm.ratio): dense = every
    conv and linear weight and bias at 32 bits; a conv layer costs K*s*32 + N*H, with H the entropy of its
    distinct rows after sharing; biases and linear layers at 32 bits."""
    dense = comp = 0.0
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(ks)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            dense += 32 * (m.weight.numel() + m.bias.numel())
            comp += 32 * m.bias.numel()
    for m, k in zip(convs, ks):
        w = m.weight.detach().numpy()
        rows = w.reshape(-1, w.shape[-1])
        _, counts = np.unique(rows, axis=0, return_counts=True)
        p = counts / counts.sum()
        comp += k * w.shape[-1] * 32 + len(rows) * float(-(p * np.log2(p)).sum())
    for m in model.modules():
        if isinstance(m, nn.Linear):
            comp += 32 * m.weight.numel()
    return dense / comp


def test_wrn16_4_is_the_authors_definition():
    model = zoo.build("wrn16_4")
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 16 and all(m.bias is not None for _, m in convs)
    blk = model.block2[0]
    assert blk.conv1.stride == (1, 1) and blk.conv2.stride == (2, 2) and blk.shortcut.stride == (2, 2)
    assert isinstance(blk.dropout, nn.Dropout) and blk.dropout.p == 0.3
    # (its MAC count, 505,858,560, is checked with the other zoo models in tests/test_trace.py)
    # the shortcut reads the raw block input: zeroing the BN-ReLU branch's first conv leaves shortcut(x) + bias
    with torch.no_grad():
        for p in (blk.conv1.weight, blk.conv1.bias, blk.conv2.weight):
            p.zero_()
    blk.eval()
    x = torch.randn(2, 64, 8, 8)
    expect = blk.shortcut(x) + blk.conv2.bias[:, None, None]
    assert torch.allclose(blk(x), expect, atol=1e-6)


def test_dkm_ratio_reproduces_the_authors_wrn_numbers(tmp_path, capsys):
    """Must-show: their K and p lists, seeded default-initialised weights, k-means, their arithmetic: CR 45 through
    the command line (and the independent formula on the saved shared weights), CR 47 and 50 through the same
    library calls (their first 11 layers are CR 45's, so those are shared once)."""
    ks, ps, expect = LISTS[45]
    art = tmp_path / "wrn45.dkm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the first layer's K = N = 144 is a no-op, as in their list
        assert main(["ratio", "wrn16_4", "--clusters", ",".join(map(str, ks)), "--sparsity", ",".join(map(str, ps)),
                     "--sparsity-mode", "mean", "--seed", "0", "--json", "--save", str(art)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["compression_ratio_authors"] == pytest.approx(expect, rel=0.015)
    assert res["compression_ratio_bytes"] == pytest.approx(res["dense_bytes"] / art.stat().st_size)
    model = dkm.load(art).model  # the same shared weights, through the independent formula
    assert res["compression_ratio_authors"] == pytest.approx(_authors_formula(model, ks), rel=1e-3)

    torch.manual_seed(0)
    model = zoo.build("wrn16_4")
    weights = [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.Conv2d)]
    common = {}
    for cr in (47, 50):
        ks, ps, expect = LISTS[cr]
        specs = resolve_layers(model, clusters=ks, sparsity=ps, sparsity_mode="mean")
        shared = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, spec in enumerate(specs):  # as share_weights: layer i seeded seed + i
                key = (i, spec.k, spec.sparsity)
                shared[spec.name] = common[key] if key in common else share_layer(weights[i], spec, i)
                common[key] = shared[spec.name]
        with torch.no_grad():
            for spec in specs:
                model.get_submodule(spec.name).weight.copy_(shared[spec.name].weight())
        assert ratios(model, shared)["authors"] == pytest.approx(expect, rel=0.015), cr


def test_authors_ratio_hand_computed():
    # conv (2, 1, 1, 3): N = 2 rows of s = 3, both rows equal after sharing (K = 1): H = 0
    # linear 3 -> 1 with bias: dense and compressed at 32 bits; batch norm is not counted at all
    net = nn.Sequential(nn.Conv2d(1, 2, (1, 3)), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2, 1))
    sl = SharedLayer("0", (2, 1, 1, 3), np.ones((1, 3), np.float32), np.array([0, 0]))
    dense = 32 * (6 + 2 + 2 + 1)
    comp = 32 * 2 + (1 * 3 * 32 + 2 * 0.0) + 32 * 3
    assert ratios(net, {"0": sl})["authors"] == pytest.approx(dense / comp)
    # two distinct rows used 1:3 -> H = 0.811 bits per row
    sl = SharedLayer("c", (4, 1, 1, 2), np.array([[0, 1], [1, 0]], np.float32), np.array([0, 1, 1, 1]))
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert layer_bits(sl, "authors") == pytest.approx(2 * 2 * 32 + 4 * h)
    # two equal codewords are one distinct row for the authors (their entropy is over rows), two for ours
    twin = SharedLayer("c", (4, 1, 1, 2), np.array([[1, 1], [1, 1]], np.float32), np.array([0, 1, 1, 1]))
    assert twin.distinct_entropy_bits == 0.0 and twin.entropy_bits == pytest.approx(h)


def test_one_definition_of_index_bits():
    for k in (1, 2, 3, 4, 5, 16, 17, 144, 256, 257):
        bits = 0 if k == 1 else math.ceil(math.log2(k))
        assert index_bits(k) == bits
        sl = SharedLayer("l", (k, 1, 1, 1), np.zeros((k, 1), np.float32), np.arange(k))
        assert sl.index_bits == bits and dkm.codebook_records({"l": sl})[0].index_bits == bits
        assert layer_bits(sl, "fixed") == k * bits + k * 32
    # Han's formula uses the same whole-bit index: n = 1000 weights, k = 5 -> 3 bits each
    assert han_ratio(1000, 5) == pytest.approx(32000 / (1000 * 3 + 5 * 32))


def _conv(weight: np.ndarray) -> nn.Conv2d:
    m = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    return m


def test_authors_sparsity_rule_by_hand():
    # six rows of s = 2 (one output channel, one input channel, r = 6): mean row (9.5, 9.667)
    rows = np.array([[5, 5], [6, 5], [5, 7], [0, 0], [20, 20], [21, 21]], np.float64)
    conv = _conv(rows.reshape(1, 1, 6, 2))
    # distances to the mean row: 6.48, 5.83, 5.23, 13.4, 14.7, 16.1 -> int(0.5 * 6) = 3 nearest: rows 2, 1, 0;
    # their centre is their own mean (5.333, 5.667), not the layer mean; 2-means (K - 1) on rows 3, 4, 5
    spec = resolve_layers(nn.Sequential(conv), clusters=[3], sparsity=0.5, sparsity_mode="mean")[0]
    sl = share_layer(conv.weight, spec)
    assert not sl.sparse and sl.k == 3
    assert np.allclose(sl.codebook[0], [16 / 3, 17 / 3])
    assert list(sl.assignments[:3]) == [0, 0, 0]
    rest = {tuple(np.round(sl.codebook[a], 4)) for a in sl.assignments[3:]}
    assert rest == {(0.0, 0.0), (20.5, 20.5)} and sl.assignments[4] == sl.assignments[5] != sl.assignments[3]
    # our zero rule on the same rows: the 3 smallest norms (rows 3, 0, 1) go to a codeword fixed at zero
    spec0 = resolve_layers(nn.Sequential(conv), clusters=[3], sparsity=0.5, sparsity_mode="zero")[0]
    sz = share_layer(conv.weight, spec0)
    assert sz.sparse and np.all(sz.codebook[0] == 0) and list(np.nonzero(sz.assignments == 0)[0]) == [0, 1, 3]


def test_authors_sparsity_rule_on_1x1_layers_keeps_k_means_for_the_rest():
    # scalars: mean 0.71875; the int(0.25 * 8) = 2 nearest are 1.0 and 0.3 (centre 0.65); the 6 others get
    # K = 3 means (not K - 1): -3.1, 0.125, 5.2 -> K + 1 = 4 values in all
    w = np.array([1.0, 0.3, -3.0, -3.2, 0.1, 0.15, 5.0, 5.4]).reshape(8, 1, 1, 1)
    conv = _conv(w)
    spec = resolve_layers(nn.Sequential(conv), clusters=[3], sparsity=0.25, sparsity_mode="mean")[0]
    sl = share_layer(conv.weight, spec)
    assert sl.codebook.shape == (4, 1)
    assert sorted(np.round(sl.codebook[:, 0], 4)) == [-3.1, 0.125, 0.65, 5.2]
    out = np.round(sl.codebook[sl.assignments, 0], 4)
    assert list(out) == [0.65, 0.65, -3.1, -3.1, 0.125, 0.125, 5.2, 5.2]


def test_sparsity_mean_mode_in_the_regularizers():
    from dkm.regularizers import HardRegularizer, SpectralRegularizer
    from dkm.share import mean_rows

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3))
    spec = resolve_layers(net, clusters=[4], sparsity=0.25, sparsity_mode="mean")
    X = net[0].weight.detach().reshape(-1, 3).double()
    mask = mean_rows(X.float(), 0.25)
    assert int(mask.sum()) == int(0.25 * 72)
    hard = HardRegularizer(net, spec, lam=1.0)
    lab = hard.state["0"]["labels"]
    assert torch.equal(lab == 0, mask) and int(lab.max()) == 3  # the group + K - 1 clusters
    means = torch.stack([X[lab == j].mean(0) for j in range(4)])
    assert hard.loss(net).item() == pytest.approx(0.5 * float(((X - means[lab]) ** 2).sum()), rel=1e-4)
    spec_reg = SpectralRegularizer(net, spec, lam=1.0)
    F = spec_reg.state["0"]["F"].double()
    assert torch.allclose(F.T @ F, torch.eye(F.shape[1], dtype=torch.float64), atol=1e-5)
    # the group's rows see their own mean: their residual is x_i - mean(group)
    R = X - F @ (F.T @ X)
    assert torch.allclose(R[mask], X[mask] - X[mask].mean(0), atol=1e-5)


def test_k_at_least_two_unless_asked():
    net = zoo.build("digits_cnn")
    specs = resolve_layers(net, cluster_rate=0.02)  # conv1 has 48 rows: ceil(0.96) would be 1
    assert [s.k for s in specs] == [2, 31, 123]
    assert resolve_layers(net, clusters=[1, 4, 4])[0].k == 1  # explicit K = 1 is allowed
    assert [s.k for s in resolve_layers(net, bits=3)] == [8, 8, 8]
    with pytest.raises(DKMError, match="only one of clusters"):
        resolve_layers(net, clusters=[2, 2, 2], bits=2)


def test_each_regularizer_has_its_own_default_lam():
    from dkm.regularizers import DEFAULT_LAM, make

    net = zoo.build("digits_cnn")
    specs = resolve_layers(net, clusters=[4, 8, 8])
    assert make("spectral", net, specs).lam == DEFAULT_LAM["spectral"] == 1e-4
    assert make("hard", net, specs).lam == DEFAULT_LAM["hard"] == 0.05
    assert make("hard", net, specs, lam=0.2).lam == 0.2
    assert dkm.CompressConfig(regularizer="hard").lam_used == 0.05


def test_lookup_tables_per_output_channel_group():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 6, 3))
    specs = resolve_layers(net, clusters=[2], lut_group=3)  # two LUTs of 2 codewords, 3 output channels each
    assert specs[0].luts == 2
    shared = share_weights(net, specs)["0"]
    assert shared.luts == 2 and shared.k == 2 and shared.codebook.shape == (4, 3) and shared.index_bits == 1
    n = shared.n // 2
    assert set(shared.assignments[:n]) <= {0, 1} and set(shared.assignments[n:]) <= {2, 3}
    assert torch.equal(net[0].weight.detach(), shared.weight())
    # stored as within-LUT indices, rebuilt exactly
    sd = {"0.weight": net[0].weight.detach(), "0.bias": net[0].bias.detach()}
    assert ratios(sd, {"0": shared})["layers_han"] == pytest.approx(36 * 3 * 32 / (36 * 1 + 4 * 3 * 32))
    with pytest.raises(DKMError, match="does not divide"):
        resolve_layers(net, clusters=[2], lut_group=4)

"""Workload graph: tracing of every zoo model, MAC/size formulas, and clear errors on bad input."""

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from torch import nn

from energysim import EnergySimError, Layer, trace, trace_model, zoo
from energysim.cli import main as cli_main

PUBLISHED_MACS = {  # batch 1, conv + linear
    "vgg16": 15470264320,
    "resnet18": 1814073344,
    "resnet50": 4089184256,
    "lenet5": 2293000,
    "wrn16_4": 505858560,
}


@pytest.mark.parametrize("name,macs", sorted(PUBLISHED_MACS.items()))
def test_published_mac_counts(name, macs):
    assert trace_model(name).macs == macs


def test_alexnet_conv_layers_match_eyeriss():
    convs = [l for l in trace_model("alexnet") if l.kind in ("conv", "grouped")]
    assert [l.macs for l in convs] == [105415200, 223948800, 149520384, 112140288, 74760192]
    assert [(l.P, l.Q) for l in convs] == [(55, 55), (27, 27), (13, 13), (13, 13), (13, 13)]
    assert [l.groups for l in convs] == [1, 2, 1, 2, 2]


def test_batch_scales_macs():
    assert trace_model("alexnet", batch=4).macs == 4 * trace_model("alexnet").macs


# Hand-computed shapes for every zoo model: (layer name, (M, C, P, Q, R, S)).
HAND_SHAPES = {
    "lenet5": [("conv1", (20, 1, 24, 24, 5, 5)), ("conv2", (50, 20, 8, 8, 5, 5)), ("fc1", (500, 800, 1, 1, 1, 1))],
    "digits_cnn": [("conv1", (16, 1, 8, 8, 3, 3)), ("conv3", (64, 32, 4, 4, 3, 3)), ("fc", (10, 256, 1, 1, 1, 1))],
    "alexnet": [("features.0", (96, 3, 55, 55, 11, 11)), ("classifier.1", (4096, 9216, 1, 1, 1, 1))],
    "vgg16": [("features.0", (64, 3, 224, 224, 3, 3)), ("features.28", (512, 512, 14, 14, 3, 3)),
              ("classifier.0", (4096, 25088, 1, 1, 1, 1))],
    "googlenet": [("conv1.0", (64, 3, 112, 112, 7, 7)), ("inception3a.branch3.1.0", (32, 16, 28, 28, 5, 5)),
                  ("inception5b.branch1.0", (384, 832, 7, 7, 1, 1)), ("fc", (1000, 1024, 1, 1, 1, 1))],
    "resnet18": [("conv1", (64, 3, 112, 112, 7, 7)), ("layer4.0.downsample.0", (512, 256, 7, 7, 1, 1))],
    "resnet50": [("layer2.0.conv2", (128, 128, 28, 28, 3, 3)), ("layer4.2.conv3", (2048, 512, 7, 7, 1, 1))],
    "wrn16_4": [("conv1", (16, 3, 32, 32, 3, 3)), ("block2.0.conv1", (128, 64, 32, 32, 3, 3)),
                ("block2.0.conv2", (128, 128, 16, 16, 3, 3)), ("block3.0.shortcut", (256, 128, 8, 8, 1, 1))],
    "mobilenet_v2": [("features.0.0", (32, 3, 112, 112, 3, 3)), ("features.2.conv.1.0", (96, 96, 56, 56, 3, 3)),
                     ("features.18.0", (1280, 320, 7, 7, 1, 1))],
    # transformers: linear layers have the tokens in N; products of activations are G groups of (P x C) @ (C x M)
    "digits_vit": [("patch", (32, 1, 4, 4, 2, 2)), ("layers.0.attention.query", (32, 32, 1, 1, 1, 1)),
                   ("matmul", (4 * 16, 4 * 8, 16, 1, 1, 1)), ("matmul_1", (4 * 8, 4 * 16, 16, 1, 1, 1))],
    "vit_b16": [("patch", (768, 3, 14, 14, 16, 16)), ("blocks.0.attn.in_proj", (3 * 768, 768, 1, 1, 1, 1)),
                ("blocks.0.attn.qk", (12 * 197, 12 * 64, 197, 1, 1, 1)), ("head", (1000, 768, 1, 1, 1, 1))],
    "bert_base": [("layers.0.attention.query", (768, 768, 1, 1, 1, 1)),
                  ("matmul", (12 * 128, 12 * 64, 128, 1, 1, 1)), ("layers.11.mlp.0", (3072, 768, 1, 1, 1, 1))],
    "gpt2": [("h.0.attn.c_attn", (3 * 768, 768, 1, 1, 1, 1)),
             ("scaled_dot_product_attention.qk", (12 * 256, 12 * 64, 256, 1, 1, 1)), ("linear", (50257, 768, 1, 1, 1, 1))],
}


@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_model_traces_to_hand_computed_shapes(name):
    net = trace_model(name)
    for lname, (m, c, p, q, r, s) in HAND_SHAPES[name]:
        l = net[lname]
        assert (l.M, l.C, l.P, l.Q, l.R, l.S) == (m, c, p, q, r, s), lname
    # the graph is connected from the first layer to the last; MAC layers have weights unless they multiply
    # two activations
    assert all(l.weight_count > 0 for l in net if l.has_macs and l.kind != "matmul")
    assert all(l.weight_count == 0 for l in net if l.kind == "matmul" and l.weight_role == "activation")
    assert net.graph.number_of_edges() >= len(net) - 1


def test_layer_counts_per_model():
    counts = {n: sum(1 for l in trace_model(n) if l.has_macs) for n in zoo.names()}
    assert counts["resnet50"] == 54 and counts["resnet18"] == 21 and counts["vgg16"] == 16
    assert counts["wrn16_4"] == 17 and counts["googlenet"] == 58 and counts["mobilenet_v2"] == 53
    depthwise = [l for l in trace_model("mobilenet_v2") if l.kind == "depthwise"]
    assert len(depthwise) == 17 and all(l.groups == l.C == l.M for l in depthwise)


def test_batchnorm_folded_or_counted():
    folded = trace_model("resnet18")
    assert not any(l.kind == "norm" for l in folded)
    assert any("BatchNorm2d:bn1" in l.fused for l in folded)
    unfolded = trace_model("resnet18", fold_bn=False)
    assert sum(l.kind == "norm" for l in unfolded) == 20
    # pre-activation BN cannot be folded where its input has another user: after every add (5 block inputs), on
    # the stem conv (the authors' first block feeds the raw stem output to its shortcut too), and the final BN
    wrn = trace_model("wrn16_4")
    assert sum(l.kind == "norm" for l in wrn) == 7 and "BatchNorm2d:block1.0.bn1" not in wrn["conv1"].fused


def test_edges_carry_tensor_shapes_and_fanin():
    net = trace_model("resnet18")
    add = net["add"]
    preds = list(net.graph.predecessors("add"))
    assert len(preds) == 2 and add.input_count == 2 * 64 * 56 * 56
    assert net.graph.edges["layer1.0.conv2", "add"]["shape"] == (1, 64, 56, 56)
    cat = next(l for l in trace_model("googlenet") if l.kind == "concat")
    assert cat.M == 256 and cat.output_count == 256 * 28 * 28


conv_cfg = st.fixed_dictionaries(
    {
        "n": st.integers(1, 3), "g": st.sampled_from([1, 2, 3]), "cpg": st.integers(1, 4), "mpg": st.integers(1, 4),
        "h": st.integers(5, 14), "w": st.integers(5, 14), "r": st.integers(1, 4), "s": st.integers(1, 4),
        "sh": st.integers(1, 3), "sw": st.integers(1, 3), "dh": st.integers(1, 2), "dw": st.integers(1, 2),
        "ph": st.integers(0, 2), "pw": st.integers(0, 2), "bias": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None)
@given(conv_cfg)
def test_mac_and_size_formulas_match_conv2d(cfg):
    c, m = cfg["g"] * cfg["cpg"], cfg["g"] * cfg["mpg"]
    if (cfg["h"] + 2 * cfg["ph"] - cfg["dh"] * (cfg["r"] - 1) - 1) < 0:
        return
    if (cfg["w"] + 2 * cfg["pw"] - cfg["dw"] * (cfg["s"] - 1) - 1) < 0:
        return
    conv = nn.Conv2d(c, m, (cfg["r"], cfg["s"]), (cfg["sh"], cfg["sw"]), (cfg["ph"], cfg["pw"]),
                     (cfg["dh"], cfg["dw"]), groups=cfg["g"], bias=cfg["bias"])
    x = torch.zeros(cfg["n"], c, cfg["h"], cfg["w"])
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)
    (layer,) = [l for l in trace(nn.Sequential(conv), tuple(x.shape))]
    # direct count: every output element is a dot product over (C/groups) * R * S taps
    assert layer.macs == y.numel() * cfg["cpg"] * cfg["r"] * cfg["s"]
    assert layer.output_count == y.numel()
    assert layer.input_count == x.numel()
    assert layer.weight_count == conv.weight.numel()
    assert layer.bias_count == (m if cfg["bias"] else 0)
    assert (layer.P, layer.Q) == tuple(y.shape[2:])


def test_functional_ops_are_understood():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(8, 3, 3, 3))
            self.fc = nn.Parameter(torch.zeros(10, 8 * 4 * 4))

        def forward(self, x):
            y = F.relu(F.conv2d(x, self.w, None, 1, 1))
            y = F.max_pool2d(y, 2) + F.avg_pool2d(y, 2)
            y = F.adaptive_avg_pool2d(y, 4)
            return F.linear(torch.flatten(F.dropout(y), 1), self.fc)

    net = trace(Functional(), (2, 3, 8, 8))
    kinds = [l.kind for l in net]
    assert kinds == ["conv", "activation", "pool", "pool", "add", "pool", "linear"]
    assert net.macs == 2 * 8 * 3 * 9 * 64 + 2 * 10 * 128


class _Untraceable(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow defeats symbolic tracing
            return x
        return -x


class _UnknownOp(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, 1)


def test_untraceable_module_gives_clear_error():
    with pytest.raises(EnergySimError, match="cannot be traced with torch.fx"):
        trace(_Untraceable(), (1, 3, 4, 4))


def test_unknown_op_strict_and_lenient():
    with pytest.raises(EnergySimError, match=r"node 'cumsum'.*unsupported op function cumsum"):
        trace(_UnknownOp(), (1, 3, 4, 4))
    net = trace(_UnknownOp(), (1, 3, 4, 4), strict=False)
    assert [l.kind for l in net] == ["unsupported"] and net.layers[0].output_count == 48


def test_wrong_input_shape():
    with pytest.raises(EnergySimError, match=r"input shape \(1, 3, 28, 28\) does not fit LeNet5"):
        trace(zoo.build("lenet5"), (1, 3, 28, 28))
    with pytest.raises(EnergySimError, match="input_shape must be positive"):
        trace(zoo.build("lenet5"), (1, 0, 28))


def test_layer_validation():
    with pytest.raises(ValueError, match="groups=3 must divide C=4"):
        Layer(name="x", kind="grouped", op="Conv2d", C=4, M=6, groups=3)


def test_cli_layers_json_and_errors(capsys):
    assert cli_main(["layers", "lenet5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "energysim.layers" and doc["macs"] == 2293000
    rows = doc["layers"]
    assert [r["name"] for r in rows][:2] == ["conv1", "pool1"]
    assert {"name", "kind", "macs"} <= set(rows[0]) and sum(r["macs"] for r in rows) == 2293000
    assert cli_main(["layers", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model 'nosuch'" in err
    assert cli_main(["models"]) == 0
    assert "wrn16_4" in capsys.readouterr().out

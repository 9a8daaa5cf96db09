"""Einsum workloads: products of two tensors (matmul, bmm, einsum, attention), the transformer zoo, nothing dropped.

Traced MACs are checked three ways: a closed form written here, ``torch.utils.flop_counter.FlopCounterMode``
(flops / 2, run on the meta device: on the CPU its count misses the fused kernels
``aten._scaled_dot_product_flash_attention_for_cpu`` (SDPA counts 0 there) and the native multi-head
attention fast path of ``nn.MultiheadAttention`` in eval mode), and the counting
engine against the brute-force loop walk on random two-activation einsums."""

from __future__ import annotations

import json
import math
import random
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.fx import symbolic_trace
from torch.utils.flop_counter import FlopCounterMode

import energysim
from energysim import EnergySimError, Layer, trace, trace_model, zoo
from energysim.cli import main as cli_main
from energysim.model.problem import Problem
from energysim.workload.einsum import einsum_shape, matmul_shape

from test_counts_bruteforce import SETTINGS, check, random_case


def _flops_macs(module, x) -> int:
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad():
        module(x)
    return fc.get_total_flops() // 2


def _layer_macs(d: int, L: int, mlp: int) -> int:
    """One transformer layer of width d on L tokens: QKV 3Ld², Q·Kᵀ and A·V 2L²d, output Ld², MLP 2Ld·mlp."""
    return 3 * L * d * d + 2 * L * L * d + L * d * d + 2 * L * d * mlp


CLOSED_FORM = {
    "vit_b16": 12 * _layer_macs(768, 197, 3072) + 196 * 768 * 768 + 768 * 1000,
    "bert_base": 12 * _layer_macs(768, 128, 3072),
    "gpt2": 12 * _layer_macs(768, 256, 3072) + 256 * 768 * 50257,
}


@pytest.mark.parametrize("name", list(CLOSED_FORM))
def test_transformer_zoo_macs(name):
    net = trace_model(name)
    assert net.macs == CLOSED_FORM[name]
    with torch.device("meta"):
        module = zoo.build(name).eval()
        x = zoo.example_input(name, 1, device="meta")
    assert _flops_macs(module, x) == net.macs
    assert {"vit_b16": 17_563_828_224, "bert_base": 11_173_625_856}.get(name, net.macs) == net.macs


def test_example_input_for_every_zoo_model():
    for name in zoo.names():
        x = zoo.example_input(name, 2)
        assert x.shape == (2, *zoo.input_shape(name))
        assert (x.dtype == torch.long) == zoo.MODELS[name].token_ids


# ---------------------------------------------------------------------------------------------------------
# shapes of products
# ---------------------------------------------------------------------------------------------------------
def test_matmul_and_einsum_shapes():
    s = matmul_shape((2, 3, 5, 7), (2, 3, 7, 4))
    assert (s.G, s.P, s.M, s.C) == (6, 5, 4, 7)
    s = matmul_shape((8, 5, 7), (7, 4))  # the right operand is broadcast over the batch: rows
    assert (s.G, s.P, s.M, s.C) == (1, 40, 4, 7)
    s = matmul_shape((7,), (3, 7, 4))
    assert (s.G, s.P, s.M, s.C) == (1, 1, 12, 7)
    s = einsum_shape("bhqd,bhkd->bhqk", (2, 3, 5, 8), (2, 3, 6, 8))
    assert (s.G, s.P, s.M, s.C) == (6, 5, 6, 8)
    with pytest.raises(EnergySimError, match="summed inside one operand"):
        einsum_shape("ij,jk->k", (2, 3), (3, 4))
    with pytest.raises(EnergySimError, match="inner dimensions differ"):
        matmul_shape((2, 3), (4, 5))


# ---------------------------------------------------------------------------------------------------------
# a small model with every way of writing attention, a residual block and a depthwise conv
# ---------------------------------------------------------------------------------------------------------
class Mixed(nn.Module):
    def __init__(self, c=8, heads=2):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.attn = nn.MultiheadAttention(c, heads, batch_first=True)
        self.fc = nn.Linear(c, c)

    def forward(self, x):
        y = self.dw(F.relu(self.conv(x))) + x
        t = y.flatten(2).transpose(1, 2)
        a, _ = self.attn(t, t, t)
        q = self.fc(a)
        s = torch.matmul(q, a.transpose(-2, -1)) / math.sqrt(q.size(-1))
        z = torch.einsum("bij,bjk->bik", s.softmax(-1), a)
        h1, h2 = z.chunk(2, dim=-1)
        z = F.scaled_dot_product_attention(h1.unsqueeze(1), h2.unsqueeze(1), h2.unsqueeze(1), is_causal=True)
        return (z * 2).mean((1, 2))


def test_every_call_node_is_accounted_for():
    m = Mixed().eval()
    net = trace(m, (2, 8, 4, 4))
    calls = [n.name for n in symbolic_trace(m).graph.nodes if n.op.startswith("call_")]
    missing = [n for n in calls if n not in net.sources]
    assert not missing, missing
    layers = {l.name for l in net}
    for node, where in net.sources.items():  # every record names a real layer, or why there is none
        if where in layers or where in ("metadata", "input") or where.startswith("constant"):
            continue
        named = [w.strip(" ,()") for w in where.replace("fused into", "").replace("output", "").split()]
        assert any(w in layers for w in named) or "network input" in where, (node, where)


def test_mixed_model_layers_and_macs():
    m = Mixed().eval()
    net = trace(m, (2, 8, 4, 4))
    kinds = [l.kind for l in net]
    assert kinds.count("matmul") == 6  # attention's Q·Kᵀ and A·V, matmul, einsum, SDPA's two
    B, c, L = 2, 8, 16
    closed = (B * L * c * 9 * c + B * L * c * 9  # conv, depthwise
              + B * L * 3 * c * c + 2 * B * L * L * c + B * L * c * c  # MHA: in_proj, Q·Kᵀ + A·V, out_proj
              + B * L * c * c  # fc
              + B * L * L * c + B * L * L * c  # matmul, einsum
              + 2 * B * L * L * (c // 2))  # SDPA on half the channels
    assert net.macs == closed
    with torch.device("meta"):
        mm = Mixed().eval()
    assert _flops_macs(mm, torch.empty(2, 8, 4, 4, device="meta")) == closed
    assert {l.name: l.weight_role for l in net if l.has_macs}["attn.qk"] == "activation"
    assert net["mul"].kind == "elementwise" and net["mean"].kind == "reduce"


def test_cli_layers_lists_attention(capsys):
    # the CLI takes zoo names: the BERT layer's projections and both attention matmuls are listed
    assert cli_main(["layers", "bert_base", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["layers"] if isinstance(rows, dict) else rows
    names = [r["name"] for r in rows if r["kind"] in ("linear", "matmul")]
    assert names[:6] == ["layers.0.attention.query", "layers.0.attention.key", "layers.0.attention.value",
                         "matmul", "matmul_1", "layers.0.attention.out"]
    assert sum(r["macs"] for r in rows) == CLOSED_FORM["bert_base"]


def test_multihead_attention_not_self_attention():
    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, kdim=8, vdim=8)

        def forward(self, q, kv=None):
            return self.attn(q, q[:3, :, :8], q[:3, :, :8])[0]

    net = trace(Cross(), (5, 2, 16))  # sequence-first (L, N, E); keys of length 3 and width 8
    by = {l.name: l for l in net}
    assert by["attn.q_proj"].macs == 5 * 2 * 16 * 16 and by["attn.k_proj"].macs == 3 * 2 * 16 * 8
    assert by["attn.qk"].macs == 2 * 4 * 5 * 3 * 4 and by["attn.av"].macs == 2 * 4 * 5 * 4 * 3


def test_unknown_op_strict_names_lenient_and_warns():
    class U(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    with pytest.raises(EnergySimError, match="--lenient"):
        trace(U(), (1, 4))
    with pytest.warns(UserWarning, match="unsupported op"):
        net = trace(U(), (1, 4), strict=False)
    assert [l.kind for l in net] == ["unsupported"]


# ---------------------------------------------------------------------------------------------------------
# random mixes: traced MACs = closed form = FlopCounterMode / 2
# ---------------------------------------------------------------------------------------------------------
class RandomMix(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        d = spec["d"]
        self.convs = nn.ModuleList(nn.Conv2d(d, d, k, padding=k // 2, groups=g) for k, g in spec["convs"])
        self.attns = nn.ModuleList(nn.MultiheadAttention(d, h, batch_first=True) for h in spec["heads"])
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(d, w), nn.GELU(), nn.Linear(w, d)) for w in spec["mlps"])

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x)) + x
        t = x.flatten(2).transpose(1, 2)
        for attn in self.attns:
            t = t + attn(t, t, t, need_weights=False)[0]
        for mlp in self.mlps:
            t = t + mlp(t)
        if self.spec["bmm"]:
            t = torch.bmm(t, t.transpose(1, 2)).softmax(-1) @ t
        return t


def _closed(spec, B, H, W):
    d, L = spec["d"], H * W
    macs = sum(B * L * d * k * k * d // g for k, g in spec["convs"])
    macs += sum(B * (3 * L * d * d + 2 * L * L * d + L * d * d) for _ in spec["heads"])
    macs += sum(B * 2 * L * d * w for w in spec["mlps"])
    macs += 2 * B * L * L * d if spec["bmm"] else 0
    return macs


@settings(max_examples=12, **SETTINGS)
@given(st.data())
def test_random_mixes_closed_form_and_flop_counter(data):
    d = data.draw(st.sampled_from([4, 6, 8]))
    spec = {
        "d": d,
        "convs": data.draw(st.lists(st.tuples(st.sampled_from([1, 3]), st.sampled_from([1, d])), max_size=2)),
        "heads": data.draw(st.lists(st.sampled_from([1, 2]), max_size=2)),
        "mlps": data.draw(st.lists(st.sampled_from([4, 12]), max_size=2)),
        "bmm": data.draw(st.booleans()),
    }
    B, H, W = data.draw(st.sampled_from([1, 2])), data.draw(st.sampled_from([2, 3])), 3
    with torch.device("meta"):
        m = RandomMix(spec).eval()
    net = trace(m, (B, d, H, W))
    assert net.macs == _closed(spec, B, H, W)
    assert _flops_macs(m, torch.empty(B, d, H, W, device="meta")) == net.macs


# ---------------------------------------------------------------------------------------------------------
# the engine on products of two activations, against the brute-force walk
# ---------------------------------------------------------------------------------------------------------
def matmul_problem(rng: random.Random) -> Problem:
    g = rng.choice([1, 2, 3])
    layer = Layer(name="qk", kind="matmul", op="matmul", weight_role="activation", groups=g,
                  M=g * rng.choice([1, 2, 3, 4]), C=g * rng.choice([1, 2, 3]), P=rng.choice([1, 2, 4, 5]))
    return Problem.from_layer(layer)


@settings(max_examples=300, **SETTINGS)
@given(st.randoms(use_true_random=False))
def test_two_activation_einsum_counts_equal_brute_force(rng):
    problem = matmul_problem(rng)
    assert problem.data_space("Weights").role == "activation"
    check(problem, *random_case(rng, problem))


# ---------------------------------------------------------------------------------------------------------
# downstream: estimates, sparsity per operand, codebook costs on projections, ONNX
# ---------------------------------------------------------------------------------------------------------
def _small_vit():
    from energysim.workload.transformers import ViT

    return ViT(num_classes=10, image=32, patch=8, d=64, depth=2, heads=4, hidden=128).eval()


@pytest.mark.parametrize("dataflow", ["rs", "ws", "os", "nlr", "search", "ws-search", "rs-template", "ws-template",
                                      "os-template"])
def test_estimate_maps_every_mac_layer(dataflow):
    net = trace(_small_vit(), (1, 3, 32, 32))
    rep = energysim.estimate(net, "eyeriss-65nm", dataflow)
    mac = [l for l in rep.layers if l.macs]
    assert sum(l.macs for l in mac) == net.macs and all(l.energy > 0 for l in mac)
    spaces = set().union(*(l.energy_by_dataspace for l in rep.layers))
    assert "Inputs2" in spaces  # K and V of attention are activations, not weights


def test_vit_b16_rs_template_estimate_runs():
    rep = energysim.estimate(trace_model("vit_b16"), "eyeriss-65nm", "rs-template")
    assert rep.total_macs == 17_563_828_224 and rep.total_energy > 0


def test_attention_score_density():
    net = trace(_small_vit(), (1, 3, 32, 32))
    from energysim.costs.sparsity import SparseOptions

    name = "blocks.0.attn.av"
    dense = energysim.estimate(net, "eyeriss-65nm", "rs").layers
    sparse = energysim.estimate(net, "eyeriss-65nm", "rs", sparsity=SparseOptions(
        densities={name: {"inputs": 0.25}}, gating=("Inputs",))).layers
    d, s = (next(l for l in ls if l.name == name) for ls in (dense, sparse))
    assert s.compute_energy == pytest.approx(0.25 * d.compute_energy)
    with pytest.raises(EnergySimError, match="unknown data space"):
        SparseOptions(densities={name: {"keys": 0.5}})
    SparseOptions(densities={name: {"inputs2": 0.5}})  # the second operand of a product of activations


def test_codebook_costs_on_transformer_projections():
    import numpy as np

    from energysim.analysis.compressed import estimate_compressed
    from energysim.costs.codebook import CodebookRecord, CodebookTerms

    net = trace(_small_vit(), (1, 3, 32, 32))
    rng = np.random.default_rng(0)
    recs = []
    for l in net:
        if l.kind == "linear" and l.has_weights:  # projections and MLP: vectors of 4 along the input dimension
            rows = l.weight_count // 4
            recs.append(CodebookRecord(l.name, 16, 4, rows, 4, 3.9, rng.integers(0, 16, rows)))
    rep, hook = estimate_compressed(net, "eyeriss-65nm", recs, terms=CodebookTerms(compute_reuse=False))
    dense = energysim.estimate(net, "eyeriss-65nm", "rs")
    by = {l.name: l for l in dense.layers}
    for l in rep.layers:
        if l.name in hook.records:
            assert "WeightIndices" in l.energy_by_dataspace and l.energy != by[l.name].energy
    with pytest.raises(EnergySimError, match="does not cover"):
        estimate_compressed(net, "eyeriss-65nm", [CodebookRecord("blocks.0.attn.qk", 4, 4, 4, 2, 2.0, None)])


def test_bert_block_onnx_import_equals_trace(tmp_path):
    pytest.importorskip("onnx")
    from energysim.workload.transformers import Bert

    torch.manual_seed(0)
    m = Bert(depth=1).eval()
    path = tmp_path / "bert1.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (zoo.example_input("bert_base", 1),), str(path), dynamo=False, input_names=["ids"])
    onnx_net = energysim.from_onnx(str(path))
    traced = trace(m, (1, 128), token_ids=True)
    assert onnx_net.macs == traced.macs == _layer_macs(768, 128, 3072)
    assert sum(l.kind == "matmul" for l in onnx_net) == 2

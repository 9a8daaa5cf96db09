"""The Deep k-Means paper's energy metric: hand-computed values on tiny layers, and what sharing changes."""

import math

import numpy as np
import pytest
from torch import nn

from energysim import EnergySimError, trace, trace_model
from energysim.costs.codebook import CodebookRecord
from energysim.analysis.paper_metric import COLUMNS, PaperMetric, dot_product_cost_fa, paper_metric, paper_metric_total


Rec = CodebookRecord


def tiny():
    # C=2, M=3, 4x4 input, 3x3 kernel, stride 1, no padding: P = Q = 2
    return trace(nn.Sequential(nn.Conv2d(2, 3, 3, bias=False)), (1, 2, 4, 4))


def test_dot_product_cost():
    assert dot_product_cost_fa(1, 8, 8) == 64  # one multiplier, no adder
    assert dot_product_cost_fa(2, 8, 8) == 128 + 1 * (8 + 8 + 1 - 1)
    assert dot_product_cost_fa(18, 8, 8) == 18 * 64 + 17 * (8 + 8 + 5 - 1) == 1492
    assert dot_product_cost_fa(18, 4, 8) == 18 * 32 + 17 * (8 + 4 + 5 - 1) == 848
    with pytest.raises(EnergySimError, match="D must be >= 1"):
        dot_product_cost_fa(0, 8, 8)


def test_tiny_conv_by_hand():
    df = paper_metric(tiny())
    assert list(df.columns) == COLUMNS and list(df.index) == ["0"]
    r = df.loc["0"]
    # D = C*R*S = 18; MACs = M*C*P*Q*R*S = 216; 12 dot products of 1492 full adders
    assert (r["D"], r["macs"], r["dot_products"]) == (18, 216, 12)
    assert r["comp_cost_fa"] == 12 * 1492 == 17904
    # |W| = 54 weights each used N*P*Q = 4 times; |X| = 32 inputs used 216/32 = 6.75 times on average
    assert (r["Nw"], r["Nx"]) == (4, 6.75)
    assert r["weight_bits"] == 54 * 8
    assert r["weight_rep_bits"] == 4 * 54 * 8 == 1728
    assert r["act_rep_bits"] == 6.75 * 32 * 8 == 1728
    assert r["total"] == 17904 + 6 * (1728 + 1728) == 38640
    assert r["per_mac"] == pytest.approx(38640 / 216)
    assert not r["shared"]


def test_bit_widths_and_rep_weight():
    r = paper_metric(tiny(), bw=4, bx=8, rep_weight=1.0).loc["0"]
    assert r["comp_cost_fa"] == 12 * 848
    assert r["weight_rep_bits"] == 216 * 4 and r["act_rep_bits"] == 216 * 8
    assert r["total"] == 12 * 848 + 216 * 12
    per_layer = paper_metric(tiny(), bw={"0": 4}, bx=8, rep_weight=1.0)
    assert per_layer.loc["0", "total"] == r["total"]
    r0 = paper_metric(tiny(), rep_weight=0).loc["0"]
    assert r0["total"] == r0["comp_cost_fa"]


def test_strided_padded_conv_uses_exact_reuse():
    net = trace(nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1)), (2, 3, 7, 7))
    r = paper_metric(net).loc["0"]
    layer = net["0"]
    assert r["Nw"] == 2 * 4 * 4 == layer.macs / layer.weight_count  # N*P*Q
    assert r["Nx"] * layer.input_count == layer.macs  # each input used MACs/|X| times, halo and stride included
    # M*P*Q*R*S/(H*W) = 4*16*9/49, not M*R*S/stride^2 = 9: the padding taps are charged to the real inputs
    assert r["Nx"] == pytest.approx(4 * 16 * 9 / 49)


def test_sharing_reduces_only_the_weight_term():
    dense = paper_metric(tiny()).loc["0"]
    # row vectors of S = 3 weights: 54 / 3 = 18 rows, 4 codewords, 2-bit indices
    rec = Rec(layer="0", k=4, vector_size=3, rows=18, index_bits=2, entropy_bits=1.5)
    shared = paper_metric(tiny(), records=[rec]).loc["0"]
    assert shared["weight_bits"] == 4 * 3 * 8 + 18 * 2 == 132
    assert shared["weight_rep_bits"] == 4 * 132
    assert shared["comp_cost_fa"] == dense["comp_cost_fa"] and shared["act_rep_bits"] == dense["act_rep_bits"]
    assert shared["total"] == dense["total"] - 6 * (dense["weight_rep_bits"] - 4 * 132)
    assert shared["shared"]
    ent = paper_metric(tiny(), records={"0": rec}, index_coding="entropy").loc["0"]
    assert ent["weight_bits"] == 96 + 18 * 1.5


def test_codebook_record_type_if_present():
    codebook = pytest.importorskip("energysim.costs.codebook.record")
    Rec2 = codebook.CodebookRecord
    try:
        rec = Rec2(layer="0", k=4, vector_size=3, rows=18, index_bits=2, entropy_bits=1.5, assignments=None)
    except TypeError:
        pytest.skip("CodebookRecord has a different constructor than expected")
    assert paper_metric(tiny(), records=[rec]).loc["0", "weight_bits"] == 132


def test_network_total_and_conv_only():
    net = trace_model("alexnet")
    res = paper_metric_total(net, kinds={"conv", "grouped"})
    assert isinstance(res, PaperMetric) and len(res.table) == 5
    assert res.macs == 665784864  # AlexNet CONV1-5 at batch 1
    assert res.per_mac == pytest.approx(res.table["total"].sum() / res.macs)
    # every layer's per-MAC cost: comp per MAC + 6 * (8 + 8) bits
    t = res.table
    comp_per_mac = t["comp_cost_fa"] / t["macs"]
    assert np.allclose(t["per_mac"], comp_per_mac + 6 * 16)
    # the comp cost per MAC is close to Bw*Bx plus the adder tree share
    D = t["D"].to_numpy()
    assert np.allclose(comp_per_mac, 64 + (D - 1) / D * (16 + np.ceil(np.log2(D)) - 1))


def test_bad_inputs():
    net = tiny()
    with pytest.raises(EnergySimError, match=r"layer '0': bw must be a positive integer.*got 0"):
        paper_metric(net, bw=0)
    with pytest.raises(EnergySimError, match="bx mapping has no entry for layer '0'"):
        paper_metric(net, bx={"x": 8})
    with pytest.raises(EnergySimError, match="rep_weight must be a non-negative number"):
        paper_metric(net, rep_weight=-1)
    with pytest.raises(EnergySimError, match="record for layer 'nope'"):
        paper_metric(net, records=[Rec("nope", 4, 3, 18, 2, 1.5)])
    with pytest.raises(EnergySimError, match=r"layer '0'.*does not cover the layer's 54 weights"):
        paper_metric(net, records=[Rec("0", 4, 3, 17, 2, 1.5)])
    with pytest.raises(EnergySimError, match="needs a Network"):
        paper_metric("alexnet")
    assert math.isclose(paper_metric_total(net).per_mac, 38640 / 216)

"""Codebook-aware weight costs (energysim.costs.codebook): each term alone, all off == dense, brute-force reuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from energysim.analysis.compressed import estimate_compressed
from energysim.costs.codebook import TERM_NAMES, CodebookCosts, CodebookRecord, CodebookTerms, distinct_codewords
from energysim.errors import EnergySimError
from energysim.analysis.estimate import estimate
from energysim.arch import HardwareProfile, load_profile
from energysim.workload.trace import trace, trace_model

PROFILE = "eyeriss-65nm"


def _records(net, rate=0.1, seed=0, kinds=("conv", "grouped")):
    rng = np.random.default_rng(seed)
    out = []
    for l in net.mac_layers():
        if l.kind not in kinds:
            continue
        rows = l.weight_count // l.S
        k = max(1, math.ceil(rate * rows))
        a = rng.integers(0, k, rows)
        p = np.bincount(a, minlength=k) / rows
        p = p[p > 0]
        out.append(CodebookRecord(l.name, k, l.S, rows, math.ceil(math.log2(k)) if k > 1 else 0,
                                  float(-(p * np.log2(p)).sum()), a))
    return out


@pytest.fixture(scope="module")
def net():
    return trace_model("digits_cnn")


@pytest.fixture(scope="module")
def dense(net):
    return estimate(net, PROFILE)


def _terms_report(net, recs, terms, profile=PROFILE):
    return estimate_compressed(net, profile, recs, terms=terms)


def test_all_terms_off_is_dense_exactly(net, dense):
    rep, _ = _terms_report(net, _records(net), CodebookTerms.none())
    assert rep.total_energy == dense.total_energy
    for a, b in zip(rep.layers, dense.layers):
        assert a.energy == b.energy
        assert a.compute_energy == b.compute_energy
        assert a.extra == b.extra
        assert a.counts.equals(b.counts)


def test_no_records_is_dense(net, dense):
    rep, _ = estimate_compressed(net, PROFILE, [])
    assert rep.total_energy == dense.total_energy


def test_total_is_sum_of_layers_and_terms(net):
    rep, _ = _terms_report(net, _records(net), CodebookTerms())
    assert rep.total_energy == pytest.approx(sum(l.energy for l in rep.layers), rel=1e-12)
    for l in rep.layers:
        parts = l.counts["energy"].sum() + l.compute_energy + sum(l.extra.values())
        assert l.energy == pytest.approx(parts, rel=1e-12)
    conv = rep.layers[[l.name for l in rep.layers].index("conv2")]
    assert {"codebook_lut", "codebook_load", "reuse_psum_add"} <= set(conv.extra)
    assert "WeightIndices" in set(conv.counts["dataspace"]) and "Weights" not in set(conv.counts["dataspace"])


def test_each_term_moves_energy_the_right_way(net, dense):
    recs = _records(net, rate=0.05)
    by = {}
    for name in TERM_NAMES:
        rep, hook = _terms_report(net, recs, CodebookTerms.only(name))
        by[name] = (rep, hook)
    d = dense.total_energy
    assert by["index_traffic"][0].total_energy < d
    assert by["codebook_load"][0].total_energy > d
    assert by["compute_reuse"][0].total_energy < d  # 3x3 rows: 3 MACs saved cost one psum add
    # LUT: exactly one read per MAC of every shared layer at lut_read_pj
    shared = {r.layer for r in recs}
    macs = sum(l.macs for l in net.mac_layers() if l.name in shared)
    lut = load_profile(PROFILE).codebook.lut_read_pj
    assert by["lut"][0].total_energy == pytest.approx(d + macs * lut, rel=1e-12)
    # reuse lowers compute energy by the MACs saved
    rep, hook = by["compute_reuse"]
    for l, dl in zip(rep.layers, dense.layers):
        saved = hook.details.get(l.name, {}).get("macs_saved", 0)
        assert l.compute_energy == pytest.approx(dl.compute_energy - saved * 1.0)


def test_index_traffic_scales_weight_rows(net, dense):
    recs = _records(net, rate=0.1)
    rep, _ = _terms_report(net, recs, CodebookTerms.only("index_traffic"))
    prof = load_profile(PROFILE)
    for rec in recs:
        a = next(l for l in rep.layers if l.name == rec.layer)
        b = next(l for l in dense.layers if l.name == rec.layer)
        w = b.counts[b.counts["dataspace"] == "Weights"].reset_index(drop=True)
        i = a.counts[a.counts["dataspace"] == "WeightIndices"].reset_index(drop=True)
        assert list(w["level"]) == list(i["level"])
        for (_, x), (_, y) in zip(w.iterrows(), i.iterrows()):
            f = rec.index_bits / (rec.vector_size * prof.level(x["level"]).word_bits)
            for c in ("reads", "fills", "updates", "energy"):
                assert y[c] == pytest.approx(x[c] * f)
        assert a.extra["network"] < b.extra["network"]
    # entropy-coded indices move fewer bits than fixed-length ones
    ent, _ = estimate_compressed(net, PROFILE, recs, terms=CodebookTerms.only("index_traffic"), index_coding="entropy")
    assert ent.total_energy < rep.total_energy


def test_all_distinct_codewords_reuse_nothing(net, dense):
    recs = []
    for l in net.mac_layers():
        if l.kind == "conv":
            rows = l.weight_count // l.S
            recs.append(CodebookRecord(l.name, rows, l.S, rows, math.ceil(math.log2(rows)), math.log2(rows),
                                       np.arange(rows)))
    rep, hook = _terms_report(net, recs, CodebookTerms.only("compute_reuse"))
    assert rep.total_energy == dense.total_energy
    assert all(d["macs_saved"] == 0 for d in hook.details.values())


def _brute_distinct(a, M, C, R, groups):
    a = a.reshape(M, C, R)
    total = 0
    mg = M // groups
    for g in range(groups):
        for c in range(C):
            for r in range(R):
                total += len({int(a[m, c, r]) for m in range(g * mg, (g + 1) * mg)})
    return total


@pytest.mark.parametrize("groups", [1, 2])
def test_compute_reuse_against_brute_force(groups):
    torch.manual_seed(0)
    mod = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=groups))
    net = trace(mod, (2, 4, 5, 5), name="tiny")
    layer = net.mac_layers()[0]
    C, M, R, S = 4 // groups, 6, 3, 3
    rows = M * C * R
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, rows)
    assert distinct_codewords(a, M, groups) == (rows, _brute_distinct(a, M, C, R, groups))
    rec = CodebookRecord(layer.name, 4, S, rows, 2, 2.0, a)
    dense = estimate(net, PROFILE)
    rep, hook = estimate_compressed(net, PROFILE, [rec], terms=CodebookTerms.only("compute_reuse"))
    d = hook.details[layer.name]
    distinct = _brute_distinct(a, M, C, R, groups)
    # every (m, c, r) row contributes N·P·Q·S MACs; a reused row costs N·P·Q psum additions
    assert d["macs_saved"] == (rows - distinct) * 2 * 5 * 5 * S
    assert d["psum_adds"] == (rows - distinct) * 2 * 5 * 5
    l, dl = rep.layers[0], dense.layers[0]
    assert l.compute_energy == pytest.approx(dl.compute_energy * (1 - d["macs_saved"] / layer.macs))
    assert l.extra["reuse_psum_add"] == pytest.approx(d["psum_adds"] * 2.0)  # psum read 1 + update 1


def test_reuse_only_under_row_stationary(net):
    recs = _records(net)
    rep, hook = estimate_compressed(net, PROFILE, recs, "ws", terms=CodebookTerms.only("compute_reuse"))
    assert all("macs_saved" not in d for d in hook.details.values())
    assert "not applied" in next(l for l in rep.layers if l.name == "conv2").note


def test_codebook_load_charges_every_pe(net):
    recs = _records(net, rate=0.1)
    _, hook = _terms_report(net, recs, CodebookTerms.only("codebook_load"))
    for rec in recs:
        d = hook.details[rec.layer]
        assert d["codebook_words"] == rec.k * rec.vector_size
        assert d["lut_fills"] == d["codebook_words"] * d["pes"]
        assert d["load_path"][0] == "DRAM"


def test_profile_without_lut_cost_names_the_field(net):
    recs = _records(net)
    with pytest.raises(EnergySimError, match=r"tpu-like.*codebook\.lut_read_pj"):
        estimate_compressed(net, "tpu-like", recs)
    # with the LUT and load terms off the profile needs no LUT cost
    rep, _ = estimate_compressed(net, "tpu-like", recs, "ws",
                                 terms=CodebookTerms(index_traffic=True, lut=False, codebook_load=False))
    assert rep.total_energy < estimate(net, "tpu-like", "ws").total_energy


def test_bad_records(net):
    rec = _records(net)[0]
    with pytest.raises(EnergySimError, match="not a MAC layer"):
        estimate_compressed(net, PROFILE, [CodebookRecord("nope", 2, 3, 4, 1, 1.0, np.zeros(4, int))])
    bad = CodebookRecord(rec.layer, rec.k, rec.vector_size, rec.rows + 1, rec.index_bits, 1.0, None)
    with pytest.raises(EnergySimError, match="does not cover"):
        estimate_compressed(net, PROFILE, [bad])
    no_a = CodebookRecord(rec.layer, rec.k, rec.vector_size, rec.rows, rec.index_bits, 1.0, None)
    with pytest.raises(EnergySimError, match="no assignments"):
        estimate_compressed(net, PROFILE, [no_a])
    rep, _ = estimate_compressed(net, PROFILE, [no_a], terms=CodebookTerms(compute_reuse=False))
    assert rep.total_energy > 0
    with pytest.raises(EnergySimError, match="unknown codebook term"):
        CodebookTerms.only("lut", "magic")
    with pytest.raises(EnergySimError, match="index_coding"):
        CodebookCosts([], index_coding="huffman")


def test_profile_codebook_section_validated():
    data = load_profile(PROFILE).model_dump(by_alias=True, exclude_none=True)
    data["codebook"] = {"lut_read_pj": -1.0}
    with pytest.raises(EnergySimError, match="codebook.lut_read_pj"):
        HardwareProfile.from_dict(data)
    data["codebook"] = {"lut_read_pj": 0.5, "lut_depth_words": 8}
    p = HardwareProfile.from_dict(data)
    assert p.codebook.lut_write_pj is None and p.codebook.lut_depth_words == 8
    assert load_profile("tpu-like").codebook is None


def test_lut_depth_overflow_is_flagged(net):
    data = load_profile(PROFILE).model_dump(by_alias=True, exclude_none=True)
    data["codebook"] = {"lut_read_pj": 1.0, "lut_depth_words": 4}
    prof = HardwareProfile.from_dict(data)
    rep, hook = estimate_compressed(net, prof, _records(net, rate=0.5))
    assert any(d.get("lut_overflow") for d in hook.details.values())
    assert "exceeds" in next(l for l in rep.layers if l.name == "conv3").note

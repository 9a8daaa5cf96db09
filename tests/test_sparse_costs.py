"""Sparsity, zero gating/skipping, run-length coding and bit widths on top of the dense counts."""

import json
import math

import pytest
import torch

from energysim import EnergySimError, Layer, trace_model
from energysim.cli import main as cli_main
from energysim.model.counts import evaluate
from energysim.mapping.templates import map_problem
from energysim.analysis.estimate import estimate
from energysim.model.problem import Problem
from energysim.arch import HardwareProfile, load_profile
from energysim.costs.sparsity import (
    BitWidths,
    SparseOptions,
    apply,
    effective_profile,
    mac_energy_per_op,
)
from energysim.costs.sparsity import rlc_expected_bits, rlc_words_exact


def _conv(**kw):
    base = dict(name="l", kind="conv", op="Conv2d", N=2, M=16, C=8, P=10, Q=10, R=3, S=3, H=12, W=12)
    base.update(kw)
    return Layer(**base)


def _stats(layer=None, profile="eyeriss-65nm", dataflow="rs"):
    layer = layer or _conv()
    prof = load_profile(profile)
    problem = Problem.from_layer(layer)
    m = map_problem(problem, prof, dataflow)
    return layer, problem, prof, evaluate(problem, prof, m, name=layer.name)


def _row(stats, level, ds):
    return next(r for r in stats.rows if r["level"] == level and r["dataspace"] == ds)


# ---------------------------------------------------------------------------------------------------------
# Dense identity
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["lenet5", "alexnet"])
@pytest.mark.parametrize("profile", ["eyeriss-65nm", "eyeriss-32nm"])
def test_density_one_and_no_coding_is_exactly_dense(model, profile):
    net = trace_model(model)
    dense = estimate(net, profile, "rs")
    ones = {"inputs": 1.0, "outputs": 1.0, "weights": 1.0}
    opts = SparseOptions(default_density=ones, densities={l.name: ones for l in net.mac_layers()},
                         gating=("Inputs",), skipping=("Weights",))
    # widths equal to the profile's own (eyeriss-65nm: 16 bits everywhere) change nothing either
    sparse = estimate(net, profile, "rs", sparsity=opts, bits="w=16,i=16,o=16" if profile == "eyeriss-65nm" else None)
    assert sparse.total_energy == dense.total_energy
    assert sparse.total_cycles == dense.total_cycles
    a, b = dense.table, sparse.table
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        assert (a[col] == b[col]).all(), col


def test_profile_without_sparsity_section_is_unchanged_and_section_is_applied():
    net = trace_model("lenet5")
    prof = load_profile("eyeriss-65nm")
    assert prof.sparsity is None
    d = prof.model_dump(by_alias=True, exclude_none=True)
    d["sparsity"] = {"gating": ["Inputs"], "rlc_levels": ["DRAM"], "default_density": {"Inputs": 0.5, "Outputs": 0.5}}
    sp = HardwareProfile.from_dict(d)
    dense, coded = estimate(net, prof), estimate(net, sp)
    assert coded.total_energy < dense.total_energy
    assert coded.energy_by_level()["compute"] == pytest.approx(0.5 * dense.energy_by_level()["compute"])
    d["sparsity"] = {"gating": ["Psums"]}
    with pytest.raises(EnergySimError, match="gating has unknown data space"):
        HardwareProfile.from_dict(d)


# ---------------------------------------------------------------------------------------------------------
# Gating and skipping
# ---------------------------------------------------------------------------------------------------------
def test_zero_inputs_under_gating_cost_no_mac_energy_and_no_gated_rf_reads():
    layer, problem, prof, dense = _stats()
    s = apply(dense, problem, prof, SparseOptions(densities={"l": {"inputs": 0.0}}, gating=("Inputs",)))
    assert s.mac_energy == 0.0
    assert _row(s, "filter_spad", "Weights")["reads"] == 0  # weights a zero input would have needed
    assert _row(s, "psum_spad", "Outputs")["updates"] == 0
    assert _row(s, "ifmap_spad", "Inputs")["reads"] == _row(dense, "ifmap_spad", "Inputs")["reads"]  # still read
    assert s.cycles == dense.cycles  # gating saves energy, not time
    assert s.energy < dense.energy


def test_gating_scales_with_density_and_skipping_also_saves_cycles():
    layer, problem, prof, dense = _stats()
    gate = apply(dense, problem, prof, SparseOptions(densities={"l": {"inputs": 0.25}}, gating=("Inputs",)))
    skip = apply(dense, problem, prof, SparseOptions(densities={"l": {"inputs": 0.25}}, skipping=("Inputs",)))
    assert gate.mac_energy == pytest.approx(0.25 * dense.mac_energy)
    assert skip.mac_energy == pytest.approx(0.25 * dense.mac_energy)
    assert gate.cycles == dense.cycles
    assert skip.cycles < dense.cycles
    assert math.ceil(dense.extra["compute_cycles"] * 0.25) <= skip.cycles  # bandwidth may bind instead
    # skipping also drops the zero operand's own innermost reads
    assert _row(skip, "ifmap_spad", "Inputs")["reads"] == pytest.approx(0.25 * _row(dense, "ifmap_spad", "Inputs")["reads"])
    assert skip.energy < gate.energy < dense.energy


# ---------------------------------------------------------------------------------------------------------
# Run-length coding
# ---------------------------------------------------------------------------------------------------------
def _relu_tensor(shape, zero_fraction, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g) + 0.1
    x[torch.rand(shape, generator=g) < zero_fraction] = 0.0
    return x


@pytest.mark.parametrize("zero_fraction", [0.0, 0.4, 0.8, 0.99])
def test_rlc_dram_traffic_equals_exact_count_on_a_real_tensor(zero_fraction):
    layer = _conv(R=1, S=1, P=12, Q=12)  # 1x1: the Inputs box is exactly the tensor
    layer, problem, prof, dense = _stats(layer)
    t = _relu_tensor((2, 8, 12, 12), zero_fraction)
    assert problem.tensor_size("Inputs") == t.numel()
    s = apply(dense, problem, prof, SparseOptions(tensors={"l": {"inputs": t}}, rlc_levels=("DRAM",)))
    n = t.numel()
    dr, r = _row(dense, "DRAM", "Inputs"), _row(s, "DRAM", "Inputs")
    passes = dr["reads_total"] / n  # how many times the mapping reads the input map from DRAM
    assert r["reads_total"] * 16 == pytest.approx(passes * rlc_words_exact(t) * 64, rel=1e-12)
    # DRAM energy of the coded input: whole 64-bit blocks
    assert r["energy"] == math.ceil(r["reads"] / 4 - 1e-9) * 800.0
    # the density is taken from the tensor too
    assert s.extra["sparse"]["densities"]["Inputs"] == pytest.approx(float((t != 0).float().mean()))


def test_rlc_expected_size_from_density_and_outputs_final_writes_only():
    layer, problem, prof, dense = _stats()
    opts = SparseOptions(densities={"l": {"inputs": 0.3, "outputs": 0.5}}, rlc_levels=("DRAM",))
    s = apply(dense, problem, prof, opts)
    n_in = problem.tensor_size("Inputs")
    want = rlc_expected_bits(n_in, 0.3) / 16 * (_row(dense, "DRAM", "Inputs")["reads_total"] / n_in)
    assert _row(s, "DRAM", "Inputs")["reads_total"] == pytest.approx(want, rel=1e-12)
    do, so = _row(dense, "DRAM", "Outputs"), _row(s, "DRAM", "Outputs")
    distinct = do["updates"] - do["reads"]
    ratio = rlc_expected_bits(problem.tensor_size("Outputs"), 0.5) / (16 * problem.tensor_size("Outputs"))
    assert so["updates"] == pytest.approx(do["updates"] - distinct + distinct * ratio)
    assert so["reads"] == do["reads"]  # partial-sum re-reads stay dense
    # GLB traffic is not coded unless asked
    assert _row(s, "GLB", "Inputs")["reads"] == _row(dense, "GLB", "Inputs")["reads"]
    with pytest.raises(EnergySimError, match="level 'L3' is not a level"):
        apply(dense, problem, prof, SparseOptions(rlc_levels=("L3",)))


def test_rlc_on_streamed_layers_and_whole_network():
    net = trace_model("alexnet")
    dense = estimate(net, "eyeriss-65nm")
    coded = estimate(net, "eyeriss-65nm", sparsity=SparseOptions(default_density={"inputs": 0.2, "outputs": 0.2},
                                                                 rlc_levels=("DRAM",)))
    pool = next(l for l in net if l.kind == "pool").name
    a = dense.table.set_index("name").loc[pool]
    b = coded.table.set_index("name").loc[pool]
    assert b["reads_DRAM_Inputs"] < 0.5 * a["reads_DRAM_Inputs"]
    assert coded.energy_by_level()["DRAM"] < dense.energy_by_level()["DRAM"]


# ---------------------------------------------------------------------------------------------------------
# Bit widths
# ---------------------------------------------------------------------------------------------------------
def test_bit_widths_scale_capacity_block_and_energy():
    prof = load_profile("eyeriss-65nm")
    e8 = effective_profile(prof, BitWidths(8, 8, 8))
    assert e8.level("GLB").depth == 2 * prof.level("GLB").depth
    assert e8.level("GLB").capacity_split == {"Weights": 8192}
    assert e8.level("ifmap_spad").depth == 24
    assert e8.level("DRAM").read_bandwidth == 8  # values of 8 bits per cycle on the 64-bit bus
    mixed = effective_profile(prof, BitWidths(weights=8, inputs=8, outputs=16))
    assert mixed.level("GLB").depth == prof.level("GLB").depth  # sized for the widest it keeps
    assert mixed.level("psum_spad").depth == 24 and mixed.level("filter_spad").depth == 448
    assert effective_profile(prof, BitWidths()) is prof

    layer, problem, _, dense = _stats()
    s = apply(dense, problem, prof, SparseOptions(bits=BitWidths(weights=8, inputs=4)))
    for ds, b in (("Weights", 8), ("Inputs", 4), ("Outputs", 16)):
        r, d = _row(s, "DRAM", ds), _row(dense, "DRAM", ds)
        per_block = 4 * 16 // b  # values per 64-bit DRAM block
        want = sum(math.ceil(d[k] / per_block) for k in ("reads", "fills", "updates")) * 800.0
        assert r["energy"] == want
        assert r["reads"] == d["reads"]  # counts stay in values; only their price changes
    assert _row(s, "ifmap_spad", "Inputs")["energy"] == pytest.approx(
        _row(dense, "ifmap_spad", "Inputs")["energy"] / 4, rel=1e-3)


def test_mac_energy_scaling_with_operand_widths():
    prof = load_profile("eyeriss-65nm")
    assert mac_energy_per_op(prof, BitWidths(8, 8), "quadratic") == pytest.approx(0.25)
    assert mac_energy_per_op(prof, BitWidths(8, 8), "linear") == pytest.approx(0.5)
    assert mac_energy_per_op(prof, BitWidths(8, 8), "none") == 1.0
    assert mac_energy_per_op(prof, BitWidths(16, 16), "quadratic") == 1.0
    d = prof.model_dump(by_alias=True, exclude_none=True)
    d["mac"]["energy_pj_by_bits"] = {8: 0.3}
    assert mac_energy_per_op(HardwareProfile.from_dict(d), BitWidths(8, 8)) == 0.3
    net = trace_model("lenet5")
    rep = estimate(net, "eyeriss-65nm", bits="w=8,i=8,o=16")
    assert rep.energy_by_level()["compute"] == pytest.approx(0.25 * net.macs)


def test_bitwidth_parsing():
    assert BitWidths.parse("w=8,i=8,o=16") == BitWidths(8, 8, 16)
    assert BitWidths.parse("weights=4, psums=32") == BitWidths(weights=4, outputs=32)
    assert BitWidths.parse({"inputs": 8}) == BitWidths(inputs=8)


# ---------------------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "x"])
def test_density_outside_unit_interval_names_layer_and_value(bad):
    with pytest.raises(EnergySimError, match=r"layer 'features.0'.*density"):
        SparseOptions(densities={"features.0": {"inputs": bad}})
    with pytest.raises(EnergySimError, match="density"):
        SparseOptions(default_density={"inputs": bad})


def test_density_for_unknown_layer():
    with pytest.raises(EnergySimError, match="not in network"):
        estimate(trace_model("lenet5"), "eyeriss-65nm", sparsity=SparseOptions(densities={"nope": 0.5}))


@pytest.mark.parametrize("spec", ["w=0", "i=-4", "o=x", "w8", "z=8"])
def test_bad_bit_widths(spec):
    with pytest.raises(EnergySimError, match="bit width|bit-width key|key=value"):
        BitWidths.parse(spec)
    with pytest.raises(EnergySimError):
        BitWidths(weights=0)


def test_bad_options():
    with pytest.raises(EnergySimError, match="Outputs is not meaningful"):
        SparseOptions(gating=("outputs",))
    with pytest.raises(EnergySimError, match="not Weights"):
        SparseOptions(rlc_dataspaces=("weights",))
    with pytest.raises(EnergySimError, match="mac_scaling"):
        SparseOptions(mac_scaling="cubic")


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------
def test_cli_flags(tmp_path, capsys):
    assert cli_main(["estimate", "lenet5", "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    f = tmp_path / "d.json"
    net = trace_model("lenet5")
    f.write_text(json.dumps({l.name: {"inputs": 0.5, "outputs": 0.5} for l in net.mac_layers()}))
    assert cli_main(["estimate", "lenet5", "--json", "--densities", str(f), "--rlc", "--gating",
                     "--bits", "w=8,i=8,o=16"]) == 0
    sparse = json.loads(capsys.readouterr().out)
    assert sparse["total_energy"] < dense["total_energy"]
    assert sparse["total_cycles"] <= dense["total_cycles"]
    assert cli_main(["estimate", "lenet5", "--json", "--measure-densities", "--gating"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["energy_by_level"]["compute"] < dense["energy_by_level"]["compute"]
    f.write_text(json.dumps({"conv1": 2.0}))
    assert cli_main(["estimate", "lenet5", "--densities", str(f)]) == 2
    assert "density must be in [0, 1], got 2.0" in capsys.readouterr().err
    assert cli_main(["estimate", "lenet5", "--bits", "w=0"]) == 2
    assert "bit width of weights = 0" in capsys.readouterr().err


def test_measured_densities_use_the_stored_post_activation_output():
    from energysim import zoo
    from energysim.costs.sparsity import measure_network_densities

    torch.manual_seed(0)
    net = trace_model("alexnet", batch=2)
    module = zoo.build("alexnet")
    d = measure_network_densities(module, torch.randn(2, *zoo.input_shape("alexnet")), net)
    assert set(d) == {l.name for l in net.mac_layers()}
    # conv -> ReLU in place: the stored output is the ReLU's, about half zeros with random weights
    assert 0.3 < d["features.0"]["outputs"] < 0.7
    # no pooling between CONV3's ReLU and CONV4: CONV3's stored output is CONV4's input
    assert d["features.8"]["outputs"] == pytest.approx(d["features.10"]["inputs"])
    rep = estimate(net, "eyeriss-65nm", sparsity=SparseOptions(densities=d, rlc_levels=("DRAM",), gating=("Inputs",)))
    assert rep.total_energy < estimate(net, "eyeriss-65nm").total_energy

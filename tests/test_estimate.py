"""Dataflow templates, whole-network estimates, reports and figures."""

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from energysim import EnergySimError, Layer, trace_model
from energysim.cli import main as cli_main
from energysim.model.counts import evaluate
from energysim.mapping.templates import DATAFLOWS, map_problem
from energysim.analysis.estimate import estimate
from energysim.analysis.plots import plot_side_by_side, write_figures
from energysim.model.problem import Problem
from energysim.arch import list_profiles, load_profile

PROFILES = ["eyeriss-65nm", "eyeriss-32nm", "simple-45nm", "tpu-like"]


def _conv(**kw):
    base = dict(name="l", kind="conv", op="Conv2d", N=1, M=8, C=4, P=6, Q=6, R=3, S=3, H=8, W=8)
    base.update(kw)
    return Layer(**base)


SHAPES = {
    "conv": _conv(),
    "strided": _conv(P=4, Q=4, stride_h=2, stride_w=2, H=9, W=9),
    "grouped": _conv(kind="grouped", C=8, M=8, groups=2),
    "depthwise": _conv(kind="depthwise", C=16, M=16, groups=16),
    "linear": Layer(name="fc", kind="linear", op="Linear", N=3, M=10, C=120),
    "1x1": _conv(R=1, S=1, P=8, Q=8, M=32, C=64),
}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_templates_give_valid_mappings(profile, dataflow, shape):
    prof = load_profile(profile)
    problem = Problem.from_layer(SHAPES[shape])
    m = map_problem(problem, prof, dataflow)
    m.validate_for(problem, prof)  # raises if invalid
    stats = evaluate(problem, prof, m)
    assert stats.macs == SHAPES[shape].macs
    assert 1 <= m.utilized_pes() <= prof.mac.instances


def test_row_stationary_unrolls_filter_rows_and_output_rows():
    layer = trace_model("alexnet")["features.8"]  # CONV3: 13x13 outputs, 3x3 filters
    prof = load_profile("eyeriss-65nm")
    m = map_problem(Problem.from_layer(layer), prof, "rs")
    spatial = {lm.level: (lm.spatial_x, lm.spatial_y) for lm in m.levels if lm.spatial_x or lm.spatial_y}
    assert spatial["GLB"][0]["P"] == 13  # output rows across the 14 columns
    assert spatial["PE_columns"][1]["R"] == 3  # filter rows down the 12 rows
    problem = Problem.from_layer(layer)
    ext = m.tile_extents(problem, prof)[prof.level_index("filter_spad")]
    assert ext["S"] == 3  # a whole filter row stays in the PE's filter scratchpad


def test_unknown_dataflow():
    with pytest.raises(EnergySimError, match="unknown dataflow 'zz'"):
        map_problem(Problem.from_layer(SHAPES["conv"]), load_profile("eyeriss-65nm"), "zz")


@pytest.mark.parametrize("model", ["lenet5", "digits_cnn", "resnet18"])
def test_layer_energy_is_sum_of_parts_and_total_is_sum_of_layers(model):
    rep = estimate(trace_model(model), "eyeriss-65nm", "rs")
    for l in rep.layers:
        parts = l.counts["energy"].sum() + l.compute_energy + sum(l.extra.values())
        assert l.energy == pytest.approx(parts, rel=1e-12)
        assert sum(l.energy_by_level.values()) == pytest.approx(l.counts["energy"].sum(), rel=1e-12)
        assert sum(l.energy_by_dataspace.values()) == pytest.approx(l.counts["energy"].sum(), rel=1e-12)
    assert rep.total_energy == pytest.approx(math.fsum(l.energy for l in rep.layers), rel=1e-12)
    assert sum(rep.energy_by_level().values()) == pytest.approx(rep.total_energy, rel=1e-9)
    assert rep.total_macs == trace_model(model).macs
    # every layer is listed, MACs or not
    assert [l.name for l in rep.layers] == [l.name for l in trace_model(model)]


def test_non_mac_layers_charged_for_data_movement():
    rep = estimate(trace_model("lenet5"), "eyeriss-65nm", "rs")
    pool = next(l for l in rep.layers if l.kind == "pool")
    dram = pool.counts[pool.counts.level == "DRAM"].set_index("dataspace")
    assert dram.loc["Inputs", "reads"] == 20 * 24 * 24 and dram.loc["Outputs", "updates"] == 20 * 12 * 12
    assert pool.energy > 0 and pool.macs == 0
    relu = next(l for l in rep.layers if l.kind == "activation")
    assert relu.energy == 0 and "applied to the outputs of fc1" in relu.note


def test_mac_energy_and_dram_floor():
    """Compute energy is MACs x E_mac, and DRAM must at least read every weight and input once."""
    prof = load_profile("eyeriss-65nm")
    rep = estimate(trace_model("alexnet"), prof, "rs", mac_layers_only=True)
    for l, layer in zip(rep.layers, trace_model("alexnet").mac_layers()):
        assert l.compute_energy == layer.macs * prof.mac.energy_pj
        dram = l.counts[l.counts.level == "DRAM"].set_index("dataspace")
        assert dram.loc["Weights", "reads"] >= layer.weight_count
        assert dram.loc["Outputs", "updates"] >= layer.output_count


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40), c=st.integers(1, 40), p=st.integers(1, 20), r=st.integers(1, 5),
       stride=st.integers(1, 2), df=st.sampled_from(DATAFLOWS), prof=st.sampled_from(PROFILES))
def test_random_layers_always_map(m, c, p, r, stride, df, prof):
    h = (p - 1) * stride + r
    layer = _conv(M=m, C=c, P=p, Q=p, R=r, S=r, H=h, W=h, stride_h=stride, stride_w=stride)
    profile = load_profile(prof)
    problem = Problem.from_layer(layer)
    mapping = map_problem(problem, profile, df)
    stats = evaluate(problem, profile, mapping)
    assert stats.macs == layer.macs and stats.energy > 0


def test_report_exports_and_figures(tmp_path):
    rep = estimate(trace_model("lenet5"), "simple-45nm", "ws")
    rep.to_csv(tmp_path / "r.csv")
    d = json.loads(rep.to_json(tmp_path / "r.json"))
    assert d["total_energy"] == pytest.approx(rep.total_energy)
    assert {"name", "macs", "energy", "energy_by_level"} <= set(d["layers"][0])
    figs = write_figures(rep, tmp_path)
    ax = plot_side_by_side(rep, rep, tmp_path / "side.png")  # a plot function returns its Axes
    assert ax.get_title().startswith("lenet5")
    figs.append(tmp_path / "side.png")
    assert all(f.exists() and f.stat().st_size > 10_000 for f in figs)


def test_cli_estimate_json_and_out(tmp_path, capsys):
    assert cli_main(["estimate", "lenet5", "--profile", "eyeriss-65nm", "--dataflow", "os", "--json",
                     "--out", str(tmp_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["total_macs"] == 2293000
    assert d["total_energy"] == pytest.approx(sum(l["energy"] for l in d["layers"]))
    assert all({"name", "macs", "energy", "energy_by_level"} <= set(l) for l in d["layers"])
    assert len(list(tmp_path.glob("*.png"))) == 3 and len(list(tmp_path.glob("*.csv"))) == 1


def test_cli_estimate_bad_inputs(tmp_path, capsys):
    assert cli_main(["estimate", "lenet5", "--dataflow", "zz"]) == 2
    assert "--dataflow: invalid choice: 'zz'" in capsys.readouterr().err
    assert cli_main(["estimate", "lenet5", "--profile", "nosuch"]) == 2
    assert "unknown hardware profile 'nosuch'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlevels:\n  - {name: DRAM, class: dram, read_pj: 1}\nmac: {energy_pj: 1}\n")
    assert cli_main(["estimate", "lenet5", "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "levels[0] (name 'DRAM')" in err and "write_pj" in err


def test_profiles_listed(capsys):
    assert {"eyeriss-65nm", "eyeriss-32nm", "simple-45nm", "tpu-like"} <= set(list_profiles())
    assert cli_main(["profiles"]) == 0
    assert "eyeriss-65nm" in capsys.readouterr().out

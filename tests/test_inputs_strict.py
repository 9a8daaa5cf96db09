"""Bad inputs that an audit found accepted silently or failing late (profiles, JSON and YAML files, command-line
values, the tracing API): each is now one line naming the field and value, exit 2, before any work."""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import pytest
import yaml

import energysim
from badinput import expect_error
from energysim.analysis.sweep import make_grid
from energysim.arch import load_profile
from energysim.arch.profile import HardwareProfile
from energysim.cli import main
from energysim.errors import EnergySimError

BASE = {
    "name": "tiny", "word_bits": 16, "clock_hz": 1.0e9,
    "levels": [
        {"name": "DRAM", "class": "dram", "block_size": 4, "read_pj": 1280.0, "write_pj": 1280.0},
        {"name": "GLB", "class": "sram", "depth": 65536, "block_size": 4, "read_pj": 10.0, "write_pj": 10.0},
        {"name": "RF", "class": "regfile", "depth": 64, "instances": 16, "mesh_x": 4, "mesh_y": 4,
         "read_pj": 0.25, "write_pj": 0.25},
    ],
    "mac": {"energy_pj": 1.5, "instances": 16, "mesh_x": 4, "mesh_y": 4},
}


def _profile(tmp_path, mutate=None, text=None):
    p = tmp_path / "p.yaml"
    if text is None:
        d = copy.deepcopy(BASE)
        if mutate:
            mutate(d)
        text = yaml.safe_dump(d)
    p.write_text(text)
    return p


def _estimate(tmp_path, capsys, profile, *needles, extra=()):
    out = tmp_path / "out"
    return expect_error(main, ["estimate", "lenet5", "--profile", profile, "--dataflow", "rs-template",
                               "--out", out, *extra], capsys, *needles, out=out, before=None)


@pytest.mark.parametrize("bits, needles", [
    ({8: -1000.0}, ["mac.energy_pj_by_bits[8] = -1000.0", "greater than or equal to 0"]),
    ({0: 1.0}, ["energy_pj_by_bits[0]", "greater than or equal to 1"]),
    ({-8: 1.0}, ["energy_pj_by_bits[-8]"]),
])
def test_mac_energy_by_bits_is_checked(tmp_path, capsys, bits, needles):
    p = _profile(tmp_path, lambda d: d["mac"].update(energy_pj_by_bits=bits))
    _estimate(tmp_path, capsys, p, *needles)


@pytest.mark.parametrize("text, needles", [
    ("name: x\nname: y\n", ["the key 'name' is given twice (first on line 1)", "line 2"]),
    ("name: x\nlevels:\n - {name: DRAM, class: dram, read_pj: 1, write_pj: 1, read_pj: 5}\n",
     ["the key 'read_pj' is given twice"]),
    ("name: x\nlevels: [\n", ["not valid YAML", "line 3"]),
])
def test_profile_yaml_duplicate_keys_and_errors_in_one_line(tmp_path, capsys, text, needles):
    _estimate(tmp_path, capsys, _profile(tmp_path, text=text), *needles)


def test_profile_yaml_merge_keys_may_be_overridden(tmp_path):
    # ``<<: *anchor`` then an explicit key is YAML's way of overriding, not a duplicate
    text = """name: merged
levels:
  - {name: DRAM, class: dram, read_pj: 100, write_pj: 100}
  - &glb {name: GLB, class: sram, depth: 4096, read_pj: 2.0, write_pj: 2.0}
  - {<<: *glb, name: RF, class: regfile, depth: 64}
mac: {energy_pj: 1}
"""
    prof = HardwareProfile.from_yaml(_profile(tmp_path, text=text))
    assert [(lv.name, lv.cls, lv.depth, lv.read_pj) for lv in prof.levels] == [
        ("DRAM", "dram", None, 100), ("GLB", "sram", 4096, 2.0), ("RF", "regfile", 64, 2.0)]


def test_profile_yaml_alias_bomb_is_rejected_quickly(tmp_path, capsys):
    # a few hundred bytes that nest aliases 9 deep: the message quotes a bounded part of each value
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = yaml.safe_dump(BASE) + "\n".join(rows) + "\n"
    t = time.perf_counter()
    _estimate(tmp_path, capsys, _profile(tmp_path, text=text), "a: unknown field", "b: unknown field")
    assert time.perf_counter() - t < 10


@pytest.mark.parametrize("name", ["a/b", "a\\b", "x\ny", "x\x00y", "tab\there"])
def test_profile_name_must_suit_a_file_name(tmp_path, capsys, name):
    p = tmp_path / "p.yaml"
    p.write_text(json.dumps(dict(BASE, name=name)))  # JSON is YAML; it can hold any character
    _estimate(tmp_path, capsys, p, "name = ", "path separator or a control character")


@pytest.mark.parametrize("level, needles", [
    ({"name": "cols", "class": "dummy", "instances": 4, "mesh_x": 4, "depth": 64}, ["depth", "dummy level"]),
    ({"name": "cols", "class": "dummy", "instances": 4, "mesh_x": 4, "read_pj": 2.0}, ["read_pj", "dummy level"]),
    ({"name": "cols", "class": "dummy", "instances": 4, "mesh_x": 4, "leak_pj": 0.1}, ["leak_pj", "dummy level"]),
])
def test_dummy_level_takes_no_size_or_cost(tmp_path, capsys, level, needles):
    def mutate(d):
        d["levels"].insert(2, level)
    _estimate(tmp_path, capsys, _profile(tmp_path, mutate), *needles)


@pytest.mark.parametrize("where, split, needles", [
    (0, {"Weights": 100}, ["capacity_split", "without a depth"]),
    (1, {"Weights": 100}, ["capacity_split", "does not keep"]),
])
def test_capacity_split_needs_a_depth_and_a_kept_data_space(tmp_path, capsys, where, split, needles):
    def mutate(d):
        d["levels"][where]["capacity_split"] = split
        if where == 1:
            d["levels"][1]["keeps"] = ["Inputs", "Outputs"]
    _estimate(tmp_path, capsys, _profile(tmp_path, mutate), *needles)


def test_json_option_files_reject_a_key_given_twice(tmp_path, capsys):
    f = tmp_path / "d.json"
    f.write_text('{"conv1": 0.5, "conv1": 0.7}')
    _estimate(tmp_path, capsys, "eyeriss-65nm", "--densities", "['conv1'] given twice",
              extra=["--densities", f, "--gating"])


@pytest.mark.parametrize("extra, needles", [
    (["--out", ""], ["--out", "empty path"]),
    (["--rlc="], ["--rlc ''", "empty level name"]),
    (["--rlc=DRAM,"], ["--rlc 'DRAM,'", "empty level name"]),
    (["--rlc=PE_columns"], ["'PE_columns' is a dummy level"]),
    (["--default-density", "0.5"], ["--default-density", "change(s) nothing", "--gating"]),
    (["--bits", "w=8,w=16"], ["w=8,w=16", "w is given twice"]),
    (["--bits", "w=8,weights=16"], ["weights width is given twice"]),
    (["--bits", ","], ["expected key=value pairs"]),
    (["--measure-densities", "--seed", "99999999999999999999"], ["--seed", "must be <="]),
    (["--measure-densities", "--gating", "--batch", "65"], ["--measure-densities", "at most 64"]),
])
def test_estimate_options(tmp_path, capsys, extra, needles):
    argv = ["estimate", "lenet5", "--profile", "eyeriss-65nm", "--dataflow", "rs-template", *extra]
    expect_error(main, argv, capsys, *needles)


def test_densities_are_numbers_not_booleans_or_text(tmp_path, capsys):
    for value, shown in (("true", "True"), ('"0.5"', "'0.5'")):
        f = tmp_path / "d.json"
        f.write_text('{"conv1": %s}' % value)
        _estimate(tmp_path, capsys, "eyeriss-65nm", "conv1", shown, extra=["--densities", f, "--gating"])


@pytest.mark.parametrize("axis, values", [("pe", "8x8,8x8"), ("glb-kb", "32,32.0"), ("rf-words", "64,64"),
                                          ("bits", "8,8")])
def test_sweep_grid_lists_each_value_once(axis, values):
    kw = {"pe": None, "glb_kb": None, "rf_words": None, "bits": None}
    kw[axis.replace("-", "_")] = values
    with pytest.raises(EnergySimError, match=f"--{axis} lists .* more than once"):
        make_grid(**kw)


def test_a_folder_named_like_a_shipped_profile_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eyeriss-32nm").mkdir()
    assert load_profile("eyeriss-32nm").name == "eyeriss-32nm"
    with pytest.raises(EnergySimError, match="empty hardware profile name"):
        load_profile("")


@pytest.mark.parametrize("batch", [True, 2.0, "2", None, 1.5, float("nan"), 10**30, 0, -1])
def test_trace_model_batch_is_a_bounded_integer(batch):
    with pytest.raises(EnergySimError, match="batch must be an integer in 1..2,147,483,647"):
        energysim.trace_model("alexnet", batch=batch)


def test_trace_model_takes_numpy_integers():
    two = energysim.trace_model("alexnet", batch=np.int64(2))
    assert two.macs == 2 * energysim.trace_model("alexnet").macs


def test_an_onnx_file_suffix_in_any_case(tmp_path, capsys):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "net.ONNX"
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert main(["layers", str(path)]) == 0  # read as a file, not looked up as a zoo model name

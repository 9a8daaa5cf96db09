"""Mappings: normalisation, validation errors naming level and value, Timeloop map.txt printing and parsing."""

import glob
from pathlib import Path

import pytest

from energysim.errors import EnergySimError
from energysim.model.mapping import Loop, Mapping
from energysim.model.problem import Problem
from energysim.arch import load_profile
from energysim.interop.timeloop import TimeloopCase
from energysim.workload import Layer
from shared_paths import TIMELOOP  # noqa: E402

CASES = sorted(glob.glob(str(TIMELOOP / "*")))
EYERISS = str(TIMELOOP / "ispass06_eyeriss_vgg02_layer5_32nm")


def _norm(s):
    return [l.rstrip() for l in s.strip().splitlines()]


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_to_text_equals_timeloop_map_txt(case):
    c = TimeloopCase.load(case)
    ref = Path(glob.glob(f"{case}/*.map.txt")[0]).read_text()
    assert _norm(c.mapping.to_text(c.problem, c.profile)) == _norm(ref)


def test_from_timeloop_eyeriss_structure():
    c = TimeloopCase.load(EYERISS)
    lms = c.mapping.resolved(c.profile)
    by = {lm.level: lm for lm in lms}
    assert by["DRAM"].temporal == {"C": 4, "M": 4, "P": 7, "Q": 4}
    assert [d for d in by["DRAM"].permutation if d in by["DRAM"].temporal] == ["Q", "C", "P", "M"]  # outer -> inner
    assert by["inter_PE_column_spatial"].spatial_x == {"Q": 14} and by["inter_PE_column_spatial"].spatial_y == {}
    assert by["inter_PE_spatial"].spatial_y == {"M": 4, "S": 3}
    assert by["shared_glb"].keep == ["Inputs", "Outputs"]
    loops = c.mapping.loops(c.problem, c.profile)
    assert loops[0] == Loop(0, "Q", 4) and Loop(2, "Q", 14, "X") in loops
    keeps = c.mapping.keeps(c.problem, c.profile)
    assert keeps[4] == {"Inputs"} and keeps[2] == frozenset()


def _setup():
    layer = Layer(name="l", kind="conv", op="Conv2d", M=16, C=8, P=4, Q=4, R=3, S=3, H=6, W=6)
    return Problem.from_layer(layer), load_profile("eyeriss-32nm")


def _mapping(**over):
    levels = {
        "DRAM": {"level": "DRAM", "temporal": {"M": 4}, "permutation": ["M"]},
        "shared_glb": {"level": "shared_glb", "temporal": {"C": 8, "P": 4}, "permutation": ["C", "P"]},
        "inter_PE_column_spatial": {"level": "inter_PE_column_spatial", "spatial_x": {"Q": 4}},
        "inter_PE_spatial": {"level": "inter_PE_spatial", "spatial_y": {"S": 3, "M": 4}},
        "weights_spad": {"level": "weights_spad", "temporal": {"R": 3}},
    }
    for k, v in over.items():
        levels[k] = {**levels[k], **v}
    return Mapping.model_validate({"levels": list(levels.values())})


def test_valid_mapping_passes():
    p, prof = _setup()
    _mapping().validate_for(p, prof)


@pytest.mark.parametrize("over, message", [
    ({"DRAM": {"temporal": {"M": 2}}}, r"factors of dimension M multiply to 8 \(DRAM 2 x inter_PE_spatial 4\) but its bound is 16"),
    ({"inter_PE_column_spatial": {"spatial_x": {"Q": 2, "M": 2}}, "DRAM": {"temporal": {"M": 2, "Q": 2}, "permutation": ["M", "Q"]}},
     None),
    ({"inter_PE_spatial": {"spatial_y": {"S": 3, "M": 4, "C": 2}}, "shared_glb": {"temporal": {"C": 4, "P": 4}}},
     r"'inter_PE_spatial': spatial-Y factors S3\*M4\*C2 = 24 exceed the fan-out 12"),
    ({"shared_glb": {"keep": ["Weights"]}}, r"'shared_glb': keep has Weights, which the sram level cannot hold"),
    ({"DRAM": {"keep": ["Inputs", "Outputs"]}}, r"'DRAM' \(outermost\) must keep every data space; it bypasses \['Weights'\]"),
    ({"shared_glb": {"temporal": {"X": 2}}}, r"'shared_glb': temporal names unknown dimension 'X'"),
    ({"shared_glb": {"permutation": ["C"]}}, r"permutation \['C'\] lacks dimension\(s\) \['P'\]"),
    ({"DRAM": {"temporal": {"M": 0}}}, r"'DRAM': temporal\[M\] = 0 must be an integer >= 1"),
    ({"weights_spad": {"temporal": {"R": 3, "C": 8, "P": 4}}, "shared_glb": {"temporal": {}}},
     r"'ifmap_spad': tiles Inputs 48 = 48 words exceed its capacity of 24 words"),
])
def test_validation_errors(over, message):
    p, prof = _setup()
    m = _mapping(**over)
    if message is None:
        m.validate_for(p, prof)
        return
    with pytest.raises(EnergySimError, match=message):
        m.validate_for(p, prof)


def test_capacity_respects_bypass():
    p, prof = _setup()
    over = {"weights_spad": {"temporal": {"R": 3, "C": 8, "P": 4}}, "shared_glb": {"temporal": {}}}
    with pytest.raises(EnergySimError, match="ifmap_spad"):
        _mapping(**over).validate_for(p, prof)
    m = Mapping.model_validate({"levels": [lm.model_dump() for lm in _mapping(**over).levels]
                                + [{"level": "ifmap_spad", "keep": []}]})
    m = Mapping.model_validate({"levels": sorted(m.model_dump()["levels"], key=lambda l: prof.level_names.index(l["level"]))})
    m.validate_for(p, prof)  # Inputs bypass the 24-word ifmap_spad: no capacity limit there


def test_level_order_and_names():
    p, prof = _setup()
    with pytest.raises(EnergySimError, match="lacks"):
        Mapping.model_validate({"levels": [{"level": "GLB"}]}).resolved(prof)
    with pytest.raises(EnergySimError, match="out of order"):
        Mapping.model_validate({"levels": [{"level": "shared_glb"}, {"level": "DRAM"}]}).resolved(prof)
    with pytest.raises(EnergySimError, match="unknown field"):
        Mapping.from_dict({"levels": [{"level": "DRAM", "factors": {}}]})


def test_capacity_split_reserves_a_share_and_the_rest_is_shared():
    from energysim.arch import StorageLevel

    lv = StorageLevel(name="GLB", depth=100, capacity_split={"Weights": 20}, read_pj=1, write_pj=1)
    assert lv.capacity_groups(["Weights", "Inputs", "Outputs"]) == [(("Weights",), 20), (("Inputs", "Outputs"), 80)]
    assert lv.capacity_groups(["Inputs"]) == [(("Inputs",), 80)]
    with pytest.raises(ValueError, match="reserves more than depth=10"):
        StorageLevel(name="GLB", depth=10, capacity_split={"Weights": 20}, read_pj=1, write_pj=1)

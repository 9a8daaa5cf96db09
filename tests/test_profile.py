"""Hardware profile schema: loading, derived fan-outs, and one-line errors naming field and value."""

import pytest
import yaml

from energysim.errors import EnergySimError
from energysim.arch import HardwareProfile, list_profiles, load_profile


def _eyeriss_dict():
    from importlib.resources import files

    return yaml.safe_load((files("energysim.hw_profiles") / "eyeriss-32nm.yaml").read_text())


def test_shipped_eyeriss_profile():
    assert "eyeriss-32nm" in list_profiles()
    p = load_profile("eyeriss-32nm")
    assert p.level_names == ["DRAM", "shared_glb", "inter_PE_column_spatial", "inter_PE_spatial", "ifmap_spad",
                             "weights_spad", "psum_spad"]
    assert p.mac.instances == 168 and p.mac.energy_pj == pytest.approx(0.207692)
    assert [p.fanout(i) for i in range(len(p.levels))] == [(1, 1), (1, 1), (14, 1), (1, 12), (1, 1), (1, 1), (1, 1)]
    glb = p.level("shared_glb")
    assert glb.depth == 131072 and glb.block_size == 8 and glb.kept() == ["Inputs", "Outputs"]
    assert p.level("inter_PE_spatial").kept() == []
    assert p.level("DRAM").capacity() is None
    assert p.level("psum_spad").word_bits == 16 and p.level("ifmap_spad").word_bits == 8


def test_load_by_path_and_roundtrip(tmp_path):
    p = load_profile("eyeriss-32nm")
    f = tmp_path / "mine.yaml"
    f.write_text(p.to_yaml())
    q = load_profile(str(f))
    assert q == p


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["levels"][1].__setitem__("depth", -3), r"levels\[1\] \(name 'shared_glb'\)\.depth = -3"),
    (lambda d: d["levels"][4].pop("read_pj"), r"levels\[4\] \(name 'ifmap_spad'\).*missing energy read_pj"),
    (lambda d: d["levels"][5].__setitem__("instances", 100), r"weights_spad.*instances=100"),
    (lambda d: d["levels"][1].__setitem__("keeps", ["Psums"]), r"unknown data space"),
    (lambda d: d.__setitem__("colour", "red"), r"colour: unknown field"),
    (lambda d: d["mac"].__setitem__("instances", 100), r"mac.*instances=100"),
    (lambda d: d["levels"].append(dict(d["levels"][0])), r"duplicate level name"),
])
def test_validation_errors_name_field_and_value(edit, message):
    d = _eyeriss_dict()
    edit(d)
    with pytest.raises(EnergySimError, match=message):
        HardwareProfile.from_dict(d)


def test_non_divisible_instances_between_levels():
    d = _eyeriss_dict()
    d["levels"][3].update(instances=5, mesh_x=5)
    with pytest.raises(EnergySimError, match="not a multiple"):
        HardwareProfile.from_dict(d)


def test_unknown_profile_and_bad_file(tmp_path):
    with pytest.raises(EnergySimError, match="unknown hardware profile 'nope'"):
        load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(EnergySimError, match="not valid YAML"):
        load_profile(str(bad))
    with pytest.raises(EnergySimError, match="cannot read"):
        load_profile(str(tmp_path / "missing.yaml"))

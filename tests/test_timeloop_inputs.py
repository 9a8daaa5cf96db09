"""Timeloop inputs read strictly: v0.3 spellings read as Timeloop reads them (or rejected, naming the key),
unknown keys named with file, key path and value, bad tolerances and unreadable or truncated references as
one-line errors with exit status 2."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from energysim.cli import main
from energysim.errors import EnergySimError
from energysim.interop.timeloop import TimeloopCase, check_rtol
from shared_paths import TIMELOOP  # noqa: E402

ONE = TIMELOOP / "ispass00_conv1d_1level"
TWO = TIMELOOP / "ispass01_conv1d_2level_os"
THREE = TIMELOOP / "ispass03_conv1d_oc_3level_bypass"  # MainMemory: DRAM, 256 bits wide, 8-bit words
KP = TIMELOOP / "ispass04_conv1d_oc_ic_spatial_kp"


def _copy(src: Path, dst: Path, edit=None) -> Path:
    """A copy of a case folder's Timeloop files (no case.json), with ``edit(spec)`` applied to the processed
    input."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "case.json":
            shutil.copy(f, dst / f.name)
    if edit is not None:
        p = dst / "parsed-processed-input.yaml"
        spec = yaml.safe_load(p.read_text())
        edit(spec)
        p.write_text(yaml.safe_dump(spec, sort_keys=False))
    return dst


def _one_line_error(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


def _comps(spec):
    return {c["name"].split("[")[0]: c for c in spec["architecture"]["subtree"][0]["local"]}


# ---- v0.3 spellings ---------------------------------------------------------------------------------------

def test_v03_problem_spellings_are_read(tmp_path):
    def edit(spec):
        shape = spec["problem"]["shape"]
        shape["data-spaces"] = shape.pop("data_spaces")
        for ds in shape["data-spaces"]:
            ds["read-write"] = ds.pop("read_write")
    case = TimeloopCase.load(_copy(ONE, tmp_path / "c", edit))
    assert case.problem.output.name == "Outputs"  # not silently read-only
    assert case.compare().ok


def test_v03_word_bits_and_block_size_are_read(tmp_path):
    """The issue's example: DRAM priced per word instead of per 32-word block (32x) when word-bits was
    ignored. Written the v0.3 way (width + word-bits, or block-size + word-bits) it now matches."""
    def width_word_bits(spec):
        a = _comps(spec)["MainMemory"]["attributes"]
        a["word-bits"] = a.pop("datawidth")

    def block_size(spec):
        for comp in _comps(spec).values():
            a = comp["attributes"]
            if "datawidth" in a:
                a["word-bits"] = a.pop("datawidth")
                a["block-size"] = a["width"] // a["word-bits"]
                del a["width"]
            if "depth" in a:
                a["memory_depth"] = a.pop("depth")
    for k, edit in enumerate((width_word_bits, block_size)):
        case = TimeloopCase.load(_copy(THREE, tmp_path / f"c{k}", edit))
        assert case.profile.level("MainMemory").block_size == 32
        assert case.compare().ok, case.compare().to_text()


def test_v03_subtree_instance_ranges(tmp_path):
    """v0.3 writes the replication on the subtree (``PE[0..15]``) and the mesh on the component."""
    def edit(spec):
        top = spec["architecture"]["subtree"][0]
        comps = top["local"]
        outer, inner = comps[:2], comps[2:]
        for c in inner:
            c["name"] = c["name"].split("[")[0]
            c["attributes"].pop("meshY")
        top["local"] = outer
        top["subtree"] = [{"name": "PE[0..15]", "local": inner}]
    case = TimeloopCase.load(_copy(KP, tmp_path / "c", edit))
    assert case.profile.level("GlobalBuffer").instances == 16 and case.profile.mac.instances == 16
    assert case.compare().ok


def test_two_spellings_with_different_values_are_an_error(tmp_path, capsys):
    def edit(spec):
        _comps(spec)["MainMemory"]["attributes"]["word-bits"] = 16
    d = _copy(TWO, tmp_path / "c", edit)
    _one_line_error(["timeloop", "check", str(d)], capsys, "parsed-processed-input.yaml", "word-bits",
                    "datawidth", "two spellings")


def test_inconsistent_block_size_is_an_error(tmp_path, capsys):
    def edit(spec):
        _comps(spec)["MainMemory"]["attributes"]["block-size"] = 4
    d = _copy(THREE, tmp_path / "c", edit)
    _one_line_error(["timeloop", "check", str(d)], capsys, "block size 4", "width 256")


# ---- unknown keys -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["top", "problem", "data_space", "instance", "attribute", "component", "mapping"])
def test_unknown_keys_name_file_path_and_value(tmp_path, capsys, where):
    def edit(spec):
        if where == "top":
            spec["mystery"] = 7
        elif where == "problem":
            spec["problem"]["shape"]["extra"] = 7
        elif where == "data_space":
            spec["problem"]["shape"]["data_spaces"][2]["read_only"] = 7
        elif where == "instance":
            spec["problem"]["instance"]["Z"] = 7
        elif where == "attribute":
            _comps(spec)["Buffer"]["attributes"]["blocksize"] = 7
        elif where == "component":
            _comps(spec)["Buffer"]["colour"] = 7
        else:
            spec["mapping"][0]["factor"] = 7
    d = _copy(TWO, tmp_path / "c", edit)
    path = {"top": "'mystery'", "problem": "'problem.shape.extra'",
            "data_space": "'problem.shape.data_spaces[2].read_only'", "instance": "'problem.instance.Z'",
            "attribute": "'architecture.subtree[0].local[1].attributes.blocksize'",
            "component": "'architecture.subtree[0].local[1].colour'", "mapping": "'mapping[0].factor'"}[where]
    _one_line_error(["timeloop", "check", str(d)], capsys, "parsed-processed-input.yaml", f"unknown key {path} = 7")


def test_unknown_keys_in_ert_and_case_json(tmp_path, capsys):
    d = _copy(ONE, tmp_path / "ert")
    ert = yaml.safe_load((d / "timeloop-model.ERT.yaml").read_text())
    ert["ERT"]["tables"][0]["actions"][0]["energy_pJ"] = 1.0
    (d / "timeloop-model.ERT.yaml").write_text(yaml.safe_dump(ert))
    _one_line_error(["timeloop", "check", str(d)], capsys, "timeloop-model.ERT.yaml",
                    "'ERT.tables[0].actions[0].energy_pJ' = 1.0")
    for edit, needle in ((lambda c: c.__setitem__("extra", 1), "unknown key 'extra' = 1"),
                         (lambda c: c["architecture"]["levels_outer_to_inner"][0]["specs_printed"].__setitem__(
                             "word_bitz", 8), "'architecture.levels_outer_to_inner[0].specs_printed.word_bitz' = 8"),
                         (lambda c: c["workload"]["data_spaces"][2].__setitem__("readwrite", True),
                          "'workload.data_spaces[2].readwrite' = True"),
                         (lambda c: c["mapping"]["mapping_directives"][0].__setitem__("perm", "PR"),
                          "'mapping.mapping_directives[0].perm' = 'PR'")):
        case = json.loads((ONE / "case.json").read_text())
        edit(case)
        (tmp_path / "case.json").write_text(json.dumps(case))
        _one_line_error(["timeloop", "check", str(tmp_path / "case.json")], capsys, "case.json", needle)


def test_case_json_that_contradicts_itself(tmp_path, capsys):
    case = json.loads((TWO / "case.json").read_text())
    case["architecture"]["levels_outer_to_inner"][0]["specs_printed"]["block_size"] = 16
    (tmp_path / "case.json").write_text(json.dumps(case))
    _one_line_error(["timeloop", "check", str(tmp_path)], capsys, "specs_printed.block_size = 16", "give 8")
    case = json.loads((TWO / "case.json").read_text())
    case["architecture"]["levels_outer_to_inner"][0]["class_and_attributes"]["attributes"]["colour"] = "red"
    (tmp_path / "case.json").write_text(json.dumps(case))
    _one_line_error(["timeloop", "check", str(tmp_path)], capsys,
                    "'architecture.levels_outer_to_inner[0].class_and_attributes.attributes.colour' = 'red'")


def test_unmodelled_settings_are_rejected(tmp_path, capsys):
    def edit(spec):
        _comps(spec)["Buffer"]["attributes"]["cluster_size"] = 2
    _one_line_error(["timeloop", "check", str(_copy(TWO, tmp_path / "a", edit))], capsys, "cluster_size", "= 2",
                    "not modelled")

    def dens(spec):
        spec["problem"]["instance"]["densities"] = {"Inputs": 0.5}
    _one_line_error(["timeloop", "check", str(_copy(TWO, tmp_path / "b", dens))], capsys, "densities")


# ---- tolerances and references ---------------------------------------------------------------------------

@pytest.mark.parametrize("rtol", ["-1e-3", "nan", "inf", "abc"])
def test_bad_tolerance(rtol, capsys):
    _one_line_error(["timeloop", "check", f"--energy-rtol={rtol}", str(ONE)], capsys, "energy tolerance", rtol)
    with pytest.raises(EnergySimError):
        check_rtol(rtol)


def test_zero_tolerance_is_allowed_and_equal_values_match(capsys):
    assert check_rtol("0") == 0.0
    assert main(["timeloop", "check", "--energy-rtol", "0", str(ONE)]) == 0


def test_truncated_or_unreadable_references(tmp_path, capsys):
    stats = "timeloop-model.stats.txt"
    text = (ONE / stats).read_text()
    cut = _copy(ONE, tmp_path / "cut")
    (cut / stats).write_text(text[: text.index("Summary Stats")])
    _one_line_error(["timeloop", "check", str(cut)], capsys, stats, "truncated")
    half = _copy(ONE, tmp_path / "half")
    (half / stats).write_text(text[: len(text) // 3])
    _one_line_error(["timeloop", "check", str(half)], capsys, stats)
    binary = _copy(ONE, tmp_path / "binary")
    (binary / stats).write_bytes(b"\xff\xfe\x00garbage\x81")
    _one_line_error(["timeloop", "check", str(binary)], capsys, stats, "not a UTF-8 text file")
    for name, body in (("json_cut", (ONE / "case.json").read_text()[:5000]), ("json_empty", "")):
        d = tmp_path / name
        d.mkdir()
        (d / "case.json").write_text(body)
        _one_line_error(["timeloop", "check", str(d)], capsys, "case.json", "not valid JSON")
    no_results = json.loads((ONE / "case.json").read_text())
    del no_results["results"]["summary_printed"]
    d = tmp_path / "no_results"
    d.mkdir()
    (d / "case.json").write_text(json.dumps(no_results))
    _one_line_error(["timeloop", "check", str(d)], capsys, "case.json", "summary_printed")
    yaml_cut = _copy(ONE, tmp_path / "yaml_cut")
    p = yaml_cut / "parsed-processed-input.yaml"
    p.write_text(p.read_text()[:700] + "\n  - [unclosed\n")
    _one_line_error(["timeloop", "check", str(yaml_cut)], capsys, "parsed-processed-input.yaml", "not valid YAML")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(["timeloop", "check", str(empty)], capsys, "no parsed-processed-input.yaml and no case.json")

"""Timeloop inputs and references that used to be misread or silently defaulted are one-line errors (exit 2)
naming the file, the key path and the value: ERT energies and tables, problem dimensions and projections,
size spellings that disagree, zero or boolean attributes, mapping and constraint factors, constraint sections
when no search reads them, ambiguous case folders, reference numbers, and names an export cannot write."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from energysim.arch import load_profile
from energysim.cli import main
from energysim.errors import EnergySimError
from energysim.interop.timeloop import TimeloopCase
from energysim.interop.timeloop.export import check_exportable
from shared_paths import TIMELOOP  # noqa: E402

TWO = TIMELOOP / "ispass01_conv1d_2level_os"

ARCH = """\
architecture:
  version: 0.4
  nodes:
  - !Container
    name: PE
    attributes: {technology: 40nm, global_cycle_seconds: 1e-9}
  - !Component
    name: MainMemory
    class: SRAM
    attributes: {depth: 32768, width: 64, datawidth: 8}
  - !Component
    name: Buffer
    class: regfile
    attributes: {depth: 64, width: 8, datawidth: 8}
  - !Component
    name: MACC
    class: intmac
    attributes: {width: 8}
"""
PROB = """\
problem:
  shape:
    name: Conv1D
    dimensions: [R, P]
    data_spaces:
    - {name: Weights, projection: [[[R]]]}
    - {name: Inputs, projection: [[[R], [P]]]}
    - {name: Outputs, projection: [[[P]]], read_write: true}
  instance: {R: 3, P: 16}
"""
MAP = """\
mapping:
- {target: MainMemory, type: temporal, factors: R=1 P=16, permutation: PR}
- {target: Buffer, type: temporal, factors: R=3 P=1, permutation: RP}
"""
ERT = """\
ERT:
  tables:
  - name: PE_top_level.MainMemory[1..1]
    actions:
    - {name: read, energy: 43.35}
    - {name: write, energy: 30.88}
  - name: PE_top_level.Buffer[1..1]
    actions:
    - {name: read, energy: 0.43}
    - {name: write, energy: 0.43}
  - name: PE_top_level.MACC[1..1]
    actions:
    - {name: compute, energy: 0.845}
"""


def _run(tmp_path, edits=(), extra=None) -> list[str]:
    """``timeloop run`` arguments for the small spec above, each ``(file, old, new)`` edit applied, and an extra
    input file (constraints) if given."""
    texts = {"arch": ARCH, "prob": PROB, "map": MAP, "ERT": ERT}
    for which, old, new in edits:
        assert old in texts[which], (which, old)
        texts[which] = texts[which].replace(old, new)
    for which, text in texts.items():
        (tmp_path / f"{which}.yaml").write_text(text)
    files = [str(tmp_path / f"{w}.yaml") for w in ("arch", "prob", "map")]
    if extra is not None:
        (tmp_path / "extra.yaml").write_text(extra)
        files.append(str(tmp_path / "extra.yaml"))
    return ["timeloop", "run", *files, "--ert", str(tmp_path / "ERT.yaml")]


def _one_line_error(argv, capsys, *needles) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    for n in needles:
        assert n in captured.err, (n, captured.err)
    return captured.err


def test_the_small_spec_runs(tmp_path, capsys):
    assert main(_run(tmp_path)) == 0
    assert "MACs 48" in capsys.readouterr().out


# ---- 1. ERT ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, needles", [
    ("energy: 43.35", "energy: .nan", ["'ERT.tables[0].actions[0].energy' = nan", "finite number >= 0"]),
    ("energy: 43.35", "energy: .inf", ["'ERT.tables[0].actions[0].energy' = inf"]),
    ("energy: 0.43}\n    - {name: write", "energy: -0.43}\n    - {name: write",
     ["'ERT.tables[1].actions[0].energy' = -0.43"]),
    ("energy: 0.845", "energy: .nan", ["'ERT.tables[2].actions[0].energy' = nan"]),
    ("{name: read, energy: 43.35}", "{energy: 43.35}", ["'ERT.tables[0].actions[0].name' = None", "action name"]),
    ("  - name: PE_top_level.MACC", "  - name: other.Buffer[1..4]\n    actions: [{name: read, energy: 99}]\n"
     "  - name: PE_top_level.MACC", ["'ERT.tables[2].name' = 'other.Buffer[1..4]'", "a second table for component "
                                    "'Buffer'", "'ERT.tables[1]'"]),
])
def test_bad_ert_entries(tmp_path, capsys, old, new, needles):
    _one_line_error(_run(tmp_path, [("ERT", old, new)]), capsys, "ERT.yaml", *needles)


# ---- 2. problem shape --------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, needles", [
    ("dimensions: [R, P]", "dimensions: [R, P, R]",
     ["'problem.shape.dimensions' = ['R', 'P', 'R']", "['R'] appear twice"]),
    ("dimensions: [R, P]", "dimensions: RP", ["'problem.shape.dimensions' = 'RP' must be a list of dimension names"]),
    ("dimensions: [R, P]", "dimensions: [R, 3]", ["'problem.shape.dimensions' = ['R', 3]"]),
    ("name: Conv1D", "name: [Conv1D]", ["'problem.shape.name' = ['Conv1D'] must be a name"]),
    ("projection: [[[R]]]}", "projection: []}", ["'problem.shape.data_spaces[0].projection' = []"]),
    ("projection: [[[R]]]}", "projection: [[]]}", ["'problem.shape.data_spaces[0].projection' = [[]]"]),
    ("name: Conv1D", "name: Conv1D\n    coefficients: [{name: R, default: 1}]",
     ["'problem.shape.coefficients[0].name' = 'R'", "neither a dimension"]),
])
def test_bad_problem_shapes(tmp_path, capsys, old, new, needles):
    _one_line_error(_run(tmp_path, [("prob", old, new)]), capsys, "prob.yaml", *needles)


# ---- 3. size spellings ------------------------------------------------------------------------------------

def test_entries_and_size_must_agree(tmp_path, capsys):
    buf = "{depth: 64, width: 8, datawidth: 8}"
    _one_line_error(_run(tmp_path, [("arch", buf, "{entries: 64, size: 2, width: 8, datawidth: 8}")]), capsys,
                    "'architecture.nodes[2].attributes.entries' = 64", "'architecture.nodes[2].attributes.size' = 2",
                    "two spellings of 'entries'")
    assert main(_run(tmp_path, [("arch", buf, "{entries: 64, size: 64, width: 8, datawidth: 8}")])) == 0
    capsys.readouterr()


# ---- 7 and 10. attributes: zero, boolean, infinite, the MAC's, the class ------------------------------------

@pytest.mark.parametrize("old, new, needles", [
    ("global_cycle_seconds: 1e-9", "global_cycle_seconds: 0",
     ["'architecture.nodes[0].attributes.global_cycle_seconds' = 0 must be a finite number > 0"]),
    ("{depth: 64, width: 8,", "{multiple_buffering: 0, depth: 64, width: 8,",
     ["'architecture.nodes[2].attributes.multiple_buffering' = 0 must be a finite number >= 1"]),
    ("{depth: 64, width: 8,", "{depth: true, width: 8,", ["'architecture.nodes[2].attributes.depth' = True"]),
    ("{depth: 64, width: 8,", "{depth: .inf, width: 8,", ["'architecture.nodes[2].attributes.depth' = inf"]),
    ("{depth: 64, width: 8,", "{meshX: 0, depth: 64, width: 8,", ["'architecture.nodes[2].attributes.meshX' = 0"]),
    ("attributes: {width: 8}", "attributes: {width: .nan}", ["'architecture.nodes[3].attributes.width' = nan"]),
    ("class: regfile", "class: 5", ["'architecture.nodes[2].class' = 5 must be a component class name"]),
])
def test_bad_attributes(tmp_path, capsys, old, new, needles):
    _one_line_error(_run(tmp_path, [("arch", old, new)]), capsys, "arch.yaml", *needles)


# ---- 8. mapping factors, split, keep / bypass ---------------------------------------------------------------

SPATIAL = "- {target: Buffer, type: spatial, factors: R=1 P=1, permutation: RP, split: SPLIT}\n"


@pytest.mark.parametrize("old, new, needles", [
    ("factors: R=1 P=16,", "factors: {R: 1, P: 16.7},", ["'mapping[0].factors'", "factor of P = 16.7 must be an "
                                                                                  "integer >= 1"]),
    ("factors: R=1 P=16,", "factors: {R: true, P: 16},", ["factor of R = True"]),
    ("factors: R=1 P=16,", "factors: {R: 1, P: .inf},", ["factor of P = inf"]),
    ("factors: R=3 P=1,", "factors: R=3 P=0,", ["factor of P = 0 must be an integer >= 1"]),
    ("permutation: RP}\n", "permutation: RP}\n" + SPATIAL.replace("SPLIT", "1.7"), ["'mapping[2].split' = 1.7"]),
    ("permutation: RP}\n", "permutation: RP}\n" + SPATIAL.replace("SPLIT", "-5"),
     ["'mapping[2].split' = -5 must be an integer >= 0"]),
    ("permutation: RP}\n", "permutation: RP}\n- {target: Buffer, type: bypass, bypass: 5}\n",
     ["'mapping[2].bypass' = 5 must be a list of names"]),
    ("permutation: RP}\n", "permutation: RP}\n- {target: Buffer, type: dataspace, keep: 5}\n",
     ["'mapping[2].keep' = 5"]),
    ("permutation: RP}\n", "permutation: RP}\n- {target: Buffer, type: dataspace, keep: Weights}\n",
     ["'mapping[2].keep' = 'Weights' must be a list of names"]),
])
def test_bad_mapping_values(tmp_path, capsys, old, new, needles):
    _one_line_error(_run(tmp_path, [("map", old, new)]), capsys, "map.yaml", *needles)


# ---- 6 and 8. constraint sections are read without --search too ---------------------------------------------

@pytest.mark.parametrize("extra, needles", [
    ("constraints:\n  targets:\n  - {target: Buffer, type: temporal, bogus: 1}\n",
     ["unknown key 'constraints.targets[0].bogus' = 1"]),
    ("constraints:\n  targets:\n  - {target: Nowhere, type: temporal}\n",
     ["'constraints.targets[0].target' = 'Nowhere' is not a level"]),
    ("constraints:\n  targets:\n  - {target: Buffer, type: temporl}\n", ["'constraints.targets[0].type' = 'temporl'"]),
    ("mapspace: {template: ruby}\n", ["'mapspace.template' = 'ruby'"]),
    ("architecture_constraints: 5\n", ["'architecture_constraints' = 5 must be a list of constraints"]),
    ("constraints:\n  targets:\n  - {target: Buffer, type: temporal, factors: {R: 1.5}}\n",
     ["'constraints.targets[0].factors'", "factor of R = 1.5 must be an integer >= 0"]),
    ("constraints:\n  targets:\n  - {target: Buffer, type: temporal, factors: {R: -3}}\n", ["factor of R = -3"]),
    ("constraints:\n  targets:\n  - {target: Buffer, type: dataspace, keep: Weights}\n",
     ["'constraints.targets[0].keep' = 'Weights' must be a list of names"]),
    ("constraints:\n  targets:\n  - {target: Buffer, type: utilization, min: .nan}\n",
     ["'constraints.targets[0].min' = nan"]),
])
def test_constraints_are_read_without_search(tmp_path, capsys, extra, needles):
    _one_line_error(_run(tmp_path, extra=extra), capsys, "extra.yaml", *needles)


def test_valid_constraints_are_accepted_with_a_given_mapping(tmp_path, capsys):
    extra = ("constraints:\n  targets:\n  - {target: Buffer, type: temporal, factors: R=3 P=0, permutation: RP}\n"
             "  - {target: Buffer, type: dataspace, keep: [Weights, Inputs, Outputs]}\n")
    assert main(_run(tmp_path, extra=extra)) == 0
    capsys.readouterr()


# ---- 4. case folders: ambiguous or unreadable files --------------------------------------------------------

def _folder(dst: Path) -> Path:
    dst.mkdir()
    for f in TWO.iterdir():
        if f.is_file():
            shutil.copy(f, dst / f.name)
    return dst


@pytest.mark.parametrize("extra_file", ["aaa.ERT.yaml", "aaa.stats.txt"])
def test_two_erts_or_stats_are_ambiguous(tmp_path, capsys, extra_file):
    case = _folder(tmp_path / "c")
    source = next(case.glob("*" + extra_file[3:]))
    shutil.copy(source, case / extra_file)
    _one_line_error(["timeloop", "check", str(case)], capsys, f"2 *{extra_file[3:]} files", extra_file, source.name)


@pytest.mark.parametrize("name", ["parsed-processed-input.yaml", "case.json"])
def test_an_expected_file_that_is_a_folder(tmp_path, capsys, name):
    case = _folder(tmp_path / "c")
    (case / name).unlink()
    (case / name).mkdir()
    _one_line_error(["timeloop", "check", str(case)], capsys, f"{name}' is not a regular file")


# ---- 5. reference numbers ---------------------------------------------------------------------------------

def test_fractional_count_in_stats_txt(tmp_path, capsys):
    case = _folder(tmp_path / "c")
    stats = case / "timeloop-model.stats.txt"
    line = "Scalar reads (per-instance)              : 48"
    assert line in stats.read_text()
    stats.write_text(stats.read_text().replace(line, line + ".7", 1))
    _one_line_error(["timeloop", "check", str(case)], capsys, "Scalar reads (per-instance)' = 48.7 must be an integer")


def _case_json(tmp_path, edit=None, text_edit=None) -> Path:
    d = tmp_path / "cj"
    d.mkdir()
    case = json.loads((TWO / "case.json").read_text())
    if edit is not None:
        edit(case)
    text = json.dumps(case, indent=1)
    if text_edit is not None:
        assert text_edit[0] in text
        text = text.replace(*text_edit, 1)
    (d / "case.json").write_text(text)
    return d


def _ds(case, level="Buffer", ds="Weights"):
    return case["results"]["per_level_printed"][level]["per_dataspace"][ds]


@pytest.mark.parametrize("edit, needles", [
    (lambda c: _ds(c).update(scalar_reads_per_instance=48.7),
     ["'results.per_level_printed.Buffer.per_dataspace.Weights.scalar_reads_per_instance' = 48.7 must be an integer"]),
    (lambda c: _ds(c).update(scalar_reads_per_instance="lots"), ["scalar_reads_per_instance' = 'lots'"]),
    (lambda c: _ds(c).update(energy_total_pJ="x"), ["energy_total_pJ' = 'x' must be a finite number >= 0"]),
    (lambda c: c["results"]["summary_printed"].update(cycles="abc"), ["'results.summary_printed.cycles' = 'abc'"]),
    (lambda c: c["results"]["summary_printed"].update(utilization_pct="100%"), ["utilization_pct' = '100%'"]),
    (lambda c: c["results"]["per_level_printed"].update(Ghost=c["results"]["per_level_printed"]["Buffer"]),
     ["numbers for level 'Ghost', which the architecture does not have"]),
    (lambda c: c["results"]["per_level_printed"]["Buffer"]["per_dataspace"].update(Ghost=_ds(c)),
     ["level 'Buffer' has numbers for data space(s) ['Ghost']"]),
    (lambda c: c["architecture"]["levels_outer_to_inner"][0]["specs_printed"].update(instances="abc"),
     ["'architecture.levels_outer_to_inner[0].specs_printed.instances' = 'abc'"]),
])
def test_bad_reference_numbers_in_case_json(tmp_path, capsys, edit, needles):
    _one_line_error(["timeloop", "check", str(_case_json(tmp_path, edit))], capsys, "case.json", *needles)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_literals_are_rejected(tmp_path, capsys, literal):
    d = _case_json(tmp_path, text_edit=('"scalar_reads_per_instance": 48', f'"scalar_reads_per_instance": {literal}'))
    _one_line_error(["timeloop", "check", str(d)], capsys, f"{literal} is not a JSON number")


def test_json_key_given_twice(tmp_path, capsys):
    d = _case_json(tmp_path, text_edit=('"scalar_reads_per_instance": 48', '"scalar_reads_per_instance": 47, '
                                                                           '"scalar_reads_per_instance": 48'))
    _one_line_error(["timeloop", "check", str(d)], capsys, "['scalar_reads_per_instance'] given twice")


def test_the_unedited_copies_still_match(tmp_path):
    assert TimeloopCase.load(_case_json(tmp_path)).compare().ok
    assert TimeloopCase.load(_folder(tmp_path / "c")).compare().ok


# ---- 9. export: names the reader could not read back -------------------------------------------------------

@pytest.mark.parametrize("level, name", [(3, "PE.rf"), (3, "rf[0]"), (None, "mac]")])
def test_export_refuses_names_that_do_not_read_back(tmp_path, capsys, level, name):
    d = load_profile("simple-45nm").model_dump(by_alias=True, exclude_none=True)
    (d["levels"][level] if level is not None else d["mac"])["name"] = name
    prof = tmp_path / "p.yaml"
    prof.write_text(yaml.safe_dump({**d, "name": "renamed"}))
    with pytest.raises(EnergySimError, match="cannot be exported"):
        check_exportable(load_profile(str(prof)))
    out = tmp_path / "out"
    _one_line_error(["timeloop", "export", "alexnet", "--profile", str(prof), "--out", str(out)], capsys,
                    f"the name {name!r} holds")
    assert not out.exists()

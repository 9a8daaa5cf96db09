"""Timeloop interop: every reference case matches (counts, MACs and cycles exactly, energy per level within
0.1%, utilization), from Timeloop's files and from case.json alone; Timeloop 2020's rules on request."""

import glob
import json
import math
import shutil
from pathlib import Path

import pytest

from energysim.cli import main
from energysim.model.counts import evaluate
from energysim.arch import load_profile
from energysim.interop.timeloop import TimeloopCase, parse_stats_txt, reference_from_case_json
from shared_paths import TIMELOOP  # noqa: E402

CASES = sorted(glob.glob(str(TIMELOOP / "*")))
EYERISS = str(TIMELOOP / "ispass06_eyeriss_vgg02_layer5_32nm")


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_case_matches(case):
    c = TimeloopCase.load(case)
    cmp = c.compare()
    assert cmp.ok, cmp.to_text()
    n_counts = sum(1 for r in cmp.rows if r[2] in ("reads", "fills", "updates"))
    assert n_counts >= 3
    quantities = {(r[0], r[2]) for r in cmp.rows}
    assert ("total", "cycles") in quantities and ("total", "util_pct") in quantities
    assert all((lv.name, "cycles") in quantities for lv in c.profile.levels if lv.cls != "dummy")


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_case_json_alone_matches_and_builds_the_same_inputs(case, tmp_path):
    """A folder holding only case.json is a complete case: same problem, architecture, mapping and counts."""
    shutil.copy(Path(case) / "case.json", tmp_path / "case.json")
    alone = TimeloopCase.load(tmp_path)
    full = TimeloopCase.load(case)
    assert alone.inputs == "case.json" and alone.reference_source.endswith("case.json")
    assert alone.problem == full.problem
    a, f = alone.profile.model_dump(), full.profile.model_dump()
    assert a["levels"] == f["levels"] and a["mac"] == f["mac"]
    assert alone.mapping.loops(alone.problem, alone.profile) == full.mapping.loops(full.problem, full.profile)
    sa, sf = alone.evaluate(), full.evaluate()
    assert sa.to_frame().equals(sf.to_frame()) and sa.cycles == sf.cycles and sa.energy == sf.energy
    cmp = alone.compare()
    assert cmp.ok, cmp.to_text()
    assert cmp.to_dict()["rows"] and TimeloopCase.load(tmp_path / "case.json").compare().ok


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_stats_txt_parser_agrees_with_case_json(case):
    txt = parse_stats_txt(Path(glob.glob(f"{case}/*.stats.txt")[0]).read_text())
    js = reference_from_case_json(json.loads(Path(f"{case}/case.json").read_text()))
    assert txt["_summary"] == pytest.approx(js.pop("_summary"))
    for level, v in js.items():
        assert txt[level]["cycles"] == v["cycles"]
        for ds, s in v["data_spaces"].items():
            for k in ("reads", "fills", "updates"):
                assert txt[level]["data_spaces"][ds][k] == s[k]


def test_energy_is_the_sum_of_its_parts_and_totals():
    s = TimeloopCase.load(EYERISS).evaluate()
    df = s.to_frame()
    assert s.energy == pytest.approx(df.energy.sum() + s.leak_energy + s.mac_energy, rel=1e-15)
    assert s.energy == pytest.approx(sum(s.energy_by_level.values()), rel=1e-15)
    assert sum(s.energy_by_dataspace.values()) + s.leak_energy + s.mac_energy == pytest.approx(s.energy, rel=1e-15)
    assert s.energy / 1e6 == pytest.approx(2764.38, abs=0.01)  # Timeloop: "Energy: 2764.38 uJ"
    assert s.cycles == 5505024 and s.utilization == 1.0 and s.macs == 924844032
    assert (df.reads_total == df.reads * df.instances).all()


def test_shipped_eyeriss_profile_reproduces_the_reference():
    c = TimeloopCase.load(EYERISS)
    ours = evaluate(c.problem, load_profile("eyeriss-32nm"), c.mapping)
    ref = c.evaluate()
    assert ours.to_frame().equals(ref.to_frame())
    assert ours.energy == pytest.approx(ref.energy, rel=1e-12)


def test_cli_check_all(capsys):
    assert main(["timeloop", "check", *CASES]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == f"{len(CASES)}/{len(CASES)} cases match"
    assert "ispass06_eyeriss_vgg02_layer5_32nm: MATCH" in out


def test_cli_mismatch_and_bad_input(tmp_path, capsys):
    # a tolerance of zero energy difference still matches counts, but a broken copy must not
    bad = tmp_path / "broken"
    bad.mkdir()
    src = Path(CASES[0])
    for f in src.iterdir():
        if f.is_file():
            (bad / f.name).write_text(f.read_text().replace("Scalar reads (per-instance)              : 48",
                                                            "Scalar reads (per-instance)              : 47"))
    assert main(["timeloop", "check", str(bad)]) == 1
    assert "0/1 cases match" in capsys.readouterr().out
    assert main(["timeloop", "check", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_cli_case_json_only_and_json_output(tmp_path, capsys):
    dirs = []
    for case in CASES:
        d = tmp_path / Path(case).name
        d.mkdir()
        shutil.copy(Path(case) / "case.json", d / "case.json")
        dirs.append(str(d))
    assert main(["timeloop", "check", "--json", *dirs]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matched"] == out["total"] == len(CASES)
    for c in out["cases"]:
        assert c["ok"] and c["semantics"] == "2024" and c["inputs"] == "case.json"
        q = {(r["level"], r["quantity"]): r for r in c["rows"]}
        assert q[("total", "cycles")]["match"] and q[("total", "util_pct")]["ours"] == pytest.approx(100.0)


# ---- Timeloop 2020 rules --------------------------------------------------------------------------------

def _expected_2020(case: dict) -> dict:
    """Per level: Timeloop 2020's fills and energy, derived by hand from the printed (2024) reference numbers:
    first output fills counted (fills + printed partition size below the outermost keeper), and one price per
    access, ceil((reads + fills + updates) / block) x max(read, write) x utilized instances, plus leakage."""
    levels = case["architecture"]["levels_outer_to_inner"]
    printed = case["results"]["per_level_printed"]
    rw = {d["name"] for d in case["workload"]["data_spaces"] if d["read_write"]}
    outer_seen: set[str] = set()
    out = {}
    for lv in levels:
        if lv["kind"] != "storage":
            continue
        sp, acts = lv["specs_printed"], lv["ert"]["actions_pJ"]
        e, fills = sp["leakage_energy_total_pJ"], {}
        for ds, s in printed[lv["name"]]["per_dataspace"].items():
            f = s["scalar_fills_per_instance"]
            if ds in rw and ds in outer_seen:
                f += s["partition_size"]
            outer_seen.add(ds)
            fills[ds] = f
            n = s["scalar_reads_per_instance"] + f + s["scalar_updates_per_instance"]
            e += math.ceil(n / sp["block_size"]) * max(acts["read"], acts["write"]) * s["utilized_instances_max"]
        out[lv["name"]] = {"energy": e, "fills": fills}
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_2020_rules_match_a_hand_derivation(case):
    c = TimeloopCase.load(case)
    ours = c.evaluate(semantics="2020")
    today = c.evaluate()
    exp = _expected_2020(json.loads((Path(case) / "case.json").read_text()))
    by_level = ours.energy_by_level
    for name, v in exp.items():
        # the printed leakage is rounded to 0.01 pJ; everything else is exact
        assert by_level[name] == pytest.approx(v["energy"], rel=1e-9, abs=0.02), name
        for ds, f in v["fills"].items():
            assert ours.count(name, ds, "fills") == f
    assert ours.macs == today.macs and ours.mac_energy == today.mac_energy
    assert ours.extra["semantics"] == "2020" and "semantics" not in today.extra


def test_2020_case_declared_in_case_json(tmp_path, capsys):
    """A case.json that says "semantics": "2020" is checked with those rules by default; forcing today's
    rules on it reports the differences (the first output fills and the buffer energy)."""
    case = json.loads((Path(EYERISS) / "case.json").read_text())
    exp = _expected_2020(case)
    case["semantics"] = "2020"
    for name, v in exp.items():
        pds = case["results"]["per_level_printed"][name]["per_dataspace"]
        leak = next(lv["specs_printed"]["leakage_energy_total_pJ"]
                    for lv in case["architecture"]["levels_outer_to_inner"] if lv["name"] == name)
        per_ds = v["energy"] - leak
        for j, (ds, f) in enumerate(v["fills"].items()):
            pds[ds]["scalar_fills_per_instance"] = f
            pds[ds]["energy_total_pJ"] = per_ds if j == 0 else 0.0  # only the level's sum is compared
    (tmp_path / "case.json").write_text(json.dumps(case))
    assert main(["timeloop", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MATCH (semantics 2020" in out
    assert main(["timeloop", "check", "--semantics", "2024", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    diffs = [line.split()[:3] for line in out.splitlines() if "<-- differs" in line]
    assert ["psum_spad", "Outputs", "fills"] in diffs and ["shared_glb", "*", "energy_pj"] in diffs
    bad = dict(case, semantics="2019")
    (tmp_path / "case.json").write_text(json.dumps(bad))
    assert main(["timeloop", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'semantics'" in err and "2019" in err and err.count("\n") == 1

"""Timeloop interop: every reference case matches (counts exactly, energy per level within 0.1%)."""

import glob
import json
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


@pytest.mark.parametrize("case", CASES, ids=lambda p: Path(p).name)
def test_stats_txt_parser_agrees_with_case_json(case):
    txt = parse_stats_txt(Path(glob.glob(f"{case}/*.stats.txt")[0]).read_text())
    js = reference_from_case_json(json.loads(Path(f"{case}/case.json").read_text()))
    for level, v in js.items():
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

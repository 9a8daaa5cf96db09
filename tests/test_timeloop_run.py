"""``energysim timeloop run``: a user's Timeloop input files (as in the ISPASS tutorial, v4 ``nodes``) with an
Accelergy ERT reproduce Timeloop's reference counts exactly and its energy within 0.1%; the mapper case
(ispass06) reproduces from the mapping Timeloop printed, and our search under its constraints finds no more
energy; bad inputs and constraints we cannot honour are one-line errors naming file, key path and value."""

import json
import shutil
from pathlib import Path

import pytest

from energysim.cli import main
from energysim.interop.timeloop import TimeloopCase, parse_stats_txt, reference_from_case_json
from energysim.interop.timeloop.reference import check_reference
from energysim.interop.timeloop.run import TimeloopRun
from shared_paths import TIMELOOP  # noqa: E402

MODEL_CASES = sorted(p for p in TIMELOOP.glob("ispass0[0-4]*"))
EYERISS = TIMELOOP / "ispass06_eyeriss_vgg02_layer5_32nm"
EY_IN = EYERISS / "inputs_at_2ffec69"
EY_ERT = EYERISS / "timeloop-mapper.ERT.yaml"


def _inputs(case: Path) -> list[Path]:
    """ARCH, PROB, MAP of a model-run case: the mapping file is the one ``case.json``'s ``source.run`` names."""
    run = json.loads((case / "case.json").read_text())["source"]["run"]
    inp = next(case.glob("inputs_at_*"))
    maps = [m for m in (inp / "map").glob("*.yaml") if m.name in run] or list((inp / "map").glob("*.yaml"))
    return [next((inp / "arch").glob("*.yaml")), next((inp / "prob").glob("*.yaml")), max(maps, key=lambda m: len(m.name))]


def _reference_total(case: Path) -> float:
    ref = reference_from_case_json(json.loads((case / "case.json").read_text()))
    return sum(sum(v["energy_pj"] for v in lv["data_spaces"].values()) + (lv.get("leak_pj") or 0.0)
               + (lv["energy_pj"] if "computes" in lv else 0.0) for k, lv in ref.items() if k != "_summary")


def _cli_json(capsys, args) -> dict:
    assert main(["timeloop", "run", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda p: p.name)
def test_model_cases_from_user_inputs(case, capsys):
    arch, prob, mp = _inputs(case)
    d = _cli_json(capsys, [arch, prob, mp, "--ert", case / "timeloop-model.ERT.yaml"])
    c = TimeloopCase.load(case)
    run = TimeloopRun.load([arch, prob, mp], ert=case / "timeloop-model.ERT.yaml")
    cmp = c.compare(stats=run.stats)  # every count, cycles per level, MACs, utilization
    assert cmp.ok, cmp.to_text()
    ref = _reference_total(case)
    assert abs(d["total_energy_pj"] - ref) <= 1e-3 * ref
    assert d["macs"] == c.reference[c.profile.mac.name]["computes"] == run.stats.macs
    for lv, spaces in d["timeloop"]["levels"].items():
        for ds, v in spaces.items():
            for k in ("reads", "fills", "updates"):
                assert v[k] == c.reference[lv]["data_spaces"][ds][k]


@pytest.mark.parametrize("mapfile", ["timeloop-mapper.map.txt", "timeloop-mapper.map.yaml"])
def test_mapper_case_from_the_printed_mapping(mapfile, capsys):
    d = _cli_json(capsys, [EY_IN / "arch", EY_IN / "prob", "--mapping", EYERISS / mapfile, "--ert", EY_ERT])
    c = TimeloopCase.load(EYERISS)
    run = TimeloopRun.load([EY_IN / "arch", EY_IN / "prob"], ert=EY_ERT, mapping=EYERISS / mapfile)
    assert c.compare(stats=run.stats).ok
    assert abs(d["total_energy_pj"] - _reference_total(EYERISS)) <= 1e-3 * _reference_total(EYERISS)
    assert d["macs"] == 924_844_032


def _check(run: TimeloopRun, cons, targets) -> list:
    from energysim.interop.timeloop.mapping import _parse_factors, _parse_perm

    problem, profile, m = run.problem, run.profile, run.mapping
    names = profile.level_names
    lms = {lm.level: lm for lm in m.levels}
    keeps = m.keeps(problem, profile)
    for c, _, path in cons:
        level = targets.get(c["target"], c["target"])
        i = names.index(level)
        lm = lms[level]
        if c["type"] in ("dataspace", "bypass", "datatype"):
            for d in c.get("keep") or []:
                assert d in keeps[i], (path, d)
            for d in c.get("bypass") or []:
                assert d not in keeps[i], (path, d)
            if "keep" in c and "bypass" not in c:
                assert set(keeps[i]) == set(c["keep"]), path
            continue
        factors = _parse_factors(c.get("factors", ""), problem.dims, path)
        raw = c.get("permutation", "")
        raw = [str(x) for x in raw] if isinstance(raw, list) else [x for x in str(raw) if x.strip(" ,")]
        if c["type"] == "temporal":
            for d, f in factors.items():
                if f == 0:  # the residual: no loop over d outside this level
                    assert all(lms[n].temporal.get(d, 1) == 1 for n in names[:i]), (path, d)
                else:
                    assert lm.temporal.get(d, 1) == f, (path, d, f, lm.temporal)
            cut = raw.index("_") if "_" in raw else len(raw)
            inner, outer = raw[:cut], raw[cut + 1:]
            loops = [d for d in reversed(lm.permutation) if lm.temporal.get(d, 1) > 1]  # inner-first
            inner = [d for d in inner if d in loops]
            outer = [d for d in outer if d in loops]
            assert loops[:len(inner)] == inner, (path, loops, inner)
            assert loops[len(loops) - len(outer):] == outer, (path, loops, outer)
        else:  # spatial
            perm = _parse_perm(c.get("permutation", ""), problem.dims, "", path)
            split = c.get("split", len(perm))
            for axis, fac in (("X", lm.spatial_x), ("Y", lm.spatial_y)):
                for d, f in fac.items():
                    assert factors.get(d, f) == f, (path, d)
                    if d in perm:
                        assert (perm.index(d) < split) == (axis == "X"), (path, axis, d)
    return cons


def _spec_constraints(paths, ert):
    from energysim.interop.timeloop.constraints import collect
    from energysim.interop.timeloop.run import read_profile
    from energysim.interop.timeloop.spec import TimeloopSpec

    spec = TimeloopSpec.read(paths, {"ERT": ert})
    _, targets, node_cons = read_profile(spec)
    return collect(spec.sections, spec.source, node_cons), targets


def test_search_under_the_spec_constraints(capsys):
    # the Eyeriss spec constrains the keeps, the spatial dimensions and the scratchpads' temporal factors and
    # loop orders: the search honours every one and finds no more energy than Timeloop's mapper
    d = _cli_json(capsys, [EY_IN, "--ert", EY_ERT, "--search"])
    assert d["macs"] == 924_844_032 and d["relaxed_constraints"] == []
    assert d["total_energy_pj"] <= 2_764_377_308.53  # Timeloop's mapper (timeloop-mapper.stats.txt)
    assert d["total_energy_pj"] <= _reference_total(EYERISS)
    run = TimeloopRun.load([EY_IN], ert=EY_ERT, search=True)
    assert run.stats.energy == pytest.approx(d["total_energy_pj"], rel=1e-9)
    cons, targets = _spec_constraints([EY_IN], EY_ERT)
    assert len(_check(run, cons, targets)) == 9
    # the scratchpads' constraints as they read: no loops at ifmap_spad, only C and R (R outside C) at
    # weights_spad, only M at psum_spad
    lms = {lm.level: lm for lm in run.mapping.levels}
    assert lms["ifmap_spad"].temporal == {}
    assert set(lms["weights_spad"].temporal) <= {"C", "R"} and set(lms["psum_spad"].temporal) <= {"M"}
    text = d["timeloop"]["mapping"]
    assert "ifmap_spad [ Inputs:" in text and "shared_glb [ Inputs:" in text and "Weights" not in text.split(
        "shared_glb")[1].split("\n")[0]
    for line in text.splitlines():
        if "Spatial-X" in line:
            assert line.split()[2] in ("Q", "M")
        if "Spatial-Y" in line:
            assert line.split()[2] in ("S", "C", "M")
    # the PE mesh's split (4) counts in the full permutation [N, P, Q, R, S, C, M], N (bound 1) included: S, C
    # and M may go on Y, so the search fills all 14 x 12 PEs as Timeloop's mapping does
    assert d["utilization"] == 1.0 and d["cycles"] == 5_505_024
    # relaxing has nothing left to relax
    d2 = _cli_json(capsys, [EY_IN, "--ert", EY_ERT, "--search", "--relax-constraints"])
    assert d2["relaxed_constraints"] == [] and d2["total_energy_pj"] == d["total_energy_pj"]


def test_temporal_constraints_fixed_residual_and_partial_orders(tmp_path):
    # on a small spec: a fixed factor, a residual (0), a partial order with Timeloop's '_' (C innermost, K
    # outermost at GlobalBuffer) and a fixed factor at the outermost level
    files, ert = _copy_case(tmp_path)
    cons = tmp_path / "constraints.yaml"
    cons.write_text("constraints:\n  targets:\n"
                    "  - {target: GlobalBuffer, type: temporal, factors: [K=2, C=0], permutation: [C, _, K]}\n"
                    "  - {target: RegisterFile, type: temporal, factors: [P=4, K=1]}\n"
                    "  - {target: MainMemory, type: temporal, factors: [P=2]}\n")
    run = TimeloopRun.load([files[0], files[1], cons], ert=ert, search=True)
    lms = {lm.level: lm for lm in run.mapping.levels}
    assert lms["GlobalBuffer"].temporal.get("K") == 2 and lms["RegisterFile"].temporal.get("P") == 4
    assert lms["MainMemory"].temporal.get("P") == 2 and "C" not in lms["MainMemory"].temporal
    assert "K" not in lms["RegisterFile"].temporal
    c, targets = _spec_constraints([files[0], files[1], cons], ert)
    assert len(_check(run, c, targets)) == 3
    # the same search without the constraints finds another mapping (they do constrain it)
    free = TimeloopRun.load([files[0], files[1]], ert=ert, search=True)
    assert free.stats.energy <= run.stats.energy


def test_spatial_split_counts_dimensions_of_bound_one():
    from energysim.interop.timeloop.constraints import collect, honour
    from energysim.interop.timeloop.run import _problem, read_profile
    from energysim.interop.timeloop.spec import TimeloopSpec

    spec = TimeloopSpec.read([EY_IN], {"ERT": EY_ERT})
    problem = _problem(spec)
    assert problem.bounds["N"] == 1
    profile, targets, node_cons = read_profile(spec)
    h = honour(collect(spec.sections, spec.source, node_cons), problem, profile, targets, relax=True)
    real = {ax: {d for d in dims if problem.bounds[d] > 1} for ax, dims in h.spatial.items()}
    assert real == {"X": {"M", "Q"}, "Y": {"S", "C", "M"}}


def test_stats_text_reads_back_as_timeloop_stats(tmp_path):
    case = MODEL_CASES[-1]
    arch, prob, mp = _inputs(case)
    assert main(["timeloop", "run", str(arch), str(prob), str(mp), "--ert", str(case / "timeloop-model.ERT.yaml"),
                 "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["report.csv", "report.json",
                                                                 "timeloop-model.map.txt", "timeloop-model.stats.txt"]
    ours = parse_stats_txt((tmp_path / "o" / "timeloop-model.stats.txt").read_text())
    theirs = parse_stats_txt(next(case.glob("*.stats.txt")).read_text())
    check_reference(ours, ["MainMemory", "GlobalBuffer", "RegisterFile"], "MACC", "ours")
    for lv in ("MainMemory", "GlobalBuffer", "RegisterFile"):
        for ds, v in theirs[lv]["data_spaces"].items():
            for k in ("reads", "fills", "updates"):
                assert ours[lv]["data_spaces"][ds][k] == v[k]
    assert ours["_summary"]["cycles"] == theirs["_summary"]["cycles"]
    assert ours["MACC"]["computes"] == theirs["MACC"]["computes"]


def _copy_case(tmp_path, case=MODEL_CASES[-1]):
    arch, prob, mp = _inputs(case)
    for p in (arch, prob, mp):
        shutil.copy(p, tmp_path / p.name)
    return [tmp_path / p.name for p in (arch, prob, mp)], case / "timeloop-model.ERT.yaml"


@pytest.mark.parametrize("which, old, new, expect", [
    (0, "depth: 32768", "dept: 32768", "unknown key 'architecture.nodes[3].attributes.dept' = 32768 (did you mean 'depth'?)"),
    (0, "class: SRAM", "clas: SRAM", "unknown key 'architecture.nodes[3].clas'"),
    (0, "spatial: {meshX: 16}", "spatial: {meshx: 16}", "unknown key 'architecture.nodes[2].spatial.meshx'"),
    (1, "read_write: True", "read_write: yes please", "'problem.shape.data_spaces[2].read_write' = 'yes please'"),
    (0, "class: regfile", "class: XY_NoC", "'architecture.nodes[4].class' = 'XY_NoC': network components"),
    (0, "depth: 32768", "depth: 32768\n      network_read: D2A_NoC",
     "'architecture.nodes[3].attributes.network_read' = 'D2A_NoC': network models"),
    (1, "C: 32", "C: thirty-two", "'problem.instance.C' = 'thirty-two' must be an integer"),
    (2, "factors: R=3 P=1 K=2 C=32", "factors: R=3 P=1 K=2 C=16", "multiply to"),
    (2, "factors: R=1 P=1 K=1 C=1", "factors: R=1 P=2 K=1 C=1", ("factors of dimension P multiply to 32 "
     "('mapping[0].factors' P=2 x 'mapping[3].factors' P=16) but its bound is 16; imperfect factorizations")),
    (2, "permutation: PRKC\n\n", "permutation: PRKX\n\n", "unknown dimension(s) ['X']"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, which, old, new, expect):
    files, ert = _copy_case(tmp_path)
    text = files[which].read_text()
    assert old in text
    files[which].write_text(text.replace(old, new, 1))
    assert main(["timeloop", "run", *map(str, files), "--ert", str(ert)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expect in err, err
    assert files[which].name in err


def test_missing_energy_names_the_component(tmp_path, capsys):
    files, ert = _copy_case(tmp_path)
    assert main(["timeloop", "run", *map(str, files)]) == 2
    assert "no energy for component 'MainMemory'" in capsys.readouterr().err
    e = tmp_path / "ert.yaml"
    e.write_text(ert.read_text().replace("System_top_level.GlobalBuffer", "System_top_level.GlobalBuf"))
    assert main(["timeloop", "run", *map(str, files), "--ert", str(e)]) == 2
    assert "no ERT table for storage level 'GlobalBuffer'" in capsys.readouterr().err


def test_constraints_we_cannot_honour(tmp_path, capsys):
    files, ert = _copy_case(tmp_path)
    cons = tmp_path / "constraints.yaml"
    cons.write_text("constraints:\n  targets:\n  - {target: PE, type: spatial, factors: [C=16]}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    err = capsys.readouterr().err
    assert "constraints.yaml: 'constraints.targets[0].factors'" in err and "spatial factors {'C': 16} are fixed" in err
    cons.write_text("constraints:\n  targets:\n  - {target: PE, type: utilization, min: 0.5}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    assert "'constraints.targets[0].min' = 0.5 cannot be honoured" in capsys.readouterr().err
    # a temporal factor that does not divide the bound (Timeloop's imperfect factorization)
    cons.write_text("constraints:\n  targets:\n  - {target: GlobalBuffer, type: temporal, factors: [P=3]}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "constraints.yaml: 'constraints.targets[0].factors' = ['P=3'] cannot be " \
        "honoured" in err and "P=3 (bound 16)" in err, err
    # two constraints on one level that disagree
    cons.write_text("constraints:\n  targets:\n  - {target: GlobalBuffer, type: temporal, factors: [K=2]}\n"
                    "  - {target: GlobalBuffer, type: temporal, factors: [K=4]}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    assert "'constraints.targets[1].factors' = ['K=4'] cannot be honoured" in capsys.readouterr().err
    # an unknown constraint type
    cons.write_text("constraints:\n  targets:\n  - {target: GlobalBuffer, type: sequential, factors: [K=2]}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    assert "'constraints.targets[0].type' = 'sequential'" in capsys.readouterr().err
    cons.write_text("constraints:\n  targets:\n  - {target: PE, type: spatial, factor: [C=1]}\n")
    assert main(["timeloop", "run", str(files[0]), str(files[1]), str(cons), "--ert", str(ert), "--search"]) == 2
    assert "unknown key 'constraints.targets[0].factor'" in capsys.readouterr().err
    # honoured: C may not be spatial, GlobalBuffer keeps only Weights and Inputs
    cons.write_text("constraints:\n  targets:\n  - {target: PE, type: spatial, factors: [C=1]}\n"
                    "  - {target: GlobalBuffer, type: dataspace, bypass: [Outputs]}\n")
    run = TimeloopRun.load([files[0], files[1], cons], ert=ert, search=True)
    sp = run.mapping.resolved(run.profile)
    assert all("C" not in lm.spatial() for lm in sp)
    assert "Outputs" not in run.mapping.keeps(run.problem, run.profile)[run.profile.level_names.index("GlobalBuffer")]


def test_mapping_and_search_are_exclusive(tmp_path, capsys):
    files, ert = _copy_case(tmp_path)
    assert main(["timeloop", "run", str(files[0]), str(files[1]), "--mapping", str(files[2]), "--search",
                 "--ert", str(ert)]) == 2
    assert main(["timeloop", "run", str(files[0]), str(files[1]), "--ert", str(ert)]) == 2
    assert "no mapping" in capsys.readouterr().err


def test_profile_from_accelergy_is_the_shipped_eyeriss(tmp_path, capsys):
    from energysim.arch import load_profile

    out = tmp_path / "p.yaml"
    art = tmp_path / "art.yaml"
    summary = (EYERISS / "timeloop-mapper.ART_summary.yaml").read_text()
    art.write_text(summary.replace("ART_summary:", "ART:").replace("table_summary:", "tables:"))
    assert main(["profiles", "from-accelergy", str(EY_IN / "arch"), "--ert", str(EY_ERT), "--art", str(art),
                 "--out", str(out)]) == 0
    built, shipped = load_profile(str(out)), load_profile("eyeriss-32nm")
    for a, b in zip(built.levels, shipped.levels, strict=True):
        assert (a.name, a.depth, a.block_size, a.instances, a.read_pj, a.write_pj, a.update_pj, a.leak_pj,
                a.kept()) == (b.name, b.depth, b.block_size, b.instances, b.read_pj, b.write_pj, b.update_pj,
                              b.leak_pj, b.kept())
    assert built.mac.energy_pj == shipped.mac.energy_pj and built.technology == "32nm"
    assert built.levels[1].area_um2_per_bit == pytest.approx(217363.36892 / (131072 * 8))
    assert main(["profiles", "from-accelergy", str(EY_IN / "arch"), "--out", str(out)]) == 2


@pytest.mark.parametrize("case", sorted(TIMELOOP.glob("ispass*")), ids=lambda p: p.name)
def test_v04_processed_inputs_run_too(case):
    """The v0.4 ``subtree`` form (here Timeloop's processed input, as a v0.4 user writes it) is read as well."""
    ert = next(case.glob("*.ERT.yaml"))
    maps = list(case.glob("*.map.yaml"))
    run = TimeloopRun.load([case / "parsed-processed-input.yaml"], ert=ert, mapping=maps[0] if maps else None)
    assert TimeloopCase.load(case).compare(stats=run.stats).ok


def test_unknown_sections_and_tags(tmp_path, capsys):
    files, ert = _copy_case(tmp_path)
    extra = tmp_path / "extra.yaml"
    extra.write_text("mappr: {algorithm: random}\n")
    assert main(["timeloop", "run", *map(str, files), str(extra), "--ert", str(ert)]) == 2
    assert "extra.yaml: unknown key 'mappr'" in capsys.readouterr().err
    files[0].write_text(files[0].read_text().replace("!Container", "!Contianer", 1))
    assert main(["timeloop", "run", *map(str, files), "--ert", str(ert)]) == 2
    assert "unknown tag !Contianer" in capsys.readouterr().err

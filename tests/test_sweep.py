"""Design sweeps: grid parsing, profile edits, area, Pareto front, budgets, local vs Dask, bad inputs."""

import json

import pandas as pd
import pytest

from energysim import EnergySimError
from energysim.arch.area import area_breakdown_mm2, area_mm2
from energysim.cli import main as cli_main
from energysim.arch import HardwareProfile, load_profile
from energysim.analysis.sweep import Design, make_grid, make_profile, pareto_front, run_sweep, within_budget
from energysim.workload.trace import trace_model

SWEEP_COLUMNS = ["design", "label", "pes", "energy", "cycles", "area_mm2", "status", "error"]


@pytest.fixture(scope="module")
def net():
    return trace_model("digits_cnn")


def test_grid_is_the_cartesian_product():
    g = make_grid("4x4,8x8", "16,32", None, "8,16")
    assert len(g) == 8 and g[0] == Design((4, 4), 16.0, None, 8)
    assert make_grid() == [Design()]
    with pytest.raises(EnergySimError, match="--pe is empty"):
        make_grid(pe=",")
    with pytest.raises(EnergySimError, match="ROWSxCOLS"):
        make_grid(pe="12by14")
    with pytest.raises(EnergySimError, match="not a number"):
        make_grid(glb_kb="big")


def test_make_profile_edits_the_right_fields():
    base = load_profile("eyeriss-65nm")
    p = make_profile(base, Design(pe=(16, 8), glb_kb=64, rf_words=520, bits=8))
    assert (p.mac.mesh_x, p.mac.mesh_y, p.mac.instances) == (8, 16, 128)
    assert p.level("PE_columns").instances == 8 and p.level("filter_spad").instances == 128
    assert p.level("GLB").depth == 64 * 1024  # 64 kB of 8-bit words
    assert p.level("GLB").capacity_split["Weights"] == 4096 * 2 * 65536 // (55296 * 2)
    assert sum(p.level(n).depth for n in ("ifmap_spad", "filter_spad", "psum_spad")) == pytest.approx(520, abs=2)
    assert p.word_bits == 8 and p.mac.word_bits == 8
    # same bits per block: a 16-bit RF block now carries two 8-bit words at the same energy
    assert p.level("filter_spad").block_size == 2 and p.level("filter_spad").read_pj == 1.0
    # area grows with PEs and storage
    assert area_mm2(make_profile(base, Design(pe=(24, 28)))) > area_mm2(base)
    bd = area_breakdown_mm2(base)
    assert bd["DRAM"] == 0 and bd["GLB"] > 0 and bd["mac"] > 0


def test_area_fields_override_defaults():
    d = load_profile("simple-45nm").model_dump(by_alias=True, exclude_none=True)
    d["levels"][1]["area_um2_per_bit"] = 1.0
    d["mac"]["area_um2"] = 1000.0
    p = HardwareProfile.from_dict(d)
    bd = area_breakdown_mm2(p)
    assert bd["GlobalBuffer"] == pytest.approx(65536 * 16 * 1.0e-6)
    assert bd["mac"] == pytest.approx(256 * 1000e-6)


def test_invalid_design_values_are_reported():
    base = load_profile("eyeriss-65nm")
    with pytest.raises(EnergySimError, match="rf_words"):
        make_profile(base, Design(rf_words=2))
    with pytest.raises(EnergySimError, match="glb_kb"):
        make_profile(base, Design(glb_kb=0))


def test_pareto_and_budget():
    df = pd.DataFrame({"energy": [1, 2, 3, 1, 5], "cycles": [5, 1, 3, 5, 5], "area_mm2": [1, 1, 3, 1, 0.5],
                       "status": ["ok"] * 4 + ["ok"], "label": list("abcde")})
    front = pareto_front(df)
    assert sorted(front["label"]) == ["a", "b", "d", "e"]  # c is dominated by b; a and d tie
    assert list(within_budget(df, max_energy=2, max_cycles=4)["label"]) == ["b"]
    assert within_budget(df, max_area_mm2=0.1).empty


def _small_grid():
    return make_grid("8x8,16x16", "16,64", None, "8,16")  # 8 designs


def test_sweep_local_pool_and_dask_agree(net):
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    designs = _small_grid()
    serial = run_sweep(net, "simple-45nm", designs, "energy", "ws-search", workers=1)
    assert len(serial) == 8 and (serial["status"] == "ok").all()
    pool = run_sweep(net, "simple-45nm", designs, "energy", "ws-search", workers=2)
    pd.testing.assert_frame_equal(serial[SWEEP_COLUMNS], pool[SWEEP_COLUMNS])
    with LocalCluster(n_workers=2, processes=False, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        seen = []
        dk = run_sweep(net, "simple-45nm", designs, "energy", "ws-search", dask=client,
                       progress=lambda i, n, r: seen.append(i))
    assert seen == list(range(1, 9))
    pd.testing.assert_frame_equal(serial[SWEEP_COLUMNS], dk[SWEEP_COLUMNS])
    # bigger arrays are faster, 8-bit designs cheaper
    assert serial.loc[serial.pes == 256, "cycles"].min() <= serial.loc[serial.pes == 64, "cycles"].min()


def test_cli_sweep_outputs_and_budgets(net, tmp_path, capsys):
    out = tmp_path / "sw"
    rc = cli_main(["sweep", "digits_cnn", "--profile", "simple-45nm", "--pe", "8x8,16x16", "--glb-kb", "16,64",
                   "--bits", "8,16", "--dataflow", "ws-search", "--max-energy-pj", "1", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr()
    assert "no design meets the budget" in text.out
    assert text.err == ""  # progress shows on a terminal only
    df = pd.read_csv(out / "designs.csv")
    assert len(df) == 8
    assert (out / "pareto.png").stat().st_size > 10_000
    assert len(pd.read_csv(out / "pareto.csv")) >= 1
    # JSON summary and a budget some designs meet; the new run replaces the files of the first
    rc = cli_main(["sweep", "digits_cnn", "--profile", "eyeriss-65nm", "--rf-words", "3,300", "--dataflow",
                   "ws-search", "--max-area-mm2", "100", "--out", str(out), "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["designs"] == 2 and s["within_budget"] == s["valid"] and s["kind"] == "energysim.sweep"
    assert len(pd.read_csv(out / "designs.csv")) == 2
    # a grid value that no design can have is an input error, named before any design is mapped
    rc = cli_main(["sweep", "digits_cnn", "--profile", "eyeriss-65nm", "--rf-words", "2,300", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "rf_words = 2" in err
    assert len(pd.read_csv(out / "designs.csv")) == 2  # the previous run's files are untouched


def test_cli_sweep_bad_inputs(tmp_path, capsys):
    rc = cli_main(["sweep", "digits_cnn", "--pe", "", "--out", str(tmp_path)])
    assert rc == 2 and "empty" in capsys.readouterr().err
    rc = cli_main(["sweep", "digits_cnn", "--profile", "simple-45nm", "--pe", "8x8", "--dataflow", "ws-search",
                   "--dask", "tcp://127.0.0.1:9", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot reach Dask scheduler" in err[0]


def test_pool_tasks_keep_designs_that_differ_in_buffer_sizes_together():
    from energysim.analysis.sweep.run import chunks

    designs = make_grid("8x8,16x16", "32,64,108", "130,260", "8,16")  # 4 (pe, bits) groups of 6
    tasks = chunks(designs, workers=2)
    assert sorted(i for t in tasks for i, _ in t) == list(range(len(designs)))
    assert all(len({(d.pe, d.bits) for _, d in t}) == 1 for t in tasks)
    assert max(len(t) for t in tasks) == 3  # 24 designs, 2 workers: at most 24 / 8 per task
    assert [len(t) for t in chunks(designs[:1], workers=4)] == [1]

"""``energysim timeloop export``: our profile, layers and mappings as Timeloop v4 inputs; read back by
``timeloop run`` they give our own numbers exactly, on every MAC layer of AlexNet and ResNet-18."""

import json

import pytest
import yaml

from energysim.analysis.estimate import estimate
from energysim.arch import load_profile
from energysim.cli import main
from energysim.cli.common import load_network
from energysim.interop.timeloop.export_files import export_network
from energysim.interop.timeloop.run import TimeloopRun
from energysim.interop.timeloop.spec import load_yaml


@pytest.mark.parametrize("model, profile, dataflow", [
    ("alexnet", "eyeriss-32nm", "rs"),        # fan-outs at dummy levels (Timeloop's own Eyeriss layout)
    ("resnet18", "eyeriss-32nm", "rs"),
    ("alexnet", "simple-45nm", "ws"),         # a fan-out between two storage levels: an added container
    ("resnet18", "tpu-like", "ws"),
])
def test_round_trip_reproduces_our_numbers(tmp_path, model, profile, dataflow):
    net = load_network(model, 1, False)
    prof = load_profile(profile)
    direct = {l.name: l for l in estimate(net, prof, dataflow, mac_layers_only=True).layers}
    index = export_network(net, prof, dataflow, tmp_path)
    assert len(index["layers"]) == len(direct) == sum(1 for l in net if l.has_macs)
    for entry in index["layers"]:
        d = tmp_path / entry["folder"]
        run = TimeloopRun.load([tmp_path / "arch.yaml", tmp_path / "ERT.yaml", d / "problem.yaml",
                                d / "mapping.yaml"])
        ours, theirs = run.layer_energy(), direct[entry["layer"]]
        assert (ours.energy, ours.macs, ours.cycles) == (theirs.energy, theirs.macs, theirs.cycles), entry["layer"]
        real = theirs.counts[theirs.counts["energy"] != 0].reset_index(drop=True)
        back = ours.counts[ours.counts["energy"] != 0].reset_index(drop=True)
        assert back[["level", "dataspace", "reads", "fills", "updates"]].equals(
            real[["level", "dataspace", "reads", "fills", "updates"]])
        assert entry["energy_pj"] == theirs.energy


def test_export_cli_writes_timeloop_v4_files(tmp_path, capsys):
    out = tmp_path / "tl"
    assert main(["timeloop", "export", "alexnet", "--profile", "eyeriss-32nm", "--dataflow", "rs", "--out",
                 str(out), "--json"]) == 0
    index = json.loads(capsys.readouterr().out)
    assert (out / "index.json").is_file() and len(index["layers"]) == 8
    arch_text = (out / "arch.yaml").read_text()
    assert "!Container" in arch_text and "!Component" in arch_text
    arch = load_yaml(out / "arch.yaml")["architecture"]
    containers = [n["name"] for n in arch["nodes"] if n["!"] == "Container"]
    assert containers == ["system", "PE_column", "PE"]  # Timeloop recreates inter_PE_column_spatial, inter_PE_spatial
    first = out / index["layers"][0]["folder"]
    prob = yaml.safe_load((first / "problem.yaml").read_text())["problem"]
    assert prob["instance"]["M"] == 96 and {d["name"] for d in prob["shape"]["data_spaces"]} == {
        "Weights", "Inputs", "Outputs"}
    assert main(["timeloop", "run", str(out / "arch.yaml"), str(out / "ERT.yaml"), str(first / "problem.yaml"),
                 str(first / "mapping.yaml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_energy_pj"] == index["layers"][0]["energy_pj"]


def test_what_timeloop_cannot_hold_is_an_error(tmp_path, capsys):
    assert main(["timeloop", "export", "alexnet", "--profile", "eyeriss-65nm", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "cannot be exported to Timeloop" in err and "network_hop_pj" in err and "RF access" in err
    assert not (tmp_path / "x").exists()

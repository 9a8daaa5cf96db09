"""``timeloop export``: a network's MAC layers, mapped on a profile with a dataflow, written as Timeloop v4
input files (``export.py`` builds them):

    DIR/arch.yaml                 the architecture (v4 nodes)
    DIR/ERT.yaml                  its energies (Accelergy's ERT format, pJ per block access)
    DIR/layers/<layer>/problem.yaml, mapping.yaml
    DIR/index.json                per layer: its folder, MACs, and our energy (pJ), cycles for the user to diff

so ``timeloop-model DIR/arch.yaml DIR/ERT.yaml DIR/layers/L/problem.yaml DIR/layers/L/mapping.yaml`` (or our
``energysim timeloop run`` on the same files) evaluates the same design. Layers are priced densely (as
Timeloop does); layers without MACs are listed in ``index.json`` as not exported.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from energysim.arch import HardwareProfile
from energysim.interop.timeloop.export import architecture, ert, mapping, problem
from energysim.mapping.dataflow import mapping_for
from energysim.model.counts import evaluate
from energysim.model.layer_energy import LayerEnergy
from energysim.model.problem import Problem


class _Dumper(yaml.SafeDumper):
    """Writes ``{"!": "Container", ...}`` mappings as Timeloop v4 tagged nodes."""


def _represent(dumper: yaml.SafeDumper, data: dict):
    tag = data.get("!")
    if tag is None:
        return dumper.represent_dict(data)
    body = {k: v for k, v in data.items() if k != "!"}
    return dumper.represent_mapping(f"!{tag}", body)


_Dumper.add_representer(dict, _represent)


def dump_yaml(data) -> str:
    """YAML text of ``data`` with v4 node tags, in insertion order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=120)


def safe_name(name: str) -> str:
    """A layer name as a folder name (anything but letters, digits, ``.``, ``_``, ``-`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "layer"


def export_network(net, profile: HardwareProfile, dataflow: str, out: Path) -> dict:
    """Write the files of the module docstring under ``out`` (an existing, empty staging folder); returns
    the index (also written as ``index.json``)."""
    from energysim.analysis.schema import dumps

    (out / "arch.yaml").write_text(dump_yaml({"architecture": architecture(profile)}))
    (out / "ERT.yaml").write_text(dump_yaml({"ERT": ert(profile)}))
    layers, skipped, used = [], [], set()
    for layer in net:
        if not layer.has_macs:
            skipped.append(layer.name)
            continue
        pb = Problem.from_layer(layer)
        m = mapping_for(pb, profile, dataflow)
        stats = evaluate(pb, profile, m, name=layer.name)
        folder = safe_name(layer.name)
        while folder in used:
            folder += "_"
        used.add(folder)
        d = out / "layers" / folder
        d.mkdir(parents=True)
        (d / "problem.yaml").write_text(dump_yaml({"problem": problem(pb)}))
        (d / "mapping.yaml").write_text(dump_yaml({"mapping": mapping(m, pb, profile)}))
        le = LayerEnergy.from_stats(layer.name, layer.kind, stats, profile)
        layers.append({"layer": layer.name, "folder": f"layers/{folder}", "macs": stats.macs,
                       "energy_pj": le.energy, "cycles": stats.cycles})
    index = {"profile": profile.name, "dataflow": dataflow, "network": net.name, "layers": layers,
             "not_exported_without_macs": skipped}
    (out / "index.json").write_text(dumps(index, indent=1) + "\n")
    return index

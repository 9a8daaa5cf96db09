"""How layers without MACs are charged (pooling, add, concat, activation, norm).

Their data movement follows a streaming model: every input word is read once from the outermost level and
passes once through each on-chip level that keeps Inputs; every output word is written once through the levels
that keep Outputs back to the outermost level, through shared levels only (single-instance buffers; PE-local
storage is not involved). Their arithmetic (comparisons, additions) is not priced. An activation (or
unfoldable norm) that directly follows a MAC layer whose output feeds nothing else is applied as that layer's
outputs drain, as accelerators do; it is listed with zero energy and a note rather than charged a DRAM round
trip.
"""

from __future__ import annotations

import math

from energysim.arch import HardwareProfile
from energysim.model.layer_energy import LayerEnergy
from energysim.model.pricing import access_energy
from energysim.workload import Layer, Network


def streaming_energy(layer: Layer, profile: HardwareProfile) -> LayerEnergy:
    """Data movement of a layer without MACs (see the module docstring). Counts in words, energy in the profile's unit."""
    n_in, n_out = layer.input_count, layer.output_count
    rows = []
    cycles = 0.0
    for i, lv in enumerate(profile.levels):
        if lv.cls == "dummy" or lv.instances > 1:
            continue
        kept = lv.kept()
        outer = i == 0
        for ds, n in (("Inputs", n_in), ("Outputs", n_out)):
            if ds not in kept:
                continue
            if ds == "Inputs":
                reads, fills, updates = n, (0 if outer else n), 0
            else:
                reads, fills, updates = (0 if outer else n), 0, n
            rows.append((lv.name, ds, reads, fills, updates, access_energy(lv, reads, fills, updates)))
        if outer:
            bw = min(x for x in (lv.read_bandwidth, lv.write_bandwidth, float("inf")) if x)
            cycles = max(cycles, (n_in + n_out) / bw if bw != float("inf") else 0.0)
    return LayerEnergy(layer.name, layer.kind, 0, rows, 0.0, math.ceil(cycles), 0.0,
                       note="no MACs: data movement only (streaming model)")


def applied_in_place(network: Network, layer: Layer) -> str | None:
    """The MAC layer whose output ``layer`` (an activation/norm) is applied to as it drains, if any."""
    # the Network's own adjacency, not ``network.graph``: building the networkx graph (and importing networkx,
    # about a quarter of a second) is not needed to price a layer
    if layer.kind not in ("activation", "norm") or not network.has_node(layer.name):
        return None
    preds = network.predecessors(layer.name)
    if len(preds) != 1:
        return None
    src = network[preds[0]]
    if src.has_macs and network.out_degree(src.name) == 1:
        return src.name
    return None


def in_place_energy(layer: Layer, producer: str) -> LayerEnergy:
    """The zero-energy entry of an activation/norm applied to ``producer``'s outputs as they drain."""
    return LayerEnergy(layer.name, layer.kind, 0, [], 0.0, 0, 0.0,
                       note=f"applied to the outputs of {producer} as they drain (no extra data movement)")

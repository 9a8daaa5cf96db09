"""Whole-network estimates: map every layer, count, price, and collect an ``EnergyReport``.

MAC layers go through the loop-nest engine (``counts.evaluate``) with a dataflow template's mapping.
Layers without MACs (pooling, add, concat, activation, norm) are charged their data movement with a
streaming model: every input word is read once from the outermost level and passes once through each
on-chip level that keeps Inputs; every output word is written once through the levels that keep Outputs
back to the outermost level, through shared levels only (single-instance buffers; PE-local storage is not
involved). Their arithmetic (comparisons, additions) is not priced. An activation (or unfoldable norm) that
directly follows a MAC layer whose output feeds nothing else is applied as that layer's outputs drain, as
accelerators do; it is listed with zero energy and a note rather than charged a DRAM round trip.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

from energysim.model.counts import LayerStats, evaluate
from energysim.mapping.templates import map_problem
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.arch.profile import HardwareProfile, load_profile
from energysim.analysis.report import EnergyReport, LayerEnergy
from energysim.workload.graph import Layer, Network

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd

#: A hook that may adjust a MAC layer's result (e.g. codebook-aware weight costs). It receives the layer,
#: its problem, mapping and engine stats plus the profile, and returns the ``LayerEnergy`` to report.
LayerHook = Callable[[Layer, Problem, Mapping, LayerStats, HardwareProfile], LayerEnergy]


def network_energy_pj(counts: pd.DataFrame, profile: HardwareProfile) -> float:
    """NoC energy of a count table (columns ``level``, ``reads``, ``updates``; totals over instances): at a level
    with ``network_hop_pj``, every word it reads out to the level below or receives back as an update crosses the
    network under it once (a multicast counts once). pJ."""
    total = 0.0
    for lv in profile.levels:
        if lv.network_hop_pj:
            mine = counts[counts["level"] == lv.name]
            total += lv.network_hop_pj * float(mine["reads"].sum() + mine["updates"].sum())
    return total


def layer_energy_from_stats(layer: Layer, stats: LayerStats, profile: HardwareProfile) -> LayerEnergy:
    """The report view of engine stats: totals over utilized instances; leakage and NoC as extra terms."""
    df = stats.to_frame()
    import pandas as pd
    counts = pd.DataFrame(
        {
            "level": df["level"],
            "dataspace": df["dataspace"],
            "reads": df["reads_total"],
            "fills": df["fills_total"],
            "updates": df["updates_total"],
            "energy_pj": df["energy_pj"],
        }
    )
    extra = {"leakage": stats.leak_energy_pj} if stats.leak_energy_pj else {}
    noc = network_energy_pj(counts, profile)
    if noc:
        extra["network"] = noc
    return LayerEnergy(
        name=layer.name,
        kind=layer.kind,
        macs=stats.macs,
        counts=counts,
        compute_energy_pj=stats.mac_energy_pj,
        cycles=stats.cycles,
        utilization=stats.utilization,
        extra_pj=extra,
    )


def streaming_energy(layer: Layer, profile: HardwareProfile) -> LayerEnergy:
    """Data movement of a layer without MACs (see the module docstring). Counts in words, energy in pJ."""
    n_in, n_out = layer.input_count, layer.output_count
    rows = []
    cycles = 0.0
    for i, lv in enumerate(profile.levels):
        if lv.cls == "dummy" or lv.instances > 1:
            continue
        kept = lv.kept()
        B = lv.block_size
        outer = i == 0
        for ds, n in (("Inputs", n_in), ("Outputs", n_out)):
            if ds not in kept:
                continue
            if ds == "Inputs":
                reads, fills, updates = n, (0 if outer else n), 0
            else:
                reads, fills, updates = (0 if outer else n), 0, n
            e = math.ceil(reads / B) * lv.read_pj + math.ceil(fills / B) * lv.write_pj
            e += math.ceil(updates / B) * lv.update_pj
            rows.append({"level": lv.name, "dataspace": ds, "reads": reads, "fills": fills, "updates": updates,
                         "energy_pj": e})
        if outer:
            bw = min(x for x in (lv.read_bandwidth, lv.write_bandwidth, float("inf")) if x)
            cycles = max(cycles, (n_in + n_out) / bw if bw != float("inf") else 0.0)
    import pandas as pd
    counts = pd.DataFrame(rows, columns=["level", "dataspace", "reads", "fills", "updates", "energy_pj"])
    return LayerEnergy(layer.name, layer.kind, 0, counts, 0.0, math.ceil(cycles), 0.0,
                       note="no MACs: data movement only (streaming model)")


def applied_in_place(network: Network, layer: Layer) -> str | None:
    """The MAC layer whose output ``layer`` (an activation/norm) is applied to as it drains, if any."""
    if layer.kind not in ("activation", "norm") or layer.name not in network.graph:
        return None
    preds = list(network.graph.predecessors(layer.name))
    if len(preds) != 1:
        return None
    src = network[preds[0]]
    if src.has_macs and network.graph.out_degree(src.name) == 1:
        return src.name
    return None


def _in_place(layer: Layer, producer: str) -> LayerEnergy:
    import pandas as pd
    counts = pd.DataFrame(columns=["level", "dataspace", "reads", "fills", "updates", "energy_pj"])
    return LayerEnergy(layer.name, layer.kind, 0, counts, 0.0, 0, 0.0,
                       note=f"applied to the outputs of {producer} as they drain (no extra data movement)")


def mapping_for(problem: Problem, profile: HardwareProfile, dataflow: str) -> Mapping:
    """The mapping ``dataflow`` names: a template (rs, ws, os, nlr) or a mapping search (search, rs-search,
    ws-search, os-search; energy objective)."""
    if dataflow.endswith("search"):
        from energysim.mapping.search.mapper import search_mapping  # the mapper imports the templates; import it only when asked

        return search_mapping(problem, profile, dataflow)
    return map_problem(problem, profile, dataflow)


def estimate_layer(
    layer: Layer, profile: HardwareProfile, dataflow: str = "rs", hook: LayerHook | None = None,
    mapping: Mapping | None = None,
) -> LayerEnergy:
    """Energy of one layer. MAC layers are mapped with ``dataflow`` unless an explicit ``mapping`` is given."""
    if not layer.has_macs:
        if layer.kind == "unsupported":
            raise EnergySimError(
                f"layer {layer.name!r} is an unsupported op ({layer.op}); trace with a supported op or drop it "
                "explicitly"
            )
        return streaming_energy(layer, profile)
    problem = Problem.from_layer(layer)
    m = mapping if mapping is not None else mapping_for(problem, profile, dataflow)
    stats = evaluate(problem, profile, m, name=layer.name)
    return hook(layer, problem, m, stats, profile) if hook else layer_energy_from_stats(layer, stats, profile)


def estimate(
    network: Network,
    profile: str | HardwareProfile,
    dataflow: str = "rs",
    *,
    hook: LayerHook | None = None,
    mac_layers_only: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    sparsity=None,
    bits=None,
) -> EnergyReport:
    """Energy report of ``network`` on ``profile`` with ``dataflow`` (rs, ws, os, nlr, or a mapping search:
    search, rs-search, ws-search, os-search) for every layer.

    ``hook`` lets a caller replace a MAC layer's pricing (used for codebook-compressed weights);
    ``mac_layers_only`` skips layers without MACs; ``progress(i, n, name)`` is called before each layer.
    ``sparsity`` (an ``energysim.sparse_costs.SparseOptions``: densities, gating/skipping, run-length coding)
    and ``bits`` (a ``BitWidths`` or ``"w=8,i=8,o=16"``) apply ``sparse_costs`` on top of the dense counts
    (before ``hook``); without them a profile's own ``sparsity`` section is applied, and a profile without
    one gives the dense counts unchanged.
    """
    prof = load_profile(profile)
    opts = None
    if sparsity is not None or bits is not None or prof.sparsity is not None:
        from dataclasses import replace as _replace

        from energysim.costs.sparsity.transform import BitWidths, SparseOptions, apply_streaming, effective_profile, sparse_hook
        from energysim.costs.sparsity.rlc import validate_densities

        opts = sparsity if sparsity is not None else SparseOptions.from_profile(prof)
        if bits is not None:
            opts = _replace(opts, bits=BitWidths.parse(bits))
        validate_densities(opts.densities, network)
        prof = effective_profile(prof, opts.bits)
        hook = sparse_hook(opts, hook)
    layers = [l for l in network if l.has_macs or not mac_layers_only]
    out = []
    for i, layer in enumerate(layers):
        if progress:
            progress(i, len(layers), layer.name)
        producer = applied_in_place(network, layer)
        le = _in_place(layer, producer) if producer else estimate_layer(layer, prof, dataflow, hook)
        if opts is not None and not producer and not layer.has_macs:
            le = apply_streaming(le, layer, prof, opts)
        out.append(le)
    batch = network.input_shape[0] if network.input_shape else 1
    return EnergyReport(network.name, prof.name, dataflow, batch, out, prof.energy_unit)

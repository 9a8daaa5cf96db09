"""Whole-network estimates: map every layer, count, apply the cost extensions, price, and collect an
``EnergyReport``.

One pass per layer:

1. MAC layers are mapped (``energysim.mapping.dataflow.mapping_for``: a search, or a fixed template) and
   counted by the engine (``energysim.model.counts.evaluate``); layers without MACs are charged by the
   streaming model, or applied in place as a MAC layer's outputs drain (``energysim.model.streaming``).
2. Sparsity and bit widths (``energysim.costs.sparsity``), when given or when the profile has a ``sparsity``
   section, transform those counts. Bit widths also change how many values a level holds, so the mapping is
   made on the profile with capacities in values of those widths (``effective_profile``).
3. The counts are priced (``LayerEnergy.from_stats``), or by a ``hook`` that prices a MAC layer itself
   (``energysim.costs.codebook.CodebookCosts`` for codebook-compressed weights).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from energysim.analysis.report import EnergyReport
from energysim.arch import HardwareProfile, load_profile
from energysim.costs.sparsity import (
    BitWidths,
    SparseOptions,
    apply,
    apply_streaming,
    effective_profile,
    validate_densities,
)
from energysim.errors import EnergySimError
from energysim.mapping.dataflow import check_dataflow, expect, mapping_for
from energysim.model.counts import evaluate
from energysim.model.layer_energy import LayerEnergy
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats
from energysim.model.streaming import applied_in_place, in_place_energy, streaming_energy
from energysim.workload import Layer, Network

#: A hook that prices a MAC layer itself (e.g. codebook-aware weight costs). It receives the layer, its
#: problem, mapping and (sparsity-transformed) engine stats plus the profile, and returns the ``LayerEnergy``.
LayerHook = Callable[[Layer, Problem, Mapping, LayerStats, HardwareProfile], LayerEnergy]


def _layer(layer: Layer, profile: HardwareProfile, dataflow: str, hook: LayerHook | None,
           mapping: Mapping | None, sparsity: SparseOptions | None) -> LayerEnergy:
    """``estimate_layer`` on a profile already in values of the sparsity options' bit widths."""
    if not layer.has_macs:
        if layer.kind == "unsupported":
            raise EnergySimError(
                f"layer {layer.name!r} is an unsupported op ({layer.op}); trace with a supported op or drop it "
                "explicitly"
            )
        le = streaming_energy(layer, profile)
        le = apply_streaming(le, layer, profile, sparsity) if sparsity is not None else le
        return le.with_traffic(profile)
    problem = Problem.from_layer(layer)
    m = mapping if mapping is not None else mapping_for(problem, profile, dataflow)
    stats = evaluate(problem, profile, m, name=layer.name)
    if sparsity is not None:
        stats = apply(stats, problem, profile, sparsity, layer.name)
    le = hook(layer, problem, m, stats, profile) if hook else LayerEnergy.from_stats(
        layer.name, layer.kind, stats, profile, layer.data_space_labels)
    return le.with_traffic(profile, stats)


def estimate_layer(
    layer: Layer, profile: HardwareProfile, dataflow: str = "rs", hook: LayerHook | None = None,
    mapping: Mapping | None = None, sparsity: SparseOptions | None = None,
) -> LayerEnergy:
    """Energy of one layer. MAC layers are mapped with ``dataflow`` (the names of ``estimate``) unless an explicit
    ``mapping`` is given (a mapping made for the profile in values of ``sparsity.bits`` when those differ from the
    profile's)."""
    if sparsity is not None:
        profile = effective_profile(profile, sparsity.bits)
    return _layer(layer, profile, dataflow, hook, mapping, sparsity)


def estimate(
    network: Network,
    profile: str | HardwareProfile,
    dataflow: str = "rs",
    *,
    hook: LayerHook | None = None,
    mac_layers_only: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    sparsity: SparseOptions | None = None,
    bits=None,
    skip_unsupported: bool = False,
) -> EnergyReport:
    """Energy report of ``network`` on ``profile`` with ``dataflow`` for every layer: ``rs``, ``ws``, ``os`` (the
    mapping search constrained to that dataflow; ``rs-search``, ... are the same), ``search`` (free search), or a
    fixed template (``rs-template``, ``ws-template``, ``os-template``, ``nlr-template``; ``nlr`` is the template).

    ``hook`` lets a caller replace a MAC layer's pricing (used for codebook-compressed weights);
    ``mac_layers_only`` skips layers without MACs; ``progress(i, n, name)`` is called before each layer.
    ``sparsity`` (an ``energysim.costs.sparsity.SparseOptions``: densities, gating/skipping, run-length coding)
    and ``bits`` (a ``BitWidths`` or ``"w=8,i=8,o=16"``) transform the dense counts (before ``hook``); without
    them a profile's own ``sparsity`` section is applied (with its measured densities of a network of this name,
``network_densities``), and a profile without one gives the dense counts.
    ``skip_unsupported``: layers of kind ``unsupported`` (kept by ``strict=False``) are left out of the estimate
    and named in the report's ``skipped`` instead of raising ``EnergySimError``.
    """
    check_dataflow(dataflow)
    prof = load_profile(profile)
    opts = None
    if sparsity is not None or bits is not None or prof.sparsity is not None:
        opts = sparsity if sparsity is not None else SparseOptions.from_profile(prof, network.name)
        if bits is not None:
            opts = replace(opts, bits=BitWidths.parse(bits))
        validate_densities(opts.densities, network)
        prof = effective_profile(prof, opts.bits)
    layers = [l for l in network if l.has_macs or not mac_layers_only]
    skipped = [l.name for l in layers if l.kind == "unsupported"] if skip_unsupported else []
    layers = [l for l in layers if l.name not in skipped] if skipped else layers
    expect([Problem.from_layer(l) for l in layers if l.has_macs], dataflow)
    out = []
    for i, layer in enumerate(layers):
        if progress:
            progress(i, len(layers), layer.name)
        producer = applied_in_place(network, layer)
        out.append(in_place_energy(layer, producer).with_traffic(prof) if producer
                   else _layer(layer, prof, dataflow, hook, None, opts))
    batch = network.input_shape[0] if network.input_shape else 1
    return EnergyReport(network.name, prof.name, dataflow, batch, out, prof.energy_unit, skipped)

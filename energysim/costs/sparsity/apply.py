"""Sparsity, zero handling, run-length coding and bit widths as a post-processing of the engine's counts.

The counting engine (``energysim.evaluate``) counts dense accesses of 16-bit (profile ``word_bits``)
words. This module transforms its ``LayerStats`` (and the streaming model's counts for layers without MACs)
without touching the engine; with every density 1, no zero handling, no coding and the profile's own widths
the result is *exactly* the dense one.

**Densities** (fraction of non-zeros, per layer and data space ``Weights`` / ``Inputs`` / ``Outputs``) come
from, in order: ``SparseOptions.densities[layer]`` (explicit, e.g. a JSON file or ``measure_densities``), the
density of a real tensor given in ``SparseOptions.tensors[layer]``, ``SparseOptions.default_density``, the
profile's ``sparsity.default_density``, and 1.0. A density outside [0, 1] is an error naming the layer.

**Zero handling** (per data space, profile ``sparsity.gating`` / ``sparsity.skipping`` or the options):
with ``g`` the product of the densities of the gated/skipped data spaces,

- *gating*: MAC energy x g; at the innermost level keeping each *other* operand its reads to the MAC x g; at
  the innermost level keeping Outputs the updates x g and reads = max(updates' - distinct outputs, 0). The
  zero operand itself is still read (that is how the zero is detected) and the cycle is still spent.
- *skipping*: as gating, plus the skipped operand's own innermost reads x its density and the compute cycles
  x the skipped product (cycles = max(compute cycles', bandwidth-bound cycles')).

**Run-length coding** at the levels ``rlc_levels`` (default none; Eyeriss: ``["DRAM"]``) for Inputs and the
final Outputs: the traffic of the coded data space at that level is multiplied by
``coded bits / (elements x bits)``, where coded bits is the exact expectation for i.i.d. zeros
(``sparsity.rlc_expected_bits``) or the exact count of a real tensor (``sparsity.rlc_words_exact``). For
Outputs only the last write of each element (= the distinct outputs) is coded; partial-sum spills (more
updates, reads) stay dense. Layers without MACs get the same treatment of their streamed Inputs/Outputs.

**Bit widths** (``BitWidths``: weights / inputs / outputs bits; ``None`` = the level's ``word_bits``): a
level with ``word_bits`` wb and ``block_size`` B moves ``B * wb / b`` values of b bits per block access, so
the energy of ``n`` value accesses is ``ceil(n * b / (B * wb)) * E_block`` (energy per value scales with b);
capacity in values scales by ``wb / b`` (``effective_profile``: a shared level is sized for the widest data
space it keeps; a ``capacity_split`` share by its own data space); bandwidths (words of wb bits per cycle)
likewise. MAC energy at operand widths (bw, bi): the profile's ``mac.energy_pj_by_bits[max(bw, bi)]`` when
listed, else ``E_mac * scale`` with ``mac_scaling`` ``"quadratic"`` (bw*bi/wb^2, an array multiplier),
``"linear"`` ((bw+bi)/(2 wb)) or ``"none"``.

Counts after this transform are expected values (floats) in values of each data space's width.
"""

from __future__ import annotations

import math
from dataclasses import replace

from energysim.arch import DATA_SPACES, HardwareProfile
from energysim.costs.sparsity.densities import validate_density
from energysim.costs.sparsity.options import SparseOptions
from energysim.costs.sparsity.widths import mac_energy_per_op
from energysim.errors import EnergySimError
from energysim.model.layer_energy import LayerEnergy
from energysim.model.pricing import access_energy, leakage
from energysim.model.stats import LayerStats

def apply(stats: LayerStats, problem, profile: HardwareProfile, opts: SparseOptions,
          layer: str | None = None) -> LayerStats:
    """A new ``LayerStats`` with densities, zero handling, run-length coding and bit widths applied.

    ``profile`` is the profile the stats were counted on (``effective_profile`` of the real one when bit
    widths differ; energies and widths are the same). ``layer`` names the layer for densities (default
    ``stats.name``).
    """
    name = layer or stats.name
    levels = {lv.name: lv for lv in profile.levels}
    for lvn in opts.rlc_levels:
        if lvn not in levels:
            raise EnergySimError(f"run-length coding level {lvn!r} is not a level of profile {profile.name!r}: "
                                 f"{profile.level_names}")
    dens = {d: validate_density(name, opts.density(name, d, profile), d.lower()) for d in DATA_SPACES}
    gated = tuple(dict.fromkeys(opts.gating + opts.skipping))
    g = math.prod(dens[d] for d in gated) if gated else 1.0
    g_skip = math.prod(dens[d] for d in opts.skipping) if opts.skipping else 1.0

    rows = [dict(r) for r in stats.rows]
    innermost: dict[str, int] = {}
    for k, r in enumerate(rows):
        innermost[r["dataspace"]] = k  # rows come outer -> inner
    rlc_info: dict[str, float] = {}
    for k, r in enumerate(rows):
        ds, lvn = r["dataspace"], r["level"]
        lv = levels[lvn]
        wb = lv.word_bits or profile.word_bits
        b = opts.bits.of(ds, wb)
        reads, fills, updates = r["reads"], r["fills"], r["updates"]
        # zero handling at the level that feeds the MACs
        if g != 1.0 and innermost.get(ds) == k:
            if ds == "Outputs":
                distinct = updates - reads
                updates = updates * g
                reads = max(updates - distinct, 0.0)
            else:
                own = dens[ds] if ds in opts.skipping else 1.0
                others = math.prod(dens[d] for d in gated if d != ds)
                reads = reads * others * own
        # run-length coding of feature maps
        if lvn in opts.rlc_levels and ds in opts.rlc_dataspaces and ds in ("Inputs", "Outputs"):
            n = problem.tensor_size(ds) if problem is not None else 0
            ratio = opts.rlc_ratio(name, ds, n, b, profile)
            rlc_info[f"{lvn}.{ds}"] = ratio
            if ds == "Inputs":
                reads, fills, updates = reads * ratio, fills * ratio, updates * ratio
            else:
                distinct = max(min(updates - reads, updates), 0)  # last write of each element
                updates = (updates - distinct) + distinct * ratio
        inst = r["instances"]
        e = access_energy(lv, reads, fills, updates, b) * inst
        r.update(reads=reads, fills=fills, updates=updates, reads_total=reads * inst, fills_total=fills * inst,
                 updates_total=updates * inst, energy=e, bits=b)

    # cycles: compute (skipping) and bandwidth after coding / widths
    compute = stats.extra.get("compute_cycles", stats.cycles) * g_skip
    cycles = compute
    for lv in profile.levels:
        mine = [r for r in rows if r["level"] == lv.name]
        if not mine:
            continue
        wb = lv.word_bits or profile.word_bits
        rd = sum(r["reads"] * r["bits"] / wb for r in mine)
        wr = sum((r["fills"] + r["updates"]) * r["bits"] / wb for r in mine)
        if lv.read_bandwidth:
            cycles = max(cycles, rd / lv.read_bandwidth)
        if lv.write_bandwidth:
            cycles = max(cycles, wr / lv.write_bandwidth)
    cycles = int(math.ceil(cycles - 1e-9))
    if g_skip == 1.0 and not opts.rlc_levels and opts.bits.is_default:
        cycles = stats.cycles  # nothing that changes time: keep the engine's cycles exactly
    util_inst = stats.extra.get("utilized_instances", {})
    leak = leakage(profile, cycles, util_inst)
    mac_e = mac_energy_per_op(profile, opts.bits, opts.mac_scaling) * stats.macs * g
    if g == 1.0 and opts.bits.is_default:
        mac_e = stats.mac_energy
    extra = dict(stats.extra)
    extra["sparse"] = {"densities": dens, "gated_fraction": g, "skipped_fraction": g_skip, "rlc_ratio": rlc_info,
                       "bits": {d: opts.bits.of(d, profile.word_bits) for d in DATA_SPACES}}
    return replace(stats, mac_energy=mac_e, cycles=cycles,
                   utilization=stats.macs * g_skip / (cycles * profile.mac.instances) if cycles else 0.0,
                   rows=rows, leak=leak, extra=extra)


def apply_streaming(le, layer, profile: HardwareProfile, opts: SparseOptions):
    """Run-length coding and bit widths on a layer without MACs (``estimate.streaming_energy`` counts)."""
    if opts.is_dense:
        return le
    levels = {lv.name: lv for lv in profile.levels}
    rows = []
    for level, ds, reads, fills, updates, _ in le.records:
        lv = levels[level]
        wb = lv.word_bits or profile.word_bits
        b = opts.bits.of(ds, wb)
        if level in opts.rlc_levels and ds in opts.rlc_dataspaces:
            n = layer.input_count if ds == "Inputs" else layer.output_count
            ratio = opts.rlc_ratio(layer.name, ds, n, b, profile)
            reads, fills, updates = reads * ratio, fills * ratio, updates * ratio
        rows.append((level, ds, reads, fills, updates, access_energy(lv, reads, fills, updates, b)))
    return LayerEnergy(le.name, le.kind, le.macs, rows, le.compute_energy, le.cycles, le.utilization,
                       dict(le.extra), le.note)


def dram_bytes(stats: LayerStats, level: str = "DRAM") -> float:
    """Bytes moved at ``level`` (reads + fills + updates, all instances) at each row's bit width."""
    total = 0.0
    for r in stats.rows:
        if r["level"] == level:
            b = r.get("bits", 16)
            total += (r["reads_total"] + r["fills_total"] + r["updates_total"]) * b / 8
    return total

"""Which Timeloop a reference comes from: the counting and pricing rules changed between the 2020 releases
(v0.3, the ISPASS 2020 tutorial) and today's (v0.4; the shared reference cases were regenerated in 2024).

``"2024"`` is our engine as it is (``energysim.model``, DESIGN.md section 3). ``"2020"`` differs in two rules,
applied here to the engine's ``LayerStats`` so that the default path stays untouched:

* **first output fills counted**: at every level that keeps a read-write data space below its outermost
  keeper, the first visit of each output tile is counted as a fill (today it is elided: the tile starts at
  zero). ``fills_2020 = fills + partition``, with ``partition`` the distinct elements one instance holds over
  the run (Timeloop's printed "Partition size").
* **one price per access**: each level and data space costs ``ceil((reads + fills + updates) / B)`` vector
  accesses at ``max(E_read, E_write)`` (Timeloop 2020's single "vector access energy"), instead of reads,
  fills and updates each rounded and priced separately.

Cycles are recomputed from the new counts with the same bandwidth rule, and leakage (per cycle) with them.
"""

from __future__ import annotations

import dataclasses
import math
from math import prod

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.pricing import leakage
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats

SEMANTICS = ("2020", "2024")
DEFAULT = "2024"


def check_semantics(value, source: str = "--semantics") -> str:
    v = str(value)
    if v not in SEMANTICS:
        raise EnergySimError(f"{source} = {value!r}: expected one of {', '.join(SEMANTICS)}")
    return v


def level_cycles(stats: LayerStats, profile: HardwareProfile) -> dict[str, int]:
    """Cycles of each storage level: the compute cycles, or more where its read or write bandwidth (words per
    cycle per instance) cannot keep up with its per-instance reads, or fills + updates."""
    base = int(stats.extra.get("compute_cycles", stats.cycles))
    out = {}
    for lv in profile.levels:
        rows = [r for r in stats.rows if r["level"] == lv.name]
        rd = sum(r["reads"] for r in rows)
        wr = sum(r["fills"] + r["updates"] for r in rows)
        c = base
        if lv.read_bandwidth:
            c = max(c, math.ceil(rd / lv.read_bandwidth))
        if lv.write_bandwidth:
            c = max(c, math.ceil(wr / lv.write_bandwidth))
        out[lv.name] = c
    return out


def _partitions(problem: Problem, profile: HardwareProfile, mapping: Mapping) -> dict[tuple[str, str], int]:
    """``(level, data space)`` -> distinct elements one instance holds, for read-write data spaces at every
    keeper but the outermost."""
    loops = mapping.loops(problem, profile)
    keeps = mapping.keeps(problem, profile)
    out = {}
    for ds in problem.data_spaces:
        if not ds.read_write:
            continue
        kept = [i for i in range(len(profile.levels)) if ds.name in keeps[i]]
        for i in kept[1:]:
            ext = {d: problem.bounds[d] // prod(l.bound for l in loops if l.spatial and l.level < i and l.dim == d)
                   for d in problem.dims}
            out[(profile.levels[i].name, ds.name)] = ds.tile_size(ext)
    return out


def apply_2020(stats: LayerStats, problem: Problem, profile: HardwareProfile, mapping: Mapping) -> LayerStats:
    """``stats`` (the engine's, today's rules) recounted and repriced with Timeloop 2020's rules (module
    docstring)."""
    parts = _partitions(problem, profile, mapping)
    levels = {lv.name: lv for lv in profile.levels}
    rows = []
    for r in stats.rows:
        r = dict(r)
        r["fills"] += parts.get((r["level"], r["dataspace"]), 0)
        r["fills_total"] = r["fills"] * r["instances"]
        lv = levels[r["level"]]
        n = r["reads"] + r["fills"] + r["updates"]
        r["energy"] = -(-n // lv.block_size) * max(lv.read_pj, lv.write_pj) * r["instances"]
        rows.append(r)
    out = dataclasses.replace(stats, rows=rows, extra={**stats.extra, "semantics": "2020"})
    cycles = max([int(stats.extra.get("compute_cycles", stats.cycles)), *level_cycles(out, profile).values()])
    util = stats.extra.get("utilized_instances", {})
    return dataclasses.replace(out, cycles=cycles, utilization=stats.macs / (cycles * profile.mac.instances),
                               leak=leakage(profile, cycles, util))

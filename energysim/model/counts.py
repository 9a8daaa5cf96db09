"""The counting engine: reads, fills and updates per storage level and data space for one mapped problem,
with Timeloop's semantics (DESIGN.md section 3), in closed form over the loop nest.

Rules, per data space ``d``, for a level ``i`` that keeps ``d`` (its *parent* is the next outer level that keeps
``d``; its *child* the next inner one, or the MACs):

* **Fetches into a level** (per instance). Take the temporal loops above ``i`` (all outer levels, bypassing ones
  included), outer -> inner, and the innermost of them that indexes ``d``. Loops inside it that do not index
  ``d`` keep the tile in place and cost nothing. Every iteration of it and of the loops outside it brings a new
  tile, except when it is the innermost loop of all: then consecutive iterations slide the tile and only the
  new part comes in (when the step moves one rank by less than the tile's span; a step that moves two ranks
  brings a whole tile, as Timeloop's box difference does).
* **Read-only data**: fills(i) = fetches(i); reads(i) = fetches of one child x children / multicast, where a
  fan-out's multicast counts children whose tiles coincide (same rank offsets under that fan-out's spatial
  loops), fan-out by fan-out. The MACs read one word of each operand per MAC.
* **Read-write data** (partial sums): every child tile visit is drained back, so updates(i) = drains of one
  child x children / reduction (spatial reduction in the network: children holding the same outputs). The
  first update of each element needs no read: reads(i) = updates(i) - distinct elements of one instance; the
  first visit of a tile is not filled: fills(i) = fetches(i) - distinct elements.
* Totals are per-instance counts x utilized instances (the product of the spatial factors above the level).
* Energy per level and data space: priced by ``energysim.model.pricing`` (per instance, times utilized
  instances), leakage and MAC energy likewise.
* Cycles = max(MACs / utilized MACs, per-level accesses / bandwidth).
* A mapping that pads dimensions (``Mapping.padding``) is counted on the padded problem: the phantom
  iterations cost accesses, MAC energy and cycles like real ones. ``macs`` and ``utilization`` stay the real
  ones; ``extra`` gives ``padded_macs``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from math import prod

import numpy as np

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.model.mapping import Loop, Mapping, check_capacity
from energysim.model.memo import Memo
from energysim.model.pricing import access_energy, leakage, mac_energy
from energysim.model.problem import DataSpace, Problem
from energysim.model.stats import LayerStats


def _relevant(ds: DataSpace, dim: str) -> bool:
    return any(d == dim and c != 0 for rank in ds.ranks for d, c in rank)


def fetches(ds: DataSpace, loops: list[Loop], level: int, tile_extent: dict[str, int]) -> int:
    """Words brought into one instance of ``level`` over the whole run (first tile included)."""
    tile = ds.tile_size(tile_extent)
    above = [k for k, l in enumerate(loops) if l.level < level and not l.spatial]
    rel = [k for k in above if _relevant(ds, loops[k].dim)]
    if not rel:
        return tile
    j = rel[-1]
    outer = prod(loops[k].bound for k in above if k < j)
    if j != above[-1]:
        return outer * loops[j].bound * tile
    return outer * (tile + (loops[j].bound - 1) * _slide(ds, loops, j, tile_extent, tile))


def _slide(ds: DataSpace, loops: list[Loop], j: int, tile_extent: dict[str, int], tile: int) -> int:
    """New words when loop ``j`` advances by one with everything inside it fixed."""
    dim = loops[j].dim
    step = prod(l.bound for l in loops[j + 1:] if l.dim == dim)
    extents = ds.rank_extents(tile_extent)
    moved = [(k, sum(c for d, c in rank if d == dim) * step) for k, rank in enumerate(ds.ranks)]
    moved = [(k, s) for k, s in moved if s]
    if len(moved) != 1:
        return tile
    k, shift = moved[0]
    if shift >= extents[k]:
        return tile
    return tile // extents[k] * shift


def distinct_children(ds: DataSpace, loops: list[Loop], level: int) -> tuple[int, int]:
    """(children, children with distinct tiles) of one instance of ``level`` under its own spatial loops."""
    idx = [k for k, l in enumerate(loops) if l.level == level and l.spatial]
    if not idx:
        return 1, 1
    # each spatial loop as (dimension, bound, stride of one step: the bounds of the loops inside it over the same
    # dimension); the count depends on nothing else, and sweeps and searches ask for the same ones many times
    spec = tuple((loops[k].dim, loops[k].bound, prod(m.bound for m in loops[k + 1:] if m.dim == loops[k].dim))
                 for k in idx)
    return _distinct_children(ds.ranks, spec)


@lru_cache(maxsize=65536)
def _distinct_children(ranks: tuple, spec: tuple) -> tuple[int, int]:
    bounds = [b for _, b, _ in spec]
    n = prod(bounds)
    grid = np.indices(bounds).reshape(len(bounds), -1)
    offs = []
    for rank in ranks:
        o = np.zeros(n, dtype=np.int64)
        for g, (dim, _, step) in enumerate(spec):
            c = sum(cc for d, cc in rank if d == dim)
            if c:
                o += grid[g] * (c * step)
        offs.append(o)
    if not offs:
        return n, 1
    distinct = len(np.unique(np.stack(offs, axis=1), axis=0))
    return n, distinct


_MEMO = Memo(1024)  # counting_key -> (LayerStats, the mapping's Mapping.tile_words)


def counting_key(problem: Problem, profile: HardwareProfile, mapping: Mapping, name: str | None = None) -> tuple:
    """What ``evaluate``'s result depends on: the problem (``Problem.key`` and name), the mapping, ``name`` and the
    profile but its capacities (``HardwareProfile.levels_key``), which decide only whether the mapping fits. The
    designs of a sweep that differ only in buffer sizes share these keys."""
    return (name, problem.name, problem.key, profile.levels_key(), mapping.model_dump_json())


def _copy(stats: LayerStats) -> LayerStats:
    """A copy the caller may change without changing the memo (the records and dicts copied, not shared)."""
    return replace(stats, rows=[dict(r) for r in stats.rows], leak=dict(stats.leak),
                   level_names=list(stats.level_names),
                   extra={k: dict(v) if isinstance(v, dict) else v for k, v in stats.extra.items()})


def evaluate(problem: Problem, profile: HardwareProfile, mapping: Mapping, name: str | None = None) -> LayerStats:
    """Count accesses and price them. Raises ``EnergySimError`` for a mapping that does not fit.

    Results are memoized by ``counting_key`` (the last 1024): a mapping counted before on the same levels,
    whatever their capacities, is only checked against this profile's capacities."""
    key = counting_key(problem, profile, mapping, name)
    hit = _MEMO.get(key)
    if hit is None:
        words = mapping.validate_for(problem, profile)
        hit = _MEMO.put(key, (_evaluate(problem, profile, mapping, name), words))
    else:
        check_capacity(profile, hit[1])
    return _copy(hit[0])


def _evaluate(problem: Problem, profile: HardwareProfile, mapping: Mapping, name: str | None) -> LayerStats:
    """The counts of a mapping that fits."""
    real = problem
    problem = mapping.padded_problem(problem)
    loops = mapping.loops(problem, profile)
    keeps = mapping.keeps(problem, profile)
    extents = mapping.tile_extents(problem, profile)
    L = len(profile.levels)
    # utilized instances of level i = spatial factors above it; index L = the MACs
    inst = [prod(l.bound for l in loops if l.spatial and l.level < i) for i in range(L + 1)]
    macs = problem.macs
    per_mac = macs // inst[L]

    counts: dict[tuple[int, str], dict] = {}
    for ds in problem.data_spaces:
        kept = [i for i in range(L) if ds.name in keeps[i]]
        if not kept:
            raise EnergySimError(f"data space {ds.name} is kept at no level")
        fetch = {i: fetches(ds, loops, i, extents[i]) for i in kept}
        fetch[L] = per_mac  # one operand word per MAC
        # children of one instance with distinct tiles, fan-out by fan-out (multicast / spatial reduction)
        distinct = [distinct_children(ds, loops, j)[1] for j in range(L)]
        for pos, i in enumerate(kept):
            c = kept[pos + 1] if pos + 1 < len(kept) else L
            from_children = fetch[c] * prod(distinct[i:c])
            if ds.read_write:
                ext = {d: problem.bounds[d] // prod(l.bound for l in loops if l.spatial and l.level < i and l.dim == d)
                       for d in problem.dims}
                partition = ds.tile_size(ext)
                updates = from_children
                reads = updates - partition
                fills = 0 if pos == 0 else fetch[i] - partition
            else:
                reads, updates = from_children, 0
                fills = 0 if pos == 0 else fetch[i]
            counts[(i, ds.name)] = {"reads": reads, "fills": fills, "updates": updates}

    rows = []
    compute_cycles = per_mac
    cycles = compute_cycles
    for i, lv in enumerate(profile.levels):
        rd = wr = 0
        for ds in problem.data_spaces:
            if (i, ds.name) not in counts:
                continue
            c = counts[(i, ds.name)]
            e = access_energy(lv, c["reads"], c["fills"], c["updates"]) * inst[i]
            rows.append({"level": lv.name, "dataspace": ds.name, "instances": inst[i], **c,
                         "reads_total": c["reads"] * inst[i], "fills_total": c["fills"] * inst[i],
                         "updates_total": c["updates"] * inst[i], "energy": e})
            rd += c["reads"]
            wr += c["fills"] + c["updates"]
        if lv.read_bandwidth:
            cycles = max(cycles, math.ceil(rd / lv.read_bandwidth))
        if lv.write_bandwidth:
            cycles = max(cycles, math.ceil(wr / lv.write_bandwidth))
    utilized = dict(zip(profile.level_names, inst))
    leak = leakage(profile, cycles, utilized)
    mac_e = mac_energy(profile, macs)
    extra = {"compute_cycles": compute_cycles, "utilized_instances": utilized,
             "active_pes": mapping.active_pes(real, profile)}
    if problem is not real:
        extra["padded_macs"] = macs
    return LayerStats(
        name=name or problem.name,
        macs=real.macs,
        mac_energy=mac_e,
        cycles=int(cycles),
        utilization=real.macs / (cycles * profile.mac.instances),
        rows=rows,
        leak=leak,
        level_names=profile.level_names,
        mac_name=profile.mac.name,
        extra=extra,
    )

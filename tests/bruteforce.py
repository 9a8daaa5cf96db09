"""A brute-force reference for the counting engine (test utility, small problems only).

It walks the loop nest element by element: for every level, instance and time step it enumerates the points of
the sub-nest below, collects the touched coordinates of each data space (Python sets; tiles are their per-rank
bounding boxes, as in Timeloop) and counts what the buffer must fetch, serve and take back, under the rules
documented in ``energysim.model.counts``. It shares no code with the engine beyond the input objects.
"""

from __future__ import annotations

import itertools
from math import prod

from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.arch import HardwareProfile


def _strides(loops):
    out = []
    for k, l in enumerate(loops):
        out.append(prod(m.bound for m in loops[k + 1:] if m.dim == l.dim))
    return out


def _coords(ds, idx):
    return tuple(sum(c * idx.get(d, 0) for d, c in rank) for rank in ds.ranks)


def _box(points):
    pts = list(points)
    return tuple((min(p[k] for p in pts), max(p[k] for p in pts)) for k in range(len(pts[0])))


def _box_size(box):
    return prod(hi - lo + 1 for lo, hi in box)


def _box_delta(prev, new):
    """Words of ``new`` not in ``prev`` under Timeloop's box difference: a slab when the boxes differ in exactly
    one rank and overlap there, else the whole new box."""
    diff = [k for k in range(len(new)) if new[k] != prev[k]]
    if not diff:
        return 0
    if len(diff) > 1:
        return _box_size(new)
    k = diff[0]
    lo, hi = max(new[k][0], prev[k][0]), min(new[k][1], prev[k][1])
    if lo > hi:
        return _box_size(new)
    return _box_size(new) - _box_size(new) // (new[k][1] - new[k][0] + 1) * (hi - lo + 1)


class BruteForce:
    """Counts for one (problem, profile, mapping); ``counts[(level_index, data_space)] = dict(reads, fills,
    updates)`` per instance."""

    def __init__(self, problem: Problem, profile: HardwareProfile, mapping: Mapping):
        self.problem, self.profile = problem, profile
        self.loops = mapping.loops(problem, profile)
        self.strides = _strides(self.loops)
        self.keeps = mapping.keeps(problem, profile)
        self.L = len(profile.levels)
        self.counts = {}
        self._run()

    # index of every problem dimension for a full assignment of loop indices
    def _dims(self, assign):
        idx = {d: 0 for d in self.problem.dims}
        for k, v in assign.items():
            idx[self.loops[k].dim] += v * self.strides[k]
        return idx

    def _walk(self, level, fixed):
        """Points (as dimension-index dicts) under the loops of levels >= ``level`` with ``fixed`` indices."""
        below = [k for k, l in enumerate(self.loops) if l.level >= level]
        for combo in itertools.product(*(range(self.loops[k].bound) for k in below)):
            a = dict(fixed)
            a.update(zip(below, combo))
            yield self._dims(a)

    def _instances(self, level):
        sp = [k for k, l in enumerate(self.loops) if l.spatial and l.level < level]
        for combo in itertools.product(*(range(self.loops[k].bound) for k in sp)):
            yield dict(zip(sp, combo))

    def _fetch_and_partition(self, ds, level):
        """(words fetched into one instance, distinct words it ever holds), the same for every instance."""
        rel = {d for rank in ds.ranks for d, c in rank if c}
        time = [k for k, l in enumerate(self.loops) if l.level < level and not l.spatial]
        inner = time[-1] if time else None
        results = set()
        for inst in self._instances(level):
            total, seen, prev, prev_combo = 0, set(), None, None
            for combo in itertools.product(*(range(self.loops[k].bound) for k in time)):
                fixed = dict(inst)
                fixed.update(zip(time, combo))
                pts = {_coords(ds, p) for p in self._walk(level, fixed)}
                seen |= pts
                box = _box(pts)
                if prev is None:
                    total += _box_size(box)
                else:
                    changed = [time[n] for n in range(len(time)) if combo[n] != prev_combo[n]]
                    if changed == [inner]:
                        total += _box_delta(prev, box) if self.loops[inner].dim in rel else 0
                    elif any(self.loops[k].dim in rel for k in changed):
                        total += _box_size(box)
                prev, prev_combo = box, combo
            results.add((total, len(seen)))
        assert len(results) == 1, f"instances differ: {results}"
        return results.pop()

    def _share(self, ds, level):
        """children / children with distinct tiles under ``level``'s own spatial loops (by enumeration)."""
        sp = [k for k, l in enumerate(self.loops) if l.spatial and l.level == level]
        if not sp:
            return 1
        others = {k: 0 for k, l in enumerate(self.loops) if l.level < level or (l.level == level and not l.spatial)}
        boxes = []
        for combo in itertools.product(*(range(self.loops[k].bound) for k in sp)):
            fixed = dict(others)
            fixed.update(zip(sp, combo))
            boxes.append(frozenset(_coords(ds, p) for p in self._walk(level + 1, fixed)))
        return len(boxes) / len(set(boxes))

    def _run(self):
        L = self.L
        n_inst = [prod(l.bound for l in self.loops if l.spatial and l.level < i) for i in range(L + 1)]
        per_mac = self.problem.macs // n_inst[L]
        for ds in self.problem.data_spaces:
            kept = [i for i in range(L) if ds.name in self.keeps[i]]
            fp = {i: self._fetch_and_partition(ds, i) for i in kept}
            share = {j: self._share(ds, j) for j in range(L)}
            for pos, i in enumerate(kept):
                c = kept[pos + 1] if pos + 1 < len(kept) else L
                child_fetch = fp[c][0] if c < L else per_mac
                served = child_fetch * (n_inst[c] // n_inst[i]) / prod(share[j] for j in range(i, c))
                fetch, part = fp[i]
                if ds.read_write:
                    counts = {"reads": served - part, "fills": 0 if pos == 0 else fetch - part, "updates": served}
                else:
                    counts = {"reads": served, "fills": 0 if pos == 0 else fetch, "updates": 0}
                self.counts[(i, ds.name)] = {k: round(v) for k, v in counts.items()}

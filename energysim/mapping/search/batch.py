"""The vectorized evaluation of the mapping search (``BatchEvaluator``): the engine's counting formulas of
``energysim.model.counts`` re-written over arrays of tilings of one ``Space``, one batch per spatial unrolling
and loop order, with what does not depend on the loop order prepared once per batch (``prepare``)."""

from __future__ import annotations

import bisect
from math import prod

import numpy as np

from energysim.errors import EnergySimError
from energysim.model.pricing import access_energy, hop_energy, leakage, mac_energy
from energysim.mapping.search.space import Space


class BatchEvaluator:
    """Evaluates batches of candidates of ``space`` (and memoizes what batches share)."""

    def __init__(self, space: Space):
        self.space = space
        self._distinct_cache: dict = {}

    def prepare(self, sp: dict, F: np.ndarray) -> dict:
        """What does not depend on loop orders: extents, validity, tile sizes, multicast/reduction factors."""
        space = self.space
        n = F.shape[0]
        L, D = space.L, space.D
        spf = space.spatial_factor_array(sp)
        # temporal factor per level [L, n, D] (ones at non-temporal levels)
        lev = np.ones((L, n, D), dtype=np.int64)
        for t, l in enumerate(space.temporal_levels):
            lev[l] = F[:, t, :]
        ext = np.ones((L + 1, n, D), dtype=np.int64)
        for i in range(L - 1, -1, -1):
            ext[i] = ext[i + 1] * lev[i] * spf[i][None, :]
        inst = [int(prod(int(spf[l].prod()) for l in range(i))) for i in range(L + 1)]
        valid = np.ones(n, dtype=bool)
        for i in range(L):
            valid &= space.fits(i, ext[i])
        # product of the same dimension's factors strictly inside temporal slot (level l, dim d):
        # deeper temporal factors and spatial factors at levels >= l
        AS = np.ones((L, n, D), dtype=np.int64)
        for l in range(L - 1, -1, -1):
            AS[l] = (ext[l + 1] if l + 1 <= L else 1) * spf[l][None, :]
        # spatial slots per level (Mapping.loops order) and distinct children per (level, data space)
        distinct: dict[tuple[int, int], np.ndarray] = {}
        for j in range(L):
            x, y = sp.get(j, ({}, {}))
            x = {d: f for d, f in x.items() if f > 1}
            y = {d: f for d, f in y.items() if f > 1}
            slots = []
            for d in list(x) + [d for d in y if d not in x]:
                for fac in (x, y):
                    if fac.get(d, 1) > 1:
                        slots.append((space.di[d], fac[d]))
            for k in range(len(space.ds)):
                # a dimension indexes at most one rank and the children form a full grid, so the rank
                # offsets vary independently: distinct tiles = product over ranks of distinct offsets per
                # rank. A rank moved by one spatial slot has as many offsets as the slot's factor; only a
                # rank moved by several slots (e.g. P and R of Inputs) needs counting, per row's steps.
                const, out = 1, None
                for terms in space.terms[k]:
                    coef = dict(terms)
                    mine = [g for g, (d, _) in enumerate(slots) if d in coef]
                    if len(mine) == 1:
                        const *= slots[mine[0]][1]
                    elif len(mine) > 1:
                        steps = np.empty((n, len(mine)), dtype=np.int64)
                        for col, g in enumerate(mine):
                            d = slots[g][0]
                            later = prod(ff for dd, ff in slots[g + 1:] if dd == d)
                            steps[:, col] = ext[j + 1][:, d] * (later * coef[d])
                        factors = tuple(slots[g][1] for g in mine)
                        uniq, inv = np.unique(steps, axis=0, return_inverse=True)
                        vals = np.array([self._distinct(factors, tuple(int(v) for v in row)) for row in uniq],
                                        dtype=np.int64)[inv.reshape(-1)]
                        out = vals if out is None else out * vals
                distinct[(j, k)] = np.full(n, const, dtype=np.int64) if out is None else out * const
        tiles = {}
        rext = {}
        for i in range(L):
            for k in range(len(space.ds)):
                rext[(i, k)] = [space.rank_extent(k, r, ext[i]) for r in range(space.coef[k].shape[0])]
                t = np.ones(n, dtype=np.int64)
                for e in rext[(i, k)]:
                    t = t * e
                tiles[(i, k)] = t
        # per kept (level i, data space k): the distinct children per tile fetched from below (the product
        # over the levels from i down to its next keeping level), and for a read-write data space the size of
        # its partition at i (what is written back once, not read)
        mult, partition = {}, {}
        for k, ds in enumerate(space.ds):
            kept = space.kept_idx_all[k]
            for pos, i in enumerate(kept):
                c = kept[pos + 1] if pos + 1 < len(kept) else L
                m = np.ones(n, dtype=np.int64)
                for j in range(i, c):
                    m = m * distinct[(j, k)]
                mult[(i, k)] = m
                if ds.read_write:
                    above = spf[:i].prod(axis=0) if i > 0 else np.ones(D, dtype=np.int64)
                    partition[(i, k)] = int(space.tile_sizes(k, (space.bounds // above)[None, :])[0])
        return {"n": n, "spf": spf, "ext": ext, "inst": inst, "valid": valid, "AS": AS, "distinct": distinct,
                "mult": mult, "partition": partition,
                "tiles": tiles, "rext": rext, "per_mac": space.macs // inst[L],
                "present": (F > 1).any(axis=0)}  # [T, D]: temporal slots with a factor > 1 somewhere

    def evaluate_batch(self, sp: dict, perms: list[tuple[str, ...]], F: np.ndarray,
                       prep: dict | None = None) -> dict[str, np.ndarray]:
        """The engine's counts for every tiling in ``F`` [n, T, D] under one spatial unrolling and loop order.

        Returns arrays: ``energy`` (engine total, pJ), ``network`` (NoC hop pJ), ``cycles``, ``valid`` and
        ``counts`` {(level, dataspace): (reads, fills, updates)} per instance. ``prep`` = ``prepare(sp, F)``.
        """
        space = self.space
        if prep is None:
            prep = self.prepare(sp, F)
        n, L = prep["n"], space.L
        inst, per_mac = prep["inst"], prep["per_mac"]
        tslots = self.slot_order(perms, prep)
        # slots are in level order: prefix[i] = number of slots above level i
        levs = [l for l, _, _ in tslots]
        prefix = [bisect.bisect_left(levs, i) for i in range(L + 1)]
        seq: dict = {"prefix": prefix}  # slot-major arrays, built on the first fetch not cached (_slot_arrays)
        # fetches into level i depend only on the loops above it: when a loop-order search changes an inner
        # level's order, the outer levels' fetches are reused (per prepared batch); so are a (level, data
        # space)'s counts and their energy, which depend only on the fetches into it and into its child
        fcache = prep.setdefault("fetch_cache", {})
        tcache = prep.setdefault("term_cache", {})
        counts: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        levels = space.profile.levels
        for k, ds in enumerate(space.ds):
            kept = space.kept_idx_all[k]
            if not kept:
                raise EnergySimError(f"data space {ds.name} is kept at no level")
            keys = {}
            for i in kept:
                key = keys[i] = (k, i, tslots[:prefix[i]])
                if key not in fcache:
                    if "FA" not in seq:
                        self._slot_arrays(seq, tslots, F)
                    fcache[key] = self._fetches(k, i, seq, prep)
            for pos, i in enumerate(kept):
                c = kept[pos + 1] if pos + 1 < len(kept) else L
                tkey = (keys[i], keys.get(c))
                if tkey not in tcache:
                    fetch_c = fcache[keys[c]] if c < L else np.full(n, per_mac, dtype=np.int64)
                    from_children = fetch_c * prep["mult"][(i, k)]
                    if ds.read_write:
                        partition = prep["partition"][(i, k)]
                        updates = from_children
                        reads = updates - partition
                        fills = np.zeros(n, dtype=np.int64) if pos == 0 else fcache[keys[i]] - partition
                    else:
                        reads, updates = from_children, np.zeros(n, dtype=np.int64)
                        fills = np.zeros(n, dtype=np.int64) if pos == 0 else fcache[keys[i]]
                    lv = levels[i]
                    # the pricing functions work on arrays of integer counts as on single counts
                    e = access_energy(lv, reads, fills, updates) * inst[i]
                    hops = (hop_energy(lv, (reads * inst[i] + updates * inst[i]).astype(np.float64))
                            if lv.network_hop_pj else None)
                    tcache[tkey] = (reads, fills, updates, e, hops)
                counts[(i, k)] = tcache[tkey]

        cycles = np.full(n, per_mac, dtype=np.float64)
        level_e = []
        network = np.zeros(n)
        for i, lv in enumerate(levels):
            rd = np.zeros(n, dtype=np.int64)
            wr = np.zeros(n, dtype=np.int64)
            e_level = np.zeros(n)
            for k in range(len(space.ds)):
                if (i, k) not in counts:
                    continue
                r, f, u, e, hops = counts[(i, k)]
                e_level = e_level + e
                if lv.read_bandwidth:
                    rd = rd + r
                if lv.write_bandwidth:
                    wr = wr + f + u
                if hops is not None:
                    network = network + hops
            if lv.read_bandwidth:
                cycles = np.maximum(cycles, np.ceil(rd / lv.read_bandwidth))
            if lv.write_bandwidth:
                cycles = np.maximum(cycles, np.ceil(wr / lv.write_bandwidth))
            level_e.append(e_level)
        leak = leakage(space.profile, cycles, dict(zip(space.profile.level_names, inst)))
        total = np.zeros(n)
        for i, lv in enumerate(levels):
            le = level_e[i]
            if lv.name in leak:
                le = le + leak[lv.name]
            total = total + le
        total = total + mac_energy(space.profile, space.macs)
        names = {(levels[i].name, space.ds[k].name): v[:3] for (i, k), v in counts.items()}
        return {"energy": total, "network": network, "cycles": cycles, "valid": prep["valid"], "counts": names}

    def slot_order(self, perms: list[tuple[str, ...]], prep: dict) -> tuple[tuple[int, int, int], ...]:
        """The temporal slots (level, t, dim index) in flattened (outer -> inner) order: all that
        ``evaluate_batch`` uses of ``perms``, so loop orders with equal slot orders give equal results.
        Slots whose factor is 1 for every candidate cannot change any count and are left out."""
        space = self.space
        present = prep["present"]
        return tuple((l, t, space.di[d]) for t, l in enumerate(space.temporal_levels) for d in perms[t]
                     if present[t, space.di[d]])

    @staticmethod
    def _slot_arrays(seq: dict, tslots, F: np.ndarray) -> None:
        """Slot-major arrays [M, n] (scans over the slots then run along contiguous rows): factors ``FA``,
        whether each is > 1, ``excl`` the product of the slots strictly outside each one, slot levels/dims."""
        n, M = len(F), len(tslots)
        Adim = np.array([d for _, _, d in tslots], dtype=np.int64)
        FA = np.ascontiguousarray(F[:, [t for _, t, _ in tslots], Adim].T)
        seq.update(FA=FA, nonunit=FA > 1, Adim=Adim, Alev=np.array([l for l, _, _ in tslots], dtype=np.int64),
                   excl=np.concatenate([np.ones((1, n), dtype=np.int64), np.cumprod(FA, axis=0)[:-1]], axis=0),
                   ar1=np.arange(1, M + 1)[:, None], last={})

    def _fetches(self, k, i, seq, prep):
        space = self.space
        n = prep["n"]
        tile = prep["tiles"][(i, k)]
        m = seq["prefix"][i]
        if m == 0:
            return tile.copy()
        # among the m slots above level i, per candidate: the innermost with a factor > 1 (``last``) and the
        # innermost with a factor > 1 over a dimension indexing data space k (``j``); -1 = none
        nonunit, ar1 = seq["nonunit"][:m], seq["ar1"][:m]
        if m not in seq["last"]:
            seq["last"][m] = (nonunit * ar1).max(axis=0) - 1
        last = seq["last"][m]
        j = ((nonunit & space.rel[k][seq["Adim"][:m]][:, None]) * ar1).max(axis=0) - 1
        has_rel = j >= 0
        jj = np.maximum(j, 0)
        rows = np.arange(n)
        outer = seq["excl"][jj, rows]
        bj = seq["FA"][jj, rows]
        dimj = seq["Adim"][jj]
        step = prep["AS"][seq["Alev"][jj], rows, dimj]
        rext = prep["rext"][(i, k)]
        slide = tile
        for d, r, c in space.slide_terms[k]:
            sel = dimj == d
            if not sel.any():
                continue
            shift = c * step
            part = np.where(shift >= rext[r], tile, tile // rext[r] * shift)
            slide = np.where(sel, part, slide)
        whole = outer * bj * tile
        sliding = outer * (tile + (bj - 1) * slide)
        return np.where(~has_rel, tile, np.where(last > j, whole, sliding))

    def _distinct(self, factors: tuple[int, ...], strides: tuple[int, ...]) -> int:
        """Distinct values of sum(i_g * strides[g]) over 0 <= i_g < factors[g] (one rank's offsets; memoized)."""
        key = (factors, strides)
        hit = self._distinct_cache.get(key)
        if hit is None:
            vals = np.zeros(1, dtype=np.int64)
            for f, st in zip(factors, strides):
                vals = (vals[:, None] + np.arange(f, dtype=np.int64)[None, :] * st).reshape(-1)
            hit = self._distinct_cache[key] = len(np.unique(vals))
        return hit

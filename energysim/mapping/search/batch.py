"""The vectorized evaluation of the mapping search (``BatchEvaluator``): the engine's counting formulas of
``energysim.model.counts`` re-written over arrays of tilings of one ``Space``, one batch per spatial unrolling
and loop order, with what does not depend on the loop order prepared once per batch (``prepare``)."""

from __future__ import annotations

import bisect
import math
from math import prod

import numpy as np

from energysim.errors import EnergySimError
from energysim.mapping.search import accel
from energysim.mapping.search.arrays import distinct_sums
from energysim.mapping.search.space import Space
from energysim.model.memo import Memo
from energysim.model.pricing import access_energy, hop_energy, leakage, mac_energy

OBJECTIVE_CODES = {"energy": 0, "cycles": 1, "edp": 2}

# ``sp_bound`` and ``_rank_slots`` by what they depend on (neither reads a capacity): shared by the spaces of one
# search and by the designs of a sweep that differ only in buffer sizes
_BOUNDS = Memo(4096)
_RANK_SLOTS = Memo(4096)


def sp_key(sp: dict) -> tuple:
    """A spatial unrolling {level: (spatial_x, spatial_y)} as a hashable key."""
    return tuple((l, tuple(x.items()), tuple(y.items())) for l, (x, y) in sorted(sp.items()))

def score(res: dict, objective: str) -> np.ndarray:
    """The objective per candidate of ``evaluate_batch`` results (inf where invalid); cycles ties go to the
    lower energy."""
    e = res["energy"] + res["network"]
    if objective == "energy":
        v = e
    elif objective == "cycles":
        v = res["cycles"] + e * 1e-30
    else:
        v = e * res["cycles"]
    return np.where(res["valid"], v, np.inf)


class BatchEvaluator:
    """Evaluates batches of candidates of ``space`` (and memoizes what batches share)."""

    def __init__(self, space: Space):
        self.space = space
        self._slots: dict = {}
        for k, ds in enumerate(space.ds):
            if not space.kept_idx_all[k]:
                raise EnergySimError(f"data space {ds.name} is kept at no level")

    # ---- scoring: the compiled kernels when numba is there, else evaluate_batch -----------------------------
    def scoring(self, sp: dict, F: np.ndarray) -> dict:
        """What ``best`` needs of one batch, prepared once for every loop order."""
        kern = accel.kernels()
        if kern is None:
            prep = self.prepare(sp, F)
            prep["kernel"] = None
            return prep
        space = self.space
        a = space.kernel_arrays()
        n, L, K = F.shape[0], space.L, len(space.ds)
        spf = space.spatial_factor_array(sp)
        F = np.ascontiguousarray(F)
        ext, tiles, rext, valid, distinct = kern.prepare_rows(
            F, a["tpos"], spf, a["nrank"], a["nterm"], a["tdim"], a["tcoef"], a["ngroup"], a["gmask"], a["gcap"],
            space.tests.fit, space.tests.over, *self._rank_slot_arrays(sp))
        inst = [int(prod(int(spf[l].prod()) for l in range(i))) for i in range(L + 1)]
        partition = np.zeros((L, K), dtype=np.int64)
        for k, ds in enumerate(space.ds):
            if ds.read_write:
                for i in space.kept_idx_all[k]:
                    above = spf[:i].prod(axis=0) if i > 0 else np.ones(space.D, dtype=np.int64)
                    partition[i, k] = int(space.tile_sizes(k, (space.bounds // above)[None, :])[0])
        prep = {"kernel": kern, "n": n, "F": F, "spf": spf, "ext": ext, "tiles": tiles, "rext": rext,
                "valid": valid, "distinct": distinct, "partition": partition,
                "inst": np.array(inst, dtype=np.int64), "per_mac": space.macs // inst[L],
                "mac_e": float(mac_energy(space.profile, space.macs)), "present": (F > 1).any(axis=0)}
        return prep

    def bound(self, prep: dict, objective: str) -> float:
        """The lowest value any row of the batch can reach under any loop order (``kernels.lower_bounds``);
        -inf on the numpy path (no bound). Also orders the rows for ``best``'s early stop."""
        kern = prep["kernel"]
        if kern is None:
            return -np.inf
        if prep.get("objective") != objective:
            a = self.space.kernel_arrays()
            lb = kern.lower_bounds(prep["F"], prep["tiles"], prep["rext"], prep["ext"], prep["valid"],
                                   prep["distinct"], prep["partition"], prep["spf"], prep["inst"], prep["per_mac"],
                                   a["tlev"], a["rel"], a["slide_r"], a["slide_c"], a["kept"], a["nkept"], a["rw"],
                                   a["block"], a["rpj"], a["wpj"], a["upj"], a["hop"], a["rbw"], a["wbw"], a["leak"],
                                   prep["mac_e"], OBJECTIVE_CODES[objective])
            prep.update(objective=objective, lb=lb, visit=np.argsort(lb, kind="stable"))
        lb = prep["lb"]
        return float(lb[prep["visit"][0]]) if len(lb) else np.inf

    def best(self, sp: dict, perms: list[tuple[str, ...]], F: np.ndarray, prep: dict, objective: str,
             scores: np.ndarray | None = None, slots: tuple | None = None,
             limit: float = np.inf) -> tuple[float, int]:
        """(lowest objective value, its first row) of the batch under loop order ``perms``; inf when no row is
        valid. ``scores``, when given, receives every row's value; ``slots``: ``slot_order(perms, prep)``.
        ``limit``: the caller only needs rows below it; the compiled kernel then returns (inf, 0) when there is
        none, and stops earlier (the numpy path returns the true minimum either way)."""
        kern = prep["kernel"]
        if kern is None:
            v = score(self.evaluate_batch(sp, perms, F, prep), objective)
            if scores is not None:
                scores[:] = v
            k = int(np.argmin(v))
            return float(v[k]), k
        a = self.space.kernel_arrays()
        slot_t, slot_d, slot_lev, prefix = self._slot_arrays_of(slots or self.slot_order(perms, prep))
        out = scores if scores is not None else np.empty(0)
        self.bound(prep, objective)
        v, k = kern.score_order(prep["F"], prep["ext"], prep["tiles"], prep["rext"], prep["valid"], prep["distinct"],
                                prep["partition"], prep["spf"], prep["inst"], prep["per_mac"], slot_t, slot_d, slot_lev,
                                prefix, a["rel"], a["slide_r"], a["slide_c"], a["kept"], a["nkept"], a["rw"],
                                a["block"], a["rpj"], a["wpj"], a["upj"], a["hop"], a["rbw"], a["wbw"], a["leak"],
                                prep["mac_e"], OBJECTIVE_CODES[objective], prep["visit"], prep["lb"], out,
                                float(limit))
        return float(v), int(k)

    def sp_bound(self, sp: dict, objective: str, detail: dict | None = None) -> float:
        """A lower bound of the objective of every tiling and loop order under spatial unrolling ``sp``,
        before any tiling is enumerated: what does not depend on them is exact (MAC energy; the innermost
        keeping level of each data space serves every MAC: per_mac x distinct children reads), and every other
        access count is at least its share of the words the problem touches (``Space.touched_words``: each is
        read from and written into every level keeping it at least once; per-instance counts are equal, so one
        instance moves at least ceil(words / instances)). Distinct children counts are at least the largest
        spatial factor of each rank. Summed in the order of ``evaluate_batch``, so the float result is a bound of
        the float values too.
        ``detail``, when given, receives the bound's ``counts`` {(level, data space): (reads, fills, updates)} and
        ``inst`` (instances per level), what ``outer_bound.outer_tile_bound`` raises (read-only)."""
        space = self.space
        key = (space.bound_key, sp_key(sp), objective)
        hit = _BOUNDS.get(key)
        if hit is None:
            mine: dict = {}
            hit = _BOUNDS.put(key, (self._sp_bound(sp, objective, mine), mine))
        if detail is not None:
            detail.update(hit[1])
        return hit[0]

    def _sp_bound(self, sp: dict, objective: str, detail: dict) -> float:
        space = self.space
        L, K = space.L, len(space.ds)
        spf = space.spatial_factor_array(sp)
        inst = [int(prod(int(spf[l].prod()) for l in range(i))) for i in range(L + 1)]
        per_mac = space.macs // inst[L]
        table = self._rank_slots(sp)
        dist = {jk: const * prod(max(f for _, f, _ in rank) for rank in multi) for jk, (const, multi) in table.items()}
        whole = [space.touched_words(k) for k in range(K)]
        levels = space.profile.levels
        e_ik, h_ik, rd, wr = {}, {}, [0] * L, [0] * L
        for k, ds in enumerate(space.ds):
            kept = space.kept_idx_all[k]
            for pos, i in enumerate(kept):
                c = kept[pos + 1] if pos + 1 < len(kept) else L
                share = -(-whole[k] // inst[i])
                if c == L:
                    mult = prod(dist[(j, k)] for j in range(i, c))
                    from_children = per_mac * mult
                else:
                    from_children = share
                if ds.read_write:
                    above = spf[:i].prod(axis=0) if i > 0 else np.ones(space.D, dtype=np.int64)
                    partition = int(space.tile_sizes(k, (space.bounds // above)[None, :])[0])
                    updates, reads = from_children, from_children - partition
                    fills = 0 if pos == 0 else share - partition
                else:
                    reads, updates, fills = from_children, 0, 0 if pos == 0 else share
                lv = levels[i]
                detail.setdefault("counts", {})[(i, k)] = (reads, fills, updates)
                e_ik[(i, k)] = access_energy(lv, reads, fills, updates) * inst[i]
                if lv.network_hop_pj:
                    h_ik[(i, k)] = hop_energy(lv, float(reads * inst[i] + updates * inst[i]))
                rd[i] += reads
                wr[i] += fills + updates
        cycles, network = float(per_mac), 0.0
        for i, lv in enumerate(levels):
            for k in range(K):
                if (i, k) in h_ik:
                    network = network + h_ik[(i, k)]
            if lv.read_bandwidth:
                cycles = max(cycles, math.ceil(rd[i] / lv.read_bandwidth))
            if lv.write_bandwidth:
                cycles = max(cycles, math.ceil(wr[i] / lv.write_bandwidth))
        total = 0.0
        for i, lv in enumerate(levels):
            le = 0.0
            for k in range(K):
                if (i, k) in e_ik:
                    le = le + e_ik[(i, k)]
            if lv.leak_pj:
                le = le + lv.leak_pj * cycles * inst[i]
            total = total + le
        en = total + float(mac_energy(space.profile, space.macs)) + network
        detail["inst"] = inst
        return {"energy": en, "cycles": cycles + en * 1e-30, "edp": en * cycles}[objective]

    def _rank_slot_arrays(self, sp: dict) -> tuple:
        """``_rank_slots`` as arrays for ``kernels.prepare_rows``."""
        space = self.space
        L, K = space.L, len(space.ds)
        table = self._rank_slots(sp)
        MR = max(1, max(len(m) for _, m in table.values()))
        S = max(1, max((len(r) for _, m in table.values() for r in m), default=1))
        dconst = np.ones((L, K), dtype=np.int64)
        nmr = np.zeros((L, K), dtype=np.int64)
        mr_n = np.zeros((L, K, MR), dtype=np.int64)
        mr_d, mr_f, mr_m = (np.zeros((L, K, MR, S), dtype=np.int64) for _ in range(3))
        for (j, k), (const, multi) in table.items():
            dconst[j, k] = const
            nmr[j, k] = len(multi)
            for q, rank in enumerate(multi):
                mr_n[j, k, q] = len(rank)
                for g, (d, f, mc) in enumerate(rank):
                    mr_d[j, k, q, g], mr_f[j, k, q, g], mr_m[j, k, q, g] = d, f, mc
        return dconst, nmr, mr_n, mr_d, mr_f, mr_m

    def _slot_arrays_of(self, slots: tuple) -> tuple:
        """The slots of ``slot_order`` as arrays (t, dim, level), and per level the number of slots above it."""
        if slots not in self._slots:
            arr = np.array(slots, dtype=np.int64).reshape(-1, 3)
            levs = [l for l, _, _ in slots]
            prefix = np.array([bisect.bisect_left(levs, i) for i in range(self.space.L + 1)], dtype=np.int64)
            self._slots[slots] = (np.ascontiguousarray(arr[:, 1]), np.ascontiguousarray(arr[:, 2]),
                                  np.ascontiguousarray(arr[:, 0]), prefix)
        return self._slots[slots]

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
        distinct = self._distinct_children(sp, n, lambda j, d: ext[j][:, d])
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

    def _rank_slots(self, sp: dict) -> dict[tuple[int, int], tuple[int, list]]:
        """Per (level j, data space k): the product of the spatial factors that move a rank alone, and for each
        rank moved by several spatial slots of level j (e.g. P and R of Inputs) their ``(dim, factor,
        stride multiplier)``: a dimension indexes at most one rank and the children form a full grid, so the
        rank offsets vary independently and the distinct tiles are the product over ranks of the distinct
        offsets per rank; a rank moved by one slot has as many offsets as the slot's factor. (Read-only.)"""
        space = self.space
        key = (tuple(space.dims), space.terms_key, space.L, sp_key(sp))
        hit = _RANK_SLOTS.get(key)
        return hit if hit is not None else _RANK_SLOTS.put(key, self._rank_slots_of(sp))

    def _rank_slots_of(self, sp: dict) -> dict[tuple[int, int], tuple[int, list]]:
        space = self.space
        out: dict[tuple[int, int], tuple[int, list]] = {}
        for j in range(space.L):
            x, y = sp.get(j, ({}, {}))
            x = {d: f for d, f in x.items() if f > 1}
            y = {d: f for d, f in y.items() if f > 1}
            slots = []  # spatial slots of level j in Mapping.loops order
            for d in list(x) + [d for d in y if d not in x]:
                for fac in (x, y):
                    if fac.get(d, 1) > 1:
                        slots.append((space.di[d], fac[d]))
            for k in range(len(space.ds)):
                const, multi = 1, []
                for terms in space.terms[k]:
                    coef = dict(terms)
                    mine = [g for g, (d, _) in enumerate(slots) if d in coef]
                    if len(mine) == 1:
                        const *= slots[mine[0]][1]
                    elif len(mine) > 1:
                        multi.append([(slots[g][0], slots[g][1],
                                       prod(ff for dd, ff in slots[g + 1:] if dd == slots[g][0]) * coef[slots[g][0]])
                                      for g in mine])
                out[(j, k)] = (const, multi)
        return out

    def _distinct_children(self, sp: dict, n: int, ext_of) -> dict[tuple[int, int], np.ndarray]:
        """Distinct children per (level j, data space k) [n] (see ``_rank_slots``; ``ext_of(j, d)``: the
        extents [n] of dimension d at level j); a rank moved by several slots is counted per row's strides."""
        distinct: dict[tuple[int, int], np.ndarray] = {}
        for (j, k), (const, multi) in self._rank_slots(sp).items():
            out = None
            for rank in multi:
                steps = np.empty((n, len(rank)), dtype=np.int64)
                for col, (d, _, mc) in enumerate(rank):
                    steps[:, col] = ext_of(j + 1, d) * mc
                factors = tuple(f for _, f, _ in rank)
                uniq, inv = np.unique(steps, axis=0, return_inverse=True)
                vals = np.array([distinct_sums(factors, tuple(int(v) for v in row)) for row in uniq],
                                dtype=np.int64)[inv.reshape(-1)]
                out = vals if out is None else out * vals
            distinct[(j, k)] = np.full(n, const, dtype=np.int64) if out is None else out * const
        return distinct

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

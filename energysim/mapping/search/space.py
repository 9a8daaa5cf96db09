"""The structured mapspace of one layer on one profile (``Space``): keeps, temporal levels, spatial slots and
capacity groups; the spatial unrolling and loop-order options; tile sizes and capacity tests over arrays of
extents (what the tiling enumeration and the batch evaluator both use); and a candidate as a ``Mapping``."""

from __future__ import annotations

import itertools
from math import prod

import numpy as np

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.mapping.search.arrays import distinct_sums, divisors
from energysim.mapping.search.flat import structure_arrays
from energysim.mapping.search.options import CONSTRAINTS, MapperOptions
from energysim.mapping.search.record import CapacityRecord
from energysim.mapping.templates import TEMPLATES
from energysim.model.mapping import LevelMapping, Mapping
from energysim.model.memo import Memo
from energysim.model.problem import Problem


_SPATIAL_MEMO = Memo(512)
_SKELETONS = Memo(1024)


class Space:
    """The structured mapspace of one problem on one profile under an optional dataflow constraint."""

    def __init__(self, problem: Problem, profile: HardwareProfile, constraint: str | None = None,
                 options: MapperOptions | None = None, pe_keep: tuple[str, ...] | None = None,
                 bypass: dict[int, tuple[str, ...]] | None = None, stacked: bool = True):
        if constraint is not None and constraint not in CONSTRAINTS:
            raise EnergySimError(f"unknown dataflow constraint {constraint!r}; choose one of {list(CONSTRAINTS)}")
        options = options or MapperOptions()
        # all but the capacities is shared by the spaces of one problem on profiles that differ only in buffer
        # sizes (a sweep's designs): built once, its attributes shared (read-only, as are a space's own)
        key = (problem.key, profile.levels_key(), profile.capacity_shape(), constraint, options, pe_keep,
               tuple(sorted((bypass or {}).items())), stacked)
        skeleton = _SKELETONS.get(key)
        if skeleton is None:
            self._build(problem, profile, constraint, options, pe_keep, bypass, stacked)
            skeleton = _SKELETONS.put(key, dict(self.__dict__))
        self.__dict__.update(skeleton)
        self.problem, self.profile = problem, profile
        #: what the space is, but for the sizes of its buffers (its copies on other sizes share it)
        self.skeleton_key = key
        self._set_capacities(profile)

    def _build(self, problem: Problem, profile: HardwareProfile, constraint: str | None, options: MapperOptions,
               pe_keep: tuple[str, ...] | None, bypass: dict[int, tuple[str, ...]] | None, stacked: bool) -> None:
        """Everything of the space but what reads the capacities (``_set_capacities``)."""
        self.problem, self.profile, self.constraint = problem, profile, constraint
        self.opt = options
        self.dims = list(problem.dims)
        self.D = len(self.dims)
        self.di = {d: k for k, d in enumerate(self.dims)}
        self.bounds = np.array([problem.bounds[d] for d in self.dims], dtype=np.int64)
        self.L = len(profile.levels)
        self.fan = [profile.fanout(i) for i in range(self.L)]
        self.ds = list(problem.data_spaces)
        # per data space, per rank: coefficient of each dim
        self.coef = [np.array([[sum(c for dd, c in rank if dd == d) for d in self.dims] for rank in ds.ranks],
                              dtype=np.int64).reshape(len(ds.ranks), self.D) for ds in self.ds]
        self.rel = [(c != 0).any(axis=0) for c in self.coef]
        # per data space, per rank: its (dim index, coefficient) terms (the hot loops iterate these, not arrays)
        self.terms = [[[(int(d), int(c[r, d])) for d in np.nonzero(c[r])[0]] for r in range(c.shape[0])]
                      for c in self.coef]
        # per data space: (dim, rank, coefficient) of each dimension that moves exactly one rank (a loop over
        # it slides the tile along that rank)
        self.slide_terms = [[(d, int(np.nonzero(c[:, d])[0][0]), int(c[np.nonzero(c[:, d])[0][0], d]))
                             for d in range(self.D) if (c[:, d] != 0).sum() == 1] for c in self.coef]
        for ds, c in zip(self.ds, self.coef):
            if ((c != 0).sum(axis=0) > 1).any():
                raise EnergySimError(f"mapper: data space {ds.name} of {problem.name!r} uses a dimension in two "
                                     "ranks; the vectorized evaluator does not support that projection")
        # keeps, as the template would set them
        fanout_levels = [i for i, (x, y) in enumerate(self.fan) if x * y > 1]
        self.first_pe = (fanout_levels[-1] + 1) if fanout_levels else self.L - 1
        names = problem.data_space_names
        self.keep_lists: list[list[str] | None] = []
        self.keeps: list[frozenset[str]] = []
        t = TEMPLATES[constraint] if constraint else None
        if t is not None:
            pe_keep = t.pe_keep
        self.pe_keep = pe_keep
        for i, lv in enumerate(profile.levels):
            allowed = [d for d in lv.kept() if d in names]
            if pe_keep is not None and i >= self.first_pe and i > 0:
                k = [d for d in allowed if d in pe_keep]
                self.keep_lists.append(k)
                self.keeps.append(frozenset(k))
            else:
                self.keep_lists.append(None)
                self.keeps.append(frozenset(allowed))
            if bypass and i in bypass and i > 0:
                # data spaces this level may also bypass (``MapperOptions.bypass``): served by the next ancestor
                k = [d for d in (self.keep_lists[i] if self.keep_lists[i] is not None else allowed)
                     if d not in bypass[i]]
                self.keep_lists[i] = k
                self.keeps[i] = frozenset(k)
        self.bypass = dict(bypass or {})
        self.temporal_levels = [0] + [i for i in range(1, self.L)
                                      if profile.levels[i].cls != "dummy" and self.keeps[i]]
        self.T = len(self.temporal_levels)
        self.tpos = {l: k for k, l in enumerate(self.temporal_levels)}
        # stacked=False: each part of a split buffer tiled on its own (what the search did before it knew the
        # parts; ``driver._spaces`` runs both where a profile has them, so neither answer is ever lost)
        self.stacked = stacked
        self.partitions = self._partitions(profile) if stacked else {}
        self.spatial_slots = self._slots(t)
        # per level: the data spaces kept there
        self.kept_idx = [[k for k, ds in enumerate(self.ds) if ds.name in self.keeps[i]] for i in range(self.L)]
        self.kept_idx_all = [[i for i in range(self.L) if ds.name in self.keeps[i]] for ds in self.ds]
        self.macs = problem.macs
        # what tile sizes and capacity tests depend on, as hashable keys (for memos shared between spaces)
        self.terms_key = tuple(tuple(tuple(r) for r in t) for t in self.terms)
        self.tcons, self.t_infeasible = self._temporal_constraints()
        # a partitioned outermost on-chip buffer (``_partitions``): a larger tile there is not always better (a
        # loop it takes from DRAM re-fetches what its inner partition keeps), so no growth pruning (``Tiler``)
        top = self.temporal_levels[1] if self.T > 1 else None
        self.partitioned_top = top is not None and any(top in ups for ups in self.partitions.values())
        self.pcons = self._perm_constraints()
        self._bound_key = None
        self._kshared: dict = {}  # the kernels' arrays but the capacities (``kernel_arrays``), of every copy
        self.level_loops: dict = {}  # per temporal level, what it loops over (``Tiler._loops``), of every copy

    def _set_capacities(self, profile: HardwareProfile) -> None:
        self.caps = [lv.capacity() for lv in profile.levels]
        # per level, the capacity groups as ([data space index], words)
        self.fit_groups = []
        for i, lv in enumerate(profile.levels):
            names = [self.ds[k].name for k in self.kept_idx[i]]
            self.fit_groups.append([([k for k in self.kept_idx[i] if self.ds[k].name in g], cap)
                                    for g, cap in lv.capacity_groups(names) if cap is not None] if names else [])
        #: the capacity tests of this space's searches (``replay``)
        self.tests = CapacityRecord(self.L, max(1, max(len(g) for g in self.fit_groups)))
        #: set by a ``Tiler`` of this space that had to drop partial tilings to ``max_pairs``
        self.pairs_capped = False
        self._karrays = None

    @property
    def bound_key(self) -> tuple:
        """What ``BatchEvaluator.sp_bound`` depends on besides the unrolling and objective: the problem, the
        profile but its capacities (``HardwareProfile.levels_key``) and the keeps; not the partitions."""
        if self._bound_key is None:
            self._bound_key = (self.problem.key, self.profile.levels_key(), tuple(self.keeps))
        return self._bound_key

    def _partitions(self, profile) -> dict[int, list[int]]:
        """Buffer partitions as stacked levels: per temporal level i of one instance (not DRAM), the levels of one
        instance directly above it (below DRAM, no fan-out in between) that keep something; e.g. ``GLB``
        (ifmaps, psums) over ``GLB_filters`` (filters): ``{GLB_filters: [GLB]}``. A loop at the inner partition
        lies inside the outer's tile too, so it may run over the dimensions of what either keeps
        (``Tiler.level_grid``): a loop over an ifmap dimension inside the filter partition keeps the filters
        resident across it, which the same loop at the outer partition would not."""
        out: dict[int, list[int]] = {}
        for i in self.temporal_levels[1:]:
            above = []
            for j in profile.stacked_above(i):
                if not self.keeps[j]:
                    break
                above.append(j)
            if above:
                out[i] = above
        return out

    def _temporal_constraints(self) -> tuple[list[dict[int, int]], bool]:
        """Per temporal level, {dimension index: factor} of ``MapperOptions.temporal_factors`` (0 = the residual;
        the levels outside a residual take 1), and whether a constraint asks loops of a level without any."""
        out: list[dict[int, int]] = [{} for _ in range(self.T)]
        bad = False
        names = self.profile.level_names
        for name, facs in self.opt.temporal_factors:
            if name not in names:
                raise EnergySimError(f"mapper: temporal factors for unknown level {name!r} (levels: {names})")
            i = names.index(name)
            for d, k in facs:
                if d not in self.di:
                    continue
                if i in self.tpos:
                    out[self.tpos[i]][self.di[d]] = int(k)
                elif k != 1:
                    bad = True  # the level takes no temporal loops in this space
        for t in range(self.T):
            for d, k in list(out[t].items()):
                if k == 0:
                    for t2 in range(t):
                        out[t2].setdefault(d, 1)
        return out, bad

    def _perm_constraints(self) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Per temporal level, the (inner, outer) dimensions of ``MapperOptions.permutations``."""
        out = {}
        names = self.profile.level_names
        for name, (inner, outer) in self.opt.permutations:
            if name not in names:
                raise EnergySimError(f"mapper: a permutation for unknown level {name!r} (levels: {names})")
            i = names.index(name)
            if i in self.tpos:  # elsewhere the level has no temporal loops: any order holds
                out[self.tpos[i]] = (tuple(d for d in inner if d in self.di), tuple(d for d in outer if d in self.di))
        return out

    def fit_key(self, level: int) -> tuple:
        """What ``fits(level, ...)`` depends on besides the extents: its capacity groups."""
        return tuple((tuple(g), cap) for g, cap in self.fit_groups[level])

    def _slots(self, t) -> list:
        """Spatial slots (level, axis, cap, allowed dims) for template ``t`` (None = every dimension)."""
        slots = []
        for i, (fx, fy) in enumerate(self.fan):
            for axis, cap in (("X", fx), ("Y", fy)):
                if cap > 1:
                    if t is None and self.opt.spatial is not None:
                        allowed = [d for d in dict(self.opt.spatial).get(axis, ()) if d in self.di]
                    elif t is None:
                        allowed = [d for d in self.dims]
                    else:
                        allowed = [d for d in (t.spatial_x if axis == "X" else t.spatial_y) if d in self.di]
                    slots.append((i, axis, cap, allowed))
        return slots

    # ---- spatial ---------------------------------------------------------------------------------------
    def spatial_options(self) -> list[dict]:
        """Spatial unrollings: dicts level -> (spatial_x, spatial_y), most PEs first (deterministic)."""
        return self._spatial_options(self.spatial_slots)

    def _spatial_options(self, slots, limit: int | None = None) -> list[dict]:
        # the options depend only on the bounds, the slots and the options' knobs (the keep variants of a free
        # search share their slots): computed once per process for each (treat the dicts as read-only)
        key = (tuple(self.dims), tuple(int(b) for b in self.bounds), tuple((l, a, c, tuple(al)) for l, a, c, al in slots),
               self.opt.max_spatial_dims, self.opt.exhaustive, limit or self.opt.spatial_candidates,
               self.opt.spatial_full, self.opt.min_pe_fraction, self.constraint == "rs")
        hit = _SPATIAL_MEMO.get(key)
        if hit is None:
            hit = self._enumerate_spatial(slots, limit)
            _SPATIAL_MEMO.put(key, hit)
        return list(hit)

    def _enumerate_spatial(self, slots, limit: int | None = None) -> list[dict]:
        out: list[tuple[int, int, dict]] = []
        maxd = self.opt.max_spatial_dims

        def slot_choices(rem: dict[str, int], cap: int, allowed: list[str]) -> list[tuple[tuple[str, int], ...]]:
            ch: list[tuple[tuple[str, int], ...]] = [()]
            cands = [d for d in allowed if rem[d] > 1]
            for r in range(1, maxd + 1):
                for combo in itertools.combinations(cands, r):
                    for fs in itertools.product(*[[f for f in divisors(rem[d]) if 1 < f <= cap] for d in combo]):
                        if prod(fs) <= cap:
                            ch.append(tuple(zip(combo, fs)))
            if not self.opt.exhaustive and len(ch) > 1:
                best = max(prod(f for _, f in c) for c in ch)
                ch = [c for c in ch if prod(f for _, f in c) * 2 > best or prod(f for _, f in c) == best]
            return ch

        def rec(k: int, rem: dict[str, int], acc: list):
            if k == len(slots):
                used = prod(f for _, _, c in acc for _, f in c)
                sp: dict[int, tuple[dict, dict]] = {}
                for (lvl, axis, c) in acc:
                    x, y = sp.setdefault(lvl, ({}, {}))
                    (x if axis == "X" else y).update(dict(c))
                out.append((used, len(out), sp))
                return
            lvl, axis, cap, allowed = slots[k]
            for c in slot_choices(rem, cap, allowed):
                r2 = dict(rem)
                for d, f in c:
                    r2[d] //= f
                rec(k + 1, r2, acc + [(lvl, axis, c)])

        rec(0, {d: int(b) for d, b in zip(self.dims, self.bounds)}, [])
        if self.opt.spatial_full:
            # dimensions to unroll whole over an axis (when some unrolling does): the others are dropped
            full = [(axis, self.di[d]) for axis, ds in self.opt.spatial_full for d in ds if d in self.di]

            def whole(sp: dict) -> bool:
                for axis, d in full:
                    f = prod((x if axis == "X" else y).get(self.dims[d], 1) for x, y in sp.values())
                    if f != self.bounds[d]:
                        return False
                return True

            kept = [t for t in out if whole(t[2])]
            out = kept or out
        if self.opt.min_pe_fraction and out:
            top = max(t[0] for t in out)
            out = [t for t in out if t[0] >= self.opt.min_pe_fraction * top]
        out.sort(key=lambda t: (-t[0], t[1]))
        res = [sp for _, _, sp in out]
        n = limit or self.opt.spatial_candidates
        if n and not self.opt.exhaustive and len(res) > n:
            # options that tie with the n-th on PEs used are kept too (up to 2n): which of equally busy arrays
            # is best depends on reuse, not on utilization
            cut = out[n - 1][0]
            ties = sum(1 for used, _, _ in out[n:2 * n] if used == cut)
            res = res[: n + ties]
            if self.constraint == "rs" and not self.opt.spatial_full and "R" in self.di:
                # row stationary's own PE sets (every filter row on its own PE row: R unrolled whole on Y) can
                # use fewer PEs than the busiest arrays (AlexNet CONV1: 11 x 11 of 168) and still be the best
                # mapping: the busiest such options are searched too
                r = self.di["R"]
                sets = [sp for _, _, sp in out[n:]
                        if prod(y.get("R", 1) for _, y in sp.values()) == self.bounds[r]]
                res += sets[:n]
        return res

    def spatial_factor_array(self, sp: dict) -> np.ndarray:
        """[L, D] spatial factor (X times Y) per level and dimension."""
        a = np.ones((self.L, self.D), dtype=np.int64)
        for lvl, (x, y) in sp.items():
            for fac in (x, y):
                for d, f in fac.items():
                    a[lvl, self.di[d]] *= f
        return a

    # ---- tiles and capacity ----------------------------------------------------------------------------
    def tile_sizes(self, k: int, ext: np.ndarray) -> np.ndarray:
        """Words of data space k's tile for extents ``ext`` [..., D]."""
        out = None
        for r in range(len(self.terms[k])):
            e = self.rank_extent(k, r, ext)
            out = e if out is None else out * e
        return out if out is not None else np.ones(ext.shape[:-1], dtype=np.int64)

    def touched_words(self, k: int) -> int:
        """Distinct words of data space k that the problem's MACs touch: ``tile_sizes`` of the whole problem less
        the holes of a strided rank (a 1x1 convolution at stride 2 touches every other input row). Every level
        keeping k is filled with each of them at least once, while the tiles of a tiling (each its own hull)
        can together hold fewer words than the whole problem's hull: the share ``BatchEvaluator.sp_bound``
        counts."""
        return prod(distinct_sums(tuple(int(self.bounds[d]) for d, _ in terms), tuple(c for _, c in terms))
                    for terms in self.terms[k])

    def rank_extent(self, k: int, r: int, ext: np.ndarray) -> np.ndarray:
        """Extent of rank r of data space k for extents ``ext`` [..., D]."""
        terms = self.terms[k][r]
        if len(terms) == 1 and terms[0][1] == 1:  # the common case: the rank is one dimension
            return ext[..., terms[0][0]]
        out = np.ones(ext.shape[:-1], dtype=np.int64)
        for d, c in terms:
            out = out + c * (ext[..., d] - 1)
        return out

    def fits(self, level: int, ext: np.ndarray) -> np.ndarray:
        """Whether the kept tiles at extents ``ext`` [..., D] fit ``level`` (as ``Mapping.validate_for``)."""
        ok = np.ones(ext.shape[:-1], dtype=bool)
        sizes: dict[int, np.ndarray] = {}
        for g, (group, cap) in enumerate(self.fit_groups[level]):
            for k in group:
                if k not in sizes:
                    sizes[k] = self.tile_sizes(k, ext)
            words = sum(sizes[k] for k in group)
            fit = words <= cap
            self.tests.add(level, g, words, fit)
            ok &= fit
        return ok

    def fits_one(self, level: int, ext) -> bool:
        """``fits`` for one row of extents (a sequence of D ints), in plain integers (no arrays: it is asked for
        every level of every tiler)."""
        ok = True
        sizes: dict[int, int] = {}
        for g, (group, cap) in enumerate(self.fit_groups[level]):
            words = 0
            for k in group:
                if k not in sizes:
                    sizes[k] = prod(1 + sum(c * (int(ext[d]) - 1) for d, c in terms) for terms in self.terms[k])
                words += sizes[k]
            self.tests.add_one(level, g, words, words <= cap)
            ok = ok and words <= cap
        return ok

    def tested(self) -> dict[tuple[int, tuple[str, ...]], tuple[int, int]]:
        """The capacity tests so far as (level, data spaces of the group) -> (most words that fitted, fewest that
        did not; int64 max when none)."""
        out = {}
        for i, groups in enumerate(self.fit_groups):
            for g, (ks, _) in enumerate(groups):
                out[(i, tuple(self.ds[k].name for k in ks))] = (int(self.tests.fit[i, g]), int(self.tests.over[i, g]))
        return out

    def fill_parts(self, level: int) -> tuple[list[int], int]:
        """What ``fill`` counts at ``level``: the data spaces kept there and at the buffer partitions stacked above
        it (``partitions``: their tiles grow with a loop at ``level`` too), and the sum of those levels'
        capacities in words (0: no capacity, nothing to rank by)."""
        levels = [level, *self.partitions.get(level, ())]
        if any(not self.caps[l2] for l2 in levels if self.kept_idx[l2]):
            levels = [level]
        kept = sorted({k for l2 in levels for k in self.kept_idx[l2]})
        cap = sum(self.caps[l2] for l2 in levels if self.kept_idx[l2]) if self.caps[level] else 0
        return kept, cap

    def fill(self, level: int, ext: np.ndarray) -> np.ndarray:
        """Fraction of the level's capacity its kept tiles use (for ranking partial tilings); with the buffer
        partitions stacked above it, of their capacities together (``fill_parts``)."""
        kept, cap = self.fill_parts(level)
        if not kept or not cap:
            return np.zeros(ext.shape[:-1])
        return sum(self.tile_sizes(k, ext) for k in kept) / cap

    # ---- loop orders -----------------------------------------------------------------------------------
    def perm_options(self, sp: dict | None = None) -> list[list[tuple[str, ...]]]:
        """Per temporal level, the loop orders (outer -> inner) worth trying."""
        out = []
        for t, lvl in enumerate(self.temporal_levels):
            if t == self.T - 1:
                out.append([tuple(self.dims)])
                continue
            if self.opt.all_permutations:
                S = self.spatial_factor_array(sp) if sp else np.ones((self.L, self.D), dtype=np.int64)
                rem = self.bounds // S.prod(axis=0)
                big = [d for d in self.dims if rem[self.di[d]] > 1]
                small = [d for d in self.dims if d not in big]
                out.append([tuple(p) + tuple(small) for p in itertools.permutations(big)])
                continue
            opts = []
            for k in range(len(self.ds)):
                o = tuple([d for d in self.dims if self.rel[k][self.di[d]]] +
                          [d for d in self.dims if not self.rel[k][self.di[d]]])
                if o not in opts:
                    opts.append(o)
            out.append(opts)
        if self.pcons:
            for t, (inner, outer) in self.pcons.items():
                # a constrained level: the listed dimensions innermost / outermost in their order, the others
                # in the orders tried without the constraint (outer -> inner, Timeloop's lists are inner-first)
                listed = set(inner) | set(outer)
                opts = []
                for o in out[t]:
                    c = tuple(reversed(outer)) + tuple(d for d in o if d not in listed) + tuple(reversed(inner))
                    if c not in opts:
                        opts.append(c)
                out[t] = opts
        return out

    # ---- the space as flat arrays (for the compiled kernels) ----------------------------------------------
    def kernel_arrays(self) -> dict:
        """The space's structure as integer/float arrays (what ``kernels`` reads instead of Python lists); all but
        the capacities (``gcap``) shared with the space's copies on other buffer sizes."""
        if self._karrays is None:
            if not self._kshared:
                self._kshared.update(structure_arrays(self))
            gcap = np.zeros(self._kshared["gmask"].shape[:2], dtype=np.int64)
            for i, groups in enumerate(self.fit_groups):
                for g, (_, cap) in enumerate(groups):
                    gcap[i, g] = cap
            self._karrays = dict(self._kshared, gcap=gcap)
        return self._karrays

    # ---- to a Mapping ----------------------------------------------------------------------------------
    def to_mapping(self, sp: dict, perms: list[tuple[str, ...]], F: np.ndarray) -> Mapping:
        """The ``Mapping`` of one candidate (``F`` is [T, D])."""
        lms = []
        for i, lv in enumerate(self.profile.levels):
            temporal, perm = {}, []
            if i in self.tpos:
                t = self.tpos[i]
                temporal = {d: int(F[t, self.di[d]]) for d in self.dims if F[t, self.di[d]] > 1}
                perm = [d for d in perms[t] if d in temporal]
            x, y = sp.get(i, ({}, {}))
            lms.append(LevelMapping(level=lv.name, temporal=temporal, permutation=perm,
                                    spatial_x={d: int(f) for d, f in x.items() if f > 1},
                                    spatial_y={d: int(f) for d, f in y.items() if f > 1},
                                    keep=self.keep_lists[i]))
        return Mapping(levels=lms)

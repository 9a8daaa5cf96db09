"""Mapping search: find a good loop-nest mapping of one layer on one profile.

The search runs over a *structured mapspace*:

* **keeps** (bypass): per space, fixed. A constrained search (``rs``/``ws``/``os``) uses that template's
  PE-level keeps (``ws``: PE storage keeps Weights only; ``os``: Outputs only; ``rs``: all it can). A free
  search runs several spaces and keeps the best: the profile's keeps, PE storage keeping only Weights, only
  Outputs (each with every dimension allowed to be spatial), and the three constrained spaces, so a free
  search is never worse than a constrained one under the same options.
* **spatial unrolling**: at every fan-out, up to ``max_spatial_dims`` dimensions per mesh axis with factors
  dividing the bounds and fitting the fan-out. Free search allows every dimension (or the ones given in
  ``MapperOptions.spatial``); ``rs``/``ws``/``os`` allow only the dimensions that template unrolls on that axis.
* **temporal tiling**: every split of what the spatial loops leave of each bound over the *temporal levels*
  (the outermost level and every level that keeps something), with every tile fitting its level.
* **loop orders**: per temporal level, one order per data space X that makes X stationary (the dimensions
  that index X outside, the others inside). For the counting rules of ``counts`` only the innermost run of
  loops that do not index a data space gives it reuse at a level, and the longest such run for X is all of X's
  non-indexing loops. (``all_permutations=True`` tries every order of the dimensions with bounds > 1; the
  exhaustive benchmark and test use it on small problems.) The innermost temporal level's order has no
  effect on any count and is not searched.

Candidates are evaluated in vectorized numpy batches (``Space.evaluate_batch``: the engine's formulas
re-written over arrays of tilings; one batch per spatial unrolling and loop-order choice; what does not
depend on the loop order is computed once per spatial unrolling by ``Space.prepare``; loop-order choices that
give the same nest -- they differ only in dimensions without loops at a level -- are evaluated once).

The default search prunes (heuristics, measured against the exhaustive space by ``benchmarks/mapper_quality.py``):
spatial unrollings to the ``spatial_candidates`` that use the most PEs, plus those tying with the last one kept
(up to twice as many) (per axis, options using less than half of the best are dropped); a level takes temporal
loops only over dimensions that index something it keeps; at the outermost on-chip level, tiles that could still
take one more prime factor and fit are dropped; partial tilings are ranked by how full they make their level and
at most ``tile_cap`` kept (at the outermost on-chip level round-robin over its distinct tiles, ``per_tile`` each
per round) and at most ``max_pairs`` (partial, option) pairs examined per level (the partials round-robin over
their distinct remainders); loop orders are chosen by coordinate descent from the best uniform choice (level by
level, each option with the others fixed, until nothing improves). Tilings that already overflow an outer level are dropped (exact). ``exhaustive=True`` turns all pruning off
(every tiling x every spatial unrolling x the full product of loop orders).

The best candidate is always re-evaluated with ``counts.evaluate`` and checked to give identical counts and
cycles (and energy to 1e-9 relative: the engine sums with ``math.fsum``); the template mapping of the same
dataflow (``rs`` for free search) is evaluated too and returned if it is better, so a search is never worse
than the template. Results are cached per (problem shape, profile, dataflow, objective, options).
Everything is deterministic (no random choices; ties go to the first candidate in enumeration order).

Objectives: ``energy`` (pJ: accesses + leakage + MACs + NoC hops where the profile prices them, as
``estimate`` reports it), ``cycles`` (ties broken by energy), ``edp`` (energy x cycles).
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from math import prod

import numpy as np

from energysim.model.counts import LayerStats, evaluate
from energysim.mapping.templates import TEMPLATES, map_problem
from energysim.errors import EnergySimError
from energysim.model.mapping import LevelMapping, Mapping
from energysim.model.problem import Problem
from energysim.arch.profile import HardwareProfile

OBJECTIVES = ("energy", "cycles", "edp")
_EXHAUSTIVE_BLOCK = 400_000  # tilings per evaluated block in exhaustive mode (bounds memory to a few GB)
CONSTRAINTS = ("rs", "ws", "os")


@dataclass(frozen=True)
class MapperOptions:
    """Knobs of the search (defaults are what ``estimate --dataflow search`` uses)."""

    max_spatial_dims: int = 2  # dimensions per mesh axis and fan-out
    spatial_candidates: int = 4  # spatial unrollings kept (most utilized PEs first); 0 = all
    tile_cap: int = 1500  # partial tilings kept per level (search mode)
    # outermost on-chip level: partial tilings kept per distinct tile there before any tile gets more (0 = rank
    # by fill alone)
    per_tile: int = 1
    max_pairs: int = 500_000  # (partial tiling, level option) pairs examined per level (search mode)
    exhaustive: bool = False  # no pruning at all
    all_permutations: bool = False  # every loop order instead of the dominant ones
    max_passes: int = 3  # coordinate-descent passes over loop orders
    include_template: bool = True  # also evaluate the template mapping and keep it if better
    # free search only: fix which dimensions may be spatial per mesh axis, e.g. {"X": ("M",), "Y": ("C",)}
    # (as a ZigZag spatial-mapping file does); the search then runs over the profile's keeps only
    spatial: tuple[tuple[str, tuple[str, ...]], ...] | None = None


@dataclass
class MapperResult:
    """The best mapping found, its engine stats, and search facts."""

    mapping: Mapping
    stats: LayerStats
    energy_pj: float  # stats.energy_pj + NoC hop energy (what estimate reports)
    cycles: int
    objective: str
    value: float
    evaluated: int  # candidates evaluated
    seconds: float
    source: str  # "search" or "template"
    info: dict = field(default_factory=dict)


def parse_dataflow(name: str) -> str | None:
    """``search`` -> None (free); ``rs-search`` -> ``rs``; anything else is an error."""
    if name == "search":
        return None
    if name.endswith("-search") and name[: -len("-search")] in CONSTRAINTS:
        return name[: -len("-search")]
    raise EnergySimError(f"unknown search dataflow {name!r}; choose search, " + ", ".join(f"{c}-search" for c in CONSTRAINTS))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _product_grid(values: list[np.ndarray]) -> np.ndarray:
    """Every combination of one value per column [n, len(values)], in ``itertools.product`` order."""
    sizes = [len(v) for v in values]
    n = prod(sizes)
    out = np.empty((n, len(values)), dtype=np.result_type(*values) if values else np.int64)
    inner = n
    for c, v in enumerate(values):
        inner //= max(sizes[c], 1)
        # column c: each value repeated for every combination of the later columns, the block tiled over
        # every combination of the earlier ones
        out[:, c] = np.tile(np.repeat(v, inner), n // max(sizes[c] * inner, 1)) if n else v[:0]
    return out


def _unique_small(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_index=True, return_inverse=True)`` for integer keys in [0, size), by table
    lookup instead of sorting: the sorted distinct keys, the index of each one's first occurrence, and each
    key's position among them."""
    seen = np.zeros(size, dtype=bool)
    seen[keys] = True
    ukey = np.nonzero(seen)[0]
    pos = np.zeros(size, dtype=np.int64)
    pos[ukey] = np.arange(len(ukey))
    first = np.full(len(ukey), len(keys), dtype=np.int64)
    np.minimum.at(first, pos[keys], np.arange(len(keys)))
    return ukey, first, pos[keys]


def _best_first(values: np.ndarray, cap: int) -> np.ndarray:
    """Indices of the ``cap`` largest ``values``, largest first, ties in index order: the first ``cap`` of a
    stable sort by descending value, i.e. ``np.lexsort((np.arange(n), -values))[:cap]``. Only the values at
    least as large as the cap-th largest are sorted."""
    if len(values) > cap:
        kth = np.partition(values, len(values) - cap)[len(values) - cap]
        sel = np.nonzero(values >= kth)[0]
        return sel[np.argsort(-values[sel], kind="stable")[:cap]]
    return np.argsort(-values, kind="stable")


def _round_robin(keys: np.ndarray, cap: int, per_key: int = 1) -> np.ndarray:
    """Positions of at most ``cap`` entries of a ranked list (best first) with the given ``keys``: the first
    ``per_key`` of every key, then the next ``per_key`` of every key, and so on, each round in list order; the
    positions come back in list order."""
    if len(keys) <= cap:
        return np.arange(len(keys))
    srt = np.argsort(keys, kind="stable")
    ks = keys[srt]
    start = np.r_[0, np.nonzero(ks[1:] != ks[:-1])[0] + 1]
    occ = np.empty(len(keys), dtype=np.int64)  # rank of each entry among those with its key
    occ[srt] = np.arange(len(ks)) - np.repeat(start, np.diff(np.r_[start, len(ks)]))
    return np.sort(np.lexsort((np.arange(len(keys)), occ // per_key))[:cap])


def _diverse_best_first(values: np.ndarray, keys: np.ndarray, cap: int, per_key: int) -> np.ndarray:
    """Indices of at most ``cap`` entries, largest ``values`` first (ties in index order), taken round-robin over
    ``keys`` (``per_key`` per key per round; see :func:`_round_robin`)."""
    order = np.argsort(-values, kind="stable")
    return order[_round_robin(keys[order], cap, per_key)]


def _smallest_prime(n: int) -> int:
    for p in range(2, int(math.isqrt(n)) + 1):
        if n % p == 0:
            return p
    return n


# ------------------------------------------------------------------------------------------------------
# the mapspace
# ------------------------------------------------------------------------------------------------------
class Space:
    """The structured mapspace of one problem on one profile under an optional dataflow constraint."""

    def __init__(self, problem: Problem, profile: HardwareProfile, constraint: str | None = None,
                 options: MapperOptions | None = None, pe_keep: tuple[str, ...] | None = None):
        if constraint is not None and constraint not in CONSTRAINTS:
            raise EnergySimError(f"unknown dataflow constraint {constraint!r}; choose one of {list(CONSTRAINTS)}")
        self.problem, self.profile, self.constraint = problem, profile, constraint
        self.opt = options or MapperOptions()
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
        self.temporal_levels = [0] + [i for i in range(1, self.L)
                                      if profile.levels[i].cls != "dummy" and self.keeps[i]]
        self.T = len(self.temporal_levels)
        self.tpos = {l: k for k, l in enumerate(self.temporal_levels)}
        self.spatial_slots = self._slots(t)
        self.caps = [lv.capacity() for lv in profile.levels]
        # per level: the data spaces kept there, and the capacity groups as ([data space index], words)
        self.kept_idx = [[k for k, ds in enumerate(self.ds) if ds.name in self.keeps[i]] for i in range(self.L)]
        self.kept_idx_all = [[i for i in range(self.L) if ds.name in self.keeps[i]] for ds in self.ds]
        self.fit_groups = []
        for i, lv in enumerate(profile.levels):
            names = [self.ds[k].name for k in self.kept_idx[i]]
            self.fit_groups.append([([k for k in self.kept_idx[i] if self.ds[k].name in g], cap)
                                    for g, cap in lv.capacity_groups(names) if cap is not None] if names else [])
        self._distinct_cache: dict = {}
        self.macs = problem.macs

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
        out: list[tuple[int, int, dict]] = []
        maxd = self.opt.max_spatial_dims

        def slot_choices(rem: dict[str, int], cap: int, allowed: list[str]) -> list[tuple[tuple[str, int], ...]]:
            ch: list[tuple[tuple[str, int], ...]] = [()]
            cands = [d for d in allowed if rem[d] > 1]
            for r in range(1, maxd + 1):
                for combo in itertools.combinations(cands, r):
                    for fs in itertools.product(*[[f for f in _divisors(rem[d]) if 1 < f <= cap] for d in combo]):
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
        out.sort(key=lambda t: (-t[0], t[1]))
        res = [sp for _, _, sp in out]
        n = limit or self.opt.spatial_candidates
        if n and not self.opt.exhaustive and len(res) > n:
            # options that tie with the n-th on PEs used are kept too (up to 2n): which of equally busy arrays
            # is best depends on reuse, not on utilization
            cut = out[n - 1][0]
            ties = sum(1 for used, _, _ in out[n:2 * n] if used == cut)
            res = res[: n + ties]
        return res

    def spatial_factor_array(self, sp: dict) -> np.ndarray:
        """[L, D] spatial factor (X times Y) per level and dimension."""
        a = np.ones((self.L, self.D), dtype=np.int64)
        for lvl, (x, y) in sp.items():
            for fac in (x, y):
                for d, f in fac.items():
                    a[lvl, self.di[d]] *= f
        return a

    # ---- tilings ---------------------------------------------------------------------------------------
    def _tile_sizes(self, k: int, ext: np.ndarray) -> np.ndarray:
        """Words of data space k's tile for extents ``ext`` [..., D]."""
        out = None
        for r in range(len(self.terms[k])):
            e = self._rank_extent(k, r, ext)
            out = e if out is None else out * e
        return out if out is not None else np.ones(ext.shape[:-1], dtype=np.int64)

    def _fits(self, level: int, ext: np.ndarray) -> np.ndarray:
        """Whether the kept tiles at extents ``ext`` [..., D] fit ``level`` (as ``Mapping.validate_for``)."""
        ok = np.ones(ext.shape[:-1], dtype=bool)
        sizes: dict[int, np.ndarray] = {}
        for group, cap in self.fit_groups[level]:
            for k in group:
                if k not in sizes:
                    sizes[k] = self._tile_sizes(k, ext)
            ok &= sum(sizes[k] for k in group) <= cap
        return ok

    def _fill(self, level: int, ext: np.ndarray) -> np.ndarray:
        """Fraction of the level's capacity its kept tiles use (for ranking partial tilings)."""
        kept = self.kept_idx[level]
        cap = self.caps[level]
        if not kept or not cap:
            return np.zeros(ext.shape[:-1])
        return sum(self._tile_sizes(k, ext) for k in kept) / cap

    def tilings(self, sp: dict) -> np.ndarray:
        """Temporal factors [n, T, D] for spatial unrolling ``sp`` (every tile fits)."""
        return next(self.tiling_blocks(sp))

    def tiling_blocks(self, sp: dict, block_rows: int | None = None):
        """Yield the tilings of ``tilings(sp)`` as arrays [n, T, D]: all in one array when ``block_rows`` is None,
        else depth first in blocks of at most ``block_rows`` partial or whole tilings (exhaustive mode: the full
        product would not fit in memory on large layers; the rows are the same, in another order)."""
        S = self.spatial_factor_array(sp)
        rem = self.bounds // S.prod(axis=0)
        # spatial factors at levels >= l, per temporal level
        sp_below = np.array([S[l:].prod(axis=0) for l in range(self.L)], dtype=np.int64)
        F = np.ones((1, self.T, self.D), dtype=np.int64)
        left = rem[None, :].copy()
        divs = [np.array(_divisors(int(r)), dtype=np.int64) for r in rem]
        grid = _product_grid(divs)
        # a row of remainders (one divisor of rem per dimension) as one integer: its row number in ``grid``
        # (a cheap stand-in for np.unique(..., axis=0), which sorts structured rows)
        div_index = [np.zeros(int(r) + 1, dtype=np.int64) for r in rem]
        for d, dv in enumerate(divs):
            div_index[d][dv] = np.arange(len(dv))
        radix = np.cumprod([1] + [len(dv) for dv in divs[:0:-1]])[::-1]

        def row_key(rows: np.ndarray) -> np.ndarray:
            """Each row (one divisor of rem per dimension) as its row number in ``grid``."""
            return sum(div_index[d][rows[:, d]] * int(radix[d]) for d in range(self.D))

        div_table = [dv[:, None] % dv[None, :] == 0 for dv in divs]  # [a, b]: divisor b divides divisor a
        search = not self.opt.exhaustive
        # levels where even the largest tile (every remaining factor inside it) fits need no capacity test
        roomy = [not self.fit_groups[l] or bool(self._fits(l, (sp_below[l] * rem)[None, :])[0])
                 for l in range(self.L)]
        lgrids: dict[tuple, np.ndarray] = {}  # per set of dimensions a level takes loops over
        level_grids: dict[int, tuple] = {}

        def level_grid(t: int):
            """Level t's options before and after the exact capacity filter, what it loops over, and the levels
            whose capacity its tiles are checked against."""
            if t not in level_grids:
                lvl = self.temporal_levels[t]
                lgrid = grid
                relevant = np.zeros(self.D, dtype=bool)
                for k, ds in enumerate(self.ds):
                    if ds.name in self.keeps[lvl]:
                        relevant |= self.rel[k]
                if search:
                    # search: a level takes only loops over dimensions that index something it keeps (the rows of
                    # ``grid`` with 1 in the others, in the same order)
                    rkey = tuple(relevant)
                    if rkey not in lgrids:
                        lgrids[rkey] = _product_grid([dv if relevant[d] else dv[:1] for d, dv in enumerate(divs)])
                    lgrid = lgrids[rkey]
                n_all = len(lgrid)  # the max_pairs bound counts every option
                # an option whose tile overflows this level or an outer one with nothing inside it (inner tile 1)
                # overflows with any inner tile (tiles only grow with their extents): drop it before pairing (exact)
                checks = [l2 for l2 in [lvl] + [self.temporal_levels[t2] for t2 in range(1, t)] if not roomy[l2]]
                ok = np.ones(len(lgrid), dtype=bool)
                for l2 in checks:
                    ok &= self._fits(l2, sp_below[l2][None, :] * lgrid)
                lgrid = lgrid[ok]
                level_grids[t] = (n_all, lgrid, relevant, checks)
            return level_grids[t]

        def step(t: int, F: np.ndarray, left: np.ndarray):
            """Extend the partial tilings (F, left) by level t's options."""
            lvl = self.temporal_levels[t]
            n_all, lgrid, relevant, checks = level_grid(t)
            # pairs (partial, option) with option | left
            if search and len(left) * n_all > self.opt.max_pairs:
                # bound the work: keep max_pairs // n_all partial tilings, best-filled first (the list is sorted
                # by fill) but round-robin over their distinct remainders. Partials with the same remainder
                # differ only in how the inner levels split it, and take the same options here; by fill alone the
                # budget went to the inner splits of a few remainders
                keep = _round_robin(row_key(left), max(1, self.opt.max_pairs // n_all))
                F, left = F[keep], left[keep]
            # Partial tilings with the same remainders have the same inner tile (inner * left = rem), so
            # whether an option divides, fits, could grow and how full it makes the level depend only on the
            # (distinct remainder u, option g) pair: those tests run over the few distinct remainders, and the
            # (partial, option) pairs are only indexed, never materialized as [pairs, D] arrays.
            ukey, first, inv = _unique_small(row_key(left), len(grid))
            uleft = left[first]
            uinner = rem[None, :] // uleft
            # divides[u, g]: option g divides remainder u, one small table per dimension the level takes
            # loops over (elsewhere the option is 1)
            divides = np.ones((len(ukey), len(lgrid)), dtype=bool)
            for d in np.nonzero(relevant if search else np.ones(self.D, dtype=bool))[0]:
                gidx = div_index[d][lgrid[:, d]]
                divides &= div_table[d][div_index[d][uleft[:, d]]][:, gidx]
            parts = []
            chunk = max(1, 2_000_000 // max(1, len(lgrid)))  # bound memory (exhaustive mode)
            for u0 in range(0, len(ukey), chunk):
                ui, gi = np.nonzero(divides[u0:u0 + chunk])  # (u, g) order
                ui = ui + u0
                opt = lgrid[gi]
                tile = uinner[ui] * opt
                # the tile must fit this level and, look-ahead (exact), every outer level: outer tiles contain
                # this one, so a tile that already overflows an outer level is dead
                for l2 in checks:
                    fit = self._fits(l2, sp_below[l2][None, :] * tile)
                    ui, gi, opt, tile = ui[fit], gi[fit], opt[fit], tile[fit]
                ext = sp_below[lvl][None, :] * tile
                if search and len(ui) and t == 1:
                    # the outermost on-chip level: drop tiles that could still take a prime factor of some
                    # dimension (inner levels keep smaller tiles too: an outer level's capacity may need them)
                    newleft = uleft[ui] // opt
                    grow = np.zeros(len(ui), dtype=bool)
                    spf_tab = np.array([0, 0] + [_smallest_prime(v) for v in range(2, int(rem.max()) + 1)],
                                       dtype=np.int64)
                    for d in np.nonzero(relevant)[0]:
                        q = spf_tab[newleft[:, d]]
                        can = q > 0
                        if can.any():
                            e2 = ext[can].copy()
                            e2[:, d] *= q[can]
                            g2 = np.zeros(len(ui), dtype=bool)
                            g2[np.nonzero(can)[0]] = self._fits(lvl, e2)
                            grow |= g2
                    keep = ~grow
                    ui, gi, ext = ui[keep], gi[keep], ext[keep]
                tkey = None
                if search and t == 1:
                    tile = uinner[ui] * lgrid[gi]
                    tkey = row_key(tile)
                parts.append((ui, gi, self._fill(lvl, ext) if search else None, tkey))
            ui = np.concatenate([p[0] for p in parts])
            gi = np.concatenate([p[1] for p in parts])
            # the (partial, option) pairs in (partial, option) order: partial p takes the surviving options
            # of its remainder inv[p] (``ui`` is sorted, so u's options are the run starting at start[u])
            cnt = np.bincount(ui, minlength=len(ukey))
            start = np.cumsum(cnt) - cnt
            per_p = cnt[inv]
            pi = np.repeat(np.arange(len(left)), per_p)
            vi = start[inv[pi]] + (np.arange(len(pi)) - np.repeat(np.cumsum(per_p) - per_p, per_p))
            if search and len(pi):
                # best-filled first (ties in enumeration order); keep at most tile_cap. At the outermost on-chip
                # level (whose tile sets the DRAM traffic) at most per_tile per distinct tile before any tile gets
                # more: by fill alone, the many inner splits of a few full tiles crowd every other tile out
                fill = np.concatenate([p[2] for p in parts])[vi]
                if t == 1 and self.opt.per_tile:
                    order = _diverse_best_first(fill, np.concatenate([p[3] for p in parts])[vi], self.opt.tile_cap,
                                                self.opt.per_tile)
                else:
                    order = _best_first(fill, self.opt.tile_cap)
                pi, vi = pi[order], vi[order]
            opt = lgrid[gi[vi]]
            F2 = F[pi]  # a copy (fancy indexing)
            F2[:, t, :] = opt
            F, left = F2, left[pi] // opt
            return F, left

        def finish(F: np.ndarray, left: np.ndarray) -> np.ndarray:
            F[:, 0, :] = left
            if len(F):
                ext0 = sp_below[0][None, :] * F.prod(axis=1)
                F = F[self._fits(0, ext0)]
            return F

        if block_rows is None:
            for t in range(self.T - 1, 0, -1):
                F, left = step(t, F, left)
                if len(F) == 0:
                    break
            yield finish(F, left)
            return

        def depth_first(t: int, F: np.ndarray, left: np.ndarray):
            if t == 0:
                F = finish(F, left)
                if len(F):
                    yield F
                return
            rows = max(1, block_rows // max(1, len(level_grid(t)[1])))  # partials whose pairs fit a block
            for a in range(0, len(F), rows):
                F2, left2 = step(t, F[a:a + rows], left[a:a + rows])
                if len(F2):
                    yield from depth_first(t - 1, F2, left2)

        yield from depth_first(self.T - 1, F, left)

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
        return out

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

    # ---- vectorized evaluation -------------------------------------------------------------------------
    def prepare(self, sp: dict, F: np.ndarray) -> dict:
        """What does not depend on loop orders: extents, validity, tile sizes, multicast/reduction factors."""
        n = F.shape[0]
        L, D = self.L, self.D
        spf = self.spatial_factor_array(sp)
        # temporal factor per level [L, n, D] (ones at non-temporal levels)
        lev = np.ones((L, n, D), dtype=np.int64)
        for t, l in enumerate(self.temporal_levels):
            lev[l] = F[:, t, :]
        ext = np.ones((L + 1, n, D), dtype=np.int64)
        for i in range(L - 1, -1, -1):
            ext[i] = ext[i + 1] * lev[i] * spf[i][None, :]
        inst = [int(prod(int(spf[l].prod()) for l in range(i))) for i in range(L + 1)]
        valid = np.ones(n, dtype=bool)
        for i in range(L):
            valid &= self._fits(i, ext[i])
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
                        slots.append((self.di[d], fac[d]))
            for k in range(len(self.ds)):
                # a dimension indexes at most one rank and the children form a full grid, so the rank
                # offsets vary independently: distinct tiles = product over ranks of distinct offsets per
                # rank. A rank moved by one spatial slot has as many offsets as the slot's factor; only a
                # rank moved by several slots (e.g. P and R of Inputs) needs counting, per row's steps.
                const, out = 1, None
                for terms in self.terms[k]:
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
            for k in range(len(self.ds)):
                rext[(i, k)] = [self._rank_extent(k, r, ext[i]) for r in range(self.coef[k].shape[0])]
                t = np.ones(n, dtype=np.int64)
                for e in rext[(i, k)]:
                    t = t * e
                tiles[(i, k)] = t
        # per kept (level i, data space k): the distinct children per tile fetched from below (the product
        # over the levels from i down to its next keeping level), and for a read-write data space the size of
        # its partition at i (what is written back once, not read)
        mult, partition = {}, {}
        for k, ds in enumerate(self.ds):
            kept = self.kept_idx_all[k]
            for pos, i in enumerate(kept):
                c = kept[pos + 1] if pos + 1 < len(kept) else L
                m = np.ones(n, dtype=np.int64)
                for j in range(i, c):
                    m = m * distinct[(j, k)]
                mult[(i, k)] = m
                if ds.read_write:
                    above = spf[:i].prod(axis=0) if i > 0 else np.ones(D, dtype=np.int64)
                    partition[(i, k)] = int(self._tile_sizes(k, (self.bounds // above)[None, :])[0])
        return {"n": n, "spf": spf, "ext": ext, "inst": inst, "valid": valid, "AS": AS, "distinct": distinct,
                "mult": mult, "partition": partition,
                "tiles": tiles, "rext": rext, "per_mac": self.macs // inst[L],
                "present": (F > 1).any(axis=0)}  # [T, D]: temporal slots with a factor > 1 somewhere

    def _rank_extent(self, k: int, r: int, ext: np.ndarray) -> np.ndarray:
        terms = self.terms[k][r]
        if len(terms) == 1 and terms[0][1] == 1:  # the common case: the rank is one dimension
            return ext[..., terms[0][0]]
        out = np.ones(ext.shape[:-1], dtype=np.int64)
        for d, c in terms:
            out = out + c * (ext[..., d] - 1)
        return out

    def evaluate_batch(self, sp: dict, perms: list[tuple[str, ...]], F: np.ndarray,
                       prep: dict | None = None) -> dict[str, np.ndarray]:
        """The engine's counts for every tiling in ``F`` [n, T, D] under one spatial unrolling and loop order.

        Returns arrays: ``energy`` (engine total, pJ), ``network`` (NoC hop pJ), ``cycles``, ``valid`` and
        ``counts`` {(level, dataspace): (reads, fills, updates)} per instance. ``prep`` = ``prepare(sp, F)``.
        """
        if prep is None:
            prep = self.prepare(sp, F)
        n, L, D = prep["n"], self.L, self.D
        inst, per_mac, spf = prep["inst"], prep["per_mac"], prep["spf"]
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
        levels = self.profile.levels
        for k, ds in enumerate(self.ds):
            kept = self.kept_idx_all[k]
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
                    B = lv.block_size
                    r, f, u = reads, fills, updates
                    rb, fb, ub = (r, f, u) if B == 1 else (-(-r // B), -(-f // B), -(-u // B))  # ceil(count / B)
                    e = (rb * lv.read_pj + fb * lv.write_pj + ub * lv.update_pj) * inst[i]
                    hops = (lv.network_hop_pj * (r * inst[i] + u * inst[i]).astype(np.float64)
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
            for k in range(len(self.ds)):
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
        total = np.zeros(n)
        for i, lv in enumerate(levels):
            le = level_e[i]
            if lv.leak_pj:
                le = le + lv.leak_pj * cycles * inst[i]
            total = total + le
        total = total + self.profile.mac.energy_at(self.profile.mac.word_bits) * self.macs
        names = {(levels[i].name, self.ds[k].name): v[:3] for (i, k), v in counts.items()}
        return {"energy": total, "network": network, "cycles": cycles, "valid": prep["valid"], "counts": names}

    def slot_order(self, perms: list[tuple[str, ...]], prep: dict) -> tuple[tuple[int, int, int], ...]:
        """The temporal slots (level, t, dim index) in flattened (outer -> inner) order: all that
        ``evaluate_batch`` uses of ``perms``, so loop orders with equal slot orders give equal results.
        Slots whose factor is 1 for every candidate cannot change any count and are left out."""
        present = prep["present"]
        return tuple((l, t, self.di[d]) for t, l in enumerate(self.temporal_levels) for d in perms[t]
                     if present[t, self.di[d]])

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
        j = ((nonunit & self.rel[k][seq["Adim"][:m]][:, None]) * ar1).max(axis=0) - 1
        has_rel = j >= 0
        jj = np.maximum(j, 0)
        rows = np.arange(n)
        outer = seq["excl"][jj, rows]
        bj = seq["FA"][jj, rows]
        dimj = seq["Adim"][jj]
        step = prep["AS"][seq["Alev"][jj], rows, dimj]
        rext = prep["rext"][(i, k)]
        slide = tile
        for d, r, c in self.slide_terms[k]:
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


# ------------------------------------------------------------------------------------------------------
# the search
# ------------------------------------------------------------------------------------------------------
def _score(res: dict, objective: str) -> np.ndarray:
    e = res["energy"] + res["network"]
    if objective == "energy":
        v = e
    elif objective == "cycles":
        v = res["cycles"] + e * 1e-30  # ties broken by energy
    else:
        v = e * res["cycles"]
    return np.where(res["valid"], v, np.inf)


_CACHE: dict[str, MapperResult] = {}


def _cache_key(problem: Problem, profile: HardwareProfile, constraint, objective, options) -> str:
    shape = {"dims": problem.dims, "bounds": problem.bounds,
             "ds": [(d.name, d.ranks, d.read_write) for d in problem.data_spaces]}
    return json.dumps([shape, profile.model_dump(mode="json"), constraint, objective, options.__dict__],
                      sort_keys=True, default=str)


def clear_cache() -> None:
    _CACHE.clear()


def search(problem: Problem, profile: HardwareProfile, dataflow: str | None = None, objective: str = "energy",
           options: MapperOptions | None = None, *, cache: bool = True, verify: bool = True) -> MapperResult:
    """Best mapping of ``problem`` on ``profile``.

    ``dataflow``: None (free) or ``rs``/``ws``/``os`` (also accepted as ``search``, ``rs-search``...).
    ``objective``: ``energy`` | ``cycles`` | ``edp``. Raises ``EnergySimError`` when nothing fits.
    """
    if objective not in OBJECTIVES:
        raise EnergySimError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if dataflow is not None and dataflow.endswith("search"):
        dataflow = parse_dataflow(dataflow)
    options = options or MapperOptions()
    key = _cache_key(problem, profile, dataflow, objective, options) if cache else None
    if key is not None and key in _CACHE:
        r = _CACHE[key]
        return r
    t0 = time.perf_counter()
    if dataflow is None and options.spatial is not None:
        spaces = [Space(problem, profile, None, options)]
    elif dataflow is None:
        # free search: any dimension spatial, with the profile's keeps or with PE-level storage keeping only
        # Weights or only Outputs; plus the space of every dataflow constraint (so a free search is never
        # worse than a constrained one)
        cands = [Space(problem, profile, None, options, pe_keep=k) for k in (None, ("Weights",), ("Outputs",))]
        cands += [Space(problem, profile, c, options) for c in CONSTRAINTS]
        spaces, seen = [], set()
        for sp_ in cands:
            sig = (tuple(sp_.keeps), tuple((l, a, c, tuple(al)) for l, a, c, al in sp_.spatial_slots))
            if sig not in seen:
                seen.add(sig)
                spaces.append(sp_)
    else:
        spaces = [Space(problem, profile, dataflow, options)]
    best = (math.inf, None)  # (value, (space, sp, perms, F row, its batch results))
    evaluated = 0
    seen_sp = set()
    for space, sp in [(s_, o) for s_ in spaces for o in s_.spatial_options()]:
        # a constrained space shares keeps with a free one (rs with the profile's, ws/os with the PE-keeps
        # variants); a spatial unrolling both list gives the same candidates: evaluate it once
        sig = (tuple(space.keeps), tuple(tuple(k) if k is not None else None for k in space.keep_lists),
               tuple((l, tuple(x.items()), tuple(y.items())) for l, (x, y) in sorted(sp.items())))
        if sig in seen_sp:
            continue
        seen_sp.add(sig)
        # exhaustive: the tilings in blocks (all of them at once would not fit in memory on large layers)
        blocks = space.tiling_blocks(sp, _EXHAUSTIVE_BLOCK if options.exhaustive else None)
        opts = space.perm_options(sp)
        for F in blocks:
            if len(F) == 0:
                continue
            prep = space.prepare(sp, F)

            # the results of a batch depend on the loop orders only through the slot order (orders differing
            # only in dimensions without loops at that level are the same nest): each is evaluated once
            # (value, row, that row's results: what _verify checks against the engine should it be the best)
            memo: dict[tuple, tuple[float, int, dict]] = {}

            def run(perms):
                nonlocal evaluated
                key = space.slot_order(perms, prep)
                if key not in memo:
                    res = space.evaluate_batch(sp, perms, F, prep)
                    evaluated += len(F)
                    v = _score(res, objective)
                    k = int(np.argmin(v))
                    memo[key] = (float(v[k]), k, _row(res, k))
                return memo[key]

            if options.exhaustive or options.all_permutations:
                for perms in itertools.product(*opts):
                    v, k, row = run(list(perms))
                    if v < best[0]:
                        best = (v, (space, sp, list(perms), F[k], row))
            else:
                # coordinate descent over loop orders, starting from the best uniform choice
                cur, cur_v = None, math.inf
                for u in range(max(len(o) for o in opts)):
                    perms = [o[min(u, len(o) - 1)] for o in opts]
                    v, k, row = run(perms)
                    if v < cur_v:
                        cur, cur_v, cur_k, cur_row = perms, v, k, row
                if cur is None:
                    continue
                for _ in range(options.max_passes):
                    improved = False
                    for t, o in enumerate(opts):
                        if len(o) < 2:
                            continue
                        for choice in o:
                            if choice == cur[t]:
                                continue
                            trial = list(cur)
                            trial[t] = choice
                            v, k, row = run(trial)
                            if v < cur_v:
                                cur, cur_v, cur_k, cur_row, improved = trial, v, k, row, True
                    if not improved:
                        break
                if cur_v < best[0]:
                    best = (cur_v, (space, sp, cur, F[cur_k], cur_row))
    result = None
    if best[1] is not None:
        space, sp, perms, Frow, row = best[1]
        m = space.to_mapping(sp, perms, Frow)
        stats = evaluate(problem, profile, m)
        if verify:
            _verify(row, stats)
        result = _result(m, stats, profile, objective, evaluated, "search")
    if options.include_template:
        try:
            tm = map_problem(problem, profile, dataflow or "rs")
        except EnergySimError:
            tm = None
        if tm is not None:
            tr = _result(tm, evaluate(problem, profile, tm), profile, objective, evaluated + 1, "template")
            if result is None or tr.value < result.value:
                result = tr
    if result is None:
        raise EnergySimError(f"mapper: no mapping of {problem.name!r} fits profile {profile.name!r}"
                             + (f" under dataflow {dataflow}" if dataflow else ""))
    result.evaluated = evaluated + (1 if options.include_template else 0)
    result.seconds = time.perf_counter() - t0
    if key is not None:
        _CACHE[key] = result
    return result


def _network(stats: LayerStats, profile: HardwareProfile) -> float:
    total = 0.0
    for r in stats.rows:
        lv = profile.level(r["level"])
        if lv.network_hop_pj:
            total += lv.network_hop_pj * float(r["reads_total"] + r["updates_total"])
    return total


def _result(m: Mapping, stats: LayerStats, profile, objective, evaluated, source) -> MapperResult:
    e = stats.energy_pj + _network(stats, profile)
    v = {"energy": e, "cycles": stats.cycles + e * 1e-30, "edp": e * stats.cycles}[objective]
    return MapperResult(m, stats, e, stats.cycles, objective, v, evaluated, 0.0, source)


def _row(res: dict, k: int) -> dict:
    """Row ``k`` of ``evaluate_batch`` results as plain numbers (what ``_verify`` compares)."""
    return {"counts": {key: tuple(int(a[k]) for a in v) for key, v in res["counts"].items()},
            "cycles": int(res["cycles"][k]), "energy": float(res["energy"][k])}


def _verify(row: dict, stats: LayerStats) -> None:
    """The vectorized counts of the chosen candidate (the very numbers its batch scored it by) must equal
    the engine's exactly."""
    diffs = []
    for r in stats.rows:
        key = (r["level"], r["dataspace"])
        got = row["counts"].get(key, (0, 0, 0))
        want = (r["reads"], r["fills"], r["updates"])
        if got != want:
            diffs.append(f"{key}: vectorized {got} vs engine {want}")
    if row["cycles"] != stats.cycles:
        diffs.append(f"cycles: vectorized {row['cycles']} vs engine {stats.cycles}")
    if not math.isclose(row["energy"], stats.energy_pj, rel_tol=1e-9, abs_tol=1e-9):
        diffs.append(f"energy: vectorized {row['energy']} vs engine {stats.energy_pj}")
    if diffs:
        raise EnergySimError("mapper: vectorized evaluation disagrees with counts.evaluate: " + "; ".join(diffs))


def search_mapping(problem: Problem, profile: HardwareProfile, dataflow: str = "search",
                   objective: str = "energy", options: MapperOptions | None = None) -> Mapping:
    """Just the mapping (what ``estimate`` uses for ``--dataflow search``/``rs-search``/...)."""
    return search(problem, profile, dataflow, objective, options).mapping

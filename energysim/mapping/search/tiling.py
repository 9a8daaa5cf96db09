"""The temporal tiling enumeration of the mapping search (``Tiler``): every split of what one spatial unrolling
leaves of each bound over a ``Space``'s temporal levels with every tile fitting its level, level by level from
the innermost out, pruned as ``MapperOptions`` asks (see the package docstring)."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from math import prod

import numpy as np

from energysim.mapping.search.arrays import (best_first, diverse_best_first, divisors, product_grid, round_robin,
                                             smallest_prime, unique_small)
from energysim.mapping.search import accel
from energysim.mapping.search.space import Space


class _RemTables:
    """What a tiling enumeration needs of the remaining bounds alone (shared by every ``Tiler`` with the same
    remainders: the keep variants and dataflow spaces of one problem, the designs of a sweep)."""

    def __init__(self, rem: tuple[int, ...]):
        self.divs = divs = [np.array(divisors(r), dtype=np.int64) for r in rem]
        self.n_grid = prod(len(dv) for dv in divs)
        self.div_index = [np.zeros(r + 1, dtype=np.int64) for r in rem]
        for d, dv in enumerate(divs):
            self.div_index[d][dv] = np.arange(len(dv))
        self.radix = np.cumprod([1] + [len(dv) for dv in divs[:0:-1]])[::-1]
        self.div_table = [dv[:, None] % dv[None, :] == 0 for dv in divs]
        self._lgrids: dict[tuple, np.ndarray] = {}
        # capacity-filtered level grids with their tests' record (``Tiler.level_grid``)
        self.filtered: dict[tuple, tuple] = {}
        # per step key, each distinct remainder's surviving pairs (``Tiler._pairs_compiled``)
        self.pairs: dict[tuple, dict] = {}
        self.kernel = None  # padded tables for ``kernels.step_pairs`` (built on first use)

    def lgrid(self, relevant: tuple) -> np.ndarray:
        """The rows of one divisor per dimension with 1 where ``relevant`` is False (and only k where it is
        ``("=", k)``: a fixed factor, none when k does not divide the remainder), in product order."""
        if relevant not in self._lgrids:
            self._lgrids[relevant] = product_grid([dv[dv == r[1]] if isinstance(r, tuple) else dv if r else dv[:1]
                                                   for r, dv in zip(relevant, self.divs)])
        return self._lgrids[relevant]

    def kernel_tables(self) -> tuple:
        if self.kernel is None:
            D = len(self.divs)
            width = max(len(t) for t in self.div_index)
            div_index = np.zeros((D, width), dtype=np.int64)
            for d, tab in enumerate(self.div_index):
                div_index[d, :len(tab)] = tab
            nd = max(len(dv) for dv in self.divs)
            div_table = np.zeros((D, nd, nd), dtype=np.bool_)
            for d, tab in enumerate(self.div_table):
                div_table[d, :tab.shape[0], :tab.shape[1]] = tab
            self.kernel = (div_index, np.asarray(self.radix, dtype=np.int64), _spf_table(width - 1), div_table)
        return self.kernel


# remainders whose pairs one step key keeps at most (``Tiler._pairs_compiled``; then it starts again)
_PAIRS_KEPT = 20_000
# whether steps remember each remainder's pairs (``remembered_pairs``)
_REMEMBER: ContextVar[bool] = ContextVar("energysim_remember_pairs", default=False)


def remembering() -> bool:
    """Whether a ``remembered_pairs`` block is in effect (the bound below DRAM keeps its rows then too)."""
    return _REMEMBER.get()


@contextmanager
def remembered_pairs():
    """Inside the block, the tiling steps remember each distinct remainder's surviving pairs for later steps of
    the same makeup (``Tiler._pairs_compiled``). It pays across the designs of a sweep, whose searches differ in
    an inner buffer's size and mostly leave the same remainders (about 70% of them in the 200-design ResNet-18
    sweep); within one design's searches the bookkeeping costs about what it saves, so it is off by default."""
    token = _REMEMBER.set(True)
    try:
        yield
    finally:
        _REMEMBER.reset(token)


@lru_cache(maxsize=256)
def rem_tables(rem: tuple[int, ...]) -> _RemTables:
    return _RemTables(rem)


@lru_cache(maxsize=64)
def _spf_table(top: int) -> np.ndarray:
    """Smallest prime factor of 0..top (0 for 0 and 1)."""
    return np.array([0, 0] + [smallest_prime(v) for v in range(2, top + 1)], dtype=np.int64)


class Tiler:
    """The tilings of ``space`` under spatial unrolling ``sp``: temporal factors [n, T, D]."""

    def __init__(self, space: Space, sp: dict):
        self.space = space
        S = space.spatial_factor_array(sp)
        self.rem = rem = space.bounds // S.prod(axis=0)
        # spatial factors at levels >= l, per temporal level
        self.sp_below = np.array([S[l:].prod(axis=0) for l in range(space.L)], dtype=np.int64)
        tab = rem_tables(tuple(int(r) for r in rem))
        self.tables = tab
        self.divs = tab.divs
        # a row of remainders (one divisor of rem per dimension) as one integer: its row number in ``grid``
        # (a cheap stand-in for np.unique(..., axis=0), which sorts structured rows)
        self.div_index = tab.div_index
        self.radix = tab.radix
        self.div_table = tab.div_table  # [a, b]: divisor b divides divisor a
        self.n_grid = tab.n_grid
        self.prune = not space.opt.exhaustive
        # levels where even the largest tile (every remaining factor inside it) fits need no capacity test
        self.roomy = [not space.fit_groups[l] or space.fits_one(l, (self.sp_below[l] * rem).tolist())
                      for l in range(space.L)]
        self.level_grids: dict[int, tuple] = {}
        self.grid_keys: dict[int, tuple] = {}  # what each level's filtered grid is made from (``level_grid``)
        # the outermost on-chip level drops tiles that could still grow (``step``), unless a temporal factor
        # constraint fixes a factor other than 1 at the outermost level (the tile must leave it there) or that
        # level is the outer part of a partitioned buffer (``Space.partitioned_top``: a larger tile there can
        # cost more, re-fetching what the inner part keeps)
        self.grow = not any(k > 1 for k in space.tcons[0].values()) if space.tcons else True
        self.grow = self.grow and not space.partitioned_top

    @property
    def grid(self) -> np.ndarray:
        """Every row of one divisor of rem per dimension, in ``itertools.product`` order."""
        return self.tables.lgrid(tuple([True] * self.space.D))

    def tilings(self) -> np.ndarray:
        """Temporal factors [n, T, D] (every tile fits)."""
        return next(self.blocks())

    def blocks(self, block_rows: int | None = None):
        """Yield the tilings of ``tilings()`` as arrays [n, T, D]: all in one array when ``block_rows`` is None,
        else depth first in blocks of at most ``block_rows`` partial or whole tilings (exhaustive mode: the full
        product would not fit in memory on large layers; the rows are the same, in another order)."""
        F = np.ones((1, self.space.T, self.space.D), dtype=np.int64)
        left = self.rem[None, :].copy()
        if block_rows is None:
            for t in range(self.space.T - 1, 0, -1):
                F, left = self.step(t, F, left)
                if len(F) == 0:
                    break
            yield self.finish(F, left)
            return
        yield from self.depth_first(self.space.T - 1, F, left, block_rows)

    def row_key(self, rows: np.ndarray) -> np.ndarray:
        """Each row (one divisor of rem per dimension) as its row number in ``grid``."""
        return sum(self.div_index[d][rows[:, d]] * int(self.radix[d]) for d in range(self.space.D))

    def level_grid(self, t: int):
        """Level t's options before and after the exact capacity filter, what it loops over, and the levels
        whose capacity its tiles are checked against."""
        if t not in self.level_grids:
            space = self.space
            lvl = space.temporal_levels[t]
            # what the level loops over reads no capacity: shared by the space's copies (``Space.skeleton_key``)
            if t not in space.level_loops:
                space.level_loops[t] = self._loops(t)
            rkey, relevant = space.level_loops[t]
            lgrid = self.tables.lgrid(rkey)
            n_all = len(lgrid)  # the max_pairs bound counts every option
            # an option whose tile overflows this level or an outer one with nothing inside it (inner tile 1)
            # overflows with any inner tile (tiles only grow with their extents): drop it before pairing (exact).
            # The filtered grid depends only on the remainders, the dimensions and the checked levels' tiles
            # and capacities, which spaces of one problem (keep variants, dataflows) often share
            checks = [l2 for l2 in [lvl] + [space.temporal_levels[t2] for t2 in range(1, t)] if not self.roomy[l2]]
            fkey = (rkey, space.terms_key, tuple((tuple(int(v) for v in self.sp_below[l2]), space.fit_key(l2))
                                                 for l2 in checks))
            hit = self.tables.filtered.get(fkey)
            if hit is None:
                ok = np.ones(len(lgrid), dtype=bool)
                # these tests' own record, for every space that takes the grid from here (by position: the j-th
                # checked level there has the tiles and groups of the j-th here, ``fkey``, not always its index)
                with space.tests.separate(checks, [len(space.fit_groups[l2]) for l2 in checks]) as tests:
                    for l2 in checks:
                        ok &= space.fits(l2, self.sp_below[l2][None, :] * lgrid)
                hit = self.tables.filtered[fkey] = (lgrid[ok], tests)
            space.tests.merge(checks, hit[1])
            self.level_grids[t] = (n_all, hit[0], relevant, checks)
            self.grid_keys[t] = fkey
        return self.level_grids[t]

    def _loops(self, t: int) -> tuple[tuple, np.ndarray]:
        """Level t's options as a key of ``_RemTables.lgrid`` and the dimensions it loops over."""
        space = self.space
        lvl = space.temporal_levels[t]
        relevant = np.zeros(space.D, dtype=bool)
        here = [lvl, *space.partitions.get(lvl, ())]  # with the partitions stacked above (``Space``)
        for k, ds in enumerate(space.ds):
            if any(ds.name in space.keeps[l2] for l2 in here):
                relevant |= space.rel[k]
        # search: a level takes only loops over dimensions that index something it keeps, or that a buffer
        # partition stacked above it keeps (the rows of ``grid`` with 1 in the others, in the same order)
        rkey = tuple(bool(r) for r in relevant) if self.prune else tuple([True] * space.D)
        if space.opt.pe_temporal and lvl < space.first_pe:
            # dimensions kept for PE-level storage (MapperOptions.pe_temporal) take no loop here
            fixed = [space.di[d] for d in space.opt.pe_temporal if d in space.di]
            rkey = tuple(False if d in fixed else r for d, r in enumerate(rkey))
            relevant = relevant.copy()
            relevant[fixed] = False
        cons = space.tcons[t]
        if cons:
            # MapperOptions.temporal_factors: a fixed factor is the level's only option for its dimension
            # (1: none; ``step`` keeps the partial tilings it divides, and the growth test skips it), a
            # residual (0) any divisor (``step`` keeps the one that takes all that is left)
            rkey = tuple((("=", cons[d]) if cons[d] > 1 else cons[d] == 0) if d in cons else r
                         for d, r in enumerate(rkey))
            relevant = relevant.copy()
            for d, k in cons.items():
                relevant[d] = k == 0
        return rkey, relevant

    def step(self, t: int, F: np.ndarray, left: np.ndarray):
        """Extend the partial tilings (F, left) by level t's options."""
        space, options = self.space, self.space.opt
        search, rem, sp_below, div_index = self.prune, self.rem, self.sp_below, self.div_index
        lvl = space.temporal_levels[t]
        n_all, lgrid, relevant, checks = self.level_grid(t)
        fixed = [(d, k) for d, k in space.tcons[t].items() if k > 1]
        if fixed:
            # a fixed factor must divide what the inner levels left of its dimension
            ok = np.ones(len(left), dtype=bool)
            for d, k in fixed:
                ok &= left[:, d] % k == 0
            F, left = F[ok], left[ok]
        if len(F) == 0 or len(lgrid) == 0:
            return F[:0], left[:0]
        # pairs (partial, option) with option | left
        if search and len(left) * n_all > options.max_pairs:
            # bound the work: keep max_pairs // n_all partial tilings, best-filled first (the list is sorted
            # by fill) but round-robin over their distinct remainders. Partials with the same remainder
            # differ only in how the inner levels split it, and take the same options here; by fill alone the
            # budget went to the inner splits of a few remainders
            keep = round_robin(self.row_key(left), max(1, options.max_pairs // n_all))
            F, left = F[keep], left[keep]
            space.pairs_capped = True
        # Partial tilings with the same remainders have the same inner tile (inner * left = rem), so
        # whether an option divides, fits, could grow and how full it makes the level depend only on the
        # (distinct remainder u, option g) pair: those tests run over the few distinct remainders, and the
        # (partial, option) pairs are only indexed, never materialized as [pairs, D] arrays.
        ukey, first, inv = unique_small(self.row_key(left), self.n_grid)
        uleft = left[first]
        uinner = rem[None, :] // uleft
        kern = accel.kernels()
        if kern is not None:
            parts = [self._pairs_compiled(kern, t, lvl, ukey, uleft, uinner, lgrid, relevant, checks)]
        else:
            # divides[u, g]: option g divides remainder u, one small table per dimension the level takes
            # loops over (elsewhere the option is 1)
            divides = np.ones((len(ukey), len(lgrid)), dtype=bool)
            for d in np.nonzero(relevant if search else np.ones(space.D, dtype=bool))[0]:
                gidx = div_index[d][lgrid[:, d]]
                divides &= self.div_table[d][div_index[d][uleft[:, d]]][:, gidx]
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
                    fit = space.fits(l2, sp_below[l2][None, :] * tile)
                    ui, gi, opt, tile = ui[fit], gi[fit], opt[fit], tile[fit]
                ext = sp_below[lvl][None, :] * tile
                if search and len(ui) and t == 1 and self.grow:
                    # the outermost on-chip level: drop tiles that could still take a prime factor of some
                    # dimension (inner levels keep smaller tiles too: an outer level's capacity may need them)
                    newleft = uleft[ui] // opt
                    grow = np.zeros(len(ui), dtype=bool)
                    spf_tab = _spf_table(int(rem.max()))
                    for d in np.nonzero(relevant)[0]:
                        q = spf_tab[newleft[:, d]]
                        can = q > 0
                        if can.any():
                            e2 = ext[can].copy()
                            e2[:, d] *= q[can]
                            g2 = np.zeros(len(ui), dtype=bool)
                            g2[np.nonzero(can)[0]] = space.fits(lvl, e2)
                            grow |= g2
                    keep = ~grow
                    ui, gi, ext = ui[keep], gi[keep], ext[keep]
                tkey = None
                if search and t == 1:
                    tile = uinner[ui] * lgrid[gi]
                    tkey = self.row_key(tile)
                parts.append((ui, gi, space.fill(lvl, ext) if search else None, tkey))
        residual = [d for d, k in space.tcons[t].items() if k == 0]
        if residual:
            # a residual temporal factor (``level_grid``) takes all that is left of its dimension
            for j, (ui, gi, fl, tk) in enumerate(parts):
                ok = np.ones(len(ui), dtype=bool)
                for d in residual:
                    ok &= uleft[ui, d] == lgrid[gi, d]
                parts[j] = (ui[ok], gi[ok], fl[ok] if fl is not None else None, tk[ok] if tk is not None else None)
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
            if t == 1 and options.per_tile:
                order = diverse_best_first(fill, np.concatenate([p[3] for p in parts])[vi], options.tile_cap,
                                           options.per_tile)
            else:
                order = best_first(fill, options.tile_cap)
            pi, vi = pi[order], vi[order]
        opt = lgrid[gi[vi]]
        F2 = F[pi]  # a copy (fancy indexing)
        F2[:, t, :] = opt
        F, left = F2, left[pi] // opt
        return F, left

    def _pairs_compiled(self, kern, t, lvl, ukey, uleft, uinner, lgrid, relevant, checks):
        """``step``'s surviving (remainder, option) pairs with their fill and tile key, by ``kernels.step_pairs``
        (the same pairs, in the same order, as the numpy code of ``step``). A distinct remainder's pairs depend
        only on it and on what ``key`` below names: in search mode inside ``remembered_pairs``, they are
        remembered per remainder."""
        space = self.space
        search = self.prune
        a = space.kernel_arrays()
        div_index, radix, spf_tab, div_table = self.tables.kernel_tables()
        fk, fcap = space.fill_parts(lvl)
        kept = np.zeros(len(space.ds), dtype=np.bool_)
        kept[fk] = True
        cap = fcap if fk and fcap else 0
        test = relevant if search else np.ones(space.D, dtype=bool)
        grow, want_key = search and t == 1 and self.grow, search and t == 1

        def pairs(rows, wfit, wover):
            return kern.step_pairs(
                np.ascontiguousarray(uleft[rows]), np.ascontiguousarray(uinner[rows]), np.ascontiguousarray(lgrid),
                test, np.array(checks, dtype=np.int64), self.sp_below, lvl, grow, spf_tab, search, kept, cap,
                want_key, div_index, radix, div_table, a["nrank"], a["nterm"], a["tdim"], a["tcoef"], a["ngroup"],
                a["gmask"], a["gcap"], wfit, wover, a["dim_rank"], a["dim_coef"])

        if not (search and _REMEMBER.get()):
            ui, gi, fill, tkey = pairs(slice(None), space.tests.fit, space.tests.over)
            return ui, gi, fill if search else None, tkey if want_key else None
        # the grid's makeup (remainders, dimensions, checked levels' tiles and capacities) and this level's
        # tiles, capacity, fill and tests; the checked levels by position, as in ``level_grid``
        key = (self.grid_keys[t], tuple(self.sp_below[lvl].tolist()), space.fit_key(lvl), test.tobytes(), grow,
               want_key, tuple(fk), cap)
        known = self.tables.pairs.setdefault(key, {})
        keys = ukey.tolist()
        got = {k: known[k] for k in keys if k in known}
        miss = [j for j, k in enumerate(keys) if k not in got]
        if miss:
            # this call's tests' own record, kept with its remainders for the calls that reuse them
            levels = [lvl, *checks]
            with space.tests.separate(levels, [len(space.fit_groups[l2]) for l2 in levels]) as tests:
                ui, gi, fill, tkey = pairs(np.array(miss) if len(miss) < len(keys) else slice(None),
                                           space.tests.fit, space.tests.over)
            block = (gi, fill, tkey, tests)
            ends = np.cumsum(np.bincount(ui, minlength=len(miss))).tolist()
            if len(known) + len(miss) > _PAIRS_KEPT:  # full: start again from this call's remainders
                known.clear()
                known.update(got)
            for j, e0, e1 in zip(miss, [0, *ends[:-1]], ends):
                known[keys[j]] = got[keys[j]] = (block, e0, e1)
            if len(miss) == len(keys):  # nothing remembered: the kernel's answer as it is
                space.tests.merge([lvl, *checks], tests)
                return ui, gi, fill, tkey if want_key else None
        got = [got[k] for k in keys]
        blocks = {id(g[0]): g[0] for g in got}
        for block in blocks.values():
            space.tests.merge([lvl, *checks], block[3])
        counts = [e1 - e0 for _, e0, e1 in got]
        ui = np.repeat(np.arange(len(keys)), counts)
        gi = np.concatenate([b[0][e0:e1] for b, e0, e1 in got])
        fill = np.concatenate([b[1][e0:e1] for b, e0, e1 in got])
        tkey = np.concatenate([b[2][e0:e1] for b, e0, e1 in got]) if want_key else None
        return ui, gi, fill, tkey

    def finish(self, F: np.ndarray, left: np.ndarray) -> np.ndarray:
        """Complete the partial tilings: what is left of each bound goes to the outermost level."""
        if self.space.t_infeasible:
            return F[:0]
        cons = self.space.tcons[0]
        if cons:
            # MapperOptions.temporal_factors at the outermost level (a residual there holds in any tiling)
            ok = np.ones(len(F), dtype=bool)
            for d, k in cons.items():
                if k > 0:
                    ok &= left[:, d] == k
            F, left = F[ok], left[ok]
        F[:, 0, :] = left
        if self.space.opt.pe_temporal and len(F):
            # the outermost level is above the array: nothing of a PE-only dimension may be left for it
            fixed = [self.space.di[d] for d in self.space.opt.pe_temporal if d in self.space.di]
            F = F[(left[:, fixed] == 1).all(axis=1)]
        if len(F):
            ext0 = self.sp_below[0][None, :] * F.prod(axis=1)
            F = F[self.space.fits(0, ext0)]
        return F

    def depth_first(self, t: int, F: np.ndarray, left: np.ndarray, block_rows: int):
        """Yield the whole tilings that extend the partial tilings (F, left) from level t out, in blocks."""
        if t == 0:
            F = self.finish(F, left)
            if len(F):
                yield F
            return
        rows = max(1, block_rows // max(1, len(self.level_grid(t)[1])))  # partials whose pairs fit a block
        for a in range(0, len(F), rows):
            F2, left2 = self.step(t, F[a:a + rows], left[a:a + rows])
            if len(F2):
                yield from self.depth_first(t - 1, F2, left2, block_rows)

"""A tighter lower bound of a spatial unrolling's energy before its tilings are enumerated (``outer_tile_bound``).

``BatchEvaluator.sp_bound`` charges every access its share of the words the problem touches, as though every
buffer held what it needs: far below the truth when the outermost on-chip buffer is small next to the layer,
which the search then pays for by enumerating unrollings that cannot win. The words fetched into the levels just
below the outermost temporal level (the band ``(t0, t1]`` of levels whose only temporal loops above them are
the outermost level's) depend on one thing alone: ``G``, the product of every inner temporal factor, which sets
both their tiles and the outermost loops (``rem / G``). Over every ``G`` whose tiles fit those levels and every
outermost loop order the search tries (``Space.perm_options``: the counting rules of ``BatchEvaluator._fetches``
for those levels; past ``_MAX_ORDERS`` orders, the fewest fetches under any order, ``kernels.lower_bounds``'
rule), the least energy of those fetches raises the bound (in the profile's energy unit); every other access
keeps ``sp_bound``'s share. Used for the energy objective only.
"""

from __future__ import annotations

import math

import numpy as np

from energysim.mapping.search import accel
from energysim.mapping.search.batch import sp_key
from energysim.mapping.search.tiling import rem_tables, remembering
from energysim.model.memo import Memo
from energysim.model.pricing import access_energy

# the bound is compared with values summed in another order: give up this much so that float rounding never
# lifts it above a value it bounds
_SLACK = 1e-9
# inner products G tried at most (beyond, the plain bound: its cost would outgrow what it saves)
_MAX_ROWS = 100_000
# (``Space.skeleton_key``, unrolling, compiled?) -> the loop orders, jobs and kernel arguments of ``outer_tile_bound``
_JOBS = Memo(4096)
# the same keys -> every inner product's least extra (inside ``tiling.remembered_pairs``: a sweep's designs)
_ROWS = Memo(512)
_ROWS_KEPT = 20_000  # inner products at most in one such entry
# outermost loop orders tried one by one at most (the search's own list: one per data space, or every permutation)
_MAX_ORDERS = 24


def outer_tile_bound(space, sp: dict, base: float, parts: dict, inst: list[int]) -> float:
    """``base`` (``sp_bound``'s energy bound of unrolling ``sp``) raised by the least extra energy of the band's
    fetches over the inner products ``G`` that fit (inf when none fits: no tiling does). ``parts[(i, k)]``:
    ``sp_bound``'s (reads, fills, updates) of level i, data space k."""
    a = space.kernel_arrays()
    tlev = a["tlev"]
    if len(tlev) < 2 or not math.isfinite(base):
        return base
    t0, t1 = int(tlev[0]), int(tlev[1])
    band = range(t0 + 1, t1 + 1)
    S = space.spatial_factor_array(sp)
    rem = space.bounds // S.prod(axis=0)
    tables = rem_tables(tuple(int(r) for r in rem))  # shared with the tilers of these remainders
    if tables.n_grid > _MAX_ROWS:
        return base
    G = tables.lgrid(tuple([True] * space.D))
    sp_below = [S[l:].prod(axis=0) for l in range(space.L)]
    ok = np.ones(len(G), dtype=bool)
    for l in band:
        if space.fit_groups[l]:
            ok &= space.fits(l, sp_below[l][None, :] * G)
    if not ok.any():
        return math.inf
    kern = accel.kernels()
    # the rest reads no capacity: shared by the copies of this space on other buffer sizes (a sweep's designs)
    key = (space.skeleton_key, sp_key(sp), kern is not None)
    hit = _JOBS.get(key)
    if hit is None:
        orders = space.perm_options(sp)[0]
        if len(orders) > _MAX_ORDERS:
            orders = [None]  # too many to try one by one: each data space under the order best for it alone
        jobs = _jobs(space, band, S)
        kargs = _kernel_args(space, a, jobs, orders, parts, inst, sp_below) if jobs and kern is not None else None
        hit = _JOBS.put(key, (orders, jobs, kargs))
    orders, jobs, kargs = hit
    if not jobs:
        return base
    if kern is not None:
        if remembering() and len(G) <= _ROWS_KEPT:
            # in a sweep, each inner product's extra (which reads no capacity) once for every design; a design
            # takes the least over the products that fit its buffers
            extras = _ROWS.get(key)
            if extras is None:
                extras = np.empty(len(G))
                kern.outer_extra(G, *_outer_loops(G, rem, sp_below, S, t0), *kargs, extras)
                extras = _ROWS.put(key, extras)
            extra = extras[ok].min()
        else:
            G = G[ok]
            extra = kern.outer_extra(G, *_outer_loops(G, rem, sp_below, S, t0), *kargs, np.empty(0))
        raised = base + float(extra)
        return max(base, raised - _SLACK * abs(raised))
    G = G[ok]
    F0, shift_ext = _outer_loops(G, rem, sp_below, S, t0)
    big = F0 > 1
    rows = np.arange(len(G))
    extra = np.full(len(G), np.inf)
    for order in orders:
        comps: dict[tuple[int, int], list] = {}  # (i, k) -> [reads, fills, updates], arrays where raised
        for k, c, p, rw, part_c, part_p in jobs:
            fetch = _band_fetch(space, a, k, sp_below[c][None, :] * G, F0, big, shift_ext, order, rows)
            if rw:
                _raise(comps, parts, (c, k), 1, fetch - part_c)
                _raise(comps, parts, (p, k), 0, fetch - part_p)  # the parent reads what children return
                _raise(comps, parts, (p, k), 2, fetch)
            else:
                _raise(comps, parts, (c, k), 1, fetch)
                _raise(comps, parts, (p, k), 0, fetch)  # at least one read of the parent per word fetched
        extra = np.minimum(extra, _extra_energy(space, comps, parts, inst, len(G)))
    raised = base + float(extra.min())
    return max(base, raised - _SLACK * abs(raised))


def _outer_loops(G: np.ndarray, rem: np.ndarray, sp_below: list, S: np.ndarray, t0: int) -> tuple:
    """For inner products ``G``: the outermost level's loops ``F0`` and the extents by which a loop there shifts
    the band's tiles."""
    return rem[None, :] // G, (sp_below[t0 + 1][None, :] * G) * S[t0][None, :]


def _jobs(space, band: range, S: np.ndarray) -> list[tuple]:
    """One job per (data space, band level keeping it below another level): its fetches raise the band level's
    fills and its parent's reads (and a read-write space's updates)."""
    jobs = []
    for k, ds in enumerate(space.ds):
        kept = space.kept_idx_all[k]
        for pos, c in enumerate(kept):
            if c in band and pos > 0:
                p = kept[pos - 1]
                part_c = part_p = 0
                if ds.read_write:
                    part_c = int(space.tile_sizes(k, (space.bounds // S[:c].prod(axis=0))[None, :])[0])
                    part_p = int(space.tile_sizes(k, (space.bounds // S[:p].prod(axis=0))[None, :])[0])
                jobs.append((k, c, p, ds.read_write, part_c, part_p))
    return jobs


def _kernel_args(space, a: dict, jobs: list, orders: list, parts: dict, inst: list[int], sp_below: list) -> tuple:
    """The arguments of ``kernels.outer_extra`` after ``G``, ``F0`` and ``shift_ext``."""
    D = space.D
    free = orders[0] is None
    pos = np.zeros((len(orders), D), dtype=np.int64)
    at = np.zeros((len(orders), D), dtype=np.int64)
    if not free:
        for o, order in enumerate(orders):
            for p, d in enumerate(order):
                pos[o, space.di[d]] = p
                at[o, p] = space.di[d]
    comp: dict[tuple[int, int], int] = {}
    for k, c, p, *_ in jobs:
        for ik in ((c, k), (p, k)):
            if ik in parts and ik not in comp:
                comp[ik] = len(comp)
    iks = list(comp)
    lv = space.profile.levels
    return (pos, at, free, np.array([j[0] for j in jobs], dtype=np.int64),
            np.array([comp.get((c, k), -1) for k, c, *_ in jobs], dtype=np.int64),
            np.array([comp.get((p, k), -1) for k, c, p, *_ in jobs], dtype=np.int64),
            np.array([j[3] for j in jobs], dtype=np.bool_), np.array([j[4] for j in jobs], dtype=np.int64),
            np.array([j[5] for j in jobs], dtype=np.int64), np.array([sp_below[j[1]] for j in jobs], dtype=np.int64),
            a["nrank"], a["nterm"], a["tdim"], a["tcoef"], a["rel"], a["slide_r"], a["slide_c"],
            np.array([parts[ik] for ik in iks], dtype=np.int64).reshape(len(iks), 3),
            np.array([lv[i].block_size for i, _ in iks], dtype=np.int64),
            np.array([lv[i].read_pj for i, _ in iks], dtype=np.float64),
            np.array([lv[i].write_pj for i, _ in iks], dtype=np.float64),
            np.array([lv[i].update_pj for i, _ in iks], dtype=np.float64),
            np.array([inst[i] for i, _ in iks], dtype=np.float64))


def _band_fetch(space, a: dict, k: int, ext: np.ndarray, F0: np.ndarray, big: np.ndarray, shift_ext: np.ndarray,
                order: tuple[str, ...] | None, rows: np.ndarray) -> np.ndarray:
    """Words of data space k fetched into a band level with tile extents ``ext``, per row, under the outermost
    loops ``F0`` in ``order`` (``BatchEvaluator._fetches``), or (``order`` None) the fewest under any order
    (``kernels.lower_bounds``)."""
    rel = a["rel"][k]
    tile = space.tile_sizes(k, ext)
    slides = {}
    for d in np.nonzero(rel)[0]:
        r = a["slide_r"][k, d]
        if r >= 0:
            shift = a["slide_c"][k, d] * shift_ext[:, d]
            re = space.rank_extent(k, int(r), ext)
            slides[d] = np.where(shift >= re, tile, tile // re * shift)
        else:
            slides[d] = tile
    has_rel = (big & rel[None, :]).any(axis=1)
    if order is None:
        rprod = np.where(big & rel[None, :], F0, 1).prod(axis=1)
        iprod = np.where(big & ~rel[None, :], F0, 1).prod(axis=1)
        best = np.where(iprod > 1, rprod * tile, np.iinfo(np.int64).max)
        for d, slide in slides.items():
            f = F0[:, d]
            best = np.where(big[:, d], np.minimum(best, (rprod // f) * iprod * (tile + (f - 1) * slide)), best)
        return np.where(has_rel, best, tile)
    pos = np.array([order.index(d) for d in space.dims])  # each dimension's place, outer -> inner
    at = np.array([space.di[d] for d in order])  # the dimension at each place
    jpos = np.where(big & rel[None, :], pos[None, :], -1).max(axis=1)  # innermost loop > 1 indexing k
    last = np.where(big, pos[None, :], -1).max(axis=1)  # innermost loop > 1
    outer = np.where(pos[None, :] < jpos[:, None], F0, 1).prod(axis=1)
    jd = at[np.maximum(jpos, 0)]
    bj = F0[rows, jd]
    slide = tile.copy()
    for d, sl in slides.items():
        slide = np.where(jd == d, sl, slide)
    fetch = np.where(last > jpos, outer * bj * tile, outer * (tile + (bj - 1) * slide))
    return np.where(jpos < 0, tile, fetch)


def _extra_energy(space, comps: dict, parts: dict, inst: list[int], n: int) -> np.ndarray:
    """Per row, the energy of the raised counts ``comps`` above that of ``sp_bound``'s counts ``parts``."""
    extra = np.zeros(n)
    for (i, k), counts in comps.items():
        lv = space.profile.levels[i]
        e = access_energy(lv, *counts) - access_energy(lv, *parts[(i, k)])
        extra += np.maximum(e * inst[i], 0.0)
    return extra


def _raise(comps: dict, parts: dict, ik: tuple[int, int], which: int, value: np.ndarray) -> None:
    """Component ``which`` (0 reads, 1 fills, 2 updates) of ``ik`` at least ``value`` (and its base)."""
    if ik not in parts:
        return
    cur = comps.setdefault(ik, list(parts[ik]))
    cur[which] = np.maximum(cur[which], value)

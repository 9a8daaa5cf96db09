"""The compiled form of the tiling enumeration's step (``Tiler.step``'s numpy code for one level): every (partial
tiling, level option) pair tested for divisibility, fit at this level and the outer ones, and growth, with the
fill that ranks it. Loaded with the search's other kernels (``kernels`` re-exports it; ``accel`` decides when),
compiled into numba's on-disk cache (``warm``); it reads the flat layout of ``Space.kernel_arrays`` as the
kernels of ``kernels`` do."""

from __future__ import annotations

import numba as nb
import numpy as np

_OPTS = dict(cache=True, nogil=True)


@nb.njit(**_OPTS)
def _tile_words(ext, l, nrank, nterm, tdim, tcoef, ngroup, gmask, sizes):
    """Words of the tile at extents ``ext`` [D] of each data space level ``l`` keeps, into ``sizes`` [K] (0 for
    the others)."""
    K = nrank.shape[0]
    for k in range(K):
        sizes[k] = 0
        used = False
        for g in range(ngroup[l]):
            if gmask[l, g, k]:
                used = True
        if not used:
            continue
        size = 1
        for r in range(nrank[k]):
            e = 1
            for q in range(nterm[k, r]):
                e += tcoef[k, r, q] * (ext[tdim[k, r, q]] - 1)
            size *= e
        sizes[k] = size


@nb.njit(**_OPTS)
def _group_words(sizes, l, g, gmask):
    """Words of capacity group ``g`` of level ``l`` from the data spaces' ``sizes`` [K]."""
    words = 0
    for k in range(sizes.shape[0]):
        if gmask[l, g, k]:
            words += sizes[k]
    return words


@nb.njit(**_OPTS)
def step_pairs(uleft, uinner, lgrid, test_dims, checks, sp_below, lvl, grow, spf_tab, want_fill, fill_kept, fill_cap,
               want_key, div_index, radix, div_table, nrank, nterm, tdim, tcoef, ngroup, gmask, gcap, wfit, wover,
               dim_rank, dim_coef):
    """The (distinct remainder u, option g) pairs of one ``Tiler.step`` that survive, in (u, g) order: g
    divides u's remainder in every tested dimension, the tile fits level ``lvl`` and every level in
    ``checks``, and (``grow``) it could not take one more prime factor of some dimension and still fit. Returns
    (u, g, fill of the level, the tile's row key). Divisibility is looked up in ``div_table[d, a, b]`` (divisor
    b of dimension d's remainder divides divisor a; both as positions in ``div_index``). Every capacity test is
    recorded in ``wfit``/``wover`` [L, G] (``CapacityRecord``: the most words that fitted, the fewest that did
    not), written out at each of its three places: as a helper function the stores made the step 1.7x slower,
    and inlined by numba (``inline="always"``) 1.85x (1,456 captured calls: 0.31 s written out, 0.53 s / 0.58 s)."""
    U, D = uleft.shape
    G = lgrid.shape[0]
    dims = np.nonzero(test_dims)[0]
    uidx = np.empty((U, D), dtype=np.int64)
    gidx = np.empty((G, D), dtype=np.int64)
    for u in range(U):
        for d in range(D):
            uidx[u, d] = div_index[d, uleft[u, d]]
    for g in range(G):
        for d in range(D):
            gidx[g, d] = div_index[d, lgrid[g, d]]
    K = nrank.shape[0]
    cap = max(16, U * G // 16)
    ui = np.empty(cap, dtype=np.int64)
    gi = np.empty(cap, dtype=np.int64)
    fill = np.empty(cap, dtype=np.float64)
    tkey = np.empty(cap, dtype=np.int64)
    tile = np.empty(D, dtype=np.int64)
    ext = np.empty(D, dtype=np.int64)
    sizes = np.empty(K, dtype=np.int64)
    rexts = np.ones((K, nterm.shape[1]), dtype=np.int64)
    n = 0
    for u in range(U):
        for g in range(G):
            ok = True
            for d in dims:
                if not div_table[d, uidx[u, d], gidx[g, d]]:
                    ok = False
                    break
            if not ok:
                continue
            for d in range(D):
                tile[d] = uinner[u, d] * lgrid[g, d]
            check_here = False
            for c in range(checks.shape[0]):
                l2 = checks[c]
                if l2 == lvl:  # tested below, on the sizes computed there anyway
                    check_here = True
                    continue
                for d in range(D):
                    ext[d] = sp_below[l2, d] * tile[d]
                _tile_words(ext, l2, nrank, nterm, tdim, tcoef, ngroup, gmask, sizes)
                for gg in range(ngroup[l2]):
                    words = _group_words(sizes, l2, gg, gmask)
                    if words > gcap[l2, gg]:
                        if words < wover[l2, gg]:
                            wover[l2, gg] = words
                        ok = False
                        break
                    if words > wfit[l2, gg]:
                        wfit[l2, gg] = words
                if not ok:
                    break
            if not ok:
                continue
            for d in range(D):
                ext[d] = sp_below[lvl, d] * tile[d]
            # words of each data space's tile at this level (rank extents kept for the growth test)
            for k in range(K):
                size = 1
                for r in range(nrank[k]):
                    e = 1
                    for q2 in range(nterm[k, r]):
                        e += tcoef[k, r, q2] * (ext[tdim[k, r, q2]] - 1)
                    rexts[k, r] = e
                    size *= e
                sizes[k] = size
            if check_here:
                for gg in range(ngroup[lvl]):
                    words = _group_words(sizes, lvl, gg, gmask)
                    if words > gcap[lvl, gg]:
                        if words < wover[lvl, gg]:
                            wover[lvl, gg] = words
                        ok = False
                        break
                    if words > wfit[lvl, gg]:
                        wfit[lvl, gg] = words
                if not ok:
                    continue
            if grow:
                # one more prime factor q of dimension d: only the rank holding d grows, e -> e + c x (q - 1)
                for d in dims:
                    q = spf_tab[uleft[u, d] // lgrid[g, d]]
                    if q <= 0:
                        continue
                    fit = True
                    for gg in range(ngroup[lvl]):
                        words = 0
                        for k in range(K):
                            if gmask[lvl, gg, k]:
                                r = dim_rank[k, d]
                                if r < 0:
                                    words += sizes[k]
                                else:
                                    e = rexts[k, r]
                                    words += sizes[k] // e * (e + dim_coef[k, d] * ext[d] * (q - 1))
                        if words > gcap[lvl, gg]:
                            if words < wover[lvl, gg]:
                                wover[lvl, gg] = words
                            fit = False
                            break
                        if words > wfit[lvl, gg]:
                            wfit[lvl, gg] = words
                    if fit:
                        ok = False
                        break
                if not ok:
                    continue
            if n == cap:
                cap *= 2
                ui2 = np.empty(cap, dtype=np.int64)
                gi2 = np.empty(cap, dtype=np.int64)
                fill2 = np.empty(cap, dtype=np.float64)
                tkey2 = np.empty(cap, dtype=np.int64)
                ui2[:n] = ui[:n]
                gi2[:n] = gi[:n]
                fill2[:n] = fill[:n]
                tkey2[:n] = tkey[:n]
                ui, gi, fill, tkey = ui2, gi2, fill2, tkey2
            ui[n] = u
            gi[n] = g
            if want_fill:
                if fill_cap > 0:
                    words = 0
                    for k in range(K):
                        if fill_kept[k]:
                            words += sizes[k]
                    fill[n] = words / fill_cap
                else:
                    fill[n] = 0.0
            if want_key:
                key = 0
                for d in range(D):
                    key += div_index[d, tile[d]] * radix[d]
                tkey[n] = key
            n += 1
    return ui[:n], gi[:n], fill[:n], tkey[:n]

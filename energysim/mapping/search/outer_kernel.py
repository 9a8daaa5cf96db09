"""The compiled form of ``outer_bound``'s numpy code (``outer_extra``): the least extra energy of the fetches just
below the outermost level, over the inner products that fit and the outermost loop orders, row by row. Loaded with
the search's other kernels (``kernels`` re-exports it; ``accel`` decides when), compiled into numba's on-disk
cache (``warm``)."""

from __future__ import annotations

import numba as nb
import numpy as np

_OPTS = dict(cache=True, nogil=True)


@nb.njit(**_OPTS)
def outer_extra(G, F0, shift_ext, pos, at, free, job_k, job_mc, job_mp, job_rw, job_partc, job_partp, spb, nrank,
                nterm, tdim, tcoef, rel, slide_r, slide_c, base3, cB, crpj, cwpj, cupj, cinst, per_row):
    """``outer_bound.outer_tile_bound``'s least extra energy over the rows of ``G`` and the outermost loop orders
    (``pos``/``at``: each dimension's place and the dimension at each place, per order; ``free``: the fewest
    fetches under any order instead): per job (data space ``job_k`` into a band level with extents ``spb x G``),
    the words fetched raise the fills of comp ``job_mc`` and the reads (and, read-write, updates) of its parent's
    comp ``job_mp`` above their base counts ``base3``; the extra is the sum of the comps' energy increases.
    ``per_row``, when it has a row per row of ``G``, receives each row's least extra over the orders."""
    n, D = G.shape
    J = job_k.shape[0]
    M = base3.shape[0]
    n_orders = 1 if free else pos.shape[0]
    R = nterm.shape[1]
    cur = np.empty((M, 3), dtype=np.int64)
    rext = np.empty(R, dtype=np.int64)
    e0 = np.empty(M)
    for m in range(M):
        B = cB[m]
        e0[m] = ((-((-base3[m, 0]) // B)) * crpj[m] + (-((-base3[m, 1]) // B)) * cwpj[m]
                 + (-((-base3[m, 2]) // B)) * cupj[m]) * cinst[m]
    best = np.inf
    fill_rows = per_row.shape[0] == n
    for row in range(n):
        row_best = np.inf
        for o in range(n_orders):
            for m in range(M):
                for q in range(3):
                    cur[m, q] = base3[m, q]
            for j in range(J):
                k = job_k[j]
                tile = 1
                for r in range(nrank[k]):
                    e = 1
                    for q in range(nterm[k, r]):
                        d = tdim[k, r, q]
                        e += tcoef[k, r, q] * (spb[j, d] * G[row, d] - 1)
                    rext[r] = e
                    tile *= e
                fetch = tile
                if free:
                    rp = 1
                    ip = 1
                    anyrel = False
                    for d in range(D):
                        f = F0[row, d]
                        if f > 1:
                            if rel[k, d]:
                                rp *= f
                                anyrel = True
                            else:
                                ip *= f
                    if anyrel:
                        bst = rp * tile if ip > 1 else -1
                        for d in range(D):
                            f = F0[row, d]
                            if f <= 1 or not rel[k, d]:
                                continue
                            slide = tile
                            r = slide_r[k, d]
                            if r >= 0:
                                shift = slide_c[k, d] * shift_ext[row, d]
                                slide = tile if shift >= rext[r] else tile // rext[r] * shift
                            v = (rp // f) * ip * (tile + (f - 1) * slide)
                            if bst < 0 or v < bst:
                                bst = v
                        fetch = bst
                else:
                    jpos = -1
                    last = -1
                    jd = 0
                    for p in range(D):
                        d = at[o, p]
                        if F0[row, d] > 1:
                            last = p
                            if rel[k, d]:
                                jpos = p
                                jd = d
                    if jpos >= 0:
                        outer = 1
                        for p in range(jpos):
                            outer *= F0[row, at[o, p]]
                        bj = F0[row, jd]
                        if last > jpos:
                            fetch = outer * bj * tile
                        else:
                            slide = tile
                            r = slide_r[k, jd]
                            if r >= 0:
                                shift = slide_c[k, jd] * shift_ext[row, jd]
                                slide = tile if shift >= rext[r] else tile // rext[r] * shift
                            fetch = outer * (tile + (bj - 1) * slide)
                mc = job_mc[j]
                mp = job_mp[j]
                if job_rw[j]:
                    if mc >= 0:
                        cur[mc, 1] = max(cur[mc, 1], fetch - job_partc[j])
                    if mp >= 0:
                        cur[mp, 0] = max(cur[mp, 0], fetch - job_partp[j])
                        cur[mp, 2] = max(cur[mp, 2], fetch)
                else:
                    if mc >= 0:
                        cur[mc, 1] = max(cur[mc, 1], fetch)
                    if mp >= 0:
                        cur[mp, 0] = max(cur[mp, 0], fetch)
            extra = 0.0
            for m in range(M):
                B = cB[m]
                e = ((-((-cur[m, 0]) // B)) * crpj[m] + (-((-cur[m, 1]) // B)) * cwpj[m]
                     + (-((-cur[m, 2]) // B)) * cupj[m]) * cinst[m]
                if e > e0[m]:
                    extra += e - e0[m]
            if extra < row_best:
                row_best = extra
        if fill_rows:
            per_row[row] = row_best
        if row_best < best:
            best = row_best
    return best

"""The mapping search's compiled kernels (numba): the vectorized evaluation and the tiling enumeration's inner
loops, row by row instead of as numpy array expressions.

The numpy code in ``batch`` and ``tiling`` is the reference; these kernels compute the very same integers and
floating-point values (every sum in the same order, no fast-math), so a search takes the same decisions and
returns the same mapping with or without them (``tests/test_mapper.py`` compares both bit for bit). They pay off
because the search's batches are small (hundreds to a few thousand rows): numpy spends most of its time per call,
not per element. Loaded through ``energysim.mapping.search.accel`` (numba is optional; ``ENERGYSIM_NUMBA=0``
turns the kernels off); compiled once per machine into numba's on-disk cache (``python -m
energysim.mapping.search.warm`` does it ahead of time).

The tiling enumeration's step (``step_pairs``, in ``tiling_kernel``) and the bound below DRAM (``outer_extra``, in
``outer_kernel``) live in modules of their own and are re-exported here, so that ``accel.kernels()`` is the one
module every caller asks.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# loaded with these kernels (``accel.kernels().outer_extra``, ``.step_pairs``)
from energysim.mapping.search.outer_kernel import outer_extra  # noqa: F401
from energysim.mapping.search.tiling_kernel import step_pairs  # noqa: F401

_OPTS = dict(cache=True, nogil=True)


@nb.njit(**_OPTS)
def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@nb.njit(**_OPTS)
def distinct_offsets(fs, ss, S):
    """How many distinct values ``sum(i_g * ss[g])`` takes over ``0 <= i_g < fs[g]`` (g < S), as
    ``arrays.distinct_sums``. Two slots (the usual case) in closed form: with g = gcd, u = s0/g, v = s1/g,
    the pairs (a, b) and (a - v, b + u) give the same value and no other pairs do, so the distinct values are
    the pairs without such a partner: f0 f1 - max(0, f0 - v) max(0, f1 - u)."""
    if S == 1:
        return fs[0]
    if S == 2:
        g = _gcd(ss[0], ss[1])
        u = ss[0] // g
        v = ss[1] // g
        return fs[0] * fs[1] - max(0, fs[0] - v) * max(0, fs[1] - u)
    total = 1
    for g in range(S):
        total *= fs[g]
    vals = np.zeros(total, dtype=np.int64)
    size = 1
    for g in range(S):
        for a in range(1, fs[g]):
            for q in range(size):
                vals[a * size + q] = vals[q] + a * ss[g]
        size *= fs[g]
    vals.sort()
    count = 1
    for q in range(1, total):
        if vals[q] != vals[q - 1]:
            count += 1
    return count


@nb.njit(**_OPTS)
def prepare_rows(F, tpos, spf, nrank, nterm, tdim, tcoef, ngroup, gmask, gcap, wfit, wover, dconst, nmr, mr_n, mr_d,
                 mr_f, mr_m):
    """What does not depend on loop orders, per tiling row of ``F`` [n, T, D]: extents per level ``ext``
    [n, L+1, D], tile words ``tiles`` [n, L, K], rank extents ``rext`` [n, L, K, R], whether every level's
    tiles fit (``valid``) and the distinct children per (level, data space) ``distinct`` [n, L, K] (a constant
    ``dconst`` times, per rank moved by several spatial slots, the distinct offsets at this row's strides), as
    ``BatchEvaluator.prepare``; the capacity tests recorded in ``wfit``/``wover`` (``CapacityRecord``)."""
    n, _, D = F.shape
    L = spf.shape[0]
    K = nrank.shape[0]
    R = nterm.shape[1]
    ext = np.empty((n, L + 1, D), dtype=np.int64)
    tiles = np.empty((n, L, K), dtype=np.int64)
    rext = np.ones((n, L, K, R), dtype=np.int64)
    valid = np.empty(n, dtype=np.bool_)
    distinct = np.empty((n, L, K), dtype=np.int64)
    S = mr_d.shape[3]
    fs = np.empty(S, dtype=np.int64)
    ss = np.empty(S, dtype=np.int64)
    for row in range(n):
        for d in range(D):
            ext[row, L, d] = 1
        for i in range(L - 1, -1, -1):
            t = tpos[i]
            for d in range(D):
                f = F[row, t, d] if t >= 0 else 1
                ext[row, i, d] = ext[row, i + 1, d] * f * spf[i, d]
        ok = True
        for i in range(L):
            for k in range(K):
                size = 1
                for r in range(nrank[k]):
                    e = 1
                    for q in range(nterm[k, r]):
                        e += tcoef[k, r, q] * (ext[row, i, tdim[k, r, q]] - 1)
                    rext[row, i, k, r] = e
                    size *= e
                tiles[row, i, k] = size
            for g in range(ngroup[i]):
                words = 0
                for k in range(K):
                    if gmask[i, g, k]:
                        words += tiles[row, i, k]
                if words > gcap[i, g]:
                    ok = False
                    if words < wover[i, g]:
                        wover[i, g] = words
                elif words > wfit[i, g]:
                    wfit[i, g] = words
        valid[row] = ok
        for j in range(L):
            for k in range(K):
                v = dconst[j, k]
                for q in range(nmr[j, k]):
                    ns = mr_n[j, k, q]
                    for g in range(ns):
                        fs[g] = mr_f[j, k, q, g]
                        ss[g] = ext[row, j + 1, mr_d[j, k, q, g]] * mr_m[j, k, q, g]
                    v *= distinct_offsets(fs, ss, ns)
                distinct[row, j, k] = v
    return ext, tiles, rext, valid, distinct


@nb.njit(**_OPTS)
def _value(row, fetch, distinct, partition, inst, per_mac, kept, nkept, rw, block, rpj, wpj, upj, hop, rbw, wbw,
           leak, mac_e, objective, e_ik, h_ik, has, rd, wr):
    """The objective of one row from the words fetched into every (level, data space) ``fetch`` [L+1, K]: the
    counts, energies, cycles and sums of ``evaluate_batch`` + ``batch.score``, in the same order. Monotone in
    every fetch (what ``lower_bounds`` relies on). ``e_ik`` .. ``wr``: scratch."""
    L = rpj.shape[0]
    K = kept.shape[0]
    for i in range(L):
        rd[i] = 0
        wr[i] = 0
        for k in range(K):
            has[i, k] = False
    for k in range(K):
        for pos in range(nkept[k]):
            i = kept[k, pos]
            c = kept[k, pos + 1] if pos + 1 < nkept[k] else L
            fc = fetch[c, k] if c < L else per_mac
            mult = 1
            for j2 in range(i, c):
                mult *= distinct[row, j2, k]
            from_children = fc * mult
            if rw[k]:
                updates = from_children
                reads = updates - partition[i, k]
                fills = 0 if pos == 0 else fetch[i, k] - partition[i, k]
            else:
                reads = from_children
                updates = 0
                fills = 0 if pos == 0 else fetch[i, k]
            B = block[i]
            e_ik[i, k] = ((-((-reads) // B)) * rpj[i] + (-((-fills) // B)) * wpj[i]
                          + (-((-updates) // B)) * upj[i]) * inst[i]
            if hop[i] > 0:
                h_ik[i, k] = hop[i] * np.float64(reads * inst[i] + updates * inst[i])
            has[i, k] = True
            rd[i] += reads
            wr[i] += fills + updates
    # the sums in the order of evaluate_batch: levels outer, data spaces inner
    cycles = np.float64(per_mac)
    network = 0.0
    for i in range(L):
        for k in range(K):
            if has[i, k] and hop[i] > 0:
                network = network + h_ik[i, k]
        if rbw[i] > 0:
            cycles = max(cycles, np.ceil(rd[i] / rbw[i]))
        if wbw[i] > 0:
            cycles = max(cycles, np.ceil(wr[i] / wbw[i]))
    total = 0.0
    for i in range(L):
        le = 0.0
        for k in range(K):
            if has[i, k]:
                le = le + e_ik[i, k]
        if leak[i] > 0:
            le = le + leak[i] * cycles * inst[i]
        total = total + le
    total = total + mac_e
    en = total + network
    if objective == 0:
        return en
    if objective == 1:
        return cycles + en * 1e-30
    return en * cycles


@nb.njit(**_OPTS)
def lower_bounds(F, tiles, rext, ext, valid, distinct, partition, spf, inst, per_mac, tlev, rel, slide_r, slide_c,
                 kept, nkept, rw, block, rpj, wpj, upj, hop, rbw, wbw, leak, mac_e, objective):
    """Per row, a lower bound of its objective under every loop order (inf where invalid): ``_value`` of the
    fewest words each level can be fetched under any order of the loops above it.

    For data space k and level i, let t* be the innermost temporal level above i with a loop > 1 over a
    dimension indexing k (none: one fetch of the tile, under any order). Every loop > 1 at levels outside t*
    lies outside the innermost such loop j (one of t*'s), so it multiplies the fetches; a loop > 1 over a
    dimension not indexing k between t* and i lies inside j, so the tile is fetched whole per iteration of j
    (no sliding reuse). Within t*, j can be any of its loops indexing k, and the other loops are outside j
    (sliding) or some loop not indexing k is inside j (whole tiles). The bound is the smallest of these cases;
    it is the exact count when t* has one such loop and no other loop > 1."""
    n, T, D = F.shape
    L = spf.shape[0]
    K = kept.shape[0]
    lb = np.empty(n)
    fetch = np.zeros((L + 1, K), dtype=np.int64)
    e_ik = np.zeros((L, K))
    h_ik = np.zeros((L, K))
    has = np.zeros((L, K), dtype=np.bool_)
    rd = np.zeros(L, dtype=np.int64)
    wr = np.zeros(L, dtype=np.int64)
    rprod = np.empty((T, K), dtype=np.int64)
    rcnt = np.empty((T, K), dtype=np.int64)
    iprod = np.empty((T, K), dtype=np.int64)
    for row in range(n):
        if not valid[row]:
            lb[row] = np.inf
            continue
        for t in range(T):
            for k in range(K):
                rp = 1
                rc = 0
                ip = 1
                for d in range(D):
                    f = F[row, t, d]
                    if f > 1:
                        if rel[k, d]:
                            rp *= f
                            rc += 1
                        else:
                            ip *= f
                rprod[t, k] = rp
                rcnt[t, k] = rc
                iprod[t, k] = ip
        for i in range(L):
            for k in range(K):
                tile = tiles[row, i, k]
                ts = -1  # t*
                deeper = False  # a loop > 1 not indexing k between t* and i
                for t in range(T - 1, -1, -1):
                    if tlev[t] >= i:
                        continue
                    if rcnt[t, k] > 0:
                        ts = t
                        break
                    if iprod[t, k] > 1:
                        deeper = True
                if ts < 0:
                    fetch[i, k] = tile
                    continue
                p_out = 1
                for t in range(ts):
                    p_out *= rprod[t, k] * iprod[t, k]
                whole = p_out * rprod[ts, k] * tile
                if deeper:
                    fetch[i, k] = whole
                    continue
                best = whole if iprod[ts, k] > 1 else -1
                lev = tlev[ts]
                for d in range(D):
                    f = F[row, ts, d]
                    if f <= 1 or not rel[k, d]:
                        continue
                    slide = tile
                    r = slide_r[k, d]
                    if r >= 0:
                        shift = slide_c[k, d] * (ext[row, lev + 1, d] * spf[lev, d])
                        re = rext[row, i, k, r]
                        slide = tile if shift >= re else tile // re * shift
                    v = p_out * (rprod[ts, k] // f) * iprod[ts, k] * (tile + (f - 1) * slide)
                    if best < 0 or v < best:
                        best = v
                fetch[i, k] = best
        lb[row] = _value(row, fetch, distinct, partition, inst, per_mac, kept, nkept, rw, block, rpj, wpj, upj, hop,
                         rbw, wbw, leak, mac_e, objective, e_ik, h_ik, has, rd, wr)
    return lb


@nb.njit(**_OPTS)
def score_order(F, ext, tiles, rext, valid, distinct, partition, spf, inst, per_mac,
                slot_t, slot_d, slot_lev, prefix, rel, slide_r, slide_c, kept, nkept, rw,
                block, rpj, wpj, upj, hop, rbw, wbw, leak, mac_e, objective, visit, lb, scores, limit):
    """The lowest objective value of one batch under one loop order and its first row (inf, 0 when no row is
    valid or none is below ``limit``), as ``evaluate_batch`` + ``batch.score`` + argmin. The slots ``slot_*`` are
    the loops outer to inner; ``prefix[i]`` of them lie above level ``i``.

    Rows are visited in the order ``visit`` (ascending lower bound ``lb``) and the visit stops at the first row
    whose bound exceeds the best value found, or ``limit`` while none is below it (no later row can reach it);
    ties go to the lower row index, so the result is the exhaustive argmin's whenever that is below ``limit``.
    ``scores``, when it has a row per candidate, receives every row's value (and every row is visited).

    The words fetched into level i for data space k (``BatchEvaluator._fetches``) depend on two slots above i:
    the innermost one with a factor > 1 (``last``) and the innermost such one over a dimension indexing k
    (``j``). One pass over the slots, outer to inner, records both for every level's prefix."""
    n = F.shape[0]
    L = spf.shape[0]
    K = kept.shape[0]
    fill_scores = scores.shape[0] == n
    e_ik = np.zeros((L, K))
    h_ik = np.zeros((L, K))
    has = np.zeros((L, K), dtype=np.bool_)
    fetch = np.zeros((L + 1, K), dtype=np.int64)
    rd = np.zeros(L, dtype=np.int64)
    wr = np.zeros(L, dtype=np.int64)
    jk = np.empty(K, dtype=np.int64)  # innermost slot so far over a dimension indexing k (-1: none)
    outer_k = np.empty(K, dtype=np.int64)  # product of the slots outside it
    best = limit if not fill_scores else np.inf
    best_row = -1
    for q in range(n):
        row = visit[q] if not fill_scores else q
        if not valid[row]:
            if fill_scores:
                scores[row] = np.inf
                continue
            break  # invalid rows sort last (bound inf)
        if not fill_scores and lb[row] > best:
            break
        last = -1
        cum = 1
        for k in range(K):
            jk[k] = -1
            outer_k[k] = 1
        s = 0
        for i in range(L):
            while s < prefix[i]:
                f = F[row, slot_t[s], slot_d[s]]
                if f > 1:
                    last = s
                    for k in range(K):
                        if rel[k, slot_d[s]]:
                            jk[k] = s
                            outer_k[k] = cum
                    cum *= f
                s += 1
            for k in range(K):
                tile = tiles[row, i, k]
                j = jk[k]
                if j < 0:
                    fetch[i, k] = tile
                    continue
                dj = slot_d[j]
                bj = F[row, slot_t[j], dj]
                if last > j:
                    fetch[i, k] = outer_k[k] * bj * tile
                    continue
                slide = tile
                r = slide_r[k, dj]
                if r >= 0:
                    lev = slot_lev[j]
                    shift = slide_c[k, dj] * (ext[row, lev + 1, dj] * spf[lev, dj])
                    re = rext[row, i, k, r]
                    slide = tile if shift >= re else tile // re * shift
                fetch[i, k] = outer_k[k] * (tile + (bj - 1) * slide)
        v = _value(row, fetch, distinct, partition, inst, per_mac, kept, nkept, rw, block, rpj, wpj, upj, hop, rbw,
                   wbw, leak, mac_e, objective, e_ik, h_ik, has, rd, wr)
        if fill_scores:
            scores[row] = v
        if v < best or (v == best and row < best_row):
            best = v
            best_row = row
    if best_row < 0:
        return np.inf, 0
    return best, best_row

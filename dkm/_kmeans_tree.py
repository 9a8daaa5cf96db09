"""Exact Lloyd k-means by k-d-tree filtering (Kanungo et al. 2002), compiled with numba; samples of d <= 4.

The points are put in a k-d tree once per call. They are ordered by a Morton (bit-interleaved) code on a grid of
cubic cells, a few cells per leaf (one counting sort), so that every node is a contiguous range; a node splits
where the next code bit flips (a grid midpoint), and a range left in one cell is split at its box's midpoint or
median. Each node keeps its tight bounding box, point count and float64 coordinate sum.

Each Lloyd step walks the tree with a candidate set of centres. At a node the candidate ``z*`` nearest the box
midpoint is kept, and every other candidate ``z`` is dropped when the box vertex extreme in direction
``z - z*`` is no nearer to ``z`` than to ``z*`` (then no point of the box is). A node left with one candidate
goes wholly to it; a leaf with several is assigned point by point over those candidates only (vectorized over
its points). Ties go to the lower centre index, as with a brute-force ``argmin``; distances are
``sum((x - c)**2)`` in float64 from the float32 samples and centres, so the labels are those of brute-force
Lloyd on the same centres up to floating-point near-ties.

Nothing is redone for what does not change: a node that goes wholly to the cluster it was in already costs one
comparison (no labels written), and the cluster sums and sizes are updated from the nodes and points that
change cluster, as the torch path does. Coordinates are padded with zeros to 4 (one compiled version for
d = 1..4). Only the numeric kernels are here; :func:`dkm.kmeans.kmeans` owns the contract, and :func:`lloyd`
follows it step for step (stopping rule, empty clusters, the final E-step).

This numba kernel file is over the layout's 500-line limit on purpose: it is one algorithm (the tree layout, its
build, the filtering walk and the Lloyd driver) whose kernels share the array layout of the tree; split over
modules, each half would only make sense with the other open beside it.
"""

from __future__ import annotations

import numba as nb
import numpy as np

D = 4  # padded dimension
LEAF_SIZE = 128  # largest leaf (points assigned by brute force over the leaf's candidates)
CELLS_PER_LEAF = 4  # grid cells per leaf, on average
_MAX_BITS = 20  # longest grid code (a counting sort over 2**bits buckets)


@nb.njit(cache=True, nogil=True)
def _swap(Xs, perm, i, j):
    for c in range(D):
        t = Xs[c, i]
        Xs[c, i] = Xs[c, j]
        Xs[c, j] = t
    t2 = perm[i]
    perm[i] = perm[j]
    perm[j] = t2


@nb.njit(cache=True, nogil=True)
def _select(Xs, perm, s, e, w, k):
    """Reorder points s..e-1 so that those before k have Xs[w] <= Xs[w, k] <= those after (3-way quickselect)."""
    while e - s > 1:
        a, b, c = Xs[w, s], Xs[w, (s + e) // 2], Xs[w, e - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        lt, i, gt = s, s, e
        while i < gt:
            v = Xs[w, i]
            if v < pivot:
                _swap(Xs, perm, lt, i)
                lt += 1
                i += 1
            elif v > pivot:
                gt -= 1
                _swap(Xs, perm, i, gt)
            else:
                i += 1
        if k < lt:
            e = lt
        elif k >= gt:
            s = gt
        else:
            return


@nb.njit(cache=True, nogil=True)
def _split_range(Xs, perm, s, e):
    """Split points s..e-1 (sharing a grid cell) at the midpoint of the widest side of their box, or at the
    median when that leaves less than 1/8 on one side. Returns the split index, or -1 if all points coincide."""
    w = 0
    wext = -1.0
    for c in range(D):
        a = Xs[c, s]
        b = Xs[c, s]
        for i in range(s, e):
            a = min(a, Xs[c, i])
            b = max(b, Xs[c, i])
        if b - a > wext:
            w, wext, lo, hi = c, b - a, a, b
    if wext <= 0.0:
        return -1
    mid = lo + 0.5 * (hi - lo)
    i, j = s, e - 1
    while i <= j:
        if Xs[w, i] < mid:
            i += 1
        else:
            _swap(Xs, perm, i, j)
            j -= 1
    m = i
    if 8 * (m - s) < e - s or 8 * (e - m) < e - s:
        m = s + (e - s) // 2
        _select(Xs, perm, s, e, w, m)
    return m


@nb.njit(cache=True, nogil=True)
def build(X, leaf_size, cells_per_leaf):
    """k-d tree over the rows of ``X`` (float32 ``(N, d)``, d <= 4), nodes in depth-first preorder.

    Returns ``(Xs, perm, box, nsum, start, end, right, maxdepth)``: the permuted points transposed, in float64
    and padded with zeros to 4 coordinates (``Xs[:d, i] = X[perm[i]]``); per node its box
    (``[lo_0..lo_3, hi_0..hi_3]``), coordinate sum, point range ``start:end`` and right child (``-1`` for a
    leaf; the left child is the next node); and the depth of the tree.
    """
    N, d = X.shape
    # grid of cubic cells (a thin side gets fewer of them), ``cells_per_leaf`` cells per leaf on average
    mn = np.empty(d)
    ext = 0.0
    for c in range(d):
        a = X[0, c]
        b = X[0, c]
        for i in range(N):
            a = min(a, X[i, c])
            b = max(b, X[i, c])
        mn[c] = a
        ext = max(ext, float(b) - float(a))
    nbits = 1
    while nbits < _MAX_BITS and (1 << nbits) * leaf_size < cells_per_leaf * N:
        nbits += 1
    bits = max(1, (nbits + d - 1) // d)
    while bits * d > _MAX_BITS:
        bits -= 1
    top = (1 << bits) - 1
    scale = (top + 1) / ext if ext > 0 else 0.0
    spread = np.zeros(top + 1, np.int32)  # bit k of a cell coordinate goes to bit k * d of the code
    for q in range(top + 1):
        code = 0
        for k in range(bits):
            code |= ((q >> k) & 1) << (k * d)
        spread[q] = code
    nbuck = 1 << (bits * d)
    keys = np.empty(N, np.int32)
    hist = np.zeros(nbuck + 1, np.int64)
    for i in range(N):
        code = 0
        for c in range(d):
            q = int((float(X[i, c]) - mn[c]) * scale)
            code |= spread[min(max(q, 0), top)] << c
        keys[i] = code
        hist[code + 1] += 1
    cells = 0
    for k in range(nbuck):
        cells += hist[k + 1] > 0
        hist[k + 1] += hist[k]
    # counting sort (stable) by code; then the points gathered in that order, transposed
    perm = np.empty(N, np.int64)
    skeys = np.empty(N, np.int32)
    for i in range(N):
        code = keys[i]
        pos = hist[code]
        hist[code] = pos + 1
        perm[pos] = i
        skeys[pos] = code
    keys = skeys
    Xs = np.empty((D, N))
    for c in range(d):
        for i in range(N):
            Xs[c, i] = X[perm[i], c]
    for c in range(d, D):
        for i in range(N):
            Xs[c, i] = 0.0

    # Node count bound: a leaf holds a whole grid cell or more, or (split inside one cell, where each side
    # keeps at least 1/8) more than leaf_size / 8 points; a binary tree has fewer than twice its leaves.
    cap = 2 * (cells + (8 * N) // leaf_size + 1)
    box = np.empty((cap, 2 * D))
    nsum = np.empty((cap, D))
    start = np.empty(cap, np.int32)
    end = np.empty(cap, np.int32)
    right = np.empty(cap, np.int32)
    # pending ranges: start, end, next code bit (-1: past the grid), parent (-1 root / left child), depth;
    # at most one per level plus two, and the depth is at most _MAX_BITS + log(N) / log(8 / 7) < 260
    st = np.empty((264, 5), np.int64)
    st[0, 0], st[0, 1], st[0, 2], st[0, 3], st[0, 4] = 0, N, bits * d - 1, -1, 0
    sp = 1
    n = 0
    maxdepth = 0
    while sp > 0:
        sp -= 1
        s, e, b, par, dep = st[sp, 0], st[sp, 1], st[sp, 2], st[sp, 3], st[sp, 4]
        v = n
        n += 1
        if par >= 0:
            right[par] = v
        maxdepth = max(maxdepth, dep)
        start[v] = s
        end[v] = e
        right[v] = -1
        m = -1
        if e - s > leaf_size:
            while b >= 0:  # first code bit that splits the range (codes are sorted: binary search)
                bit = 1 << b
                if (keys[s] & bit) == 0 and (keys[e - 1] & bit) != 0:
                    lo_, hi_ = s, e - 1
                    while hi_ - lo_ > 1:
                        md = (lo_ + hi_) // 2
                        if keys[md] & bit:
                            hi_ = md
                        else:
                            lo_ = md
                    m = hi_
                    b -= 1
                    break
                b -= 1
            if m < 0:  # points in one grid cell
                b = -1
                m = _split_range(Xs, perm, s, e)
        if m < 0:  # leaf: box and sum from its points
            s_, n_ = np.uint64(s), np.uint64(e - s)
            for c in range(D):
                a = Xs[c, s]
                z = Xs[c, s]
                t = 0.0
                for i in range(n_):
                    x = Xs[c, s_ + i]
                    a = min(a, x)
                    z = max(z, x)
                    t += x
                box[v, c] = a
                box[v, D + c] = z
                nsum[v, c] = t
            continue
        st[sp, 0], st[sp, 1], st[sp, 2], st[sp, 3], st[sp, 4] = m, e, b, v, dep + 1
        st[sp + 1, 0], st[sp + 1, 1], st[sp + 1, 2], st[sp + 1, 3], st[sp + 1, 4] = s, m, b, -1, dep + 1
        sp += 2
    # internal nodes: box and sum from the children (they come later in preorder)
    for v in range(n - 1, -1, -1):
        r = right[v]
        if r >= 0:
            for c in range(D):
                box[v, c] = min(box[v + 1, c], box[r, c])
                box[v, D + c] = max(box[v + 1, D + c], box[r, D + c])
                nsum[v, c] = nsum[v + 1, c] + nsum[r, c]
    box_ = np.empty((n, 2 * D))
    nsum_ = np.empty((n, D))
    start_ = np.empty(n, np.int32)
    end_ = np.empty(n, np.int32)
    right_ = np.empty(n, np.int32)
    for v in range(n):  # (loops: slicing costs more to compile)
        for c in range(2 * D):
            box_[v, c] = box[v, c]
        for c in range(D):
            nsum_[v, c] = nsum[v, c]
        start_[v], end_[v], right_[v] = start[v], end[v], right[v]
    return Xs, perm, box_, nsum_, start_, end_, right_, maxdepth


@nb.njit(cache=True, nogil=True)
def _move(sums, counts, nsum, v, o, j, n):
    """Move node ``v`` (``n`` points, coordinate sum ``nsum[v]``) from cluster ``o`` to cluster ``j``."""
    counts[o] -= n
    counts[j] += n
    for c in range(D):
        sums[o, c] -= nsum[v, c]
        sums[j, c] += nsum[v, c]


@nb.njit(cache=True, nogil=True)
def _move_point(sums, counts, Xs, i, o, j):
    counts[o] -= 1
    counts[j] += 1
    for c in range(D):
        x = Xs[c, i]
        sums[o, c] -= x
        sums[j, c] += x


@nb.njit(cache=True, nogil=True)
def _absorb(Xs, nsum, start, end, right, own, labels, sums, counts, v, j, stack):
    """Node ``v`` (no label of its own: ``own[v] == -1``) now goes wholly to cluster ``j``: move every part of
    its subtree that was elsewhere; returns whether any label changed."""
    changed = False
    stack[0] = v
    sp = 1
    while sp > 0:
        sp -= 1
        w = stack[sp]
        o = own[w]
        if w != v and o >= 0:
            if o != j:
                _move(sums, counts, nsum, w, o, j, end[w] - start[w])
                changed = True
        elif right[w] < 0:
            for i in range(start[w], end[w]):
                o = labels[i]
                if o != j:
                    _move_point(sums, counts, Xs, i, o, j)
                    changed = True
        else:
            stack[sp] = right[w]
            stack[sp + 1] = w + 1
            sp += 2
    return changed


@nb.njit(cache=True, nogil=True)
def assign(Xs, box, nsum, start, end, right, C, own, labels, sums, counts, cand, ncand, stack, dstack, tmp, bdist,
           blab, nd):
    """One assignment step for centres ``C`` (float64 ``(K, 4)``, ``nd`` real coordinates); returns whether any
    label changed.

    The state is updated in place, touching only what changes: ``own[v] >= 0`` says that every point of node
    ``v`` has that label (the highest such node on a point's path wins; below it ``own`` is stale), else the
    labels are in the children, down to ``labels`` (tree order) at the leaves. ``sums`` and ``counts`` (float64
    coordinate sums and sizes of the clusters) move with the labels. Scratch: ``cand`` ``(depth + 2, K)``
    (candidate lists by depth), ``ncand`` and ``dstack`` ``(depth + 2,)``, ``stack`` ``(2 depth + 4,)``, and
    ``tmp``, ``bdist``, ``blab`` as long as the largest leaf.
    """
    K = C.shape[0]
    d3 = nd == 3
    for j in range(K):
        cand[0, j] = j
    ncand[0] = K
    stack[0] = 0
    dstack[0] = 0
    sp = 1
    changed = False
    while sp > 0:
        sp -= 1
        v = stack[sp]
        t = dstack[sp]
        m = ncand[t]
        l0, l1, l2, l3 = box[v, 0], box[v, 1], box[v, 2], box[v, 3]
        h0, h1, h2, h3 = box[v, 4], box[v, 5], box[v, 6], box[v, 7]
        best = cand[t, 0]
        if m > 1:  # candidate nearest the box midpoint (first on ties)
            m0, m1, m2, m3 = 0.5 * (l0 + h0), 0.5 * (l1 + h1), 0.5 * (l2 + h2), 0.5 * (l3 + h3)
            bd = np.inf
            for a in range(m):
                j = cand[t, a]
                f0, f1, f2, f3 = m0 - C[j, 0], m1 - C[j, 1], m2 - C[j, 2], m3 - C[j, 3]
                dd = (f0 * f0 + f1 * f1) + (f2 * f2 + f3 * f3)
                lt = dd < bd
                best = j if lt else best
                bd = dd if lt else bd
        # keep z unless the box vertex v extreme along z - z* is farther from z than from z* (on a tie: unless
        # z* has the lower index). The distances are summed as in the leaves (and in a brute-force argmin), so
        # where v is a sample the decision is the one made for that sample.
        b0, b1, b2, b3 = C[best, 0], C[best, 1], C[best, 2], C[best, 3]
        mm = 0
        for a in range(m):
            j = cand[t, a]
            z0, z1, z2, z3 = C[j, 0], C[j, 1], C[j, 2], C[j, 3]
            v0 = h0 if z0 > b0 else l0
            v1 = h1 if z1 > b1 else l1
            v2 = h2 if z2 > b2 else l2
            v3 = h3 if z3 > b3 else l3
            f0, f1, f2, f3 = v0 - z0, v1 - z1, v2 - z2, v3 - z3
            g0, g1, g2, g3 = v0 - b0, v1 - b1, v2 - b2, v3 - b3
            dz = f0 * f0 + f1 * f1 + f2 * f2 + f3 * f3
            dzs = g0 * g0 + g1 * g1 + g2 * g2 + g3 * g3
            keep = (dz < dzs) | ((dz == dzs) & (j <= best)) | (j == best)
            cand[t + 1, mm] = j
            mm += keep
        ncand[t + 1] = mm
        o = own[v]
        if mm == 1:
            if o != best:
                if o >= 0:
                    _move(sums, counts, nsum, v, o, best, end[v] - start[v])
                    changed = True
                elif _absorb(Xs, nsum, start, end, right, own, labels, sums, counts, v, best, stack[sp:]):
                    changed = True
                own[v] = best
        elif right[v] < 0:  # nearest candidate of each point, vectorized over the points
            s0 = np.uint64(start[v])  # unsigned indices: no wraparound checks, so the loops vectorize
            n = np.uint64(end[v] - start[v])
            for a in range(mm):
                j = cand[t + 1, a]
                z0, z1, z2, z3 = C[j, 0], C[j, 1], C[j, 2], C[j, 3]
                if d3:
                    for i in range(n):
                        f0, f1, f2 = Xs[0, s0 + i] - z0, Xs[1, s0 + i] - z1, Xs[2, s0 + i] - z2
                        tmp[i] = f0 * f0 + f1 * f1 + f2 * f2
                else:
                    for i in range(n):
                        f0, f1 = Xs[0, s0 + i] - z0, Xs[1, s0 + i] - z1
                        f2, f3 = Xs[2, s0 + i] - z2, Xs[3, s0 + i] - z3
                        tmp[i] = f0 * f0 + f1 * f1 + f2 * f2 + f3 * f3
                if a == 0:
                    for i in range(n):
                        bdist[i] = tmp[i]
                        blab[i] = j
                else:
                    for i in range(n):
                        lt = tmp[i] < bdist[i]
                        bdist[i] = tmp[i] if lt else bdist[i]
                        blab[i] = j if lt else blab[i]
            ch = 0
            if o >= 0:
                for i in range(n):
                    ch |= blab[i] != o
            else:
                for i in range(n):
                    ch |= blab[i] != labels[s0 + i]
            if ch:
                for i in range(n):
                    old = o if o >= 0 else labels[s0 + i]
                    if blab[i] != old:
                        _move_point(sums, counts, Xs, s0 + i, old, blab[i])
                    labels[s0 + i] = blab[i]
                own[v] = -1
                changed = True
        else:
            if o >= 0:  # push the label down before the children are revisited
                own[v + 1] = o
                own[right[v]] = o
                own[v] = -1
            stack[sp] = right[v]
            dstack[sp] = t + 1
            stack[sp + 1] = v + 1
            dstack[sp + 1] = t + 1
            sp += 2
    return changed


@nb.njit(cache=True, nogil=True)
def labels_of(start, end, right, own, labels, stack):
    """Materialize the labels (tree order) from ``own`` and ``labels``."""
    out = np.empty(labels.shape[0], np.int32)
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        v = stack[sp]
        if own[v] >= 0:
            for i in range(start[v], end[v]):
                out[i] = own[v]
        elif right[v] < 0:
            for i in range(start[v], end[v]):
                out[i] = labels[i]
        else:
            stack[sp] = right[v]
            stack[sp + 1] = v + 1
            sp += 2
    return out


@nb.njit(cache=True, nogil=True)
def _recount(Xs, nsum, start, end, right, own, labels, sums, counts, stack):
    """Cluster sums and sizes summed afresh from the labels (instead of moved)."""
    for j in range(counts.shape[0]):
        counts[j] = 0
        for c in range(D):
            sums[j, c] = 0.0
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        v = stack[sp]
        o = own[v]
        if o >= 0:
            counts[o] += end[v] - start[v]
            for c in range(D):
                sums[o, c] += nsum[v, c]
        elif right[v] < 0:
            for i in range(start[v], end[v]):
                o = labels[i]
                counts[o] += 1
                for c in range(D):
                    sums[o, c] += Xs[c, i]
        else:
            stack[sp] = right[v]
            stack[sp + 1] = v + 1
            sp += 2


@nb.njit(cache=True, nogil=True)
def _relocate_empty(X, perm, labels, C, counts):
    """As ``dkm.kmeans._relocate_empty``: empty centres go to the points farthest from their own centre, in
    decreasing float32 squared distance, ties by sample index (a stable radix sort on the float bits, which
    order non-negative floats; cheaper to compile than ``np.argsort``)."""
    N, d = X.shape
    dist = np.empty(N, np.float32)
    for i in range(N):
        s = np.float32(0.0)
        for c in range(d):
            f = X[perm[i], c] - C[labels[i], c]
            s += f * f
        dist[perm[i]] = s
    key = np.empty(N, np.int64)
    bits = dist.view(np.uint32)
    for p in range(N):
        key[p] = 0xFFFFFFFF - np.int64(bits[p])  # ascending key = descending distance
    order = np.arange(N)
    tmp = np.empty(N, np.int64)
    cnt = np.empty(65537, np.int64)
    for ps in range(2):
        sh = 16 * ps
        for b in range(65537):
            cnt[b] = 0
        for q in range(N):
            cnt[((key[order[q]] >> sh) & 0xFFFF) + 1] += 1
        for b in range(65536):
            cnt[b + 1] += cnt[b]
        for q in range(N):
            b = (key[order[q]] >> sh) & 0xFFFF
            tmp[cnt[b]] = order[q]
            cnt[b] += 1
        order, tmp = tmp, order
    q = 0
    for j in range(C.shape[0]):
        if counts[j] == 0:
            for c in range(d):
                C[j, c] = X[order[q], c]
            q += 1


@nb.njit(cache=True, nogil=True)
def lloyd(X, Xs, perm, box, nsum, start, end, right, maxdepth, C0, max_iter, tol_abs):
    """Lloyd iterations from float32 centres ``C0`` ``(K, d)``, step for step as :func:`dkm.kmeans.kmeans`.

    Returns ``(C, labels, n_iter, inertia)`` with labels in sample order (int64) and float32 centres.
    """
    N, d = X.shape
    K = C0.shape[0]
    n = start.shape[0]
    C = C0.copy()
    C64 = np.zeros((K, D))
    for j in range(K):
        for c in range(d):
            C64[j, c] = C[j, c]
    # start from "every point in cluster 0"; the first step moves them
    own = np.empty(n, np.int32)
    for v in range(n):
        own[v] = -1
    own[0] = 0
    labels = np.zeros(N, np.int32)
    sums = np.zeros((K, D))
    counts = np.zeros(K, np.int64)
    counts[0] = N
    for c in range(D):
        sums[0, c] = nsum[0, c]
    cand = np.empty((maxdepth + 2, K), np.int32)
    ncand = np.empty(maxdepth + 2, np.int64)
    stack = np.empty(2 * maxdepth + 4, np.int32)
    dstack = np.empty(maxdepth + 2, np.int32)
    big = 1
    for v in range(n):
        if right[v] < 0:
            big = max(big, end[v] - start[v])
    tmp = np.empty(big)
    bd = np.empty(big)
    bl = np.empty(big, np.int32)
    # step 0 is the first assignment; step it >= 1 moves the centres, then reassigns (one call site keeps
    # the compiled code small)
    n_iter = 0
    newC = np.empty_like(C)
    for it in range(0, max_iter + 2):
        if it > 0:
            if it > max_iter:
                break
            n_iter = it
            relocated = False
            for j in range(K):
                if counts[j] == 0:
                    relocated = True
                inv = 1.0 / max(counts[j], 1)
                for c in range(d):
                    newC[j, c] = np.float32(sums[j, c] * inv) if counts[j] > 0 else np.float32(0.0)
            if relocated:  # rare: empty clusters go to the farthest points
                _relocate_empty(X, perm, labels_of(start, end, right, own, labels, stack), newC, counts)
            shift = 0.0
            for j in range(K):
                s = np.float32(0.0)
                for c in range(d):
                    f = newC[j, c] - C[j, c]
                    s += f * f
                shift += np.float64(s)
            for j in range(K):
                for c in range(d):
                    C[j, c] = newC[j, c]
                    C64[j, c] = C[j, c]
            if shift <= tol_abs and not relocated:
                if shift > 0.0:  # labels must match the final centres (as scikit-learn's last E-step)
                    assign(Xs, box, nsum, start, end, right, C64, own, labels, sums, counts, cand, ncand, stack,
                           dstack, tmp, bd, bl, d)
                break
        changed = assign(Xs, box, nsum, start, end, right, C64, own, labels, sums, counts, cand, ncand, stack,
                         dstack, tmp, bd, bl, d)
        if it == 0:
            _recount(Xs, nsum, start, end, right, own, labels, sums, counts, stack)
        elif not changed and not relocated:
            break
    lab = labels_of(start, end, right, own, labels, stack)
    inertia = 0.0
    out = np.empty(N, np.int64)
    for i in range(N):
        j = lab[i]
        out[perm[i]] = j
        for c in range(d):
            f = Xs[c, i] - C64[j, c]
            inertia += f * f
    return C, out, n_iter, inertia

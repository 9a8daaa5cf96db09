"""A ``Space``'s structure as flat integer/float arrays, what the compiled kernels read instead of Python lists
(``Space.kernel_arrays`` adds the capacities)."""

from __future__ import annotations

import numpy as np


def structure_arrays(space) -> dict:
    """``Space.kernel_arrays`` but ``gcap``: what does not read a capacity (the makeup of the capacity groups,
    ``gmask``, is the same on every profile with the space's ``HardwareProfile.capacity_shape``)."""
    L, D, K = space.L, space.D, len(space.ds)
    R = max(1, max(len(t) for t in space.terms))
    MT = max(1, max((len(r) for t in space.terms for r in t), default=1))
    nterm = np.zeros((K, R), dtype=np.int64)
    tdim = np.zeros((K, R, MT), dtype=np.int64)
    tcoef = np.zeros((K, R, MT), dtype=np.int64)
    for k, ranks in enumerate(space.terms):
        for r, terms in enumerate(ranks):
            nterm[k, r] = len(terms)
            for q, (d, c) in enumerate(terms):
                tdim[k, r, q], tcoef[k, r, q] = d, c
    G = max(1, max(len(g) for g in space.fit_groups))
    ngroup = np.array([len(g) for g in space.fit_groups], dtype=np.int64)
    gmask = np.zeros((L, G, K), dtype=np.bool_)
    for i, groups in enumerate(space.fit_groups):
        for g, (ks, _) in enumerate(groups):
            gmask[i, g, ks] = True
    slide_r = np.full((K, D), -1, dtype=np.int64)
    slide_c = np.zeros((K, D), dtype=np.int64)
    for k, terms in enumerate(space.slide_terms):
        for d, r, c in terms:
            slide_r[k, d], slide_c[k, d] = r, c
    dim_rank = np.full((K, D), -1, dtype=np.int64)  # the rank of data space k that dimension d moves
    dim_coef = np.zeros((K, D), dtype=np.int64)
    for k, ranks in enumerate(space.terms):
        for r, terms in enumerate(ranks):
            for d, c in terms:
                dim_rank[k, d], dim_coef[k, d] = r, c
    kept = np.full((K, L + 1), -1, dtype=np.int64)
    for k, levels in enumerate(space.kept_idx_all):
        kept[k, :len(levels)] = levels
    lv = space.profile.levels
    return dict(
        tpos=np.array([space.tpos.get(i, -1) for i in range(L)], dtype=np.int64),
        tlev=np.array(space.temporal_levels, dtype=np.int64),
        nrank=np.array([len(t) for t in space.terms], dtype=np.int64), nterm=nterm, tdim=tdim, tcoef=tcoef,
        ngroup=ngroup, gmask=gmask, rel=np.array(space.rel, dtype=np.bool_).reshape(K, D),
        slide_r=slide_r, slide_c=slide_c, kept=kept, dim_rank=dim_rank, dim_coef=dim_coef,
        nkept=np.array([len(x) for x in space.kept_idx_all], dtype=np.int64),
        rw=np.array([ds.read_write for ds in space.ds], dtype=np.bool_),
        block=np.array([l.block_size for l in lv], dtype=np.int64),
        rpj=np.array([l.read_pj for l in lv], dtype=np.float64),
        wpj=np.array([l.write_pj for l in lv], dtype=np.float64),
        upj=np.array([l.update_pj for l in lv], dtype=np.float64),
        hop=np.array([l.network_hop_pj or 0.0 for l in lv], dtype=np.float64),
        rbw=np.array([l.read_bandwidth or 0.0 for l in lv], dtype=np.float64),
        wbw=np.array([l.write_bandwidth or 0.0 for l in lv], dtype=np.float64),
        leak=np.array([l.leak_pj or 0.0 for l in lv], dtype=np.float64))

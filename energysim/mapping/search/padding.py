"""Padded problems for the mapping search (``MapperOptions.pad``): a bound that does not divide the array well
(Eyeriss's 55 output rows on 14 columns) can run as a slightly larger one (56 = 8 x 7) whose last iterations are
phantom work on idle PEs. ``padded_problems`` lists the padded bounds worth searching: those within the allowed
fraction whose spatial unrollings use more PEs than the real bound's."""

from __future__ import annotations

import math
from dataclasses import replace
from math import prod

from energysim.arch import HardwareProfile
from energysim.mapping.search.options import MapperOptions
from energysim.mapping.search.space import Space
from energysim.model.problem import Problem


def max_pes(problem: Problem, profile: HardwareProfile, constraint: str | None, options: MapperOptions) -> int:
    """PEs used by the best spatial unrolling of ``problem`` (the constraint's space; for a free search the
    free space, which holds every constrained one's unrollings)."""
    opts = Space(problem, profile, constraint, options).spatial_options()
    if not opts:
        return 1
    return prod(f for x, y in opts[0].values() for fac in (x, y) for f in fac.values())


def padded_problems(problem: Problem, profile: HardwareProfile, constraint: str | None,
                    options: MapperOptions) -> tuple[int, list[tuple[Problem, dict[str, int], int]]]:
    """The PEs of the unpadded problem's best spatial unrolling (0 when nothing is padded), and
    ``(padded problem, {dimension: padded bound}, its PEs)`` for every bound of ``options.pad`` within its
    fraction whose best spatial unrolling uses more PEs than the unpadded problem's (one dimension at a time)."""
    if not options.pad:
        return 0, []
    base = None
    out = []
    for d, frac in options.pad:
        b = problem.bounds.get(d)
        if b is None:
            continue
        for b2 in range(b + 1, math.floor(b * (1 + frac) + 1e-9) + 1):
            pp = replace(problem, bounds={**problem.bounds, d: b2})
            if base is None:
                base = max_pes(problem, profile, constraint, options)
            pes = max_pes(pp, profile, constraint, options)
            if pes > base:
                out.append((pp, {d: b2}, pes))
    return base or 0, out

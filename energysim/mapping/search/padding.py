"""Padded problems for the mapping search (``MapperOptions.pad``): a bound that does not divide the array well
(Eyeriss's 55 output rows on 14 columns) can run as a slightly larger one (56 = 8 x 7) whose last iterations are
phantom work on idle PEs. ``padded_problems`` lists the padded bounds worth searching: those within the allowed
fraction whose spatial unrollings use more PEs than the real bound's, and (``MapperOptions.pad_batch``) a batch
with a large prime factor padded to the next batches without one, whose images can then be tiled (a prime batch
of 1021 shares each weight fetch among all its images or none; as 1024, among tiles of them)."""

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


#: a batch tiles well when these are its only prime factors
SMALL_PRIMES = (2, 3, 5, 7)


def _smooth(n: int) -> bool:
    for p in SMALL_PRIMES:
        while n % p == 0:
            n //= p
    return n == 1


def batch_pads(n: int, frac: float, count: int = 2) -> list[int]:
    """The first ``count`` batches above ``n``, at most ``n * (1 + frac)``, with only ``SMALL_PRIMES`` as prime
    factors; none when ``n`` has only those itself."""
    if n <= 1 or _smooth(n):
        return []
    top = math.floor(n * (1 + frac) + 1e-9)
    return [m for m in range(n + 1, top + 1) if _smooth(m)][:count]


def batch_padded(problem: Problem, options: MapperOptions) -> list[tuple[Problem, dict[str, int]]]:
    """``(padded problem, {"N": padded batch})`` for each of ``batch_pads`` (``MapperOptions.pad_batch``)."""
    n = problem.bounds.get("N")
    if not n or not options.pad_batch:
        return []
    return [(replace(problem, bounds={**problem.bounds, "N": b}), {"N": b}) for b in batch_pads(n, options.pad_batch)]


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

"""Compile the mapping search's kernels into numba's on-disk cache ahead of time: ``python -m
energysim.mapping.search.warm`` (the Makefile's set-up runs it through ``python -m dkm.warm``), so that no
search waits on a compile. A no-op without numba. Prints what it did and how long it took. ``before_fork`` loads
them into a process about to fork workers."""

from __future__ import annotations

import sys
import time


def warm(quiet: bool = False) -> bool:
    """Run one small search with the kernels forced on (compiling or loading every kernel); False without
    numba."""
    from energysim.arch import load_profile
    from energysim.mapping.search import accel
    from energysim.mapping.search.batch import BatchEvaluator
    from energysim.mapping.search.driver import search
    from energysim.mapping.search.outer_bound import outer_tile_bound
    from energysim.mapping.search.space import Space
    from energysim.model.problem import Problem
    from energysim.workload.layer import Layer

    if not accel.available():
        if not quiet:
            print("energysim: numba is not installed; the mapping search runs its numpy code", file=sys.stderr)
        return False
    t = time.perf_counter()
    previous = accel.forced()
    accel.set_enabled(True)
    try:
        layer = Layer(name="warm", kind="conv", op="Conv2d", N=1, M=16, C=8, P=6, Q=6, R=3, S=3, H=8, W=8)
        problem, profile = Problem.from_layer(layer), load_profile("eyeriss-65nm")
        for objective in ("energy", "edp"):
            search(problem, profile, None, objective, cache=False)
        # the outermost tiles' bound runs only once a search has a best value to beat: once here directly
        space = Space(problem, profile, None)
        sp = space.spatial_options()[0]
        detail: dict = {}
        base = BatchEvaluator(space).sp_bound(sp, "energy", detail)
        outer_tile_bound(space, sp, base, detail["counts"], detail["inst"])
    finally:
        accel.set_enabled(previous)
    if not quiet:
        print(f"energysim: mapping-search kernels ready ({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    return True


def before_fork() -> None:
    """``accel.prefer``, and every kernel's machine code loaded now (``warm``; numba otherwise loads it on a kernel's
    first call), for a caller about to fork workers: they inherit it instead of each loading it."""
    from energysim.mapping.search import accel

    accel.prefer()
    if accel.wanted():
        warm(quiet=True)


if __name__ == "__main__":
    warm()

"""Compile the mapping search's kernels into numba's on-disk cache ahead of time: ``python -m
energysim.mapping.search.warm`` (the Makefile's set-up runs it through ``python -m dkm.warm``), so that no
search waits on a compile. A no-op without numba. Prints what it did and how long it took."""

from __future__ import annotations

import sys
import time


def warm(quiet: bool = False) -> bool:
    """Run one small search with the kernels forced on (compiling or loading every kernel); False without
    numba."""
    from energysim.arch import load_profile
    from energysim.mapping.search import accel
    from energysim.mapping.search.driver import search
    from energysim.model.problem import Problem
    from energysim.workload.layer import Layer

    if not accel.available():
        if not quiet:
            print("energysim: numba is not installed; the mapping search runs its numpy code", file=sys.stderr)
        return False
    t = time.perf_counter()
    accel.set_enabled(True)
    try:
        layer = Layer(name="warm", kind="conv", op="Conv2d", N=1, M=16, C=8, P=6, Q=6, R=3, S=3, H=8, W=8)
        for objective in ("energy", "edp"):
            search(Problem.from_layer(layer), load_profile("eyeriss-65nm"), None, objective, cache=False)
    finally:
        accel.set_enabled(None)
    if not quiet:
        print(f"energysim: mapping-search kernels ready ({time.perf_counter() - t:.1f} s)", file=sys.stderr)
    return True


if __name__ == "__main__":
    warm()

"""Compile dkm's numba kernels (and energysim's mapping-search kernels) into numba's on-disk caches ahead of
time, so that no command waits on a compile: ``python -m dkm.warm``. The Makefile's set-up step runs it once
after installing, so ``make demo`` on a fresh clone starts with the kernels cached.

What it compiles (or, when already cached, only loads):

* the k-means k-d-tree kernels (``dkm._kmeans_tree``: one version for every sample dimension 1..4);
* the fused regularizer kernels (``dkm._reg_kernels``) of the shapes the regularizers use most: ``hard`` for
  samples of s = 1..8 values and ``spectral`` with r = s (F has a column per sample value when K >= s);
  ``--all-shapes`` adds every r < s as well (about two minutes more). A shape not warmed compiles on first
  use, once per machine;
* energysim's mapping-search kernels (``energysim.mapping.search.warm``);
* the bytecode of both packages (``compileall``), as ``pip install`` does for a regular install but not for an
  editable one: without it, every command in an environment that writes no bytecode (``PYTHONDONTWRITEBYTECODE``)
  compiles every module it imports from source again (about 0.1 s CPU per command).

Without numba it does nothing (dkm and the mapper then run their torch / numpy code). Exit status 0 either way.
"""

from __future__ import annotations

import argparse
import sys
import time


def warm_kmeans() -> bool:
    from dkm import _compiled

    kt = _compiled.load("_kmeans_tree")
    if kt is None:
        return False
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2)).astype(np.float32)
    tree = kt.build(X, kt.LEAF_SIZE, kt.CELLS_PER_LEAF)
    kt.lloyd(X, *tree, X[:8].copy(), 5, 0.0)
    return True


def warm_regularizers(all_shapes: bool = False) -> int:
    from dkm import _compiled

    rk = _compiled.load("_reg_kernels")
    if rk is None:
        return 0
    n = 0
    for s in range(1, rk.MAX_S + 1):
        rk.hard(s)
        for r in range(1 if all_shapes else s, s + 1):
            rk.spectral(r, s)
            n += 1
        n += 1
    return n


def compile_bytecode() -> tuple[int, list[str]]:
    """Byte-compile every module of ``dkm`` and ``energysim`` (up-to-date files are skipped); (number of
    package folders compiled, the ones that could not be, e.g. read-only)."""
    import compileall
    import importlib.util
    from pathlib import Path

    done, failed = 0, []
    for name in ("dkm", "energysim"):
        spec = importlib.util.find_spec(name)
        root = Path(spec.origin).parent
        # quiet=1: errors only; a folder it cannot write (a read-only install) is reported, never fatal
        ok = compileall.compile_dir(str(root), quiet=1, workers=1)
        if ok:
            done += 1
        else:
            failed.append(str(root))
    return done, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dkm.warm", description=__doc__.splitlines()[0])
    ap.add_argument("--all-shapes", action="store_true", help="also every spectral kernel with r < s")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    say = (lambda *x: None) if a.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    t = time.perf_counter()
    done, failed = compile_bytecode()
    say(f"dkm: bytecode of {done} package(s) ready ({time.perf_counter() - t:.1f} s)"
        + (f"; could not write {', '.join(failed)}" if failed else ""))
    t = time.perf_counter()
    if not warm_kmeans():
        say("dkm: numba is not installed; k-means and the regularizers run their torch code (nothing to compile)")
        return 0
    say(f"dkm: k-means kernels ready ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    n = warm_regularizers(a.all_shapes)
    say(f"dkm: {n} regularizer kernels ready ({time.perf_counter() - t:.1f} s)")
    from energysim.mapping.search.warm import warm

    warm(quiet=a.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Searching many layers at once: ``search_all`` maps every distinct shape of a list of problems once, in a
process pool when asked, and fills the search cache so that later ``search`` calls for the same layers are
lookups. Results do not depend on the number of workers: each search is deterministic and runs whole in one
process."""

from __future__ import annotations

import sys

from energysim.arch import HardwareProfile
from energysim.mapping.search import accel, warm
from energysim.mapping.search.cache import DEFAULT_CACHE, SearchCache
from energysim.mapping.search.driver import search
from energysim.mapping.search.options import MapperOptions, MapperResult, parse_dataflow
from energysim.model.problem import Problem

_JOB: dict = {}


def _init(profile, dataflow, objective, options):
    _JOB.update(profile=profile, dataflow=dataflow, objective=objective, options=options)


def _one(problem: Problem) -> MapperResult:
    j = _JOB
    return search(problem, j["profile"], j["dataflow"], j["objective"], j["options"], cache=False)


def search_all(problems: list[Problem], profile: HardwareProfile, dataflow: str | None = None,
               objective: str = "energy", options: MapperOptions | None = None, *, workers: int = 1,
               cache: SearchCache | None = None) -> list[MapperResult]:
    """``search`` for every problem (in order); each distinct shape is searched once, the shapes split over
    ``workers`` processes (forked where the platform allows). Results go into ``cache`` (the default one)."""
    if dataflow is not None and dataflow.endswith("search"):
        dataflow = parse_dataflow(dataflow)
    options = options or MapperOptions.for_profile(profile)
    store = cache if cache is not None else DEFAULT_CACHE
    keys = [store.key(p, profile, dataflow, objective, options) for p in problems]
    todo: dict[tuple, Problem] = {}
    for k, p in zip(keys, problems):
        if store.get(k) is None and k not in todo:
            todo[k] = p
    if workers > 1 and len(todo) > 1:
        # imported here: the pool's modules (logging among them) cost about 0.02 s that a one-process run spares
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        warm.before_fork()  # loaded once here; forked workers inherit the kernels
        ctx = mp.get_context("spawn") if sys.platform == "darwin" else mp.get_context()
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx, initializer=_init,
                                 initargs=(profile, dataflow, objective, options)) as ex:
            # largest shapes first, so that no worker is left with a big one at the end
            order = sorted(todo, key=lambda k: -todo[k].macs)
            for k, r in zip(order, ex.map(_one, [todo[k] for k in order])):
                store.put(k, r)
    else:
        try:
            for n, (k, p) in enumerate(todo.items()):
                accel.plan(len(todo) - n)
                store.put(k, search(p, profile, dataflow, objective, options, cache=False))
        finally:
            accel.plan(None)
    return [store.get(k) for k in keys]

"""The mapping search's result cache: ``SearchCache`` maps (problem shape, profile, dataflow, objective,
options) to the ``MapperResult`` found; ``DEFAULT_CACHE`` is the one ``search(..., cache=True)`` uses.
``VERIFIED`` holds the chosen candidates already checked against the counting engine."""

from __future__ import annotations

from energysim.arch import HardwareProfile
from energysim.mapping.search.options import MapperOptions, MapperResult
from energysim.model import memo
from energysim.model.problem import Problem


class SearchCache:
    """Search results by ``SearchCache.key`` (a cached result is returned as the same object)."""

    def __init__(self):
        self._results: dict[tuple, MapperResult] = {}

    @staticmethod
    def key(problem: Problem, profile: HardwareProfile, constraint: str | None, objective: str,
            options: MapperOptions) -> tuple:
        """What a search result depends on: the problem's shape (``Problem.key``, not its name), the whole
        profile (as pydantic's JSON), the dataflow constraint, the objective and every option."""
        return problem.key, profile.as_json(), constraint, objective, options

    @staticmethod
    def shape(problem: Problem) -> dict:
        """What a search sees of a problem: dimensions, bounds and data spaces (not its name)."""
        return {"dims": problem.dims, "bounds": problem.bounds,
                "ds": [(d.name, d.ranks, d.read_write) for d in problem.data_spaces]}

    def get(self, key: tuple) -> MapperResult | None:
        return self._results.get(key)

    def put(self, key: tuple, result: MapperResult) -> None:
        self._results[key] = result

    def clear(self) -> None:
        self._results.clear()

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: tuple) -> bool:
        return key in self._results


DEFAULT_CACHE = SearchCache()

#: (``counts.counting_key`` of a chosen mapping, objective, the value it was chosen by) of every candidate whose
#: vectorized evaluation ``driver`` has checked against the engine: the designs of a sweep that differ only in
#: buffer sizes often choose the same mapping, and its check would repeat itself exactly
VERIFIED = memo.Memo(4096)


def clear_cache() -> None:
    """Empty the default cache and every memo (``energysim.model.memo``: the counting engine's, structure checks,
    template runs, bounds, verified candidates): for cold timings; no result depends on them."""
    DEFAULT_CACHE.clear()
    memo.clear_all()

"""Search runs replayed on other buffer sizes (``SearchRun``).

A search reads a capacity only by testing whether some tiles' words fit under it (the tiling steps, the bounds,
the batch's validity) and, to rank partial tilings, by dividing words by it (the order stays the same for any
positive capacity). So its every choice, and its answer, depend on the capacities only through the tests'
answers. Each test is recorded per (level, capacity group) as the most words that fitted and the fewest that did
not (``CapacityRecord``); on a profile with the same levels (``HardwareProfile.levels_key``) and the same bounded
and split buffers, a capacity between those two answers every test alike, so the search would make the same
choices: a sweep's designs that differ only in buffer sizes replay it instead of searching again. A replay
reports the run's count of evaluated candidates (the numpy path and the compiled kernels count them apart, so
it is the count of the path that ran).
"""

from __future__ import annotations

from dataclasses import dataclass

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.mapping.search.options import MapperOptions
from energysim.model.counts import evaluate
from energysim.model.mapping import Mapping, answers_alike
from energysim.model.memo import Memo
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats


@dataclass
class SearchRun:
    """One search's capacity tests and outcome: ``tested[(level, data spaces of the group)] = (most words that
    fitted, fewest that did not)``, the mapping it chose (JSON; None when nothing fitted), how many candidates
    it evaluated and whether it had to drop partial tilings (``Space.pairs_capped``)."""

    tested: dict[tuple[int, tuple[str, ...]], tuple[int, int]]
    mapping: str | None
    evaluated: int
    pairs_capped: bool

    def answers_alike(self, profile: HardwareProfile, caps: dict | None = None) -> bool:
        """Whether ``profile``'s capacities answer every recorded test as the run's did (``answers_alike``)."""
        return answers_alike(profile, self.tested, caps)

    def outcome(self, problem: Problem, profile: HardwareProfile) -> tuple[Mapping, LayerStats] | None:
        """The run's mapping and its counts on ``profile`` (which must fit it; None when it did not)."""
        if self.mapping is None:
            return None
        m = Mapping.model_validate_json(self.mapping)
        return m, evaluate(problem, profile, m)


def replay_key(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
               options: MapperOptions, verify: bool) -> tuple:
    """What a search depends on besides its capacity tests' answers: the problem's shape, the profile but its
    capacities, which buffers are bounded, empty or split (and into which data spaces), the dataflow, objective
    and options."""
    return problem.key, profile.levels_key(), profile.capacity_shape(), dataflow, objective, options, verify


# runs by ``replay_key``: a few per key (the designs of a sweep), the oldest keys dropped first
_RUNS = Memo(4096)
_RUNS_PER_KEY = 32


def find(key: tuple, profile: HardwareProfile) -> SearchRun | None:
    """A recorded run of ``key`` whose every test ``profile`` answers alike."""
    caps: dict = {}
    for run in _RUNS.get(key, ()):
        if run.answers_alike(profile, caps):
            return run
    return None


def record(key: tuple, run: SearchRun, profile: HardwareProfile) -> None:
    """Keep ``run`` (a search on ``profile``) for the profiles that answer its tests alike."""
    runs = _RUNS.get(key, ())
    if len(runs) < _RUNS_PER_KEY:
        if not run.answers_alike(profile):  # a test left out of the record would show here
            raise EnergySimError("mapper: a search's capacity record disagrees with its own profile")
        _RUNS.put(key, [*runs, run])

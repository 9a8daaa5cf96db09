"""Dataflow templates: turn any MAC layer into a valid ``Mapping`` on any profile.

A template fixes *what* is stationary and *which* dimensions are unrolled across the PE array; a greedy
tiler then decides *how much*: spatial factors fill each fan-out as far as the bounds divide, and temporal
factors grow from the innermost storage level outwards, each as large as still fits the level's capacity,
in the template's order of preference. What no on-chip level takes is left at the outermost level (DRAM).
This is a sound heuristic, not an optimum (that is the mapper's job): ``estimate``'s ``rs``, ``ws``, ``os`` are
the mapping search constrained to these dataflows, and these templates are reachable there as ``rs-template``,
``ws-template``, ... (how far they are from the search: docs/results/templates.md).

- ``rs`` row stationary (Eyeriss): a PE convolves one filter row (``S`` weights) with one input row; filter
  rows (``R``) are unrolled over the array's rows (Y) and output rows (``P``) over its columns (X), so
  filter rows are reused horizontally, input rows diagonally and partial sums vertically.
- ``ws`` weight stationary: each PE holds weights (innermost level keeps Weights only) and streams outputs
  past them; input channels over Y, output channels over X.
- ``os`` output stationary: each PE accumulates its outputs in place (innermost level keeps Outputs only);
  output pixels are unrolled over the array.
- ``nlr`` no local reuse: PE-level storage keeps nothing; every operand comes from the global buffer;
  output channels over X, input channels over Y.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from energysim.errors import EnergySimError
from energysim.model.mapping import LevelMapping, Mapping, answers_alike, check_capacity
from energysim.model.memo import Memo
from energysim.model.problem import Problem
from energysim.arch import HardwareProfile


@dataclass(frozen=True)
class Template:
    name: str
    spatial_x: tuple[str, ...]  # unroll order over X (columns)
    spatial_y: tuple[str, ...]  # unroll order over Y (rows)
    pe_keep: tuple[str, ...] | None  # data spaces PE-level storage keeps (None = all it can)
    # temporal growth at PE-level storage, most preferred first (= innermost loop), keyed by the one data
    # space a level keeps ("*" for a level keeping several): a psum scratchpad takes output channels, a
    # filter scratchpad the filter row and input channels, ...
    pe_order: dict[str, tuple[str, ...]]
    buffer_order: tuple[str, ...]  # temporal growth at on-chip buffers above the array


TEMPLATES: dict[str, Template] = {
    "rs": Template("rs", ("P", "Q", "M", "G"), ("R", "M", "C", "G"), None,
                   {"Outputs": ("S", "M", "G"), "Weights": ("S", "C"), "Inputs": ("S", "C"), "*": ("S", "C", "M", "G")},
                   ("Q", "C", "M", "G", "N", "P", "R", "S")),
    "ws": Template("ws", ("M", "G", "S"), ("C", "R", "S", "G"), ("Weights",),
                   {"Weights": ("Q", "P", "N"), "*": ("Q", "P", "N")},
                   ("Q", "P", "N", "C", "M", "G", "S", "R")),
    "os": Template("os", ("Q", "M", "G"), ("P", "N", "G"), ("Outputs",),
                   {"Outputs": ("S", "R", "C", "G"), "*": ("S", "R", "C", "G")},
                   ("S", "R", "C", "M", "G", "Q", "P", "N")),
    "nlr": Template("nlr", ("M", "G", "Q"), ("C", "R", "S", "G"), (),
                    {}, ("C", "S", "R", "M", "G", "Q", "P", "N")),
}

DATAFLOWS = tuple(TEMPLATES)


@lru_cache(maxsize=4096)
def _divisors(n: int) -> tuple[int, ...]:
    """All divisors of ``n``, largest first, from its prime factorization: trial division stops at sqrt(n), so
    a loop bound of 10^9 (a batch, say) costs ~3*10^4 steps once instead of 10^9 per call."""
    primes: dict[int, int] = {}
    m, p = n, 2
    while p * p <= m:
        while m % p == 0:
            primes[p] = primes.get(p, 0) + 1
            m //= p
        p += 1 if p == 2 else 2
    if m > 1:
        primes[m] = primes.get(m, 0) + 1
    divs = [1]
    for p, e in primes.items():
        divs = [d * p**i for d in divs for i in range(e + 1)]
    return tuple(sorted(divs, reverse=True))


def _divisors_desc(n: int, cap: int) -> list[int]:
    """Divisors of ``n`` that are at most ``cap``, largest first."""
    return [d for d in _divisors(n) if d <= cap]


class _Tiler:
    def __init__(self, problem: Problem, profile: HardwareProfile, t: Template):
        self.problem, self.profile, self.t = problem, profile, t
        self.L = len(profile.levels)
        self.fan = [profile.fanout(i) for i in range(self.L)]
        # PE-level storage: levels below the last spatial fan-out (they exist once per PE)
        fanout_levels = [i for i, (x, y) in enumerate(self.fan) if x * y > 1]
        self.first_pe = (fanout_levels[-1] + 1) if fanout_levels else self.L - 1
        self.levels = [
            LevelMapping(level=lv.name, temporal={}, spatial_x={}, spatial_y={}) for lv in profile.levels
        ]
        for i, lv in enumerate(profile.levels):
            if i >= self.first_pe and t.pe_keep is not None and i > 0:
                self.levels[i].keep = [d for d in lv.kept() if d in t.pe_keep and d in problem.data_space_names]
        self.left = dict(problem.bounds)
        # per level: (capacity groups of the data spaces it keeps, data spaces) -- fixed while tiling
        names = problem.data_space_names
        self._groups = []
        for lm, lv in zip(self.levels, profile.levels):
            allowed = [d for d in lv.kept() if d in names]
            kept = set(allowed if lm.keep is None else lm.keep)
            sizes_of = [problem.data_space(d) for d in names if d in kept]
            groups = [(g, cap) for g, cap in lv.capacity_groups([ds.name for ds in sizes_of]) if cap is not None]
            self._groups.append((groups, sizes_of))
        #: the capacity tests of ``tiles_fit`` as ``(level, group) -> (most words that fitted, fewest that did not)``
        #: (of a failed test, its first group over capacity: it alone keeps the test failed)
        self.tested: dict[tuple[int, tuple[str, ...]], tuple[int, int]] = {}

    def mapping(self) -> Mapping:
        # a copy of each field's dict or list of names (a deep model_copy costs more than the rest of a template)
        lms = [lm.model_copy(update={k: type(v)(v) for k, v in lm.__dict__.items() if isinstance(v, (dict, list))})
               for lm in self.levels]
        top = lms[0]
        for d, f in self.left.items():
            if f > 1:
                top.temporal[d] = top.temporal.get(d, 1) * f
        for i, lm in enumerate(lms):
            order = self._order_for(i)
            lm.permutation = [d for d in reversed(order) if lm.temporal.get(d, 1) > 1]
            lm.permutation += [d for d in lm.temporal if lm.temporal[d] > 1 and d not in lm.permutation]
        return Mapping(levels=lms)

    def _order_for(self, i: int) -> tuple[str, ...]:
        if i < self.first_pe:
            return self.t.buffer_order
        lm, lv = self.levels[i], self.profile.levels[i]
        keep = [d for d in (lm.keep if lm.keep is not None else lv.kept()) if d in self.problem.data_space_names]
        key = keep[0] if len(keep) == 1 else "*"
        return self.t.pe_order.get(key, ())

    def fits(self) -> bool:
        try:
            self.mapping().validate_for(self.problem, self.profile)
        except EnergySimError:
            return False
        return True

    def tiles_fit(self) -> bool:
        """``fits()`` once ``fits()`` has held for the all-at-the-top mapping (``map_problem`` checks that
        first): spatial factors never exceed the room left on an axis, factors always multiply to the bounds
        and keeps do not change, so what can still fail is only capacity, checked here directly (the same
        tiles and capacity groups as ``Mapping.validate_for``, without building a ``Mapping`` per try).
        Every test is recorded (``tested``; see ``_Replay``)."""
        ext = dict.fromkeys(self.problem.dims, 1)
        used = []
        ok = True
        for i in range(self.L - 1, -1, -1):
            lm = self.levels[i]
            for fac in (lm.temporal, lm.spatial_x, lm.spatial_y):
                for d, f in fac.items():
                    ext[d] *= f
            if i == 0:
                for d, f in self.left.items():
                    ext[d] *= f
            groups, kept = self._groups[i]
            if groups:
                sizes = {ds.name: ds.tile_size(ext) for ds in kept}
                for g, cap in groups:
                    words = sum(sizes[d] for d in g)
                    used.append((i, g, words, cap))
                    ok = ok and words <= cap
        for i, g, words, cap in used:
            fit, over = self.tested.get((i, g), (0, _NEVER))
            if ok:
                self.tested[(i, g)] = (max(fit, words), over)
            elif words > cap:
                self.tested[(i, g)] = (fit, min(over, words))
                break
        return ok

    def spatial(self) -> None:
        for i, (fx, fy) in enumerate(self.fan):
            for axis, cap, order in (("x", fx, self.t.spatial_x), ("y", fy, self.t.spatial_y)):
                room = cap
                for d in order:
                    if room <= 1 or d not in self.left:
                        continue
                    for f in _divisors_desc(self.left[d], room):
                        if f == 1:
                            break
                        self._set(i, f"spatial_{axis}", d, f)
                        if self.tiles_fit():
                            room //= f
                            break
                        self._set(i, f"spatial_{axis}", d, 1)

    def temporal(self) -> None:
        for i in range(self.L - 1, 0, -1):  # innermost first; the outermost level takes what is left
            lv = self.profile.levels[i]
            keep = self.levels[i].keep if self.levels[i].keep is not None else lv.kept()
            if lv.cls == "dummy" or not keep:
                continue
            for d in self._order_for(i):
                if self.left.get(d, 1) <= 1:
                    continue
                for f in _divisors_desc(self.left[d], self.left[d]):
                    if f == 1:
                        break
                    self._set(i, "temporal", d, f)
                    if self.tiles_fit():
                        break
                    self._set(i, "temporal", d, 1)

    def _set(self, i: int, what: str, d: str, f: int) -> None:
        fac = getattr(self.levels[i], what)
        old = fac.get(d, 1)
        self.left[d] = self.left[d] * old // f
        if f == 1:
            fac.pop(d, None)
        else:
            fac[d] = f


@dataclass
class _Replay:
    """One run of the greedy tiler: its capacity tests (``_Tiler.tested``), the mapping it made and that mapping's
    tiles. The tiler reads the capacities only through those tests, so on a profile with the same levels and the
    same bounded and split buffers (the key of ``_REPLAYS``) whose capacities answer every test alike
    (``answers_alike``) it would make the same mapping: a sweep's designs that differ only in buffer sizes replay
    it instead of re-tiling."""

    tested: dict[tuple[int, tuple[str, ...]], tuple[int, int]]
    mapping: str  # as JSON (parsed anew for every caller)
    words: list[dict[str, int]]  # its tiles (``Mapping.tile_words``)

    def replay(self, profile: HardwareProfile, caps: dict) -> Mapping | None:
        """The mapping, when ``profile`` answers every test alike (``caps``: as ``answers_alike``); else None."""
        if not answers_alike(profile, self.tested, caps):
            return None
        try:
            check_capacity(profile, self.words)
        except EnergySimError:
            return None
        return Mapping.model_validate_json(self.mapping)


# template runs by (problem, levels, bounded and split buffers, template): a few per key, the oldest keys first out
_REPLAYS = Memo(2048)
_REPLAYS_PER_KEY = 16
_NEVER = 2 ** 63 - 1  # the fewest words that did not fit, before any test failed


def map_problem(problem: Problem, profile: HardwareProfile, dataflow: str = "rs") -> Mapping:
    """A valid mapping of ``problem`` on ``profile`` following the template ``dataflow`` (rs, ws, os, nlr; also
    spelled rs-template, ..., as ``estimate`` names them: there a bare ``rs`` means the mapping search).
    A run on a profile with the same levels whose capacities answer its every test alike is replayed
    (``_Replay``)."""
    try:
        t = TEMPLATES[dataflow.removesuffix("-template") if isinstance(dataflow, str) else dataflow]
    except (KeyError, TypeError):
        raise EnergySimError(f"unknown dataflow {dataflow!r}; choose a template: "
                             f"{[*TEMPLATES, *(f'{t}-template' for t in TEMPLATES)]}") from None
    key = (problem.key, profile.levels_key(), profile.capacity_shape(), t.name)
    runs = _REPLAYS.get(key, ())
    caps: dict = {}
    for run in runs:
        m = run.replay(profile, caps)
        if m is not None:
            return m
    m, run = _map_problem(problem, profile, t, dataflow)
    if run is not None and len(runs) < _REPLAYS_PER_KEY:
        _REPLAYS.put(key, [*runs, run])
    return m


def _map_problem(problem: Problem, profile: HardwareProfile, t: Template, dataflow) -> tuple[Mapping, _Replay | None]:
    tiler = _Tiler(problem, profile, t)
    if not tiler.fits():
        # even with every loop at the outermost level something overflows (e.g. a level that must keep a
        # data space whose unit tile is larger than its capacity)
        try:
            tiler.mapping().validate_for(problem, profile)
        except EnergySimError as exc:
            raise EnergySimError(f"layer {problem.name!r} cannot be mapped with {dataflow} on "
                                 f"{profile.name!r}: {exc}") from None
    # the all-at-the-top state's capacity test, recorded as the first (it held: ``fits``)
    consistent = tiler.tiles_fit()
    tiler.spatial()
    tiler.temporal()
    m = tiler.mapping()
    words = m.validate_for(problem, profile)
    return m, _Replay(tiler.tested, m.model_dump_json(), words) if consistent else None

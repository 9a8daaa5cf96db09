"""The mapping search driver: ``search`` runs the spaces of a free or constrained search over their spatial
unrollings, tilings and loop orders, scores every batch, verifies the best candidate against the engine and
compares it with the template mapping; ``search_mapping`` returns just the mapping."""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import replace


from energysim.arch import HardwareProfile, unchanged_profiles
from energysim.errors import EnergySimError
from energysim.mapping.search import accel, replay
from energysim.mapping.search.batch import BatchEvaluator, score
from energysim.mapping.search.cache import DEFAULT_CACHE, VERIFIED, SearchCache
from energysim.mapping.search.options import CONSTRAINTS, OBJECTIVES, MapperOptions, MapperResult, parse_dataflow
from energysim.mapping.search.outer_bound import outer_tile_bound
from energysim.mapping.search.padding import batch_padded, padded_problems
from energysim.mapping.search.space import Space
from energysim.mapping.search.tiling import Tiler
from energysim.mapping.templates import map_problem
from energysim.model.counts import counting_key, evaluate
from energysim.model.pricing import network_energy
from energysim.model.stats import LayerStats
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem

_EXHAUSTIVE_BLOCK = 400_000  # tilings per evaluated block in exhaustive mode (bounds memory to a few GB)


def _cache_of(cache) -> SearchCache | None:
    """The cache ``search``'s ``cache`` argument names: True = the default one, False/None = none, else itself."""
    if isinstance(cache, bool) or cache is None:
        return DEFAULT_CACHE if cache else None
    return cache


def search(problem: Problem, profile: HardwareProfile, dataflow: str | None = None, objective: str = "energy",
           options: MapperOptions | None = None, *, cache: bool | SearchCache = True,
           verify: bool = True) -> MapperResult:
    """Best mapping of ``problem`` on ``profile``.

    ``dataflow``: None (free) or ``rs``/``ws``/``os`` (also accepted as ``search``, ``rs-search``...).
    ``objective``: ``energy`` | ``cycles`` | ``edp``. ``cache``: True = the default cache (``clear_cache``
    empties it), False = none, or a ``SearchCache`` of the caller's. Raises ``EnergySimError`` when nothing fits.
    """
    if objective not in OBJECTIVES:
        raise EnergySimError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if dataflow is not None and dataflow.endswith("search"):
        dataflow = parse_dataflow(dataflow)
    with unchanged_profiles():
        return _cached_search(problem, profile, dataflow, objective, options, cache, verify)


def _cached_search(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
                   options: MapperOptions | None, cache: bool | SearchCache, verify: bool) -> MapperResult:
    options = options or MapperOptions.for_profile(profile)
    store = _cache_of(cache)
    key = store.key(problem, profile, dataflow, objective, options) if store is not None else None
    if key is not None:
        hit = store.get(key)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    started = accel.begin()
    try:
        result = _search(problem, profile, dataflow, objective, options, verify)
    finally:
        accel.end(started)
    result.seconds = time.perf_counter() - t0
    if key is not None:
        store.put(key, result)
    return result


def _search(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
            options: MapperOptions, verify: bool) -> MapperResult:
    """``_search_one`` on the problem and on each padded problem worth trying (``padding.padded_problems``,
    ``padding.batch_padded``); the best, a padded one as a ``Mapping`` with ``padding`` counted by the engine on
    the real problem."""
    base_pes, padded = padded_problems(problem, profile, dataflow, options)
    # an accelerator that maps for throughput first (min_pe_fraction) does not run a problem whose array use
    # falls short of what padding reaches
    floor = options.min_pe_fraction * max([pes for _, _, pes in padded], default=0)
    padded = [(pp, pad) for pp, pad, pes in padded if pes >= floor]
    # a batch padded to one that tiles: not a matter of array use, so never held to the floor above
    padded += [(pp, pad) for pp, pad in batch_padded(problem, options) if all(pad != p for _, p in padded)]
    best, err = None, None
    if base_pes >= floor or not padded:
        try:
            best = _search_wide(problem, profile, dataflow, objective, options, verify)
        except EnergySimError as exc:
            err = exc
    evaluated = best.evaluated if best is not None else 0
    for pp, padding in padded:
        try:
            r = _search_wide(pp, profile, dataflow, objective, options, verify)
        except EnergySimError:
            continue
        evaluated += r.evaluated
        if best is None or r.value < best.value:
            m = r.mapping.model_copy(update={"padding": padding})
            stats = evaluate(problem, profile, m)
            if verify and not math.isclose(stats.energy, r.stats.energy, rel_tol=1e-12):
                raise EnergySimError(f"mapper: padded mapping of {problem.name!r} counts {stats.energy} on the "
                                     f"real problem, {r.stats.energy} on the padded one")
            best = _result(m, stats, profile, objective, 0, r.source)
    if best is None:
        raise err or EnergySimError(f"mapper: no mapping of {problem.name!r} fits profile {profile.name!r}")
    best.evaluated = evaluated
    return best


def _search_wide(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
                 options: MapperOptions, verify: bool) -> MapperResult:
    """``_search_one``, and for an N of at least ``options.wide_from`` also with ``options.wide_pairs`` as the
    cap on (partial tiling, option) pairs: the better result (the first on a tie)."""
    r = _search_one(problem, profile, dataflow, objective, options, verify)
    # a search none of whose enumerated tilings hit the cap would run the same again (every tiler it runs gives
    # the same candidates, so the best values and the bounds' skips follow the same course): not repeated
    if (r.info.get("pairs_capped") and options.wide_pairs > options.max_pairs
            and problem.bounds.get("N", 1) >= options.wide_from):
        w = _search_one(problem, profile, dataflow, objective, replace(options, max_pairs=options.wide_pairs),
                        verify)
        if w.value < r.value:
            w.evaluated += r.evaluated
            return w
        r.evaluated += w.evaluated
    return r


def _spaces(problem: Problem, profile: HardwareProfile, dataflow: str | None, options: MapperOptions) -> list:
    """The spaces a search runs, each also with the bypasses of ``options.bypass`` (when there are any)."""
    variants: list[dict | None] = [None]
    by = {profile.level_index(lv): tuple(ds) for lv, ds in options.bypass if lv in profile.level_names}
    for i, ds in by.items():
        variants += [{**(v or {}), i: ds} for v in variants]
    if dataflow is None and options.spatial is not None:
        spaces = [Space(problem, profile, None, options, bypass=v) for v in variants]
    elif dataflow is None:
        # free search: any dimension spatial, with the profile's keeps or with PE-level storage keeping only
        # Weights or only Outputs; plus the space of every dataflow constraint (so a free search is never
        # worse than a constrained one)
        cands = [Space(problem, profile, None, options, pe_keep=k, bypass=v)
                 for v in variants for k in (None, ("Weights",), ("Outputs",))]
        cands += [Space(problem, profile, c, options, bypass=v) for v in variants for c in CONSTRAINTS]
        spaces, seen = [], set()
        for sp_ in cands:
            sig = (tuple(sp_.keeps), tuple((l, a, c, tuple(al)) for l, a, c, al in sp_.spatial_slots))
            if sig not in seen:
                seen.add(sig)
                spaces.append(sp_)
    else:
        spaces = [Space(problem, profile, dataflow, options, bypass=v) for v in variants]
    # a split buffer's parts tiled together or each on its own: under the same caps each finds mappings the
    # other misses (on ZigZag's ResNet-18 K|C, 9 of 21 layers were up to 9% worse with the parts together alone)
    return spaces + [Space(problem, profile, s_.constraint, options, pe_keep=s_.pe_keep, bypass=s_.bypass,
                           stacked=False) for s_ in spaces if s_.partitions]


def _search_one(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
                options: MapperOptions, verify: bool) -> MapperResult:
    """The best of the search's candidates (replayed from a run on other buffer sizes whose every capacity test
    this profile answers alike: ``replay``) and, with ``options.include_template``, the template mapping."""
    rkey = replay.replay_key(problem, profile, dataflow, objective, options, verify)
    run = replay.find(rkey, profile)
    if run is None:
        result, run = _enumerate(problem, profile, dataflow, objective, options, verify)
        replay.record(rkey, run, profile)
    else:
        found = run.outcome(problem, profile)
        result = _result(*found, profile, objective, run.evaluated, "search") if found is not None else None
    evaluated = run.evaluated
    if options.include_template:
        try:
            tm = map_problem(problem, profile, dataflow or "rs")
        except EnergySimError:
            tm = None
        if tm is not None:
            tr = _result(tm, evaluate(problem, profile, tm), profile, objective, evaluated + 1, "template")
            if result is None or tr.value < result.value:
                result = tr
    if result is None:
        raise EnergySimError(f"mapper: no mapping of {problem.name!r} fits profile {profile.name!r}"
                             + (f" under dataflow {dataflow}" if dataflow else ""))
    result.evaluated = evaluated + (1 if options.include_template else 0)
    result.info["pairs_capped"] = run.pairs_capped
    return result


def _enumerate(problem: Problem, profile: HardwareProfile, dataflow: str | None, objective: str,
               options: MapperOptions, verify: bool) -> tuple[MapperResult | None, replay.SearchRun]:
    """The search proper: the best candidate of every space (None when nothing fits), and the run's record."""
    spaces = _spaces(problem, profile, dataflow, options)
    best = (math.inf, None)  # (value, (space, its evaluator, sp, perms, F row))
    evaluated = 0
    seen_sp = set()
    runs = []  # (space, its evaluator, spatial unrolling)
    for s_ in spaces:
        ev_ = BatchEvaluator(s_)  # one per space: its memo serves every spatial unrolling
        runs += [(s_, ev_, o) for o in s_.spatial_options()]
    bounded = []  # (lower bound, run number, space, evaluator, spatial unrolling, the bound's counts)
    for idx, (space, ev, sp) in enumerate(runs):
        # a constrained space shares keeps with a free one (rs with the profile's, ws/os with the PE-keeps
        # variants); a spatial unrolling both list gives the same candidates: evaluate it once
        sig = (tuple(space.keeps), tuple(tuple(k) if k is not None else None for k in space.keep_lists),
               tuple((l, tuple(x.items()), tuple(y.items())) for l, (x, y) in sorted(sp.items())), space.stacked)
        if sig in seen_sp:
            continue
        seen_sp.add(sig)
        detail: dict = {}
        bounded.append((ev.sp_bound(sp, objective, detail), idx, space, ev, sp, detail))
    if not (options.exhaustive or options.all_permutations):
        # most promising unrolling first: a low best value early lets the bounds skip more enumerations. The
        # answer is the one of run-number order (the first run reaching the lowest value): a run is skipped
        # only when it can neither get below the best value nor tie it from an earlier run number
        bounded.sort(key=lambda b: (b[0], b[1]))
    best_idx = -1
    for sp_lb, idx, space, ev, sp, detail in bounded:
        if _hopeless(sp_lb, idx, best[0], best_idx):
            # no tiling under this unrolling can reach the best value found so far: skip its enumeration
            continue
        if objective == "energy" and math.isfinite(best[0]):
            # the tighter bound costs a pass over the outermost tiles: only for an unrolling about to be enumerated
            sp_lb = outer_tile_bound(space, sp, sp_lb, detail["counts"], detail["inst"])
            if _hopeless(sp_lb, idx, best[0], best_idx):
                continue
        # exhaustive: the tilings in blocks (all of them at once would not fit in memory on large layers)
        blocks = Tiler(space, sp).blocks(_EXHAUSTIVE_BLOCK if options.exhaustive else None)
        opts = space.perm_options(sp)
        for F in blocks:
            if len(F) == 0:
                continue
            prep = ev.scoring(sp, F)
            lb = ev.bound(prep, objective)
            if _hopeless(lb, idx, best[0], best_idx):
                # no row reaches the best value found so far under any loop order: nothing here can replace it
                continue

            # the results of a batch depend on the loop orders only through the slot order (orders differing
            # only in dimensions without loops at that level are the same nest): each is evaluated once.
            # Every result is only compared with a value that never grows (the block's best so far in the
            # descent, the overall best when exhaustive), so ``best`` is told that limit and stops early when no
            # row gets below it: the memo's (inf, 0) then means "not below the limit of its time", which stays
            # true for every later, lower limit; the decisions are those of the full argmin
            memo: dict[tuple, tuple[float, int]] = {}  # slot order -> (value, first row with it)

            def run(perms, limit):
                nonlocal evaluated
                key = ev.slot_order(perms, prep)
                if key not in memo:
                    memo[key] = ev.best(sp, perms, F, prep, objective, slots=key, limit=limit)
                    evaluated += len(F)
                return memo[key]

            if options.exhaustive or options.all_permutations:
                for perms in itertools.product(*opts):
                    v, k = run(list(perms), best[0])
                    if v < best[0]:
                        best, best_idx = (v, (space, ev, sp, list(perms), F[k])), idx
            else:
                # coordinate descent over loop orders, starting from the best uniform choice
                cur, cur_v = None, math.inf
                for u in range(max(len(o) for o in opts)):
                    perms = [o[min(u, len(o) - 1)] for o in opts]
                    v, k = run(perms, cur_v)
                    if v < cur_v:
                        cur, cur_v, cur_k = perms, v, k
                if cur is None:
                    continue
                for _ in range(options.max_passes):
                    improved = False
                    for t, o in enumerate(opts):
                        if len(o) < 2:
                            continue
                        for choice in o:
                            if choice == cur[t]:
                                continue
                            trial = list(cur)
                            trial[t] = choice
                            v, k = run(trial, cur_v)
                            if v < cur_v:
                                cur, cur_v, cur_k, improved = trial, v, k, True
                    if not improved:
                        break
                if cur_v < best[0] or (cur_v == best[0] and idx < best_idx):
                    best, best_idx = (cur_v, (space, ev, sp, cur, F[cur_k])), idx
    result = None
    if best[1] is not None:
        space, ev, sp, perms, Frow = best[1]
        m = space.to_mapping(sp, perms, Frow)
        stats = evaluate(problem, profile, m)
        vkey = (counting_key(problem, profile, m), objective, best[0]) if verify else None
        if verify and vkey not in VERIFIED:
            # the numpy evaluation of the chosen candidate must give the value it was chosen by (the compiled
            # kernels compute the same numbers) and the engine's counts
            res = ev.evaluate_batch(sp, perms, Frow[None])
            _verify(_row(res, 0), stats, float(score(res, objective)[0]), best[0])
            VERIFIED.put(vkey, True)
        result = _result(m, stats, profile, objective, evaluated, "search")
    tested: dict = {}
    for s_ in spaces:
        for g, (fit, over) in s_.tested().items():
            was = tested.get(g, (0, over))
            tested[g] = (max(was[0], fit), min(was[1], over))
    run = replay.SearchRun(tested, result.mapping.model_dump_json() if result is not None else None, evaluated,
                           any(s_.pairs_capped for s_ in spaces))
    return result, run


def _hopeless(lb: float, idx: int, best_value: float, best_idx: int) -> bool:
    """Whether candidates of run ``idx`` bounded below by ``lb`` cannot replace the best (value, run) found so far:
    they can neither get below its value nor tie it from an earlier run (ties go to the first run)."""
    return lb > best_value or (lb == best_value and idx > best_idx)


def _network(stats: LayerStats, profile: HardwareProfile) -> float:
    return network_energy(profile, ((r["level"], r["reads_total"], r["updates_total"]) for r in stats.rows))


def _result(m: Mapping, stats: LayerStats, profile, objective, evaluated, source) -> MapperResult:
    e = stats.energy + _network(stats, profile)
    v = {"energy": e, "cycles": stats.cycles + e * 1e-30, "edp": e * stats.cycles}[objective]
    return MapperResult(m, stats, e, stats.cycles, objective, v, evaluated, 0.0, source)


def _row(res: dict, k: int) -> dict:
    """Row ``k`` of ``evaluate_batch`` results as plain numbers (what ``_verify`` compares)."""
    return {"counts": {key: tuple(int(a[k]) for a in v) for key, v in res["counts"].items()},
            "cycles": int(res["cycles"][k]), "energy": float(res["energy"][k])}


def _verify(row: dict, stats: LayerStats, value: float, chosen_by: float) -> None:
    """The vectorized counts of the chosen candidate must equal the engine's exactly, and its value the one
    the search chose it by."""
    diffs = []
    if not math.isclose(value, chosen_by, rel_tol=1e-12, abs_tol=1e-12):
        diffs.append(f"value: numpy {value} vs the value it was chosen by {chosen_by}")
    for r in stats.rows:
        key = (r["level"], r["dataspace"])
        got = row["counts"].get(key, (0, 0, 0))
        want = (r["reads"], r["fills"], r["updates"])
        if got != want:
            diffs.append(f"{key}: vectorized {got} vs engine {want}")
    if row["cycles"] != stats.cycles:
        diffs.append(f"cycles: vectorized {row['cycles']} vs engine {stats.cycles}")
    if not math.isclose(row["energy"], stats.energy, rel_tol=1e-9, abs_tol=1e-9):
        diffs.append(f"energy: vectorized {row['energy']} vs engine {stats.energy}")
    if diffs:
        raise EnergySimError("mapper: vectorized evaluation disagrees with counts.evaluate: " + "; ".join(diffs))


def search_mapping(problem: Problem, profile: HardwareProfile, dataflow: str = "search",
                   objective: str = "energy", options: MapperOptions | None = None) -> Mapping:
    """Just the mapping (what ``estimate`` uses for ``--dataflow search``/``rs-search``/...)."""
    return search(problem, profile, dataflow, objective, options).mapping

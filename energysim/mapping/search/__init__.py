"""Mapping search: find a good loop-nest mapping of one layer on one profile.

The search runs over a *structured mapspace*:

* **keeps** (bypass): per space, fixed. A constrained search (``rs``/``ws``/``os``) uses that template's
  PE-level keeps (``ws``: PE storage keeps Weights only; ``os``: Outputs only; ``rs``: all it can). A free
  search runs several spaces and keeps the best: the profile's keeps, PE storage keeping only Weights, only
  Outputs (each with every dimension allowed to be spatial), and the three constrained spaces, so a free
  search is never worse than a constrained one under the same options. Where a profile splits a buffer into
  parts stacked below DRAM (``HardwareProfile.stacked_above``), every space is searched twice, with the parts
  tiled together (a loop at the inner part may run over what the outer part keeps) and each on its own, and
  the better mapping wins.
* **spatial unrolling**: at every fan-out, up to ``max_spatial_dims`` dimensions per mesh axis with factors
  dividing the bounds and fitting the fan-out. Free search allows every dimension (or the ones given in
  ``MapperOptions.spatial``); ``rs``/``ws``/``os`` allow only the dimensions that template unrolls on that axis.
* **temporal tiling**: every split of what the spatial loops leave of each bound over the *temporal levels*
  (the outermost level and every level that keeps something), with every tile fitting its level.
* **loop orders**: per temporal level, one order per data space X that makes X stationary (the dimensions
  that index X outside, the others inside). For the counting rules of ``counts`` only the innermost run of
  loops that do not index a data space gives it reuse at a level, and the longest such run for X is all of X's
  non-indexing loops. (``all_permutations=True`` tries every order of the dimensions with bounds > 1; the
  exhaustive benchmark and test use it on small problems.) The innermost temporal level's order has no
  effect on any count and is not searched.

Candidates are evaluated in batches, one per spatial unrolling (what does not depend on the loop order prepared
once per batch; loop-order choices that give the same nest -- they differ only in dimensions without loops at a
level -- are evaluated once), by the engine's formulas re-written over arrays of tilings: ``BatchEvaluator.
evaluate_batch`` in numpy (the reference), or the compiled kernels of ``kernels`` (numba; the same values bit
for bit, see ``accel`` for when they are used). Three exact shortcuts never change a result (they skip only
what cannot beat the best value found so far, ties included): spatial unrollings are visited best bound first,
and one whose bound over every tiling (``BatchEvaluator.sp_bound``; for energy also ``outer_bound``, the fewest
fetches into the levels right below DRAM) cannot beat the best found is not tiled; a batch whose rows' bounds
under every loop order (``kernels.lower_bounds``) are no better is not scored; and a batch is scored in ascending
order of those bounds, stopping at the first row whose bound exceeds the best value of that loop order. What
depends only on the remaining bounds (divisor tables, level grids) and the spatial unrollings of equal spaces
are memoized per process, and so is what does not read a capacity (``sp_bound``; the engine's counts of a
mapping, ``counts.evaluate``; a chosen candidate's check against the engine): the designs of a sweep that differ
only in buffer sizes share them (``HardwareProfile.levels_key``; ``energysim.model.memo``). A whole search is
replayed on such a design when its capacities answer every capacity test the search made alike (``replay``: a
search reads a capacity only through those tests). ``search_all`` maps the distinct shapes of many layers, in a
process pool if asked.

The default search prunes (heuristics, measured against the exhaustive space by ``benchmarks/mapper_quality.py``):
spatial unrollings to the ``spatial_candidates`` that use the most PEs, plus those tying with the last one kept
(up to twice as many) (per axis, options using less than half of the best are dropped); a level takes temporal
loops only over dimensions that index something it keeps; at the outermost on-chip level, tiles that could still
take one more prime factor and fit are dropped; partial tilings are ranked by how full they make their level and
at most ``tile_cap`` kept (at the outermost on-chip level round-robin over its distinct tiles, ``per_tile`` each
per round) and at most ``max_pairs`` (partial, option) pairs examined per level (the partials round-robin over
their distinct remainders); loop orders are chosen by coordinate descent from the best uniform choice (level by
level, each option with the others fixed, until nothing improves); a problem whose ``N`` is at least
``wide_from`` (64) and whose search hit the pair cap is searched a second time with ``wide_pairs`` (5,000,000) as
the cap and the better mapping kept (a large batch has so many divisors that the default cap drops good
tilings; raising the cap for every problem instead was measured to raise some batch-1 energies: the pruning is
not monotone in its caps).
Tilings that already overflow an outer level are dropped (exact). ``exhaustive=True`` turns all pruning off
(every tiling x every spatial unrolling x the full product of loop orders).

An ``N`` (the batch; in a transformer's linear layers, the tokens) with a prime factor above 7 is also searched
padded to the next two values without one (``MapperOptions.pad_batch``, within 12.5%: 1021 as 1024 or 1029),
the phantom rows counted as work (``Mapping.padding``), and the padded mapping kept if it costs less: a prime
cannot be tiled (mappings split bounds into exact factors, Timeloop's rule), so its rows could otherwise share a
weight fetch only all together or not at all.

The best candidate is always re-evaluated with ``counts.evaluate`` and checked to give identical counts and
cycles (and energy to 1e-9 relative: the engine sums with ``math.fsum``); the template mapping of the same
dataflow (``rs`` for free search) is evaluated too and returned if it is better, so a search is never worse
than the template. Results are cached per (problem shape, profile, dataflow, objective, options) in a
``SearchCache`` (the default one, or the caller's).
Everything is deterministic (no random choices; ties go to the first candidate in enumeration order).

Objectives: ``energy`` (in the profile's unit: accesses + leakage + MACs + NoC hops where the profile prices them, as
``estimate`` reports it), ``cycles`` (ties broken by energy), ``edp`` (energy x cycles).

Modules: ``options`` (``MapperOptions``, ``MapperResult``), ``arrays`` (numpy helpers), ``space`` (the mapspace),
``tiling`` (the tiling enumeration), ``batch`` (the vectorized evaluation and bounds), ``outer_bound`` (the bound
below DRAM), ``padding`` (padded problems), ``kernels`` (the compiled kernels, with ``tiling_kernel`` and
``outer_kernel``), ``accel`` (numpy or kernels), ``cache`` (``SearchCache``), ``driver`` (``search``),
``parallel`` (``search_all``) and ``warm`` (compiling the kernels ahead of time).
"""

from energysim.mapping.search.cache import SearchCache, clear_cache
from energysim.mapping.search.driver import search, search_mapping
from energysim.mapping.search.options import CONSTRAINTS, OBJECTIVES, MapperOptions, MapperResult, parse_dataflow
from energysim.mapping.search.parallel import search_all
from energysim.mapping.search.space import Space

__all__ = ["CONSTRAINTS", "OBJECTIVES", "MapperOptions", "MapperResult", "SearchCache", "Space", "clear_cache",
           "parse_dataflow", "search", "search_all", "search_mapping"]

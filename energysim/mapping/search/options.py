"""Options and result of the mapping search: ``MapperOptions`` (the search's knobs), ``MapperResult`` (the best
mapping found and search facts), the objectives and dataflow constraints, and ``parse_dataflow``."""

from __future__ import annotations

from dataclasses import dataclass, field

from energysim.errors import EnergySimError
from energysim.model.stats import LayerStats
from energysim.model.mapping import Mapping

OBJECTIVES = ("energy", "cycles", "edp")
CONSTRAINTS = ("rs", "ws", "os")


@dataclass(frozen=True)
class MapperOptions:
    """Knobs of the search (defaults are what ``estimate --dataflow search`` uses)."""

    max_spatial_dims: int = 2  # dimensions per mesh axis and fan-out
    spatial_candidates: int = 4  # spatial unrollings kept (most utilized PEs first); 0 = all
    tile_cap: int = 1500  # partial tilings kept per level (search mode)
    # outermost on-chip level: partial tilings kept per distinct tile there before any tile gets more (0 = rank
    # by fill alone)
    per_tile: int = 1
    max_pairs: int = 500_000  # (partial tiling, level option) pairs examined per level (search mode)
    exhaustive: bool = False  # no pruning at all
    all_permutations: bool = False  # every loop order instead of the dominant ones
    max_passes: int = 3  # coordinate-descent passes over loop orders
    include_template: bool = True  # also evaluate the template mapping and keep it if better
    # free search only: fix which dimensions may be spatial per mesh axis, e.g. {"X": ("M",), "Y": ("C",)}
    # (as a ZigZag spatial-mapping file does); the search then runs over the profile's keeps only
    spatial: tuple[tuple[str, tuple[str, ...]], ...] | None = None


@dataclass
class MapperResult:
    """The best mapping found, its engine stats, and search facts."""

    mapping: Mapping
    stats: LayerStats
    energy: float  # stats.energy + NoC hop energy (what estimate reports), in the profile's energy unit
    cycles: int
    objective: str
    value: float
    evaluated: int  # candidates evaluated
    seconds: float
    source: str  # "search" or "template"
    info: dict = field(default_factory=dict)


def parse_dataflow(name: str) -> str | None:
    """``search`` -> None (free); ``rs-search`` -> ``rs``; anything else is an error."""
    if name == "search":
        return None
    if name.endswith("-search") and name[: -len("-search")] in CONSTRAINTS:
        return name[: -len("-search")]
    raise EnergySimError(f"unknown search dataflow {name!r}; choose search, " + ", ".join(f"{c}-search" for c in CONSTRAINTS))

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
    # a problem whose N (batch; a transformer's tokens) is at least ``wide_from`` and whose search hit
    # ``max_pairs`` is searched a second time with ``wide_pairs`` as ``max_pairs`` and the better mapping kept: a
    # large N has many divisors, and the default cap then drops good tilings (VGG-16 at batch 1024 on tpu-like:
    # 15% lower on two layers); 0 = never
    wide_pairs: int = 5_000_000
    wide_from: int = 64
    exhaustive: bool = False  # no pruning at all
    all_permutations: bool = False  # every loop order instead of the dominant ones
    max_passes: int = 3  # coordinate-descent passes over loop orders
    include_template: bool = True  # also evaluate the template mapping and keep it if better
    # free search only: fix which dimensions may be spatial per mesh axis, e.g. {"X": ("M",), "Y": ("C",)}
    # (as a ZigZag spatial-mapping file does); the search then runs over the profile's keeps only
    spatial: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    # dimensions whose bound may be padded, with the largest padding as a fraction of the bound, e.g.
    # (("P", 0.05),): each padded bound whose spatial unrollings use more PEs is searched too (its phantom
    # iterations counted as work, ``Mapping.padding``) and kept if better
    pad: tuple[tuple[str, float], ...] = ()
    # an ``N`` (the batch; a transformer's tokens in its linear layers) whose largest prime factor exceeds 7
    # cannot be tiled well (a prime not at all): it is also searched padded to the next two 7-smooth values
    # within this fraction (1021 -> 1024, 1029; 197 -> 200, 210), the phantom rows counted as work, and the
    # padded mapping kept if better; 0 = never
    pad_batch: float = 0.125
    # per level name, data spaces that may also bypass it: each space is searched with and without
    bypass: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # per mesh axis, dimensions unrolled whole over that axis's fan-outs when some spatial unrolling can
    # (row stationary's PE sets: (("Y", ("R",)),) = every filter row on its own PE row)
    spatial_full: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # dimensions whose temporal loops all sit at PE-level storage (below the last fan-out): row stationary
    # keeps a whole filter row (S) in the PE
    pe_temporal: tuple[str, ...] = ()
    # spatial unrollings using fewer PEs than this fraction of the most a space (or a padded problem) can use
    # are not searched (an accelerator that maps for throughput first)
    min_pe_fraction: float = 0.0
    # Timeloop temporal mapspace constraints. Per level name, (dimension, factor) pairs: the level's temporal
    # factor of that dimension is exactly ``factor`` (1 = no loop over it there; 0 = the residual: the level
    # takes all of the dimension that the inner levels and the spatial unrolling leave, the outer levels none)
    temporal_factors: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    # per level name, (inner, outer): the dimensions listed in ``inner`` (inner-first, as Timeloop writes a
    # permutation) are the level's innermost loops in that order, those in ``outer`` (inner-first) its
    # outermost; the others are ordered freely between them (dimensions without a loop there are moot)
    permutations: tuple[tuple[str, tuple[tuple[str, ...], tuple[str, ...]]], ...] = ()

    def __post_init__(self):
        # lists and dicts (``spatial={"X": ["M"]}``) as the tuples the fields are declared as: options are keys of
        # the search's memos and cache, so they must hash
        for f in ("spatial", "pad", "bypass", "spatial_full", "pe_temporal", "temporal_factors", "permutations"):
            v = getattr(self, f)
            if v is not None:
                object.__setattr__(self, f, _tuples(v))
        _check(self)

    @classmethod
    def for_profile(cls, profile) -> "MapperOptions":
        """The defaults, with the profile's ``mapper`` section (``energysim.arch.MapperSupport``) applied."""
        m = getattr(profile, "mapper", None)
        if m is None:
            return cls()
        kw = {k: getattr(m, k) for k in ("max_spatial_dims", "spatial_candidates", "tile_cap", "min_pe_fraction")
              if getattr(m, k) is not None}
        return cls(**kw, pad=tuple(sorted(m.pad.items())),
                   bypass=tuple((lv, tuple(ds)) for lv, ds in sorted(m.bypass.items())),
                   spatial_full=tuple((ax, tuple(ds)) for ax, ds in sorted(m.spatial_full.items())),
                   pe_temporal=tuple(m.pe_temporal))


def _tuples(v):
    """``v`` with every dict as a tuple of its (key, value) pairs and every list as a tuple, all the way down."""
    if isinstance(v, dict):
        return tuple((k, _tuples(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return tuple(_tuples(x) for x in v)
    return v


#: The largest integer knob: far beyond any useful cap, and inside the int64 arrays the search keeps them with.
MAX_KNOB = 2**40
#: (field, least value) of the integer knobs.
_INTS = (("max_spatial_dims", 1), ("spatial_candidates", 0), ("tile_cap", 1), ("per_tile", 0), ("max_pairs", 1),
         ("wide_pairs", 0), ("wide_from", 0), ("max_passes", 0))
_AXES = ("X", "Y")


def _bad(field: str, value, want: str) -> EnergySimError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."  # a huge value must not make a huge message
    return EnergySimError(f"MapperOptions: {field} = {shown} {want}")


def _int(field: str, v, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= MAX_KNOB:
        raise _bad(field, v, f"must be an integer in [{low}, {MAX_KNOB}]")


def _fraction(field: str, v, low_open: bool = False) -> None:
    # a NaN compares false both ways and an infinity would pad (or drop) without end: finite, in range
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v <= 1 if low_open else 0 <= v <= 1):
        raise _bad(field, v, f"must be a number in {'(0' if low_open else '[0'}, 1]")


def _names(field: str, v) -> tuple[str, ...]:
    # a bare string would be read letter by letter ("MC" as M and C)
    if not isinstance(v, tuple) or not all(isinstance(d, str) for d in v):
        raise _bad(field, v, "must be a list of names")
    if len(set(v)) != len(v):
        raise _bad(field, v, "repeats a name")
    return v


def _pairs(field: str, v, keys: tuple[str, ...] | None = None) -> tuple:
    """``v`` as (key, value) pairs with distinct string keys (from ``keys`` when given): what a dict gives."""
    if not isinstance(v, tuple) or not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                                           for p in v):
        raise _bad(field, v, "must map names to values")
    ks = [k for k, _ in v]
    if len(set(ks)) != len(ks):
        raise _bad(field, v, "names a key twice")
    if keys is not None and any(k not in keys for k in ks):
        raise _bad(field, v, f"names an unknown mesh axis; axes: {list(keys)}")
    return v


def _check(o: MapperOptions) -> None:
    """Raise ``EnergySimError`` naming the field and value of a knob out of its range (names of levels and
    dimensions are checked against the profile and problem by the search). Runs once per options object, and a
    search makes one: the common case (numbers of their own type in range, nothing else set) is a few comparisons."""
    for f, low in _INTS:
        v = getattr(o, f)
        if type(v) is not int or not low <= v <= MAX_KNOB:
            _int(f, v, low)
    for f in ("exhaustive", "all_permutations", "include_template"):
        if type(getattr(o, f)) is not bool:
            raise _bad(f, getattr(o, f), "must be true or false")
    for f in ("pad_batch", "min_pe_fraction"):
        v = getattr(o, f)
        if type(v) is not float or not 0 <= v <= 1:
            _fraction(f, v)
    if o.pad:
        for d, frac in _pairs("pad", o.pad):
            _fraction(f"pad[{d}]", frac, low_open=True)
    if o.spatial is not None:
        for axis, ds in _pairs("spatial", o.spatial, _AXES):
            _names(f"spatial[{axis}]", ds)
    if o.spatial_full:
        for axis, ds in _pairs("spatial_full", o.spatial_full, _AXES):
            _names(f"spatial_full[{axis}]", ds)
    if o.bypass:
        for lv, ds in _pairs("bypass", o.bypass):
            _names(f"bypass[{lv}]", ds)
    if o.pe_temporal:
        _names("pe_temporal", o.pe_temporal)
    elif o.pe_temporal != ():
        raise _bad("pe_temporal", o.pe_temporal, "must be a list of names")
    if o.temporal_factors:
        for lv, facs in _pairs("temporal_factors", o.temporal_factors):
            for d, k in _pairs(f"temporal_factors[{lv}]", facs):
                _int(f"temporal_factors[{lv}][{d}]", k, 0)
    if o.permutations:
        for lv, io in _pairs("permutations", o.permutations):
            if not isinstance(io, tuple) or len(io) != 2:
                raise _bad(f"permutations[{lv}]", io, "must be (inner, outer) lists of dimensions")
            _names(f"permutations[{lv}] inner", io[0])
            _names(f"permutations[{lv}] outer", io[1])
    for f in ("pad", "spatial_full", "bypass", "temporal_factors", "permutations"):
        if type(getattr(o, f)) is not tuple:  # an empty string or 0 would pass the tests above as "nothing"
            raise _bad(f, getattr(o, f), "must map names to values")


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
    if not isinstance(name, str):
        raise EnergySimError(f"search dataflow must be a name such as 'search' or 'rs-search', got {name!r}")
    if name == "search":
        return None
    if name.endswith("-search") and name[: -len("-search")] in CONSTRAINTS:
        return name[: -len("-search")]
    raise EnergySimError(f"unknown search dataflow {name!r}; choose search, " + ", ".join(f"{c}-search" for c in CONSTRAINTS))

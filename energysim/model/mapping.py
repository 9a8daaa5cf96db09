"""Explicit loop-nest mappings: per storage level (outer -> inner) temporal factors with their loop order,
spatial factors over X and Y (the fan-out to the next level), and which data spaces the level keeps.

A mapping may *pad* dimensions (``padding``: a padded bound per dimension, at least the problem's): its factors
then multiply to the padded bound, and the nest runs the phantom iterations too, as hardware does when a bound
does not divide its array (Eyeriss's last strip of output rows with idle columns). The engine counts the padded
problem (``padded_problem``): phantom work costs accesses and cycles like real work.

A level's *tile* of a data space is what the loops of that level and of every level below it touch (its own
spatial loops included): that is what one instance must hold. Loop orders here are written **outer -> inner**
(Timeloop's mapping YAML writes them inner-first; ``energysim.interop.timeloop`` converts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from energysim.errors import EnergySimError
from energysim.model.memo import Memo
from energysim.model.problem import Problem
from energysim.arch import HardwareProfile
from energysim.arch.validation import format_validation_error


# (problem, profile but its capacities, mapping) of every mapping that passed ``validate_structure``: a sweep's
# designs that differ only in buffer sizes validate the same mappings (a template's, the search's best) again
_STRUCTURE_OK = Memo(4096)


def _exact_int(v):
    # pydantic would read True as 1, "4" as 4 and 4.0 as 4: a factor that is not an integer is the caller's mistake
    if isinstance(v, (bool, str, bytes, float)):
        raise ValueError(f"must be an integer, got {type(v).__name__}")
    return v


#: A loop factor or padded bound (``validate_structure`` says which values fit the problem).
Factor = Annotated[int, BeforeValidator(_exact_int)]


def _detail(exc: ValidationError, data) -> str:
    """One line naming each bad field and its value (pydantic's own message spans lines)."""
    errors = exc.errors()
    inner = errors[0].get("ctx", {}).get("error") if len(errors) == 1 and not errors[0].get("loc") else None
    if isinstance(inner, EnergySimError):  # ``model_validate`` runs ``__init__``, which said it already
        return str(inner).removeprefix("mapping: ")
    return format_validation_error(exc, data)


class LevelMapping(BaseModel):
    """The loops of one storage level.

    Attributes:
        level: the profile level name.
        temporal: factor per dimension of this level's temporal loops (missing = 1).
        permutation: temporal loop order, outer -> inner. Dimensions with a factor > 1 must all appear;
            empty = the problem's dimension order.
        spatial_x, spatial_y: factor per dimension of the spatial loops that fan this level out to the next
            level (or to the MACs) along the X and Y mesh axes.
        spatial_permutation: order of the spatial loops for printing (outer -> inner); empty = X before Y.
        keep: data spaces this level holds; ``None`` = all those the profile level can hold. The others
            bypass it: their tiles are served by the next ancestor that keeps them.
    """

    model_config = ConfigDict(extra="forbid")

    level: str
    temporal: dict[str, Factor] = Field(default_factory=dict)
    permutation: list[str] = Field(default_factory=list)
    spatial_x: dict[str, Factor] = Field(default_factory=dict)
    spatial_y: dict[str, Factor] = Field(default_factory=dict)
    spatial_permutation: list[str] = Field(default_factory=list)
    keep: list[str] | None = None

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise EnergySimError(f"mapping level {data.get('level')!r}: {_detail(exc, data)}") from None

    def spatial(self) -> dict[str, int]:
        """Combined spatial factor per dimension (X times Y)."""
        out = dict(self.spatial_x)
        for d, f in self.spatial_y.items():
            out[d] = out.get(d, 1) * f
        return out


@dataclass(frozen=True)
class Loop:
    """One loop of the flattened nest: ``level`` index in the profile, ``dim``, ``bound`` (> 1), spatial axis
    (``"X"``/``"Y"``) or ``None`` for a temporal loop."""

    level: int
    dim: str
    bound: int
    axis: str | None = None

    @property
    def spatial(self) -> bool:
        return self.axis is not None


class Mapping(BaseModel):
    """A full mapping: one ``LevelMapping`` per profile level, outer -> inner (levels left out get unit loops
    and the profile's default keeps)."""

    model_config = ConfigDict(extra="forbid")

    levels: list[LevelMapping]
    #: padded bound per dimension (>= the problem's); the factors of a padded dimension multiply to it
    padding: dict[str, Factor] = Field(default_factory=dict)

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise EnergySimError(f"mapping: {_detail(exc, data)}") from None

    def padded_problem(self, problem: Problem) -> Problem:
        """The problem this mapping runs: ``problem`` with the padded bounds (itself when nothing is padded)."""
        if not self.padding:
            return problem
        for d, b in self.padding.items():
            if d not in problem.bounds:
                raise EnergySimError(f"mapping: padding names unknown dimension {d!r}; problem dimensions: "
                                     f"{list(problem.dims)}")
            if not isinstance(b, int) or isinstance(b, bool) or b < problem.bounds[d]:
                raise EnergySimError(f"mapping: padding[{d}] = {b!r} must be an integer >= the bound "
                                     f"{problem.bounds[d]}")
        return replace(problem, bounds={**problem.bounds, **self.padding})

    def active_pes(self, problem: Problem, profile: HardwareProfile) -> int:
        """MAC units doing real work when the array is fullest (the first iteration of every temporal loop):
        the utilized PEs, less those whose index of a padded dimension falls in the padding."""
        pes = self.utilized_pes()
        if not self.padding:
            return pes
        loops = self.loops(self.padded_problem(problem), profile)
        for d, padded in self.padding.items():
            real = problem.bounds[d]
            mine = [l for l in loops if l.dim == d]
            offs, used = [0], 1
            for j, l in enumerate(mine):
                if l.spatial:
                    stride = prod(m.bound for m in mine[j + 1:])
                    offs = [o + i * stride for o in offs for i in range(l.bound)]
                    used *= l.bound
            if real < padded:
                pes = pes // used * sum(1 for o in offs if o < real)
        return pes

    # ---- normalisation ------------------------------------------------------------------------------
    def resolved(self, profile: HardwareProfile) -> list[LevelMapping]:
        """One ``LevelMapping`` per profile level in profile order (missing ones filled with defaults)."""
        by_name: dict[str, LevelMapping] = {}
        names = profile.level_names
        last = -1
        for lm in self.levels:
            if lm.level not in names:
                raise EnergySimError(f"mapping names level {lm.level!r}, which profile {profile.name!r} lacks; "
                                     f"levels: {names}")
            if lm.level in by_name:
                raise EnergySimError(f"mapping lists level {lm.level!r} twice")
            i = names.index(lm.level)
            if i < last:
                raise EnergySimError(f"mapping level {lm.level!r} is out of order; list levels outer -> inner as "
                                     f"in the profile: {names}")
            last = i
            by_name[lm.level] = lm
        return [by_name.get(n) or LevelMapping(level=n) for n in names]

    def keeps(self, problem: Problem, profile: HardwareProfile) -> list[frozenset[str]]:
        """Per profile level, the data spaces it keeps under this mapping."""
        out = []
        for lm, lv in zip(self.resolved(profile), profile.levels):
            allowed = [d for d in lv.kept() if d in problem.data_space_names]
            out.append(frozenset(allowed if lm.keep is None else lm.keep))
        return out

    def loops(self, problem: Problem, profile: HardwareProfile) -> list[Loop]:
        """The flattened nest, outer -> inner, unit loops dropped. Per level: temporal loops, then spatial."""
        out: list[Loop] = []
        for i, lm in enumerate(self.resolved(profile)):
            perm = lm.permutation or list(problem.dims)
            for d in perm:
                f = lm.temporal.get(d, 1)
                if f > 1:
                    out.append(Loop(i, d, f))
            sp = lm.spatial_permutation or (list(lm.spatial_x) + [d for d in lm.spatial_y if d not in lm.spatial_x])
            done = set()
            for d in sp:
                for axis, fac in (("X", lm.spatial_x), ("Y", lm.spatial_y)):
                    if fac.get(d, 1) > 1 and (d, axis) not in done:
                        out.append(Loop(i, d, fac[d], axis))
                        done.add((d, axis))
            for axis, fac in (("X", lm.spatial_x), ("Y", lm.spatial_y)):
                for d, f in fac.items():
                    if f > 1 and (d, axis) not in done:
                        out.append(Loop(i, d, f, axis))
        return out

    def tile_extents(self, problem: Problem, profile: HardwareProfile) -> list[dict[str, int]]:
        """Per level, the extent of each dimension covered by one instance's tile (its loops and all below)."""
        lms = self.resolved(profile)
        ext = {d: 1 for d in problem.dims}
        out: list[dict[str, int]] = []
        for lm in reversed(lms):
            for d, f in list(lm.temporal.items()) + list(lm.spatial().items()):
                ext[d] = ext.get(d, 1) * f
            out.append(dict(ext))
        return out[::-1]

    def utilized_pes(self) -> int:
        """Number of MAC units the spatial loops occupy (the product of every spatial factor)."""
        return prod(f for lm in self.levels for f in lm.spatial().values())

    # ---- validation ---------------------------------------------------------------------------------
    def validate_for(self, problem: Problem, profile: HardwareProfile) -> list[dict[str, int]]:
        """Raise ``EnergySimError`` naming the level and value when the mapping does not fit: its structure
        (``validate_structure``), then its tiles against the capacities (``check_capacity``). Returns the tiles'
        words it checked (``tile_words``)."""
        self.validate_structure(problem, profile)
        words = self.tile_words(problem, profile)
        check_capacity(profile, words)
        return words

    def validate_structure(self, problem: Problem, profile: HardwareProfile) -> None:
        """``validate_for`` without the capacity test: dimensions, factors, fan-out and keeps (what depends on
        the profile's levels but not on how many words each holds; a mapping that passed on the same levels,
        ``HardwareProfile.levels_key``, is not checked again)."""
        key = (problem.key, profile.levels_key(), self.model_dump_json())
        if key not in _STRUCTURE_OK:
            self._validate_structure(problem, profile)
            _STRUCTURE_OK.put(key, True)

    def _validate_structure(self, problem: Problem, profile: HardwareProfile) -> None:
        lms = self.resolved(profile)
        dims = set(problem.dims)
        for lm in lms:
            for what, fac in (("temporal", lm.temporal), ("spatial_x", lm.spatial_x), ("spatial_y", lm.spatial_y)):
                for d, f in fac.items():
                    if d not in dims:
                        raise EnergySimError(f"mapping level {lm.level!r}: {what} names unknown dimension {d!r}; "
                                             f"problem dimensions: {list(problem.dims)}")
                    if not isinstance(f, int) or isinstance(f, bool) or f < 1:
                        raise EnergySimError(f"mapping level {lm.level!r}: {what}[{d}] = {f!r} must be an integer >= 1")
            for d in lm.permutation:
                if d not in dims:
                    raise EnergySimError(f"mapping level {lm.level!r}: permutation names unknown dimension {d!r}")
            if lm.permutation:
                missing = [d for d, f in lm.temporal.items() if f > 1 and d not in lm.permutation]
                if missing:
                    raise EnergySimError(f"mapping level {lm.level!r}: permutation {lm.permutation} lacks "
                                         f"dimension(s) {missing} that have temporal factors > 1")
                if len(set(lm.permutation)) != len(lm.permutation):
                    raise EnergySimError(f"mapping level {lm.level!r}: permutation {lm.permutation} repeats a dimension")
            # printing order only, but a name the nest lacks is a typo that would otherwise vanish
            for d in lm.spatial_permutation:
                if d not in dims:
                    raise EnergySimError(f"mapping level {lm.level!r}: spatial_permutation names unknown dimension "
                                         f"{d!r}")
            if len(set(lm.spatial_permutation)) != len(lm.spatial_permutation):
                raise EnergySimError(f"mapping level {lm.level!r}: spatial_permutation {lm.spatial_permutation} "
                                     "repeats a dimension")
            if lm.keep is not None and len(set(lm.keep)) != len(lm.keep):
                raise EnergySimError(f"mapping level {lm.level!r}: keep {lm.keep} repeats a data space")
        # factors multiply to the bounds (the padded ones where the mapping pads)
        problem = self.padded_problem(problem)
        for d in problem.dims:
            parts = []
            total = 1
            for lm in lms:
                f = lm.temporal.get(d, 1) * lm.spatial().get(d, 1)
                total *= f
                if f > 1:
                    parts.append(f"{lm.level} {f}")
            if total != problem.bounds[d]:
                raise EnergySimError(f"mapping: factors of dimension {d} multiply to {total} "
                                     f"({' x '.join(parts) or 'none'}) but its bound is {problem.bounds[d]}")
        # spatial factors fit the fan-out
        for i, lm in enumerate(lms):
            fx, fy = profile.fanout(i)
            for axis, fac, cap in (("X", lm.spatial_x, fx), ("Y", lm.spatial_y, fy)):
                n = prod(fac.values()) if fac else 1
                if n > cap:
                    desc = "*".join(f"{d}{f}" for d, f in fac.items())
                    raise EnergySimError(f"mapping level {lm.level!r}: spatial-{axis} factors {desc} = {n} exceed "
                                         f"the fan-out {cap} along {axis} (to the next level)")
        # keeps
        ds_names = problem.data_space_names
        for lm, lv in zip(lms, profile.levels):
            if lm.keep is None:
                continue
            for d in lm.keep:
                if d not in ds_names:
                    raise EnergySimError(f"mapping level {lm.level!r}: keep names unknown data space {d!r}")
                if d not in lv.kept():
                    raise EnergySimError(f"mapping level {lm.level!r}: keep has {d}, which the "
                                         f"{lv.cls} level cannot hold (profile keeps {lv.kept()})")
        keeps = self.keeps(problem, profile)
        missing = [d for d in ds_names if d not in keeps[0]]
        if missing:
            raise EnergySimError(f"mapping level {lms[0].level!r} (outermost) must keep every data space; it "
                                 f"bypasses {missing}")

    def tile_words(self, problem: Problem, profile: HardwareProfile) -> list[dict[str, int]]:
        """Per profile level, the words of one instance's tile of each data space it keeps (what
        ``check_capacity`` compares with the capacities; the same on every profile with these levels)."""
        problem = self.padded_problem(problem)
        ds_names = problem.data_space_names
        keeps = self.keeps(problem, profile)
        extents = self.tile_extents(problem, profile)
        return [{d: problem.data_space(d).tile_size(extents[i]) for d in ds_names if d in kept}
                for i, kept in enumerate(keeps)]

    # ---- printing -----------------------------------------------------------------------------------
    def to_text(self, problem: Problem, profile: HardwareProfile) -> str:
        """The nest in Timeloop's map.txt style: level headers with kept tiles, loops outer -> inner."""
        extents = self.tile_extents(problem, profile)
        keeps = self.keeps(problem, profile)
        loops = self.loops(problem, profile)
        lines: list[str] = []
        depth = 0
        for i, lv in enumerate(profile.levels):
            if lines and lines[-1].startswith("|"):
                lines.append("")
            tiles = " ".join(f"{d}:{problem.data_space(d).tile_size(extents[i])} "
                             f"({problem.data_space(d).tile_size(extents[i])})"
                             for d in problem.data_space_names if d in keeps[i])
            header = f"{lv.name} [ {tiles + ' ' if tiles else ''}] "
            lines.append(header)
            mine = [l for l in loops if l.level == i]
            if mine:
                lines.append("-" * (len(header) - 1))
                for l in mine:
                    tag = f" (Spatial-{l.axis})" if l.spatial else ""
                    lines.append(f"|{'  ' * depth} for {l.dim} in [0:{l.bound}){tag}")
                    depth += 1
        lines.append(f"|{'  ' * depth} << Compute >>")
        return "\n".join(lines)

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "mapping") -> "Mapping":
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EnergySimError(f"{source}: {_detail(exc, data)}") from None


def check_capacity(profile: HardwareProfile, words: list[dict[str, int]]) -> None:
    """Raise ``EnergySimError`` naming the level when the tiles ``words`` (``Mapping.tile_words``) overflow one
    of ``profile``'s capacities (or their share of a split one)."""
    for lv, sizes in zip(profile.levels, words):
        if not sizes:
            continue
        for group, cap in lv.capacity_groups(sizes):
            used = sum(sizes[d] for d in group)
            if cap is not None and used > cap:
                desc = " + ".join(f"{d} {sizes[d]}" for d in group)
                raise EnergySimError(f"mapping level {lv.name!r}: tiles {desc} = {used} words exceed "
                                     f"{'its' if not lv.capacity_split else 'their share of the'} capacity of "
                                     f"{cap} words")


def answers_alike(profile: HardwareProfile, tested: dict[tuple[int, tuple[str, ...]], tuple[int, int]],
                  caps: dict | None = None) -> bool:
    """Whether ``profile``'s capacities answer capacity tests recorded as ``tested[(level, data spaces of the
    group)] = (most words that fitted, fewest that did not)`` as they were answered: each group's capacity lies
    between the two (a tiler or search that reads capacities only through such tests then makes the same choices).
    ``caps``: the group capacities looked up so far, shared by the records one lookup tries."""
    caps = {} if caps is None else caps
    for group, (fit, over) in tested.items():
        cap = caps.get(group, False)
        if cap is False:
            i, names = group
            groups = profile.levels[i].capacity_groups(list(names))
            cap = caps[group] = groups[0][1] if len(groups) == 1 and groups[0][0] == names else None
        if cap is None or not fit <= cap < over:
            return False
    return True

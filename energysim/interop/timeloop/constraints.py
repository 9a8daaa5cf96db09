"""Timeloop mapspace constraints and what our mapper can honour of them.

Constraints come from the nodes of a v4 architecture (``constraints:`` on a component or container) or from
a constraints section (``constraints`` / ``architecture_constraints`` / ``mapspace_constraints`` with
``targets``, or v0.3 ``mapspace: {constraints: [...]}``). Each is one of:

* ``dataspace`` (also ``bypass``/``datatype``): ``keep`` / ``bypass`` lists. **Honoured**: the level keeps
  exactly the data spaces not bypassed (those neither kept nor bypassed are kept; a ``keep`` list alone
  means "only these", as Timeloop's front end reads it), and the search runs over those keeps only.
* ``spatial``: ``factors`` of 1 forbid a dimension on that fan-out, ``permutation`` + ``split`` put the first
  ``split`` dimensions on X and the rest on Y. **Honoured** as the set of dimensions the mapper may unroll per
  mesh axis (``MapperOptions.spatial``), when every fan-out along one axis allows the same set (the mapper
  takes one set per axis); the order of spatial loops changes no count. A spatial factor other than 1, or two
  fan-outs on one axis with different sets, cannot be honoured.
* ``temporal``: **honoured** (``MapperOptions.temporal_factors`` / ``permutations``). ``factors``: ``D=k`` makes
  the level's temporal factor of D exactly k (1: no loop over D there); ``D=0`` is Timeloop's residual: the
  level takes all of D that the levels inside it and the spatial unrolling leave, the levels outside it none.
  A factor that does not divide D's bound, or a factor other than 1 on a level that holds no data (no temporal
  loops), cannot be honoured. ``permutation`` (inner-first, as Timeloop writes it): the listed dimensions are
  the level's innermost loops in that order; with a ``_`` in the list, those after it are the outermost (still
  inner-first), and the unlisted dimensions are ordered freely in between. Dimensions whose bound is 1 have no
  loops: their factors of 1 and places in an order hold in any mapping (Timeloop's front end adds
  ``permutation: N`` this way).
* ``utilization`` (``min``), ``min_utilization``, ``no_reuse``: **not honoured** (the mapper has no knob for them).

A constraint that cannot be honoured is an error naming the file, the key path and the value, unless the
caller relaxes it (``relax=True``: it is then listed in ``Honoured.relaxed`` and reported, never dropped
silently).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.keys import join, require_mapping, show, unknown
from energysim.interop.timeloop.mapping import _parse_factors, _parse_perm
from energysim.interop.timeloop.spec import constraint_list
from energysim.interop.timeloop.values import names as name_list, number
from energysim.model.problem import Problem

_KEYS = ("target", "type", "factors", "permutation", "split", "keep", "bypass", "min", "min_utilization", "no_reuse",
         "no_coalesce", "version")
_KEEP_TYPES = ("dataspace", "bypass", "datatype")
_TYPES = (*_KEEP_TYPES, "temporal", "spatial", "utilization")


@dataclass
class Honoured:
    """What the search is told: per level the data spaces it keeps (only levels with a constraint), the
    dimensions the mapper may unroll per mesh axis (None = any), and the constraints relaxed (text)."""

    keeps: dict[str, list[str]] = field(default_factory=dict)
    spatial: dict[str, tuple[str, ...]] | None = None
    relaxed: list[str] = field(default_factory=list)
    count: int = 0
    # per level: {dimension: temporal factor} (0 = the residual) and (inner, outer) loop-order constraints
    temporal_factors: dict[str, dict[str, int]] = field(default_factory=dict)
    permutations: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    def mapper_options(self) -> dict:
        """The ``MapperOptions`` fields of the temporal constraints (empty when there are none)."""
        out = {}
        if self.temporal_factors:
            out["temporal_factors"] = tuple((lv, tuple(sorted(f.items()))) for lv, f in self.temporal_factors.items())
        if self.permutations:
            out["permutations"] = tuple(self.permutations.items())
        return out

    def profile(self, profile: HardwareProfile) -> HardwareProfile:
        """``profile`` with the kept data spaces of the constrained levels."""
        if not self.keeps:
            return profile
        d = profile.model_dump(by_alias=True)
        for lv in d["levels"]:
            if lv["name"] in self.keeps:
                lv["keeps"] = self.keeps[lv["name"]]
        return HardwareProfile.model_validate(d)


def collect(spec_sections: dict, sources: dict[str, str], node_constraints: list) -> list[tuple[dict, str, str]]:
    """Every constraint as ``(constraint, file, key path)``: those of the nodes, then the sections'."""
    out = [(c, sources.get("architecture", "architecture"), p) for _, c, p in node_constraints]
    for key in ("constraints", "architecture_constraints", "mapspace_constraints"):
        if key in spec_sections:
            items = constraint_list(spec_sections[key], sources.get(key, key), key)
            out += [(c, sources.get(key, key), join(join(key, "targets"), j)) for j, c in enumerate(items)]
    ms = spec_sections.get("mapspace")
    if ms is not None:
        src = sources.get("mapspace", "mapspace")
        ms = require_mapping(ms, src, "mapspace")
        for k, v in ms.items():
            if k not in ("version", "template", "constraints"):
                raise unknown(src, join("mapspace", k), v, ("version", "template", "constraints"))
        if ms.get("template", "uber") != "uber":
            raise EnergySimError(f"{src}: 'mapspace.template' = {show(ms['template'])}: only the 'uber' mapspace "
                                 f"is modelled")
        out += [(c, src, join("mapspace.constraints", j)) for j, c in enumerate(ms.get("constraints") or [])]
    return out


def honour(constraints: list[tuple[dict, str, str]], problem: Problem, profile: HardwareProfile,
           targets: dict[str, str], relax: bool = False) -> Honoured:
    """What of ``constraints`` the search honours (module docstring); the others are an error, or listed as
    relaxed when ``relax``."""
    out = Honoured(count=len(constraints))
    names = profile.level_names
    ds_names = problem.data_space_names
    per_axis: dict[str, dict[int, tuple[str, ...]]] = {"X": {}, "Y": {}}
    looped: list = []  # (level, file, key path, value, factors) of the temporal factor constraints

    def cannot(src, where, value, why):
        if not relax:
            raise EnergySimError(f"{src}: {where!r} = {show(value)} cannot be honoured by our mapper ({why}); "
                                 f"give a --mapping, remove the constraint, or pass --relax-constraints to search "
                                 f"without it")
        out.relaxed.append(f"{src}: {where} = {show(value)} ({why})")

    for c, src, path in constraints:
        r = _read(c, src, path, problem, names, targets)
        kind, level, i, keep, byp, full, outer_part, factors = (r.kind, r.level, r.i, r.keep, r.bypass, r.full,
                                                                r.outer, r.factors)
        for k in ("min_utilization", "no_reuse", "no_coalesce"):
            if c.get(k) not in (None, 0, [], False):
                cannot(src, join(path, k), c[k], f"the mapper has no {k} knob")
        if kind == "utilization":
            cannot(src, join(path, "min") if "min" in c else path, c.get("min", c),
                   "the mapper has no utilization knob")
            continue
        if kind in _KEEP_TYPES:
            allowed = profile.levels[i].kept()
            not_here = [d for d in keep if d not in allowed]
            if not_here:
                raise EnergySimError(f"{src}: {join(path, 'keep')!r} = {show(keep)}: level {level!r} cannot keep "
                                     f"{not_here}")
            if "keep" in c and "bypass" not in c:
                # Timeloop's front end reads a keep list alone as "keep only these" (its processed input then
                # bypasses the others, e.g. Eyeriss's scratchpads)
                byp = [d for d in ds_names if d not in keep]
            out.keeps[level] = [d for d in ds_names if d not in byp and d in allowed]
            continue
        # dimensions of bound 1 have no loops: a factor of 1 or a place in an order for them holds in any mapping
        ones = {d for d in problem.dims if problem.bounds[d] == 1}
        perm = [d for d in full if d not in ones]  # a spatial split counts in the full permutation
        factors = {d: f for d, f in factors.items() if not (d in ones and f == 1)}
        if kind == "temporal" and profile.levels[i].cls == "dummy":
            if any(f != 1 for f in factors.values()):
                raise EnergySimError(f"{src}: {join(path, 'factors')!r} = {show(c.get('factors'))}: dummy level "
                                     f"{level!r} has no temporal loops")
            continue  # a dummy level has no temporal loops in any mapping of ours: all factors 1, order moot
        if kind == "temporal":
            where = join(path, "factors")
            bad = {d: f for d, f in factors.items() if f > 1 and problem.bounds[d] % f}
            if bad:
                cannot(src, where, c.get("factors"), "imperfect factor(s) " + ", ".join(
                    f"{d}={f} (bound {problem.bounds[d]})" for d, f in bad.items()))
                factors = {d: f for d, f in factors.items() if d not in bad}
            have = out.temporal_factors.get(level, {})
            clash = {d: (have[d], f) for d, f in factors.items() if d in have and have[d] != f}
            if clash:
                cannot(src, where, c.get("factors"), f"another constraint on level {level!r} gives other "
                                                     f"factors {clash}")
                factors = {d: f for d, f in factors.items() if d not in clash}
            if factors:
                out.temporal_factors.setdefault(level, {}).update(factors)
                looped.append((level, src, where, c.get("factors"), factors))
            inner = tuple(d for d in perm if d not in outer_part)
            outer = tuple(d for d in outer_part if d not in ones)
            if inner or outer:
                if level in out.permutations and out.permutations[level] != (inner, outer):
                    cannot(src, join(path, "permutation"), c.get("permutation"), f"another constraint on level "
                                                                                f"{level!r} gives another order")
                else:
                    out.permutations[level] = (inner, outer)
            continue
        fixed = {d: f for d, f in factors.items() if f != 1}
        if fixed:
            cannot(src, join(path, "factors"), c.get("factors"), f"spatial factors {fixed} are fixed; the mapper "
                                                                 f"only allows or forbids a dimension")
        fx, fy = profile.fanout(i)
        if fx * fy == 1:
            raise EnergySimError(f"{src}: {path!r}: a spatial constraint on level {level!r}, which has no fan-out")
        split = len(full) if r.split is None else r.split
        free = [d for d in problem.dims if d not in factors or factors[d] != 1]
        for axis, cap in (("X", fx), ("Y", fy)):
            if cap > 1:
                side = full[:split] if axis == "X" else full[split:]
                per_axis[axis][i] = tuple(d for d in free if d in side or d not in full)
    for level, src, where, value, factors in looped:
        # a level that keeps no data has no temporal loops in our mappings
        i = names.index(level)
        kept = out.keeps.get(level, [d for d in ds_names if d in profile.levels[i].kept()])
        if not kept and any(f != 1 for f in factors.values()):
            cannot(src, where, value, f"level {level!r} keeps no data, so it has no temporal loops")
            out.temporal_factors.pop(level, None)
    if any(per_axis.values()):
        out.spatial = {}
        for axis in ("X", "Y"):
            fans = [i for i in range(len(names)) if (profile.fanout(i)[0] if axis == "X" else profile.fanout(i)[1]) > 1]
            sets = {per_axis[axis].get(i, tuple(problem.dims)) for i in fans}
            if len(sets) > 1:
                cannot("constraints", f"spatial ({axis})", sorted(sorted(s) for s in sets),
                       f"the fan-outs along {axis} allow different dimensions; the mapper takes one set per axis")
                sets = {tuple(problem.dims)}
            out.spatial[axis] = next(iter(sets)) if sets else tuple(problem.dims)
    return out


def check(constraints: list[tuple[dict, str, str]], problem: Problem, profile: HardwareProfile,
          targets: dict[str, str]) -> None:
    """Raise ``EnergySimError`` for the first constraint that does not read (unknown key, type, target, data
    space or dimension; a factor, split or bound that is not a number of its kind), whether or not a search
    will use it: the constraints of a spec run with a given mapping are read, never skipped unread."""
    for c, src, path in constraints:
        _read(c, src, path, problem, profile.level_names, targets)


@dataclass
class _Read:
    """One constraint as read: its type, level (name and index), keep / bypass lists, permutation (every
    dimension listed, inner-first, and those after a ``_``), factors and split (None: not given)."""

    kind: str
    level: str
    i: int
    keep: list[str] = field(default_factory=list)
    bypass: list[str] = field(default_factory=list)
    full: list[str] = field(default_factory=list)
    outer: list[str] = field(default_factory=list)
    factors: dict[str, int] = field(default_factory=dict)
    split: int | None = None


def _read(c, src: str, path: str, problem: Problem, names: list[str], targets: dict[str, str]) -> _Read:
    c = require_mapping(c, src, path)
    for k, v in c.items():
        if k not in _KEYS:
            raise unknown(src, join(path, k), v, _KEYS)
    kind = c.get("type")
    if kind not in _TYPES:
        raise EnergySimError(f"{src}: {join(path, 'type')!r} = {show(kind)}: expected one of {list(_TYPES)}")
    t = c.get("target")
    level = targets.get(t, t) if isinstance(t, str) else t
    if level not in names:
        raise EnergySimError(f"{src}: {join(path, 'target')!r} = {show(t)} is not a level of the architecture "
                             f"{names}")
    r = _Read(kind, level, names.index(level))
    ds_names = problem.data_space_names
    if "min" in c:
        if kind != "utilization":
            raise unknown(src, join(path, "min"), c["min"], why=" (only utilization constraints have a 'min')")
        number(c["min"], src, join(path, "min"), least=0)
    if c.get("min_utilization") is not None:
        number(c["min_utilization"], src, join(path, "min_utilization"), least=0)
    for k in ("no_reuse", "no_coalesce"):
        if c.get(k) not in (None, False):
            bad = [d for d in name_list(c.get(k), src, join(path, k)) if d not in ds_names]
            if bad:
                raise EnergySimError(f"{src}: {join(path, k)!r}: unknown data space(s) {bad}; the problem has "
                                     f"{ds_names}")
    if kind == "utilization":
        return r
    if kind in _KEEP_TYPES:
        r.keep, r.bypass = name_list(c.get("keep"), src, join(path, "keep")), name_list(c.get("bypass"), src,
                                                                                          join(path, "bypass"))
        bad = [d for d in r.keep + r.bypass if d not in ds_names]
        if bad or set(r.keep) & set(r.bypass):
            raise EnergySimError(f"{src}: {path!r}: " + (f"unknown data space(s) {bad}; the problem has "
                                 f"{ds_names}" if bad else f"{sorted(set(r.keep) & set(r.bypass))} both kept and "
                                 f"bypassed"))
        return r
    r.full, r.outer = _split_perm(c.get("permutation", ""), problem.dims, src, join(path, "permutation"),
                                  kind == "temporal")
    r.factors = _parse_factors(c.get("factors", ""), problem.dims, f"{src}: {join(path, 'factors')!r}")
    if "split" in c:
        r.split = number(c["split"], src, join(path, "split"), least=0, whole=True)
    return r


def _split_perm(p, dims, src: str, where: str, temporal: bool) -> tuple[list[str], list[str]]:
    """A permutation as (every listed dimension inner-first, those after a ``_``): Timeloop's ``_`` separates
    the innermost loops (before it) from the outermost (after it)."""
    items = [str(x) for x in p] if isinstance(p, list) else None
    if items is None:
        text = str(p).strip()
        if "_" not in text or not temporal:
            return _parse_perm(p, dims, src, where), []
        a, _, b = text.partition("_")
        return _parse_perm(a.strip(" ,") + " " + b.strip(" ,") if re.search(r"[\s,]", text) else a + b, dims, src,
                           where), _parse_perm(b.strip(" ,"), dims, src, where)
    if "_" not in items or not temporal:
        return _parse_perm(p, dims, src, where), []
    k = items.index("_")
    return _parse_perm(items[:k] + items[k + 1:], dims, src, where), _parse_perm(items[k + 1:], dims, src, where)

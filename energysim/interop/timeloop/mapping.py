"""A Timeloop (v0.3/v0.4) ``mapping`` (targets with ``temporal`` / ``spatial`` / ``bypass`` / ``datatype`` directives,
permutations written inner-first) as our ``Mapping`` (loop orders written outer -> inner)."""

from __future__ import annotations

import re

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.keys import join, require_mapping, show, unknown
from energysim.interop.timeloop.values import as_number, names as name_list, number, wanted
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem


_ENTRY_KEYS = ("target", "type", "factors", "permutation", "keep", "bypass", "split")
#: directive types that say which data spaces a level keeps (v0.3 ``bypass``/``datatype``, v4 ``dataspace``)
_KEEP_TYPES = ("bypass", "datatype", "dataspace")


def mapping_from_timeloop(entries: list[dict], problem: Problem, profile: HardwareProfile,
                          source: str = "timeloop mapping", path: str = "mapping",
                          targets: dict[str, str] | None = None) -> Mapping:
    """A Timeloop (v0.3/v0.4/v4) ``mapping`` list (targets with ``temporal``/``spatial``/``bypass``/``datatype``/
    ``dataspace`` entries; permutations inner-first; spatial ``split`` = number of leading permutation dims on
    X). ``targets`` renames targets to level names (a v4 container -> its ``inter_<name>_spatial`` level).
    ``source`` and ``path`` name the file and key path in error messages."""
    if isinstance(entries, dict) and "mapping" in entries:
        for key, v in entries.items():
            if key != "mapping":
                raise unknown(source, key, v, ("mapping",))
        entries = entries["mapping"]
    if not isinstance(entries, list):
        raise EnergySimError(f"{source}: {path!r} must be a list of directives, got {show(entries)}")
    names = profile.level_names
    acc: dict[str, dict] = {n: {"level": n} for n in names}
    seen: set[tuple[str, str]] = set()
    placed: dict[str, list[tuple[str, int]]] = {d: [] for d in problem.dims}  # dim -> (key path, factor != 1)
    for k, e in enumerate(entries):
        where = join(path, k)
        e = require_mapping(e, source, where)
        for key, v in e.items():
            if key not in _ENTRY_KEYS:
                raise unknown(source, join(where, key), v, _ENTRY_KEYS)
        t = e.get("target")
        t = (targets or {}).get(t, t) if isinstance(t, str) else t
        if t not in acc:
            raise EnergySimError(f"{source}: {join(where, 'target')!r} = {show(t)} is not a level of the "
                                 f"architecture {names}")
        kind = e.get("type")
        group = "keep" if kind in _KEEP_TYPES else str(kind)
        if (t, group) in seen:
            raise EnergySimError(f"{source}: {where!r}: a second {kind!r} directive for target {t!r}")
        seen.add((t, group))
        if kind != "spatial" and "split" in e:
            raise EnergySimError(f"{source}: {join(where, 'split')!r}: only spatial directives have a split")
        a = acc[t]
        if kind in _KEEP_TYPES:
            keep = name_list(e.get("keep"), source, join(where, "keep"))
            byp = set(name_list(e.get("bypass"), source, join(where, "bypass")))
            names_ds = problem.data_space_names
            bad = [d for d in [*keep, *byp] if d not in names_ds]
            if bad or set(keep) & byp:
                raise EnergySimError(f"{source}: {where!r}: " + (f"unknown data space(s) {bad}; the problem has "
                                     f"{names_ds}" if bad else f"{sorted(set(keep) & byp)} both kept and bypassed"))
            if "keep" not in e:
                keep = [d for d in problem.data_space_names if d not in byp]
            a["keep"] = keep
            continue
        if kind not in ("temporal", "spatial"):
            raise EnergySimError(f"{source}: {join(where, 'type')!r} = {show(kind)}: expected temporal, spatial, "
                                 f"bypass or datatype")
        perm = _parse_perm(e.get("permutation", ""), problem.dims, source, join(where, "permutation"))
        factors = _parse_factors(e.get("factors", ""), problem.dims, f"{source}: {join(where, 'factors')!r}", 1)
        order = perm + [d for d in problem.dims if d not in perm]  # inner-first
        for d, f in factors.items():
            if f != 1:
                placed[d].append((join(where, "factors"), f))
        if kind == "temporal":
            a["temporal"] = {d: f for d, f in factors.items() if f != 1}
            a["permutation"] = [d for d in reversed(order)]
        elif kind == "spatial":
            split = number(e.get("split", len(order)), source, join(where, "split"), least=0, whole=True)
            xs = {d: factors.get(d, 1) for d in order[:split] if factors.get(d, 1) != 1}
            ys = {d: factors.get(d, 1) for d in order[split:] if factors.get(d, 1) != 1}
            a["spatial_x"], a["spatial_y"] = xs, ys
            a["spatial_permutation"] = [d for d in reversed(order) if factors.get(d, 1) != 1]
    _check_product(placed, problem, source)
    return Mapping.from_dict({"levels": [acc[n] for n in names]}, source=source)


def _check_product(placed: dict[str, list[tuple[str, int]]], problem: Problem, source: str) -> None:
    """Every dimension's factors (temporal and spatial, all levels) must multiply to its bound: an imperfect
    factorization (Timeloop's residual loops) is an error naming the directives, their factors and the bound."""
    for d in problem.dims:
        total = 1
        for _, f in placed[d]:
            total *= f
        if total != problem.bounds[d]:
            parts = " x ".join(f"{w!r} {d}={f}" for w, f in placed[d]) or "no factor other than 1"
            raise EnergySimError(f"{source}: factors of dimension {d} multiply to {total} ({parts}) but its bound "
                                 f"is {problem.bounds[d]}; imperfect factorizations are not modelled")


def _parse_perm(p, dims, source: str, where: str) -> list[str]:
    if isinstance(p, list):
        out = [str(x) for x in p]
    else:
        p = str(p).strip()
        if not p:
            return []
        if re.search(r"[\s,]", p):
            out = [x for x in re.split(r"[\s,]+", p) if x]
        elif all(len(d) == 1 for d in dims):
            out = list(p)
        else:
            out, rest = [], p  # multi-letter dimension names: greedy longest match
            while rest:
                m = max((d for d in dims if rest.startswith(d)), key=len, default=None)
                if m is None:
                    raise EnergySimError(f"{source}: {where!r} = {p!r} does not split into dimensions {list(dims)}")
                out.append(m)
                rest = rest[len(m):]
    bad = [d for d in out if d not in dims]
    if bad or len(set(out)) != len(out):
        raise EnergySimError(f"{source}: {where!r} = {show(p)}: "
                             + (f"unknown dimension(s) {bad}" if bad else "a dimension appears twice")
                             + f"; the problem's dimensions are {list(dims)}")
    return out


def _parse_factors(f, dims, where: str, least: int = 0) -> dict[str, int]:
    """``factors`` (``"R=3 P=16"``, ``R3 P16``, ``[R=3, P=16]`` or ``{R: 3}``; ``where``: file and key path for
    errors): integers ``>= least`` (constraints allow Timeloop's residual 0; a mapping asks for >= 1)."""
    if isinstance(f, dict):
        items = [(str(k), v) for k, v in f.items()]
    elif isinstance(f, list):  # v4: [R=3, P=16]
        return _parse_factors(" ".join(str(x) for x in f), dims, where, least)
    else:
        items = []
        for tok in re.split(r"[\s,]+", str(f).strip()):
            if not tok:
                continue
            m = re.fullmatch(r"([A-Za-z_][A-Za-z_]*?)\s*=?\s*(\d+)", tok)
            if not m:
                raise EnergySimError(f"{where} = {show(f)}: cannot read {tok!r} (expected DIM=N or DIMN)")
            items.append((m.group(1), int(m.group(2))))
    out: dict[str, int] = {}
    for d, v in items:
        if d not in dims:
            raise EnergySimError(f"{where} = {show(f)}: factor for unknown dimension {d!r}; the problem's "
                                 f"dimensions are {list(dims)}")
        if d in out:
            raise EnergySimError(f"{where} = {show(f)}: two factors for dimension {d!r}")
        out[d] = as_number(v, least=least, whole=True)
        if out[d] is None:  # 16.7 must not be read as 16, nor true as 1
            raise EnergySimError(f"{where} = {show(f)}: factor of {d} = {show(v)} must be {wanted(least, whole=True)}")
    return out

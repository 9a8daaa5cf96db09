"""A Timeloop v0.4 ``mapping`` (targets with ``temporal`` / ``spatial`` / ``bypass`` / ``datatype`` directives,
permutations written inner-first) as our ``Mapping`` (loop orders written outer -> inner)."""

from __future__ import annotations

import re

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem


def mapping_from_timeloop(entries: list[dict], problem: Problem, profile: HardwareProfile) -> Mapping:
    """A Timeloop v0.4 ``mapping`` list (targets with ``temporal``/``spatial``/``bypass``/``datatype``
    entries; permutations inner-first; spatial ``split`` = number of leading permutation dims on X)."""
    if isinstance(entries, dict) and "mapping" in entries:
        entries = entries["mapping"]
    if not isinstance(entries, list):
        raise EnergySimError("timeloop mapping: expected a list of directives")
    names = profile.level_names
    acc: dict[str, dict] = {n: {"level": n} for n in names}
    for k, e in enumerate(entries):
        t = e.get("target")
        if t not in acc:
            raise EnergySimError(f"timeloop mapping entry {k}: target {t!r} is not a level of the profile {names}")
        kind = e.get("type")
        a = acc[t]
        if kind in ("bypass", "datatype"):
            keep = list(e.get("keep") or [])
            byp = set(e.get("bypass") or [])
            if "keep" not in e:
                keep = [d for d in problem.data_space_names if d not in byp]
            a["keep"] = keep
            continue
        perm = _parse_perm(e.get("permutation", ""), problem.dims)
        factors = _parse_factors(e.get("factors", ""), problem.dims, f"timeloop mapping entry {k} ({t})")
        order = perm + [d for d in problem.dims if d not in perm]  # inner-first
        if kind == "temporal":
            a["temporal"] = {d: f for d, f in factors.items() if f != 1}
            a["permutation"] = [d for d in reversed(order)]
        elif kind == "spatial":
            split = int(e.get("split", len(order)))
            xs = {d: factors.get(d, 1) for d in order[:split] if factors.get(d, 1) != 1}
            ys = {d: factors.get(d, 1) for d in order[split:] if factors.get(d, 1) != 1}
            a["spatial_x"], a["spatial_y"] = xs, ys
            a["spatial_permutation"] = [d for d in reversed(order) if factors.get(d, 1) != 1]
        else:
            raise EnergySimError(f"timeloop mapping entry {k} ({t}): unknown type {kind!r}")
    return Mapping.from_dict({"levels": [acc[n] for n in names]}, source="timeloop mapping")


def _parse_perm(p, dims) -> list[str]:
    if isinstance(p, list):
        return [str(x) for x in p]
    p = str(p).strip()
    if not p:
        return []
    if re.search(r"[\s,]", p):
        return [x for x in re.split(r"[\s,]+", p) if x]
    if all(len(d) == 1 for d in dims):
        return list(p)
    out, rest = [], p  # multi-letter dimension names: greedy longest match
    while rest:
        m = max((d for d in dims if rest.startswith(d)), key=len, default=None)
        if m is None:
            raise EnergySimError(f"timeloop permutation {p!r}: cannot split into dimensions {list(dims)}")
        out.append(m)
        rest = rest[len(m):]
    return out


def _parse_factors(f, dims, where) -> dict[str, int]:
    if isinstance(f, dict):
        return {str(k): int(v) for k, v in f.items()}
    out = {}
    for d, v in re.findall(r"([A-Za-z_][A-Za-z_]*?)\s*=?\s*(\d+)", str(f)):
        if d not in dims:
            raise EnergySimError(f"{where}: factor for unknown dimension {d!r}")
        out[d] = int(v)
    return out

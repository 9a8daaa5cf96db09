"""The ``problem`` of a Timeloop v0.4 (processed) input as our ``Problem``."""

from __future__ import annotations

from energysim.errors import EnergySimError
from energysim.model.problem import DataSpace, Problem


def problem_from_timeloop(spec: dict) -> Problem:
    """The ``problem`` section of a Timeloop v0.4 (processed) input, or the whole input containing it."""
    if "problem" in spec and isinstance(spec["problem"], dict):
        spec = spec["problem"]
    try:
        shape, inst = spec["shape"], spec["instance"]
    except (KeyError, TypeError):
        raise EnergySimError("timeloop problem: expected keys 'shape' and 'instance'") from None
    coef: dict[str, int] = {}
    for c in shape.get("coefficients", []) or []:
        coef[c["name"]] = int(c.get("default", 1))
    dims = tuple(shape.get("dimensions", []))
    for k, v in inst.items():
        if k in coef and k not in dims:
            coef[k] = int(v)
    bounds = {}
    for d in dims:
        if d not in inst:
            raise EnergySimError(f"timeloop problem: instance has no bound for dimension {d!r}")
        bounds[d] = inst[d]

    def term(t):
        if len(t) == 1:
            return (t[0], 1)
        d, c = (t[0], t[1]) if t[0] in dims else (t[1], t[0])
        if isinstance(c, str):
            if c not in coef:
                raise EnergySimError(f"timeloop problem: unknown coefficient {c!r} in projection term {t}")
            c = coef[c]
        return (d, int(c))

    spaces = []
    for ds in shape.get("data_spaces", []):
        proj = ds["projection"]
        ranks = tuple(tuple(term(t) for t in rank) for rank in proj)
        spaces.append(DataSpace(ds["name"], ranks, bool(ds.get("read_write", False))))
    return Problem(name=shape.get("name", "problem"), dims=dims, bounds=bounds, data_spaces=tuple(spaces),
               coefficients=coef)

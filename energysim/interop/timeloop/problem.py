"""The ``problem`` of a Timeloop input (v0.4, or v0.3 spellings ``data-spaces`` / ``read-write``) as our
``Problem``. Unknown keys are errors; densities other than 1 are rejected (this reader models dense
workloads, and dropping them would silently change every count)."""

from __future__ import annotations

from energysim.errors import EnergySimError
from energysim.interop.timeloop.keys import canonical, join, require_mapping, show, unknown
from energysim.model.problem import DataSpace, Problem

_SHAPE_ALIASES = {"data-spaces": "data_spaces"}
_SPACE_ALIASES = {"read-write": "read_write"}
_PROBLEM_KEYS = ("version", "shape", "instance")
_SHAPE_KEYS = ("name", "dimensions", "coefficients", "data_spaces")
_SPACE_KEYS = ("name", "projection", "read_write")
_COEF_KEYS = ("name", "default")


def problem_from_timeloop(spec: dict, source: str = "timeloop problem", path: str = "problem") -> Problem:
    """The ``problem`` section of a Timeloop input, or the whole input containing it. ``source`` (the file)
    and ``path`` (the key path of the section) name the place in error messages."""
    spec = require_mapping(spec, source, path)
    if "problem" in spec and isinstance(spec["problem"], dict):
        spec = spec["problem"]
    else:
        path = ""
    for k, v in spec.items():
        if k not in _PROBLEM_KEYS:
            raise unknown(source, join(path, k), v, _PROBLEM_KEYS)
    if "shape" not in spec or "instance" not in spec:
        raise EnergySimError(f"{source}: {path or 'the problem'!r} needs keys 'shape' and 'instance'")
    return problem_from_parts(spec["shape"], spec["instance"], source, join(path, "shape"), join(path, "instance"))


def problem_from_parts(shape: dict, inst: dict, source: str, sp: str, ip: str) -> Problem:
    """A problem from its ``shape`` (at key path ``sp`` of ``source``) and ``instance`` (at ``ip``)."""
    shape = canonical(require_mapping(shape, source, sp), _SHAPE_ALIASES, source, sp)
    inst = require_mapping(inst, source, ip)
    for k, v in shape.items():
        if k not in _SHAPE_KEYS:
            raise unknown(source, join(sp, k), v, _SHAPE_KEYS)
    dims = _dimensions(shape.get("dimensions"), source, join(sp, "dimensions"))
    coef: dict[str, int] = {}
    for j, c in enumerate(shape.get("coefficients") or []):
        cp = join(join(sp, "coefficients"), j)
        c = require_mapping(c, source, cp)
        for k, v in c.items():
            if k not in _COEF_KEYS:
                raise unknown(source, join(cp, k), v, _COEF_KEYS)
        if "name" not in c:
            raise EnergySimError(f"{source}: {cp!r} has no 'name'")
        cn = c["name"]
        # an instance key names a dimension or a coefficient: one name for both would be read as the dimension
        if not isinstance(cn, str) or not cn or cn in dims or cn in coef:
            raise EnergySimError(f"{source}: {join(cp, 'name')!r} = {show(cn)} must be a name that is neither a "
                                 f"dimension nor another coefficient")
        coef[cn] = _int(c.get("default", 1), source, join(cp, "default"), least=0)
    name = shape.get("name", "problem")
    if not isinstance(name, str):
        raise EnergySimError(f"{source}: {join(sp, 'name')!r} = {show(name)} must be a name")
    bounds = {}
    for k, v in inst.items():
        if k == "densities":
            _dense_only(v, source, join(ip, k))
        elif k in dims:
            bounds[k] = _int(v, source, join(ip, k))
            if bounds[k] < 1:
                raise EnergySimError(f"{source}: {join(ip, k)!r} = {show(v)} must be an integer >= 1")
        elif k in coef:
            coef[k] = _int(v, source, join(ip, k), least=0)
        else:
            raise unknown(source, join(ip, k), v, list(dims) + list(coef),
                          why=f"; it is neither a dimension {list(dims)} nor a coefficient {list(coef)}")
    for d in dims:
        if d not in bounds:
            raise EnergySimError(f"{source}: {ip!r} has no bound for dimension {d!r}")

    def term(t, where):
        if not isinstance(t, list) or not 1 <= len(t) <= 2:
            raise EnergySimError(f"{source}: {where!r} = {show(t)}: a projection term is [dim] or [dim, coefficient]")
        if len(t) == 1:
            return (t[0], 1)
        d, c = (t[0], t[1]) if t[0] in dims else (t[1], t[0])
        if isinstance(c, str):
            if c not in coef:
                raise EnergySimError(f"{source}: {where!r}: unknown coefficient {c!r} in projection term {t}")
            c = coef[c]
        return (d, _int(c, source, where))

    spaces = []
    dsp = join(sp, "data_spaces")
    for j, ds in enumerate(shape.get("data_spaces") or []):
        p = join(dsp, j)
        ds = canonical(require_mapping(ds, source, p), _SPACE_ALIASES, source, p)
        for k, v in ds.items():
            if k not in _SPACE_KEYS:
                raise unknown(source, join(p, k), v, _SPACE_KEYS)
        if "name" not in ds or "projection" not in ds:
            raise EnergySimError(f"{source}: {p!r} needs 'name' and 'projection'")
        rw = ds.get("read_write", False)
        if not isinstance(rw, bool):
            raise EnergySimError(f"{source}: {join(p, 'read_write')!r} = {show(rw)} must be true or false")
        proj = ds["projection"]
        # a data space without ranks, or a rank without terms, would silently be a single element
        if not isinstance(proj, list) or not proj or not all(isinstance(r, list) and r for r in proj):
            raise EnergySimError(f"{source}: {join(p, 'projection')!r} = {show(proj)} must be a non-empty list of "
                                 f"ranks, each a non-empty list of terms")
        ranks = tuple(tuple(term(t, join(join(join(p, "projection"), r), q)) for q, t in enumerate(rank))
                      for r, rank in enumerate(proj))
        spaces.append(DataSpace(ds["name"], ranks, rw))
    if not spaces:
        raise EnergySimError(f"{source}: {dsp!r} is missing or empty")
    return Problem(name=name, dims=dims, bounds=bounds, data_spaces=tuple(spaces), coefficients=coef)


def _dimensions(v, source: str, where: str) -> tuple[str, ...]:
    """The shape's dimension names: a list of distinct names (a string is not split into letters)."""
    if v is None or v == []:
        raise EnergySimError(f"{source}: {where!r} is missing or empty")
    if not isinstance(v, list) or not all(isinstance(d, str) and d for d in v):
        raise EnergySimError(f"{source}: {where!r} = {show(v)} must be a list of dimension names")
    twice = sorted({d for d in v if v.count(d) > 1})
    if twice:
        raise EnergySimError(f"{source}: {where!r} = {show(v)}: dimension(s) {twice} appear twice")
    return tuple(v)


def _int(v, source: str, where: str, least: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise EnergySimError(f"{source}: {where!r} = {show(v)} must be an integer")
    if least is not None and v < least:
        raise EnergySimError(f"{source}: {where!r} = {show(v)} must be an integer >= {least}")
    return v


def _dense_only(v, source: str, where: str) -> None:
    if not v:
        return
    if isinstance(v, dict) and all(x in (1, 1.0) for x in v.values()):
        return
    raise EnergySimError(f"{source}: {where!r} = {show(v)}: densities other than 1 are not read from Timeloop "
                         f"inputs (pass them to energysim with --densities)")

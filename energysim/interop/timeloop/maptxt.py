"""A mapping read from Timeloop's printed ``map.txt`` (what ``timeloop-mapper`` prints for the best mapping it
found): level headers ``NAME [ DS:tile (tile) ... ]`` outer -> inner, each followed by its loops ``for D in
[0:k)`` outer -> inner, ``(Spatial-X)`` / ``(Spatial-Y)`` for spatial ones, ending in ``<< Compute >>``. The data
spaces listed in a header are the ones that level keeps."""

from __future__ import annotations

import re
from pathlib import Path

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem

_HEADER = re.compile(r"^(?P<name>[A-Za-z_][\w.\-]*)\s*\[(?P<body>[^\]]*)\]\s*$")
_LOOP = re.compile(r"^\|?\s*for\s+(?P<dim>\w+)\s+in\s+\[0:(?P<n>\d+)\)\s*(\((?P<sp>Spatial-[XY])\))?\s*$")


def is_map_txt(path) -> bool:
    """True for a ``.txt`` mapping file (Timeloop's printed mapping), false for YAML."""
    return Path(path).suffix == ".txt"


def mapping_from_map_txt(path: Path, problem: Problem, profile: HardwareProfile) -> Mapping:
    """The mapping printed in ``path`` (module docstring) as our ``Mapping``."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EnergySimError(f"cannot read {src!r}: {getattr(exc, 'strerror', None) or exc}") from None
    names = profile.level_names
    levels: dict[str, dict] = {}
    cur = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or set(line) <= {"-"} or "<< Compute >>" in line:
            continue
        m = _HEADER.match(line)
        if m:
            name = m.group("name")
            if name not in names:
                raise EnergySimError(f"{src}: line {n}: level {name!r} is not a level of the architecture {names}")
            if name in levels:
                raise EnergySimError(f"{src}: line {n}: level {name!r} printed twice")
            keep = []
            for tok in m.group("body").split():
                if ":" in tok:
                    ds = tok.split(":")[0]
                    if ds not in problem.data_space_names:
                        raise EnergySimError(f"{src}: line {n}: unknown data space {ds!r}; the problem has "
                                             f"{problem.data_space_names}")
                    keep.append(ds)
            cur = levels[name] = {"level": name, "temporal": {}, "permutation": [], "spatial_x": {},
                                  "spatial_y": {}, "spatial_permutation": [], "keep": keep}
            continue
        m = _LOOP.match(line)
        if not m:
            raise EnergySimError(f"{src}: line {n}: cannot read {line!r} (expected a level header or "
                                 f"'for D in [0:N)'; imperfect factorizations are not modelled)")
        if cur is None:
            raise EnergySimError(f"{src}: line {n}: a loop before any level header")
        d, k = m.group("dim"), int(m.group("n"))
        if d not in problem.dims:
            raise EnergySimError(f"{src}: line {n}: unknown dimension {d!r}; the problem's are {list(problem.dims)}")
        if m.group("sp"):
            key = "spatial_x" if m.group("sp").endswith("X") else "spatial_y"
            if d in cur[key]:
                raise EnergySimError(f"{src}: line {n}: a second {m.group('sp')} loop over {d} at {cur['level']!r}")
            cur[key][d] = k
            cur["spatial_permutation"].append(d)
        else:
            if d in cur["temporal"]:
                raise EnergySimError(f"{src}: line {n}: a second temporal loop over {d} at {cur['level']!r}")
            cur["temporal"][d] = k
            cur["permutation"].append(d)
    if not levels:
        raise EnergySimError(f"{src}: no level headers found (not a Timeloop map.txt?)")
    for lm in levels.values():
        lm["permutation"] += [d for d in problem.dims if d not in lm["permutation"]]
    return Mapping.from_dict({"levels": [levels[n] for n in names if n in levels]}, source=src)

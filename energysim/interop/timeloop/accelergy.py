"""One of our hardware profiles built from an Accelergy ERT (energies, pJ per action) and optionally an ART
(area, um^2 per instance), with the Timeloop architecture they were made for (sizes, widths, instances,
meshes, bandwidths): what ``energysim profiles from-accelergy`` writes.

Area per storage level becomes ``area_um2_per_bit`` (ART area of one instance / its bits); the MAC's becomes
``mac.area_um2``. Dummy levels and components without an ART entry are an error naming the component.
"""

from __future__ import annotations

from pathlib import Path

from energysim.arch import HardwareProfile
from energysim.arch.profile import DATA_SPACES
from energysim.errors import EnergySimError
from energysim.interop.timeloop.arch import art_areas
from energysim.interop.timeloop.constraints import collect
from energysim.interop.timeloop.keys import join
from energysim.interop.timeloop.run import read_profile
from energysim.interop.timeloop.spec import TimeloopSpec
from energysim.interop.timeloop.values import names


def profile_from_accelergy(arch: list[str | Path], ert: str | Path, art: str | Path | None = None,
                           name: str | None = None, description: str = "") -> HardwareProfile:
    """The profile of the Timeloop architecture files ``arch`` priced with ``ert`` (and ``art``'s areas)."""
    spec = TimeloopSpec.read(arch, {"ERT": ert, "ART": art})
    for key in ("problem", "mapping"):
        spec.sections.pop(key, None)
    prof, targets, node_cons = read_profile(spec)
    d = prof.model_dump(by_alias=True, exclude_none=True)
    d["clock_hz"] = float(f"{d['clock_hz']:.12g}")  # 1 / global_cycle_seconds, without the float noise
    tech = _first(spec.get("architecture"), "technology")
    if tech is not None:
        d["technology"] = str(tech)
    # the data spaces each level keeps, from the spec's dataspace constraints (the mapper honours them)
    for c, src, path in collect(spec.sections, spec.source, node_cons):
        if isinstance(c, dict) and c.get("type") in ("dataspace", "bypass", "datatype"):
            level = targets.get(c.get("target"), c.get("target"))
            keep, byp = names(c.get("keep"), src, join(path, "keep")), names(c.get("bypass"), src, join(path, "bypass"))
            if "keep" in c and "bypass" not in c:
                byp = [x for x in DATA_SPACES if x not in keep]
            for lv in d["levels"]:
                if lv["name"] == level and lv.get("class") != "dummy":
                    lv["keeps"] = [x for x in DATA_SPACES if x not in byp]
    d["name"] = name or prof.name
    d["description"] = description or (f"built from {Path(spec.where('architecture')).name} and the Accelergy "
                                       f"ERT {Path(str(ert)).name}" + (f" / ART {Path(str(art)).name}" if art else ""))
    if art is not None:
        src = spec.where("ART")
        areas = art_areas(spec.get("ART"), src)
        for lv in d["levels"]:
            if lv.get("class") == "dummy":
                continue
            if lv["name"] not in areas:
                raise EnergySimError(f"{src}: no ART entry for component {lv['name']!r} (entries: {sorted(areas)})")
            bits = (lv.get("depth") or 0) * (lv.get("word_bits") or d.get("word_bits") or 8)
            if bits:
                lv["area_um2_per_bit"] = areas[lv["name"]] / bits
        if d["mac"]["name"] not in areas:
            raise EnergySimError(f"{src}: no ART entry for the compute component {d['mac']['name']!r}")
        d["mac"]["area_um2"] = areas[d["mac"]["name"]]
    return HardwareProfile.from_dict(d, source=f"profile from {spec.where('architecture')}")


def _first(data, key: str):
    """The first value of ``key`` in a nested YAML structure (depth first), or None."""
    if isinstance(data, dict):
        if key in data and isinstance(data[key], (str, int, float)):
            return data[key]
        items = data.values()
    elif isinstance(data, list):
        items = data
    else:
        return None
    for v in items:
        found = _first(v, key)
        if found is not None:
            return found
    return None

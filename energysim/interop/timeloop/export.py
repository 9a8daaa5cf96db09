"""Our profile, problems and mappings as Timeloop v4 inputs, so the same design runs in Timeloop (and, read
back by ``timeloop run``, gives our numbers exactly).

* **Architecture** (``nodes``): a top ``!Container`` (clock), one ``!Component`` per storage level (``depth`` in
  rows of ``width`` bits, ``datawidth``, ``block_size``, bandwidths, multiple buffering) and the MAC. Every
  spatial fan-out becomes a ``!Container`` with ``spatial: {meshX, meshY}``: a dummy level of ours named
  ``inter_<X>_spatial`` becomes container ``X`` (Timeloop re-creates the dummy level of that name); a fan-out
  between two storage levels gets a container ``<child>_array`` (Timeloop adds the dummy level
  ``inter_<child>_array_spatial`` there, and the mapping puts the fan-out's spatial loops on it).
* **ERT**: each level's read / write / update / leak energy (pJ per block access, leak per cycle) and the
  MAC's compute energy, as Accelergy would write them.
* **Problem**: dimensions, coefficients, data spaces as projections, bounds.
* **Mapping**: per level a temporal directive (all factors, permutation inner-first), a spatial directive
  (X dimensions first, ``split`` = how many), and a ``dataspace`` keep/bypass directive.

What Timeloop cannot express is an error naming the profile and the feature: NoC hop energies, sparsity
support, capacities split per data space (they would change what fits), energies not in pJ, a dimension
spatial on both X and Y at one fan-out, a level or MAC name holding ``.``, ``[`` or ``]`` (an ERT names a
component ``path.NAME[1..N]``, so such a name would not read back as itself).
"""

from __future__ import annotations

import re

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem


def check_exportable(profile: HardwareProfile) -> None:
    """Raise ``EnergySimError`` for what a Timeloop architecture + ERT cannot hold (module docstring)."""
    why = []
    if profile.energy_unit != "pJ":
        why.append(f"energies are in {profile.energy_unit!r}, an ERT holds pJ")
    if profile.sparsity is not None:
        why.append("it has a sparsity section (Timeloop's dense model would not see it)")
    for lv in profile.levels:
        if lv.network_hop_pj:
            why.append(f"level {lv.name!r} prices NoC hops (network_hop_pj), which an ERT does not hold")
        if lv.capacity_split:
            why.append(f"level {lv.name!r} splits its capacity per data space (capacity_split)")
    for name in [*profile.level_names, profile.mac.name]:
        if re.search(r"[.\[\]]", name):
            why.append(f"the name {name!r} holds '.', '[' or ']', which Timeloop's component names cannot")
    if why:
        raise EnergySimError(f"profile {profile.name!r} cannot be exported to Timeloop: {'; '.join(why)}")


def _array_name(profile: HardwareProfile, i: int) -> tuple[str, str | None]:
    """(container name, dummy level name it replaces or None) for the fan-out below level ``i``."""
    lv = profile.levels[i]
    if lv.cls == "dummy":
        m = re.fullmatch(r"inter_(.+)_spatial", lv.name)
        return (m.group(1) if m else lv.name), lv.name
    child = profile.levels[i + 1].name if i + 1 < len(profile.levels) else profile.mac.name
    return f"{child}_array", None


def level_names(profile: HardwareProfile) -> dict[str, str]:
    """Our level name -> the level that carries its spatial loops in the exported design (Timeloop's
    ``inter_<container>_spatial``); levels without a fan-out map to themselves."""
    out = {}
    for i, lv in enumerate(profile.levels):
        fx, fy = profile.fanout(i)
        if fx * fy > 1 or lv.cls == "dummy":
            name, _ = _array_name(profile, i)
            out[lv.name] = f"inter_{name}_spatial"
        else:
            out[lv.name] = lv.name
    return out


def architecture(profile: HardwareProfile) -> dict:
    """The profile as a Timeloop v4 ``architecture`` (module docstring)."""
    check_exportable(profile)
    nodes: list[dict] = [{"!": "Container", "name": "system",
                          "attributes": {"technology": profile.technology or "-",
                                         "global_cycle_seconds": 1.0 / profile.clock_hz}}]
    for i, lv in enumerate(profile.levels):
        if lv.cls != "dummy":
            word = lv.word_bits or profile.word_bits
            a: dict = {"width": word * lv.block_size, "datawidth": word, "block_size": lv.block_size}
            if lv.depth is not None:
                if lv.depth % lv.block_size:
                    a.pop("width")
                    a["entries"] = lv.depth
                else:
                    a["depth"] = lv.depth // lv.block_size
            for k in ("read_bandwidth", "write_bandwidth"):
                if getattr(lv, k) is not None:
                    a[k] = getattr(lv, k)
            if lv.multiple_buffering != 1:
                a["multiple_buffering"] = lv.multiple_buffering
            cls = {"dram": "DRAM", "sram": "SRAM", "regfile": "regfile"}.get(lv.cls, "storage")
            nodes.append({"!": "Component", "name": lv.name, "class": cls, "attributes": a})
        fx, fy = profile.fanout(i)
        if fx * fy > 1 or lv.cls == "dummy":
            name, _ = _array_name(profile, i)
            nodes.append({"!": "Container", "name": name, "spatial": {"meshX": fx, "meshY": fy}})
    mac = profile.mac
    nodes.append({"!": "Component", "name": mac.name, "class": "intmac",
                  "attributes": {"datawidth": mac.word_bits or profile.word_bits}})
    return {"version": 0.4, "nodes": nodes}


def ert(profile: HardwareProfile) -> dict:
    """The profile's energies as an Accelergy ERT (pJ per block access; leak per cycle per instance)."""
    check_exportable(profile)
    tables = []
    for lv in profile.levels:
        if lv.cls == "dummy":
            continue
        acts = [("read", lv.read_pj), ("write", lv.write_pj), ("update", lv.update_pj), ("leak", lv.leak_pj)]
        tables.append({"name": f"system_top_level.{lv.name}[1..{lv.instances}]",
                       "actions": [{"name": a, "arguments": {}, "energy": float(e)} for a, e in acts]})
    tables.append({"name": f"system_top_level.{profile.mac.name}[1..{profile.mac.instances}]",
                   "actions": [{"name": "compute", "arguments": {}, "energy": float(profile.mac.energy_pj)}]})
    return {"version": 0.4, "tables": tables}


def problem(p: Problem) -> dict:
    """A ``Problem`` as a Timeloop v4 ``problem``."""
    coef = dict(p.coefficients)
    spaces = []
    for ds in p.data_spaces:
        proj = [[[d] if c == 1 else [d, c] for d, c in rank] for rank in ds.ranks]
        spaces.append({"name": ds.name, "projection": proj, **({"read_write": True} if ds.read_write else {})})
    shape = {"name": p.name, "dimensions": list(p.dims), "data_spaces": spaces}
    if coef:
        shape["coefficients"] = [{"name": k, "default": v} for k, v in coef.items()]
    return {"version": 0.4, "shape": shape, "instance": {d: p.bounds[d] for d in p.dims}}


def mapping(m: Mapping, p: Problem, profile: HardwareProfile) -> list[dict]:
    """Our mapping as Timeloop directives, for the architecture ``architecture(profile)`` writes."""
    m.validate_for(p, profile)
    keeps = m.keeps(p, profile)
    names = level_names(profile)
    out: list[dict] = []
    for i, lm in enumerate(m.resolved(profile)):
        lv = profile.levels[i]
        order = list(lm.permutation) + [d for d in p.dims if d not in lm.permutation]
        fac = lambda f: " ".join(f"{d}={f.get(d, 1)}" for d in p.dims)  # noqa: E731
        if lv.cls != "dummy":
            out.append({"target": lv.name, "type": "temporal", "factors": fac(lm.temporal),
                        "permutation": "".join(reversed(order)) if all(len(d) == 1 for d in p.dims)
                        else list(reversed(order))})
            out.append({"target": lv.name, "type": "dataspace", "keep": sorted(keeps[i]),
                        "bypass": [d for d in p.data_space_names if d not in keeps[i]]})
        elif lm.temporal and any(f != 1 for f in lm.temporal.values()):
            raise EnergySimError(f"mapping: dummy level {lv.name!r} has temporal loops {lm.temporal}")
        if lm.spatial_x or lm.spatial_y:
            both = set(lm.spatial_x) & set(lm.spatial_y)
            if both:
                raise EnergySimError(f"mapping level {lv.name!r}: dimension(s) {sorted(both)} are spatial on both "
                                     f"X and Y, which one Timeloop spatial directive cannot express")
            xs, ys = list(lm.spatial_x), list(lm.spatial_y)
            perm = xs + ys + [d for d in p.dims if d not in xs + ys]
            out.append({"target": names[lv.name], "type": "spatial", "factors": fac(lm.spatial()),
                        "permutation": "".join(perm) if all(len(d) == 1 for d in p.dims) else perm,
                        "split": len(xs)})
    return out

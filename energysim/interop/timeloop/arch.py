"""A Timeloop v0.4 processed ``architecture`` and its ERT (Accelergy's energy reference table) as our
``HardwareProfile``."""

from __future__ import annotations

import re

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError

_INST = re.compile(r"^(?P<name>[^\[]+)(\[(?P<lo>\d+)\.\.(?P<hi>\d+)\])?$")


def _flatten(node: dict, out: list[dict]) -> None:
    for comp in node.get("local", []) or []:
        out.append(comp)
    for sub in node.get("subtree", []) or []:
        _flatten(sub, out)


def _ert_tables(ert: dict) -> dict[str, dict[str, float]]:
    out = {}
    for t in (ert.get("ERT") or ert).get("tables", []):
        name = re.sub(r"\[\d+\.\.\d+\]$", "", str(t["name"])).split(".")[-1]
        acts = {}
        for a in t.get("actions", []):
            # older ERTs list one entry per argument set (repeated vs random access): price the random one,
            # which is the most expensive, as Timeloop's vector access energy does
            acts[a["name"]] = max(acts.get(a["name"], 0.0), float(a["energy"]))
        out[name] = acts
    return out


def profile_from_timeloop(spec: dict, ert: dict, name: str = "timeloop") -> HardwareProfile:
    """A ``HardwareProfile`` from a Timeloop v0.4 processed ``architecture`` and its ERT."""
    arch = spec.get("architecture", spec)
    comps: list[dict] = []
    for top in arch.get("subtree", []):
        _flatten(top, comps)
    tables = _ert_tables(ert)
    levels, mac = [], None
    cycle_s = None
    for top in arch.get("subtree", []):
        cycle_s = (top.get("attributes") or {}).get("global_cycle_seconds", cycle_s)
    for comp in comps:
        m = _INST.match(str(comp["name"]))
        lname = m.group("name")
        n = int(m.group("hi")) - int(m.group("lo")) + 1 if m.group("hi") else 1
        attrs = comp.get("attributes") or {}
        cls = str(comp.get("class", "")).lower()
        acts = tables.get(lname, {})
        mx, my = int(attrs.get("meshX", 1)), int(attrs.get("meshY", 1))
        if mx * my != n:
            mx, my = n // my if n % my == 0 else n, my if n % my == 0 else 1
        mac_acts = [a for a in acts if a == "compute" or a.startswith("mac")]
        if mac_acts or ("mac" in cls and "dummy" not in cls):
            # older ERTs name the action mac_random / mac_reused; Timeloop prices a compute as the random one
            e = acts.get("compute", acts.get("mac_random", max((acts[a] for a in mac_acts), default=0.0)))
            mac = {"name": lname, "energy_pj": e, "instances": n, "mesh_x": mx, "mesh_y": my}
            continue
        if "dummy" in cls:
            levels.append({"name": lname, "class": "dummy", "instances": n, "mesh_x": mx, "mesh_y": my})
            continue
        width = attrs.get("width")
        datawidth = attrs.get("datawidth", attrs.get("word_bits", width))
        block = max(1, int(width) // int(datawidth)) if width and datawidth else int(attrs.get("block_size", 1))
        depth = attrs.get("depth")
        if depth is None and attrs.get("size") not in (None, "-"):
            depth = int(attrs["size"]) // block  # 'size' is in words; depth counts rows of ``block`` words
        kind = "dram" if "dram" in cls else ("regfile" if "rf" in cls or "regfile" in cls else "sram")
        lv = {
            "name": lname, "class": kind, "instances": n, "mesh_x": mx, "mesh_y": my, "block_size": block,
            "depth": None if (depth is None or kind == "dram") else int(depth) * block,
            "word_bits": int(datawidth) if datawidth else None,
            "read_pj": acts.get("read", 0.0), "write_pj": acts.get("write", 0.0),
            "update_pj": acts.get("update", acts.get("write", 0.0)), "leak_pj": acts.get("leak", 0.0),
            "multiple_buffering": float(attrs.get("multiple_buffering", 1) or 1),
        }
        for a, k in (("read_bandwidth", "read_bandwidth"), ("write_bandwidth", "write_bandwidth")):
            if attrs.get(a) not in (None, "-"):
                lv[k] = float(attrs[a])
        levels.append(lv)
    if mac is None:
        raise EnergySimError("timeloop architecture: no compute (MAC) component found")
    clock = 1.0 / float(cycle_s) if cycle_s else 1e9
    return HardwareProfile.from_dict(
        {"name": name, "clock_hz": clock, "word_bits": 8, "levels": levels, "mac": mac},
        source=f"timeloop architecture {name!r}",
    )

"""Timeloop interop: read a Timeloop v0.4 case folder, run our engine on the same problem, architecture and
mapping, and compare with Timeloop's own numbers.

A case folder holds ``parsed-processed-input.yaml`` (the input that produced the numbers), an ERT
(``*.ERT.yaml``: pJ per action, per block access), the printed ``*.stats.txt`` and, for mapper runs whose
processed input has no mapping, ``*.map.yaml``. ``case.json`` (our structured copy) is used when stats.txt is
absent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energysim.model.counts import LayerStats, evaluate
from energysim.errors import EnergySimError
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.arch.profile import HardwareProfile

_INST = re.compile(r"^(?P<name>[^\[]+)(\[(?P<lo>\d+)\.\.(?P<hi>\d+)\])?$")


# ---------------------------------------------------------------------------------------------------------
# architecture + ERT -> HardwareProfile
# ---------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------
# reference numbers
# ---------------------------------------------------------------------------------------------------------
def parse_stats_txt(text: str) -> dict:
    """Per-level numbers printed by timeloop-model: ``{level: {"data_spaces": {ds: {reads, fills, updates,
    energy_pj, instances}}, "leak_pj": .., "energy_pj": ..}}`` plus ``"_mac"`` and ``"_summary"``."""
    out: dict = {}
    cur = None
    ds = None
    for line in text.splitlines():
        m = re.match(r"^=== (.+) ===$", line.strip())
        if m and line.startswith("==="):
            cur = out.setdefault(m.group(1), {"data_spaces": {}})
            ds = None
            continue
        if line.startswith("Summary Stats"):
            cur = out.setdefault("_summary", {})
            ds = None
            continue
        if cur is None:
            continue
        s = line.strip()
        m = re.match(r"^(\w+):$", s)
        if m and line.startswith("    ") and not line.startswith("        "):
            ds = cur["data_spaces"].setdefault(m.group(1), {})
            continue
        m = re.match(r"^([^:]+?)\s*:\s*([-\d.e+]+)", s)
        if not m:
            continue
        key, val = m.group(1), m.group(2)
        try:
            v = float(val)
        except ValueError:
            continue
        if ds is not None:
            keymap = {"Scalar reads (per-instance)": "reads", "Scalar fills (per-instance)": "fills",
                      "Scalar updates (per-instance)": "updates", "Energy (total)": "energy_pj",
                      "Utilized instances (max)": "instances"}
            if key in keymap:
                ds[keymap[key]] = v
        else:
            keymap = {"Leakage energy (total)": "leak_pj", "Energy (total)": "energy_pj",
                      "Computes (total)": "computes", "Utilized instances": "instances", "Cycles": "cycles"}
            if key in keymap:
                cur[keymap[key]] = v
    return out


def _reference_from_case_json(case: dict) -> dict:
    out: dict = {}
    for lname, v in case["results"]["per_level_printed"].items():
        st = v.get("stats", {})
        d = {"data_spaces": {}, "cycles": st.get("cycles")}
        if "computes_total" in st:
            d["computes"] = st["computes_total"]
            d["energy_pj"] = st.get("energy_total_pJ")
        for ds, s in v.get("per_dataspace", {}).items():
            d["data_spaces"][ds] = {"reads": s["scalar_reads_per_instance"], "fills": s["scalar_fills_per_instance"],
                                    "updates": s["scalar_updates_per_instance"], "energy_pj": s["energy_total_pJ"],
                                    "instances": s["utilized_instances_max"]}
        out[lname] = d
    for lv in case.get("architecture", {}).get("levels_outer_to_inner", []):
        sp = lv.get("specs_printed", {})
        if "leakage_energy_total_pJ" in sp and lv["name"] in out:
            out[lv["name"]]["leak_pj"] = sp["leakage_energy_total_pJ"]
    return out


# ---------------------------------------------------------------------------------------------------------
# a case
# ---------------------------------------------------------------------------------------------------------
@dataclass
class TimeloopCase:
    """A Timeloop case folder, read into our objects."""

    path: Path
    problem: Problem
    profile: HardwareProfile
    mapping: Mapping
    reference: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "TimeloopCase":
        path = Path(path)
        if not path.is_dir():
            raise EnergySimError(f"timeloop case {str(path)!r}: not a directory")
        inp = path / "parsed-processed-input.yaml"
        if not inp.is_file():
            raise EnergySimError(f"timeloop case {str(path)!r}: no parsed-processed-input.yaml")
        spec = _load_yaml(inp)
        erts = sorted(p for p in path.glob("*.ERT.yaml"))
        if not erts:
            raise EnergySimError(f"timeloop case {str(path)!r}: no *.ERT.yaml")
        ert = _load_yaml(erts[0])
        problem = Problem.from_timeloop(spec)
        profile = profile_from_timeloop(spec, ert, name=path.name)
        entries = spec.get("mapping") or []
        if not entries:
            maps = sorted(path.glob("*.map.yaml"))
            if not maps:
                raise EnergySimError(f"timeloop case {str(path)!r}: the processed input has no mapping and there "
                                     f"is no *.map.yaml")
            entries = _load_yaml(maps[0]).get("mapping") or []
        mapping = Mapping.from_timeloop(entries, problem, profile)
        stats = sorted(path.glob("*.stats.txt"))
        if stats:
            ref = parse_stats_txt(stats[0].read_text())
        elif (path / "case.json").is_file():
            ref = _reference_from_case_json(json.loads((path / "case.json").read_text()))
        else:
            ref = {}
        return cls(path, problem, profile, mapping, ref)

    def evaluate(self) -> LayerStats:
        return evaluate(self.problem, self.profile, self.mapping, name=self.path.name)

    def compare(self, stats: LayerStats | None = None, energy_rtol: float = 1e-3) -> "Comparison":
        """Ours vs Timeloop: counts must be equal, energy per level within ``energy_rtol``."""
        stats = stats or self.evaluate()
        rows = []
        ok = True
        if not self.reference:
            raise EnergySimError(f"timeloop case {str(self.path)!r}: no reference numbers (stats.txt or case.json)")
        ours_level = stats.energy_by_level
        for lv in self.profile.levels:
            ref = self.reference.get(lv.name)
            if lv.cls == "dummy":
                continue
            ref_ds = (ref or {}).get("data_spaces", {})
            names = [d for d in self.problem.data_space_names
                     if d in ref_ds or stats.count(lv.name, d, "reads") or any(
                         r["level"] == lv.name and r["dataspace"] == d for r in stats.rows)]
            for d in names:
                for what in ("reads", "fills", "updates"):
                    o = stats.count(lv.name, d, what)
                    r = ref_ds.get(d, {}).get(what)
                    match = r is not None and int(r) == o
                    ok &= match
                    rows.append((lv.name, d, what, o, r, match))
            if ref is not None:
                ref_e = sum(v.get("energy_pj", 0.0) for v in ref_ds.values()) + (ref.get("leak_pj") or 0.0)
                o = ours_level[lv.name]
                match = abs(o - ref_e) <= energy_rtol * max(abs(ref_e), 1e-9) + 0.01
                ok &= match
                rows.append((lv.name, "*", "energy_pj", o, ref_e, match))
        mac_ref = self.reference.get(self.profile.mac.name, {})
        if "computes" in mac_ref:
            match = int(mac_ref["computes"]) == stats.macs
            ok &= match
            rows.append((self.profile.mac.name, "*", "macs", stats.macs, mac_ref["computes"], match))
        if "energy_pj" in mac_ref:
            e = mac_ref["energy_pj"]
            match = abs(stats.mac_energy_pj - e) <= energy_rtol * max(abs(e), 1e-9) + 0.01
            ok &= match
            rows.append((self.profile.mac.name, "*", "energy_pj", stats.mac_energy_pj, e, match))
        return Comparison(self.path.name, ok, rows)


@dataclass
class Comparison:
    """Result of comparing one case: ``rows`` of (level, data_space, quantity, ours, reference, match)."""

    case: str
    ok: bool
    rows: list[tuple]

    def to_text(self) -> str:
        lines = [f"== {self.case}: {'MATCH' if self.ok else 'MISMATCH'}",
                 f"   {'level':<24} {'data space':<10} {'quantity':<10} {'ours':>18} {'timeloop':>18}"]
        for lv, d, q, o, r, m in self.rows:
            fo = f"{o:,.2f}" if isinstance(o, float) else f"{o:,}"
            fr = "-" if r is None else (f"{r:,.2f}" if q == "energy_pj" else f"{int(r):,}")
            lines.append(f"   {lv:<24} {d:<10} {q:<10} {fo:>18} {fr:>18}{'' if m else '   <-- differs'}")
        return "\n".join(lines)


def _load_yaml(p: Path) -> dict:
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise EnergySimError(f"{str(p)!r} is not valid YAML: {exc}") from None


def check_cases(paths: list[str | Path]) -> list[Comparison]:
    """Load, evaluate and compare each case folder."""
    return [TimeloopCase.load(p).compare() for p in paths]

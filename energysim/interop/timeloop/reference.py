"""Timeloop's own numbers for a case: parsed from ``timeloop-model.stats.txt``, or read from ``case.json``."""

from __future__ import annotations

import re

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


def reference_from_case_json(case: dict) -> dict:
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

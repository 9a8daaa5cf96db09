"""Timeloop's own numbers for a case: parsed from ``timeloop-model.stats.txt``, or read from ``case.json``;
both give ``{level: {"data_spaces": {ds: {reads, fills, updates, energy_pj, instances}}, "leak_pj", "cycles",
"computes", "energy_pj"}, "_summary": {"cycles", "utilization_pct"}}``. ``check_reference`` rejects a reference
that lacks what a comparison needs (a truncated file), naming the file and what is missing."""

from __future__ import annotations

import re

from energysim.errors import EnergySimError

_DS_KEYS = {"Scalar reads (per-instance)": "reads", "Scalar fills (per-instance)": "fills",
            "Scalar updates (per-instance)": "updates", "Energy (total)": "energy_pj",
            "Utilized instances (max)": "instances"}
_LEVEL_KEYS = {"Leakage energy (total)": "leak_pj", "Energy (total)": "energy_pj", "Computes (total)": "computes",
               "Utilized instances": "instances", "Cycles": "cycles"}
_SUMMARY_KEYS = {"Cycles": "cycles", "Utilization": "utilization_pct"}


def parse_stats_txt(text: str) -> dict:
    """Per-level numbers printed by timeloop-model (see the module docstring)."""
    out: dict = {}
    cur = None
    ds = None
    keys = _LEVEL_KEYS
    for line in text.splitlines():
        m = re.match(r"^=== (.+) ===$", line.strip())
        if m and line.startswith("==="):
            cur = out.setdefault(m.group(1), {"data_spaces": {}})
            ds, keys = None, _LEVEL_KEYS
            continue
        if line.startswith("Summary Stats"):
            cur = out.setdefault("_summary", {})
            ds, keys = None, _SUMMARY_KEYS
            continue
        if cur is None:
            continue
        s = line.strip()
        m = re.match(r"^(\w+):$", s)
        if m and line.startswith("    ") and not line.startswith("        ") and keys is _LEVEL_KEYS:
            ds = cur["data_spaces"].setdefault(m.group(1), {})
            continue
        m = re.match(r"^([^:]+?)\s*:\s*([-\d.e+]+)", s)
        if not m:
            continue
        try:
            v = float(m.group(2))
        except ValueError:
            continue
        table = _DS_KEYS if ds is not None else keys
        if m.group(1) in table:
            (ds if ds is not None else cur)[table[m.group(1)]] = v
    return out


def reference_from_case_json(case: dict, source: str = "case.json") -> dict:
    """The reference numbers of a ``case.json`` (its ``results`` section)."""
    try:
        results = case["results"]
        levels = results["per_level_printed"]
        summary = results["summary_printed"]
        out: dict = {"_summary": {"cycles": summary["cycles"], "utilization_pct": summary["utilization_pct"]}}
        for lname, v in levels.items():
            st = v["stats"]
            d = {"data_spaces": {}, "cycles": st.get("cycles")}
            if "computes_total" in st:
                d["computes"] = st["computes_total"]
                d["energy_pj"] = st["energy_total_pJ"]
            for ds, s in v.get("per_dataspace", {}).items():
                d["data_spaces"][ds] = {"reads": s["scalar_reads_per_instance"],
                                        "fills": s["scalar_fills_per_instance"],
                                        "updates": s["scalar_updates_per_instance"],
                                        "energy_pj": s["energy_total_pJ"], "instances": s["utilized_instances_max"],
                                        "partition_size": s.get("partition_size")}
            out[lname] = d
    except KeyError as exc:
        raise EnergySimError(f"{source}: the results lack {exc.args[0]!r} (truncated or not a case.json?)") from None
    except (TypeError, AttributeError):
        raise EnergySimError(f"{source}: 'results' does not have the case.json layout") from None
    for lv in case.get("architecture", {}).get("levels_outer_to_inner", []):
        sp = lv.get("specs_printed", {})
        if "leakage_energy_total_pJ" in sp and lv.get("name") in out:
            out[lv["name"]]["leak_pj"] = sp["leakage_energy_total_pJ"]
    return out


def check_reference(ref: dict, storage: list[str], mac: str, source: str) -> None:
    """Raise ``EnergySimError`` when ``ref`` lacks a number the comparison needs (``storage``: the level names
    that hold data, ``mac``: the compute level)."""
    where = f"reference {source}"
    summary = ref.get("_summary") or {}
    missing = [k for k in ("cycles", "utilization_pct") if k not in summary]
    if missing:
        raise EnergySimError(f"{where}: no {' and '.join(missing)} in the summary (a truncated stats file?)")
    for name in [*storage, mac]:
        if name not in ref:
            raise EnergySimError(f"{where}: no numbers for level {name!r} (a truncated file, or not this "
                                 f"architecture?)")
        if ref[name].get("cycles") is None:
            raise EnergySimError(f"{where}: level {name!r} has no Cycles (a truncated file?)")
    for key in ("computes", "energy_pj"):
        if key not in ref[mac]:
            raise EnergySimError(f"{where}: the compute level {mac!r} has no {key} (a truncated file?)")
    for name in storage:
        for ds, v in ref[name]["data_spaces"].items():
            lack = [k for k in ("reads", "fills", "updates", "energy_pj") if v.get(k) is None]
            if lack:
                raise EnergySimError(f"{where}: level {name!r}, data space {ds}: no {', '.join(lack)} "
                                     f"(a truncated file?)")

"""Timeloop's own numbers for a case: parsed from ``timeloop-model.stats.txt``, or read from ``case.json``;
both give ``{level: {"data_spaces": {ds: {reads, fills, updates, energy_pj, instances}}, "leak_pj", "cycles",
"computes", "energy_pj"}, "_summary": {"cycles", "utilization_pct"}}``. ``check_reference`` rejects a reference
that lacks what a comparison needs (a truncated file), holds a number that is not one (NaN, a fractional count),
or numbers a level or data space the case does not have, naming the file, the field and the value."""

from __future__ import annotations

import re

from energysim.errors import EnergySimError
from energysim.interop.timeloop.values import number

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
        m = re.match(r"^([^:]+?)\s*:\s*(.*)$", s)
        table = _DS_KEYS if ds is not None else keys
        if not m or m.group(1) not in table:
            continue
        num = re.match(r"[-\d.e+]+", m.group(2))
        try:
            v = float(num.group(0)) if num else m.group(2)
        except ValueError:
            v = m.group(2)  # kept as printed: check_reference names it, rather than calling the file truncated
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


#: case.json keys of the reference numbers (errors name the field as the file writes it)
_JSON_DS = {"reads": "scalar_reads_per_instance", "fills": "scalar_fills_per_instance",
            "updates": "scalar_updates_per_instance", "energy_pj": "energy_total_pJ"}
_JSON_LEVEL = {"cycles": "cycles", "computes": "computes_total", "energy_pj": "energy_total_pJ"}
#: printed stats.txt labels of the same numbers
_PRINTED = {k: label for table in (_SUMMARY_KEYS, _LEVEL_KEYS, _DS_KEYS) for label, k in table.items()}


def _field(source: str, level: str, ds: str | None, key: str) -> str:
    if source.endswith(".json"):
        if level == "_summary":
            return f"results.summary_printed.{key}"
        if key == "leak_pj":
            return f"architecture.levels_outer_to_inner[name={level}].specs_printed.leakage_energy_total_pJ"
        if ds is not None:
            return f"results.per_level_printed.{level}.per_dataspace.{ds}.{_JSON_DS[key]}"
        return f"results.per_level_printed.{level}.stats.{_JSON_LEVEL[key]}"
    return " / ".join(["Summary Stats" if level == "_summary" else level, *([ds] if ds else []), _PRINTED[key]])


def check_reference(ref: dict, storage: list[str], mac: str, source: str, levels: list[str] | None = None,
                    data_spaces: list[str] | None = None) -> None:
    """Raise ``EnergySimError`` when ``ref`` lacks a number the comparison needs (``storage``: the level names
    that hold data, ``mac``: the compute level), holds one that is not a finite number >= 0 (a whole one for
    counts), or -- where ``levels`` (every level of the case) and ``data_spaces`` are given -- numbers a level or
    data space the case does not have (it would be silently left out of the comparison)."""
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
    for name in [*storage, mac, "_summary"]:
        lv = ref[name]
        for key in ("cycles", "computes", "energy_pj", "leak_pj", "utilization_pct"):
            if lv.get(key) is not None:
                _number(lv[key], where, source, name, None, key)
        for ds, v in lv.get("data_spaces", {}).items() if name in storage else ():
            for key in ("reads", "fills", "updates", "energy_pj"):
                _number(v[key], where, source, name, ds, key)
    for name, lv in ref.items():
        if levels is not None and name != "_summary" and name not in levels:
            raise EnergySimError(f"{where}: numbers for level {name!r}, which the architecture does not have (it "
                                 f"has {levels})")
        bad = [d for d in (lv.get("data_spaces") or {}) if data_spaces is not None and d not in data_spaces]
        if bad:
            raise EnergySimError(f"{where}: level {name!r} has numbers for data space(s) {bad}, which the problem "
                                 f"does not have (it has {data_spaces})")


def _number(v, where: str, source: str, level: str, ds: str | None, key: str) -> None:
    # a count compared after int() would let 48.7 reads match 48
    whole = key in ("reads", "fills", "updates", "cycles", "computes")
    number(v, where, _field(source, level, ds, key), least=0, whole=whole)

"""A case given as ``case.json`` alone: our structured copy of a Timeloop run carries the workload, the
architecture (class and attributes of every level, the printed specs, the ERT energies), the mapping fed to
Timeloop and its results. This module turns it into the same Timeloop-shaped inputs the folder reader uses
(problem, architecture, ERT, mapping), so both paths share one reader, and checks that the printed specs
agree with what the attributes give (block size, word bits, size, instances, mesh, bandwidths).

Keys are read strictly (``keys.py``): the descriptive sections (``case``, ``what_it_checks``, ``caveats``,
``source``, notes) are free; everything else must be known.
"""

from __future__ import annotations

import json
from pathlib import Path

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.files import read_text
from energysim.interop.timeloop.keys import ANY, check, show
from energysim.interop.timeloop.values import number

_SPECS = ("technology", "size", "word_bits", "block_size", "cluster_size", "instances", "instances_mesh",
          "shared_bandwidth", "read_bandwidth", "write_bandwidth", "multiple_buffering", "effective_size",
          "min_utilization", "vector_access_energy_pJ", "vector_access_energy_source",
          "per_instance_cycle_leakage_pJ", "instances_sharing_power_gating", "non_power_gated_utilization_pct",
          "leakage_energy_total_pJ", "area_um2", "compute_energy_pJ")
_SPECS_XML = ("name", "technology", "size", "word_bits", "addr_gen_bits", "block_size", "cluster_size", "instances",
              "meshX", "meshY", "multiple_buffering", "min_utilization", "num_ports", "num_banks",
              "power_gated_at_name")
_DS_PRINTED = ("partition_size", "utilized_capacity", "utilized_instances_max", "utilized_clusters_max",
               "scalar_reads_per_instance", "scalar_fills_per_instance", "scalar_updates_per_instance",
               "temporal_reductions_per_instance", "address_generations_per_cluster", "energy_per_scalar_access_pJ",
               "energy_per_instance_pJ", "energy_total_pJ", "temporal_reduction_energy_per_instance_pJ",
               "temporal_reduction_energy_total_pJ", "address_generation_energy_per_cluster_pJ",
               "address_generation_energy_total_pJ", "bandwidth_consumption_scale",
               "shared_bandwidth_per_instance_words_per_cycle", "shared_bandwidth_total_words_per_cycle",
               "read_bandwidth_per_instance_words_per_cycle", "read_bandwidth_total_words_per_cycle",
               "write_bandwidth_per_instance_words_per_cycle", "write_bandwidth_total_words_per_cycle")
_LEVEL_STATS = ("utilized_instances", "computes_total", "cycles", "energy_total_pJ", "area_total_um2",
                "bandwidth_throttling")
_SUMMARY = ("gflops_1ghz", "_printed", "utilization_pct", "cycles", "energy_uJ", "edp_j_cycle", "area_mm2",
            "Computes", "fJ/Compute")

#: Everything a case.json may hold. Workload shape, attributes and mapping directives are checked by the
#: problem, architecture and mapping readers (with their v0.3 spellings).
SCHEMA = {
    "case": ANY, "what_it_checks": ANY, "caveats": ANY, "source": ANY, "semantics": ANY,
    "workload": {"shape_name": ANY, "dimensions": ANY, "instance": ANY, "coefficients": ANY, "data_spaces": ANY,
                 "data-spaces": ANY, "note_projection": ANY, "product_of_dimension_bounds": ANY,
                 "tensor_sizes_printed_at_outermost_level": ANY},
    "architecture": {
        "levels_outer_to_inner": [{
            "name": ANY, "timeloop_printed_level_index": ANY, "kind": ANY,
            "specs_printed": dict.fromkeys(_SPECS, ANY),
            "class_and_attributes": {"full_name": ANY, "class": ANY, "attributes": ANY},
            "ert": {"ert_table_name": ANY, "actions_pJ": {"*": ANY}, "source": ANY, "estimators": ANY,
                    "per_word_pJ_derived": ANY}}],
        "non_printed_levels_from_xml": [{"name": ANY, "specs_xml": dict.fromkeys(_SPECS_XML, ANY)}],
        "note": ANY},
    "mapping": {"per_level_outer_to_inner_from_map_txt": ANY, "mapping_directives": ANY,
                "mapping_directives_source": ANY, "permutation_convention": ANY},
    "results": {"summary_printed": dict.fromkeys(_SUMMARY, ANY),
                "per_level_printed": {"*": {"stats": dict.fromkeys(_LEVEL_STATS, ANY),
                                            "per_dataspace": {"*": dict.fromkeys(_DS_PRINTED, ANY)},
                                            "loop_nest_printed": ANY}},
                "networks_printed": ANY, "operational_intensity_printed": ANY, "xml_full_precision": ANY,
                "derived_not_printed": ANY},
}


def read_case_json(path: Path) -> dict:
    """The parsed ``case.json``; unreadable, truncated or non-JSON files are one clear error."""
    def literal(name):
        # Python's json reads NaN / Infinity, which are not JSON: a NaN count would compare unequal to anything
        raise EnergySimError(f"{str(path)!r}: {name} is not a JSON number (write the number Timeloop printed)")

    def unique(pairs):
        # json keeps the last of two equal keys: the first would be dropped unseen
        seen = [k for k, _ in pairs]
        twice = sorted({k for k in seen if seen.count(k) > 1}) if len(set(seen)) < len(seen) else []
        if twice:
            raise EnergySimError(f"{str(path)!r}: key(s) {twice} given twice in one object")
        return dict(pairs)

    try:
        case = json.loads(read_text(path), parse_constant=literal, object_pairs_hook=unique)
    except json.JSONDecodeError as exc:
        raise EnergySimError(f"{str(path)!r} is not valid JSON (truncated?): {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}") from None
    if not isinstance(case, dict):
        raise EnergySimError(f"{str(path)!r}: expected a JSON object, got {type(case).__name__}")
    check(case, SCHEMA, str(path))
    return case


def _need(d: dict, key: str, source: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise EnergySimError(f"{source}: {where}.{key} is missing (the case.json cannot be evaluated alone)")
    return d[key]


def timeloop_inputs(case: dict, source: str) -> tuple[dict, dict, dict, dict, list, dict[str, str]]:
    """From a checked case.json, in Timeloop's own shapes: (problem shape, instance, architecture, ERT,
    mapping directives, component name -> key path of its class and attributes in the case.json)."""
    w = _need(case, "workload", source, "case")
    shape = {"name": w.get("shape_name", "problem"), "dimensions": _need(w, "dimensions", source, "workload"),
             "coefficients": w.get("coefficients") or []}
    for key in ("data_spaces", "data-spaces"):
        if key in w:
            shape[key] = w[key]
    instance = _need(w, "instance", source, "workload")

    arch = _need(case, "architecture", source, "case")
    printed = _need(arch, "levels_outer_to_inner", source, "architecture")
    index = {lv.get("name"): j for j, lv in enumerate(printed)}
    hidden = {lv.get("name"): lv for lv in arch.get("non_printed_levels_from_xml") or []}
    order = _level_order(case, printed, hidden, source)
    comps, tables, paths = [], [], {}
    for name in order:
        if name in hidden:
            sx = hidden[name].get("specs_xml") or {}
            where = f"architecture.non_printed_levels_from_xml[{name}].specs_xml"
            n = number(_need(sx, "instances", source, where), source, f"{where}.instances", least=1, whole=True)
            comps.append({"name": f"{name}[1..{n}]", "class": "dummy_storage",
                          "attributes": {"meshX": sx.get("meshX", n), "meshY": sx.get("meshY", 1)}})
            continue
        lv = printed[index[name]]
        where = f"architecture.levels_outer_to_inner[{index[name]}]"
        if lv.get("kind") not in ("storage", "compute"):
            raise EnergySimError(f"{source}: {where}.kind = {show(lv.get('kind'))}: expected storage or compute")
        ca = _need(lv, "class_and_attributes", source, where)
        sp = _need(lv, "specs_printed", source, where)
        n = number(_need(sp, "instances", source, f"{where}.specs_printed"), source, f"{where}.specs_printed.instances",
                   least=1, whole=True)
        comps.append({"name": f"{name}[1..{n}]", "class": _need(ca, "class", source, f"{where}.class_and_attributes"),
                      "attributes": dict(ca.get("attributes") or {})})
        paths[comps[-1]["name"]] = f"{where}.class_and_attributes"
        ert = _need(lv, "ert", source, where)
        acts = _need(ert, "actions_pJ", source, f"{where}.ert")
        for a, e in acts.items():
            number(e, source, f"{where}.ert.actions_pJ.{a}", least=0)  # named here, not as the ERT built from it
        tables.append({"name": name, "actions": [{"name": a, "energy": e} for a, e in acts.items()]})
    architecture = {"subtree": [{"name": "system", "local": comps}]}
    mapping = _need(_need(case, "mapping", source, "case"), "mapping_directives", source, "mapping")
    return shape, instance, architecture, {"ERT": {"tables": tables}}, mapping, paths


def _level_order(case: dict, printed: list, hidden: dict, source: str) -> list[str]:
    """Level names outer -> inner, dummy levels included: the XML's level list (inner -> outer) when there
    is one, else the printed level indices (which cannot place dummy levels)."""
    index = [number(lv.get("timeloop_printed_level_index", 0), source,
                    f"architecture.levels_outer_to_inner[{j}].timeloop_printed_level_index", least=0, whole=True)
             for j, lv in enumerate(printed)]
    by_index = [lv.get("name") for _, lv in sorted(zip(index, printed), key=lambda p: -p[0])]
    xml = ((case.get("results") or {}).get("xml_full_precision") or {}).get("levels")
    if not xml:
        if hidden:
            raise EnergySimError(f"{source}: results.xml_full_precision.levels is missing, so the non-printed "
                                 f"levels {sorted(hidden)} cannot be placed in the hierarchy")
        return by_index
    order = [lv.get("name") for lv in reversed(xml)]
    known = set(by_index) | set(hidden)
    if set(order) != known or len(order) != len(known):
        raise EnergySimError(f"{source}: results.xml_full_precision.levels {order} do not list the architecture's "
                             f"levels {sorted(known)}")
    if [n for n in order if n not in hidden] != by_index:
        raise EnergySimError(f"{source}: the printed level order {by_index} disagrees with the XML's {order}")
    return order


def check_printed_specs(case: dict, profile: HardwareProfile, source: str) -> None:
    """The printed specs of every level must be what the attributes give (else the case.json contradicts
    itself, and we would evaluate something other than what Timeloop ran)."""
    levels = {lv.name: lv for lv in profile.levels}
    for j, lv in enumerate(case["architecture"]["levels_outer_to_inner"]):
        sp, name = lv.get("specs_printed") or {}, lv.get("name")
        where = f"architecture.levels_outer_to_inner[{j}].specs_printed"
        if lv.get("kind") == "compute":
            m = profile.mac
            ours = {"instances": m.instances, "instances_mesh": f"{m.mesh_x or m.instances // m.mesh_y}*{m.mesh_y}"}
        else:
            s = levels[name]
            ours = {"block_size": s.block_size, "word_bits": s.word_bits, "size": s.depth if s.depth else "-",
                    "instances": s.instances, "instances_mesh": f"{s.mesh_x or s.instances // s.mesh_y}*{s.mesh_y}",
                    "read_bandwidth": s.read_bandwidth or "-", "write_bandwidth": s.write_bandwidth or "-",
                    "multiple_buffering": s.multiple_buffering}
        for key, v in ours.items():
            if key not in sp:
                continue
            p = sp[key]
            same = p == v if isinstance(p, str) or isinstance(v, str) else float(p) == float(v)
            if not same:
                raise EnergySimError(f"{source}: {where}.{key} = {show(p)} but the level's class and attributes "
                                     f"give {show(v)}")

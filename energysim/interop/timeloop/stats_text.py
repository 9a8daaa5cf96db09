"""Our numbers for one mapped problem as Timeloop prints them in ``timeloop-model.stats.txt``: the same
headings, keys and units (counts per instance, energies in pJ, totals over utilized instances), so a user can
diff the two files, and ``reference.parse_stats_txt`` reads ours back. Only what our model computes is
printed (no address generation, no network stats, no area)."""

from __future__ import annotations

from energysim.arch import HardwareProfile
from energysim.interop.timeloop.semantics import level_cycles
from energysim.model.stats import LayerStats


def _kv(key: str, value, indent: int = 4, width: int = 41) -> str:
    return f"{' ' * indent}{key:<{width}}: {value}"


def stats_text(stats: LayerStats, profile: HardwareProfile, mapping_text: str = "") -> str:
    """Timeloop-style stats text of ``stats`` (module docstring). ``mapping_text``: the mapping as
    ``Mapping.to_text`` prints it (Timeloop's ``map.txt``), appended at the end."""
    compute = int(stats.extra.get("compute_cycles", stats.cycles))
    cycles = level_cycles(stats, profile)
    util = stats.extra.get("utilized_instances", {})
    out = ["Buffer and Arithmetic Levels", "----------------------------", "Level 0", "-------",
           f"=== {profile.mac.name} ===", "", "    SPECS", "    -----",
           _kv("Instances", f"{profile.mac.instances} ({profile.mac.mesh_x}*{profile.mac.mesh_y})", 8, 24),
           _kv("Compute energy", f"{profile.mac.energy_pj:.2f} pJ", 8, 24), "", "    STATS", "    -----",
           _kv("Utilized instances (max)", util.get(profile.mac.name, stats.macs // max(compute, 1)), 4, 24),
           _kv("Computes (total)", stats.macs, 4, 24), _kv("Cycles", compute, 4, 24),
           _kv("Energy (total)", f"{stats.mac_energy:.2f} pJ", 4, 24), ""]
    printed = [lv for lv in profile.levels if lv.cls != "dummy"]
    for k, lv in enumerate(reversed(printed), start=1):
        rows = [r for r in stats.rows if r["level"] == lv.name]
        out += [f"Level {k}", "-------", f"=== {lv.name} ===", "", "    SPECS", "    -----",
                _kv("Size", lv.depth if lv.depth else "-", 8, 24),
                _kv("Word bits", lv.word_bits or profile.word_bits, 8, 24),
                _kv("Block size", lv.block_size, 8, 24),
                _kv("Instances", f"{lv.instances} ({lv.mesh_x}*{lv.mesh_y})", 8, 24),
                _kv("Read bandwidth", lv.read_bandwidth or "-", 8, 24),
                _kv("Write bandwidth", lv.write_bandwidth or "-", 8, 24),
                _kv("Multiple buffering", f"{lv.multiple_buffering:.2f}", 8, 24),
                _kv("Vector read energy", f"{lv.read_pj:.2f} pJ", 8, 24),
                _kv("Vector write energy", f"{lv.write_pj:.2f} pJ", 8, 24),
                _kv("Vector update energy", f"{lv.update_pj:.2f} pJ", 8, 24),
                _kv("Leakage energy (total)", f"{stats.leak.get(lv.name, 0.0):.2f} pJ", 8, 24), "",
                "    STATS", "    -----", _kv("Cycles", cycles[lv.name], 4, 20), ""]
        for r in rows:
            out += [f"    {r['dataspace']}:",
                    _kv("Utilized instances (max)", r["instances"], 8),
                    _kv("Scalar reads (per-instance)", r["reads"], 8),
                    _kv("Scalar fills (per-instance)", r["fills"], 8),
                    _kv("Scalar updates (per-instance)", r["updates"], 8),
                    _kv("Energy (per-instance)", f"{r['energy'] / max(r['instances'], 1):.2f} pJ", 8),
                    _kv("Energy (total)", f"{r['energy']:.2f} pJ", 8)]
        out.append("")
    total = stats.energy
    out += ["", "Summary Stats", "-------------",
            f"GFLOPs (@1GHz): {stats.macs * 2 / max(stats.cycles, 1):.2f}",
            f"Utilization: {100 * stats.utilization:.2f}%", f"Cycles: {stats.cycles}",
            f"Energy: {total / 1e6:.2f} uJ", "", f"Computes = {stats.macs}", "fJ/Compute"]
    per = stats.energy_by_level
    for lv in printed:
        out.append(f"    {lv.name:<30}= {1000 * per.get(lv.name, 0.0) / max(stats.macs, 1):.2f}")
    out.append(f"    {profile.mac.name:<30}= {1000 * stats.mac_energy / max(stats.macs, 1):.2f}")
    out.append(f"    {'Total':<30}= {1000 * total / max(stats.macs, 1):.2f}")
    if mapping_text:
        out += ["", "Mapping", "-------", mapping_text]
    return "\n".join(out) + "\n"

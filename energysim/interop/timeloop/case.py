"""A Timeloop case: read it, run our engine on the same problem, architecture and mapping, and compare with
Timeloop's own numbers (every read, fill and update count, energy per level, cycles per level and in total,
utilization).

A case is either a folder of Timeloop's files -- ``parsed-processed-input.yaml`` (the input that produced the
numbers), an ERT (``*.ERT.yaml``: pJ per action, per block access), the printed ``*.stats.txt`` and, for mapper
runs whose processed input has no mapping, ``*.map.yaml`` -- or our structured ``case.json`` alone (a folder
holding only it, or the file itself), which carries all of these. A folder with both is evaluated from
Timeloop's files and compared with ``stats.txt``.

``case.json`` may say which Timeloop's rules produced its numbers (``"semantics": "2020"`` or ``"2024"``,
see ``semantics.py``); without it, and for plain folders, today's (``2024``) are used unless the caller says
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.arch import profile_from_timeloop
from energysim.interop.timeloop.casejson import check_printed_specs, read_case_json, timeloop_inputs
from energysim.interop.timeloop.files import load_mapping, read_text
from energysim.interop.timeloop.keys import show, unknown
from energysim.interop.timeloop.mapping import mapping_from_timeloop
from energysim.interop.timeloop.problem import problem_from_parts, problem_from_timeloop
from energysim.interop.timeloop.reference import check_reference, parse_stats_txt, reference_from_case_json
from energysim.interop.timeloop.semantics import DEFAULT, apply_2020, check_semantics, level_cycles
from energysim.model.counts import evaluate
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats

#: Top-level sections of a processed input: read, or (mapper, front end, Accelergy) not part of the model.
_READ = ("architecture", "problem", "mapping")
_IGNORED = ("dumped_by_timeloop_front_end", "architecture_constraints", "compound_components", "mapper", "mapspace",
            "globals", "variables", "components")
_EMPTY_ONLY = ("sparse_optimizations",)


def check_rtol(value) -> float:
    """A relative energy tolerance: a finite number >= 0 (a string is parsed)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise EnergySimError(f"energy tolerance {value!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise EnergySimError(f"energy tolerance {value!r} must be a finite number >= 0")
    return v


@dataclass
class TimeloopCase:
    """A Timeloop case, read into our objects. ``semantics`` is what the case declares (None: not said);
    ``inputs`` and ``reference_source`` say which files were read."""

    path: Path
    problem: Problem
    profile: HardwareProfile
    mapping: Mapping
    reference: dict = field(default_factory=dict)
    semantics: str | None = None
    inputs: str = ""
    reference_source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "TimeloopCase":
        path = Path(path)
        if path.is_file() and path.suffix == ".json":
            return cls._from_case_json(path.parent, path)
        if not path.is_dir():
            raise EnergySimError(f"timeloop case {str(path)!r}: not a directory (or a case.json file)")
        if _present(path / "parsed-processed-input.yaml"):
            return cls._from_folder(path)
        if _present(path / "case.json"):
            return cls._from_case_json(path, path / "case.json")
        raise EnergySimError(f"timeloop case {str(path)!r}: no parsed-processed-input.yaml and no case.json")

    @classmethod
    def _from_folder(cls, path: Path) -> "TimeloopCase":
        inp = path / "parsed-processed-input.yaml"
        spec = load_mapping(inp)
        src = str(inp)
        for k, v in spec.items():
            if k in _EMPTY_ONLY and v:
                raise EnergySimError(f"{src}: {k!r} = {show(v)}: sparse optimizations are not read from Timeloop "
                                     f"inputs")
            if k not in _READ + _IGNORED + _EMPTY_ONLY:
                raise unknown(src, k, v, _READ + _IGNORED + _EMPTY_ONLY)
        ert = _only(path, "*.ERT.yaml")
        if ert is None:
            raise EnergySimError(f"timeloop case {str(path)!r}: no *.ERT.yaml")
        problem = problem_from_timeloop(spec, source=src)
        profile = profile_from_timeloop(spec, load_mapping(ert), name=path.name, source=src, ert_source=str(ert))
        entries, msrc = spec.get("mapping"), src
        if not entries:
            map_file = _only(path, "*.map.yaml")
            if map_file is None:
                raise EnergySimError(f"timeloop case {str(path)!r}: the processed input has no mapping and there "
                                     f"is no *.map.yaml")
            entries, msrc = load_mapping(map_file), str(map_file)
        mapping = mapping_from_timeloop(entries, problem, profile, source=msrc)
        semantics, ref, ref_src = None, {}, ""
        stats = _only(path, "*.stats.txt")
        case_json = path / "case.json"
        if _present(case_json):
            case = read_case_json(case_json)
            semantics = _declared(case, case_json)
            if stats is None:
                ref, ref_src = reference_from_case_json(case, str(case_json)), str(case_json)
        if stats is not None:
            ref, ref_src = parse_stats_txt(read_text(stats)), str(stats)
        used = [inp.name, ert.name] + ([Path(msrc).name] if msrc != src else [])
        return cls(path, problem, profile, mapping, ref, semantics, " + ".join(used), ref_src)

    @classmethod
    def _from_case_json(cls, path: Path, case_json: Path) -> "TimeloopCase":
        src = str(case_json)
        case = read_case_json(case_json)
        shape, instance, arch, ert, entries, paths = timeloop_inputs(case, src)
        problem = problem_from_parts(shape, instance, src, "workload", "workload.instance")
        name = case.get("case") or path.name
        profile = profile_from_timeloop(arch, ert, name=str(name), source=src, ert_source=f"{src} (ert)",
                                        paths=paths)
        check_printed_specs(case, profile, src)
        mapping = mapping_from_timeloop(entries, problem, profile, source=src, path="mapping.mapping_directives")
        ref = reference_from_case_json(case, src)
        return cls(path, problem, profile, mapping, ref, _declared(case, case_json), case_json.name, src)

    @property
    def name(self) -> str:
        return self.path.name

    def evaluate(self, semantics: str | None = None) -> LayerStats:
        """Our engine on this case, under ``semantics`` (default: what the case declares, else today's)."""
        sem = check_semantics(semantics or self.semantics or DEFAULT)
        stats = evaluate(self.problem, self.profile, self.mapping, name=self.name)
        if sem == "2020":
            stats = apply_2020(stats, self.problem, self.profile, self.mapping)
        return stats

    def compare(self, stats: LayerStats | None = None, energy_rtol: float = 1e-3,
                semantics: str | None = None) -> "Comparison":
        """Ours vs Timeloop: counts, cycles and MACs equal, energy per level within ``energy_rtol`` (+0.01 pJ
        for the printed rounding), utilization within the printed 0.01 %."""
        energy_rtol = check_rtol(energy_rtol)
        sem = check_semantics(semantics or self.semantics or DEFAULT)
        if not self.reference:
            raise EnergySimError(f"timeloop case {str(self.path)!r}: no reference numbers (stats.txt or case.json)")
        storage = [lv.name for lv in self.profile.levels if lv.cls != "dummy"]
        check_reference(self.reference, storage, self.profile.mac.name, self.reference_source or str(self.path),
                        [*self.profile.level_names, self.profile.mac.name], self.problem.data_space_names)
        stats = stats or self.evaluate(sem)
        rows: list[tuple] = []

        def add(level, ds, what, ours, ref, match):
            rows.append((level, ds, what, ours, ref, bool(match)))

        def close(o, r):
            return abs(o - r) <= energy_rtol * max(abs(r), 1e-9) + 0.01

        ours_level = stats.energy_by_level
        cycles = level_cycles(stats, self.profile)
        for lv in self.profile.levels:
            if lv.cls == "dummy":
                continue
            ref = self.reference[lv.name]
            ref_ds = ref.get("data_spaces", {})
            names = [d for d in self.problem.data_space_names
                     if d in ref_ds or any(r["level"] == lv.name and r["dataspace"] == d for r in stats.rows)]
            for d in names:
                for what in ("reads", "fills", "updates"):
                    o = stats.count(lv.name, d, what)
                    r = ref_ds.get(d, {}).get(what)
                    add(lv.name, d, what, o, r, r is not None and int(r) == o)
            ref_e = sum(v.get("energy_pj", 0.0) for v in ref_ds.values()) + (ref.get("leak_pj") or 0.0)
            add(lv.name, "*", "energy_pj", ours_level[lv.name], ref_e, close(ours_level[lv.name], ref_e))
            add(lv.name, "*", "cycles", cycles[lv.name], ref["cycles"], int(ref["cycles"]) == cycles[lv.name])
        mac, mac_ref = self.profile.mac.name, self.reference[self.profile.mac.name]
        add(mac, "*", "macs", stats.macs, mac_ref["computes"], int(mac_ref["computes"]) == stats.macs)
        add(mac, "*", "energy_pj", stats.mac_energy, mac_ref["energy_pj"], close(stats.mac_energy, mac_ref["energy_pj"]))
        compute = int(stats.extra.get("compute_cycles", stats.cycles))
        add(mac, "*", "cycles", compute, mac_ref["cycles"], int(mac_ref["cycles"]) == compute)
        summary = self.reference["_summary"]
        add("total", "*", "cycles", stats.cycles, summary["cycles"], int(summary["cycles"]) == stats.cycles)
        util = 100.0 * stats.utilization
        add("total", "*", "util_pct", util, summary["utilization_pct"],
            abs(util - float(summary["utilization_pct"])) <= 0.005 + 1e-9)
        return Comparison(self.name, all(r[5] for r in rows), rows, sem, self.inputs, self.reference_source)


@dataclass
class Comparison:
    """Result of comparing one case: ``rows`` of (level, data_space, quantity, ours, reference, match)."""

    case: str
    ok: bool
    rows: list[tuple]
    semantics: str = DEFAULT
    inputs: str = ""
    reference: str = ""

    def to_text(self) -> str:
        lines = [f"== {self.case}: {'MATCH' if self.ok else 'MISMATCH'} (semantics {self.semantics}; "
                 f"read {self.inputs or '?'}; compared with {Path(self.reference).name or '?'})",
                 f"   {'level':<24} {'data space':<10} {'quantity':<10} {'ours':>18} {'timeloop':>18}"]
        for lv, d, q, o, r, m in self.rows:
            fo = f"{o:,.2f}" if isinstance(o, float) else f"{o:,}"
            fr = "-" if r is None else (f"{float(r):,.2f}" if q in ("energy_pj", "util_pct") else f"{int(r):,}")
            lines.append(f"   {lv:<24} {d:<10} {q:<10} {fo:>18} {fr:>18}{'' if m else '   <-- differs'}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"case": self.case, "ok": self.ok, "semantics": self.semantics, "inputs": self.inputs,
                "reference": self.reference,
                "rows": [{"level": lv, "dataspace": d, "quantity": q, "ours": o, "timeloop": r, "match": m}
                         for lv, d, q, o, r, m in self.rows]}


def _present(p: Path) -> bool:
    """True for a regular file, False where nothing is; anything else there (a folder, a broken link) is an
    error, not a reason to read another input instead."""
    if p.is_file():
        return True
    if p.exists() or p.is_symlink():
        raise EnergySimError(f"timeloop case: {str(p)!r} is not a regular file")
    return False


def _only(folder: Path, pattern: str) -> Path | None:
    """The one file of ``folder`` matching ``pattern`` (None: none); two are ambiguous, never a silent pick."""
    found = sorted(folder.glob(pattern))
    if len(found) > 1:
        raise EnergySimError(f"timeloop case {str(folder)!r}: {len(found)} {pattern} files "
                             f"({', '.join(f.name for f in found)}); keep only the one of this case")
    return found[0] if found else None


def _declared(case: dict, path: Path) -> str | None:
    if "semantics" not in case:
        return None
    return check_semantics(case["semantics"], f"{str(path)}: 'semantics'")


def check_cases(paths: list[str | Path], semantics: str | None = None, energy_rtol: float = 1e-3) -> list[Comparison]:
    """Load, evaluate and compare each case (``semantics``: override what each case declares)."""
    return [TimeloopCase.load(p).compare(energy_rtol=energy_rtol, semantics=semantics) for p in paths]

"""A Timeloop v0.4 case folder: read it, run our engine on the same problem, architecture and mapping, and
compare with Timeloop's own numbers.

A case folder holds ``parsed-processed-input.yaml`` (the input that produced the numbers), an ERT
(``*.ERT.yaml``: pJ per action, per block access), the printed ``*.stats.txt`` and, for mapper runs whose
processed input has no mapping, ``*.map.yaml``. ``case.json`` (our structured copy) is used when stats.txt is
absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.arch import profile_from_timeloop
from energysim.interop.timeloop.mapping import mapping_from_timeloop
from energysim.interop.timeloop.problem import problem_from_timeloop
from energysim.interop.timeloop.reference import parse_stats_txt, reference_from_case_json
from energysim.model.counts import evaluate
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats


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
        problem = problem_from_timeloop(spec)
        profile = profile_from_timeloop(spec, ert, name=path.name)
        entries = spec.get("mapping") or []
        if not entries:
            maps = sorted(path.glob("*.map.yaml"))
            if not maps:
                raise EnergySimError(f"timeloop case {str(path)!r}: the processed input has no mapping and there "
                                     f"is no *.map.yaml")
            entries = _load_yaml(maps[0]).get("mapping") or []
        mapping = mapping_from_timeloop(entries, problem, profile)
        stats = sorted(path.glob("*.stats.txt"))
        if stats:
            ref = parse_stats_txt(stats[0].read_text())
        elif (path / "case.json").is_file():
            ref = reference_from_case_json(json.loads((path / "case.json").read_text()))
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
            match = abs(stats.mac_energy - e) <= energy_rtol * max(abs(e), 1e-9) + 0.01
            ok &= match
            rows.append((self.profile.mac.name, "*", "energy_pj", stats.mac_energy, e, match))
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

"""``timeloop run``: a user's Timeloop input files (v4 ``nodes`` or v0.3/v0.4 ``subtree`` architectures,
problems, mappings or mapspace constraints) with an Accelergy ERT, evaluated by our engine -- or mapped by our
mapper -- without building Timeloop.

Energies come from the ERT (pJ per block access; ``--ert`` or an ``ERT`` section in one of the files); without
one, the error names the first component whose energy is missing. Area, when an ART is given, is the sum over
components of the ART's area (um^2 per instance) times the instances.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from energysim.analysis.report import EnergyReport
from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.arch import art_areas, profile_from_timeloop
from energysim.interop.timeloop.constraints import check, collect, honour
from energysim.interop.timeloop.mapping import mapping_from_timeloop
from energysim.interop.timeloop.maptxt import is_map_txt, mapping_from_map_txt
from energysim.interop.timeloop.nodes import flatten_nodes, is_v4
from energysim.interop.timeloop.problem import problem_from_timeloop
from energysim.interop.timeloop.spec import TimeloopSpec
from energysim.interop.timeloop.stats_text import stats_text
from energysim.model.counts import evaluate
from energysim.model.layer_energy import LayerEnergy
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats


@dataclass
class TimeloopRun:
    """One evaluated Timeloop spec: our objects, the engine's stats, and how the mapping was obtained
    (``given`` or ``search``; constraints relaxed on request are listed in ``relaxed``)."""

    problem: Problem
    profile: HardwareProfile
    mapping: Mapping
    stats: LayerStats
    how: str
    files: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    area_um2: float | None = None

    @classmethod
    def load(cls, paths: list[str | Path], ert: str | Path | None = None, art: str | Path | None = None,
             mapping: str | Path | None = None, search: bool = False, relax: bool = False,
             objective: str = "energy", options=None) -> "TimeloopRun":
        """Read and evaluate a spec (module docstring). ``mapping`` may be a YAML mapping or Timeloop's printed
        ``map.txt``; ``search`` maps with our mapper under the spec's constraints (``relax``: search without
        those it cannot honour, listed in ``relaxed``)."""
        if search and mapping is not None:
            raise EnergySimError("give either --mapping or --search, not both")
        txt_map = mapping if mapping is not None and is_map_txt(mapping) else None
        spec = TimeloopSpec.read(paths, {"ERT": ert, "ART": art, "mapping": None if txt_map else mapping})
        problem = _problem(spec)
        profile, targets, node_cons = read_profile(spec)
        cons = collect(spec.sections, spec.source, node_cons)
        if not search:
            check(cons, problem, profile, targets)  # unused, but read: a typo there is an error, not ignored
        relaxed: list[str] = []
        if search:
            from energysim.mapping.search import MapperOptions, search as run_search

            h = honour(cons, problem, profile, targets, relax)
            relaxed = h.relaxed
            prof = h.profile(profile)
            base = options or MapperOptions()
            temporal = h.mapper_options()
            if h.spatial is not None or h.keeps or temporal:
                # a constrained search: the profile's keeps (as constrained), the allowed spatial dimensions and
                # the temporal factors and loop orders; not the template mapping, which ignores them
                spatial = h.spatial or {"X": tuple(problem.dims), "Y": tuple(problem.dims)}
                base = _replace(base, spatial=tuple(sorted(spatial.items())), include_template=False, **temporal)
            res = run_search(problem, prof, None, objective, options=base)
            m, how, profile, msrc = res.mapping, "search", prof, "search"
        elif txt_map is not None:
            m, how, msrc = mapping_from_map_txt(Path(txt_map), problem, profile), "given", str(txt_map)
        else:
            entries = spec.get("mapping")
            if entries is None:
                raise EnergySimError("no mapping: give a mapping file (--mapping MAP.yaml, or Timeloop's map.txt) "
                                     "or --search")
            msrc = spec.where("mapping")
            m = mapping_from_timeloop(entries, problem, profile, source=msrc, targets=targets)
            how = "given"
        try:
            m.validate_for(problem, profile)  # imperfect factorization, tiles that overflow a level, ...
        except EnergySimError as exc:
            raise EnergySimError(f"{msrc}: {exc}") from None
        stats = evaluate(problem, profile, m, name=problem.name)
        area = _area(spec, profile) if "ART" in spec.sections else None
        return cls(problem, profile, m, stats, how, spec.files, relaxed, area)

    def layer_energy(self) -> LayerEnergy:
        return LayerEnergy.from_stats(self.problem.name, "timeloop", self.stats, self.profile)

    def report(self) -> EnergyReport:
        """Our usual report (one layer: the problem)."""
        return EnergyReport(self.problem.name, self.profile.name, f"timeloop ({self.how} mapping)", 1,
                            [self.layer_energy()], self.profile.energy_unit)

    def to_dict(self) -> dict:
        """The report's JSON plus ``macs``, ``cycles``, ``utilization``, Timeloop's per-instance counts per
        level and data space (``timeloop.levels``), the mapping, area and relaxed constraints."""
        d = self.report().to_dict()
        levels: dict = {}
        for r in self.stats.rows:
            levels.setdefault(r["level"], {})[r["dataspace"]] = {
                "reads": r["reads"], "fills": r["fills"], "updates": r["updates"],
                "utilized_instances": r["instances"], "energy_pj": r["energy"]}
        d.update({"macs": self.stats.macs, "cycles": self.stats.cycles, "utilization": self.stats.utilization,
                  "mapping_source": self.how, "relaxed_constraints": list(self.relaxed), "inputs": self.files,
                  "area_um2": self.area_um2,
                  "timeloop": {"levels": levels, "mapping": self.mapping.to_text(self.problem, self.profile)}})
        return d

    def stats_text(self) -> str:
        """Timeloop-style ``stats.txt`` text (``stats_text.py``)."""
        return stats_text(self.stats, self.profile, self.mapping.to_text(self.problem, self.profile))


def _replace(options, **kw):
    import dataclasses

    return dataclasses.replace(options, **kw)


def _problem(spec: TimeloopSpec) -> Problem:
    if "problem" not in spec.sections:
        raise EnergySimError(f"no 'problem' section in {', '.join(spec.files) or 'the inputs'}")
    return problem_from_timeloop({"problem": spec.get("problem")}, source=spec.where("problem"))


def read_profile(spec: TimeloopSpec) -> tuple[HardwareProfile, dict[str, str], list]:
    """The architecture with the ERT's energies, the mapping target names (v4 containers) and the node
    constraints."""
    if "architecture" not in spec.sections:
        raise EnergySimError(f"no 'architecture' section in {', '.join(spec.files) or 'the inputs'}")
    src = spec.where("architecture")
    arch = spec.get("architecture")
    targets: dict[str, str] = {}
    node_cons: list = []
    paths = None
    if is_v4(arch):
        arch, targets, node_cons, paths = flatten_nodes(arch, src)
    name = Path(src).name.split(".")[0] or "timeloop"
    ert = spec.get("ERT")
    if ert is None:
        try:
            profile_from_timeloop(arch, {"ERT": {"tables": []}}, name=name, source=src, paths=paths)
        except EnergySimError as exc:
            msg = str(exc)
            m = re.search(r"(?:storage level|for) '([^']+)'", msg)
            comp = m.group(1) if m else None
            if comp is None:
                raise
            raise EnergySimError(f"{src}: no energy for component {comp!r}: no ERT given (pass --ert ERT.yaml, "
                                 f"Accelergy's energy reference table, or an ERT section)") from None
        raise EnergySimError(f"{src}: no ERT given (pass --ert ERT.yaml)")
    prof = profile_from_timeloop(arch, {"ERT": ert}, name=name, source=src, ert_source=spec.where("ERT"),
                                 paths=paths)
    return prof, targets, node_cons


def _area(spec: TimeloopSpec, profile: HardwareProfile) -> float:
    """Total area (um^2) from the ART: per component, area per instance x instances."""
    src = spec.where("ART")
    area = art_areas(spec.get("ART"), src)
    total = 0.0
    for lv in [*profile.levels, profile.mac]:
        if getattr(lv, "cls", "") == "dummy":
            continue
        if lv.name not in area:
            raise EnergySimError(f"{src}: no ART entry for component {lv.name!r} (entries: {sorted(area)})")
        total += area[lv.name] * lv.instances
    return total

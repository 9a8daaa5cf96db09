"""Timeloop interop: Timeloop problems, architectures (with Accelergy ERTs) and mappings (v0.4, and v0.3
spellings) read strictly into our objects, and whole cases (a folder of Timeloop's files, or ``case.json``
alone) evaluated with our engine under today's or Timeloop 2020's rules and compared with Timeloop's numbers."""

from energysim.interop.timeloop.arch import profile_from_timeloop
from energysim.interop.timeloop.case import Comparison, TimeloopCase, check_cases, check_rtol
from energysim.interop.timeloop.mapping import mapping_from_timeloop
from energysim.interop.timeloop.problem import problem_from_timeloop
from energysim.interop.timeloop.reference import parse_stats_txt, reference_from_case_json
from energysim.interop.timeloop.semantics import SEMANTICS, apply_2020, level_cycles

__all__ = ["Comparison", "SEMANTICS", "TimeloopCase", "apply_2020", "check_cases", "check_rtol", "level_cycles",
           "mapping_from_timeloop", "parse_stats_txt", "problem_from_timeloop", "profile_from_timeloop",
           "reference_from_case_json"]

"""Timeloop interop: Timeloop v0.4 problems, architectures (with Accelergy ERTs) and mappings read into our
objects, and whole case folders evaluated with our engine and compared with Timeloop's printed numbers."""

from energysim.interop.timeloop.arch import profile_from_timeloop
from energysim.interop.timeloop.case import Comparison, TimeloopCase, check_cases
from energysim.interop.timeloop.mapping import mapping_from_timeloop
from energysim.interop.timeloop.problem import problem_from_timeloop
from energysim.interop.timeloop.reference import parse_stats_txt, reference_from_case_json

__all__ = ["Comparison", "TimeloopCase", "check_cases", "mapping_from_timeloop", "parse_stats_txt",
           "problem_from_timeloop", "profile_from_timeloop", "reference_from_case_json"]

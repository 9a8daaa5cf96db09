"""Which mapping a dataflow name means: a template (``rs``, ``ws``, ``os``, ``nlr``: a greedy tiling of that
dataflow, ``energysim.mapping.templates``) or a mapping search (``search``: free; ``rs-search``, ``ws-search``,
``os-search``: constrained to that dataflow; energy objective; ``energysim.mapping.search``)."""

from __future__ import annotations

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.mapping.templates import DATAFLOWS as TEMPLATE_DATAFLOWS, map_problem
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem

SEARCH_DATAFLOWS: tuple[str, ...] = ("search", "rs-search", "ws-search", "os-search")
#: Every name ``estimate`` accepts, templates first.
DATAFLOW_NAMES: tuple[str, ...] = (*TEMPLATE_DATAFLOWS, *SEARCH_DATAFLOWS)


def check_dataflow(name: str) -> str:
    """``name`` if it is a dataflow ``mapping_for`` knows, else an ``EnergySimError`` listing the choices."""
    if name not in DATAFLOW_NAMES:
        raise EnergySimError(f"unknown dataflow {name!r}; choose one of {list(DATAFLOW_NAMES)}")
    return name


def mapping_for(problem: Problem, profile: HardwareProfile, dataflow: str) -> Mapping:
    """The mapping ``dataflow`` names (see the module docstring)."""
    if dataflow.endswith("search"):
        # the search is imported only when asked: it is the larger part of the mapping stage
        from energysim.mapping.search import search_mapping

        return search_mapping(problem, profile, dataflow)
    return map_problem(problem, profile, dataflow)

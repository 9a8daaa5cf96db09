"""Which mapping a dataflow name means.

- ``rs``, ``ws``, ``os``: the mapping search constrained to that dataflow (its spatial dimensions and PE-level
  keeps; energy objective; ``energysim.mapping.search``). ``rs-search``, ``ws-search``, ``os-search`` are the
  same searches under their older names. ``search``: the free search.
- ``rs-template``, ``ws-template``, ``os-template``, ``nlr-template``: the fixed greedy tiling of that dataflow
  (``energysim.mapping.templates``): fast, but on real layers up to several times the searched energy
  (docs/results/templates.md).
- ``nlr``: the no-local-reuse template (the search has no no-local-reuse constraint), the same as
  ``nlr-template``.

``resolve`` says which of the two a name is; ``mapping_for`` makes the mapping."""

from __future__ import annotations

import json

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.mapping.templates import DATAFLOWS as _TEMPLATES, map_problem
from energysim.model.mapping import Mapping
from energysim.model.problem import Problem

#: Dataflows the search can be constrained to (``energysim.mapping.search.CONSTRAINTS``).
_CONSTRAINED = ("rs", "ws", "os")
#: Names that mean a fixed template (``map_problem`` takes each of them).
TEMPLATE_DATAFLOWS: tuple[str, ...] = (*(f"{t}-template" for t in _TEMPLATES),
                                       *(t for t in _TEMPLATES if t not in _CONSTRAINED))
#: Names that mean a mapping search (``energysim.mapping.search.search`` takes each of them).
SEARCH_DATAFLOWS: tuple[str, ...] = (*_CONSTRAINED, "search", *(f"{c}-search" for c in _CONSTRAINED))
#: Every name ``estimate`` accepts: the searches first (``rs`` is the default), then the templates.
DATAFLOW_NAMES: tuple[str, ...] = (*SEARCH_DATAFLOWS, *TEMPLATE_DATAFLOWS)


def check_dataflow(name: str) -> str:
    """``name`` if it is a dataflow ``mapping_for`` knows, else an ``EnergySimError`` listing the choices."""
    if name not in DATAFLOW_NAMES:
        raise EnergySimError(f"unknown dataflow {name!r}; choose one of {list(DATAFLOW_NAMES)}")
    return name


def resolve(name: str) -> tuple[str, str | None]:
    """``("search", constraint)`` (constraint ``rs``/``ws``/``os``, or None for the free search) or
    ``("template", template)`` (``rs``/``ws``/``os``/``nlr``) for a dataflow name; unknown names are an error."""
    check_dataflow(name)
    if name in TEMPLATE_DATAFLOWS:
        return "template", name.removesuffix("-template")
    return "search", (None if name == "search" else name.removesuffix("-search"))


def is_search(name: str) -> bool:
    """Whether dataflow ``name`` runs the mapping search (False for templates; unknown names are an error)."""
    return resolve(name)[0] == "search"


def row_stationary(name: str | None) -> bool:
    """Whether dataflow ``name`` maps layers row-stationary (``rs``, ``rs-search``, ``rs-template``); None (no
    dataflow given) counts as row stationary, as the codebook costs' default does."""
    return name is None or (name in DATAFLOW_NAMES and resolve(name)[1] == "rs")


def expect(problems: list[Problem], dataflow: str) -> None:
    """Tell the mapping search which problems ``mapping_for`` is about to be asked for: with many distinct shapes
    to search it loads its compiled kernels up front (``accel.expect``). Nothing for a template."""
    if resolve(dataflow)[0] == "search":
        from energysim.mapping.search import accel
        from energysim.mapping.search.cache import SearchCache

        accel.expect(len({json.dumps(SearchCache.shape(p), sort_keys=True) for p in problems}))


def mapping_for(problem: Problem, profile: HardwareProfile, dataflow: str) -> Mapping:
    """The mapping ``dataflow`` names (see the module docstring)."""
    kind, base = resolve(dataflow)
    if kind == "search":
        # the search is imported only when asked: it is the larger part of the mapping stage
        from energysim.mapping.search import search_mapping

        return search_mapping(problem, profile, "search" if base is None else base)
    return map_problem(problem, profile, dataflow)

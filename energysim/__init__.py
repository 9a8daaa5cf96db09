"""energysim: a dataflow-level energy simulator for CNN inference on Eyeriss-style accelerators.

workload (traced model graph) -> mapping (loop nest per memory level) -> counts (reads/fills/updates per
level and data space, Timeloop semantics) -> energy (pJ, priced by a hardware profile) -> report.

Units: counts in words, energies in pJ, capacities in words, widths in bits, time in cycles.

``import energysim`` does not import torch, pandas or matplotlib: torch is imported when a model is traced
(``trace``, ``trace_model``) or the ``zoo`` is used, pandas when a table is built (reports, ``to_frame``).
"""

from energysim.errors import EnergySimError
from energysim.workload import Layer, Network
from energysim.workload.trace import trace, trace_model
from energysim.model.problem import DataSpace, Problem
from energysim.arch import HardwareProfile, MacUnit, StorageLevel, list_profiles, load_profile
from energysim.model.mapping import LevelMapping, Loop, Mapping
from energysim.model.counts import evaluate
from energysim.model.stats import LayerStats
from energysim.mapping.templates import DATAFLOWS, map_problem
from energysim.analysis.report import EnergyReport
from energysim.model.layer_energy import LayerEnergy
from energysim.analysis.estimate import estimate, estimate_layer

# imported on first use (module-level __getattr__): name -> submodule
_LAZY = {
    "zoo": "workload.zoo",  # the submodule itself (torch)
    "CodebookRecord": "costs.codebook.record",
    "paper_metric": "analysis.paper_metric",
    "paper_metric_total": "analysis.paper_metric",
    "TimeloopCase": "interop.timeloop",
    "check_cases": "interop.timeloop",
}

__all__ = [
    "CodebookRecord", "DATAFLOWS", "DataSpace", "EnergyReport", "EnergySimError", "HardwareProfile", "Layer",
    "LayerEnergy", "LayerStats", "LevelMapping", "Loop", "MacUnit", "Mapping", "Network", "Problem",
    "StorageLevel", "TimeloopCase", "check_cases", "estimate", "estimate_layer", "evaluate", "list_profiles",
    "load_profile", "map_problem", "paper_metric", "paper_metric_total", "trace", "trace_model", "zoo",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    mod = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = mod if name == "zoo" else getattr(mod, name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def from_onnx(path, batch=None, **kw):
    """Build a ``Network`` from an ONNX file (needs the ``onnx`` extra). See ``energysim.workload.onnx``."""
    from energysim.workload.onnx import from_onnx as _from_onnx

    return _from_onnx(path, batch=batch, **kw)

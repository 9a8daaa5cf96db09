"""energysim: a dataflow-level energy simulator for DNN inference (CNNs, transformers, any einsum) on Eyeriss-style
accelerators.

workload (traced model graph) -> mapping (loop nest per memory level) -> counts (reads/fills/updates per
level and data space, Timeloop semantics) -> energy (pJ, priced by a hardware profile) -> report.

Units: counts in words, energies in pJ, capacities in words, widths in bits, time in cycles.

``import energysim`` imports nothing heavy: each public name below is imported on first use (a module-level
``__getattr__``), so the command line's light commands (``energysim models``, ``energysim profiles``) do not pay
for numpy, pydantic or the mapper, and nothing imports torch, pandas or matplotlib until it is needed: torch
when a model is traced (``trace``, ``trace_model``) or the ``zoo`` is used, pandas when a table is built
(reports, ``to_frame``), matplotlib when a figure is drawn.
"""

from energysim.errors import EnergySimError

#: Public name -> the submodule (relative to this package) that defines it; imported on first use.
_LAZY = {
    "Layer": "workload",
    "Network": "workload",
    "trace": "workload.trace",
    "trace_model": "workload.trace",
    "DataSpace": "model.problem",
    "Problem": "model.problem",
    "HardwareProfile": "arch",
    "MacUnit": "arch",
    "StorageLevel": "arch",
    "list_profiles": "arch",
    "load_profile": "arch",
    "LevelMapping": "model.mapping",
    "Loop": "model.mapping",
    "Mapping": "model.mapping",
    "evaluate": "model.counts",
    "LayerStats": "model.stats",
    "DATAFLOWS": "mapping.templates",
    "map_problem": "mapping.templates",
    "EnergyReport": "analysis.report",
    "LayerEnergy": "model.layer_energy",
    "estimate": "analysis.estimate",
    "estimate_layer": "analysis.estimate",
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
    "StorageLevel", "TimeloopCase", "check_cases", "estimate", "estimate_layer", "evaluate", "from_onnx",
    "list_profiles", "load_profile", "map_problem", "paper_metric", "paper_metric_total", "trace", "trace_model",
    "zoo",
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

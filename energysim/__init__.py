"""energysim: a dataflow-level energy simulator for CNN inference on Eyeriss-style accelerators.

workload (traced model graph) -> mapping (loop nest per memory level) -> counts (reads/fills/updates per
level and data space, Timeloop semantics) -> energy (pJ, priced by a hardware profile) -> report.

Units: counts in words, energies in pJ, capacities in words, widths in bits, time in cycles.

``import energysim`` does not import torch, pandas or matplotlib: torch is imported when a model is traced
(``trace``, ``trace_model``) or the ``zoo`` is used, pandas when a table is built (reports, ``to_frame``).
"""

from .errors import EnergySimError
from .workload import Layer, Network
# ``trace`` and ``estimate`` are also submodule names: they are bound here, eagerly, because importing the
# submodule later (``import energysim.trace``) would otherwise leave the module under that name
from .trace import trace, trace_model
from .problem import DataSpace, Problem
from .profile import HardwareProfile, MacUnit, StorageLevel, list_profiles, load_profile
from .mapping import LevelMapping, Loop, Mapping
from .counts import LayerStats, evaluate
from .dataflows import DATAFLOWS, map_problem
from .report import EnergyReport, LayerEnergy
from .estimate import estimate, estimate_layer

# imported on first use (module-level __getattr__): name -> submodule
_LAZY = {
    "zoo": None,  # the submodule itself (torch)
    "CodebookRecord": "codebook",
    "paper_metric": "metrics",
    "paper_metric_total": "metrics",
    "TimeloopCase": "timeloop",
    "check_cases": "timeloop",
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

    mod = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    value = mod if _LAZY[name] is None else getattr(mod, name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def from_onnx(path, batch=None, **kw):
    """Build a ``Network`` from an ONNX file (needs the ``onnx`` extra). See ``energysim.onnx_import``."""
    from .onnx_import import from_onnx as _from_onnx

    return _from_onnx(path, batch=batch, **kw)

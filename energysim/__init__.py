"""energysim: a dataflow-level energy simulator for CNN inference on Eyeriss-style accelerators.

workload (traced model graph) -> mapping (loop nest per memory level) -> counts (reads/fills/updates per
level and data space, Timeloop semantics) -> energy (pJ, priced by a hardware profile) -> report.

Units: counts in words, energies in pJ, capacities in words, widths in bits, time in cycles.
"""

from .errors import EnergySimError
from .workload import Layer, Network
from .trace import trace, trace_model
from . import zoo
from .problem import DataSpace, Problem
from .profile import HardwareProfile, MacUnit, StorageLevel, list_profiles, load_profile
from .mapping import LevelMapping, Loop, Mapping
from .counts import LayerStats, evaluate
from .dataflows import DATAFLOWS, map_problem
from .report import EnergyReport, LayerEnergy
from .estimate import estimate, estimate_layer
from .codebook import CodebookRecord
from .metrics import paper_metric, paper_metric_total
from .timeloop import TimeloopCase, check_cases

__all__ = [
    "CodebookRecord", "DATAFLOWS", "DataSpace", "EnergyReport", "EnergySimError", "HardwareProfile", "Layer",
    "LayerEnergy", "LayerStats", "LevelMapping", "Loop", "MacUnit", "Mapping", "Network", "Problem",
    "StorageLevel", "TimeloopCase", "check_cases", "estimate", "estimate_layer", "evaluate", "list_profiles",
    "load_profile", "map_problem", "paper_metric", "paper_metric_total", "trace", "trace_model", "zoo",
]


def from_onnx(path, batch=None, **kw):
    """Build a ``Network`` from an ONNX file (needs the ``onnx`` extra). See ``energysim.onnx_import``."""
    from .onnx_import import from_onnx as _from_onnx

    return _from_onnx(path, batch=batch, **kw)

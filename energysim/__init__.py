"""energysim: a dataflow-level energy simulator for CNN inference on Eyeriss-style accelerators.

workload (traced model graph) -> mapping (loop nest per memory level) -> counts (reads/fills/updates per
level and data space, Timeloop semantics) -> energy (pJ, priced by a hardware profile) -> report.
"""

from .errors import EnergySimError
from .workload import Layer, Network
from .trace import trace, trace_model
from . import zoo

__all__ = ["EnergySimError", "Layer", "Network", "trace", "trace_model", "zoo"]

"""The workload stage: a model becomes a ``Network`` of ``Layer`` loop nests (N M C P Q R S) for mapping.

Front ends build the graph from a model: ``trace`` / ``trace_model`` from a ``torch.nn.Module`` (through
torch.fx, in ``fx``) and ``energysim.workload.onnx.from_onnx`` from an ONNX file. Both name ops in one
vocabulary (``ops``), so the same model gives the same layers either way. Modules:

- ``layer``: ``Layer``, ``LayerKind``, ``MAC_KINDS``: one layer's loop bounds and data-movement counts;
- ``network``: ``Network``, the layers by name and the tensor edges between them;
- ``ops``: the shared op vocabulary (canonical names, their roles and layer kinds);
- ``shapes``: tensor-shape helpers both front ends use;
- ``trace``: the public torch entry points; ``fx``: the torch.fx walk behind them;
- ``onnx``: the ONNX importer;
- ``zoo``: the built-in models.

Importing this package imports neither torch nor onnx: ``fx``, ``onnx`` and ``zoo`` are imported where they
are used, and ``trace`` imports torch inside its functions.
"""

from energysim.workload.layer import MAC_KINDS, Layer, LayerKind
from energysim.workload.network import Network

# Re-exporting the function ``trace`` makes the attribute ``energysim.workload.trace`` the function, not the
# submodule; ``from energysim.workload.trace import ...`` still reaches the module (through sys.modules).
from energysim.workload.trace import trace, trace_model

__all__ = ["Layer", "LayerKind", "MAC_KINDS", "Network", "trace", "trace_model"]

"""Build a workload graph (``Network``) from an ONNX file, with the same vocabulary as ``energysim.trace``.

Modules: ``load`` (the optional ``onnx`` package and the file), ``importer`` (the graph walk and op
handlers), ``naming`` (layer names), ``shape_rules`` (output shapes), ``schema`` (the known ops and their
attributes), ``checks`` (what is refused: other domains, unknown or non-finite attributes, sizes past the
bounds). Op names are looked up in the op vocabulary shared with trace (``energysim.workload.ops``).

Op mapping (ONNX op_type -> layer kind):

- ``Conv`` -> ``conv`` / ``grouped`` / ``depthwise`` (by ``group``); ``Gemm`` and ``MatMul`` with a constant
  weight -> ``linear``. A MatMul of two activations has no weights and is ``unsupported``.
- ``MaxPool`` / ``AveragePool`` / ``GlobalAveragePool`` / ``GlobalMaxPool`` -> ``pool`` (a global pool has the
  whole map as its window, as trace records adaptive pooling to 1x1).
- ``Add`` / ``Mul`` / ``Sum`` -> ``add``; ``Concat`` -> ``concat``; ``Relu``, ``Clip``, ``Sigmoid``, ``Tanh``,
  ``LeakyRelu``, ``Softmax`` (and a few more) -> ``activation``; ``LRN``, ``LayerNormalization``,
  ``GroupNormalization`` -> ``norm``.
- ``BatchNormalization`` is folded into the producing conv/linear (recorded in its ``fused``) when that layer's
  output feeds nothing else, as trace does; otherwise it is a ``norm`` node. ``fold_bn=False`` never folds.
- ``Flatten``, ``Reshape``, ``Dropout``, ``Identity``, ``Squeeze``, ``Unsqueeze`` move no data: they are recorded
  in the producing layer's ``fused``.
- ``Constant`` nodes and initializers are not layers. Nodes that only compute on constants or on tensor
  *shapes* (``Shape`` -> ``Gather`` -> ``Concat`` chains that feed a ``Reshape``) are host-side bookkeeping and
  are skipped; they never become layers.
- An ``Add`` whose other operand is a constant right after a constant-weight ``MatMul`` is that linear
  layer's bias (how exporters write ``nn.Linear`` without Gemm).

Layer names: the ONNX node name, except for the torch exporter's scope form. ``/layer1/layer1.0/conv1/Conv``
becomes the module's qualified name (``layer1.0.conv1``, the name ``trace`` gives it) for ops that are modules
in torch (conv, linear, norm, pool); other ops keep the module path plus the op (``layer1.0/Add``), because the
scope alone cannot tell a ReLU module from a function called inside the enclosing module. Root-scope ops are
lower-cased (``/Add_1`` -> ``add_1``) and unnamed nodes are named as torch.fx names functions (``add``,
``add_1``, ...). Duplicates get ``#2``, ``#3`` as in trace.

Shapes: the importer computes the output shape of every op it understands itself, from the (possibly
batch-overridden) input shape and the weight shapes, so that a batch override also reaches through constant
``Reshape`` targets; ``onnx.shape_inference.infer_shapes`` (with data propagation) supplies the rest
(unsupported ops under ``strict=False``, ``Reshape`` targets computed from ``Shape``).
"""

from __future__ import annotations

import os
from pathlib import Path

from energysim.errors import EnergySimError
from energysim.workload.network import Network
from energysim.workload.onnx.checks import MAX_DIM
from energysim.workload.onnx.importer import _Importer
from energysim.workload.onnx.load import _import_onnx, _load

__all__ = ["from_onnx"]


def from_onnx(path, batch: int | None = None, *, fold_bn: bool = True, strict: bool = True,
              name: str | None = None) -> Network:
    """Read an ONNX model (a path, or an ``onnx.ModelProto``) into a ``Network``.

    ``batch``: the batch size N; it replaces the first dimension of every graph input whether that is symbolic
    or fixed. ``None`` keeps a fixed batch and uses 1 for a symbolic one.
    ``fold_bn`` / ``strict``: as in ``energysim.trace``. Every tensor size is in elements.
    Raises ``EnergySimError`` for a missing or non-ONNX file, an unsupported op (naming node and op_type), or
    shapes that do not fit.
    """
    onnx = _import_onnx()
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_DIM):
        raise EnergySimError(f"batch must be a positive integer, at most {MAX_DIM:,}; got {batch!r}")
    model = _load(onnx, path)
    if name is None:
        name = model.graph.name or "onnx_model"
        if not isinstance(path, onnx.ModelProto):
            name = Path(os.fspath(path)).stem
    return _Importer(onnx, model, name, batch, fold_bn, strict).run()

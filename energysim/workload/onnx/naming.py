"""Layer names for ONNX nodes: the torch exporter's scope names become the names ``trace`` gives the same
layers (see the package docstring for the rules)."""

from __future__ import annotations

import energysim.workload.ops as ops
from energysim.workload.network import Network

#: ONNX ops with weights, which the torch exporter writes for conv and linear modules
_WEIGHT_OPS = frozenset({"Conv", "Gemm", "MatMul"})


def _is_module_op(op_type: str) -> bool:
    """Whether torch writes this op as a module, so that its export scope is the module's qualified name.

    Activations are left out although ``nn.ReLU`` is a module: the scope alone cannot tell a ReLU module
    from ``F.relu`` called inside the enclosing module.
    """
    if op_type in _WEIGHT_OPS:
        return True
    op = ops.lookup(op_type, "onnx")
    return op is not None and op.role in (ops.POOL, ops.NORM, ops.BATCHNORM)


def _layer_name(node, net: Network, auto_names: dict[str, int]) -> str:
    """A unique layer name in ``net`` for ``node``; ``auto_names`` counts the names given to unnamed nodes."""
    raw = node.name
    if raw.startswith("/") and raw.count("/") >= 2:
        parts = [p for p in raw.split("/") if p]
        scope = _qualified(parts[:-1])
        name = scope if _is_module_op(node.op_type) else f"{scope}/{parts[-1]}"
    elif raw.startswith("/") and "/" not in raw[1:]:  # a function at the exporter's root scope: "/Add_1"
        name = raw[1:].lower()
    elif raw:
        name = raw
    else:
        base = node.op_type.lower()
        k = auto_names.get(base, 0)
        auto_names[base] = k + 1
        name = base if k == 0 else f"{base}_{k}"
    return net.unique_name(name)


def _qualified(scopes: list[str]) -> str:
    """The module path of a torch-exporter scope: ``[layer1, layer1.0, conv1]`` -> ``layer1.0.conv1``.

    Each scope component is a child's name relative to the enclosing module, except that children of a
    Sequential/ModuleList repeat their parent's name as a prefix (``layer1`` then ``layer1.0``).
    """
    q, prev = "", ""
    for c in scopes:
        if prev and c.startswith(prev + "."):
            q += c[len(prev):]
        else:
            q = f"{q}.{c}" if q else c
        prev = c
    return q

"""Build a workload graph (``Network``) from a ``torch.nn.Module`` with torch.fx and shape propagation.

Shapes are propagated on fake tensors, so no arithmetic runs and the module's weights are never touched.
Ops that move no data (flatten, view, dropout, identity) and BatchNorm that follows a conv/linear (folded
into it at inference) are recorded in the producing layer's ``fused`` list instead of becoming nodes.
The torch.fx tracer itself lives in ``energysim._fx`` and is imported on the first call (torch is slow to import).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from energysim.errors import EnergySimError
from energysim.workload.graph import Network

if TYPE_CHECKING:
    from torch import nn


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) of an activation tensor of rank 2, 3 or 4."""
    if len(shape) == 4:
        return shape
    if len(shape) == 3:  # (N, C, L): a 1-D signal, height 1
        return (shape[0], shape[1], 1, shape[2])
    if len(shape) == 2:
        return (shape[0], shape[1], 1, 1)
    n = math.prod(shape[:-1]) if len(shape) > 1 else 1
    return (n, shape[-1], 1, 1)


def trace(
    module: nn.Module,
    input_shape: tuple[int, ...],
    *,
    name: str | None = None,
    fold_bn: bool = True,
    strict: bool = True,
) -> Network:
    """Trace ``module`` on an input of ``input_shape`` (including the batch dimension) into a ``Network``.

    ``fold_bn``: BatchNorm right after a conv/linear is folded into it (as deployed); else its own ``norm`` node.
    ``strict``: an op we do not understand raises ``EnergySimError`` naming the node; with ``strict=False`` it
    is kept as an ``unsupported`` node carrying its tensor sizes.
    """
    from torch import nn

    from energysim.workload.fx import _Tracer  # torch is imported here, not with the package

    if not isinstance(module, nn.Module):
        raise EnergySimError(f"trace() needs a torch.nn.Module, got {type(module).__name__}")
    shape = tuple(input_shape)
    if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
        raise EnergySimError(f"input_shape must be positive integers including the batch, got {input_shape!r}")
    was_training = module.training
    module.eval()  # fold BatchNorm/dropout as at inference
    try:
        return _Tracer(module, shape, name or type(module).__name__, fold_bn, strict).run()
    finally:
        module.train(was_training)


def trace_model(name: str, batch: int = 1, **kw) -> Network:
    """Trace a built-in zoo model at ``batch``."""
    import torch

    from energysim.workload import zoo

    if batch < 1:
        raise EnergySimError(f"batch must be >= 1, got {batch}")
    with torch.device("meta"):  # shapes only: no memory for weights
        module = zoo.build(name)
    return trace(module, (batch, *zoo.input_shape(name)), name=name, **kw)

"""Build a workload graph (``Network``) from a ``torch.nn.Module`` with torch.fx and shape propagation.

Shapes are propagated on meta tensors (each module call sees meta copies of its parameters), so no arithmetic
runs and the module's weights are never touched; a forward that creates CPU tensors of its own falls back to
fake tensors.
Ops that move no data (flatten, view, dropout, identity) and BatchNorm that follows a conv/linear (folded
into it at inference) are recorded in the producing layer's ``fused`` list instead of becoming nodes.
The torch.fx tracer itself lives in ``energysim.workload.fx`` and is imported on the first call (torch is slow
to import).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from energysim.errors import EnergySimError
from energysim.workload.network import Network

if TYPE_CHECKING:
    from torch import nn


def trace(
    module: nn.Module,
    input_shape: tuple[int, ...],
    *,
    name: str | None = None,
    fold_bn: bool = True,
    strict: bool = True,
    token_ids: bool = False,
) -> Network:
    """Trace ``module`` on an input of ``input_shape`` (including the batch dimension) into a ``Network``.

    ``token_ids``: the input is a tensor of integer token ids (language models), not a float tensor.

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
        import torch

        dtype = torch.long if token_ids else None
        return _Tracer(module, shape, name or type(module).__name__, fold_bn, strict, dtype).run()
    finally:
        module.train(was_training)


#: Largest batch traced (the command line's ``MAX_BATCH``): loop bounds stay far from int64 overflow in counts.
MAX_TRACE_BATCH = 2**31 - 1


def trace_model(name: str, batch: int = 1, *, snapshot: bool = True, **kw) -> Network:
    """Trace a built-in zoo model at ``batch``.

    ``snapshot``: with BatchNorm folded, read the model's shipped trace when it is current
    (``energysim.workload.snapshot``: the same ``Network`` at any batch, without importing torch)."""
    from energysim.workload import zoo_info

    # numpy integers are integers; True, 2.0 and '2' are not batches
    if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or not 1 <= batch <= MAX_TRACE_BATCH:
        raise EnergySimError(f"batch must be an integer in 1..{MAX_TRACE_BATCH:,}, got {batch!r}")
    batch = int(batch)
    zoo_info.info(name)  # an unknown name: the error listing the choices, before any import
    if snapshot and kw.get("fold_bn", True) and set(kw) <= {"fold_bn", "strict"}:
        # every zoo op is known, so ``strict`` changes nothing in a zoo model's trace
        from energysim.workload import snapshot as snap

        net = snap.load(name, batch)
        if net is not None:
            return net
    import torch

    import energysim.workload.zoo as zoo

    with torch.device("meta"):  # shapes only: no memory for weights
        module = zoo.build(name)
    token_ids = zoo.MODELS[name].token_ids
    return trace(module, (batch, *zoo.input_shape(name)), name=name, token_ids=token_ids, **kw)

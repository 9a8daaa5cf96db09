"""Shape propagation for ``energysim.trace`` without arithmetic and without ``torch._dynamo``: ``MetaShapeProp``
runs a torch.fx graph on meta tensors.

Why not simply meta tensors: in torch 2.x the meta kernels of many ops (relu, addmm, batch_norm, ...) are Python
decompositions wrapped by ``torch._compile._disable_dynamo``, whose first call imports ``torch._dynamo`` (about a
second of CPU and 70 MB, more than the tracing itself). So the ops of the CNN zoo get their output shapes from
the shape rules below (the formulas of the torch documentation; a rule that does not apply, or an input it
cannot vouch for, returns None and the op runs on meta tensors as usual, errors included). Module calls see
meta copies of the module's parameters and buffers (``torch.func.functional_call``) and parameter reads
(``get_attr``) meta copies of the tensors: a module holding real weights gets the same shapes, and its weights
are neither read nor changed.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import Interpreter
from torch.fx.node import map_aggregate
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

#: modules whose output has the shape and dtype of their (only) input
_SAME_SHAPE_MODULES = (nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Sigmoid,
                       nn.Tanh, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU)
_SAME_SHAPE_FUNCTIONS = {F.relu, F.relu6, torch.relu, F.dropout, F.gelu, F.silu, F.hardswish, F.sigmoid,
                         torch.sigmoid, torch.tanh, F.batch_norm}


def _meta(t: torch.Tensor) -> torch.Tensor:
    return t if t.device.type == "meta" else torch.empty(t.shape, dtype=t.dtype, device="meta")


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    """numpy's broadcasting rule (``torch.broadcast_shapes`` imports sympy); None when the shapes do not fit."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) if 0 not in (x, y) else 0 for x, y in zip(a, b))


def _conv2d(x: torch.Tensor, mod: nn.Conv2d) -> torch.Tensor | None:
    if x.ndim != 4 or isinstance(mod.padding, str) or x.shape[1] != mod.in_channels:
        return None
    n, _, h, w = x.shape
    out = []
    for size, k, s, p, d in zip((h, w), mod.kernel_size, mod.stride, mod.padding, mod.dilation):
        o = (size + 2 * p - d * (k - 1) - 1) // s + 1
        if o < 1:
            return None
        out.append(o)
    return x.new_empty((n, mod.out_channels, *out))


def _pool2d(x: torch.Tensor, mod) -> torch.Tensor | None:
    if x.ndim != 4 or getattr(mod, "return_indices", False):
        return None
    k, s, p = _pair(mod.kernel_size), _pair(mod.stride if mod.stride is not None else mod.kernel_size), _pair(mod.padding)
    d = _pair(getattr(mod, "dilation", 1))
    out = []
    for size, kk, ss, pp, dd in zip(x.shape[2:], k, s, p, d):
        if pp > kk // 2:
            return None
        span = size + 2 * pp - dd * (kk - 1) - 1
        o = (math.ceil(span / ss) if mod.ceil_mode else span // ss) + 1
        if mod.ceil_mode and (o - 1) * ss >= size + pp:  # the last window must start inside the input or left pad
            o -= 1
        if o < 1:
            return None
        out.append(o)
    return x.new_empty((*x.shape[:2], *out))


def _adaptive2d(x: torch.Tensor, mod) -> torch.Tensor | None:
    if x.ndim not in (3, 4) or getattr(mod, "return_indices", False):
        return None
    size = _pair(mod.output_size)
    out = tuple(x.shape[-2 + i] if v is None else v for i, v in enumerate(size))
    return x.new_empty((*x.shape[:-2], *out))


def _module_rule(mod: nn.Module, args, kwargs) -> torch.Tensor | None:
    if kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor):
        return None
    x = args[0]
    if isinstance(mod, _SAME_SHAPE_MODULES):
        return x.new_empty(x.shape)
    if isinstance(mod, nn.LocalResponseNorm):
        return x.new_empty(x.shape) if x.ndim >= 3 else None
    if type(mod) is nn.Conv2d:
        return _conv2d(x, mod)
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        return _pool2d(x, mod)
    if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return _adaptive2d(x, mod)
    if isinstance(mod, nn.Linear):
        return x.new_empty((*x.shape[:-1], mod.out_features)) if x.ndim >= 1 and x.shape[-1] == mod.in_features else None
    return None


def _function_rule(fn, args, kwargs) -> torch.Tensor | None:
    x = args[0] if args else None
    if fn in _SAME_SHAPE_FUNCTIONS:
        return x.new_empty(x.shape) if isinstance(x, torch.Tensor) else None
    if fn in (operator.add, operator.mul, torch.add, torch.mul) and len(args) == 2 and not kwargs:
        a, b = args
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype:
            shape = _broadcast(tuple(a.shape), tuple(b.shape))
            return a.new_empty(shape) if shape is not None else None
        return None
    if fn is torch.flatten and isinstance(x, torch.Tensor) and x.ndim >= 1:
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        start, end = start % x.ndim, end % x.ndim
        if start > end:
            return None
        return x.new_empty((*x.shape[:start], math.prod(x.shape[start:end + 1]), *x.shape[end + 1:]))
    if fn is torch.cat and args and isinstance(args[0], (list, tuple)) and args[0]:
        ts = args[0]
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if not all(isinstance(t, torch.Tensor) and t.dtype == ts[0].dtype and t.ndim == ts[0].ndim for t in ts):
            return None
        dim %= ts[0].ndim
        rest = [tuple(t.shape[:dim]) + tuple(t.shape[dim + 1:]) for t in ts]
        if any(r != rest[0] for r in rest):
            return None
        out = list(ts[0].shape)
        out[dim] = sum(t.shape[dim] for t in ts)
        return ts[0].new_empty(out)
    if fn is F.linear and isinstance(x, torch.Tensor):
        w = args[1] if len(args) > 1 else kwargs.get("weight")
        if isinstance(w, torch.Tensor) and w.ndim == 2 and x.ndim >= 1 and x.shape[-1] == w.shape[1]:
            return x.new_empty((*x.shape[:-1], w.shape[0]))
    return None


class MetaShapeProp(ShapeProp):
    """``ShapeProp`` on meta tensors (see the module docstring)."""

    def run_node(self, n):
        # ShapeProp.run_node less its fake-tensor bookkeeping and memory-format checks, whose imports (symbolic
        # shapes, sympy) cost more than the tracing; the same node.meta entries (memory format left unset)
        result = Interpreter.run_node(self, n)
        found = False

        def extract(obj):
            nonlocal found
            if isinstance(obj, torch.Tensor):
                found = True
                return TensorMetadata(obj.shape, obj.dtype, obj.requires_grad, obj.stride(), None, False, {})
            return obj

        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result

    def call_module(self, target, args, kwargs):
        mod = self.fetch_attr(target)
        out = _module_rule(mod, args, kwargs)
        if out is not None:
            return out
        state = {k: _meta(v) for k, v in [*mod.named_parameters(), *mod.named_buffers()]}
        return torch.func.functional_call(mod, state, args, kwargs)

    def call_function(self, target, args, kwargs):
        out = _function_rule(target, args, kwargs)
        return out if out is not None else super().call_function(target, args, kwargs)

    def get_attr(self, target, args, kwargs):
        value = super().get_attr(target, args, kwargs)
        return _meta(value) if isinstance(value, torch.Tensor) else value

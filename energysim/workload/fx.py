"""The torch.fx front end of ``energysim.trace``: ``_Tracer`` walks a traced module and builds its ``Network``.

Imported only when a module is traced, so that ``import energysim`` does not pay for importing torch. Ops are
recognised by their native names (module class, function ``__name__``, method name) through the shared
vocabulary in ``energysim.workload.ops``; only what is torch-specific is decided here: which modules and
functions are convolutions and linear layers, and which methods return tensor metadata.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import GraphModule, Node, symbolic_trace
from torch.fx.passes.shape_prop import ShapeProp

import energysim.workload.ops as ops
from energysim.errors import EnergySimError
from energysim.workload.layer import Layer
from energysim.workload.network import Network
from energysim.workload.shapes import _pair, _spatial

#: tensor methods that return metadata (sizes, rank), not activations: like ONNX ``Shape``, never a layer
_META_METHODS = frozenset({"size", "dim"})


def _module_op(mod: nn.Module) -> ops.Op | None:
    """The vocabulary op of a module: its class's name, else the nearest public base class's (so a subclass
    of ``nn.ReLU`` is still a ReLU, while torch's private bases such as ``_BatchNorm`` never match)."""
    for cls in type(mod).__mro__:
        if not cls.__name__.startswith("_"):
            op = ops.lookup(cls.__name__, "torch")
            if op is not None:
                return op
    return None


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, Node) else None
    return tuple(int(d) for d in meta.shape) if meta is not None and hasattr(meta, "shape") else None


class _Tracer:
    def __init__(self, module: nn.Module, input_shape: tuple[int, ...], name: str, fold_bn: bool, strict: bool):
        self.module = module
        self.input_shape = tuple(int(d) for d in input_shape)
        self.fold_bn = fold_bn
        self.strict = strict
        self.net = Network(name, self.input_shape)
        self.producer: dict[str, str | None] = {}  # fx node name -> layer name (None: the network input)
        self.gm = self._trace_and_propagate()
        self.users = {n.name: len(n.users) for n in self.gm.graph.nodes}

    def _trace_and_propagate(self) -> GraphModule:
        try:
            gm = symbolic_trace(self.module)
        except Exception as exc:  # fx raises many types (TraceError, TypeError, ...) for dynamic control flow
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EnergySimError(
                f"module {type(self.module).__name__} cannot be traced with torch.fx "
                f"(data-dependent control flow?): {first}"
            ) from None
        from torch._subclasses.fake_tensor import FakeTensorMode

        fake = FakeTensorMode(allow_non_fake_inputs=True)
        param = next(self.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        captured = io.StringIO()  # ShapeProp prints the inner traceback itself; keep it off the user's screen
        try:
            x = fake.from_tensor(torch.empty(self.input_shape, device=device))
            with contextlib.redirect_stderr(captured):
                ShapeProp(gm, fake_mode=fake).propagate(x)
        except Exception as exc:
            lines = [l for l in captured.getvalue().splitlines() if l.strip()]
            detail = lines[-1].strip() if lines else str(exc).strip().splitlines()[0]
            node = str(exc).split("node=%")[1].split(" ")[0] if "node=%" in str(exc) else "?"
            raise EnergySimError(
                f"input shape {self.input_shape} does not fit {type(self.module).__name__} at node {node!r}: {detail}"
            ) from None
        return gm

    # -- helpers -------------------------------------------------------------------------------------------
    def _src(self, arg) -> tuple[str | None, tuple[int, ...]]:
        return self.producer.get(arg.name), _shape(arg)

    def _tensor_args(self, node: Node) -> list[Node]:
        flat: list[Node] = []

        def visit(a):
            if isinstance(a, Node) and _shape(a) is not None and a.op != "get_attr":
                flat.append(a)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    visit(b)

        for a in node.args:
            visit(a)
        return flat

    def _add(self, node: Node, layer_kw: dict, inputs: list[Node]) -> None:
        name = self.net.unique_name(node.target if node.op == "call_module" else node.name)
        in_shapes = tuple(_shape(a) for a in inputs)
        layer = Layer(name=name, input_shapes=in_shapes, output_shape=_shape(node) or (), **layer_kw)
        edges = [(self.producer[a.name], _shape(a)) for a in inputs if self.producer.get(a.name) is not None]
        self.net.add_layer(layer, edges)
        self.producer[node.name] = name

    def _fuse_into_producer(self, node: Node, what: str) -> None:
        src = node.args[0] if node.args and isinstance(node.args[0], Node) else None
        prod = self.producer.get(src.name) if src is not None else None
        self.producer[node.name] = prod
        if prod is not None:
            layer = self.net[prod]
            self.net.replace_layer(layer.model_copy(update={"fused": layer.fused + (what,)}))

    def _elementwise(self, node: Node, kind: str, op: str, inputs: list[Node]) -> None:
        n, c, h, w = _spatial(_shape(node))
        self._add(node, dict(kind=kind, op=op, N=n, M=c, C=c, P=h, Q=w, H=h, W=w), inputs)

    # -- op handlers ---------------------------------------------------------------------------------------
    def _conv(self, node: Node, op: str, x: Node, wshape, stride, padding, dilation, groups, bias: bool) -> None:
        n, cin, h, w = _spatial(_shape(x))
        _, cout, p, q = _spatial(_shape(node))
        r, s = (1, int(wshape[2])) if len(wshape) == 3 else (int(wshape[2]), int(wshape[3]))
        sh, sw = (1, int(stride[0])) if len(wshape) == 3 else _pair(stride)
        dh, dw = (1, int(dilation[0])) if len(wshape) == 3 else _pair(dilation)
        ph, pw = (0, int(padding[0])) if len(wshape) == 3 else _pair(padding)
        kind = "conv" if groups == 1 else ("depthwise" if groups == cin == cout else "grouped")
        self._add(node, dict(kind=kind, op=op, N=n, M=cout, C=cin, P=p, Q=q, R=r, S=s, H=h, W=w,
                             stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=ph, pad_w=pw,
                             groups=groups, bias=bias), [x])

    def _linear(self, node: Node, op: str, x: Node, in_f: int, out_f: int, bias: bool) -> None:
        shp = _shape(x)
        n = math.prod(shp[:-1]) if len(shp) > 1 else 1
        self._add(node, dict(kind="linear", op=op, N=n, M=out_f, C=in_f, bias=bias), [x])

    def _pool(self, node: Node, op: str, x: Node, kernel, stride, padding) -> None:
        n, c, h, w = _spatial(_shape(x))
        _, _, p, q = _spatial(_shape(node))
        if kernel is None:  # adaptive pooling: the largest window any output sees
            r, s = math.ceil(h / p), math.ceil(w / q)
            sh, sw = h // p, w // q
            ph = pw = 0
        else:
            r, s = _pair(kernel)
            sh, sw = _pair(stride if stride not in (None, ()) else kernel)
            ph, pw = _pair(padding)
        self._add(node, dict(kind="pool", op=op, N=n, M=c, C=c, P=p, Q=q, R=r, S=s, H=h, W=w,
                             stride_h=max(sh, 1), stride_w=max(sw, 1), pad_h=ph, pad_w=pw), [x])

    def _bn(self, node: Node, op: str, x: Node) -> None:
        prod = self.producer.get(x.name)
        foldable = (
            self.fold_bn and prod is not None and self.net[prod].has_macs and self.users.get(x.name, 0) == 1
        )
        if foldable:
            self._fuse_into_producer(node, f"{op}:{node.target if node.op == 'call_module' else node.name}")
        else:
            self._elementwise(node, "norm", op, [x])

    def _unsupported(self, node: Node, what: str) -> None:
        if self.strict:
            raise EnergySimError(
                f"node {node.name!r}: unsupported op {what}; pass strict=False to keep it as an 'unsupported' node"
            )
        inputs = self._tensor_args(node)
        shp = _shape(node)
        if shp is None:  # a non-tensor result (e.g. x.size()): nothing flows to a layer
            self.producer[node.name] = None
            return
        n, c, h, w = _spatial(shp)
        self._add(node, dict(kind="unsupported", op=what, N=n, M=c, C=c, P=h, Q=w, H=h, W=w), inputs)

    # -- main loop -----------------------------------------------------------------------------------------
    def run(self) -> Network:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.producer[node.name] = None
            elif node.op in ("get_attr", "output"):
                continue
            elif node.op == "call_module":
                self._module(node, self.gm.get_submodule(node.target))
            elif node.op == "call_function":
                self._function(node)
            elif node.op == "call_method":
                self._method(node)
        return self.net

    def _module(self, node: Node, mod: nn.Module) -> None:
        op = type(mod).__name__
        x = node.args[0] if node.args else None
        if isinstance(mod, nn.Conv2d | nn.Conv1d):
            self._conv(node, op, x, mod.weight.shape, mod.stride, mod.padding, mod.dilation, mod.groups,
                       mod.bias is not None)
        elif isinstance(mod, nn.Linear):
            self._linear(node, op, x, mod.in_features, mod.out_features, mod.bias is not None)
        elif (spec := _module_op(mod)) is None:
            self._unsupported(node, f"module {op} ({node.target})")
        elif spec.role == ops.POOL:
            if spec.window == "kernel":
                self._pool(node, op, x, mod.kernel_size, mod.stride, mod.padding)
            else:
                self._pool(node, op, x, None, None, 0)
        else:  # a module's forward takes exactly its input: no other tensor argument feeds the layer
            self._vocabulary_op(node, spec, op, [x])

    def _function(self, node: Node) -> None:
        fn = node.target
        name = getattr(fn, "__name__", str(fn))
        args = node.args
        kw = node.kwargs
        if fn is F.conv2d:
            weight = args[1] if len(args) > 1 else kw["weight"]
            get = lambda i, k, d: args[i] if len(args) > i else kw.get(k, d)  # noqa: E731
            self._conv(node, "conv2d", args[0], _shape(weight), get(3, "stride", 1), get(4, "padding", 0),
                       get(5, "dilation", 1), int(get(6, "groups", 1)), get(2, "bias", None) is not None)
        elif fn is F.linear:
            wshape = _shape(args[1] if len(args) > 1 else kw["weight"])
            bias = (args[2] if len(args) > 2 else kw.get("bias")) is not None
            self._linear(node, "linear", args[0], wshape[1], wshape[0], bias)
        elif (spec := ops.lookup(name, "torch")) is not None:
            self._call(node, spec, name)
        elif fn is getattr and _shape(node) is None:
            self.producer[node.name] = None
        else:
            self._unsupported(node, f"function {name}")

    def _method(self, node: Node) -> None:
        m = node.target
        if (spec := ops.lookup(m, "torch")) is not None:
            self._call(node, spec, m)
        elif m in _META_METHODS or _shape(node) is None:
            self.producer[node.name] = None
        else:
            self._unsupported(node, f"method .{m}()")

    def _call(self, node: Node, spec: ops.Op, name: str) -> None:
        """A vocabulary op called as a function or a tensor method (``self`` is then ``args[0]``)."""
        args, kw = node.args, node.kwargs
        if spec.role == ops.POOL:
            if spec.window == "kernel":
                get = lambda i, k, d: args[i] if len(args) > i else kw.get(k, d)  # noqa: E731
                self._pool(node, name, args[0], get(1, "kernel_size", None), get(2, "stride", None),
                           get(3, "padding", 0))
            else:
                self._pool(node, name, args[0], None, None, 0)
        else:  # every tensor argument is an input (both operands of an add, every tensor of a cat)
            self._vocabulary_op(node, spec, name, self._tensor_args(node))

    def _vocabulary_op(self, node: Node, spec: ops.Op, op: str, inputs: list[Node]) -> None:
        """The roles whose handling does not depend on how the op was called (pools read their window
        from the module or the call, so they are handled by the caller)."""
        x = node.args[0] if node.args else None
        if spec.role == ops.PASS:
            self._fuse_into_producer(node, op)
        elif spec.role == ops.BATCHNORM:
            self._bn(node, op, x)
        elif spec.role == ops.NORM:  # weight and bias are parameters, not data flowing in
            self._elementwise(node, spec.kind, op, [x])
        else:
            self._elementwise(node, spec.kind, op, inputs)

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
import operator
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx import GraphModule, Node, symbolic_trace
from torch.fx.passes.shape_prop import ShapeProp

import energysim.workload.ops as ops
from energysim.errors import EnergySimError
from energysim.workload.einsum import MatmulShape, attention_shapes, einsum_shape, matmul_shape
from energysim.workload.layer import Layer
from energysim.workload.meta_shapes import MetaShapeProp
from energysim.workload.network import Network
from energysim.workload.shapes import _pair, _spatial

#: tensor methods that return metadata (sizes, rank), not activations: like ONNX ``Shape``, never a layer
_META_METHODS = frozenset({"size", "dim"})
#: products of two tensors (the ``matmul`` layer kind); ``torch.einsum`` and attention are handled apart
_MATMUL_FUNCTIONS = (torch.matmul, torch.bmm, operator.matmul)
_MATMUL_METHODS = frozenset({"matmul", "bmm", "__matmul__", "mm"})


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


def _tuple_shapes(node: Any) -> list[tuple[int, ...]] | None:
    """The shapes of a node whose result is a tuple/list of tensors (``chunk``, ``nn.MultiheadAttention``)."""
    meta = node.meta.get("tensor_meta") if isinstance(node, Node) else None
    if isinstance(meta, (tuple, list)) and meta and all(hasattr(m, "shape") for m in meta):
        return [tuple(int(d) for d in m.shape) for m in meta]
    return None


class _Tracer:
    def __init__(self, module: nn.Module, input_shape: tuple[int, ...], name: str, fold_bn: bool, strict: bool,
                 input_dtype=None):
        self.module = module
        self.input_shape = tuple(int(d) for d in input_shape)
        self.input_dtype = input_dtype
        self.fold_bn = fold_bn
        self.strict = strict
        self.net = Network(name, self.input_shape)
        self.producer: dict[str, str | None] = {}  # fx node name -> layer name (None: the network input)
        self.const: set[str] = set()  # fx nodes that do not depend on the network input
        # fx node name -> the producing layer of each item, for nodes whose result is a tuple of tensors
        self.tuple_producer: dict[str, list[str | None]] = {}
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
        if self.input_dtype is not None and not self.input_dtype.is_floating_point:
            # token ids: zeros are valid indices into any embedding table
            make = lambda device: torch.zeros(self.input_shape, dtype=self.input_dtype, device=device)  # noqa: E731
        else:
            make = lambda device: torch.empty(self.input_shape, device=device)  # noqa: E731
        captured = io.StringIO()  # ShapeProp prints the inner traceback itself; keep it off the user's screen
        try:
            with contextlib.redirect_stderr(captured):
                MetaShapeProp(gm).propagate(make("meta"))
            return gm
        except Exception:
            # a forward that makes tensors on the CPU (torch.arange(n) without a device, ...) cannot mix them
            # with meta tensors: fake tensors can (slower: they import torch._dynamo), and they also report
            # shape errors
            pass
        from torch._subclasses.fake_tensor import FakeTensorMode

        fake = FakeTensorMode(allow_non_fake_inputs=True)
        param = next(self.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        captured = io.StringIO()
        try:
            x = fake.from_tensor(make(device))
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
        name = self._layer(node.target if node.op == "call_module" else node.name, layer_kw,
                           [(self.producer.get(a.name), _shape(a)) for a in inputs], _shape(node) or ())
        self.producer[node.name] = name
        self.net.sources[node.name] = name

    def _layer(self, name: str, layer_kw: dict, inputs: list[tuple[str | None, tuple[int, ...]]],
               out_shape: tuple[int, ...]) -> str:
        """Add a layer fed by ``inputs`` (producing layer or ``None`` for the network input, tensor shape);
        returns its (unique) name."""
        name = self.net.unique_name(name)
        layer = Layer(name=name, input_shapes=tuple(s for _, s in inputs), output_shape=out_shape, **layer_kw)
        self.net.add_layer(layer, [(p, s) for p, s in inputs if p is not None])
        return name

    def _fuse_into_producer(self, node: Node, what: str) -> None:
        src = node.args[0] if node.args and isinstance(node.args[0], Node) else None
        prod = self.producer.get(src.name) if src is not None else None
        self.producer[node.name] = prod
        self.net.sources[node.name] = f"fused into {prod}" if prod is not None else "fused into the network input"
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
                f"node {node.name!r}: unsupported op {what}; trace with strict=False (command line: --lenient) to "
                "keep it as an 'unsupported' layer with its tensor sizes"
            )
        inputs = self._tensor_args(node)
        shp = _shape(node)
        if shp is None and (shapes := _tuple_shapes(node)) is not None:
            # several tensor outputs: one layer writing all of them
            shp = (1, sum(math.prod(x) for x in shapes))
        if shp is None:  # a non-tensor result (e.g. x.size()): nothing flows to a layer
            self._metadata(node)
            return
        warnings.warn(f"energysim.trace: node {node.name!r}: unsupported op {what} kept as an 'unsupported' layer "
                      "(data movement only, no arithmetic)", stacklevel=2)
        n, c, h, w = _spatial(shp)
        self._add(node, dict(kind="unsupported", op=what, N=n, M=c, C=c, P=h, Q=w, H=h, W=w), inputs)

    def _metadata(self, node: Node) -> None:
        self.producer[node.name] = None
        self.const.add(node.name)
        self.net.sources[node.name] = "metadata"

    def _constant(self, node: Node) -> bool:
        """Whether every node ``node`` reads is a constant (a parameter, a buffer, a size or computed from them)."""
        args: list[Node] = []

        def visit(a):
            if isinstance(a, Node):
                args.append(a)
            elif isinstance(a, (list, tuple)):
                for b in a:
                    visit(b)
            elif isinstance(a, dict):
                for b in a.values():
                    visit(b)

        visit(node.args)
        visit(node.kwargs)
        return all(a.name in self.const for a in args) and (bool(args) or _shape(node) is not None)

    # -- main loop -----------------------------------------------------------------------------------------
    def run(self) -> Network:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.producer[node.name] = None
                self.net.sources[node.name] = "input"
            elif node.op == "get_attr":
                self.const.add(node.name)
            elif node.op == "output":
                continue
            elif node.op in ("call_function", "call_method") and self._constant(node):
                # computed from parameters, buffers and sizes alone (position ids, masks, a class token
                # expanded to the batch): no data flows from the network input, so it is not a layer; the
                # layers that use it read it as an operand
                self.const.add(node.name)
                self.producer[node.name] = None
                self.net.sources[node.name] = "constant (from parameters, buffers or sizes)"
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
        elif isinstance(mod, nn.MultiheadAttention):
            self._multihead_attention(node, mod)
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
        elif fn in _MATMUL_FUNCTIONS:
            self._matmul(node, name, args[0], args[1])
        elif fn is torch.einsum:
            self._einsum(node)
        elif fn is F.scaled_dot_product_attention:
            self._sdpa(node)
        elif fn is operator.getitem and isinstance(args[0], Node) and args[0].name in self.tuple_producer:
            self._tuple_item(node, args[0], args[1])
        elif fn is operator.getitem and _shape(node) is None:
            self._metadata(node)  # an item of a size or shape
        elif (spec := ops.lookup(name, "torch")) is not None:
            self._call(node, spec, name)
        elif fn is getattr and _shape(node) is None:
            self._metadata(node)
        elif _shape(node) is None and _tuple_shapes(node) is None and not self._tensor_args(node):
            self._metadata(node)  # arithmetic on sizes (``x.size(-1) ** 0.5``): no tensor in, none out
        else:
            self._unsupported(node, f"function {name}")

    def _method(self, node: Node) -> None:
        m = node.target
        if m in _MATMUL_METHODS:
            self._matmul(node, m, node.args[0], node.args[1])
        elif (spec := ops.lookup(m, "torch")) is not None:
            self._call(node, spec, m)
        elif m in _META_METHODS or (_shape(node) is None and _tuple_shapes(node) is None):
            self._metadata(node)
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
            if _tuple_shapes(node) is not None:  # chunk / split / unbind: every part comes from the same producer
                self.tuple_producer[node.name] = [self.producer[node.name]] * len(_tuple_shapes(node))
        elif spec.role == ops.GATHER:
            # an embedding lookup reads the index tensor and one table row per index: the rows read are the
            # output's size
            ids = self._tensor_args(node)
            self._add(node, dict(kind="gather", op=op, **_flat_dims(_shape(node))), ids)
            layer = self.net[self.producer[node.name]]
            self.net.replace_layer(layer.model_copy(update={"input_shapes": layer.input_shapes + (_shape(node),)}))
        elif spec.role == ops.BATCHNORM:
            self._bn(node, op, x)
        elif spec.role == ops.NORM:  # weight and bias are parameters, not data flowing in
            self._elementwise(node, spec.kind, op, [x])
        else:
            self._elementwise(node, spec.kind, op, inputs)

    # -- products of two tensors and attention ---------------------------------------------------------------
    def _matmul(self, node: Node, op: str, a, b) -> None:
        sa, sb = _shape(a), _shape(b)
        if sa is None or sb is None:
            self._unsupported(node, f"{op} of a non-tensor")
            return
        self._product(node, op, matmul_shape(sa, sb, f"node {node.name!r} ({op})"), a, b)

    def _einsum(self, node: Node) -> None:
        eq, *operands = node.args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        if not isinstance(eq, str) or len(operands) != 2 or not all(isinstance(o, Node) for o in operands):
            self._unsupported(node, f"function einsum with {len(operands)} operand(s) (two tensors are supported)")
            return
        a, b = operands
        self._product(node, f"einsum({eq})", einsum_shape(eq, _shape(a), _shape(b)), a, b)

    def _product(self, node: Node, op: str, shape: MatmulShape, a: Node, b: Node) -> None:
        """A ``matmul`` layer; a parameter operand (``get_attr``) is a weight, and it takes the weight position
        (``(A B)ᵀ = Bᵀ Aᵀ`` when the parameter is on the left)."""
        a_param, b_param = a.op == "get_attr", b.op == "get_attr"
        if a_param and b_param:
            self._unsupported(node, f"{op} of two parameters (a constant)")
            return
        if a_param:
            shape, a, b, b_param = shape.transposed(), b, a, True
        inputs = [a] if b_param else [a, b]
        self._add(node, dict(kind="matmul", op=op, weight_role="weight" if b_param else "activation",
                             **shape.layer_fields()), inputs)

    def _attention_core(self, base: str, op: str, q, k, v, note: str) -> tuple[str, str]:
        """``Q·Kᵀ``, softmax and ``A·V`` on operands ``(producer, shape)``: layers ``base.qk``, ``base.softmax``,
        ``base.av``. Returns the names of the softmax (the attention weights) and the ``A·V`` layers."""
        qk, av = attention_shapes(q[1], k[1], v[1])
        scores = (*q[1][:-2], q[1][-2], k[1][-2])
        name_qk = self._layer(f"{base}.qk", dict(kind="matmul", op=f"{op}: Q·Kᵀ", weight_role="activation",
                                                 **qk.layer_fields()), [q, k], scores)
        name_sm = self._layer(f"{base}.softmax", dict(kind="activation", op=f"{op}: softmax{note}",
                                                      **_flat_dims(scores)), [(name_qk, scores)], scores)
        out = (*q[1][:-2], q[1][-2], v[1][-1])
        name_av = self._layer(f"{base}.av", dict(kind="matmul", op=f"{op}: A·V", weight_role="activation",
                                                 **av.layer_fields()), [(name_sm, scores), v], out)
        return name_sm, name_av

    def _sdpa(self, node: Node) -> None:
        args, kw = node.args, node.kwargs
        get = lambda i, k, d=None: args[i] if len(args) > i else kw.get(k, d)  # noqa: E731
        q, k, v = get(0, "query"), get(1, "key"), get(2, "value")
        mask, causal = get(3, "attn_mask"), bool(get(5, "is_causal", False))
        note = " (causal mask)" if causal else (" (attention mask)" if mask is not None else "")
        if isinstance(mask, Node) and mask.op != "get_attr":
            note += f" from {mask.name}"
        operands = [(self.producer.get(x.name), _shape(x)) for x in (q, k, v)]
        _, av = self._attention_core(node.name, "scaled_dot_product_attention", *operands, note)
        self.producer[node.name] = av
        self.net.sources[node.name] = f"{node.name}.qk, {node.name}.softmax, {av}"

    def _multihead_attention(self, node: Node, mod: nn.MultiheadAttention) -> None:
        """``nn.MultiheadAttention`` as the ops its forward runs: the input projections (one packed projection
        when query, key and value are one tensor, as torch does), ``Q·Kᵀ`` and ``A·V`` per head, the softmax
        and the output projection. Its result is a tuple: item 0 is the output projection, item 1 the attention
        weights (the softmax)."""
        args, kw = node.args, node.kwargs
        get = lambda i, k, d=None: args[i] if len(args) > i else kw.get(k, d)  # noqa: E731
        qn, kn, vn = get(0, "query"), get(1, "key"), get(2, "value")
        sq, sk, sv = _shape(qn), _shape(kn), _shape(vn)
        if sq is None or sk is None or sv is None:
            self._unsupported(node, f"module MultiheadAttention ({node.target}) with non-tensor inputs")
            return
        h, E = mod.num_heads, mod.embed_dim
        d, dv = E // h, E // h
        if len(sq) == 2:  # unbatched (L, E)
            B, L, S = 1, sq[0], sk[0]
        elif mod.batch_first:
            B, L, S = sq[0], sq[1], sk[1]
        else:
            B, L, S = sq[1], sq[0], sk[0]
        base, op = node.target, "MultiheadAttention"
        bias = mod.in_proj_bias is not None
        src = {x.name: (self.producer.get(x.name), _shape(x)) for x in (qn, kn, vn)}
        if qn is kn is vn and mod._qkv_same_embed_dim:
            proj = self._layer(f"{base}.in_proj", dict(kind="linear", op=f"{op}: in_proj", N=B * L, M=3 * E, C=E,
                                                       bias=bias), [src[qn.name]], (B, L, 3 * E))
            q, k, v = (proj, (B, h, L, d)), (proj, (B, h, S, d)), (proj, (B, h, S, dv))
        else:
            names = {}
            for which, x, n_tok, c_in in (("q", qn, L, E), ("k", kn, S, mod.kdim), ("v", vn, S, mod.vdim)):
                names[which] = self._layer(f"{base}.{which}_proj", dict(kind="linear", op=f"{op}: {which}_proj",
                                                                       N=B * n_tok, M=E, C=c_in, bias=bias),
                                           [src[x.name]], (B, n_tok, E))
            q, k, v = (names["q"], (B, h, L, d)), (names["k"], (B, h, S, d)), (names["v"], (B, h, S, dv))
        mask = get(3, "key_padding_mask") is not None or get(5, "attn_mask") is not None or bool(get(6, "is_causal"))
        sm, av = self._attention_core(base, op, q, k, v, " (masked)" if mask else "")
        out = self._layer(f"{base}.out_proj", dict(kind="linear", op=f"{op}: out_proj", N=B * L, M=E, C=E,
                                                   bias=mod.out_proj.bias is not None),
                          [(av, (B, h, L, dv))], sq)
        self.producer[node.name] = out
        self.tuple_producer[node.name] = [out, sm]
        self.net.sources[node.name] = f"{base}: projections, qk, softmax, av, out_proj (outputs {out}, {sm})"

    def _tuple_item(self, node: Node, src: Node, index) -> None:
        items = self.tuple_producer[src.name]
        if not isinstance(index, int) or not -len(items) <= index < len(items):
            self._unsupported(node, f"item {index!r} of {src.name}")
            return
        prod = items[index]
        self.producer[node.name] = prod
        self.net.sources[node.name] = f"output {index} of {prod}" if prod is not None else "the network input"


def _flat_dims(shape: tuple[int, ...]) -> dict:
    """The loop bounds of a layer without MACs from its output shape (``M = C`` channels, ``P x Q`` map)."""
    n, c, h, w = _spatial(shape)
    return dict(N=n, M=c, C=c, P=h, Q=w, H=h, W=w)

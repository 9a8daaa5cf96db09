"""The ONNX graph walk: ``_Importer`` turns the nodes of a loaded model into the layers of a ``Network``.

Ops in the shared vocabulary (``energysim.workload.ops``) are dispatched by role; the ops only ONNX has
(``Conv``, ``Gemm``, ``MatMul`` with their weights, and the metadata ops) are handled here by op_type.
"""

from __future__ import annotations

import math
from typing import Any

import energysim.workload.ops as ops
from energysim.errors import EnergySimError
from energysim.workload.einsum import MatmulShape, einsum_shape, matmul_shape
from energysim.workload.layer import Layer
from energysim.workload.network import Network
from energysim.workload.onnx import checks, wire
from energysim.workload.onnx.load import _dims, _static
from energysim.workload.onnx.naming import _layer_name
from energysim.workload.onnx.schema import ATTRIBUTES
from energysim.workload.onnx.shape_rules import _FOLDED, _broadcast, _fold, _reshape, _spatial_params
from energysim.workload.shapes import _spatial

#: ops that produce tensor metadata, not activations
_META_OPS = {"Shape", "Size", "Constant", "ConstantOfShape"}
#: layout ops whose output shapes are taken from ONNX shape inference
_INFERRED_PASS = {"transpose", "permute", "expand", "slice", "split", "cast"}


def _flat_dims(shape: tuple[int, ...]) -> dict:
    n, c, h, w = _spatial(shape)
    return dict(N=n, M=c, C=c, P=h, Q=w, H=h, W=w)


class _Importer:
    """One import: the model's constants and tensor shapes, and the ``Network`` built node by node (``run``)."""

    def __init__(self, onnx, model, name: str, batch: int | None, fold_bn: bool, strict: bool):
        self.onnx = onnx
        self.model = model
        # a model read by ``wire`` decodes its own tensors and attributes; an onnx.ModelProto needs the package
        self.light = isinstance(model, wire.Model)
        self.fold_bn = fold_bn
        self.strict = strict
        g = model.graph
        external = wire.EXTERNAL  # TensorProto.EXTERNAL
        self.consts: dict[str, Any] = {t.name: self._to_array(t) for t in g.initializer
                                       if t.data_location != external}
        # initializers whose data lives in an external file (not loaded): their shapes are all we need
        self.const_shapes: dict[str, tuple[int, ...]] = {t.name: tuple(int(d) for d in t.dims)
                                                         for t in g.initializer if t.data_location == external}
        for t_name, dims in self.const_shapes.items():
            checks.initializer(t_name, dims)
        self.shapes: dict[str, tuple[int, ...]] = {}
        # tensors that are constants or computed from shapes
        self.meta: set[str] = set(self.consts) | set(self.const_shapes)
        self.producer: dict[str, str | None] = {}
        self.consumers: dict[str, int] = {}
        for node in g.node:
            for i in node.input:
                if i:
                    self.consumers[i] = self.consumers.get(i, 0) + 1
        for o in g.output:
            self.consumers[o.name] = self.consumers.get(o.name, 0) + 1

        inputs = [i for i in g.input if i.name not in self.consts and i.name not in self.const_shapes]
        if not inputs:
            raise EnergySimError(f"ONNX model {name!r} has no graph input besides initializers")
        self.orig_batch: int | None = None
        for vi in inputs:
            dims = _dims(vi.type)
            checks.graph_input(name, vi.name, dims)
            first = dims[0]
            if isinstance(first, int) and first > 0 and self.orig_batch is None:
                self.orig_batch = first
            n = batch if batch is not None else (first if isinstance(first, int) and first > 0 else 1)
            self.shapes[vi.name] = (int(n), *dims[1:])
            self.producer[vi.name] = None
        self.batch = self.shapes[inputs[0].name][0]
        self.net = Network(name, self.shapes[inputs[0].name])
        self._inference: dict[str, tuple] | None = None
        self._auto_names: dict[str, int] = {}

    @property
    def inferred(self) -> dict[str, tuple]:
        """ONNX shape inference's shapes, run on the first node that needs one (most models have none)."""
        if self._inference is None:
            self._inference = self._infer()
        return self._inference

    def _to_array(self, tensor):
        try:
            if self.light:
                return tensor.to_array()
            from onnx import numpy_helper  # the third-party package (absolute import), not energysim.workload.onnx

            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as exc:  # data that does not fill its dims, an unknown data type
            raise EnergySimError(f"tensor {tensor.name!r}: {checks.describe(exc)}") from None

    # -- shapes --------------------------------------------------------------------------------------------
    def _infer(self) -> dict[str, tuple]:
        """Shapes from ONNX shape inference, run on a copy whose inputs carry the (overridden) batch."""
        onnx = self.onnx
        m = onnx.ModelProto()
        if self.light:
            m.ParseFromString(self.model.data)
        else:
            m.CopyFrom(self.model)
        # stale intermediate shapes (written for another batch) would be trusted by inference: drop them
        del m.graph.value_info[:]
        for o in m.graph.output:
            o.type.tensor_type.ClearField("shape")
        for vi in m.graph.input:
            if vi.name in self.shapes:
                shp = vi.type.tensor_type.shape
                shp.dim[0].Clear()
                shp.dim[0].dim_value = self.shapes[vi.name][0]
        try:
            m = onnx.shape_inference.infer_shapes(m, data_prop=True)
        except Exception:  # inference is a helper here; our own shape rules are authoritative
            return {}
        out = {}
        for vi in list(m.graph.value_info) + list(m.graph.output):
            s = _static(_dims(vi.type))
            if s is not None:
                out[vi.name] = s
        return out

    def _shape(self, tensor: str, node) -> tuple[int, ...]:
        if tensor in self.shapes:
            return self.shapes[tensor]
        if tensor in self.consts:
            return tuple(self.consts[tensor].shape)
        if tensor in self.const_shapes:
            return self.const_shapes[tensor]
        raise EnergySimError(f"node {self._label(node)}: the shape of input {tensor!r} is unknown")

    def _label(self, node) -> str:
        return f"{node.name!r} ({node.op_type})" if node.name else f"{node.op_type} -> {list(node.output)}"

    # -- graph building ------------------------------------------------------------------------------------
    def _attrs(self, node) -> dict[str, Any]:
        if self.light:
            return {a.name: a.value for a in node.attribute}
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def _act_inputs(self, node) -> list[str]:
        return [i for i in node.input if i and i not in self.meta]

    def _add(self, node, kw: dict, inputs: list[str], out_shape: tuple[int, ...]) -> None:
        checks.tensor(self._label(node), node.output[0], out_shape, self.batch)
        name = _layer_name(node, self.net, self._auto_names)
        in_shapes = tuple(self._shape(i, node) for i in inputs)
        layer = Layer(name=name, input_shapes=in_shapes, output_shape=out_shape, **kw)
        edges = [(self.producer[i], self.shapes[i]) for i in inputs if self.producer.get(i) is not None]
        self.net.add_layer(layer, edges)
        out = node.output[0]
        self.shapes[out] = out_shape
        self.producer[out] = name
        self.net.sources[node.name or out] = name

    def _fuse(self, node, what: str, out_shape: tuple[int, ...]) -> None:
        src = self._act_inputs(node)
        prod = self.producer.get(src[0]) if src else None
        out = node.output[0]
        checks.tensor(self._label(node), out, out_shape, self.batch)
        self.producer[out] = prod
        self.net.sources[node.name or out] = f"fused into {prod}" if prod is not None else "fused into the input"
        self.shapes[out] = out_shape
        if prod is not None:
            layer = self.net[prod]
            self.net.replace_layer(layer.model_copy(update={"fused": layer.fused + (what,)}))

    def _elementwise(self, node, kind: str, inputs: list[str], out_shape: tuple[int, ...]) -> None:
        n, c, h, w = _spatial(out_shape)
        self._add(node, dict(kind=kind, op=node.op_type, N=n, M=c, C=c, P=h, Q=w, H=h, W=w), inputs, out_shape)

    def run(self) -> Network:
        for node in self.model.graph.node:
            self._node(node)
        return self.net

    def _node(self, node) -> None:
        op = node.op_type
        acts = self._act_inputs(node)
        standard = checks.is_standard(node)
        checks.node_attributes(node, [a.name for a in node.attribute], self._attrs(node), self._label(node))
        checks.outputs(node, self._label(node), self.shapes, self.meta)
        if not standard and (self.strict or acts):
            self._unsupported(node)
            return
        if op in _META_OPS or not acts or not standard:
            self._meta(node)
            return
        known = op in ATTRIBUTES  # exactly as ONNX spells it: the vocabulary's lookup also takes torch's spellings
        spec = ops.lookup(op, "onnx") if known else None
        handler = getattr(self, f"_op_{op}", None) if known else None  # ops with weights, spelt so only by ONNX
        if spec is None and handler is None:
            self._unsupported(node)
            return
        try:
            if handler is not None:
                handler(node)
            elif spec.role == ops.ACTIVATION:
                x = acts[0]
                self._elementwise(node, spec.kind, [x], self._shape(x, node))
            elif spec.role == ops.NORM:
                x = node.input[0]
                self._elementwise(node, spec.kind, [x], self._shape(x, node))
            elif spec.role == ops.BATCHNORM:
                self._batchnorm(node)
            elif spec.role in (ops.ADD, ops.ELEMENTWISE):
                self._elementwise_op(node, spec, acts)
            elif spec.role == ops.REDUCE:
                self._elementwise(node, spec.kind, acts, self._inferred(node))
            elif spec.role == ops.GATHER:
                self._gather(node, spec, acts)
            elif spec.role == ops.CONCAT:
                self._concat(node, spec)
            elif spec.role == ops.PASS and spec.name in _INFERRED_PASS:
                self._pass_inferred(node, acts[0])
            elif spec.role == ops.PASS:
                self._pass(node, spec, acts[0])
            elif spec.role == ops.POOL:
                self._pool(node, spec, acts[0])
        except EnergySimError:
            raise
        except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError) as exc:
            raise EnergySimError(f"node {self._label(node)}: malformed or unsupported attributes "
                                 f"({checks.describe(exc)})") from None

    def _meta(self, node) -> None:
        """Constants and shape arithmetic: evaluate what is cheap (for Reshape targets), never a layer."""
        for o in node.output:
            self.meta.add(o)
        # a namesake in another domain (kept under strict=False) may mean anything: never evaluated
        op = node.op_type if checks.is_standard(node) else None
        a = self._attrs(node)
        try:
            import numpy as np

            if op == "Constant" and "value" in a:
                self.consts[node.output[0]] = self._to_array(a["value"])
            elif op == "Shape" and node.input[0] in self.shapes:
                self.consts[node.output[0]] = np.array(self.shapes[node.input[0]], dtype=np.int64)
            elif op in _FOLDED and all(i in self.consts for i in node.input if i):
                self.consts[node.output[0]] = _fold(op, a, [self.consts[i] for i in node.input if i])
        except Exception:  # best effort: inference shapes are the fallback for what we cannot evaluate
            pass

    def _unsupported(self, node) -> None:
        label, op = self._label(node), node.op_type
        what = (f"unsupported op {op}" if checks.is_standard(node) else
                f"op {op} of domain {node.domain!r} is not a standard ONNX op (domain '' or 'ai.onnx')")
        if self.strict:
            raise EnergySimError(
                f"node {label}: {what}; import with strict=False (command line: --lenient) to keep it as an "
                "'unsupported' layer with its tensor sizes"
            )
        out = node.output[0]
        shp = self.inferred.get(out)
        if shp is None:
            raise EnergySimError(f"node {label}: {what} and its output shape cannot be inferred")
        n, c, h, w = _spatial(shp) if shp else (1, 1, 1, 1)
        self._add(node, dict(kind="unsupported", op=op, N=n, M=c, C=c, P=h, Q=w, H=h, W=w),
                  self._act_inputs(node), shp)

    # -- op handlers ---------------------------------------------------------------------------------------
    def _op_Conv(self, node) -> None:
        a = self._attrs(node)
        x, wname = node.input[0], node.input[1]
        xs = self._shape(x, node)
        ws = self._shape(wname, node)
        if len(ws) in (3, 4):
            checks.window(a, len(ws) - 2, self._label(node), pool=False)
        groups = int(a.get("group", 1))
        if len(ws) == 3:  # Conv1d: height 1, as trace records it
            xs4 = (xs[0], xs[1], 1, xs[2])
            kernel = (1, ws[2])
            a = dict(a)
            for key in ("strides", "dilations"):
                if key in a:
                    a[key] = (1, a[key][0])
            if "pads" in a:
                a["pads"] = (0, a["pads"][0], 0, a["pads"][1])
        elif len(ws) == 4:
            xs4, kernel = xs, (ws[2], ws[3])
        else:
            raise EnergySimError(f"node {self._label(node)}: only 1-D and 2-D convolutions are supported, weight {ws}")
        n, cin, h, w = xs4
        if ws[1] * groups != cin:
            raise EnergySimError(
                f"node {self._label(node)}: weight {ws} with group={groups} does not fit {cin} input channels"
            )
        cout = ws[0]
        (sh, sw), (dh, dw), (ph, pw), (p, q) = _spatial_params(a, kernel, (h, w))
        out_shape = (n, cout, q) if len(ws) == 3 else (n, cout, p, q)
        kind = "conv" if groups == 1 else ("depthwise" if groups == cin == cout else "grouped")
        bias = len(node.input) > 2 and bool(node.input[2])
        self._add(node, dict(kind=kind, op="Conv", N=n, M=cout, C=cin, P=p, Q=q, R=kernel[0], S=kernel[1], H=h, W=w,
                             stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=ph, pad_w=pw,
                             groups=groups, bias=bias), [x], out_shape)

    def _linear(self, node, x: str, in_f: int, out_f: int, bias: bool) -> None:
        xs = self._shape(x, node)
        n = math.prod(xs[:-1]) if len(xs) > 1 else 1
        out_shape = (*xs[:-1], out_f)
        self._add(node, dict(kind="linear", op=node.op_type, N=n, M=out_f, C=in_f, bias=bias), [x], out_shape)

    def _op_Gemm(self, node) -> None:
        a = self._attrs(node)
        x, wname = node.input[0], node.input[1]
        if wname not in self.meta:
            self._matmul_of_activations(node)
            return
        xs, ws = self._shape(x, node), self._shape(wname, node)
        if a.get("transA", 0):
            raise EnergySimError(f"node {self._label(node)}: Gemm with transA=1 on an activation is not supported")
        out_f, in_f = (ws[0], ws[1]) if a.get("transB", 0) else (ws[1], ws[0])
        if xs[-1] != in_f:
            raise EnergySimError(f"node {self._label(node)}: input {xs} does not fit weight {ws}")
        self._linear(node, x, in_f, out_f, len(node.input) > 2 and bool(node.input[2]))

    def _op_MatMul(self, node) -> None:
        x, wname = node.input[0], node.input[1]
        if wname not in self.meta or len(self._shape(wname, node)) != 2:
            self._matmul_of_activations(node)
            return
        ws = self._shape(wname, node)
        if self._shape(x, node)[-1] != ws[0]:
            raise EnergySimError(f"node {self._label(node)}: input {self._shape(x, node)} does not fit weight {ws}")
        self._linear(node, x, ws[0], ws[1], False)

    def _matmul_of_activations(self, node) -> None:
        """A product whose second operand is not a constant 2-D weight: a ``matmul`` layer (both operands
        activations, or a batched constant)."""
        a = self._attrs(node)
        x, y = node.input[0], node.input[1]
        xs, ys = self._shape(x, node), self._shape(y, node)
        if a.get("transA", 0):
            xs = (*xs[:-2], xs[-1], xs[-2])
        if a.get("transB", 0):
            ys = (*ys[:-2], ys[-1], ys[-2])
        self._product(node, node.op_type, matmul_shape(xs, ys, f"node {self._label(node)}"), x, y)

    def _op_Einsum(self, node) -> None:
        eq = self._attrs(node)["equation"]
        eq = eq.decode() if isinstance(eq, bytes) else eq
        if len(node.input) != 2:
            raise EnergySimError(f"node {self._label(node)}: Einsum of {len(node.input)} operands; two are supported")
        x, y = node.input
        self._product(node, f"Einsum({eq})", einsum_shape(eq, self._shape(x, node), self._shape(y, node)), x, y)

    def _product(self, node, op: str, shape: MatmulShape, x: str, y: str) -> None:
        x_const, y_const = x in self.meta, y in self.meta
        if x_const and not y_const:  # the constant takes the weight position: (A B)ᵀ = Bᵀ Aᵀ
            shape, x, y, y_const = shape.transposed(), y, x, True
        out = self.inferred.get(node.output[0]) or (shape.G * shape.P, shape.M)
        self._add(node, dict(kind="matmul", op=op, weight_role="weight" if y_const else "activation",
                             **shape.layer_fields()), [x] if y_const else [x, y], tuple(out))

    def _inferred(self, node) -> tuple[int, ...]:
        out = self.inferred.get(node.output[0])
        if out is None:
            raise EnergySimError(f"node {self._label(node)}: the output shape of {node.op_type} cannot be inferred")
        return out

    def _pass_inferred(self, node, x: str) -> None:
        """Layout ops (Transpose, Slice, Split, Expand, Cast): no data moves; their output shapes come from
        ONNX shape inference (run on the model with the batch this import uses). Every output of a Split
        comes from the same producer."""
        prod = self.producer.get(x)
        for out in node.output:
            if not out:
                continue
            shp = self.inferred.get(out)
            if shp is None:
                raise EnergySimError(f"node {self._label(node)}: the output shape of {node.op_type} cannot be "
                                     "inferred")
            checks.tensor(self._label(node), out, shp, self.batch)
            self.shapes[out] = shp
            self.producer[out] = prod
        self.net.sources[node.name or node.output[0]] = f"fused into {prod}" if prod else "fused into the input"
        if prod is not None:
            layer = self.net[prod]
            self.net.replace_layer(layer.model_copy(update={"fused": layer.fused + (node.op_type,)}))

    def _gather(self, node, spec: ops.Op, acts: list[str]) -> None:
        """``Gather`` of rows of a constant table by activation indices is an embedding lookup (it reads the
        indices and one table row per index); a Gather of an activation is a selection (no data moves)."""
        data = node.input[0]
        if data not in self.meta:
            self._pass_inferred(node, data)
            return
        out = self._inferred(node)
        self._add(node, dict(kind="gather", op="Gather", **_flat_dims(out)), acts, out)
        layer = self.net[self.producer[node.output[0]]]
        self.net.replace_layer(layer.model_copy(update={"input_shapes": layer.input_shapes + (out,)}))

    def _batchnorm(self, node) -> None:
        x = node.input[0]
        prod = self.producer.get(x)
        foldable = self.fold_bn and prod is not None and self.net[prod].has_macs and self.consumers.get(x, 0) == 1
        if foldable:
            self._fuse(node, f"BatchNormalization:{node.name or node.output[0]}", self._shape(x, node))
        else:
            self._elementwise(node, "norm", [x], self._shape(x, node))

    def _concat(self, node, spec: ops.Op) -> None:
        a = self._attrs(node)
        acts = self._act_inputs(node)
        shapes = [self._shape(i, node) for i in acts]
        axis = a["axis"] % len(shapes[0])
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        self._elementwise(node, spec.kind, acts, tuple(out))

    def _elementwise_op(self, node, spec: ops.Op, acts: list[str]) -> None:
        shapes = [self._shape(i, node) for i in node.input if i]
        out = _broadcast(shapes, self._label(node))
        # a constant Add right after a constant-weight MatMul is that linear layer's bias (exporters write
        # nn.Linear this way when they do not emit Gemm)
        if node.op_type == "Add" and len(acts) == 1 and len(node.input) == 2:
            prod = self.producer.get(acts[0])
            if prod is not None:
                layer = self.net[prod]
                if (layer.kind == "linear" and layer.op == "MatMul" and not layer.bias
                        and self.consumers.get(acts[0], 0) == 1 and out == self._shape(acts[0], node)):
                    self.net.replace_layer(layer.model_copy(update={"bias": True}))
                    self.producer[node.output[0]] = prod
                    self.shapes[node.output[0]] = out
                    return
        self._elementwise(node, spec.kind, acts, out)

    def _pool(self, node, spec: ops.Op, x: str) -> None:
        if spec.window == "adaptive":  # torch's adaptive pools have no ONNX op: the output size is not an attribute
            self._unsupported(node)
            return
        op = node.op_type
        xs = self._shape(x, node)
        if len(xs) != 4:
            raise EnergySimError(f"node {self._label(node)}: only 2-D pooling on NCHW tensors is supported, got {xs}")
        n, c, h, w = xs
        if spec.window == "global":
            self._add(node, dict(kind="pool", op=op, N=n, M=c, C=c, P=1, Q=1, R=h, S=w, H=h, W=w,
                                 stride_h=h, stride_w=w), [x], (n, c, 1, 1))
            return
        a = self._attrs(node)
        checks.window(a, 2, self._label(node), pool=True)
        kernel = tuple(a["kernel_shape"])
        (sh, sw), _, (ph, pw), (p, q) = _spatial_params(a, kernel, (h, w))
        self._add(node, dict(kind="pool", op=op, N=n, M=c, C=c, P=p, Q=q, R=kernel[0], S=kernel[1], H=h, W=w,
                             stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw), [x], (n, c, p, q))

    def _pass(self, node, spec: ops.Op, x: str) -> None:
        op = node.op_type
        xs = self._shape(x, node)
        a = self._attrs(node)
        if spec.name in ("dropout", "identity"):
            out = xs
        elif spec.name == "flatten":
            axis = a.get("axis", 1) % (len(xs) + 1) if xs else 0
            out = (math.prod(xs[:axis]), math.prod(xs[axis:]))
        elif spec.name == "reshape":
            out = self._reshape(node, xs, a)
        else:  # squeeze, unsqueeze
            axes = a.get("axes")
            if axes is None and len(node.input) > 1 and node.input[1]:
                axes = self.consts.get(node.input[1])
                if axes is None:
                    out = self.inferred.get(node.output[0])
                    if out is None:
                        raise EnergySimError(f"node {self._label(node)}: cannot determine its axes")
                    self._fuse(node, op, out)
                    return
            axes = [int(v) for v in (axes if axes is not None else [])]
            if spec.name == "squeeze":
                ax = {v % len(xs) for v in axes} if axes else {i for i, d in enumerate(xs) if d == 1}
                out = tuple(d for i, d in enumerate(xs) if i not in ax)
            else:
                rank = len(xs) + len(axes)
                ax = sorted(v % rank for v in axes)
                out_l = list(xs)
                for v in ax:
                    out_l.insert(v, 1)
                out = tuple(out_l)
        self._fuse(node, op, tuple(int(d) for d in out))

    def _reshape(self, node, xs: tuple[int, ...], a: dict) -> tuple[int, ...]:
        target = self.consts.get(node.input[1]) if len(node.input) > 1 else a.get("shape")
        if target is None:  # computed at run time from something we could not evaluate: trust inference
            inferred = self.inferred.get(node.output[0])
            if inferred is None or math.prod(inferred) != math.prod(xs):
                raise EnergySimError(f"node {self._label(node)}: cannot determine the target shape of Reshape")
            return inferred
        return _reshape(xs, target, bool(a.get("allowzero", 0)), self.orig_batch, self.batch, self._label(node))

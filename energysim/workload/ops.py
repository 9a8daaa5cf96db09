"""The op vocabulary both front ends share: canonical op names, the role each plays in the workload graph
(and so the ``LayerKind`` it becomes), and ``lookup`` from a front end's native name to the op.

A native name is what a front end calls an op: a torch module class name (``LeakyReLU``), a function's
``__name__`` (``leaky_relu``, ``iadd``), a tensor method name (``relu_``) or an ONNX ``op_type``
(``LeakyRelu``). ``key`` folds spellings (lower case, no underscores), so those three meet as ``leakyrelu``
and in-place forms (``relu_``, ``add_``) meet their plain op. Spellings that differ by more than that are
listed per front end in ``_ALIASES``, so that one front end's name never changes the meaning of another's
(ONNX ``Sum`` is an element-wise add, ``torch.sum`` a reduction).

Only ops whose handling is the same in both front ends are here. What each front end must decide for
itself stays with it: which torch modules and functions are convolutions and linear layers (their weights
are read from front-end objects), ONNX ``Conv``/``Gemm``/``MatMul``, metadata ops (``x.size()``,
ONNX ``Shape``/``Constant``), and how a pool's window or a reshape's target is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from energysim.workload.layer import LayerKind

FrontEnd = Literal["torch", "onnx"]
Role = Literal["activation", "pass", "add", "elementwise", "concat", "pool", "norm", "batchnorm", "reduce",
               "gather"]
Window = Literal["kernel", "adaptive", "global"]

ACTIVATION: Role = "activation"  # one input, same shape out
PASS: Role = "pass"  # moves no data: recorded in the producing layer's ``fused``, never a node
ADD: Role = "add"  # element-wise sums (residual connections): n inputs, one output
ELEMENTWISE: Role = "elementwise"  # other element-wise arithmetic (mul, div, sub, exp, ...) on activations
REDUCE: Role = "reduce"  # a reduction over axes (mean, sum, amax): reads its input, writes a smaller output
GATHER: Role = "gather"  # rows of a table picked by index tensors (embedding lookups)
CONCAT: Role = "concat"
POOL: Role = "pool"
NORM: Role = "norm"  # a normalisation that is always its own layer
BATCHNORM: Role = "batchnorm"  # folded into a preceding conv/linear when allowed, else a norm layer

_KIND: dict[Role, LayerKind | None] = {
    ACTIVATION: "activation",
    PASS: None,
    ADD: "add",
    ELEMENTWISE: "elementwise",
    REDUCE: "reduce",
    GATHER: "gather",
    CONCAT: "concat",
    POOL: "pool",
    NORM: "norm",
    BATCHNORM: "norm",
}


@dataclass(frozen=True)
class Op:
    """A canonical op: its ``name``, its ``role`` and, for pools, how the window is given."""

    name: str
    role: Role
    #: pools only: ``kernel`` (window attributes), ``adaptive`` (derived from the output size) or
    #: ``global`` (the whole input map)
    window: Window | None = None

    @property
    def kind(self) -> LayerKind | None:
        """The layer kind this op becomes (``None`` for pass-through ops, which are fused)."""
        return _KIND[self.role]


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        *(Op(n, ACTIVATION) for n in (
            "relu", "relu6", "leakyrelu", "prelu", "elu", "selu", "gelu", "silu", "mish", "softplus", "sigmoid",
            "tanh", "hardsigmoid", "hardswish", "hardtanh", "clip", "softmax", "logsoftmax", "erf",
        )),
        # layout ops: views and reshuffles of the same words, which an accelerator's address generation
        # absorbs; recorded in the producer's ``fused`` list
        *(Op(n, PASS) for n in ("identity", "dropout", "flatten", "reshape", "squeeze", "unsqueeze", "transpose",
                                "permute", "expand", "slice", "split", "cast")),
        Op("add", ADD),
        *(Op(n, ELEMENTWISE) for n in ("mul", "div", "sub", "pow", "neg", "exp", "sqrt", "rsqrt", "where",
                                       "maskedfill", "abs", "reciprocal")),
        *(Op(n, REDUCE) for n in ("mean", "reducemean", "reducesum", "reducemax")),
        Op("embedding", GATHER),
        Op("concat", CONCAT),
        Op("maxpool", POOL, "kernel"),
        Op("avgpool", POOL, "kernel"),
        Op("adaptivemaxpool", POOL, "adaptive"),
        Op("adaptiveavgpool", POOL, "adaptive"),
        Op("globalmaxpool", POOL, "global"),
        Op("globalavgpool", POOL, "global"),
        Op("localresponsenorm", NORM),
        Op("layernorm", NORM),
        Op("groupnorm", NORM),
        Op("batchnorm", BATCHNORM),
    )
}

#: native spellings (as ``key`` folds them) that are not a canonical name, per front end
_ALIASES: dict[FrontEnd, dict[str, str]] = {
    "torch": {
        "iadd": "add",  # operator.iadd / operator.imul: ``x += y``, ``x *= y``
        "imul": "mul",
        "cat": "concat",
        "stack": "concat",
        "view": "reshape",
        "t": "transpose",
        "swapaxes": "transpose",
        "getitem": "slice",  # x[..., i:j] on a tensor (on a tuple it is resolved by the tracer)
        "chunk": "split",
        "unbind": "split",
        "narrow": "slice",
        "clamp": "clip",
        "truediv": "div",
        "float": "cast",
        "typeas": "cast",
        "to": "cast",
        "amax": "reducemax",
        "sum": "reducesum",
        "isub": "sub",
        "itruediv": "div",
        "contiguous": "identity",  # a layout copy the accelerator model does not see
        "dropout2d": "dropout",
        "maxpool2d": "maxpool",
        "avgpool2d": "avgpool",
        "adaptivemaxpool2d": "adaptivemaxpool",
        "adaptiveavgpool2d": "adaptiveavgpool",
        "batchnorm1d": "batchnorm",
        "batchnorm2d": "batchnorm",
    },
    "onnx": {
        "sum": "add",  # variadic add; only here, because torch's ``sum`` is a reduction
        "gelu": "gelu",
        "gather": "embedding",  # a Gather of an initializer table by activation indices
        "cast": "cast",
        "averagepool": "avgpool",
        "globalaveragepool": "globalavgpool",
        "lrn": "localresponsenorm",
        "layernormalization": "layernorm",
        "groupnormalization": "groupnorm",
        "batchnormalization": "batchnorm",
    },
}


def key(native: str) -> str:
    """A spelling-insensitive key: lower case without underscores (``leaky_relu``/``LeakyRelu`` -> ``leakyrelu``;
    in-place ``relu_`` -> ``relu``, dunder ``__add__`` -> ``add``)."""
    return native.lower().replace("_", "")


def canonical(native: str, front_end: FrontEnd) -> str | None:
    """The canonical name of ``front_end``'s op ``native``, or ``None`` when it is not in the vocabulary."""
    k = key(native)
    k = _ALIASES[front_end].get(k, k)
    return k if k in OPS else None


def lookup(native: str, front_end: FrontEnd) -> Op | None:
    """The ``Op`` that ``front_end`` calls ``native``, or ``None`` (the front end then decides: its own
    op, metadata, or unsupported)."""
    name = canonical(native, front_end)
    return OPS[name] if name is not None else None

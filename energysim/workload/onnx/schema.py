"""The ONNX ops the importer knows, each with every attribute the ONNX standard defines for it (the union over
all opset versions, since the importer reads models of any opset).

Why a table rather than ``onnx.defs``: reading a model must not import the ``onnx`` package (see ``wire``).
``tests/test_onnx_strict.py`` checks the table against ``onnx.defs`` of the installed package, so an op the
vocabulary (``energysim.workload.ops``) gains, or an attribute a new opset adds, shows up there.

An op_type is known only if it is a key here, spelled exactly as ONNX spells it: the vocabulary's lookup folds
case and underscores (for torch's spellings), and ``RELU`` or ``Relu6`` are not ONNX ops.
"""

from __future__ import annotations

#: the domains of the standard ONNX ops ("ai.onnx" is the default domain's long name); no other is read
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})

# ops of opset 1 carry ``consumed_inputs`` (dropped in opset 6); old binary ops ``axis``/``broadcast``
_OLD = "consumed_inputs"
_OLD_BINARY = "axis broadcast consumed_inputs"
_WINDOW = "auto_pad ceil_mode dilations kernel_shape pads strides"
_REDUCE = "axes keepdims noop_with_empty_axes"

_TABLE = {
    **dict.fromkeys(("Abs", "Exp", "Mean", "Neg", "PRelu", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Sum",
                     "Tanh"), _OLD),
    **dict.fromkeys(("Erf", "Expand", "GlobalAveragePool", "GlobalMaxPool", "HardSwish", "Identity", "MatMul",
                     "Mish", "Size", "Softplus", "Where"), ""),
    **dict.fromkeys(("Add", "Div", "Mul", "Sub"), _OLD_BINARY),
    **dict.fromkeys(("Concat", "Flatten", "Gather", "LogSoftmax", "Softmax"), "axis"),
    **dict.fromkeys(("ReduceMax", "ReduceMean", "ReduceSum"), _REDUCE),
    **dict.fromkeys(("Squeeze", "Unsqueeze"), "axes"),
    "AveragePool": _WINDOW + " count_include_pad",
    "MaxPool": _WINDOW + " storage_order",
    "Conv": "auto_pad dilations group kernel_shape pads strides",
    "BatchNormalization": "consumed_inputs epsilon is_test momentum spatial training_mode",
    "Cast": "round_mode saturate to",
    "Clip": "consumed_inputs max min",
    "Constant": "sparse_value value value_float value_floats value_int value_ints value_string value_strings",
    "ConstantOfShape": "value",
    "Dropout": "consumed_inputs is_test ratio seed",
    "Einsum": "equation",
    "Elu": "alpha consumed_inputs",
    "Gelu": "approximate",
    "Gemm": "alpha beta broadcast transA transB",
    "GroupNormalization": "epsilon num_groups stash_type",
    "HardSigmoid": "alpha beta consumed_inputs",
    "LRN": "alpha beta bias size",
    "LayerNormalization": "axis epsilon stash_type",
    "LeakyRelu": "alpha consumed_inputs",
    "Pow": "axis broadcast",
    "Reshape": "allowzero consumed_inputs shape",
    "Selu": "alpha consumed_inputs gamma",
    "Shape": "end start",
    "Slice": "axes ends starts",
    "Split": "axis num_outputs split",
    "Transpose": "perm",
}

#: op_type -> the attribute names ONNX defines for it
ATTRIBUTES: dict[str, frozenset[str]] = {op: frozenset(names.split()) for op, names in _TABLE.items()}

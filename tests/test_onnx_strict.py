"""What the ONNX importer refuses, read from a file (the ``wire`` reader) and from an ``onnx.ModelProto`` alike:
sizes past the bounds, ops outside the standard domain, attributes the op does not define, non-finite float
attributes, window attributes out of range and tensors written twice. Each error is one line naming the node or
input, the field and its value; on the command line it exits 2 and leaves ``--out`` absent."""

from __future__ import annotations

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import energysim.workload.ops as ops  # noqa: E402
from badinput import expect_error  # noqa: E402
from energysim import EnergySimError  # noqa: E402
from energysim.cli import main  # noqa: E402
from energysim.workload.onnx import checks, from_onnx  # noqa: E402
from energysim.workload.onnx.importer import _META_OPS  # noqa: E402
from energysim.workload.onnx.schema import ATTRIBUTES  # noqa: E402

#: ops the importer handles by op_type (``_op_<name>``) rather than through the shared vocabulary
_HANDLED = {"Conv", "Gemm", "MatMul", "Einsum"}


def _model(nodes, shape=(1, 3, 8, 8), inits=(), opset=13):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [x], [y], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _w(shape, name="w"):
    return numpy_helper.from_array(np.zeros(shape, np.float32), name)


def _conv(shape=(1, 3, 8, 8), wshape=(4, 3, 3, 3), **attrs):
    return _model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)], shape, [_w(wshape)])


@pytest.fixture(params=["proto", "file"])
def load(request, tmp_path):
    """``from_onnx`` on a ModelProto as given, or on the file it is saved to (read by ``wire``)."""
    def run(model, **kw):
        if request.param == "proto":
            return from_onnx(model, **kw)
        path = tmp_path / "m.onnx"
        path.write_bytes(model.SerializeToString())
        return from_onnx(path, **kw)
    return run


def _refused(load, model, *needles, **kw) -> str:
    with pytest.raises(EnergySimError) as e:
        load(model, **kw)
    msg = str(e.value)
    assert "\n" not in msg and "pydantic" not in msg and "http" not in msg, msg
    for n in needles:
        assert n in msg, f"{n!r} not in {msg!r}"
    return msg


# ---------------------------------------------------------------------------------------------------------
# The attribute table against the installed onnx package
# ---------------------------------------------------------------------------------------------------------
def test_attribute_table_matches_onnx_schemas():
    defined: dict[str, set[str]] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain == "":
            defined.setdefault(s.name, set()).update(s.attributes)
    vocabulary = {name for name in defined if ops.lookup(name, "onnx") is not None}
    assert set(ATTRIBUTES) == vocabulary | _HANDLED | _META_OPS
    for op, names in ATTRIBUTES.items():
        assert names == defined[op], op


# ---------------------------------------------------------------------------------------------------------
# 1. Sizes
# ---------------------------------------------------------------------------------------------------------
def test_input_dimension_above_the_bound_is_refused(load):
    _refused(load, _conv(shape=(1, 3, 2**40, 2**40)), "graph input 'x'", "dimension 2 = 1,099,511,627,776",
             "2,147,483,647")
    _refused(load, _conv(shape=(2**31, 3, 8, 8)), "graph input 'x'", "dimension 0 = 2,147,483,648")
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    assert load(_model(relu, shape=(1, checks.MAX_DIM))).layers[0].output_shape == (1, checks.MAX_DIM)


def test_input_elements_per_sample_are_bounded(load):
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    _refused(load, _model(relu, shape=(1, 2**16, 2**16, 2**16)), "graph input 'x'", "(1, 65536, 65536, 65536)",
             "281,474,976,710,656 elements per sample", "2**44")
    # the bound is per sample: a large batch override does not trip it
    assert load(_model(relu, shape=("N", 2**20, 2**20)), batch=4096).macs == 0


def test_derived_tensors_are_bounded(load):
    _refused(load, _conv(pads=[2**30] * 4), "node 'c' (Conv)", "output 'y'", "elements per sample")
    nodes = [helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(
                 np.array([1, 4, 2**22, 2**22], np.int64))),
             helper.make_node("Expand", ["x", "s"], ["e"], name="e"),
             helper.make_node("Relu", ["e"], ["y"], name="r")]
    _refused(load, _model(nodes, shape=(1, 4, 1, 1)), "node 'e' (Expand)", "output 'e'", "(1, 4, 4194304, 4194304)")


def test_external_initializer_shape_is_bounded(load):
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**40, 3, 3, 3],
                    data_location=TensorProto.EXTERNAL)
    w.external_data.add(key="location", value="w.bin")
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], inits=[w])
    _refused(load, model, "initializer 'w'", "1099511627776")


def test_api_batch_is_bounded():
    relu = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], shape=("N", 3))
    with pytest.raises(EnergySimError, match="batch must be a positive integer, at most 2,147,483,647; got 2147483648"):
        from_onnx(relu, batch=2**31)
    assert from_onnx(relu, batch=checks.MAX_DIM).input_shape == (checks.MAX_DIM, 3)


# ---------------------------------------------------------------------------------------------------------
# 2. Domains
# ---------------------------------------------------------------------------------------------------------
def test_op_of_another_domain_is_refused(load):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.evil")])
    _refused(load, model, "node 'r' (Relu)", "domain 'com.evil'", "not a standard ONNX op")
    # under strict=False it is an unknown op like any other: its output shape must come from inference, which
    # does not know it either
    _refused(load, model, "node 'r' (Relu)", "domain 'com.evil'", "cannot be inferred", strict=False)
    const = _model([helper.make_node("Constant", [], ["c"], name="k", domain="com.evil", value_float=1.0),
                    helper.make_node("Add", ["x", "c"], ["y"], name="a")])
    _refused(load, const, "node 'k' (Constant)", "domain 'com.evil'")


def test_default_domain_spelled_out_is_the_standard_one(load):
    plain = _conv()
    spelled = _conv()
    spelled.graph.node[0].domain = "ai.onnx"
    assert [l.macs for l in load(spelled)] == [l.macs for l in load(plain)] == [4 * 27 * 36]


def test_op_types_are_exact():
    # the vocabulary folds case for torch's spellings; ONNX op types are case-sensitive
    model = _model([helper.make_node("relu", ["x"], ["y"], name="r")])
    with pytest.raises(EnergySimError, match=r"node 'r' \(relu\): unsupported op relu"):
        from_onnx(model)


# ---------------------------------------------------------------------------------------------------------
# 3, 4. Attributes
# ---------------------------------------------------------------------------------------------------------
def test_unknown_attribute_is_refused(load):
    _refused(load, _conv(foo_attr=3), "node 'c' (Conv)", "unknown attribute 'foo_attr' for Conv", "strides")
    gemm = _model([helper.make_node("Flatten", ["x"], ["f"], name="f"),
                   helper.make_node("Gemm", ["f", "g"], ["y"], name="g", transB=1, bogus=1.0)],
                  inits=[_w((10, 192), "g")])
    _refused(load, gemm, "node 'g' (Gemm)", "unknown attribute 'bogus'")
    # shape arithmetic on constants is checked too
    shape = _model([helper.make_node("Shape", ["x"], ["s"], name="s", colour=1),
                    helper.make_node("Reshape", ["x", "s"], ["y"], name="r")])
    _refused(load, shape, "node 's' (Shape)", "unknown attribute 'colour'")


def test_attribute_given_twice_is_refused(load):
    model = _conv(strides=[1, 1])
    model.graph.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    _refused(load, model, "node 'c' (Conv)", "attribute 'strides' is given more than once")


def test_old_opset_attributes_are_accepted(load):
    # attributes ONNX dropped in later opsets still belong to the op (a model of opset 6 may carry them)
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="r", consumed_inputs=[0]),
             helper.make_node("Dropout", ["r"], ["y"], name="d", is_test=1, ratio=0.5)]
    assert [l.kind for l in load(_model(nodes, opset=6))] == ["activation"]


@pytest.mark.parametrize("attrs,needle", [
    (dict(alpha=math.nan), "alpha=nan"),
    (dict(beta=math.inf), "beta=inf"),
])
def test_non_finite_float_attribute_is_refused(load, attrs, needle):
    model = _model([helper.make_node("Flatten", ["x"], ["f"], name="f"),
                    helper.make_node("Gemm", ["f", "g"], ["y"], name="g", **attrs)], inits=[_w((192, 10), "g")])
    _refused(load, model, "node 'g' (Gemm)", needle, "not finite")


def test_non_finite_float_list_and_unknown_op_attributes_are_refused(load):
    model = _model([helper.make_node("LeakyRelu", ["x"], ["y"], name="l", alpha=-math.inf)])
    _refused(load, model, "node 'l' (LeakyRelu)", "alpha=-inf")
    odd = _model([helper.make_node("Sin", ["x"], ["y"], name="s", scales=[1.0, math.nan])])
    _refused(load, odd, "node 's' (Sin)", "scales=[1.0, nan]", "not finite", strict=False)


def test_constant_data_may_be_infinite():
    # a constant's values are data (attention masks hold -inf), not a parameter of the op
    node = helper.make_node("Constant", [], ["c"], value_floats=[-math.inf, 0.0])
    checks.node_attributes(node, ["value_floats"], {"value_floats": [-math.inf, 0.0]}, "k")


# ---------------------------------------------------------------------------------------------------------
# 5. Error texts
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs,needles", [
    (dict(dilations=[-1, -1]), ["dilations=[-1, -1]", "from 1"]),
    (dict(strides=[0, 0]), ["strides=[0, 0]", "from 1"]),
    (dict(strides=[1]), ["strides=[1]", "needs 2 integers"]),
    (dict(pads=[-5, -5, -5, -5]), ["pads=[-5, -5, -5, -5]", "from 0"]),
    (dict(kernel_shape=[3, 3, 3]), ["kernel_shape=[3, 3, 3]"]),
    (dict(auto_pad="MIDDLE"), ["auto_pad='MIDDLE'", "SAME_UPPER"]),
    (dict(group=0), ["group=0"]),
])
def test_bad_conv_attributes_read_well(load, attrs, needles):
    msg = _refused(load, _conv(**attrs), "node 'c' (Conv)", *needles)
    assert "division" not in msg and "validation error" not in msg


def test_bad_pool_attributes_read_well(load):
    pool = _model([helper.make_node("MaxPool", ["x"], ["y"], name="p")])
    _refused(load, pool, "node 'p' (MaxPool)", "attribute 'kernel_shape' is missing")
    pool = _model([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], ceil_mode=2)])
    _refused(load, pool, "node 'p' (MaxPool)", "ceil_mode=2")


def test_layer_validation_errors_are_one_line(load):
    # groups=2 fits the input channels (2 x 2) but not the 3 output channels: the Layer model refuses it
    msg = _refused(load, _conv(shape=(1, 4, 8, 8), wshape=(3, 2, 3, 3), group=2), "node 'c' (Conv)",
                   "groups=2 must divide C=4 and M=3")
    assert "Value error" not in msg


def test_zero_and_symbolic_dimensions_are_told_apart(load):
    _refused(load, _conv(shape=(1, 3, 0, 8)), "graph input 'x'", "dimension 2 = 0", "positive")
    assert "non-static" not in _refused(load, _conv(shape=(1, 3, 0, 8)))
    _refused(load, _conv(shape=("N", 3, "H", 8)), "graph input 'x'", "non-static")


def test_initializer_that_does_not_fill_its_dims(load):
    model = _conv()
    model.graph.initializer[0].dims[:] = [4, 3, 3, 4]
    _refused(load, model, "tensor 'w'", "(4,3,3,4)")


def test_tensor_written_twice_is_refused(load):
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Relu", ["x"], ["y"], name="b")])
    _refused(load, model, "node 'b' (Relu)", "output 'y'", "assigns each tensor once")


# ---------------------------------------------------------------------------------------------------------
# The command line: exit 2, one line, nothing written
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,model,needles", [
    ("huge", lambda: _conv(shape=(1, 3, 2**40, 2**40)), ["graph input 'x'", "dimension 2"]),
    ("domain", lambda: _model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.evil")]),
     ["domain 'com.evil'", "--lenient"]),
    ("attr", lambda: _conv(foo_attr=3), ["unknown attribute 'foo_attr'"]),
    ("nan", lambda: _model([helper.make_node("LeakyRelu", ["x"], ["y"], name="l", alpha=math.nan)]), ["alpha=nan"]),
    ("dilation", lambda: _conv(dilations=[-1, -1]), ["dilations=[-1, -1]"]),
])
@pytest.mark.parametrize("cmd", [["layers"], ["estimate", "--dataflow", "rs"]])
def test_cli_refuses_with_one_line(tmp_path, capsys, name, model, needles, cmd):
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model().SerializeToString())
    out = tmp_path / "out"
    argv = [cmd[0], path, *cmd[1:]] + (["--out", out] if cmd[0] == "estimate" else [])
    expect_error(main, argv, capsys, *needles, out=out, before=None)

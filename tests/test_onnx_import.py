"""ONNX import: graphs built with onnx.helper match the traced torch modules layer by layer."""

import io
import json
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from energysim import EnergySimError, trace, trace_model, zoo  # noqa: E402
from energysim.cli import main as cli_main  # noqa: E402
from energysim.workload.onnx import from_onnx  # noqa: E402

FIELDS = ("name", "kind", "N", "M", "C", "P", "Q", "R", "S", "H", "W", "stride_h", "stride_w", "dilation_h",
          "dilation_w", "pad_h", "pad_w", "groups", "bias", "input_shapes", "output_shape")


class G:
    """A tiny ONNX graph builder: each node's output tensor is named after the node."""

    def __init__(self, shape, batch_dim=None, opset=13):
        self.nodes, self.inits = [], []
        dims = [batch_dim if batch_dim is not None else shape[0], *shape[1:]]
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
        self.opset = opset
        self.last = "x"

    def init(self, name, shape, dtype=np.float32, value=None):
        arr = np.zeros(shape, dtype=dtype) if value is None else np.asarray(value, dtype=dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op, inputs, name, **attrs):
        inputs = [self.last if i is None else i for i in inputs]
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.last = name
        return name

    def conv(self, name, x, cin, cout, k, stride=1, pad=0, group=1, dilation=1, bias=True):
        kh, kw = (k, k) if isinstance(k, int) else k
        ins = [x, self.init(name + ".w", (cout, cin // group, kh, kw))]
        if bias:
            ins.append(self.init(name + ".b", (cout,)))
        return self.op("Conv", ins, name, kernel_shape=[kh, kw], strides=[stride, stride], pads=[pad] * 4,
                       group=group, dilations=[dilation, dilation])

    def bn(self, name, x, c):
        ins = [x] + [self.init(f"{name}.{p}", (c,)) for p in ("scale", "bias", "mean", "var")]
        return self.op("BatchNormalization", ins, name)

    def gemm(self, name, x, cin, cout):
        return self.op("Gemm", [x, self.init(name + ".w", (cout, cin)), self.init(name + ".b", (cout,))], name,
                       transB=1)

    def model(self, outputs=None):
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in (outputs or [self.last])]
        graph = helper.make_graph(self.nodes, "g", [self.input], outs, initializer=self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])


def assert_same(net, ref, *, check_fused=True):
    assert [l.name for l in net] == [l.name for l in ref]
    for a, b in zip(net, ref):
        for f in FIELDS:
            assert getattr(a, f) == getattr(b, f), (a.name, f, getattr(a, f), getattr(b, f))
        assert (a.macs, a.weight_count, a.input_count, a.output_count) == (b.macs, b.weight_count, b.input_count,
                                                                           b.output_count)
        if check_fused:
            assert len(a.fused) == len(b.fused), (a.name, a.fused, b.fused)
    assert set(net.graph.edges) == set(ref.graph.edges)
    for e in ref.graph.edges:
        assert net.graph.edges[e]["shape"] == ref.graph.edges[e]["shape"]
    assert net.macs == ref.macs


def assert_shapes_match_inference(model, net):
    """Our own shape rules agree with ONNX shape inference on every layer output."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {vi.name: tuple(d.dim_value for d in vi.type.tensor_type.shape.dim) for vi in inferred.graph.value_info}
    for node in model.graph.node:
        if node.name in net.graph:
            assert net[node.name].output_shape == shapes.get(node.output[0], net[node.name].output_shape), node.name


# ---------------------------------------------------------------------------------------------------------
# Graphs matching zoo models and modules
# ---------------------------------------------------------------------------------------------------------
def lenet5_onnx(batch_dim=None):
    g = G((1, 1, 28, 28), batch_dim)
    g.conv("conv1", "x", 1, 20, 5)
    g.op("MaxPool", [None], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    g.conv("conv2", "pool1", 20, 50, 5)
    g.op("MaxPool", [None], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    g.op("Flatten", [None], "flatten", axis=1)
    g.gemm("fc1", "flatten", 800, 500)
    g.op("Relu", [None], "relu")
    g.gemm("fc2", "relu", 500, 10)
    return g.model()


def digits_onnx():
    g = G((1, 1, 8, 8))
    g.conv("conv1", "x", 1, 16, 3, pad=1)
    g.op("Relu", [None], "relu1")
    g.conv("conv2", "relu1", 16, 32, 3, pad=1)
    g.op("Relu", [None], "relu2")
    g.op("MaxPool", [None], "pool1", kernel_shape=[2, 2], strides=[2, 2])
    g.conv("conv3", "pool1", 32, 64, 3, pad=1)
    g.op("Relu", [None], "relu3")
    g.op("MaxPool", [None], "pool2", kernel_shape=[2, 2], strides=[2, 2])
    # a dynamic-batch flatten as exporters write x.view(x.size(0), -1): shape arithmetic, not layers
    g.op("Shape", ["pool2"], "shape")
    g.op("Gather", ["shape", g.init("zero", (), np.int64, 0)], "n")
    g.op("Unsqueeze", ["n", g.init("axes0", (1,), np.int64, [0])], "n1")
    g.op("Concat", ["n1", g.init("minus1", (1,), np.int64, [-1])], "target", axis=0)
    g.op("Reshape", ["pool2", "target"], "view")
    g.gemm("fc", "view", 256, 10)
    return g.model()


def test_lenet5_matches_trace():
    model = lenet5_onnx()
    net = from_onnx(model)
    assert_same(net, trace_model("lenet5"))
    assert net["pool2"].fused == ("Flatten",)
    assert_shapes_match_inference(model, net)


def test_digits_cnn_matches_trace_and_shape_arithmetic_is_skipped():
    model = digits_onnx()
    net = from_onnx(model, batch=3)
    assert_same(net, trace_model("digits_cnn", batch=3))
    assert net["pool2"].fused == ("Reshape",)
    assert_shapes_match_inference(digits_onnx(), from_onnx(digits_onnx()))


def test_residual_block_with_bn_folded_and_unfolded():
    torch.manual_seed(0)
    block = zoo.BasicBlock(16, 32, stride=2)
    g = G((2, 16, 10, 10))
    g.conv("downsample.0", "x", 16, 32, 1, stride=2, bias=False)
    g.bn("downsample.1", "downsample.0", 32)
    g.conv("conv1", "x", 16, 32, 3, stride=2, pad=1, bias=False)
    g.bn("bn1", "conv1", 32)
    g.op("Relu", [None], "relu")
    g.conv("conv2", "relu", 32, 32, 3, pad=1, bias=False)
    g.bn("bn2", "conv2", 32)
    g.op("Add", ["bn2", "downsample.1"], "add")
    g.nodes.append(helper.make_node("Relu", ["add"], ["out"], name="relu"))  # the module called twice
    g.last = "out"
    model = g.model()
    ref = trace(block, (2, 16, 10, 10))
    net = from_onnx(model)
    assert_same(net, ref)
    assert [l.name for l in net][-1] == "relu#2"
    assert net["conv1"].fused == ("BatchNormalization:bn1",)
    assert_same(from_onnx(model, fold_bn=False), trace(block, (2, 16, 10, 10), fold_bn=False))


def test_bn_after_a_shared_conv_output_is_not_folded():
    g = G((1, 3, 8, 8))
    g.conv("conv", "x", 3, 8, 3, pad=1)
    g.bn("bn", "conv", 8)
    g.op("Add", ["bn", "conv"], "add")  # conv's output feeds the BN and the add
    net = from_onnx(g.model())
    assert [l.kind for l in net] == ["conv", "norm", "add"] and net["conv"].fused == ()


def test_inception_concat_matches_trace():
    block = zoo.Inception(16, 8, 4, 8, 2, 4, 4)
    g = G((1, 16, 7, 7))

    def conv_relu(prefix, x, cin, cout, k, pad=0):
        g.conv(f"{prefix}.0", x, cin, cout, k, pad=pad)
        return g.op("Relu", [None], f"{prefix}.1")

    b1 = conv_relu("branch1", "x", 16, 8, 1)
    conv_relu("branch2.0", "x", 16, 4, 1)
    b2 = conv_relu("branch2.1", None, 4, 8, 3, pad=1)
    conv_relu("branch3.0", "x", 16, 2, 1)
    b3 = conv_relu("branch3.1", None, 2, 4, 5, pad=2)
    g.op("MaxPool", ["x"], "branch4.0", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], ceil_mode=1)
    b4 = conv_relu("branch4.1", None, 16, 4, 1)
    g.op("Concat", [b1, b2, b3, b4], "cat", axis=1)
    model = g.model()
    net = from_onnx(model)
    assert_same(net, trace(block, (1, 16, 7, 7)))
    assert net["cat"].M == 24 and len(net["cat"].input_shapes) == 4
    assert_shapes_match_inference(model, net)


def test_depthwise_grouped_global_pool_and_matmul_linear():
    torch.manual_seed(0)
    mod = nn.Sequential(
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU6(),
        nn.Conv2d(8, 16, 1),
        nn.Conv2d(16, 32, 3, padding=2, dilation=2, groups=4),
        nn.Sigmoid(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 5),
        nn.Softmax(dim=1),
    )
    g = G((2, 8, 9, 9))
    g.conv("0", "x", 8, 8, 3, stride=2, pad=1, group=8, bias=False)
    g.bn("1", "0", 8)
    g.op("Clip", ["1", g.init("lo", (), value=0.0), g.init("hi", (), value=6.0)], "2")
    g.conv("3", "2", 8, 16, 1)
    g.conv("4", "3", 16, 32, 3, pad=2, dilation=2, group=4)
    g.op("Sigmoid", [None], "5")
    g.op("GlobalAveragePool", [None], "6")
    g.op("Flatten", [None], "7")
    g.op("MatMul", ["7", g.init("8.w", (32, 5))], "8")
    g.op("Add", ["8", g.init("8.b", (5,))], "8.bias")
    g.op("Softmax", [None], "9", axis=1)
    model = g.model()
    net = from_onnx(model)
    assert_same(net, trace(mod, (2, 8, 9, 9)))
    assert [l.kind for l in net.mac_layers()] == ["depthwise", "conv", "grouped", "linear"]
    assert net["0"].groups == 8 and net["4"].groups == 4 and net["4"].dilation_h == 2
    assert net["8"].bias and net["8"].fused == ()  # the constant Add is the Linear's bias
    assert_shapes_match_inference(model, net)


def test_lrn_is_a_norm_layer_like_alexnet():
    mod = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2),
                        nn.Dropout())
    g = G((1, 3, 31, 31))
    g.conv("0", "x", 3, 8, 5, stride=2)
    g.op("Relu", [None], "1")
    g.op("LRN", [None], "2", size=5)
    g.op("MaxPool", [None], "3", kernel_shape=[3, 3], strides=[2, 2])
    g.op("Dropout", [None], "4")
    assert_same(from_onnx(g.model()), trace(mod, (1, 3, 31, 31)))


def test_same_auto_pad_and_conv1d():
    g = G((1, 4, 10, 10))
    g.op("Conv", ["x", g.init("w", (6, 4, 3, 3))], "c", kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    l = from_onnx(g.model())["c"]
    assert (l.P, l.Q, l.pad_h) == (5, 5, 0)
    g1 = G((2, 4, 20))
    g1.op("Conv", ["x", g1.init("w", (6, 4, 3))], "c", kernel_shape=[3], strides=[2], pads=[1, 1])
    ref = trace(nn.Sequential(nn.Conv1d(4, 6, 3, stride=2, padding=1, bias=False)), (2, 4, 20))
    net = from_onnx(g1.model())
    l, r = net["c"], ref.layers[0]
    assert (l.R, l.S, l.P, l.Q, l.stride_w, l.pad_w, l.macs) == (r.R, r.S, r.P, r.Q, r.stride_w, r.pad_w, r.macs)


# ---------------------------------------------------------------------------------------------------------
# Batch handling
# ---------------------------------------------------------------------------------------------------------
def test_symbolic_and_fixed_batch_override():
    sym = lenet5_onnx(batch_dim="N")
    assert from_onnx(sym).macs == trace_model("lenet5").macs  # symbolic batch defaults to 1
    assert from_onnx(sym, batch=4).macs == 4 * trace_model("lenet5").macs
    net = from_onnx(lenet5_onnx(), batch=3)  # a fixed batch 1 is overridden too
    assert all(l.N == 3 for l in net) and net.input_shape == (3, 1, 28, 28)


def test_reshape_target_with_exporter_batch_follows_override():
    g = G((1, 2, 4, 4))
    g.conv("conv", "x", 2, 3, 1)
    g.op("Reshape", ["conv", g.init("t", (2,), np.int64, [1, -1])], "r")
    g.gemm("fc", "r", 48, 7)
    net = from_onnx(g.model(), batch=5)
    assert (net["fc"].N, net["fc"].C) == (5, 48)


# ---------------------------------------------------------------------------------------------------------
# torch.onnx.export, where it works offline
# ---------------------------------------------------------------------------------------------------------
def _export(name, batch=1):
    m = zoo.build(name).eval()
    f = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, torch.zeros(batch, *zoo.input_shape(name)), f, dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "n"}})
    except Exception as exc:  # the exporter needs optional packages in some torch builds
        pytest.skip(f"torch.onnx.export unavailable: {exc}")
    return onnx.load_from_string(f.getvalue())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torch_exported_zoo_models_match_trace(name):
    net = from_onnx(_export(name), batch=2)
    ref = trace_model(name, batch=2)
    key = lambda l: (l.name, l.kind, l.N, l.M, l.C, l.P, l.Q, l.R, l.S, l.stride_h, l.groups, l.macs)  # noqa: E731
    assert [key(l) for l in net.mac_layers()] == [key(l) for l in ref.mac_layers()]
    assert net.macs == ref.macs and len(net) == len(ref)


# ---------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------
def test_unsupported_op_strict_and_lenient():
    g = G((1, 3, 4, 4))
    g.op("Hardmax", ["x"], "myhm")
    g.op("Relu", [None], "relu")
    with pytest.raises(EnergySimError, match=r"node 'myhm' \(Hardmax\): unsupported op Hardmax.*--lenient"):
        from_onnx(g.model())
    net = from_onnx(g.model(), strict=False)
    assert [l.kind for l in net] == ["unsupported", "activation"] and net["myhm"].output_count == 48
    assert net["myhm"].op == "Hardmax" and ("myhm", "relu") in net.graph.edges


def test_matmul_of_two_activations_is_a_matmul_layer():
    g = G((2, 4, 6))
    g.op("Transpose", ["x"], "t", perm=[0, 2, 1])
    g.op("MatMul", ["x", None], "mm")
    net = from_onnx(g.model())
    mm = net["mm"]
    assert mm.kind == "matmul" and mm.weight_role == "activation" and mm.macs == 2 * 4 * 4 * 6
    assert (mm.groups, mm.P, mm.M // mm.groups, mm.C // mm.groups) == (2, 4, 4, 6)


def test_bad_files(tmp_path):
    with pytest.raises(EnergySimError, match=r"ONNX file '.*nope.onnx' not found"):
        from_onnx(tmp_path / "nope.onnx")
    with pytest.raises(EnergySimError, match="is a directory"):
        from_onnx(tmp_path)
    for i, content in enumerate([b"", b"hello, I am not a model\n", bytes(range(256)) * 4]):
        p = tmp_path / f"bad{i}.onnx"
        p.write_bytes(content)
        with pytest.raises(EnergySimError, match="not (a readable )?(an )?ONNX model") as e:
            from_onnx(p)
        assert "\n" not in str(e.value)
    with pytest.raises(EnergySimError, match="batch must be a positive integer"):
        from_onnx(lenet5_onnx(), batch=0)


def test_bad_weights_name_the_node():
    g = G((1, 3, 8, 8))
    g.op("Conv", ["x", g.init("w", (8, 2, 3, 3))], "c", kernel_shape=[3, 3])
    with pytest.raises(EnergySimError, match=r"node 'c' \(Conv\).*group=1 does not fit 3 input channels"):
        from_onnx(g.model())
    g = G((1, 3, 8, 8))
    g.op("Conv", ["x", g.init("w", (8, 3, 9, 9))], "c", kernel_shape=[9, 9])
    with pytest.raises(EnergySimError, match=r"node 'c' \(Conv\).*window 9"):
        from_onnx(g.model())


def test_missing_onnx_package_gives_clear_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(EnergySimError, match=r"optional 'onnx' package"):
        from_onnx("model.onnx")


def test_cli_layers_reads_onnx(tmp_path, capsys):
    path = tmp_path / "lenet.onnx"
    onnx.save(lenet5_onnx(batch_dim="N"), str(path))
    assert cli_main(["layers", str(path), "--json", "--batch", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    ref = trace_model("lenet5", batch=2).to_dataframe().to_dict(orient="records")
    drop_op = lambda rs: [{k: v for k, v in r.items() if k != "op"} for r in rs]  # noqa: E731  (Conv vs Conv2d)
    assert drop_op(rows) == drop_op(ref)
    bad = tmp_path / "bad.onnx"
    bad.write_text("not onnx")
    assert cli_main(["layers", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not" in err and "ONNX model" in err


def test_unnamed_nodes_are_named_like_fx():
    g = G((1, 3, 4, 4))
    g.nodes.append(helper.make_node("Relu", ["x"], ["a"]))
    g.nodes.append(helper.make_node("Relu", ["a"], ["b"]))
    g.nodes.append(helper.make_node("Add", ["a", "b"], ["c"]))
    g.nodes.append(helper.make_node("Add", ["c", "b"], ["d"], name="/Add_1"))  # torch's root-scope form
    g.last = "d"
    net = from_onnx(g.model())
    assert [l.name for l in net] == ["relu", "relu_1", "add", "add_1"]
    assert set(net.graph.edges) == {("relu", "relu_1"), ("relu", "add"), ("relu_1", "add"), ("add", "add_1"),
                                    ("relu_1", "add_1")}


def test_weights_in_a_missing_external_file(tmp_path):
    # ZigZag's example models ship without their external weight files: only shapes are needed, so they load
    g = G((1, 3, 8, 8))
    g.op("Conv", ["x", g.init("w", (8, 3, 3, 3))], "c", kernel_shape=[3, 3])
    p = tmp_path / "ext.onnx"
    onnx.save_model(g.model(), str(p), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    (tmp_path / "ext.bin").unlink()
    net = from_onnx(p)
    (conv,) = [l for l in net if l.has_macs]
    assert (conv.M, conv.C, conv.R, conv.S, conv.P, conv.Q) == (8, 3, 3, 3, 6, 6)

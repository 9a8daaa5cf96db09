"""``dkm export --format onnx``: the compressed ONNX model computes each shared weight from a codebook and an index
tensor (Gather + Reshape), gives the ``.dkm`` model's outputs, and is at most 10% larger than the artifact.

Runs with onnxruntime when installed, else with onnx's reference evaluator (part of the ``onnx`` extra)."""

import json
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")

import onnx  # noqa: E402

import dkm  # noqa: E402
from dkm.cli import main  # noqa: E402
from dkm.export import export_onnx, run_onnx, verify  # noqa: E402
from dkm.layers import resolve_layers  # noqa: E402
from dkm.share import share_weights  # noqa: E402
from energysim import zoo  # noqa: E402


def _artifact(tmp_path, name, **resolve):
    torch.manual_seed(0)
    model = zoo.build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = share_weights(model, resolve_layers(model, **resolve), max_iter=5)  # converged or not, all the same
    path = tmp_path / f"{name}.dkm"
    dkm.save(path, model, shared, model_name=name, float16=resolve.get("lut_group", 0) > 0)
    return path


@pytest.fixture(scope="module")
def lenet_artifact(tmp_path_factory):
    # the README's shape of compression: conv and FC layers shared, FC in 4-vectors, fc1 sparse (Huffman-coded)
    return _artifact(tmp_path_factory.mktemp("lenet"), "lenet5", clusters=[8, 64, 128, 16], linear_vector_size=4,
                     sparsity=[0, 0, 0.8, 0], sparsity_mode="mean")


def test_lenet_round_trip_and_size(lenet_artifact, tmp_path, capsys):
    out = tmp_path / "lenet.onnx"
    assert main(["export", str(lenet_artifact), "--format", "onnx", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert out.stat().st_size == res["onnx_bytes"] <= 1.1 * lenet_artifact.stat().st_size
    assert res["indices"]["fc1"] == "huffman"
    v = verify(lenet_artifact, out, 100)
    assert v["inputs"] == 100 and v["max_abs_diff"] <= 1e-5 and v["weights_identical"], v
    # each shared weight is computed in the graph, from a codebook and indices (no dense weight stored)
    m = onnx.load(str(out))
    inits = {t.name: t for t in m.graph.initializer}
    produced = {o: n for n in m.graph.node for o in n.output}
    for layer in ("conv1", "conv2", "fc1", "fc2"):
        assert f"{layer}.weight" not in inits and produced[f"{layer}.weight"].op_type == "Reshape"
        assert produced[produced[f"{layer}.weight"].input[0]].op_type == "Gather"
        assert f"{layer}.codebook" in inits


def test_every_index_encoding_gives_the_same_model(tmp_path):
    art = _artifact(tmp_path, "digits_cnn", clusters=[4, 300, 64])  # K = 300 needs uint16 indices
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = dkm.load(art).model.eval()(x).numpy()
    for enc in ("int", "packed", "huffman"):
        res = export_onnx(art, tmp_path / f"{enc}.onnx", indices=enc)
        out, _ = run_onnx(res.path, x.numpy())
        assert np.abs(out - ref).max() <= 1e-5, enc
    inits = {t.name: t for t in onnx.load(str(tmp_path / "int.onnx")).graph.initializer}
    assert inits["conv1.indices"].data_type == onnx.TensorProto.UINT8  # the smallest integer type for K
    assert inits["conv2.indices"].data_type == onnx.TensorProto.UINT16
    sizes = {e: (tmp_path / f"{e}.onnx").stat().st_size for e in ("int", "packed")}
    assert sizes["packed"] < sizes["int"]


def test_lookup_tables_and_float16_codebooks(tmp_path):
    art = _artifact(tmp_path, "digits_cnn", clusters=[4, 8, 8], lut_group=4)
    res = export_onnx(art, tmp_path / "lut.onnx")
    ops = {n.op_type for n in onnx.load(res.path).graph.node}
    assert "GatherND" in ops
    v = verify(art, res.path, 20)
    assert v["max_abs_diff"] <= 1e-5 and v["weights_identical"]


def test_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.dkm"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err

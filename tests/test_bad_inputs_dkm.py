"""Bad inputs to ``dkm`` (compress options, weights files, data files, artifacts, score/inspect): each exits 2 with
one line naming the field and value, no traceback, before any training, and leaves ``--out`` as it was.
Artifacts include files whose manifest was edited and re-signed: the checksum matches, the structure does not."""

from __future__ import annotations

import gzip
import json
import pickle
import struct

import numpy as np
import pytest
import torch

import dkm
from badinput import expect_error, resign, resign_raw, run, snapshot
from dkm.cli import main
from energysim import zoo

QUICK = ["--pretrain-epochs", "1", "--retrain-epochs", "1", "--finetune-epochs", "1", "--quiet"]

OPTIONS = [  # (compress flags, words of the one line)
    (["--cluster-rate", "1.5"], ["--cluster-rate", "'1.5' must be <= 1"]),
    (["--cluster-rate", "0"], ["--cluster-rate", "'0' must be > 0"]),
    (["--cluster-rate", "nan"], ["--cluster-rate", "'nan' is not a finite number"]),
    (["--cluster-rate", "inf"], ["--cluster-rate", "'inf' is not a finite number"]),
    (["--first-rate", "2"], ["--first-rate", "'2' must be <= 1"]),
    (["--clusters", "-1,4,4"], ["-1"]),
    (["--clusters", "4,x,8"], ["--clusters", "'4,x,8'"]),
    (["--clusters", "conv1=4,conv9=3"], ["conv9"]),
    (["--clusters", "4,8"], ["got 2 value"]),
    (["--lam", "-1"], ["--lam", "'-1' must be >= 0"]),
    (["--lam", "inf"], ["--lam", "'inf' is not a finite number"]),
    (["--temperature", "0"], ["--temperature", "'0' must be > 0"]),
    (["--sparsity", "0.5,1.5,0"], ["sparsity", "1.5"]),
    (["--sparsity", "nan"], ["--sparsity", "nan is not a finite number"]),
    (["--pretrain-epochs", "-1"], ["--pretrain-epochs", "'-1' must be >= 0"]),
    (["--f-update-epochs", "0"], ["--f-update-epochs", "'0' must be >= 1"]),
    (["--seed", "-5"], ["--seed", "'-5' must be >= 0"]),
    (["--linear-vector-size", "-2"], ["--linear-vector-size", "'-2' must be >= 0"]),
    (["--regularizer", "soft"], ["--regularizer: invalid choice: 'soft'"]),
    (["--grouping", "column"], ["--grouping: invalid choice: 'column'"]),
]


@pytest.mark.parametrize("extra,needles", OPTIONS, ids=[f"{e[0]}={e[1]}" for e, _ in OPTIONS])
def test_bad_compress_option(tmp_path, capsys, extra, needles):
    out = tmp_path / "out"
    expect_error(main, ["compress", "digits_cnn", "--data", "digits", *QUICK, *extra, "--out", out], capsys,
                 *needles, out=out, before=None)


@pytest.mark.parametrize("argv,needles", [
    (["compress", "--data", "digits"], ["no model given"]),
    (["compress", "lenet5", "--model", "digits_cnn", "--data", "digits"], ["MODEL 'lenet5' and --model 'digits_cnn'"]),
    (["compress", "no_such_model", "--data", "digits"], ["unknown model 'no_such_model'"]),
    (["compress", "digits_cnn"], ["--data"]),
])
def test_bad_compress_model(tmp_path, capsys, argv, needles):
    out = tmp_path / "out"
    expect_error(main, [*argv, *QUICK, "--out", out], capsys, *needles, out=out, before=None)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.save(zoo.build("lenet5").state_dict(), d / "other_model.pt")
    sd = zoo.build("digits_cnn").state_dict()
    torch.save({"state_dict": sd, "epoch": 3}, d / "checkpoint.pt")
    torch.save({**sd, "conv1.weight": torch.zeros(3, 1, 3, 3)}, d / "wrong_shape.pt")
    nan = dict(sd)
    nan["conv2.weight"] = nan["conv2.weight"].clone()
    nan["conv2.weight"][0, 0, 0, 0] = float("nan")
    torch.save(nan, d / "nan.pt")
    del sd["conv1.bias"]
    torch.save(sd, d / "missing_key.pt")
    torch.save([1, 2, 3], d / "a_list.pt")
    (d / "garbage.pt").write_bytes(b"garbage, not torch.save")
    (d / "folder.pt").mkdir()
    return d


@pytest.mark.parametrize("name,needles", [
    ("missing.pt", ["--state-dict", "missing.pt", "no such file"]),
    ("folder.pt", ["--state-dict", "folder.pt", "not a file"]),
    ("garbage.pt", ["--state-dict", "garbage.pt", "not a file written by torch.save"]),
    ("a_list.pt", ["--state-dict", "holds a list, not a state_dict"]),
    ("checkpoint.pt", ["--state-dict", "training checkpoint", "'state_dict' entry"]),
    ("other_model.pt", ["--state-dict", "does not fit the model (DigitsCNN)", "conv3.weight"]),
    ("missing_key.pt", ["--state-dict", "lacks 'conv1.bias'"]),
    ("wrong_shape.pt", ["'conv1.weight' has shape (3, 1, 3, 3)"]),
    ("nan.pt", ["'conv2.weight' has non-finite values"]),
])
def test_bad_state_dict(weights, tmp_path, capsys, name, needles):
    out = tmp_path / "out"
    expect_error(main, ["compress", "digits_cnn", "--data", "digits", *QUICK, "--state-dict", weights / name,
                        "--out", out], capsys, *needles, out=out, before=None)


def _idx(kind: int, dims, data: bytes) -> bytes:
    return bytes([0, 0, kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def _mnist(d, n=10001, labels=None, images_kind=8, truncate=False, gz=False):
    d.mkdir()
    img = _idx(images_kind, [n, 28, 28], bytes(n * 784 - (100 if truncate else 0)))
    lab = _idx(8, [len(labels) if labels is not None else n],
               bytes(labels) if labels is not None else bytes(n))
    (d / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))).write_bytes(b"not gzip" if gz else img)
    (d / "t10k-labels-idx1-ubyte").write_bytes(lab)


DATA = {  # name: (how to lay out the folder, words of the one line)
    "no-files": (lambda d: d.mkdir(), ["missing data file", "t10k-images-idx3-ubyte"]),
    "bad-gzip": (lambda d: _mnist(d, gz=True), ["t10k-images-idx3-ubyte.gz", "cannot be read"]),
    "not-idx": (lambda d: _mnist(d, images_kind=0x0D), ["t10k-images-idx3-ubyte", "not a uint8 idx file"]),
    "truncated": (lambda d: _mnist(d, truncate=True), ["truncated idx file"]),
    "count-mismatch": (lambda d: _mnist(d, labels=[1] * 10), ["10001 images", "10 labels"]),
    "bad-label": (lambda d: _mnist(d, n=10001, labels=[12] * 10001), ["label 12", "outside 0..9"]),
    "too-few": (lambda d: _mnist(d, n=100), ["hold 100 images", "10k test set"]),
}


@pytest.mark.parametrize("layout", list(DATA))
def test_bad_mnist_folder(tmp_path, capsys, layout):
    make, needles = DATA[layout]
    make(tmp_path / "mnist")
    out = tmp_path / "out"
    expect_error(main, ["compress", "digits_cnn", "--data", f"mnist10k:{tmp_path / 'mnist'}", *QUICK, "--out", out],
                 capsys, *needles, out=out, before=None)


@pytest.mark.parametrize("spec,needles", [
    ("imagenet", ["unknown data spec 'imagenet'"]),
    ("mnist", ["data spec 'mnist' needs a directory"]),
    ("mnist:/no/such/dir", ["data directory '/no/such/dir' does not exist"]),
    ("cifar10:GARBAGE", ["data_batch_1", "not a CIFAR-10 python batch"]),
    ("cifar10:LABELS", ["data_batch_1", "label 11"]),
])
def test_bad_data_spec(tmp_path, capsys, spec, needles):
    if spec.startswith("cifar10:"):
        d = tmp_path / "cifar"
        d.mkdir()
        if spec.endswith("GARBAGE"):
            (d / "data_batch_1").write_bytes(b"not a pickle")
        else:
            batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [11, 0]}
            (d / "data_batch_1").write_bytes(pickle.dumps(batch))
        spec = f"cifar10:{d}"
    out = tmp_path / "out"
    expect_error(main, ["compress", "digits_cnn", "--data", spec, *QUICK, "--out", out], capsys, *needles, out=out,
                 before=None)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """A consistent artifact: conv1 with K = 3 (2-bit packed indices), conv2 Huffman-coded."""
    torch.manual_seed(0)
    model = zoo.build("digits_cnn")
    shared = dkm.share_weights(model, dkm.resolve_layers(model, clusters=[3, 16, 32]), seed=0)
    a = shared["conv2"].assignments
    a[:] = 0
    a[:16] = np.arange(16)  # skewed: Huffman codes are shorter than 4-bit packing
    path = tmp_path_factory.mktemp("art") / "model.dkm"
    dkm.save(path, model, shared, model_name="digits_cnn")
    data = path.read_bytes()
    (hlen,) = struct.unpack("<Q", data[4:12])
    manifest = json.loads(data[12:12 + hlen])
    assert [e["indices"]["encoding"] for e in manifest["layers"]][:2] == ["packed", "huffman"]
    return data


def _layer(i, key, value):
    def mutate(m):
        node = m["layers"][i]
        *path, last = key.split(".")
        for k in path:
            node = node[k]
        node[last] = value(node[last]) if callable(value) else value
    return mutate


def _tensor(i, key, value):
    def mutate(m):
        m["tensors"][i][key] = value
    return mutate


ARTIFACTS = [  # (id, change to the manifest (re-signed) or to the bytes, words of the one line)
    ("k-plus-one", _layer(0, "k", lambda k: k + 1), ["layer 'conv1'", "nbytes"]),
    ("k-zero", _layer(0, "k", 0), ["layer 'conv1'", "k = 0 must be >= 1"]),
    ("k-not-int", _layer(0, "k", "3"), ["layer 'conv1'", "k = '3' is not an integer"]),
    ("bits", _layer(2, "indices.bits", 4), ["layer 'conv3' indices", "bits = 4", "K = 32 codewords need 5"]),
    ("offset-past-end", _layer(1, "codebook.offset", 10**9), ["layer 'conv2' codebook", "past the end"]),
    ("overlap", _layer(1, "codebook.offset", 0), ["overlap"]),
    ("shape", _layer(0, "shape", [16, 1, 3, 4]), ["layer 'conv1'", "does not match shape [16, 1, 3, 4]"]),
    ("bad-shape", _layer(0, "shape", [16, -1, 3, 3]), ["layer 'conv1'", "shape = [16, -1, 3, 3]"]),
    ("codebook-dtype", _layer(0, "codebook.dtype", "float64"), ["codebook", "dtype = 'float64'"]),
    ("encoding", _layer(0, "indices.encoding", "zip"), ["indices", "encoding = 'zip'"]),
    ("code-lengths", _layer(1, "indices.lengths.nbytes", 3), ["layer 'conv2' code lengths", "nbytes = 3"]),
    ("luts", _layer(0, "luts", 5), ["layer 'conv1'", "luts = 5"]),
    ("no-name", _layer(0, "name", ""), ["layers[0]", "name = ''"]),
    ("tensor-nbytes", _tensor(0, "nbytes", 8), ["tensor 'conv1.bias'", "nbytes = 8"]),
    ("tensor-dtype", _tensor(0, "dtype", "object"), ["tensor 'conv1.bias'", "dtype = 'object'"]),
    ("tensor-clash", _tensor(0, "key", "conv1.weight"), ["'conv1.weight' is both"]),
    ("newer-version", lambda m: m.update(version=2), ["version = 2", "newer dkm"]),
    ("format", lambda m: m.update(format="zip"), ["format = 'zip'"]),
    ("manifest-not-json", lambda m: b"{not json", ["manifest is not valid JSON"]),
    ("manifest-list", lambda m: b"[]", ["manifest", "expected a JSON object"]),
    ("flipped-byte", "flip", ["checksum mismatch"]),
    ("truncated", "truncate", ["checksum mismatch"]),
    ("not-an-artifact", "text", ["not a dkm artifact"]),
    ("long-manifest-length", "hlen", ["manifest length", "past the end"]),
]


def _bad_artifact(data: bytes, change) -> bytes:
    if change == "flip":
        return data[:100] + bytes([data[100] ^ 1]) + data[101:]
    if change == "truncate":
        return data[: len(data) // 2]
    if change == "text":
        return b"just some text, not an artifact at all"
    if change == "hlen":
        return resign_raw(data[:4] + struct.pack("<Q", 10**12) + data[12:-32])
    return resign(data, change)


@pytest.mark.parametrize("change,needles", [a[1:] for a in ARTIFACTS], ids=[a[0] for a in ARTIFACTS])
def test_bad_artifact(artifact, tmp_path, capsys, change, needles):
    path = tmp_path / "bad.dkm"
    path.write_bytes(_bad_artifact(artifact, change))
    expect_error(main, ["inspect", path], capsys, *needles)
    with pytest.raises(dkm.ArtifactError):
        dkm.load(path)


def test_inspect_reads_the_consistent_artifact(artifact, tmp_path, capsys):
    (tmp_path / "ok.dkm").write_bytes(artifact)
    rc, stdout, _ = run(main, ["inspect", tmp_path / "ok.dkm", "--json"], capsys)
    d = json.loads(stdout)
    assert rc == 0 and d["kind"] == "dkm.inspect" and d["schema_version"] == 1 and d["format"] == "dkm"


def test_indices_out_of_range_are_caught_on_load(artifact, tmp_path, capsys):
    # conv1: K = 3 in 2-bit packed indices; all ones decodes to index 3, which has no codeword
    (hlen,) = struct.unpack("<Q", artifact[4:12])
    ix = json.loads(artifact[12:12 + hlen])["layers"][0]["indices"]
    body = bytearray(artifact[:-32])
    start = 12 + hlen + ix["offset"]
    body[start:start + ix["nbytes"]] = b"\xff" * ix["nbytes"]
    path = tmp_path / "ix.dkm"
    path.write_bytes(resign_raw(bytes(body)))
    assert run(main, ["inspect", path], capsys)[0] == 0  # the manifest is consistent
    out = tmp_path / "score"
    expect_error(main, ["score", path, "--out", out], capsys, "layer 'conv1' indices", "index 3", "K = 3",
                 out=out, before=None)


@pytest.mark.parametrize("model,needles", [
    ("no_such_model", ["unknown model 'no_such_model'"]),
    ("lenet5", ["layer 'conv1' has weight shape (16, 1, 3, 3)", "model 'lenet5' has 500"]),
])
def test_artifact_naming_another_model(artifact, tmp_path, capsys, model, needles):
    path = tmp_path / "other.dkm"
    path.write_bytes(resign(artifact, lambda m: m.update(model=model)))
    out = tmp_path / "score"
    expect_error(main, ["score", path, "--out", out], capsys, *needles, out=out, before=None)


@pytest.mark.parametrize("argv,needles", [
    (["score", "ART", "--profile", "no-such-profile"], ["unknown hardware profile"]),
    (["score", "ART", "--dataflow", "zz"], ["--dataflow: invalid choice: 'zz'"]),
    (["score", "missing.dkm"], ["artifact 'missing.dkm' does not exist"]),
    (["score", "ART", "--out", "FILE"], ["--out", "exists and is not a folder"]),
    (["inspect", "missing.dkm"], ["artifact 'missing.dkm' does not exist"]),
    (["compress", "digits_cnn", "--data", "digits", "--out", "FILE"], ["--out", "exists and is not a folder"]),
    (["compress", "digits_cnn", "--data", "digits", "--out", "FILE/sub"], ["--out", "cannot be created"]),
])
def test_bad_paths(artifact, tmp_path, capsys, argv, needles):
    (tmp_path / "a.dkm").write_bytes(artifact)
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    argv = [str(tmp_path / "a.dkm") if a == "ART" else a.replace("FILE", str(taken)) for a in argv]
    expect_error(main, [*argv, *(QUICK if argv[0] == "compress" else [])], capsys, *needles, out=taken,
                 before={"": b"keep me"})


def test_score_out_keeps_other_files_and_replaces_its_own(artifact, tmp_path, capsys):
    (tmp_path / "a.dkm").write_bytes(artifact)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "score.json").write_text("stale")
    rc, _, err = run(main, ["score", tmp_path / "a.dkm", "--out", out, "--quiet"], capsys)
    assert rc == 0, err
    files = snapshot(out)
    assert files["notes.txt"] == b"mine" and json.loads(files["score.json"])["kind"] == "dkm.score"
    assert sorted(files) == sorted(["notes.txt", "score.json", "layers.csv",
                                    "digits_cnn_dense_vs_compressed_by_level.png",
                                    "digits_cnn_dense_vs_compressed_by_dataspace.png"])
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_gzip_labels_are_read(tmp_path):  # the good path of the idx reader, gz included
    from dkm.data import read_idx

    p = tmp_path / "l.gz"
    p.write_bytes(gzip.compress(_idx(8, [3], bytes([1, 2, 3]))))
    assert read_idx(p).tolist() == [1, 2, 3]


def test_ratio_save_into_a_missing_folder_fails_before_the_kmeans(tmp_path, capsys):
    from dkm.cli import main as dkm_main

    target = tmp_path / "missing" / "x.dkm"
    expect_error(dkm_main, ["ratio", "lenet5", "--cluster-rate", "0.05", "--save", str(target)], capsys,
                 "--save", "does not exist")
    assert not (tmp_path / "missing").exists()
    ok = tmp_path / "x.dkm"
    assert dkm_main(["ratio", "lenet5", "--cluster-rate", "0.05", "--save", str(ok), "--json"]) == 0
    capsys.readouterr()
    assert ok.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == ["x.dkm"]  # no temporary left

"""Strict inputs and safe outputs in ``dkm``: output paths checked before any work and written through unique
temporary names, no non-finite or unknown values in artifacts, no option or list entry dropped silently, and
artifact errors that name the file. Each case exits 2 with one line (or 1 for a failed ``--verify``)."""

from __future__ import annotations

import json
import math
import os
import struct
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import dkm
from badinput import expect_error, resign, resign_raw, run
from dkm.cli import main
from dkm.cli.common import clusters
from dkm.errors import ArtifactError, DKMError
from energysim import zoo

QUICK = ["--pretrain-epochs", "0", "--retrain-epochs", "0", "--finetune-epochs", "0", "--quiet"]


def _no_work(*a, **k):
    raise AssertionError("the work started before the bad input was reported")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    model = zoo.build("digits_cnn")
    shared = dkm.share_weights(model, dkm.resolve_layers(model, clusters=[3, 16, 32]), seed=0, max_iter=5)
    path = tmp_path_factory.mktemp("art") / "model.dkm"
    dkm.save(path, model, shared, model_name="digits_cnn")
    return path.read_bytes()


@pytest.fixture
def art(artifact, tmp_path):
    (tmp_path / "a.dkm").write_bytes(artifact)
    return tmp_path / "a.dkm"


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


# --- 1. export --out / dkm.save: checked first, written through a unique temporary name ---------------------------

@pytest.mark.parametrize("kind", ["folder", "empty", "parent-is-file", "fifo", "broken-link"])
def test_export_out_is_checked_before_any_work(art, tmp_path, capsys, monkeypatch, kind):
    import dkm.export

    monkeypatch.setattr(dkm.export, "load", _no_work)
    out = {"folder": tmp_path / "outdir", "empty": "", "parent-is-file": tmp_path / "p.sh" / "x.onnx",
           "fifo": tmp_path / "fifo.onnx", "broken-link": tmp_path / "link.onnx"}[kind]
    (tmp_path / "outdir").mkdir()
    (tmp_path / "p.sh").write_text("keep")
    os.mkfifo(tmp_path / "fifo.onnx")
    os.symlink(tmp_path / "nowhere", tmp_path / "link.onnx")
    before = sorted(p.name for p in tmp_path.iterdir())
    expect_error(main, ["export", art, "--out", out], capsys, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == before and (tmp_path / "p.sh").read_text() == "keep"
    assert (tmp_path / "fifo.onnx").is_fifo() and not list((tmp_path / "outdir").iterdir())


def test_export_leaves_a_file_named_like_its_temporary_alone(art, tmp_path, capsys):
    pytest.importorskip("onnx")
    (tmp_path / "m.onnx.tmp").write_text("mine")
    (tmp_path / "m.onnx.weights.onnx").write_text("mine too")
    rc, out, err = run(main, ["export", art, "--out", tmp_path / "m.onnx", "--verify", "2", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["verify"]["ok"] is True
    assert (tmp_path / "m.onnx.tmp").read_text() == "mine"
    assert (tmp_path / "m.onnx.weights.onnx").read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dkm", "m.onnx", "m.onnx.tmp", "m.onnx.weights.onnx"]


def test_save_refuses_a_folder_and_keeps_a_file_named_like_its_temporary(tmp_path):
    model = zoo.build("digits_cnn")
    shared = dkm.share_weights(model, dkm.resolve_layers(model, clusters=[2, 2, 2]), seed=0, max_iter=2)
    (tmp_path / "somedir").mkdir()
    with pytest.raises(DKMError, match="somedir.*not a regular file"):
        dkm.save(tmp_path / "somedir", model, shared)
    with pytest.raises(DKMError, match="empty path"):
        dkm.save("", model, shared)
    (tmp_path / "m.dkm.tmp").write_text("mine")
    assert dkm.save(tmp_path / "m.dkm", model, shared) == (tmp_path / "m.dkm").stat().st_size
    assert (tmp_path / "m.dkm.tmp").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dkm", "m.dkm.tmp", "somedir"]


# --- 2. non-finite values; --verify fails loudly and is bounded ---------------------------------------------------

def _poke(data: bytes, where, value) -> bytes:
    """``data`` with the first float32 of the codebook (``where`` = layer index) or tensor (``("t", i)``) set."""
    (hlen,) = struct.unpack("<Q", data[4:12])
    m = json.loads(data[12:12 + hlen])
    e = m["tensors"][where[1]] if isinstance(where, tuple) else m["layers"][where]["codebook"]
    body = bytearray(data[:-32])
    start = 12 + hlen + e["offset"]
    body[start:start + 4] = np.array([value], np.float32).tobytes()
    return resign_raw(bytes(body))


@pytest.mark.parametrize("where,value,needle", [(0, math.nan, "layer 'conv1' codebook"),
                                                (1, math.inf, "layer 'conv2' codebook"),
                                                (("t", 0), math.nan, "tensor 'conv1.bias'")])
def test_non_finite_values_in_an_artifact(artifact, tmp_path, capsys, where, value, needle):
    path = tmp_path / "bad.dkm"
    path.write_bytes(_poke(artifact, where, value))
    expect_error(main, ["inspect", path], capsys, "bad.dkm", needle, "non-finite")
    expect_error(main, ["score", path], capsys, needle, "non-finite")
    with pytest.raises(ArtifactError, match="non-finite"):
        dkm.load(path)


@pytest.mark.parametrize("fake", ["nan-output", "large-difference"])
def test_export_verify_that_fails_exits_1_and_writes_nothing(art, tmp_path, capsys, monkeypatch, fake):
    pytest.importorskip("onnx")
    import dkm.export

    if fake == "nan-output":
        real = dkm.export.run_onnx
        monkeypatch.setattr(dkm.export, "run_onnx", lambda p, x: (real(p, x)[0] * np.nan, "fake"))
    else:
        monkeypatch.setattr(dkm.export, "VERIFY_RTOL", -1.0)
    out = tmp_path / "m.onnx"
    rc, stdout, err = run(main, ["export", art, "--out", out, "--verify", "2", "--json"], capsys)
    assert rc == 1 and "does not reproduce" in err and err.count("\n") == 1, err
    assert json.loads(stdout)["verify"]["ok"] is False  # valid JSON: a nan difference is null
    assert not out.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("n", ["-1", "10001", "x"])
def test_export_verify_is_bounded(art, tmp_path, capsys, n):
    from dkm.cli.export import MAX_VERIFY
    from dkm.export import MAX_VERIFY_INPUTS

    assert MAX_VERIFY == MAX_VERIFY_INPUTS
    expect_error(main, ["export", art, "--out", tmp_path / "m.onnx", "--verify", n], capsys, "--verify", n)


# --- 3. compare-metrics --out ----------------------------------------------------------------------------------

@pytest.mark.parametrize("out,needle", [("", "an empty path"), ("FILE", "exists and is not a folder")])
def test_compare_out_is_checked_before_any_work(tmp_path, capsys, monkeypatch, out, needle):
    import dkm.compare

    monkeypatch.setattr(dkm.compare, "compare_metrics", _no_work)
    (tmp_path / "p.sh").write_text("keep")
    out = str(tmp_path / "p.sh") if out == "FILE" else out
    expect_error(main, ["compare-metrics", "digits_cnn", "--out", out], capsys, "--out", needle)
    assert (tmp_path / "p.sh").read_text() == "keep"


def test_compare_outputs_appear_together_or_not_at_all(tmp_path, monkeypatch):
    import dkm.compare

    monkeypatch.setattr(dkm.compare, "plot_scatter", lambda res, path: (path.write_bytes(b"png"), path)[1])

    def broken():
        raise OSError("disk full")

    res = SimpleNamespace(model="m", table=pd.DataFrame({"a": [1]}), to_dict=broken)
    with pytest.raises(OSError):
        dkm.compare.write_outputs(res, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    res.to_dict = lambda: {"ok": 1}
    files = dkm.compare.write_outputs(res, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in files.values())
    assert all(p.parent == tmp_path / "out" for p in files.values()) and list(tmp_path.iterdir()) == [tmp_path / "out"]


# --- 4. --clusters --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,needle", [("4,,4,4", "an empty entry"), ("4,4,4,", "an empty entry"),
                                         ("", "an empty value"), ("conv1=2,conv1=8,conv2=4,conv3=4", "given twice")])
def test_clusters_entries_are_never_dropped(tmp_path, capsys, monkeypatch, text, needle):
    import dkm.pipeline

    with pytest.raises(DKMError, match=needle):
        clusters(text)
    monkeypatch.setattr(dkm.pipeline, "compress", _no_work)
    out = tmp_path / "out"
    expect_error(main, ["compress", "digits_cnn", "--data", "digits", *QUICK, "--clusters", text, "--out", out],
                 capsys, "--clusters", needle, out=out)
    expect_error(main, ["ratio", "digits_cnn", "--clusters", text], capsys, "--clusters", needle)


# --- 5. cluster rates ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,needle", [("inf", "not a finite number"), ("5", "must be <= 1"), ("0", "> 0")])
def test_ratio_cluster_rate_is_checked(capsys, value, needle):
    expect_error(main, ["ratio", "digits_cnn", "--cluster-rate", value], capsys, "--cluster-rate", needle)


@pytest.mark.parametrize("kw", [dict(cluster_rate=math.inf), dict(cluster_rate=5.0), dict(cluster_rate=math.nan),
                                dict(cluster_rate=True), dict(cluster_rate=0.1, first_rate=math.inf),
                                dict(cluster_rate=0.1, first_rate=1.5), dict(clusters=[4, 4, 4], first_rate=0.5),
                                dict(bits=2, first_rate=0.5)])
def test_resolve_layers_checks_rates(kw):
    with pytest.raises(DKMError, match="rate"):
        dkm.resolve_layers(zoo.build("digits_cnn"), **kw)


# --- 6. --state-dict in ratio and compare-metrics --------------------------------------------------------------

@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.save(zoo.build("lenet5").state_dict(), d / "other.pt")
    (d / "garbage.pt").write_bytes(b"garbage, not torch.save")
    return d


@pytest.mark.parametrize("name,needle", [("other.pt", "does not fit the model"),
                                         ("garbage.pt", "not a file written by torch.save")])
@pytest.mark.parametrize("cmd", ["ratio", "compare-metrics"])
def test_state_dict_is_checked_in_ratio_and_compare(weights, tmp_path, capsys, monkeypatch, cmd, name, needle):
    import dkm.compare

    monkeypatch.setattr(dkm.compare, "compare_metrics", _no_work)
    extra = ["--out", tmp_path / "out"] if cmd == "compare-metrics" else []
    expect_error(main, [cmd, "digits_cnn", "--state-dict", weights / name, *extra], capsys, "--state-dict", name,
                 needle)


# --- 7. --seed ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,needle", [(str(2**64), "must be <= 9,223,372,036,854,775,807"), ("-1", ">= 0")])
@pytest.mark.parametrize("cmd", ["compress", "ratio", "compare-metrics"])
def test_seed_is_bounded_everywhere(tmp_path, capsys, cmd, value, needle):
    extra = {"compress": ["--data", "digits", *QUICK, "--out", tmp_path / "o"], "ratio": [],
             "compare-metrics": ["--out", tmp_path / "o"]}[cmd]
    expect_error(main, [cmd, "digits_cnn", "--seed", value, *extra], capsys, "--seed", needle)
    assert list(tmp_path.iterdir()) == []


# --- 8. unknown manifest keys; stored dtypes against the model's -------------------------------------------------

def _set(path, value):
    def mutate(m):
        node = m
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return mutate


@pytest.mark.parametrize("path,needle", [(["bogus"], "manifest: unknown key 'bogus'"),
                                         (["layers", 0, "extra"], "layer 'conv1': unknown key 'extra'"),
                                         (["layers", 1, "codebook", "scale"], "layer 'conv2' codebook: unknown key"),
                                         (["layers", 2, "indices", "x"], "layer 'conv3' indices: unknown key 'x'"),
                                         (["tensors", 0, "zzz"], "tensor 'conv1.bias': unknown key 'zzz'")])
def test_unknown_manifest_keys(artifact, tmp_path, capsys, path, needle):
    bad = tmp_path / "keys.dkm"
    bad.write_bytes(resign(artifact, _set(path, 1)))
    expect_error(main, ["inspect", bad], capsys, "keys.dkm", needle)
    with pytest.raises(ArtifactError, match="unknown key"):
        dkm.load(bad)


def test_a_relabelled_tensor_dtype_is_refused(artifact, tmp_path, capsys):
    bad = tmp_path / "int.dkm"
    bad.write_bytes(resign(artifact, _set(["tensors", 0, "dtype"], "int32")))
    with pytest.raises(ArtifactError, match="'conv1.bias' is stored as int32, the model 'digits_cnn' has float32"):
        dkm.load(bad)
    expect_error(main, ["score", bad], capsys, "int.dkm", "'conv1.bias' is stored as int32")


# --- 9. a model that does not fit the data --------------------------------------------------------------------

def test_a_model_that_does_not_fit_the_data(tmp_path, capsys, monkeypatch):
    import dkm.pipeline

    monkeypatch.setattr(dkm.pipeline, "compress", _no_work)
    out = tmp_path / "out"
    expect_error(main, ["compress", "lenet5", "--data", "digits", *QUICK, "--out", out], capsys,
                 "lenet5 needs 1x28x28 inputs, data digits has 1x8x8", out=out)
    d = tmp_path / "mnist"  # a zero-filled 10k test set: 28x28 images
    d.mkdir()
    n = 10001
    (d / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 28, 28) + bytes(n * 784))
    (d / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + bytes(n))
    expect_error(main, ["compress", "digits_cnn", "--data", f"mnist10k:{d}", *QUICK, "--out", out], capsys,
                 "digits_cnn needs 1x8x8 inputs", "has 1x28x28", out=out)


# --- 10. options that would have no effect, empty paths, API values ---------------------------------------------

@pytest.mark.parametrize("extra,needles", [
    (["--data", "digits:foo"], ["data spec 'digits:foo'", "takes no argument"]),
    (["--clusters", "4,4,4", "--first-rate", "0.5"], ["--first-rate", "no effect with --clusters"]),
    (["--bits", "2", "--first-rate", "0.5"], ["--first-rate", "no effect with --bits"]),
    (["--temperature", "0.5"], ["--temperature", "dkm only, not spectral"]),
    (["--dkm-tau", "1e-4", "--regularizer", "hard"], ["--dkm-tau", "dkm only, not hard"]),
    (["--dkm-n-init", "3"], ["--dkm-n-init", "dkm only"]),
    (["--regularizer", "dkm", "--temperature", "0.5", "--dkm-tau", "1e-4"], ["--temperature", "--dkm-tau"]),
    (["--regularizer", "dkm", "--lam", "0.1"], ["--lam", "no effect"]),
    (["--regularizer", "none", "--lam", "0.1"], ["--lam", "no effect"]),
])
def test_options_without_effect_are_errors(tmp_path, capsys, monkeypatch, extra, needles):
    import dkm.pipeline

    monkeypatch.setattr(dkm.pipeline, "compress", _no_work)
    out = tmp_path / "out"
    argv = ["compress", "digits_cnn", *([] if "--data" in extra else ["--data", "digits"]), *QUICK, *extra]
    expect_error(main, [*argv, "--out", out], capsys, *needles, out=out)


@pytest.mark.parametrize("argv,needle", [
    (["compress", "digits_cnn", "--data", "digits", *QUICK, "--out", ""], "--out"),
    (["score", "ART", "--out", ""], "--out"),
    (["ratio", "digits_cnn", "--save", ""], "--save"),
    (["ratio", "digits_cnn", "--save", "DIR"], "--save"),
    (["ratio", "digits_cnn", "--linear-vector-size", "-1"], "--linear-vector-size"),
    (["ratio", "digits_cnn", "--lut-group-size", "-1"], "--lut-group-size"),
])
def test_empty_paths_and_negative_sizes(art, tmp_path, capsys, argv, needle):
    (tmp_path / "dir").mkdir()
    argv = [str(art) if a == "ART" else str(tmp_path / "dir") if a == "DIR" else a for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    cwd = sorted(os.listdir("."))
    expect_error(main, argv, capsys, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and sorted(os.listdir(".")) == cwd
    assert not list((tmp_path / "dir").iterdir())


@pytest.mark.parametrize("kw,needle", [
    (dict(lam=math.inf), "lam must be a finite"), (dict(temperature=math.inf, regularizer="dkm"), "temperature"),
    (dict(pretrain_lr=math.nan), "pretrain_lr"), (dict(retrain_lr=-1.0), "retrain_lr must be > 0"),
    (dict(finetune_lr=math.inf), "finetune_lr"), (dict(f_update_epochs=math.nan), "f_update_epochs"),
    (dict(pretrain_epochs=1.5), "pretrain_epochs must be an integer"), (dict(batch_size=2.5), "batch_size"),
    (dict(batch_size=True), "batch_size"), (dict(dkm_iters=-3, regularizer="dkm"), "dkm_iters"),
    (dict(seed=2**64), "seed"), (dict(seed=-1), "seed"), (dict(temperature=0.5), "dkm only"),
    (dict(dkm_iters=3), "dkm only"), (dict(lam=0.1, regularizer="none"), "no effect"),
    (dict(clusters=[4, 4, 4], bits=2), "not both"), (dict(linear_vector_size=-1), "linear_vector_size"),
])
def test_compress_config_validate(kw, needle):
    with pytest.raises(DKMError, match=needle):
        dkm.CompressConfig(**kw).validate()


@pytest.mark.parametrize("kw,needle", [(dict(clusters=[True, 4, 4]), "got True"),
                                       (dict(clusters=[4, 4, 4], sparsity="0.5"), "got '0.5'"),
                                       (dict(clusters=[4, 4, 4], sparsity=[0, "0.5", 0]), "sparsity p"),
                                       (dict(clusters=[4, 4, 4], linear_vector_size=-1), "linear_vector_size")])
def test_compress_config_specs(kw, needle):
    with pytest.raises(DKMError, match=needle):
        dkm.CompressConfig(**kw).specs(zoo.build("digits_cnn"))


def test_valid_configs_still_pass():
    model = zoo.build("digits_cnn")
    for kw in (dict(), dict(regularizer="dkm", temperature=0.5, dkm_iters=3), dict(regularizer="hard", lam=0.1),
               dict(clusters=[4, 4, 4], seed=2**63 - 1), dict(bits=2), dict(cluster_rate=1.0, first_rate=0.5),
               dict(clusters={"conv1": 4, "conv2": 8, "conv3": 8}, sparsity=np.float64(0.2))):
        cfg = dkm.CompressConfig(**kw)
        cfg.validate()
        assert len(cfg.specs(model)) == 3


# --- 11. artifact errors name the file -------------------------------------------------------------------------

def test_artifact_errors_name_the_file(artifact, tmp_path, capsys):
    bad = tmp_path / "a.dkm"
    bad.write_bytes(artifact[:100] + bytes([artifact[100] ^ 1]) + artifact[101:])
    line = expect_error(main, ["inspect", bad], capsys, "checksum mismatch")
    assert f"artifact {str(bad)!r}: checksum mismatch" in line
    (tmp_path / "t.dkm").write_bytes(b"text")
    expect_error(main, ["score", tmp_path / "t.dkm"], capsys, "t.dkm", "not a dkm artifact")
    with pytest.raises(ArtifactError, match="a.dkm.*checksum mismatch"):
        dkm.load(bad)
    with pytest.raises(ArtifactError, match="^dkm artifact: checksum mismatch"):  # bytes alone: no name to give
        dkm.artifact.parse(bad.read_bytes())


def test_valid_artifact_and_ratio_save_still_work(art, tmp_path, capsys):
    rc, out, err = run(main, ["inspect", art, "--json"], capsys)
    assert rc == 0 and json.loads(out)["format"] == "dkm", err
    rc, _, err = run(main, ["ratio", "digits_cnn", "--clusters", "conv1=4,conv2=4,conv3=4", "--save",
                            tmp_path / "r.dkm", "--json"], capsys)
    assert rc == 0 and dkm.load(tmp_path / "r.dkm").manifest["model"] == "digits_cnn", err
    assert _leftovers(tmp_path) == []

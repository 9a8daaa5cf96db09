"""dkm score: dense vs codebook-compressed energy of a .dkm artifact built in the test (no training)."""

from __future__ import annotations

import json

import pytest
import torch

import dkm
from dkm.cli import main
from dkm.errors import DKMError
from dkm.score import score
from energysim import zoo


def _artifact(path, model_name="digits_cnn", save_as=None, clusters=(4, 16, 32)):
    torch.manual_seed(0)
    model = zoo.build(model_name)
    specs = dkm.resolve_layers(model, clusters=list(clusters))
    shared = dkm.share_weights(model, specs, seed=0)
    dkm.save(path, model, shared, model_name=save_as or model_name)
    return path


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    return _artifact(tmp_path_factory.mktemp("score") / "digits.dkm")


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_score_json(art, tmp_path, capsys):
    rc, out, err = _run(["score", str(art), "--profile", "eyeriss-65nm", "--json", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    d = json.loads(out)
    for key in ("dense_energy", "compressed_energy", "reduction", "layers"):
        assert key in d
    assert d["reduction"] == pytest.approx(1 - d["compressed_energy"] / d["dense_energy"])
    assert 0 < d["reduction"] < 1
    names = [l["layer"] for l in d["layers"]]
    assert names[:2] == ["conv1", "relu1"] and "fc" in names
    assert sum(l["compressed_energy"] for l in d["layers"]) == pytest.approx(d["compressed_energy"])
    assert sum(l["dense_energy"] for l in d["layers"]) == pytest.approx(d["dense_energy"])
    shared = [l for l in d["layers"] if l["shared"]]
    assert [l["layer"] for l in shared] == ["conv1", "conv2", "conv3"]
    for f in ("score.json", "layers.csv", "digits_cnn_dense_vs_compressed_by_level.png",
              "digits_cnn_dense_vs_compressed_by_dataspace.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_score_text_and_terms_off(art, tmp_path, capsys):
    rc, out, _ = _run(["score", str(art), "--profile", "eyeriss-65nm", "--out", str(tmp_path)], capsys)
    assert rc == 0 and "total" in out and "index_traffic" in out
    res = score(art, "eyeriss-65nm", terms=dkm_terms(False, False, False, False))
    assert res.compressed_energy == res.dense_energy
    rc, out, _ = _run(["score", str(art), "--profile", "eyeriss-65nm", "--json", "--out", str(tmp_path),
                       "--no-index-traffic", "--no-lut", "--no-codebook-load", "--no-compute-reuse"], capsys)
    d = json.loads(out)
    assert rc == 0 and d["reduction"] == 0.0
    # each term alone moves the total the right way
    base = res.dense_energy
    assert score(art, "eyeriss-65nm", terms=dkm_terms(True, False, False, False)).compressed_energy < base
    assert score(art, "eyeriss-65nm", terms=dkm_terms(False, True, False, False)).compressed_energy > base
    assert score(art, "eyeriss-65nm", terms=dkm_terms(False, False, True, False)).compressed_energy > base


def dkm_terms(*flags):
    from energysim.costs.codebook import CodebookTerms

    return CodebookTerms(*flags)


def test_score_bad_inputs(art, tmp_path, capsys):
    # a profile without LUT cost while the LUT term is on
    rc, _, err = _run(["score", str(art), "--profile", "tpu-like", "--out", str(tmp_path)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "codebook.lut_read_pj" in err and "tpu-like" in err
    rc, out, err = _run(["score", str(art), "--profile", "tpu-like", "--no-lut", "--no-codebook-load",
                         "--dataflow", "ws", "--json", "--out", str(tmp_path)], capsys)
    assert rc == 0, err
    # layer names that do not match the model named in the manifest
    bad = _artifact(tmp_path / "bad.dkm", "digits_cnn", save_as="lenet5")
    rc, _, err = _run(["score", str(bad), "--profile", "eyeriss-65nm", "--out", str(tmp_path)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "lenet5" in err
    with pytest.raises(DKMError, match="weight shape"):
        score(bad, "eyeriss-65nm")
    other = _artifact(tmp_path / "other.dkm", "digits_cnn", save_as="alexnet")
    rc, _, err = _run(["score", str(other), "--profile", "eyeriss-65nm", "--out", str(tmp_path)], capsys)
    assert rc == 2 and err.count("\n") == 1 and "'conv1' is not a conv/linear layer of model 'alexnet'" in err
    rc, _, err = _run(["score", str(tmp_path / "missing.dkm"), "--profile", "eyeriss-65nm"], capsys)
    assert rc == 2 and "does not exist" in err
    rc, _, err = _run(["score", str(art), "--profile", "no-such-profile"], capsys)
    assert rc == 2 and "unknown hardware profile" in err
    (tmp_path / "junk.dkm").write_bytes(b"not an artifact")
    rc, _, err = _run(["score", str(tmp_path / "junk.dkm"), "--profile", "eyeriss-65nm"], capsys)
    assert rc == 2 and err.startswith("dkm: error:")

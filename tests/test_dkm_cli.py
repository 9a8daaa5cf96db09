import json

import pytest
import torch

from dkm.cli import COMMANDS, main


QUICK = ["--model", "digits_cnn", "--data", "digits", "--pretrain-epochs", "2", "--retrain-epochs", "1",
         "--finetune-epochs", "1", "--quiet"]


def test_compress_json_and_inspect(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["compress", *QUICK, "--cluster-rate", "0.05", "--regularizer", "hard", "--json",
                 "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ["baseline_accuracy", "shared_accuracy_no_retrain", "accuracy", "compression_ratio_han",
                "compression_ratio_entropy", "compression_ratio_bytes", "artifact_bytes", "dense_bytes"]:
        assert isinstance(res[key], (int, float)), key
    assert [l["name"] for l in res["layers"]] == ["conv1", "conv2", "conv3"]
    assert set(res["layers"][0]) >= {"name", "k", "rows", "index_bits", "entropy_bits"}
    assert res["artifact_bytes"] == (out / "model.dkm").stat().st_size
    assert res["compression_ratio_bytes"] == pytest.approx(res["dense_bytes"] / res["artifact_bytes"])
    assert sorted(p.name for p in out.iterdir()) == ["model.dkm", "result.json"]
    assert main(["inspect", str(out / "model.dkm")]) == 0
    assert "conv2" in capsys.readouterr().out


def test_subcommands_are_a_list():
    assert [c.name for c in COMMANDS][:2] == ["compress", "inspect"]


@pytest.mark.parametrize("extra,match", [
    (["--clusters", "4,0,8"], "K must be an integer >= 1"),
    (["--clusters", "conv1=4,conv9=3"], "unknown layer 'conv9'"),
    (["--clusters", "4,8"], "got 2 value"),
    (["--clusters", "4,x,8"], "expected integers"),
    (["--cluster-rate", "-1"], "--cluster-rate: '-1' must be > 0"),
    (["--cluster-rate", "1.5"], "--cluster-rate: '1.5' must be <= 1"),
    (["--sparsity", "0.5,1.5,0"], "sparsity p must be in"),
    (["--lam", "-1"], "--lam: '-1' must be >= 0"),
])
def test_bad_inputs_exit_2_one_line(tmp_path, capsys, extra, match):
    out = tmp_path / "run"
    assert main(["compress", *QUICK, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_data_and_unknown_model(tmp_path, capsys):
    assert main(["compress", "--model", "digits_cnn", "--data", f"mnist10k:{tmp_path}", "--out",
                 str(tmp_path / "o")]) == 2
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err
    assert main(["compress", "--model", "nope", "--data", "digits", "--out", str(tmp_path / "o")]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["compress", "--data", "digits"]) == 2  # argparse errors go through the same path


def test_nan_weights(tmp_path, capsys):
    from energysim import zoo

    sd = zoo.build("digits_cnn").state_dict()
    sd["conv2.weight"][0, 0, 0, 0] = float("nan")
    torch.save(sd, tmp_path / "nan.pt")
    assert main(["compress", *QUICK, "--state-dict", str(tmp_path / "nan.pt"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "conv2" in err and "nan" in err and not (tmp_path / "o").exists()


def test_corrupted_artifact(tmp_path, capsys):
    (tmp_path / "x.dkm").write_bytes(b"DKM1" + b"\0" * 100)
    assert main(["inspect", str(tmp_path / "x.dkm")]) == 2
    assert "checksum" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.dkm")]) == 2


def test_compress_prints_whole_model_and_conv_ratios_and_shared_layers(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["compress", *QUICK, "--bits", "2", "--regularizer", "dkm", "--retrain-epochs", "1",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "whole model:" in text and "authors' convention" in text and "conv layers only:" in text
    assert "shared: conv1 (K=4, 48 rows of 3), conv2 (K=4" in text
    assert "not shared (dense): fc" in text and "--linear-vector-size" in text
    res = json.loads((out / "result.json").read_text())
    assert res["config"]["regularizer"] == "dkm" and [l["k"] for l in res["layers"]] == [4, 4, 4]
    assert res["unshared_layers"] == ["fc"] and res["compression_ratio_authors"] > 1


def test_cluster_rate_gives_at_least_two_clusters_and_lam_defaults(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["compress", *QUICK, "--cluster-rate", "0.02", "--regularizer", "hard", "--json",
                 "--out", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["layers"][0]["k"] == 2 and res["config"]["lam"] == 0.05  # hard's own default, not spectral's
    assert main(["compress", *QUICK, "--bits", "5", "--out", str(out)]) == 2  # presets: 2, 3, 4, 8
    assert "invalid choice" in capsys.readouterr().err

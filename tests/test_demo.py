"""The main job (python -m dkm.demo), shortened: train, compress, save, score, report folder."""

from __future__ import annotations

import json

from dkm.demo import main


def test_demo_quick(tmp_path, capsys):
    rc = main(["--out", str(tmp_path), "--quick", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "accuracy" in out and "compression ratio" in out and "saved" in out
    s = json.loads((tmp_path / "summary.json").read_text())
    for key in ("baseline_accuracy", "accuracy", "compression_ratio_han", "compression_ratio_entropy",
                "compression_ratio_bytes", "dense_energy", "compressed_energy", "reduction", "term_energy"):
        assert key in s
    assert s["compressed_energy"] < s["dense_energy"]
    assert s["compression_ratio_han"] > 1 and s["artifact_bytes"] < s["dense_bytes"]
    for f in ("model.dkm", "summary.json", "layers.csv", "score.json", "summary.png",
              "digits_cnn_dense_vs_compressed_by_level.png", "digits_cnn_dense_vs_compressed_by_dataspace.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    sc = json.loads((tmp_path / "score.json").read_text())
    assert sc["reduction"] == s["reduction"]

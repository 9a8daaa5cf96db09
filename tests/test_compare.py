"""dkm compare-metrics: the paper metric against the dataflow estimate across cluster rates (small model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dkm.cli import main
from dkm.compare import PAPER_RATES, cluster_rows, compare_metrics, default_rates, r_squared


def test_r_squared_is_squared_pearson():
    x = [1.0, 2.0, 3.0, 4.0]
    assert r_squared(x, [2 * v + 1 for v in x]) == pytest.approx(1.0)
    y = [1.0, 3.0, 2.0, 5.0]
    b, a = np.polyfit(x, y, 1)
    fit = a + b * np.asarray(x)
    r2 = 1 - ((np.asarray(y) - fit) ** 2).sum() / ((np.asarray(y) - np.mean(y)) ** 2).sum()
    assert r_squared(x, y) == pytest.approx(r2) == pytest.approx(r_squared(y, x))


def test_default_rates():
    assert default_rates("alexnet") == PAPER_RATES["alexnet"] == (0.5, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.01)
    assert default_rates("googlenet") == (0.33, 0.18, 0.05, 0.012)
    assert default_rates("lenet5") == PAPER_RATES["alexnet"]


def test_cluster_rows_both_paths():
    import torch

    torch.manual_seed(0)
    w = torch.randn(64, 8, 3, 3)  # 1536 rows
    for k in (4, 600):  # dkm.kmeans (N·K small) and the k-d tree Lloyd iteration
        a = cluster_rows(w, k, seed=0)
        assert a.shape == (1536,) and a.min() >= 0 and a.max() < k
    assert (cluster_rows(w, 5000) == np.arange(1536)).all()


def test_compare_metrics_json(tmp_path, capsys):
    rc = main(["compare-metrics", "digits_cnn", "--rates", "0.5,0.2,0.1,0.05", "--json", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    def no_nan(c):
        raise AssertionError(f"non-standard JSON constant {c}")

    d = json.loads(out.out, parse_constant=no_nan)
    assert d["r2_by_term"]["lut"] is None  # a constant series has no R^2
    assert [p["rate"] for p in d["points"]] == [0.5, 0.2, 0.1, 0.05]
    for p in d["points"]:
        assert set(p) == {"rate", "paper_metric", "dataflow_estimate"}
        assert p["paper_metric"] > 0 and p["dataflow_estimate"] > 0
    x = [p["paper_metric"] for p in d["points"]]
    y = [p["dataflow_estimate"] for p in d["points"]]
    assert d["r2"] == pytest.approx(r_squared(x, y))
    assert 0 <= d["r2"] <= 1
    assert "random initialization" in d["weights"]
    # fewer clusters -> fewer weight bits in the paper metric
    assert x == sorted(x, reverse=True)
    for f in ("digits_cnn_metrics_scatter.png", "digits_cnn_metrics_layers.csv", "digits_cnn_metrics.json"):
        assert (tmp_path / f).stat().st_size > 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "digits_cnn_metrics_layers.csv")
    assert set(table["layer"]) == {"conv1", "conv2", "conv3"} and len(table) == 12


def test_compare_state_dict_and_terms(tmp_path):
    import torch

    from energysim import zoo
    from energysim.costs.codebook import CodebookTerms

    torch.manual_seed(3)
    sd = zoo.build("digits_cnn").state_dict()
    res = compare_metrics("digits_cnn", [0.5, 0.1], state_dict=sd, terms=CodebookTerms.none())
    assert "state_dict" in res.weights
    # with every codebook term off the dataflow estimate is the dense one at every rate
    for p in res.points:
        assert p["dataflow_estimate"] == pytest.approx(res.dense["dataflow_estimate"])


def test_compare_bad_inputs(tmp_path, capsys):
    for argv, msg in ((["compare-metrics", "digits_cnn", "--rates", "0.5,x"], "--rates"),
                      (["compare-metrics", "digits_cnn", "--rates", "0.5,1.5"], "cluster rate"),
                      (["compare-metrics", "digits_cnn", "--rates", "0.5"], "at least 2 rates"),
                      (["compare-metrics", "nosuchnet"], "unknown model"),
                      (["compare-metrics", "digits_cnn", "--state-dict", str(tmp_path / "no.pt")], "does not exist")):
        rc = main(argv + ["--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1, (argv, err)


def test_compare_with_a_mapping_search_uses_the_searched_mappings():
    """A search dataflow maps each conv layer with the mapper, as `energysim estimate` does."""
    searched = compare_metrics("digits_cnn", [0.5, 0.1], dataflow="rs-search")
    template = compare_metrics("digits_cnn", [0.5, 0.1], dataflow="rs")
    assert [p["paper_metric"] for p in searched.points] == [p["paper_metric"] for p in template.points]
    # the search minimizes dense energy and is never worse than the rs template it starts from
    assert searched.dense["dataflow_estimate"] <= template.dense["dataflow_estimate"] * (1 + 1e-12)

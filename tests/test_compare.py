"""dkm compare-metrics: the paper metric against the dataflow estimate across cluster rates (small model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dkm.cli import main
from dkm.compare import NULL_PROXIES, PAPER_RATES, cluster_rows, compare_metrics, default_rates, r_squared


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
        assert set(p) == {"label", "rate", "paper_metric", "dataflow_estimate", "weight_bits", "cluster_rate"}
        assert p["paper_metric"] > 0 and p["dataflow_estimate"] > 0
    x = [p["paper_metric"] for p in d["points"]]
    y = [p["dataflow_estimate"] for p in d["points"]]
    assert d["r2"] == pytest.approx(r_squared(x, y))
    assert 0 <= d["r2"] <= 1
    # the null proxies, next to r2, against the same estimate
    assert set(d["r2_null"]) == set(NULL_PROXIES)
    for proxy in NULL_PROXIES:
        assert d["r2_null"][proxy] == pytest.approx(r_squared([p[proxy] for p in d["points"]], y))
    assert [p["cluster_rate"] for p in d["points"]] == [0.5, 0.2, 0.1, 0.05]
    wb = [p["weight_bits"] for p in d["points"]]
    assert wb == sorted(wb, reverse=True) and wb[0] < d["dense"]["weight_bits"]
    assert "random initialization" in d["weights"] and d["weights_source"] == "random_init"
    assert d["terms"] == {"index_traffic": True, "lut": True, "codebook_load": True, "compute_reuse": False}
    assert d["index_coding"] == "fixed" and d["depends_on_assignments"] is False
    assert [pl["layer"] for pl in d["per_layer"]] == ["conv1", "conv2", "conv3"]
    for pl in d["per_layer"]:
        assert set(pl["r2_null"]) == set(NULL_PROXIES) and 0 <= pl["r2"] <= 1
        # per layer the paper metric is affine in the layer's stored weight bits: the same R^2 by construction
        assert pl["r2"] == pytest.approx(pl["r2_null"]["weight_bits"], abs=1e-9)
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


def test_default_points_do_not_depend_on_the_weights():
    """With fixed-width indices and no compute reuse only K and the index widths enter: other weights (hence
    other k-means assignments) give the very same points."""
    import torch

    from energysim import zoo

    torch.manual_seed(7)
    sd = zoo.build("digits_cnn").state_dict()
    a = compare_metrics("digits_cnn", [0.5, 0.1])
    b = compare_metrics("digits_cnn", [0.5, 0.1], state_dict=sd)
    assert not a.depends_on_assignments and b.weights_source == "state_dict"
    for p, q in zip(a.points, b.points):
        assert (p["paper_metric"], p["dataflow_estimate"], p["weight_bits"]) == \
            (q["paper_metric"], q["dataflow_estimate"], q["weight_bits"])
    assert not a.table["entropy_bits"].equals(b.table["entropy_bits"])  # the assignments did differ


def test_compare_with_a_mapping_search_uses_the_searched_mappings():
    """A search dataflow maps each conv layer with the mapper, as `energysim estimate` does."""
    searched = compare_metrics("digits_cnn", [0.5, 0.1], dataflow="rs-search")
    template = compare_metrics("digits_cnn", [0.5, 0.1], dataflow="rs-template")
    assert [p["paper_metric"] for p in searched.points] == [p["paper_metric"] for p in template.points]
    # the search minimizes dense energy and is never worse than the rs template it starts from
    assert searched.dense["dataflow_estimate"] <= template.dense["dataflow_estimate"] * (1 + 1e-12)


def _artifacts(tmp_path, clusters_list, model="digits_cnn"):
    """Small .dkm files without training: the seeded initial weights shared by k-means."""
    import torch

    import dkm
    from dkm.layers import resolve_layers
    from dkm.share import share_weights
    from energysim import zoo

    paths = []
    for j, clusters in enumerate(clusters_list):
        torch.manual_seed(0)
        m = zoo.build(model)
        shared = share_weights(m, resolve_layers(m, clusters=clusters))
        p = tmp_path / f"{model}_{j}" / "model.dkm"
        p.parent.mkdir()
        dkm.save(p, m, shared, model_name=model)
        paths.append(str(p))
    return paths


def test_compare_artifacts(tmp_path, capsys):
    """Real assignments: entropy-coded indices and compute reuse come from the artifacts' codebooks."""
    from energysim.costs.codebook import CodebookTerms

    paths = _artifacts(tmp_path, [[4, 100, 300], [8, 300, 900], [16, 600, 2000]])
    fixed = compare_metrics(None, artifacts=paths)
    assert fixed.model == "digits_cnn" and fixed.weights_source == "artifacts" and "3 .dkm artifacts" in fixed.weights
    assert [p["rate"] for p in fixed.points] == sorted(p["rate"] for p in fixed.points)
    assert fixed.points[0]["rate"] == pytest.approx((4 + 100 + 300) / (48 + 1536 + 6144))
    ent = compare_metrics("digits_cnn", artifacts=paths, index_coding="entropy",
                          terms=CodebookTerms(compute_reuse=True))
    assert ent.depends_on_assignments and not fixed.depends_on_assignments
    assert ent.table["macs_saved"].sum() > 0 and fixed.table["macs_saved"].sum() == 0
    # entropy-coded indices are shorter than fixed-width ones: fewer stored bits, a lower paper metric
    for a, b in zip(fixed.points, ent.points):
        assert b["weight_bits"] < a["weight_bits"] and b["paper_metric"] < a["paper_metric"]
    assert main(["compare-metrics", "--artifacts", *paths, "--profile", "eyeriss-65nm,eyeriss-32nm",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    for needle in ("weights: trained weights", "codebook terms on: index_traffic, lut, codebook_load;",
                   "R^2 of null proxies", "weight bits", "cluster rate", "per layer", "also eyeriss-32nm: R^2 ="):
        assert needle in out, needle
    d = json.loads((tmp_path / "o" / "digits_cnn_metrics.json").read_text())
    assert set(d["other_profiles"]["eyeriss-32nm"]["r2_null"]) == set(NULL_PROXIES)


def test_compare_artifacts_bad_inputs(tmp_path, capsys):
    paths = _artifacts(tmp_path, [[4, 100, 300], [8, 300, 900]])
    lenet = _artifacts(tmp_path, [[4, 40]], model="lenet5")
    corrupt = tmp_path / "corrupt.dkm"
    corrupt.write_bytes(Path(paths[0]).read_bytes()[:-10])
    for argv, msg in ((["--artifacts", paths[0]], "at least 2 artifacts"),
                      (["--artifacts", *paths, "--rates", "0.5,0.1"], "do not pass --rates"),
                      (["lenet5", "--artifacts", *paths], "not 'lenet5'"),
                      (["--artifacts", paths[0], lenet[0]], "same zoo model"),
                      (["--artifacts", paths[0], str(tmp_path / "none.dkm")], "does not exist"),
                      (["--artifacts", paths[0], str(corrupt)], "checksum"),
                      ([], "give a zoo model or --artifacts")):
        rc = main(["compare-metrics", *argv, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and err.count("\n") == 1, (argv, err)

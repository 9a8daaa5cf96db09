"""What the dataflow names mean (issue 15, item 3): ``rs``/``ws``/``os`` are the mapping search constrained to that
dataflow (``rs-search``, ... the same), the fixed templates are ``rs-template``, ..., and the default's energy per
MAC does not grow with the batch where a larger batch can run as copies of a smaller one."""

import json

import pytest

from energysim import EnergySimError, trace_model
from energysim.analysis.estimate import estimate
from energysim.arch import load_profile
from energysim.cli import main as cli_main
from energysim.cli.options import MAX_SEARCH_BATCH, check_search_batch
from energysim.costs.codebook import CodebookCosts
from energysim.mapping.dataflow import (DATAFLOW_NAMES, SEARCH_DATAFLOWS, TEMPLATE_DATAFLOWS, is_search,
                                        mapping_for, resolve, row_stationary)
from energysim.mapping.search import search
from energysim.mapping.templates import map_problem
from energysim.model.problem import Problem


def test_names_resolve():
    assert resolve("rs") == resolve("rs-search") == ("search", "rs")
    assert resolve("ws") == ("search", "ws") and resolve("os-search") == ("search", "os")
    assert resolve("search") == ("search", None)
    assert resolve("rs-template") == ("template", "rs") and resolve("nlr") == resolve("nlr-template")
    assert DATAFLOW_NAMES[0] == "rs" and set(DATAFLOW_NAMES) == set(SEARCH_DATAFLOWS) | set(TEMPLATE_DATAFLOWS)
    assert not set(SEARCH_DATAFLOWS) & set(TEMPLATE_DATAFLOWS)
    assert [is_search(n) for n in ("rs", "ws-search", "search", "os-template", "nlr")] == [1, 1, 1, 0, 0]
    assert [row_stationary(n) for n in (None, "rs", "rs-search", "rs-template", "ws", "nlr")] == [1, 1, 1, 1, 0, 0]
    for bad in ("RS", "rs-templates", "nlr-search", ""):
        with pytest.raises(EnergySimError, match=f"unknown dataflow {bad!r}"):
            resolve(bad)


def test_names_map_to_the_search_or_the_template():
    prof = load_profile("eyeriss-65nm")
    problem = Problem.from_layer(trace_model("alexnet")["features.8"])
    for df in ("rs", "ws", "os"):
        searched = search(problem, prof, df).mapping
        assert mapping_for(problem, prof, df) == mapping_for(problem, prof, f"{df}-search") == searched
        assert mapping_for(problem, prof, f"{df}-template") == map_problem(problem, prof, df)
    assert mapping_for(problem, prof, "nlr") == map_problem(problem, prof, "nlr")


def test_default_estimate_is_the_row_stationary_search(capsys):
    net = trace_model("lenet5")
    default, alias, template = (estimate(net, "eyeriss-65nm", *a) for a in ((), ("rs-search",), ("rs-template",)))
    assert default.total_energy == alias.total_energy < template.total_energy
    assert default.dataflow == "rs" and template.dataflow == "rs-template"
    for argv, want in ((["--json"], default), (["--dataflow", "rs-template", "--json"], template)):
        assert cli_main(["estimate", "lenet5", *argv]) == 0
        assert json.loads(capsys.readouterr().out)["total_energy"] == pytest.approx(want.total_energy, rel=1e-12)
    with pytest.raises(EnergySimError, match="unknown dataflow 'rz'"):
        estimate(net, "eyeriss-65nm", "rz")


def test_batch_limit_names_the_template():
    check_search_batch(MAX_SEARCH_BATCH + 1, "rs-template")
    check_search_batch(MAX_SEARCH_BATCH, "rs")
    for df in ("rs", "ws", "search", "os-search"):
        with pytest.raises(EnergySimError, match="rs-template"):
            check_search_batch(MAX_SEARCH_BATCH + 1, df)


def test_compute_reuse_counts_every_row_stationary_name():
    for df in ("rs", "rs-search", "rs-template"):
        assert CodebookCosts(None, dataflow=df).dataflow == df and row_stationary(df)


BATCHES = (1, 2, 3, 7, 16, 31, 64)


@pytest.fixture(scope="module")
def resnet18_by_batch():
    out = {}
    for b in BATCHES:
        rep = estimate(trace_model("resnet18", batch=b), "eyeriss-65nm")  # the default dataflow
        out[b] = rep
    return out


def test_energy_per_mac_does_not_grow_with_the_batch(resnet18_by_batch):
    """A batch k*b can run as k batches of b (the same mappings with the batch loop outermost: every count times k):
    per layer and per network, energy per MAC at k*b is at most that at b. Every batch is at most batch 1's, and the
    powers of two never grow. (Prime batches cannot be tiled -- mappings split bounds into exact factors -- so they
    are not compared with smaller batches that do not divide them: docs/results/templates.md.)"""
    per_mac = {b: {l.name: l.energy / l.macs for l in r.layers if l.macs} for b, r in resnet18_by_batch.items()}
    net = {b: r.total_energy / r.total_macs for b, r in resnet18_by_batch.items()}
    grew = [(name, b, kb, e / per_mac[b][name]) for b in BATCHES for kb in BATCHES if kb > b and kb % b == 0
            for name, e in per_mac[kb].items() if e > per_mac[b][name] * (1 + 1e-9)]
    assert not grew, grew
    assert all(net[b] <= net[1] * (1 + 1e-9) for b in BATCHES)
    pow2 = [net[b] for b in BATCHES if b & (b - 1) == 0]
    assert all(y <= x * (1 + 1e-9) for x, y in zip(pow2, pow2[1:])), pow2
    assert net[64] < 0.9 * net[1]  # batching does pay: weights are fetched once for many images

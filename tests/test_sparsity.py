"""Sparsity utilities: Eyeriss run-length coding (exact and expected), measured densities, validation."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from energysim import EnergySimError, trace, zoo
from energysim.costs.sparsity import (
    measure_densities,
    rlc_decode,
    rlc_encode,
    rlc_expected_bits,
    rlc_expected_words,
    rlc_pairs_exact,
    rlc_words_exact,
    validate_densities,
    validate_density,
)


# ---------------------------------------------------------------------------------------------------------
# Run-length coding, exact
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "zeros,pairs",
    [
        (0, [(0, 5)]),
        (31, [(31, 5)]),  # the longest run one pair holds
        (32, [(31, 0), (0, 5)]),  # (31, 0) stands for 32 zeros: 31 counted, one as the level
        (40, [(31, 0), (8, 5)]),
        (64, [(31, 0), (31, 0), (0, 5)]),
    ],
)
def test_long_runs_split_with_level_zero(zeros, pairs):
    x = np.array([0] * zeros + [5])
    assert rlc_encode(x) == pairs
    assert rlc_pairs_exact(x) == len(pairs)
    assert rlc_words_exact(x) == math.ceil(len(pairs) / 3)


def test_trailing_zeros_and_edge_cases():
    assert rlc_encode([1, 0, 0]) == [(0, 1), (1, 0)]
    assert rlc_encode(np.zeros(64)) == [(31, 0), (31, 0)]
    assert rlc_pairs_exact(np.zeros(65)) == 3
    assert rlc_words_exact([]) == 0 and rlc_words_exact(np.zeros(1)) == 1
    assert rlc_words_exact(np.ones(7)) == 3  # 7 pairs, three to a word
    assert rlc_words_exact(np.ones(6)) == 2
    assert rlc_words_exact(torch.tensor([[0.0, 2.0], [0.0, 0.0]])) == 1  # any shape, C order, torch too


def test_encode_decode_roundtrip_and_fast_count():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(0, 400))
        x = (rng.random(n) < rng.random()) * rng.normal(size=n)
        pairs = rlc_encode(x)
        assert np.array_equal(rlc_decode(pairs), x)
        assert all(0 <= r <= 31 for r, _ in pairs)
        assert rlc_pairs_exact(x) == len(pairs)
        assert rlc_words_exact(x) == -(-len(pairs) // 3)
        # a narrower run field splits more often
        assert rlc_pairs_exact(x, run_bits=2) == len(rlc_encode(x, run_bits=2))


# ---------------------------------------------------------------------------------------------------------
# Run-length coding, expected size
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("run_bits,per_word", [(5, 3), (2, 3), (1, 2)])
def test_expectation_is_exact_by_enumeration(run_bits, per_word):
    for n in range(0, 11):
        for d in (0.0, 0.25, 0.7, 1.0):
            exact = sum(
                math.prod(d if b else 1 - d for b in bits)
                * rlc_words_exact(np.array(bits), run_bits=run_bits, pairs_per_word=per_word)
                for bits in itertools.product([0, 1], repeat=n)
            )
            got = rlc_expected_words(n, d, run_bits=run_bits, pairs_per_word=per_word)
            assert got == pytest.approx(exact, abs=1e-9), (n, d)


@pytest.mark.parametrize("density", [0.0002, 0.01, 0.2, 0.613, 0.9999])
def test_expectation_matches_random_tensors(density):
    rng = np.random.default_rng(int(density * 1e4))
    n, trials = 20000, 200
    words = np.array([rlc_words_exact(rng.random(n) < density) for _ in range(trials)])
    expected = rlc_expected_words(n, density)
    # the mean of 200 trials lies within 5 standard errors (plus the 1-word rounding floor)
    se = max(words.std(ddof=1), 1.0) / math.sqrt(trials)
    assert abs(words.mean() - expected) < 5 * se
    assert rlc_expected_bits(n, density) == 64 * expected


def test_expectation_limits():
    assert rlc_expected_words(3000, 1.0) == 1000  # dense: one pair per element
    assert rlc_expected_words(3200, 0.0) == math.ceil(100 / 3)  # all zeros: one (31, 0) pair per 32
    assert rlc_expected_bits(10**9, 0.2) > 0  # large n is cheap (matrix powers)
    with pytest.raises(EnergySimError, match=r"density must be in \[0, 1\], got 1.5"):
        rlc_expected_bits(10, 1.5)
    with pytest.raises(EnergySimError, match="n_elements must be a non-negative integer"):
        rlc_expected_bits(-1, 0.5)


# ---------------------------------------------------------------------------------------------------------
# Measured densities
# ---------------------------------------------------------------------------------------------------------
def test_measure_densities_names_match_trace_and_values_are_exact():
    torch.manual_seed(0)
    model = zoo.build("digits_cnn")
    x = torch.randn(16, 1, 8, 8)
    dens = measure_densities(model, x)
    traced = [l.name for l in trace(model, (16, 1, 8, 8)) if l.has_macs]
    assert list(dens) == traced == ["conv1", "conv2", "conv3", "fc"]
    with torch.no_grad():
        a1 = model.relu1(model.conv1(x))
        out2 = model.conv2(a1)
    frac = lambda t: float((t != 0).float().mean())  # noqa: E731
    assert dens["conv1"] == {"inputs": frac(x), "outputs": frac(model.conv1(x))}
    assert dens["conv2"]["inputs"] == pytest.approx(frac(a1)) and dens["conv2"]["inputs"] < 0.8  # after ReLU
    assert dens["conv2"]["outputs"] == pytest.approx(frac(out2))
    assert model.training  # mode restored


def test_measure_densities_pools_batches_and_numbers_repeated_calls():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.block(self.relu(self.block(x)))

    m = Twice()
    with torch.no_grad():
        m.block[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
    x1 = torch.tensor([[[[1.0, -1.0]], [[0.0, 2.0]]]])  # 1x2x1x2
    x2 = torch.zeros(1, 2, 1, 2)
    dens = measure_densities(m, [(x1, 0), (x2, 1)])  # a DataLoader-like iterable of (x, y)
    names = [l.name for l in trace(m, (1, 2, 1, 2)) if l.has_macs]
    assert list(dens) == names == ["block.0", "block.0#2"]
    assert dens["block.0"] == {"inputs": 3 / 8, "outputs": 3 / 8}
    assert dens["block.0#2"] == {"inputs": 2 / 8, "outputs": 2 / 8}  # after the ReLU


def test_measure_densities_bad_inputs():
    with pytest.raises(EnergySimError, match="needs a torch.nn.Module"):
        measure_densities("model", torch.zeros(1))
    with pytest.raises(EnergySimError, match="no input batches"):
        measure_densities(nn.Linear(2, 2), [])
    with pytest.raises(EnergySimError, match="inputs must be a tensor or an iterable"):
        measure_densities(nn.Linear(2, 2), 3)


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------
def test_validate_density_names_layer_and_value():
    assert validate_density("conv1", 0.5) == 0.5 and validate_density("conv1", 0) == 0.0
    with pytest.raises(EnergySimError, match=r"layer 'conv2': inputs density must be in \[0, 1\], got 1.2"):
        validate_density("conv2", 1.2)
    with pytest.raises(EnergySimError, match=r"layer 'fc': outputs density must be in \[0, 1\], got -0.1"):
        validate_density("fc", -0.1, "outputs")
    with pytest.raises(EnergySimError, match=r"layer 'fc'.*got nan"):
        validate_density("fc", float("nan"))
    with pytest.raises(EnergySimError, match=r"layer 'fc'.*must be a number.*got 'dense'"):
        validate_density("fc", "dense")


def test_validate_densities_table():
    net = trace(zoo.build("lenet5"), (1, 1, 28, 28))
    out = validate_densities({"conv1": 0.4, "conv2": {"inputs": 0.3, "outputs": 1}}, net)
    assert out == {"conv1": {"inputs": 0.4, "outputs": 0.4}, "conv2": {"inputs": 0.3, "outputs": 1.0}}
    with pytest.raises(EnergySimError, match=r"layer 'conv2': outputs density must be in \[0, 1\], got 2"):
        validate_densities({"conv2": {"outputs": 2}})
    with pytest.raises(EnergySimError, match="layer 'nope', which is not in network"):
        validate_densities({"nope": 0.5}, net)
    with pytest.raises(EnergySimError, match="unknown data space 'psums'"):
        validate_densities({"conv1": {"psums": 0.5}})
    # measured densities pass validation as they are
    dens = measure_densities(zoo.build("lenet5"), torch.randn(2, 1, 28, 28))
    assert validate_densities(dens, net) == dens

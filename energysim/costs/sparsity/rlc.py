"""Run-length coding of feature maps in the Eyeriss format: exact codes of real tensors and exact expectations
for i.i.d. zeros.

Density is the fraction of *non-zero* elements (Eyeriss reports the complement: "zeros in input maps").

Run-length coding (Eyeriss, Chen et al. JSSC 2017): a feature map is streamed as (run, level) pairs, ``run``
the number of zeros (5 bits, 0..31) before the value ``level`` (16 bits); three pairs and a 1-bit termination
flag fill one 64-bit word. A pair ``(r, l)`` decodes to r zeros followed by the value l. Edge cases, as
implemented here:

- a run longer than 31 zeros is split: a pair ``(31, 0)`` stands for 32 zeros (31 counted by the run plus the
  explicit level 0), repeated as needed, and the remainder is carried by the next pair;
- trailing zeros at the end of the tensor are encoded too (the decoder gets no length from elsewhere): ``z``
  trailing zeros cost ``ceil(z/32)`` pairs, the last one ``(z' − 1, 0)``;
- the last word may be partly filled; it is counted whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from energysim.costs.sparsity.densities import check_density
from energysim.errors import EnergySimError

RUN_BITS = 5
LEVEL_BITS = 16
PAIRS_PER_WORD = 3
WORD_BITS = 64


def flat(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x).reshape(-1)


def _check_format(run_bits: int, pairs_per_word: int) -> None:
    if isinstance(run_bits, bool) or not isinstance(run_bits, int) or run_bits < 1:
        raise EnergySimError(f"run_bits must be a positive integer, got {run_bits!r}")
    if isinstance(pairs_per_word, bool) or not isinstance(pairs_per_word, int) or pairs_per_word < 1:
        raise EnergySimError(f"pairs_per_word must be a positive integer, got {pairs_per_word!r}")


def rlc_encode(tensor, *, run_bits: int = RUN_BITS) -> list[tuple[int, float]]:
    """The (run, level) pairs of ``tensor`` (flattened in C order). Reference implementation, one pair per item."""
    _check_format(run_bits, 1)
    max_run = (1 << run_bits) - 1
    pairs: list[tuple[int, float]] = []
    z = 0
    for v in flat(tensor).tolist():
        if v != 0:
            pairs.append((z, v))
            z = 0
        elif z == max_run:
            pairs.append((max_run, 0))  # the zero itself is the level: the pair stands for max_run + 1 zeros
            z = 0
        else:
            z += 1
    if z:
        pairs.append((z - 1, 0))
    return pairs


def rlc_decode(pairs: Iterable[tuple[int, float]]) -> np.ndarray:
    """Inverse of ``rlc_encode``: the flat tensor (float64)."""
    out: list[float] = []
    for run, level in pairs:
        out.extend([0.0] * int(run))
        out.append(float(level))
    return np.asarray(out, dtype=np.float64)


def rlc_pairs_exact(tensor, *, run_bits: int = RUN_BITS) -> int:
    """Number of (run, level) pairs of ``tensor`` (flattened in C order); vectorized ``len(rlc_encode(x))``."""
    _check_format(run_bits, 1)
    block = 1 << run_bits  # zeros one (max_run, 0) pair stands for
    x = flat(tensor)
    nz = np.flatnonzero(x)
    if nz.size == 0:
        return -(-x.size // block)
    # zero runs before each non-zero, and the trailing run
    runs = np.diff(np.concatenate(([-1], nz))) - 1
    trailing = x.size - 1 - nz[-1]
    return int(nz.size + (runs // block).sum() + -(-trailing // block))


def rlc_words_exact(tensor, *, run_bits: int = RUN_BITS, pairs_per_word: int = PAIRS_PER_WORD) -> int:
    """64-bit words needed to run-length code ``tensor`` (any shape, flattened in C order) in the Eyeriss format.

    ``ceil(pairs / pairs_per_word)``; see the module docstring for runs longer than 31 and trailing zeros.
    """
    _check_format(run_bits, pairs_per_word)
    return -(-rlc_pairs_exact(tensor, run_bits=run_bits) // pairs_per_word)


def rlc_expected_words(n_elements: int, density: float, *, run_bits: int = RUN_BITS,
                       pairs_per_word: int = PAIRS_PER_WORD) -> float:
    """Expected number of words for ``n_elements`` i.i.d. elements, each non-zero with probability ``density``.

    Exact for this format (not the large-n approximation): a Markov chain over (pending zeros, pairs mod
    ``pairs_per_word``) carries both E[pairs] and the distribution of the pairs in the last word, since
    ``E[ceil(P/k)] = (E[P] + E[(−P) mod k]) / k``. Cost: O(log n) products of small matrices.
    """
    _check_format(run_bits, pairs_per_word)
    if isinstance(n_elements, bool) or not isinstance(n_elements, (int, np.integer)) or n_elements < 0:
        raise EnergySimError(f"n_elements must be a non-negative integer, got {n_elements!r}")
    d = check_density(density)
    n = int(n_elements)
    if n == 0:
        return 0.0
    block = 1 << run_bits
    k = pairs_per_word
    S = block * k  # state (z, m): z pending zeros 0..block-1, m pairs emitted mod k; index z*k + m
    A = np.zeros((S + 1, S + 1))  # row-vector chain; the last column accumulates E[pairs]
    for z in range(block):
        for m in range(k):
            s = z * k + m
            emit_next = 0 * k + (m + 1) % k
            A[s, emit_next] += d  # a non-zero closes a pair
            if z == block - 1:
                A[s, emit_next] += 1 - d  # the 32nd zero is the level of a (31, 0) pair
            else:
                A[s, (z + 1) * k + m] += 1 - d
            A[s, S] = d + (1 - d) * (z == block - 1)  # probability this step emits a pair
    A[S, S] = 1.0
    v = np.zeros(S + 1)
    v[0] = 1.0
    # v @ A^n by binary powering
    M, e = A, n
    while e:
        if e & 1:
            v = v @ M
        e >>= 1
        if e:
            M = M @ M
    expected_pairs = v[S]
    extra_mod = 0.0
    for z in range(block):
        for m in range(k):
            p = v[z * k + m]
            final = 1 if z else 0  # trailing zeros close one more pair
            expected_pairs += p * final
            extra_mod += p * ((-(m + final)) % k)
    return float((expected_pairs + extra_mod) / k)


def rlc_expected_bits(n_elements: int, density: float, *, run_bits: int = RUN_BITS,
                      pairs_per_word: int = PAIRS_PER_WORD, word_bits: int = WORD_BITS) -> float:
    """Expected run-length-coded size in bits of ``n_elements`` i.i.d. elements of non-zero ``density``.

    ``word_bits · rlc_expected_words(...)``: whole 64-bit words, as they travel to DRAM.
    """
    if isinstance(word_bits, bool) or not isinstance(word_bits, int) or word_bits < 1:
        raise EnergySimError(f"word_bits must be a positive integer, got {word_bits!r}")
    return word_bits * rlc_expected_words(n_elements, density, run_bits=run_bits, pairs_per_word=pairs_per_word)


@dataclass(frozen=True)
class RLCFormat:
    """Run-length coding format: ``run_bits`` zero-run field, ``pairs_per_word`` (run, level) pairs per
    ``word_bits`` word (Eyeriss: 5 + 16 bits, 3 pairs per 64-bit word)."""

    run_bits: int = RUN_BITS
    pairs_per_word: int = PAIRS_PER_WORD
    word_bits: int = WORD_BITS

"""Compression ratios (dense size / compressed size; sizes in bits unless named bytes), in the conventions that
papers and tools use, side by side:

* ``han`` (Deep Compression, Han et al.): ``r = n*b / (n*log2 k + k*b)`` for n weights of b bits shared among k
  values, with a whole number of bits per index (:func:`dkm.bitcodes.index_bits`, ``ceil(log2 k)``: the one
  definition used everywhere). For vectors of s weights: ``N*s*32 / (N*ceil(log2 K) + K*s*32)``. Whole model:
  every floating-point state_dict tensor counts (batch norm included), unshared ones at 32 bits.
* ``entropy``: the same with each index at the entropy of the assignments (what an ideal entropy code costs).
* ``authors`` (the Deep k-Means authors' evaluation code, ``WideResNet_Deploy.py``): dense = every conv and
  linear weight and bias at 32 bits, batch norm not counted; a shared layer costs ``K*s*32`` (its codebook) +
  ``N * H`` with H the entropy of the distinct shared rows; biases and unshared layers stay at 32 bits.
* bytes: the fp32 state_dict's tensor bytes over the ``.dkm`` file's bytes (:func:`state_bytes`; the artifact
  size comes from :func:`dkm.artifact.save`).

A layer with several lookup tables pays for all their codewords (``luts * K * s * 32``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .bitcodes import index_bits
from .share import SharedLayer

B = 32  # bits of one dense weight
CODINGS = ("fixed", "entropy", "authors")


def han_ratio(n: int, k: int, b: int = B) -> float:
    """Han et al.'s ratio for n scalar weights of b bits shared among k values (``ceil(log2 k)`` bits per index)."""
    return n * b / (n * index_bits(k) + k * b)


def layer_bits(sl: SharedLayer, coding: str | bool = "fixed") -> float:
    """Compressed bits of one shared layer: codebook ``luts*K*s*32`` + N indices at ``coding``: ``fixed``
    (``ceil(log2 K)``), ``entropy`` (entropy of the assignments) or ``authors`` (entropy of the distinct rows).
    ``True``/``False`` mean ``entropy``/``fixed``."""
    coding = {True: "entropy", False: "fixed"}.get(coding, coding) if isinstance(coding, bool) else coding
    per_index = {"fixed": lambda: sl.index_bits, "entropy": lambda: sl.entropy_bits,
                 "authors": lambda: sl.distinct_entropy_bits}[coding]()
    return sl.n * per_index + sl.codebook.shape[0] * sl.s * B


def dense_bits(state: Mapping[str, torch.Tensor]) -> int:
    """Bits of every floating-point tensor of a state_dict at 32 bits (integer counters are not weights)."""
    return sum(t.numel() * B for t in state.values() if t.is_floating_point())


def authors_bits(model: nn.Module, shared: Mapping[str, SharedLayer]) -> tuple[int, float]:
    """(dense, compressed) bits in the authors' convention (module docstring): conv and linear layers only."""
    dense = comp = 0.0
    for name, mod in model.named_modules():
        if not isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            continue
        w = mod.weight.numel() * B
        b = mod.bias.numel() * B if mod.bias is not None else 0
        dense += w + b
        comp += b + (layer_bits(shared[name], "authors") if name in shared else w)
    return int(dense), comp


def ratios(model: nn.Module | Mapping[str, torch.Tensor], shared: Mapping[str, SharedLayer]) -> dict[str, float]:
    """Whole-model and shared-layers-only ratios in every convention.

    Keys: ``han``, ``entropy`` (whole model, every float tensor of the state_dict), ``authors`` (whole model in
    the authors' convention; only when ``model`` is a module, not a bare state_dict), ``layers_han``,
    ``layers_entropy``, ``layers_authors`` (shared layers' weights only), ``conv_han``, ``conv_entropy``,
    ``conv_authors`` (shared conv layers' weights only; NaN without shared conv layers).
    """
    state = model.state_dict() if isinstance(model, nn.Module) else model
    total = dense_bits(state)
    sh_dense = {n: sl.n * sl.s * B for n, sl in shared.items()}
    other = total - sum(sh_dense.values())
    conv = [n for n, sl in shared.items() if len(sl.shape) > 2]
    out = {}
    for key in ("han", "entropy", "authors"):
        bits = {n: layer_bits(sl, "fixed" if key == "han" else key) for n, sl in shared.items()}
        if key != "authors":
            out[key] = total / (other + sum(bits.values()))
        elif isinstance(model, nn.Module):
            dense, comp = authors_bits(model, shared)
            out[key] = dense / comp
        out[f"layers_{key}"] = sum(sh_dense.values()) / max(1e-9, sum(bits.values()))
        out[f"conv_{key}"] = (sum(sh_dense[n] for n in conv) / sum(bits[n] for n in conv)) if conv else float("nan")
    return out


def state_bytes(state: Mapping[str, torch.Tensor]) -> int:
    """Bytes of all tensors of a state_dict with floating-point tensors at fp32."""
    return sum(t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in state.values())

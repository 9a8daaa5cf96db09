"""Compression ratios, three ways (all are dense size / compressed size; sizes in bits unless named bytes).

* Han et al. (Deep Compression): ``r = n*b / (n*log2 k + k*b)`` for n weights of b bits and k shared values.
  For vectors of s weights this reads ``N*s*b / (N*ceil(log2 K) + K*s*b)``: what fixed-width indices cost.
* The Deep k-Means authors' convention: codebook ``K*s*32`` bits plus ``N * H(assignments)`` bits (H the
  Shannon entropy per index); everything not shared (biases, BN, unshared FC) at 32 bits.
* Bytes: the fp32 state_dict's tensor bytes over the ``.dkm`` file's bytes.
"""

from __future__ import annotations

import math

import torch

from .share import SharedLayer

B = 32  # bits of one dense weight


def han_ratio(n: int, k: int, b: int = B) -> float:
    """Han et al.'s ratio for n scalar weights of b bits shared among k values (log2 k, not rounded)."""
    return n * b / (n * math.log2(k) + k * b) if k > 1 else n * b / (k * b)


def layer_bits(sl: SharedLayer, entropy: bool) -> float:
    """Compressed bits of one shared layer: codebook K*s*32 + N indices (ceil(log2 K) or entropy bits)."""
    per_index = sl.entropy_bits if entropy else sl.index_bits
    return sl.n * per_index + sl.k * sl.s * B


def dense_bits(state: dict[str, torch.Tensor]) -> int:
    """Bits of every floating-point tensor of a state_dict at 32 bits (integer counters are not weights)."""
    return sum(t.numel() * B for t in state.values() if t.is_floating_point())


def ratios(state: dict[str, torch.Tensor], shared: dict[str, SharedLayer]) -> dict[str, float]:
    """Whole-model and shared-layers-only ratios, Han and entropy convention.

    Keys: ``han``, ``entropy`` (whole model, unshared tensors at 32 bits), ``layers_han``,
    ``layers_entropy`` (shared layers only), ``conv_han``, ``conv_entropy`` (shared conv layers only).
    """
    total = dense_bits(state)
    sh_dense = {n: sl.n * sl.s * B for n, sl in shared.items()}
    other = total - sum(sh_dense.values())
    out = {}
    for key, ent in (("han", False), ("entropy", True)):
        bits = {n: layer_bits(sl, ent) for n, sl in shared.items()}
        out[key] = total / (other + sum(bits.values()))
        out[f"layers_{key}"] = sum(sh_dense.values()) / max(1e-9, sum(bits.values()))
        conv = [n for n, sl in shared.items() if len(sl.shape) == 4]
        out[f"conv_{key}"] = (sum(sh_dense[n] for n in conv) / sum(bits[n] for n in conv)) if conv else float("nan")
    return out


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes of all tensors of a state_dict with floating-point tensors at fp32."""
    return sum(t.numel() * (4 if t.is_floating_point() else t.element_size()) for t in state.values())

"""Weight sharing: replace each layer's samples by their k-means centres (codebook + assignments)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .grouping import group, ungroup
from .kmeans import check_samples, kmeans
from .layers import LayerSpec, get_module


@dataclass
class SharedLayer:
    """A shared layer: ``codebook`` ``(K, s)`` float32 and ``assignments`` ``(N,)`` int64 (numpy).

    With sparsity, codeword 0 is the fixed zero vector. ``weight()`` rebuilds the dense weight exactly.
    """

    name: str
    shape: tuple[int, ...]
    codebook: np.ndarray
    assignments: np.ndarray
    sparse: bool = False

    @property
    def k(self) -> int:
        return int(self.codebook.shape[0])

    @property
    def s(self) -> int:
        return int(self.codebook.shape[1])

    @property
    def n(self) -> int:
        return int(self.assignments.shape[0])

    @property
    def index_bits(self) -> int:
        """Bits of one fixed-length index: ceil(log2 K) (0 for K = 1)."""
        return math.ceil(math.log2(self.k)) if self.k > 1 else 0

    @property
    def entropy_bits(self) -> float:
        """Shannon entropy of the assignments, bits per index (the authors' index cost)."""
        p = np.bincount(self.assignments, minlength=self.k) / max(1, self.n)
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum()) + 0.0

    def weight(self) -> torch.Tensor:
        W = torch.from_numpy(self.codebook[self.assignments]).T
        return ungroup(W, self.shape).contiguous()


def zero_columns(W: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask of the ``round(p*N)`` smallest-norm columns of ``W`` (ties broken by index)."""
    N = W.shape[1]
    nz = int(round(p * N))
    mask = torch.zeros(N, dtype=torch.bool)
    if nz:
        order = torch.argsort(W.detach().norm(dim=0), stable=True)
        mask[order[:nz]] = True
    return mask


def share_layer(weight: torch.Tensor, spec: LayerSpec, seed: int = 0, max_iter: int = 100,
                init: torch.Tensor | None = None) -> SharedLayer:
    """k-means (or, with sparsity p, a fixed zero centre plus (K-1)-means) over one layer's samples.

    ``init`` (the K, or K-1 with sparsity, starting centres) replaces k-means++ seeding, e.g. to continue from
    the hard regularizer's last clustering.
    """
    W = group(weight.detach().float(), spec.mode, spec.linear_vector_size)
    X = W.T.contiguous()
    check_samples(X, spec.k, spec.name)
    if spec.sparsity > 0:
        zero = zero_columns(W, spec.sparsity)
        rest = torch.nonzero(~zero).flatten()
        res = kmeans(X[rest], spec.k - 1, seed=seed, max_iter=max_iter, name=spec.name, init=init)
        codebook = torch.cat([torch.zeros(1, X.shape[1]), res.centers])
        labels = torch.zeros(X.shape[0], dtype=torch.long)
        labels[rest] = res.labels + 1
        return SharedLayer(spec.name, spec.shape, codebook.numpy(), labels.numpy(), True)
    res = kmeans(X, spec.k, seed=seed, max_iter=max_iter, name=spec.name, init=init)
    return SharedLayer(spec.name, spec.shape, res.centers.numpy().copy(), res.labels.numpy().copy())


def share_weights(model: nn.Module, specs: list[LayerSpec], seed: int = 0,
                  inits: dict[str, torch.Tensor] | None = None) -> dict[str, SharedLayer]:
    """Share every layer in ``specs`` and write the shared weights into ``model`` (in place)."""
    shared = {}
    for i, spec in enumerate(specs):
        mod = get_module(model, spec.name)
        sl = share_layer(mod.weight, spec, seed + i, init=(inits or {}).get(spec.name))
        with torch.no_grad():
            mod.weight.copy_(sl.weight())
        shared[spec.name] = sl
    return shared

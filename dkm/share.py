"""Weight sharing: replace each layer's samples by their k-means centres (codebook + assignments).

Sparsity (per-layer rate p, ``spec.sparsity_mode``):

* ``mean`` (the authors' released code, ``WideResNet_Deploy.py``): the ``int(p N)`` rows nearest (Euclidean) to
  the layer's mean row form one cluster whose centre is the mean of those rows (codeword 0); (K-1)-means with
  k-means++ seeding runs on the remaining rows, K-means for 1x1 layers (scalar rows, so K+1 values in all).
* ``zero`` (our first reading): the ``round(p N)`` smallest-norm rows go to a codeword fixed at zero (codeword 0,
  kept at zero by fine-tuning) and (K-1)-means runs on the rest.

Lookup tables (``spec.lut_group`` > 0): every ``lut_group`` consecutive output channels are clustered on their
own with K codewords. Their samples are consecutive (every grouping orders samples output channel first), so
LUT g holds rows ``g*N/G .. (g+1)*N/G - 1``; its codewords are rows ``g*K .. g*K+K-1`` of the layer's codebook.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .bitcodes import index_bits
from .grouping import group, ungroup
from .kmeans import check_samples, kmeans
from .layers import LayerSpec, get_module


def entropy(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution given by non-negative ``counts``."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / max(1.0, counts.sum())
    return float(-(p * np.log2(p)).sum()) + 0.0


@dataclass
class SharedLayer:
    """A shared layer: ``codebook`` ``(luts*K, s)`` float32 and ``assignments`` ``(N,)`` int64 (numpy) into it.

    ``luts`` lookup tables of K codewords each; the rows of LUT g use only codewords ``g*K .. g*K+K-1`` (see the
    module docstring). With ``sparse`` (sparsity mode ``zero``) codeword 0 of every LUT is the fixed zero vector.
    ``weight()`` rebuilds the dense weight exactly.
    """

    name: str
    shape: tuple[int, ...]
    codebook: np.ndarray
    assignments: np.ndarray
    sparse: bool = False
    luts: int = 1

    @property
    def k(self) -> int:
        """Codewords per lookup table."""
        return int(self.codebook.shape[0]) // self.luts

    @property
    def s(self) -> int:
        return int(self.codebook.shape[1])

    @property
    def n(self) -> int:
        return int(self.assignments.shape[0])

    @property
    def index_bits(self) -> int:
        """Bits of one fixed-length index into its LUT: ceil(log2 K) (0 for K = 1)."""
        return index_bits(self.k)

    def lut_offsets(self) -> np.ndarray:
        """First codeword of each row's LUT, ``(N,)`` int64 (all zero with one LUT)."""
        if self.luts == 1:
            return np.zeros(self.n, dtype=np.int64)
        return (np.arange(self.n, dtype=np.int64) // (self.n // self.luts)) * self.k

    @property
    def local_assignments(self) -> np.ndarray:
        """Index of each row within its own LUT, ``0 .. K-1`` (what is stored)."""
        return self.assignments - self.lut_offsets() if self.luts > 1 else self.assignments

    @property
    def entropy_bits(self) -> float:
        """Shannon entropy of the (within-LUT) indices, bits per index: what one entropy code over them costs."""
        return entropy(np.bincount(self.local_assignments, minlength=self.k))

    @property
    def distinct_entropy_bits(self) -> float:
        """The authors' index cost: entropy of the distinct shared rows (their frequencies), bits per row.

        Equal to :attr:`entropy_bits` unless two codewords coincide (or several LUTs are used)."""
        _, inv = np.unique(self.codebook, axis=0, return_inverse=True)
        return entropy(np.bincount(inv.reshape(-1)[self.assignments]))

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


def mean_rows(X: torch.Tensor, p: float) -> torch.Tensor:
    """Boolean mask of the ``int(p*N)`` rows of ``X`` (``(N, s)``) nearest to its mean row (the authors' rule;
    ties broken by index)."""
    N = X.shape[0]
    nm = int(p * N)
    mask = torch.zeros(N, dtype=torch.bool)
    if nm:
        X64 = X.detach().double()
        order = torch.argsort((X64 - X64.mean(0)).norm(dim=1), stable=True)
        mask[order[:nm]] = True
    return mask


def sparse_rows(X: torch.Tensor, spec: LayerSpec) -> tuple[torch.Tensor | None, int]:
    """The rows that sparsity sets apart (mask, or None without sparsity) and K for the rest of the rows."""
    if spec.sparsity <= 0:
        return None, spec.k
    if spec.sparsity_mode == "mean":
        mask = mean_rows(X, spec.sparsity)
        return (mask, spec.k if spec.s == 1 else spec.k - 1) if mask.any() else (None, spec.k)
    return zero_columns(X.T, spec.sparsity), spec.k - 1


def _cluster(X: torch.Tensor, spec: LayerSpec, seed: int, max_iter: int, init: torch.Tensor | None):
    """(codebook, labels) of one LUT's rows ``X``: plain k-means, or sparsity's codeword 0 + k-means on the rest."""
    mask, k = sparse_rows(X, spec)
    if mask is None:
        res = kmeans(X, spec.k, seed=seed, max_iter=max_iter, name=spec.name, init=init)
        return res.centers, res.labels
    rest = torch.nonzero(~mask).flatten()
    res = kmeans(X[rest], k, seed=seed, max_iter=max_iter, name=spec.name, init=init)
    first = X[mask].double().mean(0, keepdim=True).float() if spec.sparsity_mode == "mean" else torch.zeros(1, X.shape[1])
    labels = torch.zeros(X.shape[0], dtype=torch.long)
    labels[rest] = res.labels + 1
    return torch.cat([first, res.centers]), labels


def share_layer(weight: torch.Tensor, spec: LayerSpec, seed: int = 0, max_iter: int = 100,
                init: torch.Tensor | None = None) -> SharedLayer:
    """k-means over one layer's samples (per LUT), with the sparsity rule of ``spec`` (module docstring).

    ``init`` (the starting centres of the k-means run: K, or K-1 / K for the rows sparsity leaves, per LUT
    stacked) replaces k-means++ seeding, e.g. to continue from the hard regularizer's last clustering.
    A LUT with fewer rows than K keeps every row and repeats its last codeword (unused) up to K.
    """
    W = group(weight.detach().float(), spec.mode, spec.linear_vector_size)
    X = W.T.contiguous()
    check_samples(X, spec.k, spec.name)
    G = spec.luts
    per = X.shape[0] // G
    books, labels = [], []
    for g in range(G):
        ig = None if init is None else init.reshape(G, -1, X.shape[1])[g]
        with warnings.catch_warnings():
            if G > 1:  # small LUTs (e.g. one output channel of a first layer) keep their rows: expected, not news
                warnings.filterwarnings("ignore", message=".*weight sharing is a no-op")
            cb, lab = _cluster(X[g * per:(g + 1) * per], spec, seed + g, max_iter, ig)
        if G > 1:
            width = _lut_width(spec)
            if cb.shape[0] < width:
                cb = torch.cat([cb, cb[-1:].expand(width - cb.shape[0], -1)])
            lab = lab + g * width
        books.append(cb)
        labels.append(lab)
    codebook = torch.cat(books).numpy().copy()
    sparse = spec.sparsity > 0 and spec.sparsity_mode == "zero"
    return SharedLayer(spec.name, spec.shape, codebook, torch.cat(labels).numpy().copy(), sparse, G)


def _lut_width(spec: LayerSpec) -> int:
    """Codewords per LUT: K, or K+1 for the authors' sparsity on scalar rows (K-means besides the mean cluster)."""
    return spec.k + 1 if spec.sparsity > 0 and spec.sparsity_mode == "mean" and spec.s == 1 else spec.k


def share_weights(model: nn.Module, specs: list[LayerSpec], seed: int = 0,
                  inits: dict[str, torch.Tensor] | None = None, max_iter: int = 100,
                  progress=None) -> dict[str, SharedLayer]:
    """Share every layer in ``specs`` (layer i's k-means seeded ``seed + i``) and write the shared weights into
    ``model`` (in place). ``progress(i, n, name)`` is called before each layer's k-means."""
    shared = {}
    for i, spec in enumerate(specs):
        if progress is not None:
            progress(i, len(specs), spec.name)
        mod = get_module(model, spec.name)
        sl = share_layer(mod.weight, spec, seed + i, max_iter, init=(inits or {}).get(spec.name))
        with torch.no_grad():
            mod.weight.copy_(sl.weight())
        shared[spec.name] = sl
    return shared

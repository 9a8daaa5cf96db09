"""k-means regularizers for re-training (Deep k-Means, eq. 4), as one object that plugs into any loop::

    reg = SpectralRegularizer(model, specs, lam=1e-4, update_every=5)
    for epoch in range(E):
        for x, y in loader:
            loss = criterion(model(x), y) + reg.loss(model)
            ...
        reg.on_epoch_end(epoch)

Per layer with sample matrix ``W`` (``(s, N)``, see :mod:`dkm.grouping`) both compute
``lam/2 * [Tr(W'W) - Tr(F'W'WF)]`` with ``F'F = I``; they differ in F:

* :class:`SpectralRegularizer` (the paper): F = top-K right singular vectors of W, recomputed every
  ``update_every`` epochs. Since ``rank(W) <= s`` only the first ``min(K, s)`` singular vectors can be
  non-null, so F is stored as ``(N, min(K, s))`` (no ``N x N`` matrix) and the term is
  ``lam/2 (||W||^2 - ||W F||^2)`` with gradient ``lam W (I - F F')``. Caveat (DESIGN.md section 7): with K >= s
  the fresh F spans the whole row space of W, so the term and its gradient are exactly zero right after an
  update; it acts only through F going stale.
* :class:`HardRegularizer`: F = the normalized cluster-indicator matrix of the current k-means assignment
  (``F_ij = 1/sqrt(n_j)``). Then the term is exactly the k-means distortion ``lam/2 sum_i ||w_i - c_a(i)||^2``
  with ``c_j`` the mean of the columns currently in cluster j (computed from cluster sums, no F is built).

Sparsity (per-layer p): at each update the ``round(p N)`` smallest-norm columns join a centre fixed at zero
(their term is ``lam/2 ||w_i||^2``) and the rest use K-1 clusters. Units: the loss is in the units of the
training loss it is added to; ``lam`` is per unit squared weight.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import DKMError
from .grouping import group
from .kmeans import check_samples, kmeans
from .layers import LayerSpec, get_module
from .share import zero_columns


class KMeansRegularizer:
    """Common part: per-layer state (zero mask and F or assignment), refreshed every ``update_every`` epochs."""

    kind = "base"

    def __init__(self, model: nn.Module, specs: list[LayerSpec], lam: float = 1e-4, update_every: int = 5,
                 seed: int = 0):
        if lam < 0:
            raise DKMError(f"lam must be >= 0, got {lam!r}")
        if update_every < 1:
            raise DKMError(f"update_every (T, epochs) must be >= 1, got {update_every!r}")
        self.model, self.specs, self.lam, self.update_every, self.seed = model, specs, float(lam), update_every, seed
        self.state: dict[str, dict] = {}
        self.updates = 0
        self.update()

    def _W(self, model: nn.Module, spec: LayerSpec) -> torch.Tensor:
        return group(get_module(model, spec.name).weight, spec.mode, spec.linear_vector_size)

    @torch.no_grad()
    def update(self) -> None:
        """Recompute every layer's zero mask and F (or assignment) from the current weights."""
        for i, spec in enumerate(self.specs):
            W = self._W(self.model, spec).detach().float()
            check_samples(W.T, spec.k, spec.name)
            zero = zero_columns(W, spec.sparsity) if spec.sparsity > 0 else None
            rest = torch.nonzero(~zero).flatten() if zero is not None else None
            Wr = W if rest is None else W[:, rest]
            k = spec.k - 1 if zero is not None else spec.k
            st = {"zero": zero, "rest": rest}
            st.update(self._fit(Wr, k, spec, self.state.get(spec.name), self.seed + i))
            self.state[spec.name] = st
        self.updates += 1

    def on_epoch_end(self, epoch: int) -> None:
        """Call after epoch ``epoch`` (0-based); refreshes F every ``update_every`` epochs."""
        if (epoch + 1) % self.update_every == 0:
            self.update()

    def loss(self, model: nn.Module | None = None) -> torch.Tensor:
        """The regularization term (a scalar tensor with gradient) summed over layers."""
        model = model if model is not None else self.model
        total = torch.zeros(())
        for spec in self.specs:
            st = self.state[spec.name]
            X = get_module(model, spec.name).weight.reshape(-1, spec.s)  # = W.T, a contiguous view
            if st["zero"] is not None:
                Z = X[st["zero"]].reshape(-1)
                total = total + torch.dot(Z, Z)
                X = X[st["rest"]]
            total = total + self._layer(X, st)
        return 0.5 * self.lam * total

    def _fit(self, W, k, spec, old, seed) -> dict:
        raise NotImplementedError

    def _layer(self, W, st) -> torch.Tensor:
        raise NotImplementedError


class SpectralRegularizer(KMeansRegularizer):
    """The paper's relaxed k-means term with F = top-K right singular vectors of W (see module docstring)."""

    kind = "spectral"

    def _fit(self, W, k, spec, old, seed):
        _, _, Vh = torch.linalg.svd(W, full_matrices=False)  # Vh: (min(s, N), N); rank(W) <= s
        return {"F": Vh[: min(k, Vh.shape[0])].T.contiguous(), "Ft": Vh[: min(k, Vh.shape[0])].contiguous()}

    def _layer(self, X, st):
        # ||W||^2 - ||W F||^2 with X = W.T: ||W F||_F = ||F' X||_F, an (r x s) product
        x = X.reshape(-1)
        P = st["Ft"] @ X
        return torch.dot(x, x) - (P * P).sum()


class HardRegularizer(KMeansRegularizer):
    """The same trace term with F the normalized cluster indicator: the k-means distortion."""

    kind = "hard"

    def _fit(self, W, k, spec, old, seed):
        X = W.T.contiguous()
        init = old["centers"] if old is not None and old["centers"].shape == (k, X.shape[1]) else None
        res = kmeans(X, k, seed=seed, init=init, max_iter=30, name=spec.name)
        kk = res.centers.shape[0]
        counts = torch.bincount(res.labels, minlength=kk).clamp_min(1).float()
        return {"labels": res.labels, "inv_counts": 1.0 / counts, "centers": res.centers, "k": kk}

    def _layer(self, X, st):
        sums = torch.zeros(st["k"], X.shape[1], dtype=X.dtype).index_add(0, st["labels"], X)
        # sum ||x_i - mean_a(i)||^2 = sum ||x_i||^2 - sum_j ||S_j||^2 / n_j
        x = X.reshape(-1)
        return torch.dot(x, x) - ((sums * sums).sum(1) * st["inv_counts"]).sum()


def warm_start(reg: KMeansRegularizer | None) -> dict[str, torch.Tensor]:
    """Centres of the hard regularizer's last clustering per layer (empty for others): sharing starts there."""
    if not isinstance(reg, HardRegularizer):
        return {}
    return {name: st["centers"] for name, st in reg.state.items() if st["centers"].shape[0] == st["k"]}


REGULARIZERS = {"spectral": SpectralRegularizer, "hard": HardRegularizer}


def make(kind: str, model: nn.Module, specs: list[LayerSpec], **kw) -> KMeansRegularizer | None:
    """A regularizer by name (``spectral``, ``hard``), or None for ``none``."""
    if kind == "none":
        return None
    if kind not in REGULARIZERS:
        raise DKMError(f"regularizer must be one of spectral, hard, none; got {kind!r}")
    return REGULARIZERS[kind](model, specs, **kw)

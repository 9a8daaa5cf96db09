"""Differentiable k-means (DKM, Cho et al., ICLR 2022) as a regularizer-style object for the same training loop::

    reg = DifferentiableKMeans(model, specs, temperature=0.5)   # the model's shared weights are now clustered
    train(model, data, epochs, reg=reg)                          # reg.loss() is 0: the clustering is in forward
    reg.snap()                                                   # optional: latent := hard clustering (finalize)
    reg.close()                                                  # back to plain weights; sharing starts at
    shared = share_weights(model, specs, inits=reg.warm_start()) # the centroids DKM ended with

While it is attached, every shared layer's weight is a function of its latent weight (a ``torch.nn.utils.
parametrize`` parametrization): with ``X`` the latent samples (``(N, s)``, the grouping of :mod:`dkm.grouping`)
and ``C`` the layer's centroids (``(K, s)``, kept across steps), each training forward runs ``iters`` soft
k-means steps

    ``A = softmax(-D / tau)`` with ``D_ij = ||x_i - c_j||^2``, then ``C = A'X / colsum(A)``

and uses ``W = A C`` (each sample a convex mix of centroids). The loss gradient flows through A and C into the
latent weights, so training moves weights and clusters together; ``C`` (detached) warm-starts the next step.
In eval mode the weight is the hard clustering (``x_i -> c_argmin``), what the shared model will be.

Temperature: ``tau = temperature * mean_i min_j D_ij`` per layer (and LUT), set from the centroids at attach
time and at every ``on_epoch_end``: the typical squared quantization error, so one ``temperature`` means the
same softness on any layer whatever its weight scale (Cho et al. tune an absolute tau per network). With ``tau``
given, that absolute temperature is used on every layer instead (coremltools' ``palett_tau``, default
:data:`COREMLTOOLS_TAU`, in squared weight units).

Starting centroids: k-means++ then Lloyd on the pretrained weights, the best of ``n_init`` seeded runs (lowest
distortion; coremltools runs 10). Attention entries are clamped at :data:`ATTENTION_FLOOR` as coremltools does, so
a centroid that no sample is near drifts to the samples' mean instead of collapsing to zero. In eval mode (and
after training, what the shared model is) each sample is snapped to its nearest DKM centroid, coremltools'
``finalize``: :meth:`DifferentiableKMeans.snap` writes that into the latent weights.

coremltools' other DKM defaults are options (all off by default; :data:`COREMLTOOLS` turns on every one):
``epsilon`` ends a forward's soft k-means early when the inertia (the summed squared distance of each sample to
its nearest centroid) changed by at most ``epsilon`` since the previous step (``palett_epsilon``);
``prune_threshold`` lowers every distance to centroid 0 by that much (``prune_threshold``);
``split_duplicates`` replaces, before each training forward, one copy of every duplicated centroid by the midpoint
to the next distinct centroid (in ``torch.unique`` order; ``palett_cluster_tol`` = 0); and scalar layers (LUTs)
of at most ``opt1d_threshold`` weights start from the optimal 1-D k-means (:func:`dkm.kmeans1d.optimal_1d`;
``kmeans_opt1d_threshold``) instead of the best of ``n_init`` k-means++ runs.

Lookup tables (``spec.lut_group``): the G LUTs are clustered side by side (batched products). Sparsity rows
(``spec.sparsity``, the rule of :mod:`dkm.share`, refreshed every epoch) take their codeword 0 hard: zero in
mode ``zero``, the mean of those rows in mode ``mean``; the others are soft-clustered over the other centroids.
Units: ``temperature`` is dimensionless; ``loss()`` is a zero scalar (nothing is added to the training loss).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from .errors import DKMError
from .kmeans import check_samples
from .layers import LayerSpec, get_module
from .kmeans1d import optimal_1d
from .share import share_layer, sparse_rows

#: Default temperature (relative to the mean squared quantization error; see the module docstring).
TEMPERATURE = 0.3
#: Soft k-means steps per training forward (coremltools' DKM also runs 3).
ITERS = 3
#: coremltools' default absolute softmax temperature (``palett_tau``), squared weight units.
COREMLTOOLS_TAU = 1e-4
#: coremltools' ``zero_threshold``: the smallest attention weight kept.
ATTENTION_FLOOR = 1e-7
#: coremltools 9.0's DKM defaults, as ``DifferentiableKMeans`` keyword arguments (``palett_tau``,
#: ``kmeans_n_init``, ``palett_epsilon``, ``prune_threshold``, ``palett_cluster_tol`` = 0,
#: ``kmeans_opt1d_threshold``)
COREMLTOOLS = {"tau": COREMLTOOLS_TAU, "n_init": 10, "epsilon": 1e-4, "prune_threshold": 1e-7,
               "split_duplicates": True, "opt1d_threshold": 1024}


def _positive(x) -> bool:
    """A finite real number > 0 (not a bool, not a string)."""
    if isinstance(x, (bool, str, bytes)):
        return False
    try:
        v = float(x)
    except (TypeError, ValueError):
        return False
    return v > 0 and math.isfinite(v)


def _count(x) -> bool:
    """An integer >= 1 (``3`` or ``3.0``; not a bool, a string, 2.5 or NaN)."""
    if isinstance(x, (bool, str, bytes)):
        return False
    try:
        return int(x) == x and x >= 1
    except (TypeError, ValueError, OverflowError):
        return False


class _SoftCluster(nn.Module):
    """The parametrization: latent weight -> soft-clustered weight (training) or hard-clustered weight (eval)."""

    def __init__(self, spec: LayerSpec, centers: torch.Tensor, temperature: float, iters: int,
                 tau: float | None = None, epsilon: float | None = None, prune_threshold: float = 0.0,
                 split_duplicates: bool = False):
        super().__init__()
        self.spec, self.temperature, self.iters = spec, float(temperature), int(iters)
        self.abs_tau = None if tau is None else float(tau)
        self.epsilon, self.prune, self.split = epsilon, float(prune_threshold), bool(split_duplicates)
        self.register_buffer("centers", centers)  # (G, K', s): the centroids of the soft rows
        self.register_buffer("tau", torch.ones(centers.shape[0], 1, 1))
        self.mask: torch.Tensor | None = None  # sparsity rows (one LUT only)

    def _samples(self, w: torch.Tensor) -> torch.Tensor:
        return w.reshape(self.centers.shape[0], -1, self.spec.s)  # (G, N/G, s); every grouping is this reshape

    @staticmethod
    def _dist(X: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
        """Squared distances ``(n, K)`` between the rows of ``X`` ``(n, s)`` and ``C`` ``(K, s)`` (clamped at 0
        against rounding)."""
        xx = (X * X).sum(1, keepdim=True)
        return torch.addmm(xx + (C * C).sum(1), X, C.t(), alpha=-2.0).clamp_min(0)

    def _soft(self, X: torch.Tensor, C: torch.Tensor, tau: float):
        """``iters`` soft k-means steps on one LUT (fewer with ``epsilon``): (the soft weight ``A C``, the last
        centroids)."""
        last = None
        xx = (X * X).sum(1).detach() if self.epsilon is not None else None
        for _ in range(self.iters):
            # softmax(-||x - c||^2 / tau) without the row constant ||x||^2: (2 x.c - ||c||^2) / tau, one addmm
            S = torch.addmm((C * C).sum(1).div(-tau), X, C.t(), alpha=2.0 / tau)  # (n, K)
            if self.prune:
                S = S + torch.nn.functional.pad(torch.full((1,), self.prune / tau), (0, C.shape[0] - 1))
            A = torch.softmax(S, dim=1).clamp_min(ATTENTION_FLOOR)
            stop = False
            if self.epsilon is not None:
                # inertia at the centroids this step started from: sum_i min_j ||x_i - c_j||^2 (- prune on c_0)
                inertia = float((xx - S.detach().max(1).values * tau).sum())
                stop = last is not None and last != 0 and abs(last - inertia) <= self.epsilon
                last = inertia
            # (X'A)' rather than A'X: MKL runs the skinny (K, n) @ (n, s) product about 10x slower
            C = torch.mm(X.t(), A).t() / A.sum(0).clamp_min(1e-12)[:, None]
            if stop:
                break
        return torch.mm(A, C), C

    @staticmethod
    @torch.no_grad()
    def _split_duplicates(C: torch.Tensor) -> None:
        """coremltools: one copy of each duplicated centroid moves to the midpoint to the next distinct one."""
        u, inv, cnt = torch.unique(C.float(), dim=0, return_inverse=True, return_counts=True)
        if len(u) == len(C):
            return
        inv = inv.tolist()
        for j, c in enumerate(cnt.tolist()):
            if c > 1:
                C[inv.index(j)] = 0.5 * (u[j] + u[(j + 1) % len(u)])

    @torch.no_grad()
    def refresh(self, w: torch.Tensor) -> None:
        """New sparsity rows and temperature scale from the current latent weight."""
        X = self._samples(w.detach().float())
        if self.spec.sparsity > 0:
            self.mask, _ = sparse_rows(X[0], self.spec)
        if self.abs_tau is not None:
            self.tau.fill_(self.abs_tau)
            return
        rows = X if self.mask is None else X[:, ~self.mask]
        d = torch.stack([self._dist(rows[g], self.centers[g]).min(1).values.mean() for g in range(len(rows))])
        self.tau.copy_((self.temperature * d.clamp_min(1e-12))[:, None, None])

    def _first(self, X: torch.Tensor) -> torch.Tensor:
        """Codeword 0 of the sparsity rows: zero, or (mode ``mean``) their mean, differentiable."""
        if self.spec.sparsity_mode == "zero":
            return torch.zeros(1, X.shape[-1], dtype=X.dtype)
        return X[0, self.mask].mean(0, keepdim=True)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        X = self._samples(w)
        rows = X if self.mask is None else X[:, ~self.mask]
        if not self.training:
            with torch.no_grad():
                out = torch.stack([self.centers[g][self._dist(rows[g], self.centers[g]).argmin(1)]
                                   for g in range(len(rows))])
        else:
            if self.split:
                for g in range(len(rows)):
                    self._split_duplicates(self.centers[g])
            soft = [self._soft(rows[g], self.centers[g], float(self.tau[g])) for g in range(len(rows))]
            out = torch.stack([o for o, _ in soft])
            # a new tensor: the old one is in this step's graph
            self.centers = torch.stack([c.detach() for _, c in soft])
        if self.mask is None:
            return out.reshape(w.shape)
        full = self._first(X).expand(X.shape[1], -1).clone()
        full[~self.mask] = out[0]
        return full.reshape(w.shape)


class DifferentiableKMeans:
    """Differentiable k-means on every layer of ``specs`` (module docstring); attach on construction.

    ``temperature`` (> 0, relative; default :data:`TEMPERATURE`), or ``tau`` (> 0, absolute, overrides it; e.g.
    :data:`COREMLTOOLS_TAU`), ``iters`` soft k-means steps per forward. The starting centroids are plain k-means
    of the current weights (seeded ``seed + layer index``, as :func:`dkm.share.share_weights`; with ``n_init`` > 1
    the lowest-distortion of that many runs, seeds ``seed + layer index + 1000 j``). ``epsilon``,
    ``prune_threshold``, ``split_duplicates`` and ``opt1d_threshold``: coremltools' options of the same meaning
    (module docstring; ``DifferentiableKMeans(model, specs, **COREMLTOOLS)`` is coremltools' configuration). Use it
    like a regularizer (``loss``, ``on_epoch_end``), then ``snap()`` (optional) and ``close()``.
    """

    kind = "dkm"

    def __init__(self, model: nn.Module, specs: list[LayerSpec], temperature: float = TEMPERATURE,
                 iters: int = ITERS, seed: int = 0, tau: float | None = None, n_init: int = 1,
                 epsilon: float | None = None, prune_threshold: float = 0.0, split_duplicates: bool = False,
                 opt1d_threshold: int = 0, **_ignored):
        if not _positive(temperature):
            raise DKMError(f"dkm temperature must be a finite number > 0, got {temperature!r}")
        if tau is not None and not _positive(tau):
            raise DKMError(f"dkm absolute temperature tau must be a finite number > 0, got {tau!r}")
        if not _count(n_init):
            raise DKMError(f"dkm k-means restarts n_init must be an integer >= 1, got {n_init!r}")
        if not _count(iters):
            raise DKMError(f"dkm iterations per step must be an integer >= 1, got {iters!r}")
        if epsilon is not None and not _positive(epsilon):
            raise DKMError(f"dkm inertia tolerance epsilon must be a finite number > 0, got {epsilon!r}")
        if not (_positive(prune_threshold) or (not isinstance(prune_threshold, (bool, str, bytes))
                                               and prune_threshold == 0)):
            raise DKMError(f"dkm prune_threshold must be a finite number >= 0, got {prune_threshold!r}")
        if not isinstance(split_duplicates, bool):
            raise DKMError(f"dkm split_duplicates must be true or false, got {split_duplicates!r}")
        if not (opt1d_threshold == 0 or _count(opt1d_threshold)):
            raise DKMError(f"dkm opt1d_threshold must be an integer >= 0, got {opt1d_threshold!r}")
        for spec in specs:
            if spec.sparsity > 0 and spec.luts > 1:
                raise DKMError(f"layer {spec.name!r}: dkm takes sparsity or several lookup tables, not both")
        self.model, self.specs, self.temperature, self.iters = model, specs, float(temperature), int(iters)
        self.tau, self.n_init = None if tau is None else float(tau), int(n_init)
        self.mods: dict[str, _SoftCluster] = {}
        for i, spec in enumerate(specs):
            mod = get_module(model, spec.name)
            w = mod.weight.detach()
            check_samples(w.reshape(-1, spec.s), spec.k, spec.name)
            per_lut = w.numel() // spec.luts
            if spec.s == 1 and spec.sparsity == 0 and spec.k <= per_lut <= int(opt1d_threshold):
                # coremltools' opt1d start: each LUT's optimal scalar k-means (no k-means++ draws)
                vals = w.detach().double().reshape(spec.luts, -1)
                cb = torch.stack([torch.from_numpy(optimal_1d(v.numpy(), spec.k)[0]) for v in vals])
                cb = cb.to(torch.float32)[:, :, None]
            else:
                # start from plain k-means: its codebook minus sparsity's codeword 0 (mode zero/mean) per LUT
                sl = min((share_layer(w, spec, seed + i + 1000 * j) for j in range(int(n_init))),
                         key=lambda r: float(((r.weight() - w.float()) ** 2).sum()))
                cb = torch.from_numpy(sl.codebook).reshape(spec.luts, -1, spec.s)
                if spec.sparsity > 0 and sparse_rows(w.reshape(-1, spec.s).float(), spec)[0] is not None:
                    cb = cb[:, 1:]
            sc = _SoftCluster(spec, cb.contiguous().clone(), self.temperature, self.iters, tau, epsilon,
                              prune_threshold, split_duplicates)
            # unsafe: skip the trial forward, which would already move the centroids (the shape is kept anyway)
            parametrize.register_parametrization(mod, "weight", sc, unsafe=True)
            sc.refresh(w)
            self.mods[spec.name] = sc

    def loss(self, model: nn.Module | None = None) -> torch.Tensor:
        """Nothing to add: the clustering acts in the forward pass."""
        return torch.zeros(())

    def on_epoch_end(self, epoch: int) -> None:
        """Refresh every layer's sparsity rows and temperature scale from the latent weights."""
        for spec in self.specs:
            mod = get_module(self.model, spec.name)
            self.mods[spec.name].refresh(mod.parametrizations.weight.original)

    def warm_start(self) -> dict[str, torch.Tensor]:
        """The centroids per layer (LUTs stacked, sparsity's codeword 0 left out): where the final k-means starts."""
        return {n: sc.centers.reshape(-1, sc.spec.s).clone() for n, sc in self.mods.items()}

    @torch.no_grad()
    def snap(self) -> None:
        """Write the hard clustering (each sample -> its nearest DKM centroid, the eval-mode weight) into the latent
        weights: coremltools' ``finalize``. After ``close()`` the layers then hold exactly the DKM centroids."""
        for spec in self.specs:
            mod = get_module(self.model, spec.name)
            sc = self.mods[spec.name]
            was = sc.training
            sc.eval()
            hard = sc(mod.parametrizations.weight.original)
            sc.train(was)
            mod.parametrizations.weight.original.copy_(hard)

    def close(self) -> None:
        """Detach: every layer's weight is its latent weight again (sharing then clusters it, hard)."""
        for spec in self.specs:
            mod = get_module(self.model, spec.name)
            if parametrize.is_parametrized(mod, "weight"):
                parametrize.remove_parametrizations(mod, "weight", leave_parametrized=False)

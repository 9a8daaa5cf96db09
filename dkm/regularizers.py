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

Sparsity (per-layer p, :mod:`dkm.share` has the two rules): with ``sparsity_mode="zero"`` at each update the
``round(p N)`` smallest-norm columns join a centre fixed at zero (their term is ``lam/2 ||w_i||^2``) and the rest use
K-1 clusters; with ``"mean"`` (the authors' rule) the ``int(p N)`` columns nearest the mean column are one more
cluster (spectral: its normalized indicator is one more column of F; hard: one more cluster with its own mean) and
the rest use K-1 clusters (K for scalar samples). Units: the loss is in the units of the
training loss it is added to; ``lam`` is per unit squared weight.

Implementation (per training step). With ``X = W.T`` (the ``(N, s)`` samples, a view of the weight) both terms are
``lam/2 ||R||^2`` with the residual ``R = X - F F' X`` (``F'F = I``) and gradient ``lam R``: spectral
``||X||^2 - ||F'X||^2 = ||X - F F'X||^2``; hard ``R_i = x_i - c_a(i)`` with the means of the current X (the
derivative through the means cancels). Zero columns have ``proj = 0``: zero rows in F, no cluster in the hard
indicator, so ``R_i = x_i``. All layers go through one autograd node (:class:`_KMeansTerm`) whose forward
computes ``lam R`` with two fused products per layer (spectral ``F'X`` then ``addmm(X, F, F'X)``, row-blocked
for MKL; hard the sparse (CSR) cluster-sum product ``A X`` then ``addmm(X, A', means)``) and the loss from
``||lam R||``; the backward hands those tensors back as the gradients (autograd adds the model's gradient into
them in place). Overhead per step, batch 32, one thread: ``benchmarks/reg_overhead.py`` and docs/dkm.md.

Backends for that per-step work (``backend=``): ``"torch"`` runs the products above; ``"numba"`` computes each
layer's ``lam R`` and its share of the loss in one compiled kernel of two passes over the samples
(:mod:`dkm._reg_kernels`, samples of s <= 8; MKL runs these skinny products far below memory speed); ``"auto"``
(the default) uses the kernels when numba is installed for the layers of at least ``NUMBA_MIN_WEIGHTS`` weights
and for smaller layers of the same kernel shape, and torch otherwise (the first use of a shape on a machine
compiles it, 0.3-3 s, which small layers alone would not pay back). Both compute the same terms; they
differ by float32 rounding only.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import _compiled
from .differentiable import DifferentiableKMeans
from .errors import DKMError
from .grouping import group
from .kmeans import check_samples, kmeans
from .layers import LayerSpec, get_module
from .share import sparse_rows

BACKENDS = ("auto", "numba", "torch")
#: Smallest layer (weights) for which ``backend="auto"`` uses a compiled kernel.
NUMBA_MIN_WEIGHTS = 16384


def _kernel_module():
    """:mod:`dkm._reg_kernels`, or None without numba."""
    return _compiled.load("_reg_kernels")


def _kernel_key(st: dict) -> tuple:
    """The shape that picks a layer's kernel within one regularizer: ``(r, s)`` (hard has no r)."""
    return st.get("r"), st["s"]


class KMeansRegularizer:
    """Common part: per-layer state (zero mask and F or assignment), refreshed every ``update_every`` epochs."""

    kind = "base"

    def __init__(self, model: nn.Module, specs: list[LayerSpec], lam: float = 1e-4, update_every: int = 5,
                 seed: int = 0, backend: str = "auto"):
        if lam < 0:
            raise DKMError(f"lam must be >= 0, got {lam!r}")
        if update_every < 1:
            raise DKMError(f"update_every (T, epochs) must be >= 1, got {update_every!r}")
        if backend not in BACKENDS:
            raise DKMError(f"regularizer backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "numba" and _kernel_module() is None:
            raise DKMError(f"regularizer backend 'numba' needs numba ({_compiled.INSTALL_HINT})")
        grouped = [spec.name for spec in specs if spec.luts > 1]
        if grouped:
            raise DKMError(f"the {self.kind} regularizer keeps one lookup table per layer; layer {grouped[0]!r} has "
                           f"several (lut_group): use the dkm regularizer or none")
        self.model, self.specs, self.lam, self.update_every, self.seed = model, specs, float(lam), update_every, seed
        self.backend = backend
        self.state: dict[str, dict] = {}
        self.updates = 0
        self.update()

    def _W(self, model: nn.Module, spec: LayerSpec) -> torch.Tensor:
        return group(get_module(model, spec.name).weight, spec.mode, spec.linear_vector_size)

    @torch.no_grad()
    def update(self) -> None:
        """Recompute every layer's sparsity rows and F (or assignment) from the current weights."""
        for i, spec in enumerate(self.specs):
            W = self._W(self.model, spec).detach().float()
            check_samples(W.T, spec.k, spec.name)
            mask, k = sparse_rows(W.T, spec)
            rest = torch.nonzero(~mask).flatten() if mask is not None else None
            Wr = W if rest is None else W[:, rest]
            mean_mode = mask is not None and spec.sparsity_mode == "mean"
            st = {"zero": None if mean_mode else mask, "rest": rest, "s": spec.s, "n": W.shape[1]}
            st.update(self._fit(Wr, k, spec, self.state.get(spec.name), self.seed + i))
            if mean_mode:  # the rows nearest the mean row are one more cluster (no zero codeword)
                st.update(self._add_mean_cluster(W, mask, st))
            st.update(self._prepare(st))
            self.state[spec.name] = st
        self._states = [self.state[spec.name] for spec in self.specs]
        shapes = self._kernel_shapes()
        for st in self._states:
            st["kernel"] = self._kernel(st) if _kernel_key(st) in shapes else None
        self.updates += 1

    def on_epoch_end(self, epoch: int) -> None:
        """Call after epoch ``epoch`` (0-based); refreshes F every ``update_every`` epochs."""
        if (epoch + 1) % self.update_every == 0:
            self.update()

    def loss(self, model: nn.Module | None = None) -> torch.Tensor:
        """The regularization term (a scalar tensor with gradient) summed over layers.

        All layers go through one autograd node (:class:`_KMeansTerm`): its forward computes each layer's
        residual ``R = X - proj(X)`` with one fused product, the loss from ``||R||^2`` and keeps ``lam R``,
        which its backward hands back as the weight's gradient.
        """
        model = model if model is not None else self.model
        weights = [get_module(model, spec.name).weight for spec in self.specs]
        return _KMeansTerm.apply(self, self.lam, self._states, *weights)

    def _kernel_shapes(self) -> set:
        """Kernel shapes to use: with ``auto``, those of the layers of at least NUMBA_MIN_WEIGHTS weights (smaller
        layers of the same shape share the compiled kernel); with ``numba``, all; with ``torch``, none."""
        kernels = _kernel_module()
        if self.backend == "torch" or kernels is None:
            return set()
        fits = [st for st in self._states if st["s"] <= kernels.MAX_S and 1 <= st.get("r", 1) <= st["s"]]
        big = fits if self.backend == "numba" else [st for st in fits if st["n"] * st["s"] >= NUMBA_MIN_WEIGHTS]
        return {_kernel_key(st) for st in big}

    def _residual(self, w: torch.Tensor, st: dict, a: float) -> tuple[torch.Tensor, float | None]:
        """``(a R, ||a R||^2)`` for one layer's weight ``w``: ``a R`` a fresh tensor of ``w``'s shape, with
        ``R = X - proj(X)`` and ``X = W.T`` the ``(N, s)`` samples; the squared norm is None when the torch
        path computed ``a R`` (the caller takes all those norms in one call)."""
        if st["kernel"] is not None and w.dtype == torch.float32 and w.is_contiguous():
            out = torch.empty(w.shape)
            ss = self._run_kernel(st, w.detach().view(-1).numpy(), np.float32(a), out.view(-1).numpy())
            return out, ss
        return self._residual_torch(w, st, a), None

    def _fit(self, W, k, spec, old, seed) -> dict:
        raise NotImplementedError

    def _add_mean_cluster(self, W: torch.Tensor, mask: torch.Tensor, st: dict) -> dict:
        """State changes that make the rows of ``mask`` (the authors' sparsity: nearest the mean row) one cluster
        besides those ``_fit`` found on the other rows."""
        raise NotImplementedError

    def _prepare(self, st) -> dict:
        """Per-step operands (over all N samples, zero columns included) built once per refresh."""
        raise NotImplementedError

    def _kernel(self, st):
        """This layer's compiled kernel (see :mod:`dkm._reg_kernels`)."""
        raise NotImplementedError

    def _run_kernel(self, st, x: np.ndarray, a: np.float32, out: np.ndarray) -> float:
        raise NotImplementedError

    def _residual_torch(self, w: torch.Tensor, st: dict, a: float) -> torch.Tensor:
        """``a R`` by torch products. As few torch calls as possible: right after the model's forward each costs
        about 10 us on the 2-core development machine (cold caches)."""
        raise NotImplementedError


class _KMeansTerm(torch.autograd.Function):
    """``lam/2 sum_layers ||R||^2`` as one autograd node; its backward returns ``grad * lam * R`` per weight.

    The forward writes ``a R`` (``a = lam``, or 1 when lam is 0) into a fresh tensor per weight and the loss is
    ``lam / (2 a^2) * sum ||a R||^2``; the backward returns those tensors (scaled in place unless the incoming
    gradient is 1), so autograd can add the model's gradient into them without another allocation.
    """

    @staticmethod
    def forward(ctx, reg, lam, states, *weights):
        a = lam if lam > 0 else 1.0
        outs = [reg._residual(w if w.dtype == torch.float32 else w.float(), st, a) for w, st in zip(weights, states)]
        res = [r for r, _ in outs]
        ctx.reg, ctx.lam, ctx.a, ctx.states, ctx.res = reg, lam, a, states, res
        ctx.save_for_backward(*weights)
        if not res:
            return torch.zeros(())
        total = sum(q for _, q in outs if q is not None)  # from the kernels, float64
        todo = [r for r, q in outs if q is None]
        if todo:
            norms = torch.stack(torch._foreach_norm(todo))
            out = torch.dot(norms, norms).add_(total)
        else:
            out = torch.tensor(total, dtype=torch.float32)
        out.mul_(0.5 * lam / (a * a))
        return out if out.dtype == weights[0].dtype else out.to(weights[0].dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        res, ctx.res = ctx.res, None  # hand the tensors over (no other reference: accumulation can be in place)
        if res is None:  # a second backward through a retained graph: recompute
            res = [ctx.reg._residual(w if w.dtype == torch.float32 else w.float(), st, ctx.a)[0]
                   for w, st in zip(ctx.saved_tensors, ctx.states)]
        f = float(grad) * ctx.lam / ctx.a
        grads = [None, None, None]
        for i, (w, out) in enumerate(zip(ctx.saved_tensors, res)):
            if not ctx.needs_input_grad[3 + i]:
                grads.append(None)
                continue
            if f != 1.0:
                out.mul_(f)
            grads.append(out if out.dtype == w.dtype else out.to(w.dtype))
        res.clear()
        return tuple(grads)


def _block(n: int, s: int) -> int:
    """Row-blocking factor m for the skinny ``(N, s)`` products: they run as ``(N/m, m s)`` GEMMs.

    MKL (single thread, this AMD machine) is much slower on ``(r, N) @ (N, s)`` with small s than on the same data
    viewed as ``(N/m, m r)' @ (N/m, m s)`` with m s around 16 (cold caches, N = 100000, s = r = 4: 328 us vs
    231 us; the backward-type ``(N, r) @ (r, s)`` 561 us vs 270 us), although the off-diagonal blocks are wasted
    work. m = 2 or 8 did not help for s = 4. Small layers are not worth the extra small ops.
    """
    if n < 4096:
        return 1
    m = 4 if s <= 8 else 2 if s <= 16 else 1
    return m if n % m == 0 else 1


class SpectralRegularizer(KMeansRegularizer):
    """The paper's relaxed k-means term with F = top-K right singular vectors of W (see module docstring)."""

    kind = "spectral"

    def _fit(self, W, k, spec, old, seed):
        _, _, Vh = torch.linalg.svd(W, full_matrices=False)  # Vh: (min(s, N), N); rank(W) <= s
        return {"F": Vh[: min(k, Vh.shape[0])].T.contiguous()}

    def _add_mean_cluster(self, W, mask, st):
        # F gets the group's normalized indicator as one more column: orthogonal to the others (disjoint rows),
        # so F'F = I still holds and those rows are pulled towards their mean
        col = mask.float().div_(float(mask.sum()) ** 0.5)
        F = torch.zeros(st["n"], st["F"].shape[1]).index_copy_(0, st["rest"], st["F"])
        return {"F": torch.cat([F, col[:, None]], 1).contiguous(), "rest": None}

    def _prepare(self, st):
        F, n, s = st["F"], st["n"], st["s"]
        if st["rest"] is not None:  # zero columns: rows of zeros in F, so F F' x_i = 0 and they cost ||x_i||^2
            F = torch.zeros(n, F.shape[1]).index_copy_(0, st["rest"], F)
        r, m = F.shape[1], _block(n, s)
        F = F.contiguous()
        Fb = F.reshape(n // m, m * r)
        G = torch.zeros(m * r, m * s)  # Fb' Xb, refilled per step
        Pk = torch.zeros(m * r, m * s)  # kron(I_m, F' X), refilled per step
        return {"Fb": Fb, "FbT": Fb.T, "m": m, "G": G, "Pk": Pk, "r": r, "f_flat": F.view(-1).numpy(),
                "G_diag": G.view(m, r, m, s).diagonal(dim1=0, dim2=2),  # (r, s, m) views
                "Pk_diag": Pk.view(m, r, m, s).diagonal(dim1=0, dim2=2)}

    def _kernel(self, st):
        return _kernel_module().spectral(st["r"], st["s"])

    def _run_kernel(self, st, x, a, out):
        return st["kernel"](x, st["f_flat"], a, out)

    def _residual_torch(self, w, st, a):
        # R = X - F (F' X); F' X is (W F)', an (r x s) product. Row-blocked (m > 1): F' X is the sum of the
        # diagonal blocks of Fb' Xb and F (F' X) is Fb kron(I_m, F' X) (exact: the other blocks are zeros).
        Xb = w.view(-1, st["m"] * st["s"]) if w.is_contiguous() else w.reshape(-1, st["m"] * st["s"])
        out = torch.empty(w.shape)  # returned as the gradient: a view would not take the in-place accumulation
        if st["m"] == 1:
            P = torch.mm(st["FbT"], Xb)
        else:
            torch.mm(st["FbT"], Xb, out=st["G"])
            st["Pk_diag"].copy_(torch.sum(st["G_diag"], -1, keepdim=True))
            P = st["Pk"]
        torch.addmm(Xb, st["Fb"], P, beta=a, alpha=-a, out=out.view(Xb.shape))
        return out


class HardRegularizer(KMeansRegularizer):
    """The same trace term with F the normalized cluster indicator: the k-means distortion."""

    kind = "hard"

    def _fit(self, W, k, spec, old, seed):
        X = W.T.contiguous()
        init = old.get("init") if old is not None else None
        init = init if init is not None and init.shape == (k, X.shape[1]) else None
        res = kmeans(X, k, seed=seed, init=init, max_iter=30, name=spec.name)
        kk = res.centers.shape[0]
        counts = torch.bincount(res.labels, minlength=kk).clamp_min(1).float()
        return {"labels": res.labels, "inv_counts": 1.0 / counts, "centers": res.centers, "k": kk,
                "init": res.centers if kk == k else None}

    def _add_mean_cluster(self, W, mask, st):
        # cluster 0 is the group, the others shift by one; every row is then in a cluster (rest = all)
        labels = torch.zeros(st["n"], dtype=torch.long)
        labels[st["rest"]] = st["labels"] + 1
        kk = st["k"] + 1
        counts = torch.bincount(labels, minlength=kk).clamp_min(1).float()
        first = W.T[mask].double().mean(0, keepdim=True).float()
        return {"labels": labels, "inv_counts": 1.0 / counts, "k": kk, "rest": None,
                "centers": torch.cat([first, st["centers"]])}

    def _prepare(self, st):
        # sparse (CSR) cluster indicator A (k x N, A_ji = 1 when sample i is in cluster j) and its transpose,
        # over all N samples; zero columns are in no cluster (their rows of A' are empty, so they cost ||x_i||^2)
        n, k, lab = st["n"], st["k"], st["labels"]  # labels of the rest samples, in (ascending) sample order
        idx = st["rest"] if st["rest"] is not None else torch.arange(n)
        inc = torch.ones(n, dtype=torch.long) if st["rest"] is None else (~st["zero"]).long()
        order = idx[torch.argsort(lab, stable=True)]
        crow = torch.zeros(k + 1, dtype=torch.long)
        crow[1:] = torch.bincount(lab, minlength=k).cumsum(0)
        crow_t = torch.zeros(n + 1, dtype=torch.long)
        crow_t[1:] = inc.cumsum(0)
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore")
            i32 = torch.int32  # MKL's sparse kernels take 32-bit indices (int64 ones are converted per call)
            A = torch.sparse_csr_tensor(crow.to(i32), order.to(i32), torch.ones(len(lab)), (k, n))
            At = torch.sparse_csr_tensor(crow_t.to(i32), lab.to(i32), torch.ones(len(lab)), (n, k))
        # for the kernel: every sample's label, zero columns in an extra slot k whose mean is 0
        lab_all = torch.full((n,), k, dtype=torch.int32)
        lab_all[idx] = lab.to(torch.int32)
        inv = torch.cat([st["inv_counts"].double(), torch.zeros(1, dtype=torch.float64)])
        return {"A": A, "At": At, "inv_counts_col": st["inv_counts"].view(-1, 1),
                "lab_all": lab_all.numpy(), "inv64": inv.numpy()}

    def _kernel(self, st):
        return _kernel_module().hard(st["s"])

    def _run_kernel(self, st, x, a, out):
        return st["kernel"](x, st["lab_all"], st["inv64"], a, out)

    def _residual_torch(self, w, st, a):
        # x_i - mean_a(i), the means from the cluster sums A X; zero columns (empty rows of A') keep x_i
        X = w.view(-1, st["s"]) if w.is_contiguous() else w.reshape(-1, st["s"])
        out = torch.empty(w.shape)
        C = torch.mm(st["A"], X).mul_(st["inv_counts_col"])
        torch.addmm(X, st["At"], C, beta=a, alpha=-a, out=out.view(X.shape))
        return out


def warm_start(reg) -> dict[str, torch.Tensor]:
    """Starting centres for the final k-means per layer (empty for regularizers without a clustering): the hard
    regularizer's last k-means centres of the rows sparsity leaves, or the dkm regularizer's centroids."""
    if hasattr(reg, "warm_start"):
        return reg.warm_start()
    if not isinstance(reg, HardRegularizer):
        return {}
    return {name: st["init"] for name, st in reg.state.items() if st["init"] is not None}


REGULARIZERS = {"spectral": SpectralRegularizer, "hard": HardRegularizer, "dkm": DifferentiableKMeans}
#: Each regularizer's own default weight: the paper's 1e-4 for spectral (1e-4..1e-3 work alike there), 0.05 for
#: hard (benchmarks/dkm_mnist.py: at 1e-4 its pull is too weak to matter); dkm has no weight (its temperature).
DEFAULT_LAM = {"spectral": 1e-4, "hard": 0.05, "dkm": 0.0, "none": 0.0}
KINDS = ("spectral", "hard", "dkm", "none")


def make(kind: str, model: nn.Module, specs: list[LayerSpec], *, lam: float | None = None, update_every: int = 5,
         seed: int = 0, temperature: float | None = None, iters: int | None = None, backend: str = "auto",
         tau: float | None = None, n_init: int | None = None):
    """A regularizer by name (``spectral``, ``hard``, ``dkm``), or None for ``none``. ``lam=None`` takes the
    kind's own default (:data:`DEFAULT_LAM`); ``temperature``, ``iters``, ``tau`` and ``n_init`` are for ``dkm``
    only."""
    if kind not in KINDS:
        raise DKMError(f"regularizer must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "none":
        return None
    if kind == "dkm":
        kw = {k: v for k, v in (("temperature", temperature), ("iters", iters), ("tau", tau), ("n_init", n_init))
              if v is not None}
        return DifferentiableKMeans(model, specs, seed=seed, **kw)
    lam = DEFAULT_LAM[kind] if lam is None else lam
    return REGULARIZERS[kind](model, specs, lam=lam, update_every=update_every, seed=seed, backend=backend)

"""A ready training loop for zoo models, evaluation, and centroid fine-tuning of a shared model."""

from __future__ import annotations

import torch
import torch.nn.functional as Fn
from torch import nn

from .data import Dataset
from .errors import DKMError
from .grouping import ungroup
from .layers import get_module
from .progress import QUIET, Progress
from .regularizers import KMeansRegularizer  # the type of ``reg`` (any object with loss/on_epoch_end works)
from .share import SharedLayer


SCHEDULES = ("cosine", "constant")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent."""
    model.eval()
    correct = 0
    for a in range(0, len(x), batch_size):
        correct += int((model(x[a:a + batch_size]).argmax(1) == y[a:a + batch_size]).sum())
    return 100.0 * correct / max(1, len(x))


def _optimizer(params, name: str, lr: float):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def _batches(n: int, batch_size: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g)
    return [perm[a:a + batch_size] for a in range(0, n, batch_size)]


def train(model: nn.Module, data: Dataset, epochs: int, *, lr: float = 1e-3, optimizer: str = "adam",
          batch_size: int = 64, reg: KMeansRegularizer | None = None, seed: int = 0, phase: str = "train",
          progress: Progress = QUIET, step_hook=None, schedule: str = "cosine") -> nn.Module:
    """Cross-entropy training (+ ``reg.loss`` and its epoch hook when given).

    ``schedule``: ``cosine`` (learning rate decayed to 0 over the run) or ``constant``. ``reg`` is any object
    with ``loss(model)`` and ``on_epoch_end(epoch)`` (:mod:`dkm.regularizers`, :mod:`dkm.differentiable`).
    ``step_hook(model)``, if given, runs after every optimizer step (fine-tuning uses it).
    """
    if schedule not in SCHEDULES:
        raise DKMError(f"learning-rate schedule must be one of {SCHEDULES}, got {schedule!r}")
    g = torch.Generator().manual_seed(seed)
    opt = _optimizer([p for p in model.parameters() if p.requires_grad], optimizer, lr)
    steps = max(1, epochs * ((len(data.x_train) + batch_size - 1) // batch_size))
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if schedule == "cosine"
             else torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0))
    for epoch in range(epochs):
        model.train()
        tot, nb = 0.0, 0
        for idx in _batches(len(data.x_train), batch_size, g):
            loss = Fn.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            if reg is not None:
                loss = loss + reg.loss(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step_hook is not None:
                step_hook(model)
            tot, nb = tot + loss.item(), nb + 1
        if reg is not None:
            reg.on_epoch_end(epoch)
        progress.epoch(phase, epoch + 1, epochs, loss=tot / nb, test_acc=evaluate(model, data.x_test, data.y_test))
    return model


class _Codebooks(nn.Module):
    """Codebooks as parameters: the shared weights are functions of them (indices frozen)."""

    def __init__(self, shared: dict[str, SharedLayer]):
        super().__init__()
        self.names = list(shared)
        self.cb = nn.ParameterList([nn.Parameter(torch.from_numpy(sl.codebook.copy())) for sl in shared.values()])


def finetune_centroids(model: nn.Module, shared: dict[str, SharedLayer], data: Dataset, epochs: int, *,
                       lr: float = 1e-3, batch_size: int = 64, seed: int = 0, progress: Progress = QUIET,
                       optimizer: str = "sgd") -> None:
    """Train the codebooks (gradient of a codeword = sum of its rows' gradients) and all unshared parameters
    (``optimizer`` ``sgd`` with momentum 0.9, or ``adam``; constant learning rate).

    Indices stay frozen, a sparsity zero codeword stays zero; ``shared`` and the model's weights are updated
    so that every shared weight equals ``codebook[assignments]`` exactly.
    """
    if epochs <= 0:
        return
    cbs = _Codebooks(shared)
    idx = {n: torch.from_numpy(sl.assignments) for n, sl in shared.items()}
    mods = {n: get_module(model, n) for n in shared}
    shared_w = {id(m.weight) for m in mods.values()}
    other = [p for p in model.parameters() if id(p) not in shared_w]
    opt = _optimizer([{"params": list(cbs.parameters())}, {"params": other}], optimizer, lr)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        tot, nb = 0.0, 0
        for b in _batches(len(data.x_train), batch_size, g):
            loss = Fn.cross_entropy(model(data.x_train[b]), data.y_train[b])
            opt.zero_grad(set_to_none=True)
            for m in mods.values():
                m.weight.grad = None
            loss.backward()
            for name, cb in zip(cbs.names, cbs.cb):
                sl, w = shared[name], mods[name].weight
                rows = w.grad.reshape(-1, sl.s)  # the (N, s) sample rows of any grouping (see dkm.grouping)
                cb.grad = torch.zeros_like(cb).index_add_(0, idx[name], rows)
                if sl.sparse:  # codeword 0 of every LUT is the fixed zero
                    cb.grad[::sl.k] = 0
                w.grad = None
            opt.step()
            with torch.no_grad():
                for name, cb in zip(cbs.names, cbs.cb):
                    mods[name].weight.copy_(ungroup(cb[idx[name]].T, shared[name].shape))
            tot, nb = tot + loss.item(), nb + 1
        progress.epoch("finetune", epoch + 1, epochs, loss=tot / nb, test_acc=evaluate(model, data.x_test, data.y_test))
    for name, cb in zip(cbs.names, cbs.cb):
        shared[name].codebook = cb.detach().numpy().copy()

"""The Deep k-Means pipeline: pre-train (or load) -> re-train with a k-means regularizer -> share weights
(k-means) -> optional centroid fine-tuning -> evaluate, with every accuracy and ratio recorded."""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from . import ratio
from .data import Dataset
from .errors import DKMError
from .kmeans import check_samples
from .layers import LayerSpec, get_module, resolve_layers
from .progress import QUIET, Progress
from .regularizers import DEFAULT_LAM, KINDS, make as make_regularizer, warm_start
from .share import SharedLayer, share_weights
from .train import SCHEDULES, evaluate, finetune_centroids, train


@dataclass
class CompressConfig:
    """Everything a compression run depends on (epochs, learning rates, batch size, seed included).

    ``clusters`` (K per layer: list in layer order or {name: K}) or ``bits`` (K = 2**bits on every layer; not
    both) win over ``cluster_rate`` (K = max(2, ceil(rate N))); ``first_rate`` sets the first shared layer's rate.
    ``linear_vector_size > 0`` also shares linear layers with vectors of that many consecutive inputs;
    ``lut_group > 0`` gives every ``lut_group`` output channels their own codebook. ``regularizer`` is
    ``spectral``, ``hard``, ``dkm`` (differentiable k-means, :mod:`dkm.differentiable`) or ``none``; ``lam=None``
    takes the regularizer's own default (:data:`dkm.regularizers.DEFAULT_LAM`), ``f_update_epochs`` (T) is the
    refresh period of spectral/hard, ``temperature``, ``dkm_iters``, ``dkm_tau`` (an absolute temperature, e.g.
    coremltools' 1e-4) and ``dkm_n_init`` (k-means starts) configure dkm. ``retrain_optimizer`` and
    ``finetune_optimizer`` are ``sgd`` (momentum 0.9) or ``adam``; ``lr_schedule`` (``cosine`` or ``constant``)
    applies to pre-training and re-training (fine-tuning is constant). Learning rates are per phase; epochs count passes over the training split.
    """

    clusters: Sequence[int] | Mapping[str, int] | None = None
    cluster_rate: float | None = 0.1
    first_rate: float | None = None
    bits: int | None = None
    regularizer: str = "spectral"
    lam: float | None = None
    f_update_epochs: int = 5
    temperature: float | None = None
    dkm_iters: int | None = None
    dkm_tau: float | None = None
    dkm_n_init: int | None = None
    sparsity: Sequence[float] | Mapping[str, float] | float | None = None
    sparsity_mode: str = "zero"
    grouping: str = "row"
    linear_vector_size: int = 0
    lut_group: int = 0
    pretrain_epochs: int = 10
    retrain_epochs: int = 10
    finetune_epochs: int = 3
    pretrain_lr: float = 1e-3
    retrain_lr: float = 1e-2
    retrain_optimizer: str = "sgd"
    lr_schedule: str = "cosine"
    finetune_lr: float = 1e-3
    finetune_optimizer: str = "sgd"
    batch_size: int = 64
    seed: int = 0

    def specs(self, model: nn.Module) -> list[LayerSpec]:
        """The shared layers of ``model`` under this configuration (raises :class:`DKMError` on bad values)."""
        return resolve_layers(model, clusters=self.clusters, cluster_rate=self.cluster_rate,
                              first_rate=self.first_rate, bits=self.bits if self.clusters is None else None,
                              sparsity=self.sparsity, sparsity_mode=self.sparsity_mode, mode=self.grouping,
                              linear_vector_size=self.linear_vector_size, lut_group=self.lut_group)

    @property
    def lam_used(self) -> float:
        """The regularizer weight in effect (``lam``, or the regularizer's own default)."""
        return DEFAULT_LAM[self.regularizer] if self.lam is None else float(self.lam)

    def validate(self) -> None:
        """Raise :class:`DKMError` for values that would only fail after minutes of training, and for options that
        would have no effect (a dkm-only option with another regularizer): every number finite, every count an
        integer (not a bool), each in its range."""
        if self.regularizer not in KINDS:
            raise DKMError(f"regularizer must be one of {', '.join(KINDS)}; got {self.regularizer!r}")
        _number(self, "lam", lo=0, optional=True)
        for name in ("temperature", "dkm_tau", "pretrain_lr", "retrain_lr", "finetune_lr"):
            _number(self, name, lo=0, lo_open=True, optional=name in ("temperature", "dkm_tau"))
        _integer(self, "dkm_iters", 1, optional=True)
        _integer(self, "dkm_n_init", 1, optional=True)
        _integer(self, "f_update_epochs", 1)
        for name in ("pretrain_epochs", "retrain_epochs", "finetune_epochs", "linear_vector_size", "lut_group"):
            _integer(self, name, 0)
        _integer(self, "batch_size", 1)
        _integer(self, "seed", 0, MAX_SEED)
        for name in ("retrain_optimizer", "finetune_optimizer"):
            if getattr(self, name) not in ("sgd", "adam"):
                raise DKMError(f"{name} must be sgd or adam, got {getattr(self, name)!r}")
        if self.lr_schedule not in SCHEDULES:
            raise DKMError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if self.clusters is not None and self.bits is not None:
            raise DKMError(f"give clusters or bits, not both: bits = {self.bits!r} would be ignored")
        # options that only one regularizer reads: given with another, they would be dropped without a word
        if self.regularizer != "dkm":
            for name in ("temperature", "dkm_tau", "dkm_iters", "dkm_n_init"):
                if getattr(self, name) is not None:
                    raise DKMError(f"{name} = {getattr(self, name)!r} applies to regularizer dkm only, not "
                                   f"{self.regularizer!r}")
        elif self.temperature is not None and self.dkm_tau is not None:
            raise DKMError(f"give temperature (relative) or dkm_tau (absolute), not both: dkm_tau = {self.dkm_tau!r} "
                           f"would override temperature = {self.temperature!r}")
        if self.lam is not None and self.regularizer in ("dkm", "none"):
            raise DKMError(f"lam = {self.lam!r} has no effect with regularizer {self.regularizer!r} (it adds no "
                           "penalty to the loss)")


#: Largest seed: torch and numpy take seeds up to int64 (the phases use seed + 1 and seed + 2 as well).
MAX_SEED = 2**63 - 1


def _number(c: CompressConfig, name: str, lo: float, lo_open: bool = False, optional: bool = False) -> None:
    v = getattr(c, name)
    if v is None and optional:
        return
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v):
        raise DKMError(f"{name} must be a finite number, got {v!r}")
    if v < lo or (lo_open and v == lo):
        raise DKMError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v!r}")


def _integer(c: CompressConfig, name: str, lo: int, hi: int | None = None, optional: bool = False) -> None:
    v = getattr(c, name)
    if v is None and optional:
        return
    if not isinstance(v, numbers.Integral) or isinstance(v, bool):
        raise DKMError(f"{name} must be an integer, got {v!r}")
    if v < lo or (hi is not None and v > hi):
        raise DKMError(f"{name} must be " + (f"in {lo}..{hi}" if hi is not None else f">= {lo}") + f", got {v!r}")


@dataclass
class CompressResult:
    """Accuracies in percent (top-1 on the test split), the shared model, its layers and ratios."""

    model: nn.Module
    shared: dict[str, SharedLayer]
    specs: list[LayerSpec]
    baseline_accuracy: float
    shared_accuracy_no_retrain: float
    retrained_accuracy: float
    shared_accuracy: float
    accuracy: float
    ratios: dict[str, float] = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def compress(model: nn.Module, data: Dataset, config: CompressConfig = CompressConfig(), *,
             state_dict: dict | None = None, progress: Progress = QUIET) -> CompressResult:
    """Run the pipeline on ``model`` (modified in place; it ends up shared). Deterministic for a seed.

    With ``state_dict`` the model is loaded from it instead of pre-trained.
    """
    c = config
    c.validate()
    specs = c.specs(model)
    torch.manual_seed(c.seed)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    elif c.pretrain_epochs > 0:
        train(model, data, c.pretrain_epochs, lr=c.pretrain_lr, optimizer="adam", batch_size=c.batch_size,
              seed=c.seed, phase="pretrain", progress=progress, schedule=c.lr_schedule)
    for spec in specs:  # fail before spending time on re-training
        check_samples(get_module(model, spec.name).weight.detach(), 1, spec.name)
    baseline = evaluate(model, data.x_test, data.y_test)
    progress.log(f"baseline accuracy {baseline:.2f}%")

    posthoc = copy.deepcopy(model)
    share_weights(posthoc, specs, c.seed)
    no_retrain = evaluate(posthoc, data.x_test, data.y_test)
    progress.log(f"shared without re-training {no_retrain:.2f}%")
    del posthoc

    retrained, reg = baseline, None
    if c.retrain_epochs > 0:
        reg = make_regularizer(c.regularizer, model, specs, lam=c.lam, update_every=c.f_update_epochs, seed=c.seed,
                               temperature=c.temperature, iters=c.dkm_iters, tau=c.dkm_tau, n_init=c.dkm_n_init)
        train(model, data, c.retrain_epochs, lr=c.retrain_lr, optimizer=c.retrain_optimizer,
              batch_size=c.batch_size, reg=reg, seed=c.seed + 1, phase="retrain", progress=progress,
              schedule=c.lr_schedule)
        retrained = evaluate(model, data.x_test, data.y_test)  # dkm: its hard clustering (eval mode)
        if hasattr(reg, "close"):
            reg.close()
    # after hard or dkm re-training the weights sit near the regularizer's centres: start the final k-means there
    shared = share_weights(model, specs, c.seed, inits=warm_start(reg))
    shared_acc = evaluate(model, data.x_test, data.y_test)
    progress.log(f"shared {shared_acc:.2f}%")
    finetune_centroids(model, shared, data, c.finetune_epochs, lr=c.finetune_lr, batch_size=c.batch_size,
                       seed=c.seed + 2, progress=progress, optimizer=c.finetune_optimizer)
    final = evaluate(model, data.x_test, data.y_test)
    config = asdict(c)
    config["lam"] = c.lam_used
    return CompressResult(model, shared, specs, baseline, no_retrain, retrained, shared_acc, final,
                          ratio.ratios(model, shared), config)

"""Which layers of a model are shared, and how many clusters each gets.

A :class:`LayerSpec` names a conv/linear module (by its ``named_modules`` name), its grouping, its K and its
sparsity rate p. Conv layers are shared by default (the paper); linear layers only with a vector size > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from torch import nn

from .errors import DKMError
from .grouping import vector_size


@dataclass(frozen=True)
class LayerSpec:
    """One shared layer: module name, weight shape, grouping, samples N, vector size s, clusters K, sparsity p."""

    name: str
    shape: tuple[int, ...]
    mode: str
    linear_vector_size: int
    s: int
    n: int
    k: int
    sparsity: float = 0.0


def candidate_layers(model: nn.Module, linear_vector_size: int = 0) -> list[tuple[str, nn.Module]]:
    """Conv layers (and linear layers when ``linear_vector_size > 0``) in module order."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d) or (linear_vector_size > 0 and isinstance(mod, nn.Linear)):
            out.append((name, mod))
    return out


def resolve_layers(model: nn.Module, *, clusters: Sequence[int] | Mapping[str, int] | None = None,
                   cluster_rate: float | None = None, first_rate: float | None = None,
                   sparsity: Sequence[float] | Mapping[str, float] | float | None = None,
                   mode: str = "row", linear_vector_size: int = 0) -> list[LayerSpec]:
    """Per-layer specs: K from ``clusters`` (list in layer order, or {name: K}) or ``ceil(rate * N)``.

    ``first_rate`` overrides the rate of the first shared layer (it is small and sensitive).
    Wrong list lengths, unknown layer names, K < 1 and p outside [0, 1) raise :class:`DKMError`.
    """
    layers = candidate_layers(model, linear_vector_size)
    if not layers:
        raise DKMError("model has no conv/linear layer to share")
    names = [n for n, _ in layers]

    def per_layer(value, what):
        if value is None or isinstance(value, (int, float)):
            return {n: value for n in names}
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise DKMError(f"{what}: unknown layer {unknown[0]!r}; shared layers are: {', '.join(names)}")
            return {n: value.get(n) for n in names}
        value = list(value)
        if len(value) != len(names):
            raise DKMError(f"{what}: got {len(value)} value(s) for {len(names)} shared layers ({', '.join(names)})")
        return dict(zip(names, value))

    if clusters is None and cluster_rate is None:
        raise DKMError("give either clusters (K per layer) or a cluster rate")
    ks = per_layer(clusters, "clusters") if clusters is not None else {}
    ps = per_layer(sparsity if sparsity is not None else 0.0, "sparsity")
    specs = []
    for i, (name, mod) in enumerate(layers):
        shape = tuple(mod.weight.shape)
        s = vector_size(shape, mode if len(shape) == 4 else "row", linear_vector_size)
        n = mod.weight.numel() // s
        if clusters is not None:
            k = ks[name]
            if k is None:
                raise DKMError(f"clusters: no K given for layer {name!r}")
        else:
            rate = first_rate if (i == 0 and first_rate is not None) else cluster_rate
            if not (rate > 0):
                raise DKMError(f"cluster rate must be > 0, got {rate!r}")
            k = math.ceil(rate * n)
        if int(k) != k or k < 1:
            raise DKMError(f"layer {name!r}: number of clusters K must be an integer >= 1, got {k!r}")
        p = float(ps[name] or 0.0)
        if not 0.0 <= p < 1.0:
            raise DKMError(f"layer {name!r}: sparsity p must be in [0, 1), got {p!r}")
        if p > 0 and k < 2:
            raise DKMError(f"layer {name!r}: sparsity needs K >= 2 (one cluster is the fixed zero), got K={k}")
        specs.append(LayerSpec(name, shape, mode if len(shape) == 4 else "row", linear_vector_size, s, n, int(k), p))
    return specs


def get_module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise DKMError(f"model has no layer {name!r}") from None

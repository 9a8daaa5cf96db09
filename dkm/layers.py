"""Which layers of a model are shared, and how many clusters each gets.

A :class:`LayerSpec` names a conv/linear module (by its ``named_modules`` name), its grouping, its K (per lookup
table), its sparsity rate p and how p picks rows. Conv layers are shared by default (the paper); linear layers only
with a vector size > 0.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Mapping, Sequence

from torch import nn

from .errors import DKMError
from .grouping import vector_size


#: How a sparsity rate p picks its rows (see :mod:`dkm.share`): ``mean`` is the authors' released code (the
#: rows nearest the layer's mean row share their mean), ``zero`` our first reading (the smallest-norm rows
#: share a codeword fixed at zero).
SPARSITY_MODES = ("zero", "mean")
#: Smallest K a cluster rate or bit width may give a layer; one codeword makes every row alike, which only an
#: explicit ``clusters`` entry may ask for.
MIN_CLUSTERS = 2


@dataclass(frozen=True)
class LayerSpec:
    """One shared layer: module name, weight shape, grouping, samples N, vector size s, clusters K per lookup
    table, sparsity p, how p picks its rows, and output channels per lookup table (0: one table per layer)."""

    name: str
    shape: tuple[int, ...]
    mode: str
    linear_vector_size: int
    s: int
    n: int
    k: int
    sparsity: float = 0.0
    sparsity_mode: str = "zero"
    lut_group: int = 0

    @property
    def luts(self) -> int:
        """Number of lookup tables (codebooks of K each); each covers ``lut_group`` consecutive output channels."""
        return self.shape[0] // self.lut_group if self.lut_group else 1


def _is_int(v) -> bool:
    """An integer value (a Python or numpy int, or an integral float as before), never a bool: ``True`` as K = 1
    would be a typo accepted silently."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and int(v) == v


def _rate(value, what: str):
    """``value`` if it is a cluster rate in (0, 1] (or None): above 1 a layer would get more clusters than rows."""
    if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool)
                                  and math.isfinite(value) and 0 < value <= 1):
        raise DKMError(f"{what} must be a finite number in (0, 1], got {value!r}")
    return value


def candidate_layers(model: nn.Module, linear_vector_size: int = 0) -> list[tuple[str, nn.Module]]:
    """Conv layers (and linear layers when ``linear_vector_size > 0``) in module order."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d) or (linear_vector_size > 0 and isinstance(mod, nn.Linear)):
            out.append((name, mod))
    return out


def resolve_layers(model: nn.Module, *, clusters: Sequence[int] | Mapping[str, int] | None = None,
                   cluster_rate: float | None = None, first_rate: float | None = None, bits: int | None = None,
                   sparsity: Sequence[float] | Mapping[str, float] | float | None = None,
                   sparsity_mode: str = "zero", mode: str = "row", linear_vector_size: int = 0,
                   lut_group: int = 0) -> list[LayerSpec]:
    """Per-layer specs: K from ``clusters`` (list in layer order, or {name: K}), ``bits`` (K = 2**bits on every
    layer: bits per index) or ``ceil(rate * N)``.

    ``first_rate`` overrides the rate of the first shared layer (it is small and sensitive). A rate gives at least
    ``MIN_CLUSTERS`` (2) clusters; only an explicit ``clusters`` entry may ask for K = 1. ``lut_group`` > 0 gives
    every ``lut_group`` consecutive output channels their own codebook of K (1: one per output channel).
    Wrong list lengths, unknown or repeated layer names, K < 1 (or not an integer), rates outside (0, 1], p
    outside [0, 1), ``first_rate`` with ``clusters`` or ``bits`` (it would have no effect) and a ``lut_group``
    that does not divide the output channels raise :class:`DKMError`.
    """
    if not _is_int(linear_vector_size) or linear_vector_size < 0:
        raise DKMError(f"linear_vector_size must be an integer >= 0, got {linear_vector_size!r}")
    layers = candidate_layers(model, linear_vector_size)
    if not layers:
        raise DKMError("model has no conv/linear layer to share")
    if sparsity_mode not in SPARSITY_MODES:
        raise DKMError(f"sparsity mode must be one of {SPARSITY_MODES}, got {sparsity_mode!r}")
    if not _is_int(lut_group) or lut_group < 0:
        raise DKMError(f"lut_group (output channels per lookup table) must be an integer >= 0, got {lut_group!r}")
    if bits is not None and (not _is_int(bits) or not 1 <= bits <= 16):
        raise DKMError(f"bits per index must be an integer in 1..16, got {bits!r}")
    names = [n for n, _ in layers]

    def per_layer(value, what):
        if value is None or isinstance(value, numbers.Real):
            return {n: value for n in names}
        if isinstance(value, (str, bytes)):  # list("0.5") would be three values
            raise DKMError(f"{what}: expected a number, a list or a mapping, got {value!r}")
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise DKMError(f"{what}: unknown layer {unknown[0]!r}; shared layers are: {', '.join(names)}")
            return {n: value.get(n) for n in names}
        value = list(value)
        if len(value) != len(names):
            raise DKMError(f"{what}: got {len(value)} value(s) for {len(names)} shared layers ({', '.join(names)})")
        return dict(zip(names, value))

    given = [w for w, v in (("clusters", clusters), ("bits", bits)) if v is not None]
    if len(given) > 1:
        raise DKMError("give only one of clusters (K per layer) and bits (K = 2**bits)")
    if not given and cluster_rate is None:
        raise DKMError("give clusters (K per layer), bits (K = 2**bits) or a cluster rate")
    _rate(cluster_rate, "cluster rate")
    _rate(first_rate, "first_rate (the first shared layer's cluster rate)")
    if given and first_rate is not None:
        raise DKMError(f"first_rate (a cluster rate) has no effect with {given[0]}: give K for the first layer in "
                       "clusters instead")
    ks = per_layer(clusters, "clusters") if clusters is not None else {}
    ps = per_layer(sparsity if sparsity is not None else 0.0, "sparsity")
    specs = []
    for i, (name, mod) in enumerate(layers):
        shape = tuple(mod.weight.shape)
        s = vector_size(shape, mode if len(shape) == 4 else "row", linear_vector_size)
        n = mod.weight.numel() // s
        if lut_group and shape[0] % lut_group:
            raise DKMError(f"layer {name!r}: lut_group {lut_group} does not divide its {shape[0]} output channels")
        if clusters is not None:
            k = ks[name]
            if k is None:
                raise DKMError(f"clusters: no K given for layer {name!r}")
        elif bits is not None:
            k = 2 ** int(bits)
        else:
            rate = first_rate if (i == 0 and first_rate is not None) else cluster_rate
            k = max(math.ceil(rate * n), min(MIN_CLUSTERS, n))
        if not _is_int(k) or k < 1:
            raise DKMError(f"layer {name!r}: number of clusters K must be an integer >= 1, got {k!r}")
        p = ps[name] or 0.0
        if not isinstance(p, numbers.Real) or isinstance(p, bool):
            raise DKMError(f"layer {name!r}: sparsity p must be a number in [0, 1), got {p!r}")
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise DKMError(f"layer {name!r}: sparsity p must be in [0, 1), got {p!r}")
        if p > 0 and k < 2 and not (sparsity_mode == "mean" and s == 1):
            raise DKMError(f"layer {name!r}: sparsity needs K >= 2 (one cluster holds the sparse rows), got K={k}")
        specs.append(LayerSpec(name, shape, mode if len(shape) == 4 else "row", linear_vector_size, s, n, int(k), p,
                               sparsity_mode, int(lut_group)))
    return specs


def get_module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise DKMError(f"model has no layer {name!r}") from None

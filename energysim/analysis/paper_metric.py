"""The Deep k-Means paper's energy metric (Wu et al., ICML 2018, §3, extending Sakr et al., 2017).

Per MAC layer, with ``D = (C/groups)·R·S`` the length of one output's dot product:

- computational cost, in 1-bit full adders (FA), of one D-dimensional dot product with ``Bw``-bit weights and
  ``Bx``-bit activations: ``D·Bw·Bx + (D−1)·(Bx + Bw + ⌈log2 D⌉ − 1)`` (D multipliers of Bw·Bx FAs plus an adder
  tree of D−1 adders whose width grows with the tree depth); a layer computes ``N·M·P·Q`` dot products;
- weight representational cost, in bits: ``Nw·|W|·Bw``; activation representational cost ``Nx·|X|·Bx``, with
  ``N`` the number of times each element is used. We take them exactly as ``Nw = MACs/|W|`` and
  ``Nx = MACs/|X|`` (|W| = M·(C/groups)·R·S weights, |X| = N·C·H·W unpadded input elements): every MAC reads one
  weight and one input, so for a conv each weight is used N·P·Q times and each input on average
  M·R·S/(stride_h·stride_w) times (exactly so when the windows tile the input; MACs/|X| = M·P·Q·R·S/(H·W) also
  gets borders, halos and padding right — padded taps read zeros that are charged to the real inputs). Hence ``Nw·|W|·Bw = MACs·Bw`` and ``Nx·|X|·Bx = MACs·Bx`` for dense layers.
- weight sharing (a codebook record for the layer) replaces ``|W|·Bw`` by what is stored: the codebook,
  ``k·vector_size·Bw`` bits, plus one index per row vector, ``rows·index_bits`` bits (or ``rows·entropy_bits``
  with ``index_coding="entropy"``). Each weight is still used ``Nw`` times, so the weight term becomes
  ``Nw·(codebook + index bits)``; the computational and activation terms do not change.

For the comparison with the Eyeriss energy tool (DESIGN.md §5) the representational cost is weighted as a
global-buffer access, ``rep_weight = 6`` times one unit of computational cost (Eyeriss' normalized energies:
MAC 1, global buffer 6), added to the computational cost and normalized to the number of MACs:
``total = comp_cost_fa + rep_weight·(weight_rep_bits + act_rep_bits)``, ``per_mac = total / MACs``. The
result is in "full-adder equivalents" (FA), a relative energy, not pJ. Biases are not counted (the paper does
not count them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from energysim.costs.codebook.record import records_by_layer
from energysim.errors import EnergySimError
from energysim.workload import Layer, Network

#: The columns of ``paper_metric``'s table, in order.
COLUMNS = [
    "kind", "macs", "D", "dot_products", "comp_cost_fa", "Nw", "Nx", "weight_bits", "weight_rep_bits",
    "act_rep_bits", "total", "per_mac", "shared",
]


def dot_product_cost_fa(D: int, bw: int, bx: int) -> int:
    """Full adders for one D-dimensional dot product of ``bw``-bit weights and ``bx``-bit activations."""
    if D < 1:
        raise EnergySimError(f"dot product length D must be >= 1, got {D}")
    return D * bw * bx + (D - 1) * (bx + bw + math.ceil(math.log2(D)) - 1)


@dataclass(frozen=True)
class PaperMetric:
    """The paper metric of a network: the per-layer table and the totals.

    ``total`` is in full-adder equivalents (FA); ``per_mac`` = total / macs (FA per MAC).
    """

    table: pd.DataFrame
    total: float
    macs: int

    @property
    def per_mac(self) -> float:
        return self.total / self.macs if self.macs else 0.0


def _bits(value: Any, layer: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EnergySimError(f"layer {layer!r}: {what} must be a positive integer number of bits, got {value!r}")
    return value


def _per_layer(value: int | Mapping[str, int], layer: str, what: str) -> int:
    if isinstance(value, Mapping):
        if layer not in value:
            raise EnergySimError(f"{what} mapping has no entry for layer {layer!r}")
        return _bits(value[layer], layer, what)
    return _bits(value, layer, what)


def _shared_weight_bits(layer: Layer, rec: Any, bw: int, index_coding: str) -> float:
    """Stored bits of a codebook-compressed weight tensor: codebook plus indices."""
    for field in ("k", "vector_size", "rows", "index_bits"):
        v = getattr(rec, field, None)
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if field == "index_bits" else 1):
            need = "a non-negative" if field == "index_bits" else "a positive"
            raise EnergySimError(f"codebook record for layer {layer.name!r}: {field} must be {need} integer, got {v!r}")
    if rec.rows * rec.vector_size != layer.weight_count:
        raise EnergySimError(
            f"codebook record for layer {layer.name!r}: rows·vector_size = {rec.rows}·{rec.vector_size} "
            f"does not cover the layer's {layer.weight_count} weights"
        )
    if index_coding == "entropy":
        per_index = getattr(rec, "entropy_bits", None)
        if per_index is None or not (0 <= float(per_index) <= max(rec.index_bits, 0) + 1e-9):
            raise EnergySimError(
                f"codebook record for layer {layer.name!r}: entropy_bits must be in [0, index_bits], got {per_index!r}"
            )
        per_index = float(per_index)
    else:
        per_index = rec.index_bits
    return rec.k * rec.vector_size * bw + rec.rows * per_index


def paper_metric(
    network: Network,
    *,
    bw: int | Mapping[str, int] = 8,
    bx: int | Mapping[str, int] = 8,
    records=None,
    rep_weight: float = 6.0,
    index_coding: Literal["fixed", "entropy"] = "fixed",
    kinds: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The paper's metric per MAC layer, as a DataFrame indexed by layer name (columns ``COLUMNS``).

    ``bw``/``bx``: weight/activation bit widths, one for all layers or a mapping layer name -> bits (paper:
    8 bits for AlexNet's conv layers). ``records``: codebook records (``energysim.costs.codebook.CodebookRecord`` or
    any object with ``layer, k, vector_size, rows, index_bits, entropy_bits``), as a mapping by layer name or
    an iterable; ``index_bits`` and ``entropy_bits`` are bits per index (per row vector). ``index_coding``:
    charge indices at ``index_bits`` ("fixed") or at ``entropy_bits`` ("entropy", a Huffman-like code).
    ``kinds``: restrict to these layer kinds (e.g. ``{"conv", "grouped"}`` for the conv layers only).

    Units: ``comp_cost_fa`` in full adders; ``weight_bits`` (stored size of W), ``weight_rep_bits`` and
    ``act_rep_bits`` in bits; ``total`` in full-adder equivalents, ``per_mac`` in FA per MAC.
    """
    if not isinstance(network, Network):
        raise EnergySimError(f"paper_metric needs a Network, got {type(network).__name__}")
    if isinstance(rep_weight, bool) or not isinstance(rep_weight, (int, float)) or not rep_weight >= 0:
        raise EnergySimError(f"rep_weight must be a non-negative number, got {rep_weight!r}")
    if index_coding not in ("fixed", "entropy"):
        raise EnergySimError(f"index_coding must be 'fixed' or 'entropy', got {index_coding!r}")
    recs = records_by_layer(records, [l.name for l in network.mac_layers()], network.name)
    wanted = set(kinds) if kinds is not None else None
    rows, names = [], []
    for layer in network.mac_layers():
        if wanted is not None and layer.kind not in wanted:
            if layer.name in recs:
                raise EnergySimError(f"codebook record for layer {layer.name!r}, whose kind {layer.kind!r} is excluded")
            continue
        b_w = _per_layer(bw, layer.name, "bw")
        b_x = _per_layer(bx, layer.name, "bx")
        D = layer.c_per_group * layer.R * layer.S
        dots = layer.output_count  # N·M·P·Q: one dot product per output element
        macs = layer.macs
        comp = dots * dot_product_cost_fa(D, b_w, b_x)
        n_w = macs / layer.weight_count
        n_x = macs / layer.input_count
        rec = recs.get(layer.name)
        w_bits = _shared_weight_bits(layer, rec, b_w, index_coding) if rec is not None else layer.weight_count * b_w
        w_rep = n_w * w_bits
        x_rep = n_x * layer.input_count * b_x
        total = comp + rep_weight * (w_rep + x_rep)
        names.append(layer.name)
        rows.append({
            "kind": layer.kind, "macs": macs, "D": D, "dot_products": dots, "comp_cost_fa": comp, "Nw": n_w,
            "Nx": n_x, "weight_bits": w_bits, "weight_rep_bits": w_rep, "act_rep_bits": x_rep, "total": total,
            "per_mac": total / macs, "shared": rec is not None,
        })
    return pd.DataFrame(rows, index=pd.Index(names, name="layer"), columns=COLUMNS)


def paper_metric_total(network: Network, **kw) -> PaperMetric:
    """The paper metric summed over the network's MAC layers (``PaperMetric.per_mac``: FA per MAC).

    Keyword arguments are those of ``paper_metric``.
    """
    table = paper_metric(network, **kw)
    return PaperMetric(table=table, total=float(table["total"].sum()), macs=int(table["macs"].sum()))

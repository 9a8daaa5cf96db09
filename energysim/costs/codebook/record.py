"""Codebook facts of a weight-shared layer, as handed from a compressor (e.g. ``dkm``) to the simulator.

The simulator prices a codebook-compressed layer from these facts alone, so this type lives in energysim and
energysim never imports the compressor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from energysim.errors import EnergySimError


@dataclass(frozen=True)
class CodebookRecord:
    """One shared layer.

    Attributes:
        layer: module name of the layer in the model (``named_modules`` name, e.g. ``"block1.0.conv1"``).
        k: number of codewords K in the codebook.
        vector_size: weights per codeword s (a kernel row: the filter width S; 1 for scalar sharing).
        rows: number of weight vectors N that each carry one index (``weights = rows * vector_size``).
        index_bits: bits of one fixed-width index, ``ceil(log2 K)`` (0 when K = 1). Units: bits per row.
        entropy_bits: Shannon entropy of the assignments, the average bits per index of an ideal entropy
            code (a Huffman code needs at most 1 bit more). Units: bits per row.
        assignments: codeword index of each row, an integer array of shape ``(rows,)`` in the layer's
            row order (weight ``(M, C, R, S)`` reshaped to ``(M*C*R, S)``), or None when not handed over.
    """

    layer: str
    k: int
    vector_size: int
    rows: int
    index_bits: int
    entropy_bits: float
    assignments: np.ndarray | None = None

    def codebook_bits(self, weight_bits: int = 32) -> int:
        """Bits of the codebook: ``k * vector_size * weight_bits``."""
        return self.k * self.vector_size * weight_bits

    def index_stream_bits(self, entropy: bool = False) -> float:
        """Bits of all indices of the layer: ``rows * index_bits`` (or ``rows * entropy_bits``)."""
        return self.rows * (self.entropy_bits if entropy else self.index_bits)


def records_by_layer(records, layer_names=None, network_name: str = "the network") -> dict:
    """Codebook records (an iterable, or a mapping by layer name) as a dict keyed by layer name.

    A record filed under another layer's name, two records for one layer, or (when ``layer_names`` is given)
    a record for a layer not in ``layer_names`` raise ``EnergySimError``. ``None`` gives ``{}``.
    """
    if records is None:
        return {}
    if isinstance(records, Mapping):
        items = dict(records)
        for key, rec in items.items():
            if getattr(rec, "layer", key) != key:
                raise EnergySimError(f"codebook record under key {key!r} is for layer {rec.layer!r}")
    else:
        try:
            it = iter(records)
        except TypeError:
            raise EnergySimError(
                f"records must be a mapping or an iterable of codebook records, got {type(records).__name__}"
            ) from None
        items = {}
        for rec in it:
            if rec.layer in items:
                raise EnergySimError(f"two codebook records for layer {rec.layer!r}")
            items[rec.layer] = rec
    if layer_names is not None:
        names = set(layer_names)
        for key in items:
            if key not in names:
                raise EnergySimError(f"codebook record for layer {key!r}, which is not a MAC layer of {network_name!r}")
    return items

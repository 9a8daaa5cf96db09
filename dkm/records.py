"""Hand-off to the simulator: one :class:`energysim.costs.codebook.CodebookRecord` per shared layer."""

from __future__ import annotations

import os
from typing import Mapping

from energysim.costs.codebook import CodebookRecord

from .share import SharedLayer


def codebook_records(source, with_assignments: bool = True) -> list[CodebookRecord]:
    """Records from a :class:`~dkm.pipeline.CompressResult`, an :class:`~dkm.artifact.Artifact`, a path to a
    ``.dkm`` file, or a ``{name: SharedLayer}`` mapping (layer order preserved)."""
    if isinstance(source, (str, os.PathLike)):
        from .artifact import load

        source = load(source)
    layers = source if isinstance(source, Mapping) else getattr(source, "shared", None) or source.layers
    out = []
    for name, sl in layers.items():
        assert isinstance(sl, SharedLayer)
        # k counts every codeword the layer holds (all its LUTs: what is loaded); an index still has ceil(log2 K) bits
        out.append(CodebookRecord(layer=name, k=sl.codebook.shape[0], vector_size=sl.s, rows=sl.n, index_bits=sl.index_bits,
                                  entropy_bits=sl.entropy_bits,
                                  assignments=sl.assignments.copy() if with_assignments else None))
    return out

"""Sparsity and bit widths as a cost extension: densities (given, measured or from the profile), zero gating and
skipping, run-length coding of feature maps, and bit widths per data space, applied to the dense counts of the
engine (``apply``) and of the streaming model (``apply_streaming``) by ``energysim.analysis.estimate``.

With every density 1, no zero handling, no coding and the profile's own widths the result is exactly the dense
one.
"""

from energysim.costs.sparsity.apply import apply, apply_streaming, dram_bytes
from energysim.costs.sparsity.densities import (
    measure_densities,
    measure_network_densities,
    validate_densities,
    validate_density,
)
from energysim.costs.sparsity.options import SparseOptions
from energysim.costs.sparsity.rlc import (
    RLCFormat,
    rlc_decode,
    rlc_encode,
    rlc_expected_bits,
    rlc_expected_words,
    rlc_pairs_exact,
    rlc_words_exact,
)
from energysim.costs.sparsity.widths import BitWidths, effective_profile, mac_energy_per_op

__all__ = [
    "BitWidths", "RLCFormat", "SparseOptions", "apply", "apply_streaming", "dram_bytes", "effective_profile",
    "mac_energy_per_op", "measure_densities", "measure_network_densities", "rlc_decode", "rlc_encode",
    "rlc_expected_bits", "rlc_expected_words", "rlc_pairs_exact", "rlc_words_exact", "validate_densities",
    "validate_density",
]

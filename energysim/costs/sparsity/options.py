"""``SparseOptions``: what to apply on top of the dense counts -- densities, zero gating/skipping, run-length
coding and bit widths -- and where densities come from.

**Densities** (fraction of non-zeros, per layer and data space ``Weights`` / ``Inputs`` / ``Outputs``) come
from, in order: ``SparseOptions.densities[layer]`` (explicit, e.g. a JSON file or ``measure_densities``), the
density of a real tensor given in ``SparseOptions.tensors[layer]``, ``SparseOptions.default_density``, the
profile's ``sparsity.default_density``, and 1.0. A density outside [0, 1] is an error naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from energysim.arch import HardwareProfile
from energysim.costs.sparsity.densities import validate_densities, validate_density
from energysim.costs.sparsity.rlc import RLCFormat, flat, rlc_expected_bits, rlc_words_exact
from energysim.costs.sparsity.widths import MAC_SCALINGS, BitWidths, ds_name
from energysim.errors import EnergySimError

@dataclass
class SparseOptions:
    """What to apply on top of the dense counts (all defaults = dense, i.e. no change).

    Attributes:
        densities: ``{layer: {"inputs"|"outputs"|"weights": density}}`` (or a bare number = inputs and
            outputs), e.g. from ``measure_densities`` or a JSON file.
        default_density: per data space, for layers not listed.
        tensors: ``{layer: {"inputs"|"outputs": tensor}}``: real feature maps; run-length coded sizes are
            counted on them exactly, and their densities are used where none is given explicitly.
        gating, skipping: data spaces (``Weights``/``Inputs``) whose zeros gate / skip the MAC.
        rlc_levels: levels where Inputs/Outputs are run-length coded (e.g. ``["DRAM"]``).
        rlc_dataspaces: which of Inputs/Outputs are coded there.
        rlc: the coding format.
        bits: bit widths per data space.
        mac_scaling: how MAC energy scales with operand widths (quadratic | linear | none).
    """

    densities: Mapping[str, Any] = field(default_factory=dict)
    default_density: Mapping[str, float] = field(default_factory=dict)
    tensors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gating: tuple[str, ...] = ()
    skipping: tuple[str, ...] = ()
    rlc_levels: tuple[str, ...] = ()
    rlc_dataspaces: tuple[str, ...] = ("Inputs", "Outputs")
    rlc: RLCFormat = field(default_factory=RLCFormat)
    bits: BitWidths = field(default_factory=BitWidths)
    mac_scaling: str = "quadratic"

    def __post_init__(self):
        self.densities = validate_densities(self.densities or {})
        self.default_density = {ds_name(k): validate_density("<default>", v, str(k))
                                for k, v in (self.default_density or {}).items()}
        self.gating = tuple(ds_name(d) for d in self.gating)
        self.skipping = tuple(ds_name(d) for d in self.skipping)
        for d in self.gating + self.skipping:
            if d == "Outputs":
                raise EnergySimError("gating/skipping on Outputs is not meaningful: a MAC gates on its operands "
                                     "(Weights, Inputs)")
        self.rlc_levels = tuple(self.rlc_levels)
        self.rlc_dataspaces = tuple(ds_name(d) for d in self.rlc_dataspaces)
        if "Weights" in self.rlc_dataspaces:
            raise EnergySimError("run-length coding applies to feature maps (Inputs, Outputs), not Weights")
        self.bits = BitWidths.parse(self.bits)
        if self.mac_scaling not in MAC_SCALINGS:
            raise EnergySimError(f"unknown mac_scaling {self.mac_scaling!r}; choose one of {list(MAC_SCALINGS)}")

    @classmethod
    def from_profile(cls, profile: HardwareProfile, network: str | None = None, **overrides) -> "SparseOptions":
        """Options from the profile's ``sparsity`` section (if any), with its measured densities of ``network``
        (``network_densities``), overridden by keyword arguments (``densities=`` replaces the measured ones)."""
        kw: dict[str, Any] = {}
        sp = profile.sparsity
        if sp is not None:
            kw.update(gating=tuple(sp.gating), skipping=tuple(sp.skipping), rlc_levels=tuple(sp.rlc_levels),
                      rlc_dataspaces=tuple(sp.rlc_dataspaces), default_density=dict(sp.default_density),
                      rlc=RLCFormat(sp.run_bits, sp.pairs_per_word, sp.rlc_word_bits))
            if network in sp.network_densities:
                kw["densities"] = {layer: dict(d) for layer, d in sp.network_densities[network].items()}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    @property
    def is_dense(self) -> bool:
        return (not self.densities and not self.default_density and not self.tensors and not self.gating
                and not self.skipping and not self.rlc_levels and self.bits.is_default)

    def density(self, layer: str, data_space: str, profile: HardwareProfile | None = None) -> float:
        """Non-zero fraction of ``data_space`` of ``layer`` (see the module docstring for the order)."""
        key = data_space.lower()
        d = self.densities.get(layer, {})
        if key in d:
            return d[key]
        t = self.tensors.get(layer, {}).get(key)
        if t is not None:
            x = flat(t)
            return float((x != 0).sum()) / x.size if x.size else 1.0
        if data_space in self.default_density:
            return self.default_density[data_space]
        if profile is not None and profile.sparsity is not None and data_space in profile.sparsity.default_density:
            return profile.sparsity.default_density[data_space]
        return 1.0

    def rlc_ratio(self, layer: str, data_space: str, n_elements: int, bits: int,
                  profile: HardwareProfile | None = None) -> float:
        """Coded size / dense size of ``data_space`` of ``layer`` (dense size = elements x ``bits``).

        Exact count when a real tensor is given, else the exact expectation for i.i.d. zeros at the density.
        """
        f = self.rlc
        t = self.tensors.get(layer, {}).get(data_space.lower())
        if t is not None:
            x = flat(t)
            if x.size == 0:
                return 1.0
            words = rlc_words_exact(x, run_bits=f.run_bits, pairs_per_word=f.pairs_per_word)
            return words * f.word_bits / (x.size * bits)
        if n_elements <= 0:
            return 1.0
        d = self.density(layer, data_space, profile)
        coded = rlc_expected_bits(int(n_elements), d, run_bits=f.run_bits, pairs_per_word=f.pairs_per_word,
                                  word_bits=f.word_bits)
        return coded / (n_elements * bits)

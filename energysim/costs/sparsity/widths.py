"""Bit widths of weights, inputs and outputs (partial sums), and what they change: the capacity of a level in
values (for mapping), the bits each access moves (for pricing) and the MAC energy.

A level with ``word_bits`` wb and ``block_size`` B moves ``B * wb / b`` values of b bits per block access, so
the energy of ``n`` value accesses is ``ceil(n * b / (B * wb)) * E_block`` (energy per value scales with b);
capacity in values scales by ``wb / b`` (``effective_profile``: a shared level is sized for the widest data
space it keeps; a ``capacity_split`` share by its own data space); bandwidths (words of wb bits per cycle)
likewise. MAC energy at operand widths (bw, bi): the profile's ``mac.energy_pj_by_bits[max(bw, bi)]`` when
listed, else ``E_mac * scale`` with ``mac_scaling`` ``"quadratic"`` (bw*bi/wb^2, an array multiplier),
``"linear"`` ((bw+bi)/(2 wb)) or ``"none"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from energysim.arch import DATA_SPACES, HardwareProfile
from energysim.errors import EnergySimError

_KEY = {"weights": "Weights", "inputs": "Inputs", "outputs": "Outputs",
        "w": "Weights", "i": "Inputs", "o": "Outputs", "psums": "Outputs"}
MAC_SCALINGS = ("quadratic", "linear", "none")


def ds_name(key: str, what: str = "data space") -> str:
    k = str(key)
    if k in DATA_SPACES:
        return k
    try:
        return _KEY[k.lower()]
    except KeyError:
        raise EnergySimError(f"unknown {what} {key!r}; use weights, inputs or outputs") from None


@dataclass(frozen=True)
class BitWidths:
    """Bits per value of each data space; ``None`` = the storage level's ``word_bits`` (the profile default)."""

    weights: int | None = None
    inputs: int | None = None
    outputs: int | None = None

    def __post_init__(self):
        for f in ("weights", "inputs", "outputs"):
            v = getattr(self, f)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EnergySimError(f"bit width of {f} = {v!r} must be a positive integer")

    def of(self, data_space: str, default: int) -> int:
        v = getattr(self, data_space.lower())
        return default if v is None else v

    @property
    def is_default(self) -> bool:
        return self.weights is None and self.inputs is None and self.outputs is None

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | "BitWidths" | None) -> "BitWidths":
        """``"w=8,i=8,o=16"`` (also ``weights=8``, ``psums=16``) or a mapping; ``None`` = defaults."""
        if spec is None:
            return cls()
        if isinstance(spec, BitWidths):
            return spec
        items: dict[str, Any]
        if isinstance(spec, Mapping):
            items = dict(spec)
        else:
            items = {}
            for part in str(spec).replace(" ", "").split(","):
                if "=" not in part:
                    raise EnergySimError(f"bit widths {spec!r}: expected key=value pairs like w=8,i=8,o=16")
                k, v = part.split("=", 1)
                if k in items:
                    raise EnergySimError(f"bit widths {spec!r}: {k} is given twice")
                items[k] = v
        out: dict[str, int] = {}
        for k, v in items.items():
            ds = ds_name(k, "bit-width key").lower()
            if ds in out:  # two spellings of one data space (w and weights)
                raise EnergySimError(f"bit widths {spec!r}: the {ds} width is given twice")
            try:
                iv = int(v)
            except (TypeError, ValueError):
                raise EnergySimError(f"bit width of {ds} = {v!r} must be a positive integer") from None
            if str(v).strip() != str(iv) and not isinstance(v, int):
                raise EnergySimError(f"bit width of {ds} = {v!r} must be a positive integer")
            out[ds] = iv
        return cls(**out)


def effective_profile(profile: HardwareProfile, bits: BitWidths | None) -> HardwareProfile:
    """The profile with capacities (and bandwidths) in values of the given widths, for mapping and counting.

    A level of ``depth`` words of wb bits holds ``depth * wb / b`` values of b bits; a shared level is sized
    for the widest data space it may keep; ``capacity_split`` shares by their own data space's width.
    Energies per block are unchanged (``apply`` prices by bits). Identity when all widths are default.
    """
    if bits is None or bits.is_default:
        return profile
    prof = profile.model_copy(deep=True)
    for lv in prof.levels:
        if lv.cls == "dummy":
            continue
        wb = lv.word_bits or prof.word_bits
        kept = lv.kept()
        widest = max((bits.of(d, wb) for d in kept), default=wb)
        if lv.depth is not None:
            lv.depth = max(1, (lv.depth * wb) // widest)
        if lv.capacity_split:
            lv.capacity_split = {d: (w * wb) // bits.of(d, wb) for d, w in lv.capacity_split.items()}
        # bandwidth: words of wb bits per cycle -> values of the widest width per cycle
        if lv.read_bandwidth:
            lv.read_bandwidth = lv.read_bandwidth * wb / widest
        if lv.write_bandwidth:
            lv.write_bandwidth = lv.write_bandwidth * wb / widest
    return prof


def mac_energy_per_op(profile: HardwareProfile, bits: BitWidths | None, scaling: str = "quadratic") -> float:
    """Energy per MAC (profile unit) at the operand widths of ``bits`` (see the module docstring)."""
    if scaling not in MAC_SCALINGS:
        raise EnergySimError(f"unknown mac_scaling {scaling!r}; choose one of {list(MAC_SCALINGS)}")
    wb = profile.mac.word_bits or profile.word_bits
    bw = bits.of("Weights", wb) if bits else wb
    bi = bits.of("Inputs", wb) if bits else wb
    if bw == wb and bi == wb:
        return profile.mac.energy_at(profile.mac.word_bits)
    table = profile.mac.energy_pj_by_bits or {}
    if max(bw, bi) in table:
        return table[max(bw, bi)]
    e = profile.mac.energy_pj
    if scaling == "quadratic":
        return e * bw * bi / (wb * wb)
    if scaling == "linear":
        return e * (bw + bi) / (2 * wb)
    return e

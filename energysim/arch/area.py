"""A first-order area model, so that accelerator designs can be compared by silicon area (mm^2).

Area = sum over on-chip storage levels of (instances x capacity in bits x area per bit)
     + MAC instances x area per MAC.

Per-level ``area_um2_per_bit`` and ``mac.area_um2`` in a profile override the defaults below. Defaults are
given at 45 nm and scaled quadratically with the feature size parsed from the profile's ``technology``
(e.g. ``"65nm"``; 45 nm when absent):

* SRAM: 0.5 um^2 per bit. A 45 nm 6T bit cell is about 0.35 um^2 (ITRS / published 45 nm cells); the rest
  is an assumed ~40% array-periphery overhead (decoders, sense amps) of an 8-128 kB macro.
* Register file (class ``regfile``) and ``other`` storage: 2.0 um^2 per bit, an assumption for latch/flip-flop
  arrays (a 45 nm flip-flop is ~4-5 um^2; small latch-based register files about half of that per bit).
* DRAM is off chip and dummy levels hold nothing: 0.
* MAC (multiplier + accumulator) per operand width b: Horowitz (ISSCC 2014) 45 nm areas, 8-bit multiply
  282 um^2 + 32-bit add 137 um^2 (accumulator) for b <= 8; for wider operands the multiplier scales with b^2
  (282 (b/8)^2) and the adder with the accumulator width (137 x 2b/32). E.g. 16 bit: 1128 + 137 = 1265 um^2.

These are coarse, first-order numbers (no wiring, NoC, control or pads); they rank designs, they do not
predict a tape-out. Profiles that know better set the per-level / MAC fields.
"""

from __future__ import annotations

import re

from energysim.arch.profile import HardwareProfile, StorageLevel

#: um^2 per bit at 45 nm, by level class (see the module docstring for sources/assumptions).
DEFAULT_UM2_PER_BIT_45NM = {"sram": 0.5, "regfile": 2.0, "other": 2.0, "dram": 0.0, "dummy": 0.0}
REFERENCE_NM = 45.0


def technology_nm(profile: HardwareProfile) -> float:
    """Feature size in nm parsed from ``profile.technology`` (``"32nm"`` -> 32); 45 when absent."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*nm", profile.technology or "")
    return float(m.group(1)) if m else REFERENCE_NM


def _scale(profile: HardwareProfile) -> float:
    return (technology_nm(profile) / REFERENCE_NM) ** 2


def level_um2_per_bit(level: StorageLevel, profile: HardwareProfile) -> float:
    if level.area_um2_per_bit is not None:
        return level.area_um2_per_bit
    return DEFAULT_UM2_PER_BIT_45NM[level.cls] * _scale(profile)


def mac_um2(profile: HardwareProfile) -> float:
    if profile.mac.area_um2 is not None:
        return profile.mac.area_um2
    b = profile.mac.word_bits or profile.word_bits
    mult = 282.0 * max(b / 8.0, 1.0) ** 2
    add = 137.0 * max(2 * b / 32.0, 1.0)
    return (mult + add) * _scale(profile)


def area_breakdown_mm2(profile: HardwareProfile) -> dict[str, float]:
    """mm^2 per storage level (all instances) and for the MACs (key = the MAC unit's name)."""
    out: dict[str, float] = {}
    for lv in profile.levels:
        if lv.cls in ("dram", "dummy") or lv.depth is None:
            out[lv.name] = 0.0
            continue
        bits = lv.depth * (lv.word_bits or profile.word_bits) * lv.instances
        out[lv.name] = bits * level_um2_per_bit(lv, profile) * 1e-6
    out[profile.mac.name] = profile.mac.instances * mac_um2(profile) * 1e-6
    return out


def area_mm2(profile: HardwareProfile) -> float:
    """Total on-chip area in mm^2 (storage + MACs)."""
    return sum(area_breakdown_mm2(profile).values())

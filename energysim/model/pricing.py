"""Pricing: the one place where counts become energy (in the profile's energy unit, pJ unless it says
otherwise).

* Storage accesses, per instance: ``ceil(reads/B)·E_read + ceil(fills/B)·E_write + ceil(updates/B)·E_update``
  with B the block size in words. For values narrower or wider than the level's word (bit widths other than
  ``word_bits``), a block carries ``B·word_bits/bits`` values: the access count is ``ceil(n·bits/(B·word_bits))``.
* Leakage: ``E_leak`` per cycle per utilized instance.
* MACs: ``E_mac`` at the MAC unit's width, per MAC.
* Network-on-chip: at a level with ``network_hop_pj``, every word it reads out to the level below or receives
  back as an update crosses the network under it once (a multicast counts once).

The counting engine (``energysim.model.counts``), the streaming model of layers without MACs, the cost
extensions (``energysim.costs``) and the mapper's report of its best mapping all price through these functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from energysim.arch import HardwareProfile, StorageLevel


def block_accesses(n, level: StorageLevel, bits: int | None = None):
    """Block accesses of ``level`` that move ``n`` values of ``bits`` bits (``None`` = the level's word).

    Integer counts at the level's own width are exact (``-(-n // B)``); fractional counts (scaled by densities
    or coding ratios) are rounded up with a 1e-9 tolerance so that a count that is whole up to float error does
    not cost an extra block."""
    B = level.block_size
    wb = level.word_bits or bits
    if bits is None or bits == wb:
        if isinstance(n, float):
            return math.ceil(n / B - 1e-9)
        return -(-n // B)
    return math.ceil(n * bits / (B * wb) - 1e-9)


def access_energy(level: StorageLevel, reads, fills, updates, bits: int | None = None) -> float:
    """Energy of one instance's reads, fills and updates at ``level`` (see the module docstring)."""
    return (block_accesses(reads, level, bits) * level.read_pj + block_accesses(fills, level, bits) * level.write_pj
            + block_accesses(updates, level, bits) * level.update_pj)


def leakage(profile: HardwareProfile, cycles, utilized: Mapping[str, int]) -> dict[str, float]:
    """Leakage energy per level that leaks: ``leak_pj`` x cycles x utilized instances (all instances when the
    level is missing from ``utilized``)."""
    return {lv.name: lv.leak_pj * cycles * utilized.get(lv.name, lv.instances)
            for lv in profile.levels if lv.leak_pj}


def mac_energy(profile: HardwareProfile, macs: int) -> float:
    """Energy of ``macs`` multiply-accumulates at the MAC unit's own width."""
    return profile.mac.energy_at(profile.mac.word_bits) * macs


def hop_energy(level: StorageLevel, words):
    """NoC energy of ``words`` crossing the network under ``level`` (reads out plus updates in, all instances)."""
    return level.network_hop_pj * words


def network_energy(profile: HardwareProfile, traffic: Iterable[tuple[str, float, float]]) -> float:
    """NoC energy of ``traffic``: ``(level, reads, updates)`` totals over utilized instances, any number of records
    per level (one per data space)."""
    reads: dict[str, float] = {}
    updates: dict[str, float] = {}
    for level, r, u in traffic:
        reads[level] = reads.get(level, 0) + r
        updates[level] = updates.get(level, 0) + u
    total = 0.0
    for lv in profile.levels:
        if lv.network_hop_pj:
            total += hop_energy(lv, float(reads.get(lv.name, 0) + updates.get(lv.name, 0)))
    return total

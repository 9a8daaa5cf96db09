"""``LayerStats``: what the counting engine reports for one mapped problem (counts per level and data space,
priced by ``energysim.model.pricing``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


@dataclass
class LayerStats:
    """The counts and energy of one mapped problem.

    ``rows`` holds one record per (level, dataspace) kept there: per-instance ``reads``/``fills``/``updates``
    (words), ``instances`` (utilized), totals ``*_total`` and ``energy``. ``leak`` is per level. Energies are in
    the profile's ``energy_unit`` (pJ unless the profile says otherwise).
    """

    name: str
    macs: int
    mac_energy: float
    cycles: int
    utilization: float
    rows: list[dict]
    leak: dict[str, float]
    level_names: list[str]
    mac_name: str = "mac"
    extra: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per level x data space: level, dataspace, instances, reads, fills, updates (per instance),
        reads_total, fills_total, updates_total (all instances) and energy."""
        import pandas as pd

        cols = ["level", "dataspace", "instances", "reads", "fills", "updates", "reads_total", "fills_total",
                "updates_total", "energy"]
        return pd.DataFrame(self.rows, columns=cols)

    @property
    def energy_by_level(self) -> dict[str, float]:
        """Energy per storage level (access energy of all its data spaces plus leakage), and the MACs last."""
        out = {n: 0.0 for n in self.level_names}
        for r in self.rows:
            out[r["level"]] += r["energy"]
        for n, e in self.leak.items():
            out[n] += e
        out[self.mac_name] = self.mac_energy
        return out

    @property
    def energy_by_dataspace(self) -> dict[str, float]:
        """Energy of storage accesses per data space (leakage and MACs excluded; see ``energy``)."""
        out: dict[str, float] = {}
        for r in self.rows:
            out[r["dataspace"]] = out.get(r["dataspace"], 0.0) + r["energy"]
        return out

    @property
    def leak_energy(self) -> float:
        return math.fsum(self.leak.values())

    @property
    def energy(self) -> float:
        """Total energy = sum of ``energy_by_level`` (accesses + leakage + MACs)."""
        return math.fsum(self.energy_by_level.values())

    def count(self, level: str, data_space: str, what: str) -> int:
        """Per-instance count ``what`` (reads/fills/updates) at ``level`` for ``data_space`` (0 if not kept)."""
        for r in self.rows:
            if r["level"] == level and r["dataspace"] == data_space:
                return r[what]
        return 0

"""``LayerEnergy``: the priced result of one layer, as reports show it: a tidy count table with one row per
(memory level, data space) -- ``reads``, ``fills``, ``updates`` (words, summed over utilized instances) and
``energy_pj`` -- plus compute energy and named extra terms (leakage, network, codebook look-ups, ...). A layer's
energy is exactly the sum of its rows, its compute energy and its extra terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from energysim.arch import HardwareProfile
from energysim.model.pricing import network_energy
from energysim.model.stats import LayerStats

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


COUNT_COLUMNS = ["level", "dataspace", "reads", "fills", "updates", "energy_pj"]


@dataclass
class LayerEnergy:
    """Energy and access counts of one layer. Units: words for counts, pJ for energy, cycles for time."""

    name: str
    kind: str
    macs: int
    counts: pd.DataFrame  # COUNT_COLUMNS
    compute_energy_pj: float
    cycles: float
    utilization: float
    extra_pj: dict[str, float] = field(default_factory=dict)  # named extra terms, pJ
    note: str = ""

    def __post_init__(self):
        missing = set(COUNT_COLUMNS) - set(self.counts.columns)
        if missing:
            raise ValueError(f"layer {self.name!r}: count table lacks columns {sorted(missing)}")

    @classmethod
    def from_stats(cls, name: str, kind: str, stats: LayerStats, profile: HardwareProfile) -> "LayerEnergy":
        """The report view of engine stats: totals over utilized instances; leakage and NoC as extra terms."""
        import pandas as pd

        df = stats.to_frame()
        counts = pd.DataFrame(
            {
                "level": df["level"],
                "dataspace": df["dataspace"],
                "reads": df["reads_total"],
                "fills": df["fills_total"],
                "updates": df["updates_total"],
                "energy_pj": df["energy_pj"],
            }
        )
        extra = {"leakage": stats.leak_energy_pj} if stats.leak_energy_pj else {}
        noc = network_energy(profile, zip(counts["level"], counts["reads"], counts["updates"]))
        if noc:
            extra["network"] = noc
        return cls(name=name, kind=kind, macs=stats.macs, counts=counts, compute_energy_pj=stats.mac_energy_pj,
                   cycles=stats.cycles, utilization=stats.utilization, extra_pj=extra)

    @property
    def energy_by_level(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.groupby("level", sort=False)["energy_pj"].sum().items()}

    @property
    def energy_by_dataspace(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.groupby("dataspace", sort=False)["energy_pj"].sum().items()}

    @property
    def memory_energy_pj(self) -> float:
        return float(self.counts["energy_pj"].sum())

    @property
    def energy_pj(self) -> float:
        return self.memory_energy_pj + self.compute_energy_pj + sum(self.extra_pj.values())

    def row(self) -> dict:
        """A flat dict: totals, energy per level / data space, and every count."""
        r = {
            "name": self.name,
            "kind": self.kind,
            "macs": self.macs,
            "cycles": self.cycles,
            "utilization": self.utilization,
            "energy_pj": self.energy_pj,
            "compute_energy_pj": self.compute_energy_pj,
        }
        for lvl, e in self.energy_by_level.items():
            r[f"energy_{lvl}_pj"] = e
        for ds, e in self.energy_by_dataspace.items():
            r[f"energy_{ds}_pj"] = e
        for term, e in self.extra_pj.items():
            r[f"extra_{term}_pj"] = e
        for rec in self.counts.itertuples(index=False):
            for what in ("reads", "fills", "updates"):
                r[f"{what}_{rec.level}_{rec.dataspace}"] = getattr(rec, what)
        return r

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "macs": self.macs,
            "energy_pj": self.energy_pj,
            "energy_by_level": {**self.energy_by_level, "compute": self.compute_energy_pj},
            "energy_by_dataspace": self.energy_by_dataspace,
            "extra_pj": dict(self.extra_pj),
            "cycles": self.cycles,
            "utilization": self.utilization,
            "counts": self.counts[COUNT_COLUMNS].to_dict(orient="records"),
            "note": self.note,
        }

"""``LayerEnergy``: the priced result of one layer, as reports show it: a tidy count table with one row per
(memory level, data space) -- ``reads``, ``fills``, ``updates`` (words, summed over utilized instances) and
``energy``, in the profile's ``energy_unit`` -- plus compute energy and named extra terms (leakage, network, codebook look-ups, ...). A layer's
energy is exactly the sum of its rows, its compute energy and its extra terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from energysim.arch import HardwareProfile
from energysim.model.pricing import network_energy
from energysim.model.stats import LayerStats

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


COUNT_COLUMNS = ["level", "dataspace", "reads", "fills", "updates", "energy"]


@dataclass
class LayerEnergy:
    """Energy and access counts of one layer. Units: words for counts, the profile's energy unit (pJ unless it
    says otherwise) for energy, cycles for time."""

    name: str
    kind: str
    macs: int
    counts: pd.DataFrame  # COUNT_COLUMNS
    compute_energy: float
    cycles: float
    utilization: float
    extra: dict[str, float] = field(default_factory=dict)  # named extra terms
    note: str = ""
    # traffic and time as a chip reports them (``with_traffic``): bytes moved at the DRAM level(s) and at the
    # global buffer (the outermost on-chip storage level), reads + fills + updates at each value's width;
    # seconds at the profile's clock; PEs doing real work when the array is fullest (None: no MACs)
    dram_bytes: float | None = None
    glb_bytes: float | None = None
    latency_s: float | None = None
    active_pes: int | None = None

    def __post_init__(self):
        missing = set(COUNT_COLUMNS) - set(self.counts.columns)
        if missing:
            raise ValueError(f"layer {self.name!r}: count table lacks columns {sorted(missing)}")

    @classmethod
    def from_stats(cls, name: str, kind: str, stats: LayerStats, profile: HardwareProfile,
                   labels: Mapping[str, str] | None = None) -> "LayerEnergy":
        """The report view of engine stats: totals over utilized instances; leakage and NoC as extra terms.
        ``labels`` renames data spaces for the report (e.g. ``{"Weights": "Inputs2"}``, see
        ``Layer.data_space_labels``)."""
        import pandas as pd

        df = stats.to_frame()
        counts = pd.DataFrame(
            {
                "level": df["level"],
                "dataspace": df["dataspace"].map(lambda d: labels.get(d, d)) if labels else df["dataspace"],
                "reads": df["reads_total"],
                "fills": df["fills_total"],
                "updates": df["updates_total"],
                "energy": df["energy"],
            }
        )
        extra = {"leakage": stats.leak_energy} if stats.leak_energy else {}
        noc = network_energy(profile, zip(counts["level"], counts["reads"], counts["updates"]))
        if noc:
            extra["network"] = noc
        return cls(name=name, kind=kind, macs=stats.macs, counts=counts, compute_energy=stats.mac_energy,
                   cycles=stats.cycles, utilization=stats.utilization, extra=extra)

    def with_traffic(self, profile: HardwareProfile, stats: LayerStats | None = None) -> "LayerEnergy":
        """Fill ``dram_bytes``, ``glb_bytes``, ``latency_s`` and ``active_pes`` (from the engine's ``stats``, whose
        rows carry the bit width of each value when sparsity or bit widths were applied; else from the count
        table at each level's word width). Returns self."""
        widths = {lv.name: lv.word_bits or profile.word_bits for lv in profile.levels}
        dram = [lv.name for lv in profile.levels if lv.cls == "dram"] or [profile.levels[0].name]
        glb = next((lv.name for lv in profile.levels if lv.name not in dram and lv.cls != "dummy"), None)
        if stats is not None:
            recs = [(r["level"], r["reads_total"] + r["fills_total"] + r["updates_total"],
                     r.get("bits", widths[r["level"]])) for r in stats.rows]
            self.active_pes = stats.extra.get("active_pes")
        else:
            recs = [(rec.level, rec.reads + rec.fills + rec.updates, widths.get(rec.level, profile.word_bits))
                    for rec in self.counts.itertuples(index=False)]
        self.dram_bytes = float(sum(n * b / 8 for lv, n, b in recs if lv in dram))
        self.glb_bytes = float(sum(n * b / 8 for lv, n, b in recs if lv == glb)) if glb else 0.0
        self.latency_s = float(self.cycles) / profile.clock_hz
        return self

    @property
    def energy_by_level(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.groupby("level", sort=False)["energy"].sum().items()}

    @property
    def energy_by_dataspace(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.groupby("dataspace", sort=False)["energy"].sum().items()}

    @property
    def memory_energy(self) -> float:
        return float(self.counts["energy"].sum())

    @property
    def energy(self) -> float:
        return self.memory_energy + self.compute_energy + sum(self.extra.values())

    def row(self) -> dict:
        """A flat dict: totals, energy per level / data space, and every count."""
        r = {
            "name": self.name,
            "kind": self.kind,
            "macs": self.macs,
            "cycles": self.cycles,
            "utilization": self.utilization,
            "energy": self.energy,
            "compute_energy": self.compute_energy,
        }
        for lvl, e in self.energy_by_level.items():
            r[f"energy_{lvl}"] = e
        for ds, e in self.energy_by_dataspace.items():
            r[f"energy_{ds}"] = e
        for term, e in self.extra.items():
            r[f"extra_{term}"] = e
        for rec in self.counts.itertuples(index=False):
            for what in ("reads", "fills", "updates"):
                r[f"{what}_{rec.level}_{rec.dataspace}"] = getattr(rec, what)
        return r

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "macs": self.macs,
            "energy": self.energy,
            "energy_by_level": {**self.energy_by_level, "compute": self.compute_energy},
            "energy_by_dataspace": self.energy_by_dataspace,
            "extra": dict(self.extra),
            "cycles": self.cycles,
            "utilization": self.utilization,
            "counts": self.counts[COUNT_COLUMNS].to_dict(orient="records"),
            "note": self.note,
            "dram_bytes": self.dram_bytes,
            "glb_bytes": self.glb_bytes,
            "latency_s": self.latency_s,
            "active_pes": self.active_pes,
        }

"""Energy reports: per-layer tables (pandas), totals, CSV/JSON export.

A report holds one ``LayerEnergy`` per layer. Each carries a tidy count table with one row per
(memory level, data space): ``reads``, ``fills``, ``updates`` (words, summed over utilized instances) and
``energy_pj``; plus compute energy and any extra named terms (e.g. codebook look-ups). A layer's energy is
exactly the sum of its rows, its compute energy and its extra terms; the report total is the sum of layers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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


@dataclass
class EnergyReport:
    """Per-layer energy of one network on one hardware profile and dataflow."""

    network: str
    profile: str
    dataflow: str
    batch: int
    layers: list[LayerEnergy]
    energy_unit: str = "pJ"  # the profile's unit; every *_pj field is in it

    @property
    def total_energy_pj(self) -> float:
        return math.fsum(l.energy_pj for l in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def total_cycles(self) -> float:
        return sum(l.cycles for l in self.layers)

    @property
    def levels(self) -> list[str]:
        seen: dict[str, None] = {}
        for l in self.layers:
            for lvl in l.counts["level"]:
                seen.setdefault(lvl, None)
        return list(seen)

    def energy_by_level(self) -> dict[str, float]:
        out: dict[str, float] = {lvl: 0.0 for lvl in self.levels}
        out["compute"] = 0.0
        for l in self.layers:
            for lvl, e in l.energy_by_level.items():
                out[lvl] += e
            out["compute"] += l.compute_energy_pj
            for term, e in l.extra_pj.items():
                out[term] = out.get(term, 0.0) + e
        return out

    @property
    def table(self) -> pd.DataFrame:
        """One row per layer (see ``LayerEnergy.row``); missing counts are 0."""
        import pandas as pd
        df = pd.DataFrame([l.row() for l in self.layers])
        return df.fillna(0)

    def counts(self) -> pd.DataFrame:
        """Long table: one row per (layer, level, data space)."""
        import pandas as pd
        parts = [l.counts.assign(layer=l.name) for l in self.layers]
        return pd.concat(parts, ignore_index=True)[["layer", *COUNT_COLUMNS]] if parts else pd.DataFrame()

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "profile": self.profile,
            "dataflow": self.dataflow,
            "batch": self.batch,
            "energy_unit": self.energy_unit,
            "total_energy_pj": self.total_energy_pj,
            "total_macs": self.total_macs,
            "total_cycles": self.total_cycles,
            "energy_per_mac_pj": self.total_energy_pj / self.total_macs if self.total_macs else None,
            "energy_by_level": self.energy_by_level(),
            "layers": [l.to_dict() for l in self.layers],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_csv(self, path: str | Path) -> None:
        self.table.to_csv(path, index=False)

    @property
    def mega_unit(self) -> str:
        """Label of energy / 1e6: ``uJ`` for pJ, else ``M <unit>``."""
        return "uJ" if self.energy_unit == "pJ" else f"M {self.energy_unit}"

    def summary(self) -> str:
        per_mac = "pJ/MAC" if self.energy_unit == "pJ" else f"{self.energy_unit}/MAC"
        lines = [
            f"{self.network} on {self.profile} ({self.dataflow}, batch {self.batch}): "
            f"{self.total_energy_pj / 1e6:,.3f} {self.mega_unit}, {self.total_macs:,} MACs, "
            f"{self.total_energy_pj / max(self.total_macs, 1):.3f} {per_mac}, {self.total_cycles:,.0f} cycles"
        ]
        total = self.total_energy_pj or 1.0
        for lvl, e in self.energy_by_level().items():
            lines.append(f"  {lvl:<24} {e / 1e6:>14,.3f} {self.mega_unit:<6} {100 * e / total:5.1f}%")
        return "\n".join(lines)

"""Energy reports: per-layer tables (pandas), totals, CSV/JSON export.

A report holds one ``energysim.model.layer_energy.LayerEnergy`` per layer; the report total is the sum of its
layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from energysim.model.layer_energy import COUNT_COLUMNS, LayerEnergy
from energysim.analysis.schema import dumps, stamped

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


@dataclass
class EnergyReport:
    """Per-layer energy of one network on one hardware profile and dataflow."""

    network: str
    profile: str
    dataflow: str
    batch: int
    layers: list[LayerEnergy]
    energy_unit: str = "pJ"  # the profile's unit; every energy of the report is in it
    skipped: list[str] = field(default_factory=list)  # unsupported layers left out (estimate's skip_unsupported)

    @property
    def total_energy(self) -> float:
        return math.fsum(l.energy for l in self.layers)

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
            for rec in l.records:
                seen.setdefault(rec[0], None)
        return list(seen)

    def energy_by_level(self) -> dict[str, float]:
        out: dict[str, float] = {lvl: 0.0 for lvl in self.levels}
        out["compute"] = 0.0
        for l in self.layers:
            for lvl, e in l.energy_by_level.items():
                out[lvl] += e
            out["compute"] += l.compute_energy
            for term, e in l.extra.items():
                out[term] = out.get(term, 0.0) + e
        return out

    @property
    def table(self) -> pd.DataFrame:
        """One row per layer (see ``LayerEnergy.row``); missing counts are 0; energies in ``energy_unit`` (a column)."""
        import pandas as pd
        df = pd.DataFrame([l.row() for l in self.layers]).fillna(0)
        df["energy_unit"] = self.energy_unit
        return df

    def counts(self) -> pd.DataFrame:
        """Long table: one row per (layer, level, data space)."""
        import pandas as pd
        parts = [l.counts.assign(layer=l.name) for l in self.layers]
        return pd.concat(parts, ignore_index=True)[["layer", *COUNT_COLUMNS]] if parts else pd.DataFrame()

    def to_dict(self) -> dict:
        """The JSON report (``kind`` ``energysim.estimate``). Energies are in ``energy_unit``; when that is pJ the
        totals are also given as ``total_energy_pj`` and ``energy_per_mac_pj``, the keys of earlier versions."""
        per_mac = self.total_energy / self.total_macs if self.total_macs else None
        pj = {"total_energy_pj": self.total_energy, "energy_per_mac_pj": per_mac} if self.energy_unit == "pJ" else {}
        return stamped("energysim.estimate", {
            "network": self.network,
            "profile": self.profile,
            "dataflow": self.dataflow,
            "batch": self.batch,
            "energy_unit": self.energy_unit,
            "total_energy": self.total_energy,
            "total_macs": self.total_macs,
            "total_cycles": self.total_cycles,
            "energy_per_mac": per_mac,
            **pj,
            "energy_by_level": self.energy_by_level(),
            "layers": [l.to_dict() for l in self.layers],
            "skipped_layers": list(self.skipped),
        })

    def to_json(self, path: str | Path | None = None) -> str:
        """The JSON report as text (valid JSON: a non-finite number would be ``null``); written to ``path`` if
        given."""
        text = dumps(self.to_dict(), indent=1)
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
            f"{self.total_energy / 1e6:,.3f} {self.mega_unit}, {self.total_macs:,} MACs, "
            f"{self.total_energy / max(self.total_macs, 1):.3f} {per_mac}, {self.total_cycles:,.0f} cycles"
        ]
        total = self.total_energy or 1.0
        for lvl, e in self.energy_by_level().items():
            lines.append(f"  {lvl:<24} {e / 1e6:>14,.3f} {self.mega_unit:<6} {100 * e / total:5.1f}%")
        if self.skipped:
            lines.append(f"  not counted: {len(self.skipped)} unsupported layer(s): {', '.join(self.skipped)}")
        return "\n".join(lines)

    def plot(self, kind: str = "level", ax=None, path: str | Path | None = None, **kw):
        """A figure of this report on ``ax`` (a new figure if ``None``); returns the matplotlib Axes. ``kind``:
        ``level`` / ``dataspace`` (per-layer stacked energy by memory level / data space) or ``share`` (share of
        the total per level). ``path`` also writes the figure to that file. See ``energysim.analysis.plots``."""
        from energysim.analysis import plots

        if kind in ("level", "dataspace"):
            return plots.plot_breakdown(self, by=kind, ax=ax, path=path, **kw)
        if kind == "share":
            return plots.plot_level_share(self, ax=ax, path=path, **kw)
        raise ValueError(f"kind must be 'level', 'dataspace' or 'share', got {kind!r}")

"""``LayerEnergy``: the priced result of one layer, as reports show it: a tidy count table with one row per
(memory level, data space) -- ``reads``, ``fills``, ``updates`` (words, summed over utilized instances) and
``energy``, in the profile's ``energy_unit`` -- plus compute energy and named extra terms (leakage, network, codebook look-ups, ...). A layer's
energy is exactly the sum of its rows, its compute energy and its extra terms.

The count table is kept as plain records (``records``) and becomes a pandas DataFrame (``counts``) only when one
is asked for: an estimate that writes JSON never builds one, nor imports pandas (a quarter of a second). Sums
of energies are ``math.fsum`` (correctly rounded), so they do not depend on the pandas or numpy version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from energysim.arch import HardwareProfile
from energysim.model.pricing import network_energy
from energysim.model.stats import LayerStats

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


COUNT_COLUMNS = ["level", "dataspace", "reads", "fills", "updates", "energy"]

#: one row of the count table: (level, data space, reads, fills, updates, energy)
CountRecord = tuple


def _numbers(values: list) -> list:
    """A count column as pandas would hold it: ints if every value is an integer, else floats (as Python
    numbers, what a DataFrame column gives back)."""
    if all(isinstance(v, int) or (hasattr(v, "dtype") and v.dtype.kind in "iu") for v in values):
        return [int(v) for v in values]
    return [float(v) for v in values]


def _records(columns: list[list]) -> list[CountRecord]:
    """Rows from the six columns of ``COUNT_COLUMNS`` (count columns normalized as in a DataFrame)."""
    level, ds, reads, fills, updates, energy = columns
    return list(zip(level, ds, _numbers(reads), _numbers(fills), _numbers(updates), _numbers(energy)))


def global_buffer_levels(profile: HardwareProfile, dram: list[str] | None = None) -> list[str]:
    """The levels a chip's "global buffer" traffic covers: the outermost on-chip storage level and the levels of
    one instance stacked directly below it (the parts of a partitioned buffer, e.g. eyeriss-chip's ``GLB`` and
    ``GLB_filters``); empty without an on-chip level."""
    if dram is None:
        dram = [lv.name for lv in profile.levels if lv.cls == "dram"] or [profile.levels[0].name]
    top = next((i for i, lv in enumerate(profile.levels) if lv.name not in dram and lv.cls != "dummy"), None)
    if top is None:
        return []
    below = [i for i in range(top + 1, len(profile.levels)) if top in profile.stacked_above(i)]
    return [profile.levels[i].name for i in [top, *below]]


class LayerEnergy:
    """Energy and access counts of one layer. Units: words for counts, the profile's energy unit (pJ unless it
    says otherwise) for energy, cycles for time.

    ``counts`` may be given as a DataFrame with the ``COUNT_COLUMNS`` or as records ``(level, dataspace, reads,
    fills, updates, energy)``. Once the DataFrame exists (given, or built on first access of ``counts``) it is
    what every figure is computed from, so changing it in place changes the layer."""

    def __init__(self, name: str, kind: str, macs: int, counts, compute_energy: float, cycles: float,
                 utilization: float, extra: dict[str, float] | None = None, note: str = "",
                 dram_bytes: float | None = None, glb_bytes: float | None = None, latency_s: float | None = None,
                 active_pes: int | None = None):
        self.name = name
        self.kind = kind
        self.macs = macs
        self.counts = counts
        self.compute_energy = compute_energy
        self.cycles = cycles
        self.utilization = utilization
        self.extra: dict[str, float] = {} if extra is None else extra  # named extra terms
        self.note = note
        # traffic and time as a chip reports them (``with_traffic``): bytes moved at the DRAM level(s) and at the
        # global buffer (``global_buffer_levels``), reads + fills + updates at each value's width;
        # seconds at the profile's clock; PEs doing real work when the array is fullest (None: no MACs)
        self.dram_bytes = dram_bytes
        self.glb_bytes = glb_bytes
        self.latency_s = latency_s
        self.active_pes = active_pes

    @property
    def counts(self) -> pd.DataFrame:
        """The count table (``COUNT_COLUMNS``), built from the records on first access."""
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame(self._rows, columns=COUNT_COLUMNS)
            self._rows = None
        return self._frame

    @counts.setter
    def counts(self, value) -> None:
        if hasattr(value, "columns"):
            missing = set(COUNT_COLUMNS) - set(value.columns)
            if missing:
                raise ValueError(f"layer {self.name!r}: count table lacks columns {sorted(missing)}")
            self._frame, self._rows = value, None
        else:
            rows = [tuple(r) for r in value]
            bad = [r for r in rows if len(r) != len(COUNT_COLUMNS)]
            if bad:
                raise ValueError(f"layer {self.name!r}: count record {bad[0]!r} is not (level, dataspace, reads, "
                                 "fills, updates, energy)")
            self._frame, self._rows = None, _records([list(c) for c in zip(*rows)]) if rows else []

    @property
    def records(self) -> list[CountRecord]:
        """The count table's rows as tuples ``(level, dataspace, reads, fills, updates, energy)``."""
        if self._frame is None:
            return list(self._rows)
        return _records([self._frame[c].tolist() for c in COUNT_COLUMNS])

    @classmethod
    def from_stats(cls, name: str, kind: str, stats: LayerStats, profile: HardwareProfile,
                   labels: Mapping[str, str] | None = None) -> "LayerEnergy":
        """The report view of engine stats: totals over utilized instances; leakage and NoC as extra terms.
        ``labels`` renames data spaces for the report (e.g. ``{"Weights": "Inputs2"}``, see
        ``Layer.data_space_labels``)."""
        rows = stats.rows
        ds = [r["dataspace"] for r in rows]
        records = list(zip([r["level"] for r in rows], [labels.get(d, d) for d in ds] if labels else ds,
                           [r["reads_total"] for r in rows], [r["fills_total"] for r in rows],
                           [r["updates_total"] for r in rows], [r["energy"] for r in rows]))
        extra = {"leakage": stats.leak_energy} if stats.leak_energy else {}
        noc = network_energy(profile, ((r[0], r[2], r[4]) for r in records))
        if noc:
            extra["network"] = noc
        return cls(name=name, kind=kind, macs=stats.macs, counts=records, compute_energy=stats.mac_energy,
                   cycles=stats.cycles, utilization=stats.utilization, extra=extra)

    def with_traffic(self, profile: HardwareProfile, stats: LayerStats | None = None) -> "LayerEnergy":
        """Fill ``dram_bytes``, ``glb_bytes`` (the levels of ``global_buffer_levels``), ``latency_s`` and
        ``active_pes`` (from the engine's ``stats``, whose rows carry the bit width of each value when sparsity or
        bit widths were applied; else from the count table at each level's word width). Returns self."""
        widths = {lv.name: lv.word_bits or profile.word_bits for lv in profile.levels}
        dram = [lv.name for lv in profile.levels if lv.cls == "dram"] or [profile.levels[0].name]
        glb = global_buffer_levels(profile, dram)
        if stats is not None:
            recs = [(r["level"], r["reads_total"] + r["fills_total"] + r["updates_total"],
                     r.get("bits", widths[r["level"]])) for r in stats.rows]
            self.active_pes = stats.extra.get("active_pes")
        else:
            recs = [(lv, reads + fills + updates, widths.get(lv, profile.word_bits))
                    for lv, _, reads, fills, updates, _ in self.records]
        self.dram_bytes = float(sum(n * b / 8 for lv, n, b in recs if lv in dram))
        self.glb_bytes = float(sum(n * b / 8 for lv, n, b in recs if lv in glb)) if glb else 0.0
        self.latency_s = float(self.cycles) / profile.clock_hz
        return self

    def _energy_by(self, column: int) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for rec in self.records:
            groups.setdefault(rec[column], []).append(rec[5])
        return {k: math.fsum(v) for k, v in groups.items()}

    @property
    def energy_by_level(self) -> dict[str, float]:
        """Access energy per memory level, in the order the levels first appear in the count table."""
        return self._energy_by(0)

    @property
    def energy_by_dataspace(self) -> dict[str, float]:
        """Access energy per data space, in the order they first appear in the count table."""
        return self._energy_by(1)

    @property
    def memory_energy(self) -> float:
        return math.fsum(rec[5] for rec in self.records)

    @property
    def energy(self) -> float:
        return self.memory_energy + self.compute_energy + sum(self.extra.values())

    def row(self) -> dict:
        """A flat dict: totals, energy per level / data space, and every count."""
        records = self.records
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
        for lvl, ds, reads, fills, updates, _ in records:
            r[f"reads_{lvl}_{ds}"] = reads
            r[f"fills_{lvl}_{ds}"] = fills
            r[f"updates_{lvl}_{ds}"] = updates
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
            "counts": [dict(zip(COUNT_COLUMNS, rec)) for rec in self.records],
            "note": self.note,
            "dram_bytes": self.dram_bytes,
            "glb_bytes": self.glb_bytes,
            "latency_s": self.latency_s,
            "active_pes": self.active_pes,
        }

    def __repr__(self) -> str:
        return (f"LayerEnergy(name={self.name!r}, kind={self.kind!r}, macs={self.macs}, energy={self.energy!r}, "
                f"cycles={self.cycles!r}, rows={len(self.records)})")

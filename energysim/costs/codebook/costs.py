"""Codebook-aware weight costs: price a layer whose weights are shared through a codebook (DESIGN.md §6).

A layer compressed by vector sharing stores, per weight vector of ``s`` weights (a kernel row under the paper's
row grouping), one index of ``index_bits`` bits (or ``entropy_bits`` with an entropy code), and a codebook of
``K·s`` words. :class:`CodebookCosts` is a ``LayerHook`` for :func:`energysim.analysis.estimate.estimate`: it takes the
dense engine counts of a layer (the same mapping, the same loop nest) and changes them by four terms, each
switchable in :class:`CodebookTerms` and each visible on its own in the report:

(a) **index traffic** (``index_traffic``): weights travel through every storage level that keeps them (DRAM,
    buffer, NoC and the PE's weight scratchpad, which sits above the codebook LUT) as indices, not words. The
    counts are in weight words and one index stands for ``s`` of them, so a weight word moved as an index is
    ``index_bits / s`` bits instead of ``word_bits``: every Weights row is scaled by
    ``f = index_bits / (s · word_bits)`` (``word_bits`` of that level), in its counts and its energy (the energy
    of an access scales with the bits it moves). *Rounding*: the dense energy already rounds each instance's
    accesses up to whole blocks; the index stream is bit-packed, so the scaled rows are the dense rows times
    ``f`` exactly (fractional word-equivalents, no second rounding). The rows are relabelled data space
    ``WeightIndices``, so ``energy_by_dataspace`` shows the index energy separately; the NoC term
    (``extra['network']``) is recomputed from the scaled counts.
(b) **codebook reads** (``lut``): every weight word a MAC uses is read from the PE's codebook LUT:
    ``reads = MACs performed`` at ``profile.codebook.lut_read_pj`` pJ per word → ``extra['codebook_lut']``.
    A profile without ``codebook.lut_read_pj`` raises :class:`EnergySimError` naming the profile and field.
(c) **codebook load** (``codebook_load``): the ``K·s`` codebook words go once from the outermost level through
    every shared (single-instance) level that keeps Weights in the mapping (one read there, one fill below
    the outermost one, ``ceil(words / block)`` accesses), cross the NoC once (a multicast) where a level has
    ``network_hop_pj``, and are written into the LUT of every utilized PE (``K·s`` words × utilized PEs at
    ``codebook.lut_write_pj``, falling back to ``lut_read_pj``) → ``extra['codebook_load']``.
(d) **compute reuse** (``compute_reuse``, row stationary only): rows that share a codeword and meet the same
    input row produce the same 1-D convolution, so it is computed once. With the weight ``(M, C/G, R, S)``
    flattened row-major into ``rows = M·J`` vectors (``J = rows / M``), the vectors ``(m, j)`` of output
    channels ``m`` of one group ``g`` meet the same inputs (same input channel, filter row and column chunk);
    for each ``(g, j)`` only the *distinct* codewords among them are computed. Each vector contributes
    ``N·P·Q·s`` MACs, so ``MACs saved = (rows − Σ distinct) · N·P·Q·s``. Each reused vector still adds its
    result into its own output channel's partial sums: ``(rows − Σ distinct) · N·P·Q`` additions, each one
    read and one update of the innermost level that keeps Outputs (per-word energy = block energy / block
    size) → ``extra['reuse_psum_add']``. The saved MACs leave the compute energy (``compute_energy``)
    and the LUT reads of (b); the operand streams at the PE are kept as they are (conservative: under row
    stationarity the PE array streams the input rows anyway). ``LayerEnergy.macs`` stays the workload's MAC
    count, so energy per MAC is comparable with the dense estimate. The MACs saved are in the layer note and
    in :attr:`CodebookCosts.details`.

With every term off a layer is priced exactly as the dense estimate (the hook returns
``LayerEnergy.from_stats``). Layers without a record are dense. Cycles and leakage are not changed.

This module does not import ``dkm``; it reads :class:`energysim.costs.codebook.record.CodebookRecord` (or any
object with its fields). ``energysim.analysis.compressed.estimate_compressed`` runs a whole-network estimate
with this hook.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Literal, Mapping as TMapping

import numpy as np

from energysim.arch import HardwareProfile
from energysim.costs.codebook.record import records_by_layer
from energysim.errors import EnergySimError
from energysim.mapping.dataflow import row_stationary
from energysim.model.layer_energy import COUNT_COLUMNS, LayerEnergy
from energysim.model.mapping import Mapping
from energysim.model.pricing import network_energy
from energysim.model.problem import Problem
from energysim.model.stats import LayerStats
from energysim.workload import Layer, Network

#: The names of the four terms, in the order of :class:`CodebookTerms`' fields.
TERM_NAMES = ("index_traffic", "lut", "codebook_load", "compute_reuse")


@dataclass(frozen=True)
class CodebookTerms:
    """Which codebook-aware terms are priced (all on by default; see the module docstring)."""

    index_traffic: bool = True
    lut: bool = True
    codebook_load: bool = True
    compute_reuse: bool = True

    @classmethod
    def none(cls) -> "CodebookTerms":
        """Every term off: the dense estimate."""
        return cls(False, False, False, False)

    @classmethod
    def only(cls, *names: str) -> "CodebookTerms":
        bad = [n for n in names if n not in TERM_NAMES]
        if bad:
            raise EnergySimError(f"unknown codebook term(s) {bad}; known: {list(TERM_NAMES)}")
        return cls(**{n: n in names for n in TERM_NAMES})

    def any(self) -> bool:
        return any(asdict(self).values())


def distinct_codewords(assignments: np.ndarray, M: int, groups: int = 1) -> tuple[int, int]:
    """``(rows, Σ distinct)``: for a layer with ``M`` output channels in ``groups`` groups, the number of
    weight vectors and the sum, over every (group, column ``j``) of the ``(M, J)`` row-major view, of the
    distinct codewords among that group's output channels."""
    a = np.asarray(assignments).reshape(-1)
    rows = a.size
    if M < 1 or rows % M or M % groups:
        raise EnergySimError(f"{rows} assignments do not split into M={M} output channels in {groups} groups")
    J = rows // M
    v = np.sort(a.reshape(groups, M // groups, J), axis=1)  # sort across output channels of a group
    distinct = v.shape[0] * J + int(np.count_nonzero(np.diff(v, axis=1)))
    return rows, distinct


class CodebookCosts:
    """A ``LayerHook`` that prices codebook-compressed layers (see the module docstring).

    ``records``: codebook records (iterable or mapping by layer name). ``terms``: which terms to price.
    ``index_coding``: indices at ``index_bits`` ("fixed") or ``entropy_bits`` ("entropy"). ``dataflow``: the
    dataflow the estimate uses; compute reuse is modelled for row stationary only (``"rs"``, ``"rs-search"``,
    ``"rs-template"``; other dataflows: not applied, said in the layer note).
    After an estimate, :attr:`details` holds per layer the counts behind each term.
    """

    def __init__(self, records: Iterable | TMapping | None, terms: CodebookTerms = CodebookTerms(), *,
                 index_coding: Literal["fixed", "entropy"] = "fixed", dataflow: str | None = "rs"):
        if index_coding not in ("fixed", "entropy"):
            raise EnergySimError(f"index_coding must be 'fixed' or 'entropy', got {index_coding!r}")
        if not isinstance(terms, CodebookTerms):
            raise EnergySimError(f"terms must be a CodebookTerms, got {type(terms).__name__}")
        self.records = records_by_layer(records)
        self.terms = terms
        self.index_coding = index_coding
        self.dataflow = dataflow
        self.details: dict[str, dict] = {}

    # ---- checks ------------------------------------------------------------------------------------------
    def check(self, network: Network) -> None:
        """Every record names a MAC layer of ``network`` whose weights it covers."""
        layers = {l.name: l for l in network.mac_layers()}
        for name, rec in self.records.items():
            if name not in layers:
                raise EnergySimError(f"codebook record for layer {name!r}, which is not a MAC layer of "
                                     f"{network.name!r} (MAC layers: {', '.join(list(layers)[:8])}"
                                     f"{', ...' if len(layers) > 8 else ''})")
            self._check_record(layers[name], rec)

    @staticmethod
    def _check_record(layer: Layer, rec) -> None:
        if rec.rows * rec.vector_size != layer.weight_count:
            raise EnergySimError(
                f"codebook record for layer {layer.name!r}: rows·vector_size = {rec.rows}·{rec.vector_size} "
                f"does not cover the layer's {layer.weight_count} weights")
        if rec.k < 1:
            raise EnergySimError(f"codebook record for layer {layer.name!r}: k must be >= 1, got {rec.k}")

    def check_profile(self, profile: HardwareProfile) -> None:
        """Fail before any work when ``profile`` lacks an energy that a term switched on needs."""
        if self.terms.lut:
            self._lut_pj(profile, "lut_read_pj")
        if self.terms.codebook_load:
            self._lut_pj(profile, "lut_write_pj")

    def _lut_pj(self, profile: HardwareProfile, field: str) -> float:
        cb = getattr(profile, "codebook", None)
        v = getattr(cb, field, None) if cb is not None else None
        if field == "lut_write_pj" and v is None and cb is not None:
            v = cb.lut_read_pj
        if v is None:
            raise EnergySimError(
                f"profile {profile.name!r} has no codebook.lut_read_pj (pJ per codebook word read), needed by "
                f"the codebook {'LUT' if field == 'lut_read_pj' else 'load'} term; add a 'codebook: "
                "{lut_read_pj: ...}' section to the profile or turn the term off")
        return float(v)

    # ---- the hook ----------------------------------------------------------------------------------------
    def __call__(self, layer: Layer, problem: Problem, mapping: Mapping, stats: LayerStats,
                 profile: HardwareProfile) -> LayerEnergy:
        base = LayerEnergy.from_stats(layer.name, layer.kind, stats, profile)
        rec = self.records.get(layer.name)
        if rec is None or not self.terms.any():
            return base
        self._check_record(layer, rec)
        t = self.terms
        counts = base.counts.copy()
        extra = dict(base.extra)
        notes = []
        det: dict = {"k": rec.k, "vector_size": rec.vector_size, "rows": rec.rows, "macs": stats.macs}

        # (a) index traffic
        bits = float(rec.entropy_bits if self.index_coding == "entropy" else rec.index_bits)
        det["index_bits"] = bits
        if t.index_traffic:
            counts = counts.astype({c: float for c in ("reads", "fills", "updates", "energy")})
            dense_w = 0.0
            for i in counts.index[counts["dataspace"] == "Weights"]:
                lv = profile.level(counts.at[i, "level"])
                f = bits / (rec.vector_size * lv.word_bits)
                dense_w += counts.at[i, "energy"]
                for c in ("reads", "fills", "updates", "energy"):
                    counts.at[i, c] = counts.at[i, c] * f
                counts.at[i, "dataspace"] = "WeightIndices"
            noc_dense = extra.get("network", 0.0)
            noc = network_energy(profile, zip(counts["level"], counts["reads"], counts["updates"]))
            if noc:
                extra["network"] = noc
            else:
                extra.pop("network", None)
            idx = counts[counts["dataspace"] == "WeightIndices"]
            det["index_traffic_saved"] = dense_w - float(idx["energy"].sum()) + noc_dense - noc

        # (d) compute reuse (first: it changes the MACs the LUT serves)
        macs = stats.macs
        saved = 0
        if t.compute_reuse:
            if not row_stationary(self.dataflow):
                notes.append(f"compute reuse not applied ({self.dataflow} is not row stationary)")
            else:
                a = getattr(rec, "assignments", None)
                if a is None:
                    raise EnergySimError(f"codebook record for layer {layer.name!r} has no assignments; the "
                                         "compute-reuse term needs them (or turn it off)")
                if len(a) != rec.rows:
                    raise EnergySimError(f"codebook record for layer {layer.name!r}: {len(a)} assignments for "
                                         f"{rec.rows} rows")
                rows, distinct = distinct_codewords(a, layer.M, layer.groups)
                per_vec = layer.N * layer.P * layer.Q
                saved = (rows - distinct) * per_vec * rec.vector_size
                adds = (rows - distinct) * per_vec
                lv = _innermost(profile, mapping, problem, "Outputs")
                e_add = (lv.read_pj + lv.update_pj) / lv.block_size
                extra["reuse_psum_add"] = adds * e_add
                det.update(distinct_vectors=distinct, macs_saved=saved, psum_adds=adds, psum_level=lv.name)
                base_mac = stats.mac_energy / macs if macs else 0.0
                det["reuse_mac_saved"] = saved * base_mac
                notes.append(f"compute reuse saves {saved:,} of {macs:,} MACs ({100 * saved / max(macs, 1):.1f}%)")
        performed = macs - saved
        compute = base.compute_energy if not saved else stats.mac_energy * performed / macs

        # (b) codebook LUT reads
        if t.lut:
            e = self._lut_pj(profile, "lut_read_pj")
            extra["codebook_lut"] = performed * e
            det["lut_reads"] = performed

        # (c) codebook load
        if t.codebook_load:
            words = rec.k * rec.vector_size
            keeps = mapping.keeps(problem, profile)
            inst = stats.extra.get("utilized_instances", {})
            e_load, first = 0.0, True
            path = []
            for i, lv in enumerate(profile.levels):
                if "Weights" not in keeps[i] or lv.cls == "dummy" or inst.get(lv.name, 1) > 1:
                    continue
                B = lv.block_size
                e_load += math.ceil(words / B) * lv.read_pj + (0 if first else math.ceil(words / B) * lv.write_pj)
                if lv.network_hop_pj:
                    e_load += words * lv.network_hop_pj
                path.append(lv.name)
                first = False
            pes = mapping.utilized_pes()
            e_load += words * pes * self._lut_pj(profile, "lut_write_pj")
            extra["codebook_load"] = e_load
            det.update(codebook_words=words, load_path=path, pes=pes, lut_fills=words * pes)
            depth = profile.codebook.lut_depth_words if profile.codebook is not None else None
            if depth is not None and words > depth:
                notes.append(f"codebook of {words} words exceeds the {depth}-word LUT (re-loads not modelled)")
                det["lut_overflow"] = True

        self.details[layer.name] = det
        note = "; ".join([f"codebook K={rec.k}, s={rec.vector_size}, {bits:g}-bit indices", *notes])
        return LayerEnergy(layer.name, layer.kind, macs, counts[COUNT_COLUMNS], compute, base.cycles,
                           base.utilization, extra, note=note)




def _innermost(profile: HardwareProfile, mapping: Mapping, problem: Problem, ds: str):
    keeps = mapping.keeps(problem, profile)
    for i in range(len(profile.levels) - 1, -1, -1):
        if ds in keeps[i] and profile.levels[i].cls != "dummy":
            return profile.levels[i]
    raise EnergySimError(f"no level keeps {ds}")  # pragma: no cover - evaluate() would have failed first

"""Sparsity, zero handling, run-length coding and bit widths as a post-processing of the engine's counts.

The counting engine (``energysim.counts.evaluate``) counts dense accesses of 16-bit (profile ``word_bits``)
words. This module transforms its ``LayerStats`` (and the streaming model's counts for layers without MACs)
without touching the engine; with every density 1, no zero handling, no coding and the profile's own widths
the result is *exactly* the dense one.

**Densities** (fraction of non-zeros, per layer and data space ``Weights`` / ``Inputs`` / ``Outputs``) come
from, in order: ``SparseOptions.densities[layer]`` (explicit, e.g. a JSON file or ``measure_densities``), the
density of a real tensor given in ``SparseOptions.tensors[layer]``, ``SparseOptions.default_density``, the
profile's ``sparsity.default_density``, and 1.0. A density outside [0, 1] is an error naming the layer.

**Zero handling** (per data space, profile ``sparsity.gating`` / ``sparsity.skipping`` or the options):
with ``g`` the product of the densities of the gated/skipped data spaces,

- *gating*: MAC energy x g; at the innermost level keeping each *other* operand its reads to the MAC x g; at
  the innermost level keeping Outputs the updates x g and reads = max(updates' - distinct outputs, 0). The
  zero operand itself is still read (that is how the zero is detected) and the cycle is still spent.
- *skipping*: as gating, plus the skipped operand's own innermost reads x its density and the compute cycles
  x the skipped product (cycles = max(compute cycles', bandwidth-bound cycles')).

**Run-length coding** at the levels ``rlc_levels`` (default none; Eyeriss: ``["DRAM"]``) for Inputs and the
final Outputs: the traffic of the coded data space at that level is multiplied by
``coded bits / (elements x bits)``, where coded bits is the exact expectation for i.i.d. zeros
(``sparsity.rlc_expected_bits``) or the exact count of a real tensor (``sparsity.rlc_words_exact``). For
Outputs only the last write of each element (= the distinct outputs) is coded; partial-sum spills (more
updates, reads) stay dense. Layers without MACs get the same treatment of their streamed Inputs/Outputs.

**Bit widths** (``BitWidths``: weights / inputs / outputs bits; ``None`` = the level's ``word_bits``): a
level with ``word_bits`` wb and ``block_size`` B moves ``B * wb / b`` values of b bits per block access, so
the energy of ``n`` value accesses is ``ceil(n * b / (B * wb)) * E_block`` (energy per value scales with b);
capacity in values scales by ``wb / b`` (``effective_profile``: a shared level is sized for the widest data
space it keeps; a ``capacity_split`` share by its own data space); bandwidths (words of wb bits per cycle)
likewise. MAC energy at operand widths (bw, bi): the profile's ``mac.energy_pj_by_bits[max(bw, bi)]`` when
listed, else ``E_mac * scale`` with ``mac_scaling`` ``"quadratic"`` (bw*bi/wb^2, an array multiplier),
``"linear"`` ((bw+bi)/(2 wb)) or ``"none"``.

Counts after this transform are expected values (floats) in values of each data space's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import pandas as pd

from energysim.model.counts import LayerStats
from energysim.errors import EnergySimError
from energysim.arch.profile import DATA_SPACES, HardwareProfile
from energysim.costs.sparsity.rlc import (
    PAIRS_PER_WORD,
    RUN_BITS,
    WORD_BITS,
    _flat,
    rlc_expected_bits,
    rlc_words_exact,
    validate_densities,
    validate_density,
)

_KEY = {"weights": "Weights", "inputs": "Inputs", "outputs": "Outputs",
        "w": "Weights", "i": "Inputs", "o": "Outputs", "psums": "Outputs"}
MAC_SCALINGS = ("quadratic", "linear", "none")


def _ds_name(key: str, what: str = "data space") -> str:
    k = str(key)
    if k in DATA_SPACES:
        return k
    try:
        return _KEY[k.lower()]
    except KeyError:
        raise EnergySimError(f"unknown {what} {key!r}; use weights, inputs or outputs") from None


# ---------------------------------------------------------------------------------------------------------
# Bit widths
# ---------------------------------------------------------------------------------------------------------
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
                if not part:
                    continue
                if "=" not in part:
                    raise EnergySimError(f"bit widths {spec!r}: expected key=value pairs like w=8,i=8,o=16")
                k, v = part.split("=", 1)
                items[k] = v
        out: dict[str, int] = {}
        for k, v in items.items():
            ds = _ds_name(k, "bit-width key").lower()
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
    """pJ per MAC at the operand widths of ``bits`` (see the module docstring)."""
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


# ---------------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RLCFormat:
    """Run-length coding format: ``run_bits`` zero-run field, ``pairs_per_word`` (run, level) pairs per
    ``word_bits`` word (Eyeriss: 5 + 16 bits, 3 pairs per 64-bit word)."""

    run_bits: int = RUN_BITS
    pairs_per_word: int = PAIRS_PER_WORD
    word_bits: int = WORD_BITS


@dataclass
class SparseOptions:
    """What to apply on top of the dense counts (all defaults = dense, i.e. no change).

    Attributes:
        densities: ``{layer: {"inputs"|"outputs"|"weights": density}}`` (or a bare number = inputs and
            outputs), e.g. from ``measure_densities`` or a JSON file.
        default_density: per data space, for layers not listed.
        tensors: ``{layer: {"inputs"|"outputs": tensor}}``: real feature maps; run-length coded sizes are
            counted on them exactly, and their densities are used where none is given explicitly.
        gating, skipping: data spaces (``Weights``/``Inputs``) whose zeros gate / skip the MAC.
        rlc_levels: levels where Inputs/Outputs are run-length coded (e.g. ``["DRAM"]``).
        rlc_dataspaces: which of Inputs/Outputs are coded there.
        rlc: the coding format.
        bits: bit widths per data space.
        mac_scaling: how MAC energy scales with operand widths (quadratic | linear | none).
    """

    densities: Mapping[str, Any] = field(default_factory=dict)
    default_density: Mapping[str, float] = field(default_factory=dict)
    tensors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gating: tuple[str, ...] = ()
    skipping: tuple[str, ...] = ()
    rlc_levels: tuple[str, ...] = ()
    rlc_dataspaces: tuple[str, ...] = ("Inputs", "Outputs")
    rlc: RLCFormat = field(default_factory=RLCFormat)
    bits: BitWidths = field(default_factory=BitWidths)
    mac_scaling: str = "quadratic"

    def __post_init__(self):
        self.densities = validate_densities(self.densities or {})
        self.default_density = {_ds_name(k): validate_density("<default>", v, str(k))
                                for k, v in (self.default_density or {}).items()}
        self.gating = tuple(_ds_name(d) for d in self.gating)
        self.skipping = tuple(_ds_name(d) for d in self.skipping)
        for d in self.gating + self.skipping:
            if d == "Outputs":
                raise EnergySimError("gating/skipping on Outputs is not meaningful: a MAC gates on its operands "
                                     "(Weights, Inputs)")
        self.rlc_levels = tuple(self.rlc_levels)
        self.rlc_dataspaces = tuple(_ds_name(d) for d in self.rlc_dataspaces)
        if "Weights" in self.rlc_dataspaces:
            raise EnergySimError("run-length coding applies to feature maps (Inputs, Outputs), not Weights")
        self.bits = BitWidths.parse(self.bits)
        if self.mac_scaling not in MAC_SCALINGS:
            raise EnergySimError(f"unknown mac_scaling {self.mac_scaling!r}; choose one of {list(MAC_SCALINGS)}")

    @classmethod
    def from_profile(cls, profile: HardwareProfile, **overrides) -> "SparseOptions":
        """Options from the profile's ``sparsity`` section (if any), overridden by keyword arguments."""
        kw: dict[str, Any] = {}
        sp = profile.sparsity
        if sp is not None:
            kw.update(gating=tuple(sp.gating), skipping=tuple(sp.skipping), rlc_levels=tuple(sp.rlc_levels),
                      rlc_dataspaces=tuple(sp.rlc_dataspaces), default_density=dict(sp.default_density),
                      rlc=RLCFormat(sp.run_bits, sp.pairs_per_word, sp.rlc_word_bits))
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    @property
    def is_dense(self) -> bool:
        return (not self.densities and not self.default_density and not self.tensors and not self.gating
                and not self.skipping and not self.rlc_levels and self.bits.is_default)

    def density(self, layer: str, data_space: str, profile: HardwareProfile | None = None) -> float:
        """Non-zero fraction of ``data_space`` of ``layer`` (see the module docstring for the order)."""
        key = data_space.lower()
        d = self.densities.get(layer, {})
        if key in d:
            return d[key]
        t = self.tensors.get(layer, {}).get(key)
        if t is not None:
            x = _flat(t)
            return float((x != 0).sum()) / x.size if x.size else 1.0
        if data_space in self.default_density:
            return self.default_density[data_space]
        if profile is not None and profile.sparsity is not None and data_space in profile.sparsity.default_density:
            return profile.sparsity.default_density[data_space]
        return 1.0

    def rlc_ratio(self, layer: str, data_space: str, n_elements: int, bits: int,
                  profile: HardwareProfile | None = None) -> float:
        """Coded size / dense size of ``data_space`` of ``layer`` (dense size = elements x ``bits``).

        Exact count when a real tensor is given, else the exact expectation for i.i.d. zeros at the density.
        """
        f = self.rlc
        t = self.tensors.get(layer, {}).get(data_space.lower())
        if t is not None:
            x = _flat(t)
            if x.size == 0:
                return 1.0
            words = rlc_words_exact(x, run_bits=f.run_bits, pairs_per_word=f.pairs_per_word)
            return words * f.word_bits / (x.size * bits)
        if n_elements <= 0:
            return 1.0
        d = self.density(layer, data_space, profile)
        coded = rlc_expected_bits(int(n_elements), d, run_bits=f.run_bits, pairs_per_word=f.pairs_per_word,
                                  word_bits=f.word_bits)
        return coded / (n_elements * bits)


# ---------------------------------------------------------------------------------------------------------
# The transforms
# ---------------------------------------------------------------------------------------------------------
def _energy(lv, reads: float, fills: float, updates: float, bits: int) -> float:
    """Per-instance energy of value accesses of ``bits`` bits at level ``lv`` (blocks of B x wb bits)."""
    wb = lv.word_bits or bits
    per_block = lv.block_size * wb
    if bits == wb:  # exact integer path (identical to the engine for dense integer counts)
        blocks = lambda n: math.ceil(n / lv.block_size - 1e-9) if isinstance(n, float) else -(-n // lv.block_size)
    else:
        blocks = lambda n: math.ceil(n * bits / per_block - 1e-9)
    return blocks(reads) * lv.read_pj + blocks(fills) * lv.write_pj + blocks(updates) * lv.update_pj


def apply(stats: LayerStats, problem, profile: HardwareProfile, opts: SparseOptions,
          layer: str | None = None) -> LayerStats:
    """A new ``LayerStats`` with densities, zero handling, run-length coding and bit widths applied.

    ``profile`` is the profile the stats were counted on (``effective_profile`` of the real one when bit
    widths differ; energies and widths are the same). ``layer`` names the layer for densities (default
    ``stats.name``).
    """
    name = layer or stats.name
    levels = {lv.name: lv for lv in profile.levels}
    for lvn in opts.rlc_levels:
        if lvn not in levels:
            raise EnergySimError(f"run-length coding level {lvn!r} is not a level of profile {profile.name!r}: "
                                 f"{profile.level_names}")
    dens = {d: validate_density(name, opts.density(name, d, profile), d.lower()) for d in DATA_SPACES}
    gated = tuple(dict.fromkeys(opts.gating + opts.skipping))
    g = math.prod(dens[d] for d in gated) if gated else 1.0
    g_skip = math.prod(dens[d] for d in opts.skipping) if opts.skipping else 1.0

    rows = [dict(r) for r in stats.rows]
    innermost: dict[str, int] = {}
    for k, r in enumerate(rows):
        innermost[r["dataspace"]] = k  # rows come outer -> inner
    rlc_info: dict[str, float] = {}
    for k, r in enumerate(rows):
        ds, lvn = r["dataspace"], r["level"]
        lv = levels[lvn]
        wb = lv.word_bits or profile.word_bits
        b = opts.bits.of(ds, wb)
        reads, fills, updates = r["reads"], r["fills"], r["updates"]
        # zero handling at the level that feeds the MACs
        if g != 1.0 and innermost.get(ds) == k:
            if ds == "Outputs":
                distinct = updates - reads
                updates = updates * g
                reads = max(updates - distinct, 0.0)
            else:
                own = dens[ds] if ds in opts.skipping else 1.0
                others = math.prod(dens[d] for d in gated if d != ds)
                reads = reads * others * own
        # run-length coding of feature maps
        if lvn in opts.rlc_levels and ds in opts.rlc_dataspaces and ds in ("Inputs", "Outputs"):
            n = problem.tensor_size(ds) if problem is not None else 0
            ratio = opts.rlc_ratio(name, ds, n, b, profile)
            rlc_info[f"{lvn}.{ds}"] = ratio
            if ds == "Inputs":
                reads, fills, updates = reads * ratio, fills * ratio, updates * ratio
            else:
                distinct = max(min(updates - reads, updates), 0)  # last write of each element
                updates = (updates - distinct) + distinct * ratio
        inst = r["instances"]
        e = _energy(lv, reads, fills, updates, b) * inst
        r.update(reads=reads, fills=fills, updates=updates, reads_total=reads * inst, fills_total=fills * inst,
                 updates_total=updates * inst, energy_pj=e, bits=b)

    # cycles: compute (skipping) and bandwidth after coding / widths
    compute = stats.extra.get("compute_cycles", stats.cycles) * g_skip
    cycles = compute
    for lv in profile.levels:
        mine = [r for r in rows if r["level"] == lv.name]
        if not mine:
            continue
        wb = lv.word_bits or profile.word_bits
        rd = sum(r["reads"] * r["bits"] / wb for r in mine)
        wr = sum((r["fills"] + r["updates"]) * r["bits"] / wb for r in mine)
        if lv.read_bandwidth:
            cycles = max(cycles, rd / lv.read_bandwidth)
        if lv.write_bandwidth:
            cycles = max(cycles, wr / lv.write_bandwidth)
    cycles = int(math.ceil(cycles - 1e-9))
    if g_skip == 1.0 and not opts.rlc_levels and opts.bits.is_default:
        cycles = stats.cycles  # nothing that changes time: keep the engine's cycles exactly
    util_inst = stats.extra.get("utilized_instances", {})
    leak = {lv.name: lv.leak_pj * cycles * util_inst.get(lv.name, lv.instances)
            for lv in profile.levels if lv.leak_pj}
    mac_e = mac_energy_per_op(profile, opts.bits, opts.mac_scaling) * stats.macs * g
    if g == 1.0 and opts.bits.is_default:
        mac_e = stats.mac_energy_pj
    extra = dict(stats.extra)
    extra["sparse"] = {"densities": dens, "gated_fraction": g, "skipped_fraction": g_skip, "rlc_ratio": rlc_info,
                       "bits": {d: opts.bits.of(d, profile.word_bits) for d in DATA_SPACES}}
    return replace(stats, mac_energy_pj=mac_e, cycles=cycles,
                   utilization=stats.macs * g_skip / (cycles * profile.mac.instances) if cycles else 0.0,
                   rows=rows, leak_pj=leak, extra=extra)


def apply_streaming(le, layer, profile: HardwareProfile, opts: SparseOptions):
    """Run-length coding and bit widths on a layer without MACs (``estimate.streaming_energy`` counts)."""
    from energysim.analysis.report import LayerEnergy

    if opts.is_dense:
        return le
    levels = {lv.name: lv for lv in profile.levels}
    rows = []
    for r in le.counts.to_dict(orient="records"):
        lv = levels[r["level"]]
        ds = r["dataspace"]
        wb = lv.word_bits or profile.word_bits
        b = opts.bits.of(ds, wb)
        reads, fills, updates = r["reads"], r["fills"], r["updates"]
        if r["level"] in opts.rlc_levels and ds in opts.rlc_dataspaces:
            n = layer.input_count if ds == "Inputs" else layer.output_count
            ratio = opts.rlc_ratio(layer.name, ds, n, b, profile)
            reads, fills, updates = reads * ratio, fills * ratio, updates * ratio
        rows.append({**r, "reads": reads, "fills": fills, "updates": updates,
                     "energy_pj": _energy(lv, reads, fills, updates, b)})
    counts = pd.DataFrame(rows, columns=le.counts.columns)
    return LayerEnergy(le.name, le.kind, le.macs, counts, le.compute_energy_pj, le.cycles, le.utilization,
                       dict(le.extra_pj), le.note)


def sparse_hook(opts: SparseOptions, inner=None):
    """A ``LayerHook`` for ``estimate``: transforms the engine's stats, then prices them with ``inner``
    (another hook, e.g. codebook weights) or the default report view."""
    from energysim.analysis.estimate import layer_energy_from_stats

    def hook(layer, problem, mapping, stats, profile):
        s = apply(stats, problem, profile, opts, layer.name)
        return inner(layer, problem, mapping, s, profile) if inner else layer_energy_from_stats(layer, s, profile)

    return hook


def dram_bytes(stats: LayerStats, level: str = "DRAM") -> float:
    """Bytes moved at ``level`` (reads + fills + updates, all instances) at each row's bit width."""
    total = 0.0
    for r in stats.rows:
        if r["level"] == level:
            b = r.get("bits", 16)
            total += (r["reads_total"] + r["fills_total"] + r["updates_total"]) * b / 8
    return total


# ---------------------------------------------------------------------------------------------------------
# Measured densities for a whole network
# ---------------------------------------------------------------------------------------------------------
def measure_network_densities(module, inputs, network) -> dict[str, dict[str, float]]:
    """``sparsity.measure_densities`` plus the density of what each MAC layer actually stores.

    ``measure_densities`` sees a conv/linear output before its activation. When ``network`` applies an
    activation in place as the layer's outputs drain (``estimate.applied_in_place``), the stored output is
    the activation's output, so the layer's ``outputs`` density is replaced by the density measured at that
    activation module (ReLU and friends, hooked here under the names ``trace`` gives them).
    """
    import torch
    from torch import nn

    from energysim.analysis.estimate import applied_in_place
    from energysim.costs.sparsity.rlc import _batches, measure_densities

    dens = measure_densities(module, inputs)
    acts = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Threshold, nn.Hardswish, nn.GELU, nn.SiLU, nn.LeakyReLU)
    counts: dict[str, list[int]] = {}
    calls: dict[str, int] = {}

    def hook_for(qname):
        def hook(_mod, _args, out):
            k = calls.get(qname, 0) + 1
            calls[qname] = k
            if isinstance(out, torch.Tensor):
                c = counts.setdefault(qname if k == 1 else f"{qname}#{k}", [0, 0])
                c[0] += int(torch.count_nonzero(out))
                c[1] += out.numel()

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in module.named_modules() if isinstance(m, acts)]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for batch in _batches(inputs):
                calls.clear()
                module(batch[0] if isinstance(batch, (tuple, list)) else batch)
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    for layer in network:
        producer = applied_in_place(network, layer)
        if producer and producer in dens and layer.name in counts and counts[layer.name][1]:
            nz, n = counts[layer.name]
            dens[producer]["outputs"] = nz / n
    names = {l.name for l in network}
    return {k: v for k, v in dens.items() if k in names}

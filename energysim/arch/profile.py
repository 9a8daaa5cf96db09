"""Hardware profiles: the memory hierarchy and MAC array of an accelerator, read from YAML.

Units used throughout: energies in **pJ per access of one block** (a block is ``block_size`` words, i.e. one
vector access of the physical memory), capacities in **words**, widths in **bits**, bandwidths in **words per
cycle**, clock in **Hz**.

A profile lists storage levels from the outermost (DRAM) to the innermost (register files), then the MAC unit.
The spatial fan-out from one level to the next is derived from instance counts: a level with 1 instance above a
level with 168 instances (``mesh_x=14``, ``mesh_y=12``) fans out 14 x 12. A ``dummy`` level holds nothing; it
only marks where a spatial fan-out sits (Timeloop's ``dummy_storage``), e.g. between a global buffer and the
rows and columns of a PE array.

Example (abridged)::

    name: tiny
    clock_hz: 2.0e8
    word_bits: 16
    levels:
      - {name: DRAM, class: dram, read_pj: 200, write_pj: 200}
      - {name: RF, class: regfile, depth: 64, instances: 4, mesh_x: 4, read_pj: 1, write_pj: 1}
    mac: {energy_pj: 1, instances: 4, mesh_x: 4}
"""

from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from energysim.arch.fields import MODEL_CONFIG, Float, Int, file_safe, complete_mesh_x
from energysim.arch.held import held
from energysim.arch.validation import format_validation_error
from energysim.arch.yaml_strict import StrictLoader, one_line
from energysim.errors import EnergySimError

#: The data spaces of a CNN layer, in Timeloop's order.
DATA_SPACES: tuple[str, ...] = ("Weights", "Inputs", "Outputs")

LevelClass = Literal["dram", "sram", "regfile", "dummy", "other"]

#: Largest file read as a profile (the shipped ones are a few kB): a bigger file is a mistake, not a profile.
MAX_PROFILE_BYTES = 2**20
#: Fields of a storage level that a ``dummy`` level (which stores nothing) must leave unset.
_DUMMY_UNUSED = ("depth", "capacity_split", "read_pj", "write_pj", "update_pj", "leak_pj", "read_bandwidth",
                 "write_bandwidth", "network_hop_pj", "area_um2_per_bit")


class StorageLevel(BaseModel):
    """One storage level (all its instances share these specs).

    Attributes:
        name: unique level name, used by mappings and reports.
        cls: ``dram`` | ``sram`` | ``regfile`` | ``dummy`` | ``other`` (YAML key ``class``). ``dummy`` levels
            keep nothing and cost nothing; they only place a spatial fan-out.
        depth: capacity of one instance in words (Timeloop's *size* = rows x block_size). ``None`` = unbounded
            (DRAM).
        word_bits: bits per word (Timeloop's *datawidth*); ``None`` = the profile's ``word_bits``.
        block_size: words per physical access (Timeloop's width / datawidth). Energies are per block.
        instances: number of instances of this level (= ``mesh_x * mesh_y``).
        mesh_x, mesh_y: physical arrangement of the instances; ``mesh_x`` defaults to ``instances / mesh_y``.
        keeps: data spaces this level may hold (default: all; ``[]`` for dummy levels). A mapping may bypass
            more, never keep one outside this list.
        capacity_split: optional per-data-space capacity in words (partitioned buffers): each listed data
            space must fit its own share; the data spaces not listed share what is left of ``depth``
            (e.g. Eyeriss: 108 kB with 8 kB reserved for filters, the other 100 kB shared by ifmaps and psums).
        read_pj: energy of one block read (pJ).
        write_pj: energy of one block fill, i.e. a write of data coming from the parent (pJ).
        update_pj: energy of one block update, i.e. a write of a partial sum coming back from a child (pJ);
            defaults to ``write_pj``.
        leak_pj: leakage per cycle per instance (pJ).
        read_bandwidth, write_bandwidth: words per cycle per instance; ``None`` = unlimited.
        multiple_buffering: capacity multiplier reserved for double buffering (tiles must fit
            ``depth / multiple_buffering``).
        network_hop_pj: optional energy per word per hop on the network below this level (pJ). Recorded for
            profiles that know it; the counting engine does not price network hops yet (Timeloop's reference
            cases have zero network energy).
        area_um2_per_bit: optional silicon area per stored bit of one instance (um^2), used only by the area
            model (``energysim.arch.area``); ``None`` = the class default there (SRAM / register file, scaled to
            ``technology``; DRAM and dummy levels are off-chip or empty and count 0).
    """

    model_config = ConfigDict(**MODEL_CONFIG, populate_by_name=True)

    name: str = Field(min_length=1)
    cls: LevelClass = Field("sram", alias="class")
    depth: Int | None = Field(None, ge=1)
    word_bits: Int | None = Field(None, ge=1)
    block_size: Int = Field(1, ge=1)
    instances: Int = Field(1, ge=1)
    mesh_x: Int | None = Field(None, ge=1)
    mesh_y: Int = Field(1, ge=1)
    keeps: list[str] | None = None
    capacity_split: dict[str, Int] | None = None
    read_pj: Float | None = Field(None, ge=0)
    write_pj: Float | None = Field(None, ge=0)
    update_pj: Float | None = Field(None, ge=0)
    leak_pj: Float = Field(0.0, ge=0)
    read_bandwidth: Float | None = Field(None, gt=0)
    write_bandwidth: Float | None = Field(None, gt=0)
    multiple_buffering: Float = Field(1.0, ge=1)
    network_hop_pj: Float | None = Field(None, ge=0)
    area_um2_per_bit: Float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> "StorageLevel":
        self.mesh_x = complete_mesh_x(self.instances, self.mesh_x, self.mesh_y)
        if self.cls == "dummy":
            if self.keeps:
                raise ValueError(f"a dummy level keeps nothing, got keeps={self.keeps}")
            # a dummy level stores nothing and costs nothing: a size or a cost given for one would be ignored
            unused = {f: getattr(self, f) for f in _DUMMY_UNUSED if getattr(self, f) not in (None, 0, 0.0)}
            if unused:
                raise ValueError(f"a dummy level stores nothing and costs nothing; it takes none of {unused}")
            self.keeps = []
            self.read_pj = self.read_pj or 0.0
            self.write_pj = self.write_pj or 0.0
        else:
            for f in ("read_pj", "write_pj"):
                if getattr(self, f) is None:
                    raise ValueError(f"missing energy {f} (pJ per {self.block_size}-word block access)")
        if self.update_pj is None:
            self.update_pj = self.write_pj
        if self.keeps is not None:
            bad = [d for d in self.keeps if d not in DATA_SPACES]
            if bad:
                raise ValueError(f"keeps has unknown data space(s) {bad}; known: {list(DATA_SPACES)}")
        if self.capacity_split:
            for d, words in self.capacity_split.items():
                if d not in DATA_SPACES:
                    raise ValueError(f"capacity_split has unknown data space {d!r}")
                if words < 0:
                    raise ValueError(f"capacity_split[{d}] = {words} must be >= 0")
            if self.depth is None:
                raise ValueError(f"capacity_split {self.capacity_split} on a level without a depth (unbounded): "
                                 "a split needs a capacity to split")
            if sum(self.capacity_split.values()) > self.depth:
                raise ValueError(f"capacity_split {self.capacity_split} reserves more than depth={self.depth} words")
            not_kept = [d for d in self.capacity_split if d not in self.kept()]
            if not_kept:
                raise ValueError(f"capacity_split reserves words for {not_kept}, which this level does not keep "
                                 f"(keeps={self.kept()})")
        return self

    def kept(self) -> list[str]:
        """The data spaces this level may hold."""
        return list(DATA_SPACES) if self.keeps is None else list(self.keeps)

    def capacity_groups(self, kept) -> list[tuple[tuple[str, ...], int | None]]:
        """How the kept data spaces share this level: ``[(data spaces, usable words), ...]``; the tiles of
        each group must fit together. ``None`` = unbounded."""
        kept = [d for d in kept]
        if not self.capacity_split:
            return [(tuple(kept), self.capacity())] if kept else []
        groups = [((d,), self.capacity(d)) for d in kept if d in self.capacity_split]
        rest = tuple(d for d in kept if d not in self.capacity_split)
        if rest:
            left = None if self.depth is None else self.depth - sum(self.capacity_split.values())
            groups.append((rest, None if left is None else int(left / self.multiple_buffering)))
        return groups

    def capacity(self, data_space: str | None = None) -> int | None:
        """Usable words of one instance (for one data space when the capacity is split); None = unbounded."""
        if self.capacity_split and data_space is not None and data_space in self.capacity_split:
            return int(self.capacity_split[data_space] / self.multiple_buffering)
        if self.depth is None:
            return None
        return int(self.depth / self.multiple_buffering)


class MacUnit(BaseModel):
    """The arithmetic units (one MAC each).

    Attributes:
        name: label in reports (default ``mac``).
        energy_pj: energy of one multiply-accumulate (pJ) at the profile's precision.
        energy_pj_by_bits: optional energies keyed by operand width in bits, for precision sweeps.
        instances, mesh_x, mesh_y: number and arrangement of MAC units.
        word_bits: operand width in bits; ``None`` = the profile's ``word_bits``.
        area_um2: optional area of one MAC unit (um^2), used only by the area model (``energysim.arch.area``);
            ``None`` = a default from the operand width, scaled to the profile's ``technology``.
    """

    model_config = ConfigDict(**MODEL_CONFIG)

    name: str = "mac"
    energy_pj: Float = Field(ge=0)
    energy_pj_by_bits: dict[Annotated[Int, Field(ge=1)], Annotated[Float, Field(ge=0)]] | None = None
    instances: Int = Field(1, ge=1)
    mesh_x: Int | None = Field(None, ge=1)
    mesh_y: Int = Field(1, ge=1)
    word_bits: Int | None = Field(None, ge=1)
    area_um2: Float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _mesh(self) -> "MacUnit":
        self.mesh_x = complete_mesh_x(self.instances, self.mesh_x, self.mesh_y)
        return self

    def energy_at(self, bits: int | None = None) -> float:
        """pJ per MAC at ``bits`` operand width (falls back to ``energy_pj``)."""
        if bits is not None and self.energy_pj_by_bits and bits in self.energy_pj_by_bits:
            return self.energy_pj_by_bits[bits]
        return self.energy_pj


class SparsitySupport(BaseModel):
    """Optional zero handling and feature-map coding of an accelerator (see ``energysim.costs.sparsity``).

    Absent (``None``) on a profile = dense processing, exactly the engine's counts.

    Attributes:
        gating: data spaces whose zero operands *gate* the MAC: the MAC energy and the register-file reads
            and psum updates that MAC would cause are skipped, the cycle is not (Eyeriss gates on zero inputs).
        skipping: data spaces whose zero operands are *skipped*: as gating, plus the zero operand's own
            innermost read and the cycle.
        rlc_levels: storage levels at which Inputs and Outputs (final outputs, not partial sums) are stored
            run-length coded (e.g. ``[DRAM]``); their traffic there shrinks to the coded size.
        rlc_dataspaces: which of Inputs / Outputs are coded at ``rlc_levels``.
        run_bits, pairs_per_word, rlc_word_bits: the coding format (Eyeriss: 5-bit run + 16-bit level, three
            pairs per 64-bit word).
        default_density: non-zero fraction per data space used when a layer has no explicit density.
        network_densities: measured non-zero fractions per network and layer, ``{network: {layer: {inputs:
            d, outputs: d, weights: d}}}`` (e.g. the Eyeriss chip's AlexNet zero fractions); ``estimate`` uses
            them for a network of that name when no densities are given.
    """

    model_config = ConfigDict(**MODEL_CONFIG)

    gating: list[str] = Field(default_factory=list)
    skipping: list[str] = Field(default_factory=list)
    rlc_levels: list[str] = Field(default_factory=list)
    rlc_dataspaces: list[str] = Field(default_factory=lambda: ["Inputs", "Outputs"])
    run_bits: Int = Field(5, ge=1)
    pairs_per_word: Int = Field(3, ge=1)
    rlc_word_bits: Int = Field(64, ge=1)
    default_density: dict[str, Float] = Field(default_factory=dict)
    network_densities: dict[str, dict[str, dict[str, Float]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "SparsitySupport":
        for net, layers in self.network_densities.items():
            for layer, dens in layers.items():
                for k, v in dens.items():
                    if k not in ("inputs", "outputs", "weights"):
                        raise ValueError(f"network_densities[{net}][{layer}] has unknown key {k!r}; known: "
                                         "inputs, outputs, weights")
                    if not 0.0 <= v <= 1.0:
                        raise ValueError(f"network_densities[{net}][{layer}][{k}] = {v!r} must be in [0, 1]")
        for what in ("gating", "skipping", "rlc_dataspaces"):
            bad = [d for d in getattr(self, what) if d not in DATA_SPACES]
            if bad:
                raise ValueError(f"{what} has unknown data space(s) {bad}; known: {list(DATA_SPACES)}")
        for d, v in self.default_density.items():
            if d not in DATA_SPACES:
                raise ValueError(f"default_density has unknown data space {d!r}")
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"default_density[{d}] = {v!r} must be in [0, 1]")
        return self


class MapperSupport(BaseModel):
    """Optional mapping facts of an accelerator: what its mapping space holds beyond the default one, and how
    hard to search it (``energysim.mapping.search`` reads these when no ``MapperOptions`` are given).

    Attributes:
        max_spatial_dims: dimensions per mesh axis and fan-out (default 2). Eyeriss stacks PE sets of
            different channels and filters down its rows: R x C x M on Y is 3.
        spatial_candidates, tile_cap: search effort (``MapperOptions`` fields of the same names).
        pad: dimensions whose bound a mapping may pad, with the largest padding as a fraction of the bound
            (``{P: 0.05}``: 55 output rows may run as 56): the array runs the phantom iterations with idle
            PEs, which the engine counts as work (``Mapping.padding``).
        bypass: per storage level, data spaces that may also bypass it (searched with and without; Eyeriss
            streams filters that do not fit its filter buffer from DRAM to the PEs).
        spatial_full: per mesh axis (``X``/``Y``), dimensions unrolled whole over that axis when some spatial
            unrolling can (Eyeriss's PE sets: ``{Y: [R]}``, every filter row on its own PE row).
        pe_temporal: dimensions whose temporal loops all sit at PE-level storage (row stationary: ``[S]``, a
            whole filter row in the PE).
        min_pe_fraction: spatial unrollings using fewer PEs than this fraction of the most possible (padding
            included) are not searched: the accelerator maps for throughput first.
    """

    model_config = ConfigDict(**MODEL_CONFIG)

    max_spatial_dims: Int | None = Field(None, ge=1, le=4)
    spatial_candidates: Int | None = Field(None, ge=0)
    tile_cap: Int | None = Field(None, ge=1)
    pad: dict[str, Float] = Field(default_factory=dict)
    bypass: dict[str, list[str]] = Field(default_factory=dict)
    spatial_full: dict[Literal["X", "Y"], list[str]] = Field(default_factory=dict)
    pe_temporal: list[str] = Field(default_factory=list)
    min_pe_fraction: Float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> "MapperSupport":
        for d, f in self.pad.items():
            if not 0.0 < f <= 1.0:
                raise ValueError(f"pad[{d}] = {f!r} must be a fraction in (0, 1]")
        for lvl, spaces in self.bypass.items():
            bad = [d for d in spaces if d not in DATA_SPACES]
            if bad:
                raise ValueError(f"bypass[{lvl}] has unknown data space(s) {bad}; known: {list(DATA_SPACES)}")
        return self


class CodebookUnit(BaseModel):
    """Optional per-PE codebook (lookup table) of a profile, for codebook-compressed weights
    (``energysim.costs.codebook``). All fields are optional; a cost model that needs a missing one says so.

    Attributes:
        lut_read_pj: energy of reading one weight word from the PE's codebook LUT (pJ per word).
        lut_write_pj: energy of writing one codebook word into the LUT when the codebook is loaded (pJ per
            word); ``None`` = ``lut_read_pj``.
        lut_depth_words: capacity of one PE's LUT in words; ``None`` = unbounded. Informational: a layer whose
            codebook is larger is flagged in the report (the cost model does not re-load codebooks).
    """

    model_config = ConfigDict(**MODEL_CONFIG)

    lut_read_pj: Float | None = Field(None, ge=0)
    lut_write_pj: Float | None = Field(None, ge=0)
    lut_depth_words: Int | None = Field(None, ge=1)


_CAPACITY_FIELDS = {"name": True, "description": True, "levels": {"__all__": {"depth", "capacity_split"}}}



class HardwareProfile(BaseModel):
    """An accelerator: storage levels (outer -> inner) and the MAC unit.

    Attributes:
        name: profile name (the YAML file stem for shipped profiles).
        description: free text, sources of the numbers.
        technology: process node, e.g. ``"32nm"``.
        clock_hz: clock frequency (Hz), used to turn cycles into seconds.
        energy_unit: what the energies are in: ``pJ`` (default), or a normalized unit for profiles in relative
            costs (e.g. ``"RF access"`` for Eyeriss's normalized energies); reports and figures use it.
        word_bits: default word width in bits for levels that do not set their own.
        levels: storage levels, outermost first.
        mac: the arithmetic unit.
        sparsity: optional zero handling / run-length coding support (``SparsitySupport``); ``None`` = dense.
        codebook: optional per-PE codebook LUT costs (``CodebookUnit``; YAML key ``codebook``), used only to
            price codebook-compressed weights (``energysim.costs.codebook``); ``None`` when not known.
        mapper: optional mapping facts and search effort (``MapperSupport``); ``None`` = the mapper's defaults.
    """

    model_config = ConfigDict(**MODEL_CONFIG)

    name: Annotated[str, AfterValidator(file_safe)] = Field(min_length=1)
    description: str = ""
    technology: str = ""
    clock_hz: Float = Field(1e9, gt=0)
    energy_unit: str = Field("pJ", min_length=1)
    word_bits: Int = Field(16, ge=1)
    levels: list[StorageLevel] = Field(min_length=1)
    mac: MacUnit
    sparsity: SparsitySupport | None = None
    codebook: CodebookUnit | None = None
    mapper: MapperSupport | None = None

    @model_validator(mode="after")
    def _hierarchy(self) -> "HardwareProfile":
        names = [l.name for l in self.levels]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate level name(s) {dup}")
        if self.mapper is not None:
            for lvl, spaces in self.mapper.bypass.items():
                if lvl not in names[1:]:
                    raise ValueError(f"mapper.bypass names level {lvl!r}, which is not an inner storage level of "
                                     f"this profile: {names[1:]}")
                kept = self.levels[names.index(lvl)].kept()
                if any(d not in kept for d in spaces):
                    raise ValueError(f"mapper.bypass[{lvl}] = {spaces}: level {lvl!r} keeps only {kept}")
        chain = [(l.name, l.instances, l.mesh_x, l.mesh_y) for l in self.levels]
        chain.append((self.mac.name, self.mac.instances, self.mac.mesh_x, self.mac.mesh_y))
        for (pn, pi, px, py), (cn, ci, cx, cy) in zip(chain, chain[1:]):
            if ci % pi or cx % px or cy % py:
                raise ValueError(
                    f"level {cn!r} has instances={ci} (mesh {cx}x{cy}) which is not a multiple of the "
                    f"{pi} (mesh {px}x{py}) instances of its parent {pn!r}"
                )
        for l in self.levels:
            if l.word_bits is None:
                l.word_bits = self.word_bits
        if self.mac.word_bits is None:
            self.mac.word_bits = self.word_bits
        return self

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = "profile") -> "HardwareProfile":
        """Validate a plain dict; errors become one ``EnergySimError`` naming the field path and value."""
        if not isinstance(data, dict):
            raise EnergySimError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EnergySimError(f"{source}: {format_validation_error(exc, data)}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "HardwareProfile":
        """Load and validate a profile YAML file."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > MAX_PROFILE_BYTES:
                raise EnergySimError(f"hardware profile {str(path)!r} is {size:,} bytes; a profile is at most "
                                     f"{MAX_PROFILE_BYTES:,} (the shipped ones are a few kB)")
            data = yaml.load(path.read_text(), Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
        except UnicodeDecodeError:
            raise EnergySimError(f"hardware profile {str(path)!r} is not UTF-8 text") from None
        except OSError as exc:
            raise EnergySimError(f"cannot read hardware profile {str(path)!r}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise EnergySimError(f"hardware profile {str(path)!r} is not valid YAML: {one_line(exc)}") from None
        return cls.from_dict(data, source=f"hardware profile {str(path)!r}")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(by_alias=True, exclude_none=True), sort_keys=False)

    # ---- queries ------------------------------------------------------------------------------------
    def levels_key(self) -> str:
        """A digest (BLAKE2b, 128 bits, hex) of the profile as JSON without its name, description and the levels'
        capacities (``depth``, ``capacity_split``): of everything that counting and pricing a mapping depend on
        (capacity decides only whether it fits). The designs of a sweep that differ only in buffer sizes share
        it; memos keyed by it stay small."""
        return held(self, "levels_key", lambda: hashlib.blake2b(
            self.model_dump_json(exclude=_CAPACITY_FIELDS).encode(), digest_size=16).hexdigest())

    def as_json(self) -> str:
        """``model_dump_json()``, held while ``unchanged_profiles`` is in effect."""
        return held(self, "json", self.model_dump_json)


    def capacity_shape(self) -> tuple:
        """Per level, the data spaces its capacity is split by, and whether it is unbounded or empty: how its
        capacity groups are made up (``StorageLevel.capacity_groups``), without their sizes."""
        return tuple((tuple(sorted(lv.capacity_split or ())), lv.capacity() is None, lv.capacity() == 0)
                     for lv in self.levels)

    def level(self, name: str) -> StorageLevel:
        for l in self.levels:
            if l.name == name:
                return l
        raise EnergySimError(f"profile {self.name!r} has no level {name!r}; levels: {[l.name for l in self.levels]}")

    def level_index(self, name: str) -> int:
        return [l.name for l in self.levels].index(self.level(name).name)

    @property
    def level_names(self) -> list[str]:
        return [l.name for l in self.levels]

    def stacked_above(self, i: int) -> list[int]:
        """The on-chip levels of one instance stacked directly above level ``i`` (innermost first; no DRAM, dummy
        or fan-out in between), when ``i`` is such a level too: the other parts of a buffer split into levels,
        e.g. eyeriss-chip's ``GLB`` above ``GLB_filters``. Empty otherwise."""
        def part(lv) -> bool:
            return lv.instances == 1 and lv.cls not in ("dram", "dummy")

        out: list[int] = []
        if not part(self.levels[i]):
            return out
        j = i - 1
        while j >= 0 and part(self.levels[j]):
            out.append(j)
            j -= 1
        return out

    def fanout(self, i: int) -> tuple[int, int]:
        """Spatial fan-out (x, y) from one instance of level ``i`` to the next level (or the MACs)."""
        p = self.levels[i]
        c = self.levels[i + 1] if i + 1 < len(self.levels) else self.mac
        return c.mesh_x // p.mesh_x, c.mesh_y // p.mesh_y

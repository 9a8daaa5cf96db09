"""Design points of a sweep and what each does to the base profile (see ``energysim.analysis.sweep``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError


@dataclass(frozen=True)
class Design:
    """One grid point; ``None`` = keep the base profile's value."""

    pe: tuple[int, int] | None = None  # (rows, cols)
    glb_kb: float | None = None
    rf_words: int | None = None
    bits: int | None = None

    def label(self) -> str:
        parts = []
        if self.pe:
            parts.append(f"pe{self.pe[0]}x{self.pe[1]}")
        if self.glb_kb is not None:
            parts.append(f"glb{self.glb_kb:g}kB")
        if self.rf_words is not None:
            parts.append(f"rf{self.rf_words}")
        if self.bits is not None:
            parts.append(f"{self.bits}b")
        return "_".join(parts) or "base"


def _split(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise EnergySimError(f"sweep: --{what} is empty; give comma-separated values")
    return items


def parse_pe(text: str) -> tuple[int, int]:
    try:
        r, c = text.lower().split("x")
        r, c = int(r), int(c)
    except ValueError:
        raise EnergySimError(f"sweep: PE array {text!r} is not ROWSxCOLS (e.g. 12x14)") from None
    if r < 1 or c < 1:
        raise EnergySimError(f"sweep: PE array {text!r} needs rows and columns >= 1")
    return r, c


def _num(text: str, what: str, kind=float, lo=None, lo_open=False):
    try:
        v = kind(text)
    except ValueError:
        raise EnergySimError(f"sweep: --{what} value {text!r} is not {'an integer' if kind is int else 'a number'}"
                             ) from None
    if not math.isfinite(v):
        raise EnergySimError(f"sweep: --{what} value {text!r} is not a finite number")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise EnergySimError(f"sweep: --{what} value {text!r} must be {'>' if lo_open else '>='} {lo}")
    return v


def make_grid(pe: str | None = None, glb_kb: str | None = None, rf_words: str | None = None,
              bits: str | None = None) -> list[Design]:
    """The cartesian product of the comma-separated values (axes left out keep the base value)."""
    pes = [parse_pe(t) for t in _split(pe, "pe")] if pe is not None else [None]
    glbs = [_num(t, "glb-kb", lo=0, lo_open=True) for t in _split(glb_kb, "glb-kb")] if glb_kb is not None else [None]
    rfs = [_num(t, "rf-words", int, lo=1) for t in _split(rf_words, "rf-words")] if rf_words is not None else [None]
    bs = [_num(t, "bits", int, lo=1) for t in _split(bits, "bits")] if bits is not None else [None]
    for what, vals in (("pe", pes), ("glb-kb", glbs), ("rf-words", rfs), ("bits", bs)):
        dup = sorted({str(v) for v in vals if vals.count(v) > 1})
        if dup:  # the same design twice would be mapped twice and listed twice under one label
            raise EnergySimError(f"sweep: --{what} lists {', '.join(dup)} more than once")
    return [Design(*v) for v in itertools.product(pes, glbs, rfs, bs)]


def check_grid(base: HardwareProfile, designs: list[Design]) -> None:
    """Every design's profile can be made from ``base`` (cheap, before any mapping): else ``EnergySimError``
    naming the design and what is wrong with its value. (A valid design that a layer does not fit is a result,
    not an error: it is kept in the table as ``unmappable``.)"""
    for d in designs:
        make_profile(base, d)


def make_profile(base: HardwareProfile, design: Design) -> HardwareProfile:
    """The base profile with ``design``'s values; ``EnergySimError`` naming the design when invalid."""
    d = base.model_dump(by_alias=True, exclude_none=True)
    levels = d["levels"]
    mac = d["mac"]
    base_bits = base.word_bits
    if design.bits is not None:
        b = design.bits
        if b < 1:
            raise EnergySimError(f"design {design.label()}: bits = {b} must be >= 1")
        for lv, blv in zip(levels, base.levels):
            old = blv.word_bits or base_bits
            new = max(1, round(old * b / base_bits))
            width = blv.block_size * old
            bs = max(1, width // new)
            scale = bs * new / width
            lv["word_bits"] = new
            lv["block_size"] = bs
            for f in ("read_pj", "write_pj", "update_pj"):
                if f in lv:
                    lv[f] = lv[f] * scale
            if blv.depth is not None:
                lv["depth"] = max(1, blv.depth * old // new)
            if blv.capacity_split:
                lv["capacity_split"] = {k: v * old // new for k, v in blv.capacity_split.items()}
            for f in ("read_bandwidth", "write_bandwidth"):
                if f in lv:
                    lv[f] = lv[f] * old / new
        old_mac = base.mac.word_bits or base_bits
        new_mac = max(1, round(old_mac * b / base_bits))
        if base.mac.energy_pj_by_bits and new_mac in base.mac.energy_pj_by_bits:
            mac["energy_pj"] = base.mac.energy_pj_by_bits[new_mac]
        else:
            mac["energy_pj"] = base.mac.energy_at(old_mac) * (new_mac / old_mac) ** 2
        mac["word_bits"] = new_mac
        d["word_bits"] = b
    if design.glb_kb is not None:
        cands = [i for i, lv in enumerate(base.levels)
                 if lv.cls not in ("dram", "dummy") and lv.instances == 1 and lv.depth is not None and i > 0]
        if not cands:
            raise EnergySimError(f"design {design.label()}: profile {base.name!r} has no global buffer to resize")
        g = max(cands, key=lambda i: base.levels[i].depth)
        lv = levels[g]
        if design.glb_kb <= 0:
            raise EnergySimError(f"design {design.label()}: glb_kb = {design.glb_kb:g} must be > 0")
        new_depth = int(design.glb_kb * 1024 * 8 // lv["word_bits"])
        if new_depth < 1:
            raise EnergySimError(f"design {design.label()}: a {design.glb_kb:g} kB buffer holds no "
                                 f"{lv['word_bits']}-bit word")
        if lv.get("capacity_split"):
            lv["capacity_split"] = {k: max(0, v * new_depth // lv["depth"]) for k, v in lv["capacity_split"].items()}
        lv["depth"] = new_depth
    if design.rf_words is not None:
        pe_lv = [i for i, lv in enumerate(base.levels)
                 if lv.cls not in ("dram", "dummy") and lv.instances == base.mac.instances and lv.depth is not None]
        if not pe_lv:
            raise EnergySimError(f"design {design.label()}: profile {base.name!r} has no PE-level storage")
        if design.rf_words < len(pe_lv):
            raise EnergySimError(f"design {design.label()}: rf_words = {design.rf_words} is fewer than the "
                                 f"{len(pe_lv)} PE-level stores of {base.name!r}")
        total = sum(levels[i]["depth"] for i in pe_lv)
        for i in pe_lv:
            levels[i]["depth"] = max(1, round(levels[i]["depth"] * design.rf_words / total))
    if design.pe is not None:
        rows, cols = design.pe
        X0, Y0 = base.mac.mesh_x, base.mac.mesh_y
        for node, blv in list(zip(levels, base.levels)) + [(mac, base.mac)]:
            x, y = blv.mesh_x, blv.mesh_y
            nx = cols if x == X0 else x
            ny = rows if y == Y0 else y
            if (x != X0 and x != 1) or (y != Y0 and y != 1):
                raise EnergySimError(f"design {design.label()}: level {blv.name!r} has a {x}x{y} mesh, neither "
                                     f"1 nor the {X0}x{Y0} MAC array along an axis; cannot resize the array")
            node["mesh_x"], node["mesh_y"], node["instances"] = nx, ny, nx * ny
    d["name"] = f"{base.name}:{design.label()}"
    return HardwareProfile.from_dict(d, source=f"design {design.label()}")

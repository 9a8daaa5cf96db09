"""Design-space sweeps: size an accelerator (PE array, global buffer, register files, bit width) for a network.

A sweep takes a base profile and a grid of design values; every design is a modified copy of the base
profile, mapped layer by layer with the mapper (``energysim.mapper``; objective energy, cycles or edp) and
scored by total energy (pJ), cycles and area (mm^2, ``energysim.area``). The result is a table of all designs
(invalid ones are kept with their error), the Pareto front over (energy, cycles, area), and the designs that
meet an energy / latency / area budget.

How a design value changes the base profile:

* ``pe = (rows, cols)``: the MAC array becomes ``cols`` (mesh X) x ``rows`` (mesh Y); every level whose mesh
  spans the full base array along an axis is resized along that axis (PE-level storage, array dummies).
* ``glb_kb``: depth of the global buffer (the largest single-instance on-chip level) in kB at its word
  width; a ``capacity_split`` is scaled in proportion.
* ``rf_words``: words per PE of PE-level storage (levels with one instance per MAC); several PE stores share
  it in the base profile's proportions (at least one word each).
* ``bits``: the datapath width. Physical widths stay the same: capacities in bits, block widths in bits and
  bandwidths in bits per cycle are kept, so words per block / depth / bandwidth change by old/new bits; the
  energy of one block access is kept when the block width in bits is kept, else scaled by bits moved. Levels
  with a wider word than the base (e.g. 16-bit partial sums over 8-bit data) keep that ratio. MAC energy:
  ``mac.energy_pj_by_bits`` when it has the width, else scaled by (new/old)^2 (multiplier-dominated).

Designs run in a local process pool (``workers``) or on a Dask distributed scheduler (``dask``: an address, a
``distributed.Client``, or ``"local"`` for a LocalCluster); results are identical either way.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from energysim.arch.area import area_mm2
from energysim.errors import EnergySimError
from energysim.arch.profile import HardwareProfile, load_profile

OBJECTIVES = ("energy", "cycles", "edp")


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


# ------------------------------------------------------------------------------------------------------
# grid parsing
# ------------------------------------------------------------------------------------------------------
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


def _num(text: str, what: str, kind=float):
    try:
        v = kind(text)
    except ValueError:
        raise EnergySimError(f"sweep: --{what} value {text!r} is not a number") from None
    return v


def make_grid(pe: str | None = None, glb_kb: str | None = None, rf_words: str | None = None,
              bits: str | None = None) -> list[Design]:
    """The cartesian product of the comma-separated values (axes left out keep the base value)."""
    pes = [parse_pe(t) for t in _split(pe, "pe")] if pe is not None else [None]
    glbs = [_num(t, "glb-kb") for t in _split(glb_kb, "glb-kb")] if glb_kb is not None else [None]
    rfs = [_num(t, "rf-words", int) for t in _split(rf_words, "rf-words")] if rf_words is not None else [None]
    bs = [_num(t, "bits", int) for t in _split(bits, "bits")] if bits is not None else [None]
    return [Design(*v) for v in itertools.product(pes, glbs, rfs, bs)]


# ------------------------------------------------------------------------------------------------------
# applying a design to a profile
# ------------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------------
# evaluating one design
# ------------------------------------------------------------------------------------------------------
def network_cost(network, profile: HardwareProfile, objective: str = "energy",
                 dataflow: str = "search") -> dict:
    """Energy (pJ), cycles and per-layer facts of ``network`` on ``profile``, every MAC layer mapped by search."""
    from energysim.analysis.estimate import _in_place, applied_in_place, layer_energy_from_stats, streaming_energy
    from energysim.mapping.search.mapper import search
    from energysim.model.problem import Problem

    energy, cycles, macs = 0.0, 0, 0
    for layer in network:
        producer = applied_in_place(network, layer)
        if producer:
            le = _in_place(layer, producer)
        elif layer.has_macs:
            problem = Problem.from_layer(layer)
            r = search(problem, profile, dataflow, objective)
            le = layer_energy_from_stats(layer, r.stats, profile)
            macs += r.stats.macs
        elif layer.kind == "unsupported":
            raise EnergySimError(f"layer {layer.name!r} is an unsupported op ({layer.op})")
        else:
            le = streaming_energy(layer, profile)
        energy += le.energy_pj
        cycles += int(le.cycles)
    return {"energy_pj": energy, "cycles": cycles, "macs": macs}


def evaluate_design(index: int, design: Design, network, base: dict, objective: str, dataflow: str) -> dict:
    """One row of the sweep table (never raises for a bad design: the error goes in the row)."""
    t0 = time.perf_counter()
    row = {"design": index, "label": design.label(),
           "pe_rows": design.pe[0] if design.pe else None, "pe_cols": design.pe[1] if design.pe else None,
           "glb_kb": design.glb_kb, "rf_words": design.rf_words, "bits": design.bits,
           "pes": None, "energy_pj": math.nan, "cycles": math.nan, "area_mm2": math.nan, "edp_pj_cycles": math.nan,
           "status": "ok", "error": ""}
    try:
        prof = make_profile(HardwareProfile.model_validate(base), design)
        row["pes"] = prof.mac.instances
        row["area_mm2"] = area_mm2(prof)
        cost = network_cost(network, prof, objective, dataflow)
        row["energy_pj"] = cost["energy_pj"]
        row["cycles"] = cost["cycles"]
        row["edp_pj_cycles"] = cost["energy_pj"] * cost["cycles"]
    except EnergySimError as exc:
        row["status"] = "invalid" if row["pes"] is None else "unmappable"
        row["error"] = str(exc).replace("\n", "; ")
    row["seconds"] = time.perf_counter() - t0
    return row


# process-pool worker state (set once per worker by the initializer)
_STATE: dict = {}


def _init_worker(network, base, objective, dataflow):
    _STATE.update(network=network, base=base, objective=objective, dataflow=dataflow)


def _run_in_worker(index: int, design: Design) -> dict:
    s = _STATE
    return evaluate_design(index, design, s["network"], s["base"], s["objective"], s["dataflow"])


def _dask_client(dask, workers: int):
    """(client, cleanup) for ``dask``: a Client, ``"local"`` or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise EnergySimError("--dask needs the dask extra: pip install 'deep-kmeans-energy[dask]'") from None
    if not isinstance(dask, str):
        return dask, lambda: None
    if dask == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        return client, lambda: (client.close(), cluster.close())
    try:
        client = Client(dask, timeout="5s")
    except (OSError, TimeoutError) as exc:
        raise EnergySimError(f"cannot reach Dask scheduler {dask!r}: {exc}") from None
    return client, client.close


def run_sweep(network, base: str | HardwareProfile, designs: list[Design], objective: str = "energy",
              dataflow: str = "search", workers: int = 1, dask=None,
              progress: Callable[[int, int, dict], None] | None = None) -> pd.DataFrame:
    """Evaluate every design; a DataFrame with one row per design, in grid order."""
    if objective not in OBJECTIVES:
        raise EnergySimError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    if not (dataflow == "search" or dataflow in ("rs-search", "ws-search", "os-search")):
        raise EnergySimError(f"sweep dataflow {dataflow!r}: choose search, rs-search, ws-search or os-search")
    if not designs:
        raise EnergySimError("sweep: the design grid is empty")
    base_prof = load_profile(base)
    base_d = base_prof.model_dump(by_alias=True, exclude_none=True)
    n = len(designs)
    rows: list[dict] = []

    def done(r):
        rows.append(r)
        if progress:
            progress(len(rows), n, r)

    if dask is not None:
        client, cleanup = _dask_client(dask, workers)
        try:
            from distributed import as_completed

            net_f = client.scatter(network, broadcast=True)
            futs = [client.submit(evaluate_design, i, d, net_f, base_d, objective, dataflow, pure=False)
                    for i, d in enumerate(designs)]
            for f in as_completed(futs):
                done(f.result())
        finally:
            cleanup()
    elif workers > 1 and n > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed as cf_done
        import multiprocessing as mp

        ctx = mp.get_context("spawn") if sys.platform == "darwin" else mp.get_context()
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(network, base_d, objective, dataflow)) as ex:
            futs = [ex.submit(_run_in_worker, i, d) for i, d in enumerate(designs)]
            for f in cf_done(futs):
                done(f.result())
    else:
        for i, d in enumerate(designs):
            done(evaluate_design(i, d, network, base_d, objective, dataflow))
    return pd.DataFrame(sorted(rows, key=lambda r: r["design"]))


# ------------------------------------------------------------------------------------------------------
# Pareto front, budgets, outputs
# ------------------------------------------------------------------------------------------------------
PARETO_COLUMNS = ("energy_pj", "cycles", "area_mm2")


def pareto_front(df: pd.DataFrame, columns=PARETO_COLUMNS) -> pd.DataFrame:
    """Rows (status ok) not dominated in ``columns`` (all minimized); duplicates of a point all stay."""
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return ok.copy()
    v = ok[list(columns)].to_numpy(dtype=float)
    le = (v[:, None, :] <= v[None, :, :]).all(axis=2)
    lt = (v[:, None, :] < v[None, :, :]).any(axis=2)
    dominated = (le & lt).any(axis=0)
    return ok[~dominated].sort_values(list(columns)).copy()


def within_budget(df: pd.DataFrame, max_energy_pj=None, max_cycles=None, max_area_mm2=None) -> pd.DataFrame:
    ok = df[df["status"] == "ok"]
    m = np.ones(len(ok), dtype=bool)
    if max_energy_pj is not None:
        m &= ok["energy_pj"].to_numpy() <= max_energy_pj
    if max_cycles is not None:
        m &= ok["cycles"].to_numpy() <= max_cycles
    if max_area_mm2 is not None:
        m &= ok["area_mm2"].to_numpy() <= max_area_mm2
    return ok[m].copy()


def plot_pareto(df: pd.DataFrame, front: pd.DataFrame, path: str | Path, title: str = "",
                energy_label: str = "\u00b5J") -> Path:
    """Energy vs cycles (colour = area) with the Pareto front marked; PNG at 200 dpi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = df[df["status"] == "ok"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    for ax, (xcol, xlabel) in zip(axes, (("cycles", "latency (cycles)"), ("area_mm2", "area (mm$^2$)"))):
        sc = ax.scatter(ok[xcol], ok["energy_pj"] / 1e6, c=ok["area_mm2"] if xcol == "cycles" else ok["cycles"],
                        cmap="viridis", s=18, alpha=0.8, linewidths=0)
        ax.scatter(front[xcol], front["energy_pj"] / 1e6, facecolors="none", edgecolors="crimson", s=60,
                   linewidths=1.2, label="Pareto (energy, cycles, area)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"energy ({energy_label})")
        xs = ok[xcol].to_numpy(dtype=float)
        if len(xs) and xs.min() > 0 and xs.max() / xs.min() > 20:
            ax.set_xscale("log")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4)) if ax.get_xscale() == "linear" else None
        ax.grid(alpha=0.3, which="both")
        cb = fig.colorbar(sc, ax=ax)
        cb.set_label("area (mm$^2$)" if xcol == "cycles" else "cycles")
        ax.legend(loc="upper right", fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=200)
    plt.close(fig)
    return path


def write_outputs(out: str | Path, df: pd.DataFrame, front: pd.DataFrame, budget: pd.DataFrame,
                  title: str = "", energy_label: str = "\u00b5J") -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"designs": out / "designs.csv", "pareto": out / "pareto.csv", "budget": out / "budget.csv",
             "figure": out / "pareto.png"}
    df.to_csv(paths["designs"], index=False)
    front.to_csv(paths["pareto"], index=False)
    budget.to_csv(paths["budget"], index=False)
    plot_pareto(df, front, paths["figure"], title, energy_label)
    return paths

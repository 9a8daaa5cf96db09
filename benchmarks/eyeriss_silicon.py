"""Reproduce the Eyeriss chip's measured AlexNet CONV1-5 numbers (Chen et al., JSSC 2017, Table V).

AlexNet (grouped CONV2/4/5 as the chip ran it), batch 4, on the ``eyeriss-chip`` profile. Prints ours vs
measured per layer: DRAM MB, global-buffer MB, processing latency (ms at 200 MHz) and active PEs, with the
error of each.

- **default path** (the result): ``energysim.estimate(trace_model("alexnet", batch=4), "eyeriss-chip")``: the
  profile's own mapping search (dataflow ``rs``, the profile's ``mapper`` section: padded output rows, R filter
  rows per PE set, whole filter rows per PE, array filled first) and its ``sparsity`` defaults (run-length
  coded feature maps in DRAM, zero gating of inputs, the chip's measured input zeros as densities). No hand
  mapping. The same numbers as ``energysim estimate alexnet --batch 4 --profile eyeriss-chip --json``.
- **hand mappings** (reference): an explicit row-stationary mapping per layer written from the chip's
  published mapping parameters (``EYERISS_PARAMS``: n images, p filters and q channels per PE, e output rows
  per PE set, r channel sets and t filter sets in the array, m output channels whose psums stay in the
  global buffer), counted on the same profile with the same sparsity defaults. ``hand_mapping`` builds them
  for ``eyeriss-chip`` and for ``eyeriss-65nm`` (whose X and Y fan-outs are two levels);
  ``benchmarks/mapper_quality.py`` compares their energy with the mapper's.

Run: ``.venv/bin/python benchmarks/eyeriss_silicon.py [--markdown] [--show-mappings] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from energysim import trace_model
from energysim.analysis.estimate import estimate
from energysim.arch import load_profile
from energysim.costs.sparsity import SparseOptions, apply, effective_profile
from energysim.mapping.dataflow import mapping_for
from energysim.model.counts import evaluate
from energysim.model.layer_energy import LayerEnergy, global_buffer_levels
from energysim.model.mapping import LevelMapping, Mapping
from energysim.model.pricing import network_energy
from energysim.model.problem import Problem

PROFILE = "eyeriss-chip"
LAYERS = ["features.0", "features.4", "features.8", "features.10", "features.12"]
LABELS = ["CONV1", "CONV2", "CONV3", "CONV4", "CONV5"]
#: measured (JSSC 2017 Table V): DRAM MB, global buffer MB, processing latency ms, active PEs
MEASURED = {
    "dram_mb": [5.0, 4.0, 3.0, 2.1, 1.3],
    "glb_mb": [18.5, 77.6, 50.2, 37.4, 24.9],
    "latency_ms": [16.5, 39.2, 21.8, 16.0, 10.0],
    "pes": [154, 135, 156, 156, 156],
}
#: the issue's bounds: relative error allowed per column
BOUNDS = {"dram_mb": 0.25, "glb_mb": 0.25, "latency_ms": 0.25, "pes": 0.05}

#: Eyeriss's mapping parameters for AlexNet (JSSC 2017, Table IV, as we read it):
#: n images / pass, p filters per PE, q channels per PE, e output rows per PE set (its width), r PE sets of
#: different channels, t PE sets of different filters, m output channels kept (as psums) in the global buffer.
EYERISS_PARAMS = {
    "CONV1": dict(n=1, p=16, q=1, e=7, r=1, t=2, m=96),
    "CONV2": dict(n=1, p=16, q=2, e=27, r=1, t=1, m=64),
    "CONV3": dict(n=4, p=16, q=4, e=13, r=1, t=4, m=64),
    "CONV4": dict(n=4, p=16, q=3, e=13, r=2, t=2, m=64),
    "CONV5": dict(n=4, p=16, q=3, e=13, r=2, t=2, m=64),
}


def sparse_options(profile) -> SparseOptions:
    """The profile's ``sparsity`` defaults with its measured AlexNet densities (what ``estimate`` applies)."""
    opts = SparseOptions.from_profile(profile)
    measured = profile.sparsity.network_densities.get("alexnet") if profile.sparsity is not None else None
    return replace(opts, densities=dict(measured)) if measured else opts


def hand_mapping(label: str, layer, profile) -> Mapping:
    """An explicit row-stationary mapping of ``layer`` from the published parameters, for ``profile``
    (``eyeriss-chip``: one 14 x 12 fan-out from the GLB; ``eyeriss-65nm``: X from the GLB, Y from
    ``PE_columns``). Validated on the real problem; raises ``EnergySimError`` where it does not fit.

    The array is 12 rows (Y) x 14 columns (X). A PE set is R rows x e columns: R (filter rows) down Y,
    P (output rows) across X. Sets of different filters (t) / channels (r) are placed side by side or
    stacked. Inside a PE: psum spad p filters, filter spad q channels x S, ifmap spad q x S (sliding along
    Q). The global buffer keeps m output channels' psums for n images and the whole output plane of a
    strip; Q is its innermost loop (the ifmap slides). What does not fit is iterated from DRAM.

    Output rows that do not divide the set width are padded (``Mapping.padding``; CONV1: 55 -> 56 = 8 strips
    of 7, the last strip with an idle column; CONV2: 27 -> 28, the 5 x 27 set folded onto 10 rows x 14
    columns with one phantom column): the engine counts the phantom rows as work.

    On ``eyeriss-chip`` the buffer is two levels (``GLB``: ifmaps and psums over ``GLB_filters``): the loops sit at
    the filter part, except CONV1's M loop, at the ifmap/psum part, which streams each pass's filters through
    the filter part as the chip does.
    """
    problem = Problem.from_layer(layer)
    k = EYERISS_PARAMS[label]
    b = dict(problem.bounds)
    G = b.get("G", 1)
    stream = {}  # loops of the buffer's ifmap/psum part that stream the filters (eyeriss-chip)
    if label == "CONV1":
        # set 11 x 7, two filter sets side by side: X = P7 x M2, Y = R11; 8 strips of 7 rows
        pp = 56
        x, y = {"P": 7, "M": 2}, {"R": 11}
        pe = {"psum": {"M": k["p"]}, "filter": {"S": 11}}  # q = 1 channel
        glb_t = {"M": b["M"] // (k["p"] * k["t"]), "Q": b["Q"]}
        glb_perm = ["M", "Q"]
        dram_t = {"N": 4, "P": pp // 7, "C": 3}
        dram_perm = ["N", "P", "C"]
        # 96 x 11 x 11 filters of a channel exceed the 8 kB filter part: the chip streams each pass's 32
        # filters from DRAM through it. eyeriss-chip: the M loop at the ifmap/psum part (GLB), above the
        # filter part; eyeriss-65nm (one GLB level): a GLB bypass (the staging is not counted)
        stream = {"M": glb_t["M"]}
        glb_keep = ["Inputs", "Outputs"]
    elif label == "CONV2":
        # set 5 x 27 folded onto 2 x (5 x 14): X = P14, Y = R5 x P2
        pp = 28
        x, y = {"P": 14}, {"R": 5, "P": 2}
        pe = {"psum": {"M": k["p"]}, "filter": {"C": k["q"], "S": 5}}
        glb_t = {"M": k["m"] // k["p"], "Q": b["Q"]}
        glb_perm = ["M", "Q"]
        dram_t = {"N": 4, "G": G, "M": b["M"] // k["m"], "C": b["C"] // k["q"]}
        dram_perm = ["N", "G", "M", "C"]
        glb_keep = None
    else:
        # set 3 x 13; r channel sets and t filter sets stacked: X = P13, Y = R3 x C r x M t
        pp = b["P"]
        x = {"P": 13}
        y = {"R": 3, **({"C": k["r"]} if k["r"] > 1 else {}), "M": k["t"]}
        pe = {"psum": {"M": k["p"]}, "filter": {"C": k["q"], "S": 3}}
        mg = k["m"] // (k["p"] * k["t"])
        glb_t = {**({"M": mg} if mg > 1 else {}), "N": k["n"], "Q": b["Q"]}
        glb_perm = [d for d in ("M", "N", "Q") if d in glb_t]
        dram_t = {**({"G": G} if G > 1 else {}), "M": b["M"] // k["m"], "C": b["C"] // (k["q"] * k["r"])}
        dram_perm = list(dram_t)
        glb_keep = None
    levels = [
        LevelMapping(level="DRAM", temporal={d: f for d, f in dram_t.items() if f > 1},
                     permutation=[d for d in dram_perm if dram_t.get(d, 1) > 1]),
    ]
    if "PE_columns" in profile.level_names:
        levels += [LevelMapping(level="GLB", temporal=glb_t, permutation=glb_perm, spatial_x=x, keep=glb_keep),
                   LevelMapping(level="PE_columns", spatial_y=y)]
    elif "GLB_filters" in profile.level_names:
        # the buffer's two parts: its loops at the filter part (below the ifmap/psum part: filters resident
        # across them), but those that stream the filters at the ifmap/psum part
        inner = {d: f for d, f in glb_t.items() if d not in stream}
        levels += [LevelMapping(level="GLB", temporal=stream, permutation=[d for d in glb_perm if d in stream]),
                   LevelMapping(level="GLB_filters", temporal=inner, permutation=[d for d in glb_perm if d in inner],
                                spatial_x=x, spatial_y=y)]
    else:
        levels += [LevelMapping(level="GLB", temporal=glb_t, permutation=glb_perm, spatial_x=x, spatial_y=y,
                                keep=glb_keep)]
    levels += [
        LevelMapping(level="ifmap_spad"),
        LevelMapping(level="filter_spad", temporal=pe["filter"], permutation=list(pe["filter"])),
        LevelMapping(level="psum_spad", temporal=pe["psum"], permutation=["M"]),
    ]
    m = Mapping(levels=levels, padding={"P": pp} if pp != b["P"] else {})
    m.validate_for(problem, profile)
    return m


def objective_energy(stats, profile) -> float:
    """What the mapping search minimizes: the engine's (dense) energy plus the NoC hop energy."""
    return stats.energy + network_energy(profile, ((r["level"], r["reads_total"], r["updates_total"])
                                                   for r in stats.rows))


def glb_shared_words(m: Mapping, problem: Problem, profile) -> int:
    """Words of Inputs + Outputs tiles in the global buffer (the chip shares 100 kB between them)."""
    pp = m.padded_problem(problem)
    ext = m.tile_extents(pp, profile)[profile.level_index("GLB")]
    keeps = m.keeps(pp, profile)[profile.level_index("GLB")]
    return sum(pp.data_space(d).tile_size(ext) for d in ("Inputs", "Outputs") if d in keeps)


def level_mb(stats, level: str, dataspace: str | None = None) -> float:
    """MB moved at ``level`` (reads + fills + updates, at each row's bit width), optionally of one data space."""
    return sum((r["reads_total"] + r["fills_total"] + r["updates_total"]) * r.get("bits", 16) / 8
               for r in stats.rows if r["level"] == level and dataspace in (None, r["dataspace"])) / 1e6


def _row(label, layer, le: LayerEnergy, m: Mapping, problem, prof, dense_e=None) -> dict:
    return {"layer": label, "dram_mb": le.dram_bytes / 1e6, "glb_mb": le.glb_bytes / 1e6,
            "latency_ms": le.latency_s * 1e3, "pes": le.active_pes, "energy": le.energy, "dense_energy": dense_e,
            "glb_words": glb_shared_words(m, problem, prof), "mapping": m.to_text(m.padded_problem(problem), prof)}


def default_rows(profile=PROFILE) -> list[dict]:
    """The default path: ``estimate`` on AlexNet batch 4 with profile ``eyeriss-chip`` (its search, its
    sparsity defaults), the five conv layers. ``profile`` may be a variant of it."""
    net = trace_model("alexnet", batch=4)
    rep = estimate(net, profile)
    by_name = {le.name: le for le in rep.layers}
    base = load_profile(profile)
    opts = sparse_options(base)
    prof = effective_profile(base, opts.bits)
    rows = []
    for label, name in zip(LABELS, LAYERS):
        problem = Problem.from_layer(net[name])
        m = mapping_for(problem, prof, "rs")  # the search's cached result: the mapping estimate used
        dense = evaluate(problem, prof, m, name=name)
        s = apply(dense, problem, prof, opts, name)
        row = _row(label, net[name], by_name[name], m, problem, prof, objective_energy(dense, prof))
        row["split"] = split(s, prof)
        assert abs(row["glb_mb"] - sum(row["split"]["GLB"].values())) < 1e-6 * row["glb_mb"]
        rows.append(row)
    return rows


def split(stats, profile) -> dict:
    """MB per data space at DRAM and at the global buffer, both parts (sparsity applied)."""
    glb = global_buffer_levels(profile)
    return {"DRAM": {ds: level_mb(stats, "DRAM", ds) for ds in ("Weights", "Inputs", "Outputs")},
            "GLB": {ds: sum(level_mb(stats, lv, ds) for lv in glb) for ds in ("Weights", "Inputs", "Outputs")}}


def hand_rows() -> list[dict]:
    """The hand mappings on ``eyeriss-chip`` with the profile's sparsity defaults."""
    net = trace_model("alexnet", batch=4)
    base = load_profile(PROFILE)
    opts = sparse_options(base)
    prof = effective_profile(base, opts.bits)
    rows = []
    for label, name in zip(LABELS, LAYERS):
        layer = net[name]
        problem = Problem.from_layer(layer)
        m = hand_mapping(label, layer, prof)
        dense = evaluate(problem, prof, m, name=name)
        s = apply(dense, problem, prof, opts, name)
        le = LayerEnergy.from_stats(name, layer.kind, s, prof, layer.data_space_labels).with_traffic(prof, s)
        row = _row(label, layer, le, m, problem, prof, objective_energy(dense, prof))
        row["split"] = split(s, prof)
        rows.append(row)
    return rows


def errors(rows) -> list[tuple[str, str, float]]:
    """``(layer, column, relative error)`` for every figure outside the issue's bounds (``BOUNDS``)."""
    out = []
    for i, r in enumerate(rows):
        for k, bound in BOUNDS.items():
            e = r[k] / MEASURED[k][i] - 1
            if abs(e) > bound:
                out.append((r["layer"], k, e))
    return out


def table(rows, markdown: bool = False) -> str:
    hdr = ["layer", "DRAM MB ours", "chip", "err", "GLB MB ours", "chip", "err", "latency ms ours", "chip", "err",
           "PEs ours", "chip", "err"]
    lines = []
    if markdown:
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
    else:
        lines.append(" ".join(f"{h:>15}" if i else f"{h:<6}" for i, h in enumerate(hdr)))
    tot = {k: 0.0 for k in ("dram_mb", "glb_mb", "latency_ms")}

    def err(v, meas, k):
        e = v / meas - 1
        s = f"{100 * e:+.0f}%"
        return (f"**{s}**" if markdown else s + " !") if abs(e) > BOUNDS[k] else s

    for i, r in enumerate(rows):
        cells = [r["layer"]]
        for k, fmt in (("dram_mb", "{:.2f}"), ("glb_mb", "{:.1f}"), ("latency_ms", "{:.1f}")):
            meas = MEASURED[k][i]
            tot[k] += r[k]
            cells += [fmt.format(r[k]), fmt.format(meas), err(r[k], meas, k)]
        cells += [str(r["pes"]), str(MEASURED["pes"][i]), err(r["pes"], MEASURED["pes"][i], "pes")]
        lines.append(("| " + " | ".join(cells) + " |") if markdown else
                     " ".join(f"{c:>15}" if j else f"{c:<6}" for j, c in enumerate(cells)))
    cells = ["total"]
    for k, fmt in (("dram_mb", "{:.2f}"), ("glb_mb", "{:.1f}"), ("latency_ms", "{:.1f}")):
        meas = sum(MEASURED[k])
        cells += [fmt.format(tot[k]), fmt.format(meas), f"{100 * (tot[k] / meas - 1):+.0f}%"]
    cells += ["", "", ""]
    lines.append(("| " + " | ".join(cells) + " |") if markdown else
                 " ".join(f"{c:>15}" if j else f"{c:<6}" for j, c in enumerate(cells)))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--show-mappings", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the default path (search cache cleared)")
    a = ap.parse_args(argv)
    from energysim.mapping.search.cache import clear_cache

    times = []
    for _ in range(max(1, a.repeat)):
        clear_cache()
        t0 = time.perf_counter()
        rows = default_rows()
        times.append(time.perf_counter() - t0)
    print(f"== default path: estimate(trace_model('alexnet', batch=4), {PROFILE!r}) "
          "(dataflow rs search, the profile's sparsity defaults) ==\n")
    print(table(rows, a.markdown))
    bad = errors(rows)
    print("\noutside the bounds (25 % DRAM/GLB/latency, 5 % PEs): "
          + (", ".join(f"{l} {k} {100 * e:+.0f}%" for l, k, e in bad) if bad else "none"))
    print("GLB Inputs+Outputs tiles (words, the chip's 100 kB part holds 51200): "
          + ", ".join(f"{r['layer']} {r['glb_words']}" for r in rows))
    print(f"default path wall time over {len(times)} runs (trace + search + count, search cache cleared): "
          f"min {min(times):.2f} s, median {statistics.median(times):.2f} s")
    hand = hand_rows()
    print("\n== reference: hand mappings from the chip's published parameters (same profile and sparsity) ==\n")
    print(table(hand, a.markdown))
    print("\nsearch objective (dense energy + NoC, RF-access units): "
          + ", ".join(f"{d['layer']} default {d['dense_energy']:.4g} / hand {h['dense_energy']:.4g}"
                      for d, h in zip(rows, hand)))
    print("\nwhere the traffic goes (MB after coding; W / I / O = filters / ifmaps / psums+ofmaps):")
    for tag, rs in (("default", rows), ("hand", hand)):
        for r in rs:
            sp = r["split"]
            print(f"  {tag:<8} {r['layer']}: DRAM " + " / ".join(f"{sp['DRAM'][d]:.2f}" for d in sp["DRAM"])
                  + "   GLB " + " / ".join(f"{sp['GLB'][d]:.1f}" for d in sp["GLB"]))
    if a.show_mappings:
        for d, h in zip(rows, hand):
            print(f"\n-- {d['layer']}: default path --\n{d['mapping']}\n-- {h['layer']}: hand --\n{h['mapping']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

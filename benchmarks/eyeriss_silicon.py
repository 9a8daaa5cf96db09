"""Reproduce the Eyeriss chip's measured AlexNet CONV1-5 numbers (Chen et al., JSSC 2017, Table V).

AlexNet (grouped CONV2/4/5 as in the original network), batch 4, on the ``eyeriss-65nm`` profile with the
row-stationary dataflow; zeros in the input maps as measured on the chip (0.01%, 38.7%, 72.5%, 79.3%,
77.6%); feature maps run-length coded in DRAM (5-bit run + 16-bit level, three pairs per 64-bit word);
zero gating on inputs. Prints ours vs measured per layer: DRAM MB, global-buffer MB, processing latency (ms
at 200 MHz) and active PEs.

Two mappings per layer:

- ``eyeriss``: an explicit row-stationary mapping built from the chip's published mapping parameters
  (n images, p filters and q channels per PE, e output rows per PE set, r channel sets and t filter sets in
  the array, m output channels whose partial sums stay in the global buffer); see ``EYERISS_PARAMS``.
- ``rs``: the generic ``rs`` template's greedy tiling (for comparison).

Run: ``.venv/bin/python benchmarks/eyeriss_silicon.py [--markdown] [--mapping eyeriss|rs|both]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from energysim import trace_model
from energysim.model.counts import evaluate
from energysim.mapping.templates import map_problem
from energysim.model.mapping import LevelMapping, Mapping
from energysim.model.problem import Problem
from energysim.arch import load_profile
from energysim.costs.sparsity import SparseOptions, apply

LAYERS = ["features.0", "features.4", "features.8", "features.10", "features.12"]
LABELS = ["CONV1", "CONV2", "CONV3", "CONV4", "CONV5"]
#: zeros in the input maps (JSSC 2017 Table V) -> input densities
ZEROS_IN = [0.0001, 0.387, 0.725, 0.793, 0.776]
#: measured (JSSC 2017 Table V): DRAM MB, global buffer MB, processing latency ms, active PEs
MEASURED = {
    "dram_mb": [5.0, 4.0, 3.0, 2.1, 1.3],
    "glb_mb": [18.5, 77.6, 50.2, 37.4, 24.9],
    "latency_ms": [16.5, 39.2, 21.8, 16.0, 10.0],
    "pes": [154, 135, 156, 156, 156],
}

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


def output_densities() -> list[float]:
    """Density of each layer's output as written to DRAM (after ReLU, before pooling).

    Not published. CONV3 -> CONV4 and CONV4 -> CONV5 have no pooling in between, so their output density is
    the next layer's input density exactly; CONV1/CONV2 are followed by max pooling (and LRN), which removes
    zeros, so the next input density is a lower bound for theirs and we use it; CONV5's is taken equal to
    its input's.
    """
    d_in = [1 - z for z in ZEROS_IN]
    return [d_in[1], d_in[2], d_in[3], d_in[4], d_in[4]]


def joint_multicast_profile(profile):
    """``eyeriss-65nm`` without the ``PE_columns`` dummy level: the global buffer fans out 14 x 12 at once.

    The shipped profile follows Timeloop's Eyeriss-like architecture, with the X fan-out (columns) and the Y
    fan-out (rows) on two levels; the engine finds multicast fan-out by fan-out, so an ifmap row needed by
    the PEs of a diagonal (row stationary's input reuse) is read once per column. The chip's global input
    network multicasts one buffer read to every PE whose (row, column) tag matches, across the whole array:
    one fan-out, whose multicast the engine then counts jointly. Nothing else changes.
    """
    from energysim.arch import HardwareProfile

    d = profile.model_dump(by_alias=True, exclude_none=True)
    d["levels"] = [lv for lv in d["levels"] if lv["name"] != "PE_columns"]
    d["name"] = profile.name + "-joint-multicast"
    return HardwareProfile.from_dict(d)


def eyeriss_mapping(label: str, layer, problem: Problem, profile) -> tuple[Mapping, Problem]:
    """An explicit row-stationary mapping from the published parameters.

    The array is 12 rows (Y) x 14 columns (X). A PE set is R rows x e columns: R (filter rows) down Y,
    P (output rows) across X. Sets of different filters (t) / channels (r) are placed side by side or
    stacked. Inside a PE: psum spad p filters, filter spad q channels x S, ifmap spad q x S (sliding along
    Q). The global buffer keeps m output channels' psums for n images and the whole output plane of a
    strip; Q is its innermost loop (the ifmap slides). What does not fit is iterated from DRAM.

    Output rows that do not divide the set width are padded (CONV1: 55 -> 56 = 8 strips of 7, the last one
    with a phantom row, as the chip's last strip leaves a column idle; CONV2: 27 -> 28, the 5 x 27 set folded
    onto 10 rows x 14 columns with one phantom column): the returned problem is the padded one.
    """
    k = EYERISS_PARAMS[label]
    b = dict(problem.bounds)
    G = b.get("G", 1)
    if label == "CONV1":
        # set 11 x 7, two filter sets side by side: X = P7 x M2, Y = R11; 8 strips of 7 rows
        pp = 56
        x, y = {"P": 7, "M": 2}, {"R": 11}
        pe = {"psum": {"M": k["p"]}, "filter": {"S": 11}}  # q = 1 channel
        glb_t = {"M": b["M"] // (k["p"] * k["t"]), "Q": b["Q"]}
        glb_perm = ["M", "Q"]
        dram_t = {"N": 4, "P": pp // 7, "C": 3}
        dram_perm = ["N", "P", "C"]
        glb_keep = ["Inputs", "Outputs"]  # 96 x 11 x 11 filters exceed the 8 kB filter buffer
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
    if pp != b["P"]:
        lay = layer.model_copy(update={"P": pp})
        problem = Problem.from_layer(lay)
    levels = [
        LevelMapping(level="DRAM", temporal={d: f for d, f in dram_t.items() if f > 1},
                     permutation=[d for d in dram_perm if dram_t.get(d, 1) > 1]),
    ]
    if "PE_columns" in profile.level_names:
        levels += [LevelMapping(level="GLB", temporal=glb_t, permutation=glb_perm, spatial_x=x, keep=glb_keep),
                   LevelMapping(level="PE_columns", spatial_y=y)]
    else:
        levels += [LevelMapping(level="GLB", temporal=glb_t, permutation=glb_perm, spatial_x=x, spatial_y=y,
                                keep=glb_keep)]
    levels += [
        LevelMapping(level="ifmap_spad"),
        LevelMapping(level="filter_spad", temporal=pe["filter"], permutation=list(pe["filter"])),
        LevelMapping(level="psum_spad", temporal=pe["psum"], permutation=["M"]),
    ]
    m = Mapping(levels=levels)
    m.validate_for(problem, profile)
    return m, problem


def _real_pes(m: Mapping, prob: Problem, layer) -> int:
    """PEs doing real work at the peak: where padded output rows are all spread across the array (CONV2's
    28 = 14 x 2 for 27 rows), the phantom row's PEs are idle and not counted."""
    pes = m.utilized_pes()
    sp_p = math.prod(lm.spatial().get("P", 1) for lm in m.levels)
    if prob.bounds["P"] != layer.P and sp_p == prob.bounds["P"]:
        return pes * layer.P // prob.bounds["P"]
    return pes


def glb_shared_words(m: Mapping, problem: Problem, profile) -> int:
    """Words of Inputs + Outputs tiles in the global buffer (the chip shares 100 kB between them)."""
    ext = m.tile_extents(problem, profile)[profile.level_index("GLB")]
    keeps = m.keeps(problem, profile)[profile.level_index("GLB")]
    return sum(problem.data_space(d).tile_size(ext) for d in ("Inputs", "Outputs") if d in keeps)


def level_mb(stats, level: str) -> float:
    tot = 0.0
    for r in stats.rows:
        if r["level"] == level:
            tot += (r["reads_total"] + r["fills_total"] + r["updates_total"]) * r.get("bits", 16) / 8
    return tot / 1e6


MODES = {
    "eyeriss": "published mapping parameters, chip multicast (one 14 x 12 fan-out from the global buffer)",
    "eyeriss-2level": "published mapping parameters on the shipped profile (X and Y fan-outs on two levels)",
    "rs": "the rs template's greedy tiling on the shipped profile",
}


def run(which: str = "eyeriss", layer_opts: dict | None = None):
    """Rows of the comparison for mode ``which`` (see ``MODES``); ``layer_opts[label]`` overrides
    ``SparseOptions`` fields for one layer (used for the sensitivity lines only)."""
    net = trace_model("alexnet", batch=4)
    prof = load_profile("eyeriss-65nm")
    if which == "eyeriss":
        prof = joint_multicast_profile(prof)
    d_in = [1 - z for z in ZEROS_IN]
    d_out = output_densities()
    densities = {n: {"inputs": di, "outputs": do} for n, di, do in zip(LAYERS, d_in, d_out)}
    rows = []
    for label, name in zip(LABELS, LAYERS):
        kw = dict(densities=densities, gating=("Inputs",), rlc_levels=("DRAM",))
        kw.update((layer_opts or {}).get(label, {}))
        opts = SparseOptions(**kw)
        layer = net[name]
        problem = Problem.from_layer(layer)
        if which.startswith("eyeriss"):
            m, prob = eyeriss_mapping(label, layer, problem, prof)
        else:
            m, prob = map_problem(problem, prof, "rs"), problem
        dense = evaluate(prob, prof, m, name=name)
        s = apply(dense, prob, prof, opts, name)
        rows.append({
            "layer": label,
            "macs_M": layer.macs / 1e6,
            "dram_mb": level_mb(s, "DRAM"),
            "dram_dense_mb": level_mb(dense, "DRAM"),
            "glb_mb": level_mb(s, "GLB"),
            "latency_ms": s.cycles / prof.clock_hz * 1e3,
            "pes": _real_pes(m, prob, layer),
            "glb_words": glb_shared_words(m, prob, prof),
            "energy_uj": s.energy / 1e6,  # normalized units (RF access = 1)
            "mapping": m.to_text(prob, prof),
        })
    return rows


def table(rows, markdown: bool = False) -> str:
    hdr = ["layer", "DRAM MB ours", "meas", "err", "GLB MB ours", "meas", "err", "latency ms ours", "meas", "err",
           "PEs ours", "meas"]
    lines = []
    if markdown:
        lines.append("| " + " | ".join(hdr) + " |")
        lines.append("|" + "---|" * len(hdr))
    else:
        lines.append(" ".join(f"{h:>15}" if i else f"{h:<6}" for i, h in enumerate(hdr)))
    tot = {k: 0.0 for k in ("dram_mb", "glb_mb", "latency_ms")}
    for i, r in enumerate(rows):
        cells = [r["layer"]]
        for k, fmt in (("dram_mb", "{:.2f}"), ("glb_mb", "{:.1f}"), ("latency_ms", "{:.1f}")):
            meas = MEASURED[k][i]
            tot[k] += r[k]
            cells += [fmt.format(r[k]), fmt.format(meas), f"{100 * (r[k] / meas - 1):+.0f}%"]
        cells += [str(r["pes"]), str(MEASURED["pes"][i])]
        lines.append(("| " + " | ".join(cells) + " |") if markdown else
                     " ".join(f"{c:>15}" if j else f"{c:<6}" for j, c in enumerate(cells)))
    cells = ["total"]
    for k, fmt in (("dram_mb", "{:.2f}"), ("glb_mb", "{:.1f}"), ("latency_ms", "{:.1f}")):
        meas = sum(MEASURED[k])
        cells += [fmt.format(tot[k]), fmt.format(meas), f"{100 * (tot[k] / meas - 1):+.0f}%"]
    cells += ["", ""]
    lines.append(("| " + " | ".join(cells) + " |") if markdown else
                 " ".join(f"{c:>15}" if j else f"{c:<6}" for j, c in enumerate(cells)))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mapping", choices=[*MODES, "all"], default="all")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--show-mappings", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    for which in (list(MODES) if a.mapping == "all" else [a.mapping]):
        rows = run(which)
        print(f"\n== {which}: {MODES[which]} ==\n(input density = 1 - published zeros; feature maps RLC-coded "
              "in DRAM; zero gating on inputs)\n")
        print(table(rows, a.markdown))
        print("dense (no RLC) DRAM MB: " + ", ".join(f"{r['layer']} {r['dram_dense_mb']:.2f}" for r in rows))
        print("GLB Inputs+Outputs tiles (words, chip has 51200): "
              + ", ".join(f"{r['layer']} {r['glb_words']}" for r in rows))
        if a.show_mappings:
            for r in rows:
                print(f"\n-- {r['layer']} --\n{r['mapping']}")
    if a.mapping in ("all", "eyeriss"):
        print("\nsensitivity of our DRAM MB (eyeriss mode) to the coding assumptions:")
        for desc, kw in (("CONV1's input image stored raw (not coded)", {"CONV1": {"rlc_dataspaces": ("Outputs",)}}),
                         ("only input maps coded, output maps written raw",
                          {lb: {"rlc_dataspaces": ("Inputs",)} for lb in LABELS}),
                         ("no run-length coding at all", {lb: {"rlc_levels": ()} for lb in LABELS})):
            rows = run("eyeriss", layer_opts=kw)
            print(f"  {desc:<48} " + "  ".join(
                f"{r['layer']} {r['dram_mb']:.2f} ({100 * (r['dram_mb'] / MEASURED['dram_mb'][i] - 1):+.0f}%)"
                for i, r in enumerate(rows)))
    print(f"\n({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

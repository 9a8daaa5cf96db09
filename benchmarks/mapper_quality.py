"""Mapper quality: the default (pruned) search against the exhaustive optimum of the same mapspace.

For layers whose mapspace can be enumerated, prints the searched energy over the exhaustive optimum (1.000 =
the search found the optimum), and the search time next to the exhaustive time (same run, same machine).

"Exhaustive" = ``MapperOptions(exhaustive=True)``: every spatial unrolling (<= 2 dims per axis), every
tiling over the temporal levels, every combination of the dominant loop orders; with ``all_permutations``
(when that is at most 5000 order combinations) every loop order. Both sides are the same free search (``search``: every keep variant
and dataflow space), energy objective; the returned mappings are re-checked by ``counts.evaluate``.

Cases: the Timeloop validation problems (../shared/validation/timeloop, on their own architectures) and
AlexNet CONV3-5 (batch 1) on two small profiles: DRAM > 32 kB buffer > 4 PEs with 32-word register files, and
a split-scratchpad variant (PE storage: 8-word inputs / 32-word weights / 8-word psums).

Eyeriss section (too large to enumerate, so against a known mapping instead of the optimum): every AlexNet conv
layer at batch 4 as the chip ran it (grouped CONV2/4/5) on ``eyeriss-65nm`` and ``eyeriss-chip``: the energy of
the profile's default search (dataflow ``rs``, ``MapperOptions.for_profile``) over the energy of the hand mapping
written from the chip's published parameters (``benchmarks/eyeriss_silicon.py``: ``hand_mapping``), both as the
search's objective (the engine's dense energy + NoC hops). A ratio <= 1 means the mapper is at least as good.
Where it is not, the same search is re-run with one knob changed at a time, to name what hides the better
mapping. Search times (every section) are min / median over ``--repeat`` runs (cache off; later runs reuse
per-process memos); the exhaustive search runs once.

    .venv/bin/python benchmarks/mapper_quality.py [--quick] [--eyeriss] [--repeat 3]
"""

from __future__ import annotations

import argparse
import glob
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from energysim.arch import HardwareProfile
from energysim.interop.timeloop import TimeloopCase
from energysim.mapping.search import MapperOptions, search
from energysim.model.problem import Problem
from energysim.workload.trace import trace_model

CASES = str(Path(__file__).resolve().parents[2] / "shared" / "validation" / "timeloop")


def small_profile(split: bool) -> HardwareProfile:
    pe = ([{"name": "ifmap_rf", "class": "regfile", "depth": 8, "instances": 4, "mesh_x": 4, "keeps": ["Inputs"],
            "read_pj": 0.5, "write_pj": 0.5},
           {"name": "weight_rf", "class": "regfile", "depth": 32, "instances": 4, "mesh_x": 4, "keeps": ["Weights"],
            "read_pj": 1.0, "write_pj": 1.0},
           {"name": "psum_rf", "class": "regfile", "depth": 8, "instances": 4, "mesh_x": 4, "keeps": ["Outputs"],
            "read_pj": 0.5, "write_pj": 0.5}] if split else
          [{"name": "RF", "class": "regfile", "depth": 32, "instances": 4, "mesh_x": 4, "read_pj": 1.0,
            "write_pj": 1.0}])
    return HardwareProfile.from_dict({
        "name": "small-split" if split else "small", "word_bits": 16, "clock_hz": 1e9,
        "levels": [{"name": "DRAM", "class": "dram", "block_size": 4, "read_pj": 800, "write_pj": 800,
                    "read_bandwidth": 4, "write_bandwidth": 4},
                   {"name": "Buffer", "class": "sram", "depth": 16384, "block_size": 4, "read_pj": 24,
                    "write_pj": 24, "read_bandwidth": 16, "write_bandwidth": 16}] + pe,
        "mac": {"energy_pj": 1.0, "instances": 4, "mesh_x": 4}})


def run(name, problem, profile, exhaustive_opts, repeat: int = 3):
    """Search ``repeat`` times (its time: the minimum; the median is printed too) and the exhaustive search once
    (minutes per layer)."""
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        s = search(problem, profile, None, cache=False)
        times.append(time.perf_counter() - t)
    ts = min(times)
    t = time.perf_counter()
    x = search(problem, profile, None, options=exhaustive_opts, cache=False)
    tx = time.perf_counter() - t
    ratio = s.value / x.value
    tm = f"{ts:.3f}/{statistics.median(times):.3f}"
    print(f"{name:<44} {profile.name:<34.34} {ratio:>7.4f} {tm:>13} {tx:>10.2f} {x.evaluated:>11,} "
          f"{s.evaluated:>9,} {s.value:>16,.1f}", flush=True)
    return ratio, ts, tx


#: one knob at a time, to name what keeps the default search from a better mapping
DIAGNOSTICS = {
    "spatial_candidates=16": {"spatial_candidates": 16},
    "tile_cap=20000, max_pairs=5M": {"tile_cap": 20000, "max_pairs": 5_000_000},
    "max_spatial_dims=3": {"max_spatial_dims": 3},
    "pad P by 5%": {"pad": (("P", 0.05),)},
    "bypass GLB Weights": {"bypass": (("GLB", ("Weights",)),)},
}


def eyeriss(repeat: int = 3) -> list[dict]:
    """Mapper vs hand mapping on every AlexNet conv layer (batch 4) on both Eyeriss profiles."""
    from energysim.arch import load_profile
    from energysim.errors import EnergySimError
    from energysim.model.counts import evaluate

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import eyeriss_silicon as es  # the hand mappings (imported here: the rest of this module does not need it)

    net = trace_model("alexnet", batch=4)
    print("\nEyeriss: AlexNet conv layers, batch 4; mapper = the profile's default rs search; hand = the chip's "
          "published parameters (eyeriss_silicon.hand_mapping); energies in the profile's unit (dense + NoC)")
    print(f"{'profile':<13} {'layer':<6} {'mapper':>14} {'hand':>14} {'mapper/hand':>11} {'PEs m/h':>8} "
          f"{'search s min/med':>17}  result")
    out = []
    for pname in ("eyeriss-65nm", "eyeriss-chip"):
        prof = load_profile(pname)
        base = MapperOptions.for_profile(prof)
        for label, name in zip(es.LABELS, es.LAYERS):
            layer = net[name]
            p = Problem.from_layer(layer)
            times = []
            for _ in range(max(1, repeat)):
                t = time.perf_counter()
                r = search(p, prof, "rs", cache=False)
                times.append(time.perf_counter() - t)
            row = {"profile": pname, "layer": label, "mapper": r.energy, "times": times, "hand": None}
            try:
                hm = es.hand_mapping(label, layer, prof)
                row["hand"] = es.objective_energy(evaluate(p, prof, hm), prof)
                row["hand_pes"] = hm.active_pes(p, prof)
            except EnergySimError as exc:
                row["why"] = f"hand mapping does not fit {pname}: {exc}"
            tm = f"{min(times):.2f}/{statistics.median(times):.2f}"
            pes = f"{r.mapping.active_pes(p, prof)}/{row.get('hand_pes', '-')}"
            if row["hand"] is None:
                print(f"{pname:<13} {label:<6} {r.energy:>14,.0f} {'-':>14} {'-':>11} {pes:>8} {tm:>17}  "
                      f"{row['why']}")
                out.append(row)
                continue
            ratio = r.energy / row["hand"]
            row["ratio"] = ratio
            ok = ratio <= 1 + 1e-9
            print(f"{pname:<13} {label:<6} {r.energy:>14,.0f} {row['hand']:>14,.0f} {ratio:>11.4f} {pes:>8} "
                  f"{tm:>17}  {'ok' if ok else 'MAPPER WORSE'}", flush=True)
            if not ok:
                diag = {}
                for k, kw in DIAGNOSTICS.items():
                    try:
                        diag[k] = search(p, prof, "rs", options=replace(base, **kw), cache=False).energy / row["hand"]
                    except EnergySimError as exc:
                        diag[k] = float("nan")
                        print(f"    {k}: {exc}")
                row["diagnostics"] = diag
                print("    one knob changed -> mapper/hand: " + ", ".join(f"{k} {v:.4f}" for k, v in diag.items()))
            out.append(row)
    worse = [r for r in out if r.get("ratio", 0) > 1 + 1e-9]
    missing = [r for r in out if r["hand"] is None]
    print(f"mapper <= hand on {sum(1 for r in out if r.get('ratio', 2) <= 1 + 1e-9)} of {len(out)} layers"
          + (f"; worse on {', '.join(r['profile'] + ' ' + r['layer'] for r in worse)}" if worse else "")
          + (f"; no hand mapping on {', '.join(r['profile'] + ' ' + r['layer'] for r in missing)}" if missing else ""))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Timeloop cases and CONV5 only")
    ap.add_argument("--eyeriss", action="store_true", help="only the Eyeriss section")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each (non-exhaustive) search")
    a = ap.parse_args()
    if a.eyeriss:
        eyeriss(a.repeat)
        return 0
    print(f"{'layer':<44} {'profile':<34} {'ratio':>7} {'srch s min/med':>13} {'exhaust s':>10} {'exh. cand.':>11} "
          f"{'srch cand':>9} {'search value':>16}")
    rows = []
    full = MapperOptions(exhaustive=True, all_permutations=True)
    for case in sorted(glob.glob(f"{CASES}/*")):
        c = TimeloopCase.load(case)
        if c.problem.name == "CNN_Layer":
            continue  # the VGG layer of ispass06 is too large to enumerate
        from energysim.mapping.search import Space

        sp = Space(c.problem, c.profile)
        orders = math.factorial(sum(1 for b in c.problem.bounds.values() if b > 1)) ** max(1, sp.T - 1)
        rows.append(run(Path(case).name, c.problem, c.profile,
                        full if orders <= 5000 else MapperOptions(exhaustive=True), a.repeat))
    net = trace_model("alexnet", batch=1)
    convs = [l for l in net if l.kind in ("conv", "grouped")][2:5]
    if a.quick:
        convs = convs[-1:]
    for split in (False, True):
        prof = small_profile(split)
        for layer in convs:
            p = Problem.from_layer(layer)
            rows.append(run(f"alexnet {layer.name} {dict(p.bounds)}", p, prof, MapperOptions(exhaustive=True), a.repeat))
    worst = max(r[0] for r in rows)
    print(f"\nworst ratio {worst:.4f} over {len(rows)} layers; search {sum(r[1] for r in rows):.2f} s in total, "
          f"exhaustive {sum(r[2] for r in rows):.1f} s")
    eyeriss(a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

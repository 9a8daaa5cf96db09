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

    .venv/bin/python benchmarks/mapper_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import glob
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from energysim.mapping.search import MapperOptions, search  # noqa: E402
from energysim.model.problem import Problem  # noqa: E402
from energysim.arch import HardwareProfile  # noqa: E402
from energysim.interop.timeloop import TimeloopCase  # noqa: E402
from energysim.workload.trace import trace_model  # noqa: E402

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


def run(name, problem, profile, exhaustive_opts):
    t = time.perf_counter()
    s = search(problem, profile, None, cache=False)
    ts = time.perf_counter() - t
    t = time.perf_counter()
    x = search(problem, profile, None, options=exhaustive_opts, cache=False)
    tx = time.perf_counter() - t
    ratio = s.value / x.value
    print(f"{name:<44} {profile.name:<34.34} {ratio:>7.4f} {ts:>9.3f} {tx:>10.2f} {x.evaluated:>11,} "
          f"{s.evaluated:>9,} {s.value:>16,.1f}", flush=True)
    return ratio, ts, tx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="Timeloop cases and CONV5 only")
    a = ap.parse_args()
    print(f"{'layer':<44} {'profile':<34} {'ratio':>7} {'search s':>9} {'exhaust s':>10} {'exh. cand.':>11} "
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
                        full if orders <= 5000 else MapperOptions(exhaustive=True)))
    net = trace_model("alexnet", batch=1)
    convs = [l for l in net if l.kind in ("conv", "grouped")][2:5]
    if a.quick:
        convs = convs[-1:]
    for split in (False, True):
        prof = small_profile(split)
        for layer in convs:
            p = Problem.from_layer(layer)
            rows.append(run(f"alexnet {layer.name} {dict(p.bounds)}", p, prof, MapperOptions(exhaustive=True)))
    worst = max(r[0] for r in rows)
    print(f"\nworst ratio {worst:.4f} over {len(rows)} layers; search {sum(r[1] for r in rows):.2f} s in total, "
          f"exhaustive {sum(r[2] for r in rows):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of the counting engine.

ResNet-50: wall time of a fixed-dataflow (rs) estimate of every layer on eyeriss-65nm, split into tracing,
mapping (the template tiler) and counting, next to the pure engine time.

Timeloop cases: for every case folder, the median time of ``evaluate`` (the closed-form engine) and, where the
problem is small enough, of the element-by-element brute-force walk of ``tests/bruteforce.py`` measured in the
same run; the ratio is the speed-up. Run: ``.venv/bin/python benchmarks/estimate_speed.py [CASE_DIR ...]``.
"""

from __future__ import annotations

import glob
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from energysim.interop.timeloop import TimeloopCase  # noqa: E402

DEFAULT_CASES = str(ROOT.parent / "shared" / "validation" / "timeloop" / "*")
BRUTE_FORCE_MAX_MACS = 100_000


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timeloop_cases(dirs: list[str]) -> list[dict]:
    """One record per case: MACs, engine seconds, brute-force seconds (None when too large), speed-up."""
    from bruteforce import BruteForce

    out = []
    for d in dirs:
        c = TimeloopCase.load(d)
        t_engine = _median_time(c.evaluate, 20)
        t_bf = None
        if c.problem.macs <= BRUTE_FORCE_MAX_MACS:
            t_bf = _median_time(lambda: BruteForce(c.problem, c.profile, c.mapping), 1)
        out.append({"case": Path(d).name, "macs": c.problem.macs, "engine_s": t_engine, "bruteforce_s": t_bf,
                    "speedup": (t_bf / t_engine) if t_bf else None})
    return out


def resnet50() -> None:
    from energysim.model.counts import evaluate
    from energysim.mapping.templates import map_problem
    from energysim.analysis.estimate import estimate
    from energysim.model.problem import Problem
    from energysim.arch import load_profile
    from energysim.workload.trace import trace_model

    t0 = time.perf_counter()
    net = trace_model("resnet50")
    t_trace = time.perf_counter() - t0
    prof = load_profile("eyeriss-65nm")
    t0 = time.perf_counter()
    rep = estimate(net, prof, "rs")
    t_total = time.perf_counter() - t0
    problems = [Problem.from_layer(l) for l in net.mac_layers()]
    maps = [map_problem(p, prof, "rs") for p in problems]
    t0 = time.perf_counter()
    for p, m in zip(problems, maps):
        evaluate(p, prof, m)
    t_engine = time.perf_counter() - t0
    print(f"resnet50 ({len(net)} layers, {len(problems)} with MACs) on eyeriss-65nm, rs:")
    print(f"  trace {t_trace:.3f} s   estimate (map + count + report) {t_total:.3f} s   "
          f"engine only {t_engine * 1e3:.1f} ms ({t_engine / len(problems) * 1e3:.2f} ms/layer)   "
          f"total {rep.total_energy / 1e6:,.1f} uJ")


def main(argv: list[str]) -> int:
    resnet50()
    print()
    dirs = argv or sorted(glob.glob(DEFAULT_CASES))
    print(f"{'case':<40} {'MACs':>13} {'engine ms':>10} {'brute ms':>10} {'speed-up':>9}")
    for r in timeloop_cases(dirs):
        bf = f"{r['bruteforce_s'] * 1e3:10.1f}" if r["bruteforce_s"] else f"{'-':>10}"
        sp = f"{r['speedup']:8.0f}x" if r["speedup"] else f"{'-':>9}"
        print(f"{r['case']:<40} {r['macs']:>13,} {r['engine_s'] * 1e3:10.3f} {bf} {sp}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

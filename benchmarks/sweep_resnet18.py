"""A 200-design sweep for ResNet-18: this tree against an older checkout (``--old-tree``) and, optionally, through
``--dask local``; same tables?

Grid on the eyeriss-65nm base profile: PE arrays 8x8, 12x14, 16x16, 24x24, 32x32; global buffers 32, 64, 108,
216, 432 kB; PE storage 130, 260, 520, 1040 words; 8 and 16 bits = 200 designs, each mapped layer by layer
with ``ws-search`` (energy objective). Each run is a fresh ``energysim sweep`` process; prints its wall time and
CPU seconds (the process and its workers, ``getrusage``), the speed-up of this tree over the old one, the load
average, and whether the tables are identical (every column but the per-design ``seconds``). ``--repeats N``
runs N rounds, each round every mode once back to back (the same load for old and new); times and per-round
ratios old / new are printed as min / median over the rounds. Both trees are byte-compiled first
(``bytecode.py``).

The old code for issue 19 is the commit before the speed work (no per-shape reuse)::

    git worktree add /tmp/old 02162bf
    .venv/bin/python benchmarks/sweep_resnet18.py --old-tree /tmp/old --repeats 3 [--dask] [--workers 2] \
        --profile /tmp/old/hw_profiles/eyeriss-65nm.yaml

(02162bf does not know the shipped eyeriss-65nm's ``mapper: tile_cap``; its own copy of the profile, which has
no such section, runs both trees on the same search settings.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bytecode import compile_tree

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--pe", "8x8,12x14,16x16,24x24,32x32", "--glb-kb", "32,64,108,216,432", "--rf-words", "130,260,520,1040",
        "--bits", "8,16"]


def run(tree: Path, args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """``energysim ARGS`` with ``tree``'s code (fresh interpreter); (wall s, CPU s incl. workers, result)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    code = "import sys; from energysim.cli import main; sys.exit(main(sys.argv[1:]))"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # cwd = the tree, so that its energysim (not an installed one) is imported
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=str(tree), env=env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataflow", default="ws-search")
    ap.add_argument("--profile", default="eyeriss-65nm",
                    help="base profile (a name or a file; the old tree must read it too: an old checkout's own "
                         "hw_profiles/eyeriss-65nm.yaml when the shipped one has fields it does not know)")
    ap.add_argument("--old-tree", help="an older checkout of this repository to compare with (same grid)")
    ap.add_argument("--dask", action="store_true", help="also run this tree through --dask local")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "_work" / "sweep_resnet18"))
    ap.add_argument("--repeats", type=int, default=1, help="rounds (each runs every mode once)")
    ap.add_argument("--json-out", help="write the measurements as one JSON object to this file")
    a = ap.parse_args()
    modes = [("new", ROOT, [])]
    if a.old_tree:
        modes.append(("old", Path(a.old_tree).resolve(), []))
    if a.dask:
        modes.append(("dask", ROOT, ["--dask", "local"]))
    for _, tree, _ in modes:
        compile_tree(tree)  # both trees run from compiled bytecode (``bytecode.py``)
    load0 = os.getloadavg()
    res: dict = {mode: {"wall": [], "cpu": [], "df": None} for mode, _, _ in modes}
    for i in range(a.repeats):
        for mode, tree, extra in modes:
            out = Path(a.out) / mode
            args = ["sweep", "resnet18", "--profile", a.profile, *GRID, "--dataflow", a.dataflow, "--workers",
                    str(a.workers), "--max-energy-pj", "3e9", "--max-cycles", "2e7", "--out", str(out), *extra]
            print(f"$ [round {i + 1}/{a.repeats}, {mode}: {tree}] energysim " + " ".join(args), flush=True)
            wall, cpu, p = run(tree, args)
            if p.returncode != 0:
                print(p.stderr[-3000:])
                return 1
            res[mode]["wall"].append(wall)
            res[mode]["cpu"].append(cpu)
            df = pd.read_csv(out / "designs.csv")
            if res[mode]["df"] is not None and not res[mode]["df"].drop(columns=["seconds"]).equals(
                    df.drop(columns=["seconds"])):
                print(f"  {mode}: table differs between rounds!")
            res[mode]["df"] = df
            print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU; load average {os.getloadavg()[0]:.2f}", flush=True)
    load1 = os.getloadavg()
    mm = lambda xs: (min(xs), statistics.median(xs))  # noqa: E731
    cols = lambda df: df.drop(columns=["seconds"])  # noqa: E731
    new = res["new"]["df"]
    ok = int((new["status"] == "ok").sum())
    print(f"designs: {len(new)} ({ok} valid); {a.workers} workers; {a.repeats} round(s); load average "
          f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} before, {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} "
          "after (1/5/15 min; 2-core machine); min / median over the rounds")
    summary: dict = {"repeats": a.repeats, "workers": a.workers, "designs": len(new), "valid": ok,
                     "loadavg_before": load0, "loadavg_after": load1}
    for mode in res:
        summary[f"wall_{mode}_s"] = mm(res[mode]["wall"])
        summary[f"cpu_{mode}_s"] = mm(res[mode]["cpu"])
        print(f"{mode:<5} wall {summary[f'wall_{mode}_s'][0]:.1f} / {summary[f'wall_{mode}_s'][1]:.1f} s, "
              f"CPU {summary[f'cpu_{mode}_s'][0]:.1f} / {summary[f'cpu_{mode}_s'][1]:.1f} s")
    same = True
    for mode in res:
        if mode == "new":
            continue
        eq = cols(new).equals(cols(res[mode]["df"]))
        same &= eq
        rw = [o / n for o, n in zip(res[mode]["wall"], res["new"]["wall"])]
        rc = [o / n for o, n in zip(res[mode]["cpu"], res["new"]["cpu"])]
        summary[f"wall_ratio_{mode}_over_new"], summary[f"cpu_ratio_{mode}_over_new"] = mm(rw), mm(rc)
        summary[f"identical_{mode}"] = bool(eq)
        print(f"{mode} / new per round: {mm(rw)[0]:.1f}x / {mm(rw)[1]:.1f}x wall, {mm(rc)[0]:.1f}x / "
              f"{mm(rc)[1]:.1f}x CPU (min / median); identical table: {eq}")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(summary, indent=1))
    front = pd.read_csv(Path(a.out) / "new" / "pareto.csv")
    print(f"Pareto front: {len(front)} designs; lowest energy: "
          f"{new.loc[new.energy.idxmin(), 'label']} ({new.energy.min() / 1e6:,.0f} uJ)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

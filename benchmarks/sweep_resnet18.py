"""A 200-design sweep for ResNet-18: this tree against an older checkout (``--old-tree``) and, optionally, through
``--dask local``; same tables?

Grid on the eyeriss-65nm base profile: PE arrays 8x8, 12x14, 16x16, 24x24, 32x32; global buffers 32, 64, 108,
216, 432 kB; PE storage 130, 260, 520, 1040 words; 8 and 16 bits = 200 designs, each mapped layer by layer
with ``ws-search`` (energy objective). Each run is a fresh ``energysim sweep`` process; prints its wall time and
CPU seconds (the process and its workers, ``getrusage``), the speed-up of this tree over the old one, the load
average, and whether the tables are identical (every column but the per-design ``seconds``).

    .venv/bin/python benchmarks/sweep_resnet18.py [--old-tree ../layout] [--dask] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

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
    ap.add_argument("--old-tree", help="an older checkout of this repository to compare with (same grid)")
    ap.add_argument("--dask", action="store_true", help="also run this tree through --dask local")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "_work" / "sweep_resnet18"))
    a = ap.parse_args()
    modes = [("new", ROOT, [])]
    if a.old_tree:
        modes.append(("old", Path(a.old_tree).resolve(), []))
    if a.dask:
        modes.append(("dask", ROOT, ["--dask", "local"]))
    load0 = os.getloadavg()
    res = {}
    for mode, tree, extra in modes:
        out = Path(a.out) / mode
        args = ["sweep", "resnet18", "--profile", "eyeriss-65nm", *GRID, "--dataflow", a.dataflow, "--workers",
                str(a.workers), "--max-energy-pj", "3e9", "--max-cycles", "2e7", "--out", str(out), *extra]
        print(f"$ [{mode}: {tree}] energysim " + " ".join(args), flush=True)
        wall, cpu, p = run(tree, args)
        if p.returncode != 0:
            print(p.stderr[-3000:])
            return 1
        res[mode] = (wall, cpu, pd.read_csv(out / "designs.csv"))
        print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    load1 = os.getloadavg()
    cols = lambda df: df.drop(columns=["seconds"])  # noqa: E731
    new = res["new"][2]
    ok = int((new["status"] == "ok").sum())
    print(f"designs: {len(new)} ({ok} valid); {a.workers} workers; load average {load0[0]:.2f} before, "
          f"{load1[0]:.2f} after")
    same = True
    for mode in res:
        if mode == "new":
            continue
        eq = cols(new).equals(cols(res[mode][2]))
        same &= eq
        wall, cpu = res[mode][0], res[mode][1]
        print(f"{mode}: {wall:.1f} s wall, {cpu:.1f} s CPU; this tree {res['new'][0]:.1f} s / {res['new'][1]:.1f} s"
              f" -> {wall / res['new'][0]:.1f}x wall, {cpu / res['new'][1]:.1f}x CPU; identical table: {eq}")
    front = pd.read_csv(Path(a.out) / "new" / "pareto.csv")
    print(f"Pareto front: {len(front)} designs; lowest energy: "
          f"{new.loc[new.energy.idxmin(), 'label']} ({new.energy.min() / 1e6:,.0f} uJ)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""A 200-design sweep for ResNet-18, run locally (process pool) and through ``--dask local``; same results?

Grid on the eyeriss-65nm base profile: PE arrays 8x8, 12x14, 16x16, 24x24, 32x32; global buffers 32, 64, 108,
216, 432 kB; PE storage 130, 260, 520, 1040 words; 8 and 16 bits = 200 designs, each mapped layer by layer
with ``ws-search`` (energy objective). Prints both wall times and whether the two tables are identical
(every column but the per-design ``seconds``).

    .venv/bin/python benchmarks/sweep_resnet18.py [--workers 2] [--out benchmarks/_work/sweep_resnet18]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--pe", "8x8,12x14,16x16,24x24,32x32", "--glb-kb", "32,64,108,216,432", "--rf-words", "130,260,520,1040",
        "--bits", "8,16"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataflow", default="ws-search")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "_work" / "sweep_resnet18"))
    a = ap.parse_args()
    exe = str(ROOT / ".venv" / "bin" / "energysim")
    walls = {}
    for mode, extra in (("local", []), ("dask", ["--dask", "local"])):
        out = Path(a.out) / mode
        cmd = [exe, "sweep", "resnet18", "--profile", "eyeriss-65nm", *GRID, "--dataflow", a.dataflow,
               "--workers", str(a.workers), "--max-energy-pj", "3e9", "--max-cycles", "2e7", "--out", str(out)]
        print("$ " + " ".join(cmd), flush=True)
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        walls[mode] = time.perf_counter() - t
        if p.returncode != 0:
            print(p.stderr[-3000:])
            return 1
        print(p.stdout.strip().splitlines()[0])
    cols = lambda df: df.drop(columns=["seconds"])  # noqa: E731
    a_df = pd.read_csv(Path(a.out) / "local" / "designs.csv")
    b_df = pd.read_csv(Path(a.out) / "dask" / "designs.csv")
    same = cols(a_df).equals(cols(b_df))
    ok = int((a_df["status"] == "ok").sum())
    print(f"designs: {len(a_df)} ({ok} valid); local {walls['local']:.1f} s, dask local {walls['dask']:.1f} s "
          f"({a.workers} workers each); identical results: {same}")
    front = pd.read_csv(Path(a.out) / "local" / "pareto.csv")
    print(f"Pareto front: {len(front)} designs; lowest energy: "
          f"{a_df.loc[a_df.energy.idxmin(), 'label']} ({a_df.energy.min() / 1e6:,.0f} uJ)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

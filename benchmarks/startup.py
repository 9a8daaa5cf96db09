"""Start-up cost of the command line, as CPU seconds relative to ``python -c "import torch"`` in the same run.

Each command is a fresh interpreter; a round runs ``import torch`` and every command once, back to back (so they
see the same load on a shared machine); ``--repeats`` rounds (default 3). Per command: CPU seconds (user + system
of the process and its children, ``getrusage``) and wall seconds as min / median over the rounds, and the ratio to
the same round's ``import torch`` as min / median. Goals (issue 19): ``models`` and ``profiles`` <= 0.2x,
``estimate resnet50 --dataflow rs-template --json`` (the fixed row-stationary template) <= 1.5x,
``estimate resnet50 --dataflow search --json`` <= 3x; ``--dataflow rs`` (the row-stationary mapping search, the
default) is reported without a goal.
``--old-tree`` runs the same commands with an older checkout's code too (before / after in one run). Every tree
is byte-compiled first (``bytecode.py``), as an installed package is.

    .venv/bin/python benchmarks/startup.py [--repeats 3] [--old-tree ../layout] [--json] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bytecode import compile_tree

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "models": ["models"],
    "profiles": ["profiles"],
    "estimate rs-template": ["estimate", "resnet50", "--dataflow", "rs-template", "--json"],
    "estimate search": ["estimate", "resnet50", "--dataflow", "search", "--json"],
    "estimate rs": ["estimate", "resnet50", "--dataflow", "rs", "--json"],
}
GOALS = {"models": 0.2, "profiles": 0.2, "estimate rs-template": 1.5, "estimate search": 3.0}
CLI = "import sys; from energysim.cli import main; sys.exit(main(sys.argv[1:]))"


def timed(code: str, args: list[str], tree: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # cwd = the tree, so that its energysim (not an installed one) is imported
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=str(tree), env=env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{args}: exit {p.returncode}\n{p.stderr[-2000:]}")
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--old-tree", help="an older checkout to measure alongside")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", help="also write the JSON object to this file")
    a = ap.parse_args()
    trees = {"new": ROOT}
    if a.old_tree:
        trees["old"] = Path(a.old_tree).resolve()
    for tree in trees.values():
        compile_tree(tree)  # every tree (and torch) runs from compiled bytecode
    load0 = os.getloadavg()
    data: dict = {t: {c: [] for c in ["import torch", *COMMANDS]} for t in trees}
    for i in range(a.repeats):
        print(f"round {i + 1}/{a.repeats}", file=sys.stderr, flush=True)
        for tname, tree in trees.items():
            data[tname]["import torch"].append(timed("import torch", [], tree))
            for name, args in COMMANDS.items():
                data[tname][name].append(timed(CLI, args, tree))
    load1 = os.getloadavg()
    out: dict = {"repeats": a.repeats, "loadavg_before": load0, "loadavg_after": load1}
    for tname in trees:
        torch_cpu = [c for c, _ in data[tname]["import torch"]]
        for name, runs in data[tname].items():
            cpu = [c for c, _ in runs]
            wall = [w for _, w in runs]
            ratio = [c / t for c, t in zip(cpu, torch_cpu)]
            out[f"{tname}:{name}"] = {"cpu_s": [min(cpu), statistics.median(cpu)],
                                      "wall_s": [min(wall), statistics.median(wall)],
                                      "ratio_to_torch": [min(ratio), statistics.median(ratio)]}
    # goals judged on the median ratio (never on a best round)
    out["goals_met"] = {f"{name} <= {g}x": out[f"new:{name}"]["ratio_to_torch"][1] <= g for name, g in GOALS.items()}
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(out, indent=1))
    if a.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"load average {load0[0]:.2f} before, {load1[0]:.2f} after (2-core machine); {a.repeats} rounds, "
          "min / median")
    print(f"{'tree':<5} {'command':<22} {'CPU s':>13} {'wall s':>13} {'x import torch (CPU)':>22} {'goal':>6}")
    for tname in trees:
        for name in ["import torch", *COMMANDS]:
            r = out[f"{tname}:{name}"]
            goal = GOALS.get(name)
            mark = "" if goal is None else (f"<= {goal}" + (" met" if r["ratio_to_torch"][1] <= goal else " NOT met"))
            print(f"{tname:<5} {name:<22} {r['cpu_s'][0]:>6.2f} /{r['cpu_s'][1]:>5.2f} "
                  f"{r['wall_s'][0]:>6.2f} /{r['wall_s'][1]:>5.2f} "
                  f"{r['ratio_to_torch'][0]:>12.2f} /{r['ratio_to_torch'][1]:>6.2f}   {mark if tname == 'new' else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

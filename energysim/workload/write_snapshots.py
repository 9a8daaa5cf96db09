"""Write (or check) the zoo's shipped traces (``energysim.workload.snapshot``): ``python -m
energysim.workload.write_snapshots [--check]``. Imports torch: every model is traced afresh at batch 1."""

from __future__ import annotations

import argparse
import json
import sys

from energysim.workload import snapshot
from energysim.workload.trace import trace_model


def fresh(name: str) -> dict:
    """What model ``name``'s file should hold now."""
    return snapshot.content(trace_model(name, 1, snapshot=False))


def main(argv: list[str] | None = None) -> int:
    from energysim.workload.zoo_info import MODELS

    ap = argparse.ArgumentParser(prog="python -m energysim.workload.write_snapshots",
                                 description="Write the zoo's traces at batch 1 (or check them).")
    ap.add_argument("--check", action="store_true", help="compare the files with fresh traces, write nothing")
    a = ap.parse_args(argv)
    snapshot.FOLDER.mkdir(exist_ok=True)
    stale = []
    for name in MODELS:
        d, p = fresh(name), snapshot.path(name)
        if a.check:
            old = json.loads(p.read_text()) if p.is_file() else None
            if old != d:
                stale.append(name)
                print(f"{p}: {'missing' if old is None else 'differs from a fresh trace'}", file=sys.stderr)
        else:
            snapshot.write(p, d)
            print(f"wrote {p} ({len(d['network']['layers'])} layers)")
    if stale:
        print(f"{len(stale)} stale trace(s); write them with: python -m energysim.workload.write_snapshots",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

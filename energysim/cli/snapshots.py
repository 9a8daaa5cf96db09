"""Write (or check) the zoo's shipped traces (``energysim.workload.snapshot``): ``python -m
energysim.cli.snapshots [--check]``. Imports torch: every model is traced afresh at batches 1 and 2
(what the file holds) and 3 and 7 (where the batch rule is checked)."""

from __future__ import annotations

import argparse
import json
import sys

from energysim.cli.outputs import write_file_atomic
from energysim.workload import snapshot
from energysim.workload.trace import trace_model


#: batches on which the affine batch rule is checked before a file is written
CHECK_BATCHES = (3, 7)


def fresh(name: str) -> dict:
    """What model ``name``'s file should hold now (``slopes`` None if the rule fails on ``CHECK_BATCHES``)."""
    def traced(batch):
        return trace_model(name, batch, snapshot=False)

    d = snapshot.content(traced(1), traced(2))
    if d["slopes"] is not None and any(snapshot.at_batch(d, b).to_dict() != traced(b).to_dict() for b in CHECK_BATCHES):
        d["slopes"] = None
    return d


def main(argv: list[str] | None = None) -> int:
    from energysim.workload.zoo_info import MODELS

    ap = argparse.ArgumentParser(prog="python -m energysim.cli.snapshots",
                                 description="Write the zoo's traces (or check them).")
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
                same = old is not None and all(old.get(k) == d[k] for k in ("network", "slopes"))
                why = ("missing" if old is None else "the same trace under an old fingerprint (the sources changed)"
                       if same else "differs from a fresh trace")
                print(f"{p}: {why}", file=sys.stderr)
        else:
            write_file_atomic(p, json.dumps(d, separators=(",", ":")) + "\n")
            rule = "" if d["slopes"] is not None else "; batch 1 only: its shapes are not affine in the batch"
            print(f"wrote {p} ({len(d['network']['layers'])} layers{rule})")
    if stale:
        print(f"{len(stale)} stale trace(s); write them with: python -m energysim.cli.snapshots",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

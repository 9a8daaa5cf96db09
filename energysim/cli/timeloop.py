"""``energysim timeloop check CASE [CASE ...]``: run our engine on Timeloop cases (folders of Timeloop's files,
or ``case.json`` alone) and compare counts, energy, cycles and utilization."""

from __future__ import annotations

import argparse
import json


def _cmd_check(args: argparse.Namespace) -> int:
    from energysim.interop.timeloop import TimeloopCase, check_rtol

    rtol = check_rtol(args.energy_rtol)
    semantics = None if args.semantics == "auto" else args.semantics
    # load every case first: a bad input anywhere is one error line, before any output
    cases = [TimeloopCase.load(d) for d in args.cases]
    results = [c.compare(energy_rtol=rtol, semantics=semantics) for c in cases]
    n_ok = sum(r.ok for r in results)
    if args.json:
        print(json.dumps({"cases": [r.to_dict() for r in results], "matched": n_ok, "total": len(results),
                          "energy_rtol": rtol}))
    else:
        for r in results:
            print(r.to_text())
            print()
        print(f"{n_ok}/{len(results)} cases match")
    return 0 if n_ok == len(results) else 1


def register(sub) -> None:
    p = sub.add_parser("timeloop", help="Timeloop interop (compare with Timeloop reference outputs)")
    tsub = p.add_subparsers(dest="timeloop_command", required=True)
    c = tsub.add_parser("check", help="evaluate Timeloop cases with our engine and compare: counts, MACs and "
                                      "cycles exactly, energy per level within a tolerance, utilization")
    c.add_argument("cases", nargs="+", metavar="CASE",
                   help="a case folder (parsed-processed-input.yaml, *.ERT.yaml, *.stats.txt; or only case.json), "
                        "or a case.json file")
    c.add_argument("--energy-rtol", default="1e-3", metavar="RTOL",
                   help="relative tolerance on energy per level, a finite number >= 0 (default 1e-3 = 0.1%%)")
    c.add_argument("--semantics", choices=("auto", "2020", "2024"), default="auto",
                   help="Timeloop's counting and pricing rules: 2024 (today's), 2020 (first output fills counted, "
                        "one max(read, write) price per access), or auto (default: what each case.json says, "
                        "else 2024)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    c.set_defaults(func=_cmd_check)

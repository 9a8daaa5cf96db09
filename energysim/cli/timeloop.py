"""``energysim timeloop check DIR [DIR ...]``: run our engine on Timeloop case folders and compare."""

from __future__ import annotations

import argparse


def _cmd_check(args: argparse.Namespace) -> int:
    from energysim.interop.timeloop import TimeloopCase

    n_ok = 0
    for d in args.dirs:
        case = TimeloopCase.load(d)
        cmp = case.compare(energy_rtol=args.energy_rtol)
        print(cmp.to_text())
        print()
        n_ok += cmp.ok
    print(f"{n_ok}/{len(args.dirs)} cases match")
    return 0 if n_ok == len(args.dirs) else 1


def register(sub) -> None:
    p = sub.add_parser("timeloop", help="Timeloop interop (compare with Timeloop reference outputs)")
    tsub = p.add_subparsers(dest="timeloop_command", required=True)
    c = tsub.add_parser("check", help="evaluate Timeloop case folders with our engine and compare, "
                                      "counts exactly and energy per level within a tolerance")
    c.add_argument("dirs", nargs="+", metavar="DIR",
                   help="case folder with parsed-processed-input.yaml, *.ERT.yaml and *.stats.txt (or case.json)")
    c.add_argument("--energy-rtol", type=float, default=1e-3,
                   help="relative tolerance on energy per level (default 1e-3 = 0.1%%)")
    c.set_defaults(func=_cmd_check)

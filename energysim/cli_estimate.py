"""``energysim estimate`` and ``energysim profiles``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import EnergySimError


def _progress(i: int, n: int, name: str) -> None:
    print(f"\r[{i + 1:>4}/{n}] {name:<40.40}", end="" if i + 1 < n else "\n", file=sys.stderr, flush=True)


def _cmd_profiles(args: argparse.Namespace) -> int:
    from .profile import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        pes = p.mac.instances
        print(f"{name:<14} {p.technology:<6} {pes:>5} PEs  levels: {' > '.join(p.level_names)}")
    return 0


def _cmd_estimate(args: argparse.Namespace) -> int:
    from .cli import load_network
    from .estimate import estimate
    from .plots import write_figures

    if args.dataflow not in _dataflow_choices():
        raise EnergySimError(f"unknown dataflow {args.dataflow!r}; choose one of {_dataflow_choices()}")
    net = load_network(args.model, args.batch)
    quiet = args.json or not sys.stderr.isatty()
    report = estimate(net, args.profile, args.dataflow, progress=None if quiet else _progress)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{net.name}_{report.profile}_{args.dataflow}"
        report.to_csv(out / f"{stem}.csv")
        report.to_json(out / f"{stem}.json")
        figs = write_figures(report, out, stem)
        if not args.json:
            print(f"wrote {out / (stem + '.csv')}, {out / (stem + '.json')} and {len(figs)} figures", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.summary())
    return 0


def _dataflow_choices() -> list[str]:
    from .dataflows import DATAFLOWS

    return list(DATAFLOWS)


def register(sub) -> None:
    p = sub.add_parser("profiles", help="list the shipped hardware profiles")
    p.set_defaults(func=_cmd_profiles)
    p = sub.add_parser("estimate", help="energy of a model on a hardware profile with a dataflow")
    p.add_argument("model", help="zoo model name (see `energysim models`) or an .onnx file")
    p.add_argument("--profile", default="eyeriss-65nm", help="shipped profile name or a YAML path")
    p.add_argument("--dataflow", default="rs", help="rs | ws | os | nlr (default rs)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--out", help="directory for the CSV, JSON and PNG figures")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=_cmd_estimate)

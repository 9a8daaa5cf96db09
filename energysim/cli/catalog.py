"""``energysim models``, ``energysim profiles`` and ``energysim layers``: what is built in, and the layers of a
model."""

from __future__ import annotations

import argparse
import json

from energysim.cli.common import load_network


def _cmd_models(args: argparse.Namespace) -> int:
    from energysim.workload import zoo

    for e in zoo.MODELS.values():
        shape = "x".join(map(str, e.input_shape))
        print(f"{e.name:<13} {shape:<10} {e.description}")
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from energysim.arch import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        pes = p.mac.instances
        print(f"{name:<14} {p.technology:<6} {pes:>5} PEs  levels: {' > '.join(p.level_names)}")
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    net = load_network(args.model, args.batch)
    df = net.to_dataframe()
    if args.json:
        print(json.dumps(df.to_dict(orient="records"), indent=1))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(df.to_string(index=False))
        print(f"\n{net.name}: {len(net)} layers, {net.macs:,} MACs at batch {args.batch}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help="list the built-in model zoo")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("layers", help="per-layer table of a model: loop bounds, MACs, tensor sizes")
    p.add_argument("model", help="zoo model name (see `energysim models`) or an .onnx file")
    p.add_argument("--batch", type=int, default=1, help="batch size N (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    p.set_defaults(func=_cmd_layers)
    p = sub.add_parser("profiles", help="list the shipped hardware profiles")
    p.set_defaults(func=_cmd_profiles)

"""``energysim models``, ``energysim profiles`` and ``energysim layers``: what is built in, and the layers of a
model."""

from __future__ import annotations

import argparse

from energysim.analysis.schema import stamped
from energysim.cli import options
from energysim.cli.common import load_network
from energysim.cli.outputs import dumps


def _cmd_models(args: argparse.Namespace) -> int:
    from energysim.workload import zoo_info as zoo  # torch-free: names, shapes, descriptions

    if args.json:
        print(dumps(stamped("energysim.models", {"models": [
            {"name": e.name, "input_shape": list(e.input_shape), "description": e.description}
            for e in zoo.MODELS.values()]}), indent=1))
        return 0
    for e in zoo.MODELS.values():
        shape = "x".join(map(str, e.input_shape))
        print(f"{e.name:<13} {shape:<10} {e.description}")
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from energysim.arch import list_profiles, load_profile

    profiles = [load_profile(name) for name in list_profiles()]
    if args.json:
        print(dumps(stamped("energysim.profiles", {"profiles": [
            {"name": p.name, "technology": p.technology, "pes": p.mac.instances, "levels": p.level_names,
             "energy_unit": p.energy_unit, "description": p.description} for p in profiles]}), indent=1))
        return 0
    for p in profiles:
        print(f"{p.name:<14} {p.technology:<6} {p.mac.instances:>5} PEs  levels: {' > '.join(p.level_names)}")
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    net = load_network(args.model, args.batch, args.lenient)
    df = net.to_dataframe()
    if args.json:
        print(dumps(stamped("energysim.layers", {
            "model": net.name, "batch": args.batch, "macs": net.macs, "layer_count": len(net),
            "layers": df.to_dict(orient="records")}), indent=1))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(df.to_string(index=False))
        print(f"\n{net.name}: {len(net)} layers, {net.macs:,} MACs at batch {args.batch}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help="list the built-in model zoo", description="List the built-in model zoo.")
    options.add_json(p)
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("layers", help="per-layer table of a model: loop bounds, MACs, tensor sizes",
                       description="Per-layer table of a model: loop bounds, MACs, tensor sizes.")
    options.add_model(p)
    options.add_batch(p)
    options.add_lenient(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (schema_version, kind energysim.layers, model, batch, macs, "
                        "layers: one object per layer) instead of a table")
    p.set_defaults(func=_cmd_layers)
    p = sub.add_parser("profiles", help="list the shipped hardware profiles",
                       description="List the shipped hardware profiles.")
    options.add_json(p)
    p.set_defaults(func=_cmd_profiles)
    from energysim.cli.accelergy import register_into

    register_into(p)  # energysim profiles from-accelergy

"""How far the fixed dataflow templates are from the mapping search, layer by layer.

For every MAC layer of each model on each shipped profile and for each of ``rs``, ``ws``, ``os``: the energy of
the template (``rs-template``, ...) over the energy of the search constrained to the same dataflow (``rs``, ...),
both as ``estimate`` reports them (accesses + leakage + MACs + NoC). The search also evaluates the template and
keeps it when better, so every ratio is >= 1. Prints, per (model, profile, dataflow), the whole-network ratio and
the largest per-layer ratio with its layer, and the number of layers over 1.10 (the issue's bar for a template
that does not mislead); ``--json`` prints every layer.

    .venv/bin/python benchmarks/template_gap.py [--models alexnet,vgg16,resnet18] [--profiles a,b] [--batch 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

DATAFLOWS = ("rs", "ws", "os")


def gap(model: str, profile: str, dataflow: str, batch: int) -> dict:
    from energysim import estimate, trace_model

    net = trace_model(model, batch=batch)
    t = time.perf_counter()
    tmpl = estimate(net, profile, f"{dataflow}-template", mac_layers_only=True)
    t_tmpl = time.perf_counter() - t
    t = time.perf_counter()
    srch = estimate(net, profile, dataflow, mac_layers_only=True)
    t_srch = time.perf_counter() - t
    layers = [(a.name, a.energy / b.energy) for a, b in zip(tmpl.layers, srch.layers)]
    worst = max(layers, key=lambda r: r[1])
    return {"model": model, "profile": profile, "dataflow": dataflow, "batch": batch,
            "network_ratio": tmpl.total_energy / srch.total_energy, "max_ratio": worst[1], "max_layer": worst[0],
            "min_ratio": min(r for _, r in layers), "layers_over_1_10": sum(r > 1.10 for _, r in layers),
            "layers": len(layers), "template_s": t_tmpl, "search_s": t_srch, "per_layer": layers}


def main() -> int:
    from energysim.arch import list_profiles

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="alexnet,vgg16,resnet18")
    ap.add_argument("--profiles", help="comma-separated (default: every shipped profile)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    profiles = a.profiles.split(",") if a.profiles else list(list_profiles())
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for model in a.models.split(","):
        for prof in profiles:
            print(f"{model} on {prof} ...", file=sys.stderr, flush=True)
            rows += [gap(model, prof, df, a.batch) for df in DATAFLOWS]
    wall = time.perf_counter() - t0
    if a.json:
        print(json.dumps({"batch": a.batch, "wall_s": wall, "loadavg": load0, "results": rows}, indent=1))
        return 0
    print(f"template energy / searched energy, same dataflow, batch {a.batch}; load average {load0[0]:.2f}; "
          f"{wall:.0f} s")
    print(f"{'model':<9}{'profile':<16}{'df':<4}{'network':>8}{'max layer':>10}  {'at':<22}{'>1.10':>7}"
          f"{'t tmpl s':>9}{'t search s':>11}")
    for r in rows:
        print(f"{r['model']:<9}{r['profile']:<16}{r['dataflow']:<4}{r['network_ratio']:>8.3f}{r['max_ratio']:>10.3f}  "
              f"{r['max_layer']:<22}{r['layers_over_1_10']:>3}/{r['layers']:<3}{r['template_s']:>9.2f}"
              f"{r['search_s']:>11.2f}")
    worst = max(rows, key=lambda r: r["max_ratio"])
    print(f"largest: {worst['max_ratio']:.3f} ({worst['model']} {worst['max_layer']} on {worst['profile']}, "
          f"{worst['dataflow']}); layers over 1.10: {sum(r['layers_over_1_10'] for r in rows)} of "
          f"{sum(r['layers'] for r in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

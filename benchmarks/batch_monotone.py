"""Energy per MAC against batch size, for the default dataflow (``rs``: the row-stationary mapping search).

For each model and shipped profile, ``estimate`` of the whole network at every batch of the list (default: the
powers of two 1..1024 and the primes 2, 3, 5, 7, 11, 13, 17, 31, 61, 127, 251, 509, 1021; ``--all-primes``: every
prime up to 1024) and two checks of "energy per MAC does not grow with the batch":

- **multiples**: a batch ``k*b`` can always run as ``k`` batches of ``b`` (the same mapping with ``N`` outermost
  at DRAM; every count scales by ``k``), so ``e(k*b) <= e(b)`` for every listed ``b`` dividing ``k*b``. A failure
  is a mapping the search missed.
- **order**: ``e(b) <= e(a)`` for every listed ``a < b``. Mappings split loop bounds into exact factors
  (Timeloop's rule), so a prime batch cannot be tiled; the search also runs it padded to the next batches
  without a large prime factor (``MapperOptions.pad_batch``: 1021 as 1024, its phantom images counted as work).
  What remains is listed, not fixed: a padded batch pays for its phantom images, and where energy per MAC has
  saturated no schedule of a batch the saturating tile does not divide can reach it (docs/results/templates.md).

Prints one row per (model, profile): energy per MAC at a few batches, the worst ratio of each check (1.000 = never
grows) and where, and min / median seconds per estimate. ``--table`` prints every batch; ``--explain`` prints,
for the worst order violation, the layers whose energy per MAC grew most; ``--json`` prints everything.

    .venv/bin/python benchmarks/batch_monotone.py [--models alexnet,vgg16,resnet18] [--profiles a,b]
        [--dataflow rs] [--all-primes] [--table] [--explain] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

POW2 = [2**i for i in range(11)]
PRIMES = [2, 3, 5, 7, 11, 13, 17, 31, 61, 127, 251, 509, 1021]
RTOL = 1e-9


def primes_upto(n: int) -> list[int]:
    return [p for p in range(2, n + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]


def run(model: str, profile: str, dataflow: str, batches: list[int]) -> dict:
    """Energy per MAC (profile unit), per-layer energies and seconds of each batch's estimate."""
    from energysim import estimate, trace_model

    out = {}
    for b in batches:
        net = trace_model(model, batch=b)
        t = time.perf_counter()
        rep = estimate(net, profile, dataflow)
        sec = time.perf_counter() - t
        macs = sum(l.macs for l in rep.layers)
        out[b] = {"e_per_mac": rep.total_energy / macs, "seconds": sec, "unit": rep.energy_unit,
                  "layers": {l.name: (l.energy, l.macs) for l in rep.layers}}
    return out


def checks(res: dict) -> dict:
    """The worst ratio of each check and the batches where it occurs."""
    bs = sorted(res)
    e = {b: res[b]["e_per_mac"] for b in bs}
    mult = (1.0, None, None)  # (ratio e(big) / e(divisor), big, divisor)
    order = (1.0, None, None)  # (ratio e(b) / min over a < b, b, argmin a)
    for i, b in enumerate(bs):
        for a in bs[:i]:
            r = e[b] / e[a]
            if b % a == 0 and r > mult[0]:
                mult = (r, b, a)
            if r > order[0]:
                order = (r, b, a)
    return {"multiples": mult, "order": order,
            "multiples_ok": mult[0] <= 1 + RTOL, "order_ok": order[0] <= 1 + RTOL}


def explain(res: dict, b: int, a: int, top: int = 5) -> list[tuple[str, float, float]]:
    """Layers with the largest growth of energy per MAC from batch ``a`` to ``b``: (name, e_a, e_b)."""
    la, lb = res[a]["layers"], res[b]["layers"]
    rows = [(n, la[n][0] / la[n][1], lb[n][0] / lb[n][1]) for n in lb if lb[n][1] and n in la and la[n][1]]
    return sorted(rows, key=lambda r: r[2] / r[1], reverse=True)[:top]


def main() -> int:
    from energysim.arch import list_profiles

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="alexnet,vgg16,resnet18")
    ap.add_argument("--profiles", help="comma-separated (default: every shipped profile)")
    ap.add_argument("--dataflow", default="rs")
    ap.add_argument("--batches", help="comma-separated batch list instead of the default one")
    ap.add_argument("--all-primes", action="store_true", help="every prime up to 1024, not a sample")
    ap.add_argument("--table", action="store_true", help="energy per MAC at every batch")
    ap.add_argument("--explain", action="store_true", help="layers behind the worst order violation")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.batches:
        batches = sorted({int(x) for x in a.batches.split(",")})
    else:
        batches = sorted(set(POW2) | set(primes_upto(1024) if a.all_primes else PRIMES))
    profiles = a.profiles.split(",") if a.profiles else [p if isinstance(p, str) else p["name"]
                                                         for p in list_profiles()]
    load0 = os.getloadavg()
    t_all = time.perf_counter()
    results, summary = {}, []
    for model in a.models.split(","):
        for prof in profiles:
            print(f"{model} on {prof} ...", file=sys.stderr, flush=True)
            res = run(model, prof, a.dataflow, batches)
            c = checks(res)
            secs = [r["seconds"] for r in res.values()]
            summary.append({"model": model, "profile": prof, **c, "unit": res[batches[0]]["unit"],
                            "seconds_min": min(secs), "seconds_median": statistics.median(secs),
                            "e_per_mac": {b: res[b]["e_per_mac"] for b in batches},
                            "explain": explain(res, c["order"][1], c["order"][2]) if c["order"][1] else []})
            results[(model, prof)] = res
    wall = time.perf_counter() - t_all
    if a.json:
        print(json.dumps({"dataflow": a.dataflow, "batches": batches, "wall_s": wall, "loadavg": load0,
                          "results": summary}, indent=1))
        return 0 if all(s["multiples_ok"] for s in summary) else 1
    print(f"dataflow {a.dataflow}; batches {batches[0]}..{batches[-1]} ({len(batches)}: powers of two and "
          f"{'all primes' if a.all_primes else 'sampled primes'}); load average {load0[0]:.2f}; {wall:.0f} s")
    show = [b for b in (1, 2, 4, 16, 64, 256, 1021, 1024) if b in batches]
    head = "".join(f"{'e/MAC@' + str(b):>11}" for b in show)
    print(f"{'model':<9}{'profile':<16}{head} {'multiples':>18} {'order':>20} {'s/estimate min/med':>19}")
    for s in summary:
        m, o = s["multiples"], s["order"]
        mcol = f"{m[0]:.4f}" + (f" ({m[1]}/{m[2]})" if m[1] and not s["multiples_ok"] else "")
        ocol = f"{o[0]:.4f}" + (f" ({o[1]} vs {o[2]})" if o[1] and not s["order_ok"] else "")
        vals = "".join(f"{s['e_per_mac'][b]:>11.4f}" for b in show)
        print(f"{s['model']:<9}{s['profile']:<16}{vals} {mcol:>18} {ocol:>20} "
              f"{s['seconds_min']:>8.2f} /{s['seconds_median']:>6.2f}")
    print("multiples: max e(k*b)/e(b) (1.0000 = never grows; shown as (k*b/b) when it does); "
          "order: max e(b)/e(a), a < b; energy per MAC in each profile's unit")
    if a.table:
        print()
        print(f"{'model':<9}{'profile':<16}" + "".join(f"{b:>8}" for b in batches))
        for s in summary:
            print(f"{s['model']:<9}{s['profile']:<16}" + "".join(f"{s['e_per_mac'][b]:>8.3f}" for b in batches))
    if a.explain:
        for s in summary:
            o = s["order"]
            if s["order_ok"]:
                continue
            print(f"\n{s['model']} on {s['profile']}: batch {o[1]} vs {o[2]} ({o[0]:.4f}); layers, energy/MAC "
                  f"at {o[2]} -> {o[1]}:")
            for n, ea, eb in s["explain"]:
                print(f"  {n:<24} {ea:9.4f} -> {eb:9.4f}  ({eb / ea:.3f}x)")
    return 0 if all(s["multiples_ok"] for s in summary) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``energysim sweep``: evaluate a grid of accelerator designs for a network; Pareto front and budgets."""

from __future__ import annotations

import argparse
import json
import sys
import time

from energysim.cli.common import load_network
from energysim.analysis.schema import stamped


def _cmd_sweep(args: argparse.Namespace) -> int:
    from energysim.errors import EnergySimError
    from energysim.analysis.sweep import make_grid, pareto_front, run_sweep, within_budget, write_outputs

    designs = make_grid(args.pe, args.glb_kb, args.rf_words, args.bits)
    if args.workers < 1:
        raise EnergySimError(f"--workers = {args.workers} must be >= 1")
    net = load_network(args.model, args.batch)
    from energysim.arch import load_profile

    unit = load_profile(args.profile).energy_unit
    mega = "uJ" if unit == "pJ" else f"M {unit}"  # energies are printed / 1e6
    t0 = time.perf_counter()

    def progress(i, n, row):
        msg = f"[{i:>4}/{n}] {row['label']:<32.32} {row['status']}"
        if row["status"] == "ok":
            msg += f"  {row['energy'] / 1e6:,.1f} {mega}  {row['cycles']:,.0f} cycles  {row['area_mm2']:.2f} mm2"
        print(msg, file=sys.stderr, flush=True)

    df = run_sweep(net, args.profile, designs, args.objective, args.dataflow, args.workers, args.dask, progress)
    wall = time.perf_counter() - t0
    front = pareto_front(df)
    budget = within_budget(df, args.max_energy, args.max_cycles, args.max_area_mm2)
    title = f"{net.name} on {args.profile}: {len(df)} designs"
    paths = write_outputs(args.out, df, front, budget, title, mega)
    n_ok = int((df["status"] == "ok").sum())
    has_budget = any(v is not None for v in (args.max_energy, args.max_cycles, args.max_area_mm2))
    summary = stamped("energysim.sweep", {
        "model": net.name, "profile": args.profile, "objective": args.objective, "dataflow": args.dataflow,
        "energy_unit": unit, "designs": len(df), "valid": n_ok, "invalid": len(df) - n_ok, "pareto": len(front),
        "within_budget": len(budget) if has_budget else None, "seconds": round(wall, 3),
        "files": {k: str(v) for k, v in paths.items()},
        "best": {c: (df.loc[df[df["status"] == "ok"][c].idxmin(), "label"] if n_ok else None)
                 for c in ("energy", "cycles", "area_mm2")},
    })
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{len(df)} designs ({n_ok} valid) in {wall:.1f} s; Pareto front: {len(front)} designs")
        for _, r in df[df["status"] != "ok"].iterrows():
            print(f"  {r['label']}: {r['status']}: {r['error']}")
        if has_budget:
            if budget.empty:
                print("no design meets the budget")
            else:
                print(f"{len(budget)} designs meet the budget; lowest {args.objective}:")
                col = {"energy": "energy", "cycles": "cycles", "edp": "edp"}[args.objective]
                for _, r in budget.sort_values(col).head(5).iterrows():
                    print(f"  {r['label']:<32} {r['energy'] / 1e6:,.1f} {mega}  {r['cycles']:,.0f} cycles  "
                          f"{r['area_mm2']:.2f} mm2")
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="size an accelerator: evaluate a grid of designs, Pareto front, budgets")
    p.add_argument("model", help="zoo model name (see `energysim models`) or an .onnx file")
    p.add_argument("--profile", default="eyeriss-65nm", help="base profile (shipped name or YAML path)")
    p.add_argument("--pe", help="PE arrays ROWSxCOLS, comma-separated (e.g. 12x14,16x16)")
    p.add_argument("--glb-kb", help="global buffer sizes in kB, comma-separated")
    p.add_argument("--rf-words", help="PE-level storage words per PE, comma-separated")
    p.add_argument("--bits", help="datapath widths in bits, comma-separated (e.g. 8,16)")
    p.add_argument("--objective", default="energy", choices=["energy", "cycles", "edp"],
                   help="what the mapper minimizes per layer (default energy)")
    p.add_argument("--dataflow", default="search", choices=["search", "rs-search", "ws-search", "os-search"],
                   help="mapping search, free or constrained to a dataflow (default search)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--max-energy", "--max-energy-pj", dest="max_energy", type=float,
                   help="energy budget per inference batch, in the base profile's energy unit (pJ unless it says "
                        "otherwise; --max-energy-pj is the older spelling)")
    p.add_argument("--max-cycles", type=float, help="latency budget (cycles)")
    p.add_argument("--max-area-mm2", type=float, help="area budget (mm^2)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--dask", help="run on a Dask scheduler: its address (tcp://host:8786) or 'local'")
    p.add_argument("--out", required=True, help="directory for designs.csv, pareto.csv, budget.csv, pareto.png")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_cmd_sweep)

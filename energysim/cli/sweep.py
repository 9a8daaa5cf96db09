"""``energysim sweep``: evaluate a grid of accelerator designs for a network; Pareto front and budgets."""

from __future__ import annotations

import argparse
import re
import sys
import time

from energysim.analysis.schema import stamped
from energysim.cli import options
from energysim.cli.common import load_network
from energysim.errors import EnergySimError

# what ``distributed.Client`` takes: tcp://HOST:PORT (or another scheme), or HOST:PORT
_DASK_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://)?(\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+):\d{1,5}$")


def check_dask(address: str | None) -> None:
    if address is not None and address != "local" and not _DASK_ADDRESS.match(address):
        raise EnergySimError(f"--dask {address!r} is neither 'local' nor a scheduler address like "
                             "tcp://HOST:8786")


def _cmd_sweep(args: argparse.Namespace) -> int:
    from energysim.analysis.sweep import check_grid, make_grid, pareto_front, run_sweep, within_budget, write_outputs
    from energysim.arch import load_profile
    from energysim.cli.outputs import atomic_output_dir, check_out, dumps, in_place
    from energysim.cli.progress import Progress

    # every value is checked before the first design is mapped
    options.check_search_batch(args.batch, args.dataflow)
    check_dask(args.dask)
    if args.out:
        check_out(args.out)
    base = load_profile(args.profile)
    designs = make_grid(args.pe, args.glb_kb, args.rf_words, args.bits)
    check_grid(base, designs)
    net = load_network(args.model, args.batch, args.lenient)
    unit = base.energy_unit
    mega = "uJ" if unit == "pJ" else f"M {unit}"  # energies are printed / 1e6
    t0 = time.perf_counter()
    progress = Progress(enabled=False if (args.quiet or args.json) else None)
    with progress.bar(len(designs), "sweep") as bar:
        def step(i, n, row):
            extra = {}
            if row["status"] == "ok":
                extra = {"energy": f"{row['energy'] / 1e6:,.1f} {mega}", "cycles": f"{row['cycles']:,.0f}",
                         "area": f"{row['area_mm2']:.2f} mm2"}
            bar.step(f"{row['label']} {row['status']}", n=i, **extra)

        df = run_sweep(net, base, designs, args.objective, args.dataflow, args.workers, args.dask, step,
                       skip_unsupported=args.lenient)
    wall = time.perf_counter() - t0
    front = pareto_front(df)
    budget = within_budget(df, args.max_energy, args.max_cycles, args.max_area_mm2)
    title = f"{net.name} on {base.name}: {len(df)} designs"
    paths: dict = {}
    if args.out:
        with atomic_output_dir(args.out) as tmp:
            paths = in_place(write_outputs(tmp, df, front, budget, title, mega), tmp, args.out)
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
        print(dumps(summary, indent=1))
        return 0
    print(f"{len(df)} designs ({n_ok} valid) in {wall:.1f} s; Pareto front: {len(front)} designs")
    for _, r in df[df["status"] != "ok"].iterrows():
        print(f"  {r['label']}: {r['status']}: {r['error']}")
    if has_budget:
        if budget.empty:
            print("no design meets the budget")
        else:
            print(f"{len(budget)} designs meet the budget; lowest {args.objective}:")
            for _, r in budget.sort_values(args.objective).head(5).iterrows():
                print(f"  {r['label']:<32} {r['energy'] / 1e6:,.1f} {mega}  {r['cycles']:,.0f} cycles  "
                      f"{r['area_mm2']:.2f} mm2")
    if paths:
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if args.out is None and not args.quiet:
        print("(no files written: give --out DIR for designs.csv, pareto.csv, budget.csv and pareto.png)",
              file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("sweep", help="size an accelerator: evaluate a grid of designs, Pareto front, budgets",
                       description="Size an accelerator: evaluate a grid of designs (the product of the values "
                                   "given), the Pareto front over energy, cycles and area, and budgets.")
    options.add_model(p)
    options.add_profile(p, help="base profile: a shipped name (see `energysim profiles`) or a profile YAML file")
    p.add_argument("--pe", metavar="RxC,...", help="PE arrays ROWSxCOLS, comma-separated (e.g. 12x14,16x16)")
    p.add_argument("--glb-kb", metavar="KB,...", help="global buffer sizes in kB (> 0), comma-separated")
    p.add_argument("--rf-words", metavar="W,...", help="PE-level storage words per PE (>= 1), comma-separated")
    p.add_argument("--bits", metavar="B,...", help="datapath widths in bits (>= 1), comma-separated (e.g. 8,16)")
    p.add_argument("--objective", default="energy", choices=["energy", "cycles", "edp"],
                   help="what the mapping search minimizes per layer")
    options.add_dataflow(p, default="search")
    options.add_batch(p)
    p.add_argument("--max-energy", "--max-energy-pj", dest="max_energy", type=options.nonneg_float,
                   help="energy budget per inference batch, in the base profile's energy unit (pJ unless it says "
                        "otherwise; --max-energy-pj is the older spelling)")
    p.add_argument("--max-cycles", type=options.nonneg_float, help="latency budget (cycles)")
    p.add_argument("--max-area-mm2", type=options.nonneg_float, help="area budget (mm^2)")
    p.add_argument("--workers", type=options.positive_int, default=1, help="local worker processes")
    p.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler: its address (tcp://host:8786) or 'local'")
    options.add_out(p, "designs.csv, pareto.csv, budget.csv and pareto.png")
    options.add_json(p)
    options.add_quiet(p)
    options.add_lenient(p)
    p.set_defaults(func=_cmd_sweep)

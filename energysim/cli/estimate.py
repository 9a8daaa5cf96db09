"""``energysim estimate``: the energy of a model on a hardware profile with a dataflow."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from energysim.cli.common import load_network
from energysim.mapping.dataflow import check_dataflow
from energysim.errors import EnergySimError


def _progress(i: int, n: int, name: str) -> None:
    print(f"\r[{i + 1:>4}/{n}] {name:<40.40}", end="" if i + 1 < n else "\n", file=sys.stderr, flush=True)


def _cmd_estimate(args: argparse.Namespace) -> int:
    from energysim.analysis.estimate import estimate
    from energysim.analysis.plots import write_figures

    check_dataflow(args.dataflow)
    net = load_network(args.model, args.batch)
    quiet = args.json or not sys.stderr.isatty()
    kw = _sparse_kwargs(args, net)  # empty unless sparsity / bit-width flags are given
    report = estimate(net, args.profile, args.dataflow, progress=None if quiet else _progress, **kw)
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


def _sparse_kwargs(args: argparse.Namespace, net) -> dict:
    """``sparsity=`` / ``bits=`` for ``estimate`` from the sparsity flags (see ``energysim.costs.sparsity``)."""
    if not (args.densities or args.measure_densities or args.rlc or args.gating or args.skipping or args.bits
            or args.default_density is not None):
        return {}
    from energysim.arch import load_profile
    from energysim.costs.sparsity import BitWidths, SparseOptions

    densities: dict = {}
    if args.measure_densities:
        import torch

        from energysim.workload import zoo
        from energysim.costs.sparsity import measure_network_densities

        if args.model.endswith(".onnx"):
            raise EnergySimError("--measure-densities works for zoo models only; give --densities FILE.json")
        torch.manual_seed(args.seed)
        module = zoo.build(args.model)
        x = torch.randn(args.batch, *zoo.input_shape(args.model))
        densities.update(measure_network_densities(module, x, net))
    if args.densities:
        try:
            data = json.loads(Path(args.densities).read_text())
        except json.JSONDecodeError as exc:
            raise EnergySimError(f"--densities {args.densities!r} is not valid JSON: {exc}") from None
        densities.update(data)
    prof = load_profile(args.profile)
    over = {"densities": densities, "bits": BitWidths.parse(args.bits)}
    if args.default_density is not None:
        over["default_density"] = {"inputs": args.default_density, "outputs": args.default_density}
    if args.rlc:
        over["rlc_levels"] = tuple(x for x in args.rlc.split(",") if x) if args.rlc != "-" else (prof.level_names[0],)
    if args.gating:
        over["gating"] = ("Inputs",)
    if args.skipping:
        over["skipping"] = ("Inputs",)
    return {"sparsity": SparseOptions.from_profile(prof, **over)}


def register(sub) -> None:
    p = sub.add_parser("estimate", help="energy of a model on a hardware profile with a dataflow")
    p.add_argument("model", help="zoo model name (see `energysim models`) or an .onnx file")
    p.add_argument("--profile", default="eyeriss-65nm", help="shipped profile name or a YAML path")
    p.add_argument("--dataflow", default="rs", help="rs | ws | os | nlr, or a mapping search: search | rs-search | ws-search | os-search (default rs)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--out", help="directory for the CSV, JSON and PNG figures")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    g = p.add_argument_group("sparsity and bit width (energysim.costs.sparsity; absent = dense, profile widths)")
    g.add_argument("--densities", metavar="FILE.json",
                   help='per-layer non-zero fractions: {"layer": {"inputs": 0.6, "outputs": 0.3}} or {"layer": 0.6}')
    g.add_argument("--measure-densities", action="store_true",
                   help="measure densities with a forward pass of the zoo model (random weights and inputs, --seed)")
    g.add_argument("--seed", type=int, default=0, help="seed for --measure-densities (default 0)")
    g.add_argument("--default-density", type=float, metavar="D",
                   help="non-zero fraction of the input and output maps of layers not listed")
    g.add_argument("--rlc", nargs="?", const="-", metavar="LEVELS",
                   help="run-length code feature maps in the outermost level (DRAM), or in the comma-separated "
                        "LEVELS (Eyeriss format: 5-bit run, 16-bit level, 3 pairs per 64-bit word)")
    g.add_argument("--gating", action="store_true", help="zero inputs gate the MAC and RF reads (not the cycle)")
    g.add_argument("--skipping", action="store_true", help="zero inputs are skipped (energy and cycle)")
    g.add_argument("--bits", metavar="w=8,i=8,o=16", help="bit widths of weights, inputs, outputs/psums")
    p.set_defaults(func=_cmd_estimate)

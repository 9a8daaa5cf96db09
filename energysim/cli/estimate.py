"""``energysim estimate``: the energy of a model on a hardware profile with a dataflow."""

from __future__ import annotations

import argparse
import sys

from energysim.cli import options
from energysim.cli.common import is_onnx_path, load_network, read_json_file
from energysim.errors import EnergySimError


def _cmd_estimate(args: argparse.Namespace) -> int:
    from energysim.analysis.estimate import estimate
    from energysim.analysis.plots import write_figures
    from energysim.arch import load_profile
    from energysim.cli.outputs import atomic_output_dir, check_out, dumps, in_place
    from energysim.cli.progress import Progress

    # everything the user typed is checked before the model is traced and mapped
    options.check_search_batch(args.batch, args.dataflow)
    if args.out:
        check_out(args.out)
    prof = load_profile(args.profile)
    densities = read_json_file(args.densities, "--densities") if args.densities else None
    if args.bits:
        from energysim.costs.sparsity import BitWidths

        BitWidths.parse(args.bits)
    net = load_network(args.model, args.batch, args.lenient)
    kw = _sparse_kwargs(args, net, prof, densities)  # empty unless sparsity / bit-width flags are given
    progress = Progress(enabled=False if (args.quiet or args.json) else None)
    total = sum(1 for l in net if not (args.lenient and l.kind == "unsupported"))
    with progress.bar(total, "estimate") as bar:
        report = estimate(net, prof, args.dataflow, progress=lambda i, n, name: bar.step(name, n=i),
                          skip_unsupported=args.lenient, **kw)
    if report.skipped and not args.json:
        print(f"energysim: warning: not counted: {len(report.skipped)} unsupported layer(s) "
              f"({', '.join(report.skipped[:5])}{', ...' if len(report.skipped) > 5 else ''})", file=sys.stderr)
    files = []
    if args.out:
        stem = f"{net.name}_{report.profile}_{args.dataflow}"
        with atomic_output_dir(args.out) as tmp:
            report.to_csv(tmp / f"{stem}.csv")
            report.to_json(tmp / f"{stem}.json")
            figs = write_figures(report, tmp, stem)
            files = in_place([tmp / f"{stem}.csv", tmp / f"{stem}.json", *figs], tmp, args.out)
        if not (args.json or args.quiet):
            print(f"wrote {files[0]}, {files[1]} and {len(figs)} figures", file=sys.stderr)
    if args.json:
        d = report.to_dict()
        if args.out:
            d["files"] = [str(f) for f in files]
        print(dumps(d, indent=1))
    else:
        print(report.summary())
    return 0


#: Largest batch of the forward pass of ``--measure-densities``.
MAX_MEASURE_BATCH = 64


def _sparse_kwargs(args: argparse.Namespace, net, prof, densities) -> dict:
    """``sparsity=`` for ``estimate`` from the sparsity flags (see ``energysim.costs.sparsity``)."""
    flags = (densities or args.measure_densities or args.rlc is not None or args.gating or args.skipping
             or args.bits is not None or args.default_density is not None)
    from energysim.costs.sparsity import BitWidths, SparseOptions, validate_densities

    if args.dense:
        if flags:
            raise EnergySimError("--dense turns the profile's sparsity off; it cannot be combined with --densities, "
                                 "--measure-densities, --default-density, --rlc, --gating, --skipping or --bits")
        return {"sparsity": SparseOptions()}
    if not flags:
        return {}  # the profile's own sparsity section (if any) applies

    found: dict = {}
    if args.measure_densities:
        import torch

        from energysim.workload import zoo
        from energysim.costs.sparsity import measure_network_densities

        if is_onnx_path(args.model):
            raise EnergySimError("--measure-densities works for zoo models only; give --densities FILE.json")
        if args.batch > MAX_MEASURE_BATCH:
            # the forward pass holds every activation of the batch: a large one runs out of memory
            raise EnergySimError(f"--measure-densities runs a forward pass at --batch {args.batch}; at most "
                                 f"{MAX_MEASURE_BATCH} (densities are fractions: measure them at a smaller batch, "
                                 "then give them with --densities)")
        torch.manual_seed(args.seed)
        module = zoo.build(args.model)
        x = torch.randn(args.batch, *zoo.input_shape(args.model))
        found.update(measure_network_densities(module, x, net))
    if densities is not None:
        if not isinstance(densities, dict):
            raise EnergySimError(f"--densities {args.densities!r}: expected a JSON object of layer name to "
                                 f"densities, got a JSON {type(densities).__name__}")
        found.update(densities)
    # densities given replace the profile's measured ones of this network; none given keep them
    over = {"densities": found or None, "bits": BitWidths.parse(args.bits)}
    if args.default_density is not None:
        over["default_density"] = {"inputs": args.default_density, "outputs": args.default_density}
    if args.rlc is not None:
        levels = tuple(x.strip() for x in args.rlc.split(",")) if args.rlc != "-" else (prof.level_names[0],)
        if not all(levels):
            raise EnergySimError(f"--rlc {args.rlc!r}: an empty level name; give comma-separated levels of "
                                 f"{prof.name}: {prof.level_names}, or --rlc alone for the outermost")
        for lvl in levels:
            # an unknown level name is an error naming the profile's levels
            if prof.level(lvl).cls == "dummy":
                raise EnergySimError(f"--rlc {args.rlc!r}: level {lvl!r} is a dummy level, which stores nothing")
        over["rlc_levels"] = levels
    if args.gating:
        over["gating"] = ("Inputs",)
    if args.skipping:
        over["skipping"] = ("Inputs",)
    opts = SparseOptions.from_profile(prof, net.name, **over)
    if found:
        validate_densities(found, net)  # a wrong layer name or value is the error to report first
    given = [f for f, on in (("--densities", densities is not None), ("--measure-densities", args.measure_densities),
                              ("--default-density", args.default_density is not None)) if on]
    if given and not (opts.gating or opts.skipping or opts.rlc_levels):
        # densities price nothing by themselves: only zero gating, skipping and run-length coding read them
        raise EnergySimError(f"{', '.join(given)} change(s) nothing without --gating, --skipping or --rlc (or a "
                             f"profile whose sparsity section turns one on; {prof.name}'s does not)")
    return {"sparsity": opts}


def register(sub) -> None:
    p = sub.add_parser("estimate", help="energy of a model on a hardware profile with a dataflow",
                       description="Energy of a model on a hardware profile with a dataflow: a per-layer table, "
                                   "a summary, and with --out a CSV, a JSON report and three figures.")
    options.add_model(p)
    options.add_profile(p)
    options.add_dataflow(p)
    options.add_batch(p)
    options.add_out(p, "the per-layer CSV, the JSON report and three PNG figures")
    options.add_json(p)
    options.add_quiet(p)
    options.add_lenient(p)
    g = p.add_argument_group("sparsity and bit width (energysim.costs.sparsity; absent = the profile's sparsity "
                             "section if it has one, else dense; the profile's widths)")
    g.add_argument("--dense", action="store_true",
                   help="dense counts: ignore the profile's sparsity section (e.g. eyeriss-chip's run-length coding, "
                        "gating and measured densities)")
    g.add_argument("--densities", metavar="FILE.json",
                   help='per-layer non-zero fractions: {"layer": {"inputs": 0.6, "outputs": 0.3}} or {"layer": 0.6}')
    g.add_argument("--measure-densities", action="store_true",
                   help="measure densities with a forward pass of the zoo model (random weights and inputs, --seed)")
    g.add_argument("--seed", type=options.seed, default=0, help="seed for --measure-densities")
    g.add_argument("--default-density", type=options.fraction, metavar="D",
                   help="non-zero fraction (0 to 1) of the input and output maps of layers not listed")
    g.add_argument("--rlc", nargs="?", const="-", metavar="LEVELS",
                   help="run-length code feature maps in the outermost level (DRAM), or in the comma-separated "
                        "LEVELS (Eyeriss format: 5-bit run, 16-bit level, 3 pairs per 64-bit word)")
    g.add_argument("--gating", action="store_true", help="zero inputs gate the MAC and RF reads (not the cycle)")
    g.add_argument("--skipping", action="store_true", help="zero inputs are skipped (energy and cycle)")
    g.add_argument("--bits", metavar="w=8,i=8,o=16", help="bit widths of weights, inputs, outputs/psums")
    p.set_defaults(func=_cmd_estimate)

"""``energysim timeloop check CASE [CASE ...]``: run our engine on Timeloop cases (folders of Timeloop's files,
or ``case.json`` alone) and compare counts, energy, cycles and utilization. ``timeloop run SPEC...``: evaluate
(or map) a user's Timeloop input files with an Accelergy ERT. ``timeloop export MODEL``: write a model's
layers, our profile and the chosen mappings as Timeloop v4 inputs."""

from __future__ import annotations

import argparse
import json

from energysim.cli import options


def _cmd_check(args: argparse.Namespace) -> int:
    from energysim.interop.timeloop import TimeloopCase, check_rtol

    rtol = check_rtol(args.energy_rtol)
    semantics = None if args.semantics == "auto" else args.semantics
    # load every case first: a bad input anywhere is one error line, before any output
    cases = [TimeloopCase.load(d) for d in args.cases]
    results = [c.compare(energy_rtol=rtol, semantics=semantics) for c in cases]
    n_ok = sum(r.ok for r in results)
    if args.json:
        print(json.dumps({"cases": [r.to_dict() for r in results], "matched": n_ok, "total": len(results),
                          "energy_rtol": rtol}))
    else:
        for r in results:
            print(r.to_text())
            print()
        print(f"{n_ok}/{len(results)} cases match")
    return 0 if n_ok == len(results) else 1


def _cmd_run(args: argparse.Namespace) -> int:
    import sys

    from energysim.cli.outputs import atomic_output_dir, check_out, dumps, in_place
    from energysim.interop.timeloop.run import TimeloopRun

    if args.out:
        check_out(args.out)
    run = TimeloopRun.load(args.spec, ert=args.ert, art=args.art, mapping=args.mapping, search=args.search,
                           relax=args.relax_constraints, objective=args.objective)
    for r in run.relaxed:
        print(f"energysim: warning: constraint relaxed (not honoured): {r}", file=sys.stderr)
    d = run.to_dict()
    if args.out:
        report = run.report()
        with atomic_output_dir(args.out) as tmp:
            (tmp / "report.json").write_text(dumps(d, indent=1) + "\n")
            report.to_csv(tmp / "report.csv")
            (tmp / "timeloop-model.stats.txt").write_text(run.stats_text())
            (tmp / "timeloop-model.map.txt").write_text(run.mapping.to_text(run.problem, run.profile) + "\n")
            names = ["report.json", "report.csv", "timeloop-model.stats.txt", "timeloop-model.map.txt"]
            files = in_place([tmp / n for n in names], tmp, args.out)
        d["files"] = [str(f) for f in files]
    if args.json:
        print(dumps(d, indent=1))
    else:
        print(run.report().summary())
        print(f"  MACs {run.stats.macs:,}, cycles {run.stats.cycles:,}, utilization {100 * run.stats.utilization:.2f}%"
              f", mapping: {run.how}")
        if args.out:
            print(f"wrote {', '.join(d['files'])}", file=sys.stderr)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import sys

    from energysim.arch import load_profile
    from energysim.cli.common import load_network
    from energysim.cli.outputs import atomic_output_dir, check_out, dumps
    from energysim.interop.timeloop.export import check_exportable
    from energysim.interop.timeloop.export_files import export_network

    check_out(args.out)
    prof = load_profile(args.profile)
    check_exportable(prof)
    net = load_network(args.model, args.batch, False)
    with atomic_output_dir(args.out) as tmp:
        index = export_network(net, prof, args.dataflow, tmp)
    if args.json:
        print(dumps({**index, "out": str(args.out)}, indent=1))
    else:
        print(f"wrote {len(index['layers'])} layers of {net.name} on {prof.name} ({args.dataflow}) to {args.out}: "
              f"arch.yaml, ERT.yaml, layers/*/problem.yaml + mapping.yaml, index.json", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("timeloop", help="Timeloop interop (compare with Timeloop reference outputs)")
    tsub = p.add_subparsers(dest="timeloop_command", required=True)
    c = tsub.add_parser("check", help="evaluate Timeloop cases with our engine and compare: counts, MACs and "
                                      "cycles exactly, energy per level within a tolerance, utilization")
    c.add_argument("cases", nargs="+", metavar="CASE",
                   help="a case folder (parsed-processed-input.yaml, *.ERT.yaml, *.stats.txt; or only case.json), "
                        "or a case.json file")
    c.add_argument("--energy-rtol", default="1e-3", metavar="RTOL",
                   help="relative tolerance on energy per level, a finite number >= 0 (default 1e-3 = 0.1%%)")
    c.add_argument("--semantics", choices=("auto", "2020", "2024"), default="auto",
                   help="Timeloop's counting and pricing rules: 2024 (today's), 2020 (first output fills counted, "
                        "one max(read, write) price per access), or auto (default: what each case.json says, "
                        "else 2024)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    c.set_defaults(func=_cmd_check)

    r = tsub.add_parser("run", help="evaluate a Timeloop spec (v4 or v0.4 YAML) with an Accelergy ERT, with its "
                                    "mapping or our mapper, without building Timeloop")
    r.add_argument("spec", nargs="+", metavar="SPEC",
                   help="Timeloop input files or folders of them (architecture, problem, mapping, constraints)")
    r.add_argument("--ert", metavar="ERT.yaml", help="Accelergy energy reference table (pJ per action)")
    r.add_argument("--art", metavar="ART.yaml", help="Accelergy area reference table (um^2 per instance)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--mapping", metavar="MAP", help="the mapping: Timeloop YAML, or the map.txt Timeloop printed")
    g.add_argument("--search", action="store_true",
                   help="map with our mapper under the spec's mapspace constraints")
    r.add_argument("--relax-constraints", action="store_true",
                   help="with --search: search without the constraints our mapper cannot honour (each is "
                        "reported), instead of stopping with an error")
    r.add_argument("--objective", choices=("energy", "cycles", "edp"), default="energy",
                   help="what --search minimizes")
    r.add_argument("--out", type=options.path_text, metavar="DIR",
                   help="write report.json, report.csv, timeloop-model.stats.txt and timeloop-model.map.txt there")
    r.add_argument("--json", action="store_true", help="print the JSON report (total_energy_pj, macs, ...)")
    r.set_defaults(func=_cmd_run)

    e = tsub.add_parser("export", help="write a model's layers, a profile and our mappings as Timeloop v4 inputs")
    options.add_model(e)
    options.add_profile(e)
    options.add_dataflow(e)
    options.add_batch(e)
    options.add_out(e, "arch.yaml, ERT.yaml, layers/<layer>/{problem,mapping}.yaml and index.json", required=True)
    options.add_json(e)
    e.set_defaults(func=_cmd_export)

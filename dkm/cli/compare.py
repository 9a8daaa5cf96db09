"""``dkm compare-metrics MODEL``: the paper's energy metric against the dataflow estimate over cluster rates
(see :mod:`dkm.compare`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dkm.cli.common import Command, floats


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name (energysim.zoo), e.g. alexnet, googlenet")
    p.add_argument("--rates", default=None,
                   help="cluster rates R1,R2,... (default: the paper's for alexnet/googlenet, else alexnet's)")
    p.add_argument("--profile", default="eyeriss-65nm", help="hardware profile name or YAML path")
    p.add_argument("--dataflow", default="rs", help="rs | ws | os | nlr (default rs)")
    p.add_argument("--state-dict", default=None, help="trained weights (torch state_dict); default: seeded random init")
    p.add_argument("--out", default=None, help="output directory for the scatter plot, CSV and JSON "
                                               "(default out/compare/MODEL)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-iter", type=int, default=5, help="k-means iteration cap (default 5)")
    for term, what in (("index-traffic", "weights move as full words, not indices"),
                       ("lut", "no codebook LUT reads at the PE"),
                       ("codebook-load", "no codebook load into the PEs")):
        p.add_argument(f"--no-{term}", action="store_true", help=what)
    p.add_argument("--compute-reuse", action="store_true",
                   help="also count row-stationary reuse of shared rows (a saving the paper metric leaves out)")


def _run(a: argparse.Namespace) -> int:
    import torch

    from dkm.compare import compare_metrics, write_outputs
    from dkm.errors import DKMError

    rates = floats(a.rates, "--rates") if a.rates else None
    if a.max_iter < 1:
        raise DKMError(f"--max-iter must be >= 1, got {a.max_iter}")
    state = None
    if a.state_dict:
        if not Path(a.state_dict).is_file():
            raise DKMError(f"--state-dict file {a.state_dict!r} does not exist")
        state = torch.load(a.state_dict, map_location="cpu", weights_only=True)
    log = None if a.json else (lambda m: print(m, file=sys.stderr, flush=True))
    from energysim.costs.codebook import CodebookTerms

    terms = CodebookTerms(index_traffic=not a.no_index_traffic, lut=not a.no_lut,
                          codebook_load=not a.no_codebook_load, compute_reuse=a.compute_reuse)
    res = compare_metrics(a.model, rates, profile=a.profile, dataflow=a.dataflow, state_dict=state, seed=a.seed,
                          max_iter=a.max_iter, terms=terms, log=log)
    files = write_outputs(res, a.out or Path("out") / "compare" / a.model)
    if a.json:
        d = res.to_dict()
        d["points"] = [{k: p[k] for k in ("rate", "paper_metric", "dataflow_estimate")} for p in res.points]
        d["files"] = {k: str(v) for k, v in files.items()}
        print(json.dumps(d))
        return 0
    print(f"{res.model}: conv layers, {res.weights}; {res.profile} ({res.dataflow}), codebook-aware costs")
    print(f"{'rate':>7s} {'paper FA/MAC':>13s} {'dataflow /MAC':>14s}")
    for p in res.points:
        print(f"{p['rate']:>7g} {p['paper_metric']:>13.3f} {p['dataflow_estimate']:>14.4f}")
    print(f"dense: paper {res.dense['paper_metric']:.3f}, dataflow {res.dense['dataflow_estimate']:.4f}")
    print(f"R^2 = {res.r2:.4f} (squared Pearson correlation across rates = R^2 of the least-squares line)")
    print("R^2 with one codebook term alone, or all but compute reuse: "
          + ", ".join(f"{k} {v:.4f}" if v == v else f"{k} n/a (constant per MAC)" for k, v in res.r2_by_term.items()))
    print(f"wrote {', '.join(str(f) for f in files.values())} ({res.seconds['total']:.1f}s)")
    return 0


COMMAND = Command("compare-metrics", "compare the paper's energy metric with the dataflow estimate over cluster rates",
                 _configure, _run)

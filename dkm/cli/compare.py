"""``dkm compare-metrics [MODEL]``: the paper's energy metric against the dataflow estimate over cluster rates or
over trained ``.dkm`` artifacts, with the R² of null proxies beside it (see :mod:`dkm.compare`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dkm.cli.common import Command, floats, load_state_dict, path_arg, seed
from energysim.cli.options import positive_int

_POINT_KEYS = ("label", "rate", "paper_metric", "dataflow_estimate", "weight_bits", "cluster_rate")


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", default=None,
                   help="zoo model name (energysim.zoo), e.g. alexnet, googlenet; optional with --artifacts")
    p.add_argument("--rates", default=None,
                   help="cluster rates R1,R2,... (default: the paper's for alexnet/googlenet, else alexnet's)")
    p.add_argument("--artifacts", nargs="+", default=None, metavar="FILE.dkm",
                   help="trained, compressed models (dkm compress output), one point each, instead of k-means "
                        "at --rates: real assignments for entropy-coded indices and compute reuse")
    p.add_argument("--profile", default="eyeriss-65nm",
                   help="hardware profile name or YAML path; P1,P2,... also estimates the others beside the first")
    p.add_argument("--dataflow", default="rs-template",
                   help="how conv layers are mapped, as for `energysim estimate`: rs-template (the fixed row-stationary "
                        "template: the documented results), or rs, ws, os (the constrained mapping search), search, "
                        "ws-template, ... (default rs-template)")
    p.add_argument("--state-dict", default=None, help="trained weights (torch state_dict); default: seeded random init")
    p.add_argument("--index-coding", choices=("fixed", "entropy"), default="fixed",
                   help="indices at ceil(log2 K) bits (default) or at the entropy of the assignments, in both metrics")
    p.add_argument("--out", type=path_arg, default=None, help="output directory for the scatter plot, CSV and JSON "
                                               "(default out/compare/MODEL)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--seed", type=seed, default=0, help="seeds the initialisation and k-means (default 0)")
    p.add_argument("--max-iter", type=positive_int, default=5, help="k-means iteration cap (default 5)")
    for term, what in (("index-traffic", "weights move as full words, not indices"),
                       ("lut", "no codebook LUT reads at the PE"),
                       ("codebook-load", "no codebook load into the PEs")):
        p.add_argument(f"--no-{term}", action="store_true", help=what)
    p.add_argument("--compute-reuse", action="store_true",
                   help="also count row-stationary reuse of shared rows (a saving the paper metric leaves out)")


def _r2(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}"


def _state_dict(a: argparse.Namespace):
    """The ``--state-dict`` weights, checked against the zoo model before any work."""
    from dkm.errors import DKMError
    from energysim import zoo

    if not Path(a.state_dict).is_file():
        raise DKMError(f"--state-dict file {a.state_dict!r} does not exist")
    if a.artifacts:
        raise DKMError("--artifacts brings its own weights and cluster rates: do not pass --rates or --state-dict")
    if a.model is None:
        raise DKMError("--state-dict needs the zoo MODEL it is for")
    return load_state_dict(a.state_dict, zoo.build(a.model))


def _run(a: argparse.Namespace) -> int:
    from dkm.compare import compare_metrics, write_outputs
    from energysim.cli.outputs import check_out
    from energysim.costs.codebook import CodebookTerms

    rates = floats(a.rates, "--rates") if a.rates is not None else None
    # --out before the k-means and estimates; without it, the default folder's parent (the model may come from
    # the artifacts)
    check_out(a.out if a.out is not None else Path("out") / "compare" / (a.model or ""))
    state = _state_dict(a) if a.state_dict is not None else None
    profiles = [p.strip() for p in a.profile.split(",") if p.strip()]
    log = None if a.json else (lambda m: print(m, file=sys.stderr, flush=True))
    terms = CodebookTerms(index_traffic=not a.no_index_traffic, lut=not a.no_lut,
                          codebook_load=not a.no_codebook_load, compute_reuse=a.compute_reuse)
    res = compare_metrics(a.model, rates, profile=profiles, dataflow=a.dataflow, state_dict=state,
                          artifacts=a.artifacts, seed=a.seed, max_iter=a.max_iter, terms=terms,
                          index_coding=a.index_coding, log=log)
    files = write_outputs(res, a.out if a.out is not None else Path("out") / "compare" / res.model)
    if a.json:
        d = res.to_dict()
        d["points"] = [{k: p[k] for k in _POINT_KEYS} for p in res.points]
        d["files"] = {k: str(v) for k, v in files.items()}
        print(json.dumps(d))
        return 0
    on = [k for k, v in res.terms.items() if v]
    print(f"{res.model}: conv layers; weights: {res.weights}")
    print(f"estimate: {res.profile} ({res.dataflow}); codebook terms on: {', '.join(on) or 'none'}; indices "
          f"{res.index_coding}")
    print(f"{'point':>24s} {'rate':>7s} {'weight Mbit':>11s} {'paper FA/MAC':>13s} {'dataflow /MAC':>14s}")
    for p in res.points:
        print(f"{p['label'][-24:]:>24s} {p['rate']:>7.4g} {p['weight_bits'] / 1e6:>11.4f} {p['paper_metric']:>13.3f} "
              f"{p['dataflow_estimate']:>14.4f}")
    print(f"dense: paper {res.dense['paper_metric']:.3f}, dataflow {res.dense['dataflow_estimate']:.4f}")
    print(f"R^2 = {_r2(res.r2)} (paper metric vs estimate: squared Pearson correlation across points)")
    print("R^2 of null proxies vs the same estimate: "
          + ", ".join(f"{k.replace('_', ' ')} {_r2(v)}" for k, v in res.r2_null.items())
          + " (R^2 means something only where it clearly beats these)")
    print(f"{'per layer':>24s} {'MACs':>14s} {'R^2':>7s} " + " ".join(f"{'null ' + k:>18s}" for k in res.r2_null))
    for pl in res.per_layer:
        print(f"{pl['layer'][-24:]:>24s} {pl['macs']:>14,d} {_r2(pl['r2']):>7s} "
              + " ".join(f"{_r2(v):>18s}" for v in pl["r2_null"].values()))
    for name, o in res.other_profiles.items():
        print(f"also {name}: R^2 = {_r2(o['r2'])}; null proxies: "
              + ", ".join(f"{k.replace('_', ' ')} {_r2(v)}" for k, v in o["r2_null"].items()))
    print("R^2 with one codebook term alone, or all but / with compute reuse: "
          + ", ".join(f"{k} {_r2(v)}" for k, v in res.r2_by_term.items()))
    for n in res.notes:
        print(f"note: {n}")
    if not res.depends_on_assignments:
        print("note: with fixed-width indices and no compute reuse, no number here depends on which rows share a "
              "codeword, only on K and the index widths")
    print(f"wrote {', '.join(str(f) for f in files.values())} ({res.seconds['total']:.1f}s)")
    return 0


COMMAND = Command("compare-metrics", "compare the paper's energy metric with the dataflow estimate over cluster "
                                     "rates or trained artifacts, beside null proxies", _configure, _run)

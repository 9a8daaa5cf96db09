"""``dkm score ARTIFACT --profile P``: dense vs codebook-compressed energy of a ``.dkm`` artifact
(see :mod:`dkm.score`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dkm.cli.common import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="a .dkm artifact (its manifest names the zoo model)")
    p.add_argument("--profile", required=True, help="hardware profile name (e.g. eyeriss-65nm) or YAML path")
    p.add_argument("--dataflow", default="rs", help="rs | ws | os | nlr (default rs)")
    p.add_argument("--out", default=None, help="output directory (default out/score/ARTIFACT-STEM)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--entropy-indices", action="store_true", help="indices at their entropy (Huffman-like code)")
    for term, what in (("index-traffic", "weights move as full words, not indices"),
                       ("lut", "no codebook LUT reads at the PE"),
                       ("codebook-load", "no codebook load into the PEs"),
                       ("compute-reuse", "no row-stationary reuse of shared rows")):
        p.add_argument(f"--no-{term}", action="store_true", help=what)


def _run(a: argparse.Namespace) -> int:
    from energysim.costs.codebook import CodebookTerms

    from dkm.score import score, write_outputs

    terms = CodebookTerms(index_traffic=not a.no_index_traffic, lut=not a.no_lut,
                          codebook_load=not a.no_codebook_load, compute_reuse=not a.no_compute_reuse)
    res = score(a.artifact, a.profile, a.dataflow, terms=terms,
                index_coding="entropy" if a.entropy_indices else "fixed")
    files = write_outputs(res, a.out or Path("out") / "score" / Path(a.artifact).stem)
    if a.json:
        d = res.to_dict()
        d["files"] = [str(f) for f in files]
        print(json.dumps(d))
        return 0
    print(f"{res.model} ({res.artifact}) on {res.dense.profile} ({res.dense.dataflow})")
    u = res.dense.mega_unit
    print(f"energies in {u}")
    print(f"{'layer':<16s}{'kind':<11s}{'dense':>12s}{'compressed':>15s}{'reduction':>11s}")
    for r in res.layers().itertuples(index=False):
        print(f"{r.layer:<16s}{r.kind:<11s}{r.dense_energy / 1e6:>12.4f}{r.compressed_energy / 1e6:>15.4f}"
              f"{100 * r.reduction:>10.1f}%")
    print(f"{'total':<27s}{res.dense_energy / 1e6:>12.4f}{res.compressed_energy / 1e6:>15.4f}"
          f"{100 * res.reduction:>10.1f}%")
    print(f"where the difference comes from ({u}, negative = saved): "
          + ", ".join(f"{k} {v / 1e6:+.4f}" for k, v in res.term_energy.items()))
    print(f"wrote {', '.join(str(f) for f in files)}")
    return 0


COMMAND = Command("score", "dense vs codebook-compressed energy of a .dkm artifact", _configure, _run)

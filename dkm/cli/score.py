"""``dkm score ARTIFACT --profile P``: dense vs codebook-compressed energy of a ``.dkm`` artifact
(see :mod:`dkm.score`)."""

from __future__ import annotations

import argparse
import sys

from dkm.cli.common import Command
from energysim.cli import options


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", metavar="ARTIFACT", help="a .dkm artifact (its manifest names the zoo model)")
    options.add_profile(p)
    options.add_dataflow(p)
    options.add_out(p, "score.json, layers.csv and two side-by-side figures")
    options.add_json(p)
    options.add_quiet(p)
    p.add_argument("--entropy-indices", action="store_true", help="indices at their entropy (Huffman-like code)")
    for term, what in (("index-traffic", "weights move as full words, not indices"),
                       ("lut", "no codebook LUT reads at the PE"),
                       ("codebook-load", "no codebook load into the PEs"),
                       ("compute-reuse", "no row-stationary reuse of shared rows")):
        p.add_argument(f"--no-{term}", action="store_true", help=what)


def _run(a: argparse.Namespace) -> int:
    from energysim.costs.codebook import CodebookTerms

    from dkm.score import score, write_outputs
    from energysim.cli.outputs import atomic_output_dir, check_out, dumps, in_place

    if a.out is not None:
        if not a.out.strip():  # Path("") is the current folder; no folder at all would drop the files silently
            from dkm.errors import DKMError

            raise DKMError(f"--out {a.out!r}: an empty path; give a folder")
        check_out(a.out)
    terms = CodebookTerms(index_traffic=not a.no_index_traffic, lut=not a.no_lut,
                          codebook_load=not a.no_codebook_load, compute_reuse=not a.no_compute_reuse)
    res = score(a.artifact, a.profile, a.dataflow, terms=terms,
                index_coding="entropy" if a.entropy_indices else "fixed")
    files = []
    if a.out is not None:
        with atomic_output_dir(a.out) as tmp:
            write_outputs(res, tmp)
            files = in_place(sorted(tmp.iterdir()), tmp, a.out)
    if a.json:
        d = res.to_dict()
        d["files"] = [str(f) for f in files]
        print(dumps(d))
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
    if files:
        print(f"wrote {', '.join(str(f) for f in files)}")
    elif not a.quiet:
        print("(no files written: give --out DIR for score.json, layers.csv and the figures)", file=sys.stderr)
    return 0


COMMAND = Command("score", "dense vs codebook-compressed energy of a .dkm artifact", _configure, _run)

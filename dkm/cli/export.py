"""``dkm export ARTIFACT --format onnx --out FILE.onnx``: a ``.dkm`` artifact as a compressed ONNX model (see
:mod:`dkm.export`)."""

from __future__ import annotations

import argparse

from dkm.cli.common import Command, path_arg
from energysim.analysis.schema import dumps
from energysim.cli.options import number

#: As dkm.export.MAX_VERIFY_INPUTS (not imported here: the parser is built without torch and onnx).
MAX_VERIFY = 10_000


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="a .dkm artifact (its manifest names the zoo model)")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="output format (onnx)")
    p.add_argument("--out", type=path_arg, required=True,
                   help="output file, e.g. model.onnx: a new name or a regular file to replace; checked before the "
                        "work and written whole")
    p.add_argument("--indices", choices=["auto", "int", "packed", "huffman"], default="auto",
                   help="how index tensors are stored: auto (smallest per layer, default), int (smallest integer "
                        "type), packed (ceil(log2 K) bits), huffman (the artifact's code, decoded in the graph)")
    p.add_argument("--verify", type=number(int, lo=0, hi=MAX_VERIFY, what="an integer"), default=0, metavar="N",
                   help=f"run N (at most {MAX_VERIFY:,}) random inputs through the ONNX model (onnxruntime, else "
                        "onnx's reference evaluator) and the .dkm model before writing; exit 1, writing nothing, "
                        "if they differ")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")


def _print(a: argparse.Namespace, out: dict) -> None:
    if a.json:
        print(dumps(out))  # valid JSON: a nan difference becomes null
        return
    if "onnx" in out:
        print(f"wrote {out['onnx']}: {out['onnx_bytes']} B, {out['size_ratio']:.3f}x the artifact "
              f"({out['artifact_bytes']} B); indices: " + ", ".join(f"{n} {e}" for n, e in out["indices"].items()))
    if "verify" in out:
        v = out["verify"]
        print(f"{v['inputs']} random inputs through {v['runtime']}: largest difference to the .dkm model "
              f"{v['max_abs_diff']:.3g} ({v['max_rel_diff']:.2g} of the largest output); shared weights computed "
              f"in the graph {'bit-identical' if v['weights_identical'] else 'DIFFERENT'} to the artifact's")


def _run(a: argparse.Namespace) -> int:
    from dkm.artifact import check_out_file
    from dkm.export import ExportMismatch, export_onnx

    check_out_file(a.out, "--out")  # before loading and exporting, with the flag's name in the message
    try:
        res = export_onnx(a.artifact, a.out, indices=a.indices, verify_inputs=a.verify)
    except ExportMismatch as exc:
        _print(a, {"verify": exc.report})  # the numbers, then the one-line failure (exit 1)
        raise
    out = {"onnx": res.path, "onnx_bytes": res.nbytes, "artifact_bytes": res.artifact_bytes,
           "size_ratio": res.nbytes / res.artifact_bytes, "indices": res.encodings}
    if res.verify is not None:
        out["verify"] = res.verify
    _print(a, out)
    return 0


COMMAND = Command("export", "write a .dkm artifact as a compressed ONNX model", _configure, _run)

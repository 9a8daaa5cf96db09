"""``dkm export ARTIFACT --format onnx --out FILE.onnx``: a ``.dkm`` artifact as a compressed ONNX model (see
:mod:`dkm.export`)."""

from __future__ import annotations

import argparse
import json

from dkm.cli.common import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifact", help="a .dkm artifact (its manifest names the zoo model)")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="output format (onnx)")
    p.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    p.add_argument("--indices", choices=["auto", "int", "packed", "huffman"], default="auto",
                   help="how index tensors are stored: auto (smallest per layer, default), int (smallest integer "
                        "type), packed (ceil(log2 K) bits), huffman (the artifact's code, decoded in the graph)")
    p.add_argument("--verify", type=int, default=0, metavar="N",
                   help="run N random inputs through the ONNX model (onnxruntime, else onnx's reference "
                        "evaluator) and the .dkm model and print the largest difference")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")


def _run(a: argparse.Namespace) -> int:
    from dkm.errors import DKMError
    from dkm.export import export_onnx, verify

    if a.verify < 0:
        raise DKMError(f"--verify must be >= 0, got {a.verify}")
    res = export_onnx(a.artifact, a.out, indices=a.indices)
    out = {"onnx": res.path, "onnx_bytes": res.nbytes, "artifact_bytes": res.artifact_bytes,
           "size_ratio": res.nbytes / res.artifact_bytes, "indices": res.encodings}
    if a.verify:
        out["verify"] = verify(a.artifact, res.path, a.verify)
    if a.json:
        print(json.dumps(out))
        return 0
    print(f"wrote {res.path}: {res.nbytes} B, {out['size_ratio']:.3f}x the artifact ({res.artifact_bytes} B); "
          f"indices: " + ", ".join(f"{n} {e}" for n, e in res.encodings.items()))
    if a.verify:
        v = out["verify"]
        print(f"{v['inputs']} random inputs through {v['runtime']}: largest difference to the .dkm model "
              f"{v['max_abs_diff']:.3g} ({v['max_rel_diff']:.2g} of the largest output); shared weights computed "
              f"in the graph {'bit-identical' if v['weights_identical'] else 'DIFFERENT'} to the artifact's")
    return 0


COMMAND = Command("export", "write a .dkm artifact as a compressed ONNX model", _configure, _run)

"""``dkm compress``: train (or load), re-train under a k-means regularizer, share weights, fine-tune, and write the
artifact and its result."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from dkm.cli.common import Command, clusters, floats
from energysim.analysis.schema import stamped

def _configure_compress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="zoo model name (energysim.zoo)")
    p.add_argument("--data", required=True, help="digits | mnist:DIR | mnist10k:DIR | cifar10:DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cluster-rate", type=float, default=None, help="K = ceil(rate * N) per layer (default 0.1)")
    g.add_argument("--clusters", default=None, help="K per shared layer: K1,K2,... or name=K,...")
    p.add_argument("--first-rate", type=float, default=None, help="cluster rate of the first shared layer")
    p.add_argument("--regularizer", choices=["spectral", "hard", "none"], default="spectral")
    p.add_argument("--lam", type=float, default=1e-4, help="regularizer weight lambda (default 1e-4)")
    p.add_argument("--f-update-epochs", type=int, default=5, help="recompute F every T epochs (default 5)")
    p.add_argument("--sparsity", default=None, help="fraction p of zero vectors: one value or p1,p2,... per layer")
    p.add_argument("--grouping", choices=["row", "kernel", "scalar"], default="row")
    p.add_argument("--linear-vector-size", type=int, default=0, help="also share linear layers (vector size; 0 = no)")
    p.add_argument("--pretrain-epochs", type=int, default=10)
    p.add_argument("--retrain-epochs", type=int, default=10)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--state-dict", default=None, help="load pre-trained weights (torch state_dict) instead of pre-training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--float16-codebook", action="store_true", help="store codebooks as float16")
    p.add_argument("--no-huffman", action="store_true", help="fixed-width indices only")
    p.add_argument("--out", required=True, help="output directory (model.dkm, result.json)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def result_dict(res, art_bytes: int, dense: int, data_note: str) -> dict:
    """The JSON result of a compression run (accuracies in %, sizes in bytes, ratios dimensionless)."""
    from dkm.records import codebook_records

    r = res.ratios
    return stamped("dkm.compress", {
        "baseline_accuracy": res.baseline_accuracy,
        "shared_accuracy_no_retrain": res.shared_accuracy_no_retrain,
        "retrained_accuracy": res.retrained_accuracy,
        "shared_accuracy": res.shared_accuracy,
        "accuracy": res.accuracy,
        "compression_ratio_han": r["han"],
        "compression_ratio_entropy": r["entropy"],
        "compression_ratio_bytes": dense / art_bytes,
        "conv_compression_ratio_han": r["conv_han"],
        "conv_compression_ratio_entropy": r["conv_entropy"],
        "artifact_bytes": art_bytes,
        "dense_bytes": dense,
        "data": data_note,
        "layers": [{"name": c.layer, "k": c.k, "vector_size": c.vector_size, "rows": c.rows,
                    "index_bits": c.index_bits, "entropy_bits": c.entropy_bits}
                   for c in codebook_records(res.shared, with_assignments=False)],
        "config": res.config,
    })


def _run_compress(a: argparse.Namespace) -> int:
    import torch

    from energysim import zoo

    from dkm import artifact, data, ratio
    from dkm.errors import DKMError
    from dkm.pipeline import CompressConfig, compress
    from dkm.progress import Progress

    torch.manual_seed(a.seed)
    model = zoo.build(a.model)
    sparsity = None
    if a.sparsity is not None:
        sp = floats(a.sparsity, "--sparsity")
        sparsity = sp[0] if len(sp) == 1 else sp
    cfg = CompressConfig(
        clusters=clusters(a.clusters) if a.clusters else None,
        cluster_rate=None if a.clusters else (a.cluster_rate if a.cluster_rate is not None else 0.1),
        first_rate=a.first_rate, regularizer=a.regularizer, lam=a.lam, f_update_epochs=a.f_update_epochs,
        sparsity=sparsity, grouping=a.grouping, linear_vector_size=a.linear_vector_size,
        pretrain_epochs=a.pretrain_epochs, retrain_epochs=a.retrain_epochs, finetune_epochs=a.finetune_epochs,
        seed=a.seed)
    cfg.validate()
    # Validate the layer list before loading data or training (cheap, and the commonest mistake).
    from dkm.layers import resolve_layers

    resolve_layers(model, clusters=cfg.clusters, cluster_rate=cfg.cluster_rate, first_rate=cfg.first_rate,
                   sparsity=cfg.sparsity, mode=cfg.grouping, linear_vector_size=cfg.linear_vector_size)
    ds = data.load(a.data)
    state = None
    if a.state_dict:
        if not Path(a.state_dict).is_file():
            raise DKMError(f"--state-dict file {a.state_dict!r} does not exist")
        state = torch.load(a.state_dict, map_location="cpu", weights_only=True)
    res = compress(model, ds, cfg, state_dict=state, progress=Progress(enabled=not a.quiet))

    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise DKMError(f"--out {a.out!r} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        nbytes = artifact.save(tmp / "model.dkm", res.model, res.shared, model_name=a.model,
                               huffman=not a.no_huffman, float16=a.float16_codebook)
        result = result_dict(res, nbytes, ratio.state_bytes(res.model.state_dict()), ds.note)
        result["model"] = a.model
        (tmp / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        out.mkdir(exist_ok=True)
        for f in tmp.iterdir():  # each file appears whole or not at all
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"accuracy {result['accuracy']:.2f}% (baseline {result['baseline_accuracy']:.2f}%), "
              f"CR han {result['compression_ratio_han']:.2f}x, entropy {result['compression_ratio_entropy']:.2f}x, "
              f"bytes {result['compression_ratio_bytes']:.2f}x -> {out / 'model.dkm'}")
    return 0


COMMAND = Command("compress", "compress a zoo model with Deep k-Means", _configure_compress, _run_compress)

"""``dkm compress``: train (or load), re-train under a k-means regularizer, share weights, fine-tune, and write the
artifact and its result."""

from __future__ import annotations

import argparse

from dkm.cli.common import Command, clusters, floats, load_state_dict, model_name, path_arg, rate, seed
from energysim.analysis.schema import stamped
from energysim.cli.options import add_json, add_quiet, nonneg_float, nonneg_int, positive_float, positive_int

def _configure_compress(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", metavar="MODEL", help="zoo model name (see `energysim models`)")
    p.add_argument("--model", dest="model_flag", metavar="MODEL", help="the same as MODEL (the older spelling)")
    p.add_argument("--data", required=True, help="digits | mnist:DIR | mnist10k:DIR | cifar10:DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cluster-rate", type=rate, default=None,
                   help="K = max(2, ceil(rate * N)) per layer (default 0.1)")
    g.add_argument("--clusters", default=None, help="K per shared layer: K1,K2,... or name=K,... (K = 1 allowed)")
    g.add_argument("--bits", type=int, choices=[2, 3, 4, 8], default=None,
                   help="bits per index: K = 2**bits on every shared layer")
    p.add_argument("--first-rate", type=rate, default=None, help="cluster rate of the first shared layer")
    p.add_argument("--regularizer", choices=["spectral", "hard", "dkm", "none"], default="spectral",
                   help="spectral (the paper), hard (cluster indicator), dkm (differentiable k-means) or none")
    p.add_argument("--lam", type=nonneg_float, default=None,
                   help="regularizer weight lambda (default: its own, spectral 1e-4, hard 0.05)")
    p.add_argument("--temperature", type=positive_float, default=None, help="dkm softmax temperature (relative; default 0.3)")
    p.add_argument("--dkm-tau", type=positive_float, default=None,
                   help="dkm: an absolute softmax temperature on every layer instead (coremltools' default: 1e-4)")
    p.add_argument("--dkm-n-init", type=positive_int, default=None,
                   help="dkm: k-means starts for the first centroids, the lowest distortion kept (default 1)")
    p.add_argument("--f-update-epochs", type=positive_int, default=5, help="recompute F every T epochs (default 5)")
    p.add_argument("--sparsity", default=None, help="sparsity rate p: one value or p1,p2,... per layer")
    p.add_argument("--sparsity-mode", choices=["mean", "zero"], default="zero",
                   help="mean: the authors' rule (the pN rows nearest the mean row share their mean); "
                        "zero: the pN smallest rows share a zero codeword (default)")
    p.add_argument("--lut-group-size", type=nonneg_int, default=0,
                   help="output channels per lookup table (1: per channel; 0: one per layer, default)")
    p.add_argument("--grouping", choices=["row", "kernel", "scalar"], default="row")
    p.add_argument("--linear-vector-size", type=nonneg_int, default=0, help="also share linear layers (vector size; 0 = no)")
    p.add_argument("--pretrain-epochs", type=nonneg_int, default=10)
    p.add_argument("--retrain-epochs", type=nonneg_int, default=10)
    p.add_argument("--finetune-epochs", type=nonneg_int, default=3)
    p.add_argument("--state-dict", default=None, help="load pre-trained weights (torch state_dict) instead of pre-training")
    p.add_argument("--seed", type=seed, default=0, help="seeds the initialisation, training and k-means (0 .. 2**63-1)")
    p.add_argument("--float16-codebook", action="store_true", help="store codebooks as float16")
    p.add_argument("--no-huffman", action="store_true", help="fixed-width indices only")
    p.add_argument("--out", type=path_arg, required=True, metavar="DIR",
                   help="output folder for model.dkm and result.json; checked before training, written atomically")
    add_json(p)
    add_quiet(p)


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
        "compression_ratio_authors": r["authors"],
        "compression_ratio_bytes": dense / art_bytes,
        "conv_compression_ratio_han": r["conv_han"],
        "conv_compression_ratio_entropy": r["conv_entropy"],
        "conv_compression_ratio_authors": r["conv_authors"],
        "unshared_layers": unshared_layers(res),
        "artifact_bytes": art_bytes,
        "dense_bytes": dense,
        "data": data_note,
        "layers": [{"name": c.layer, "k": c.k, "vector_size": c.vector_size, "rows": c.rows,
                    "index_bits": c.index_bits, "entropy_bits": c.entropy_bits}
                   for c in codebook_records(res.shared, with_assignments=False)],
        "config": res.config,
    })


def unshared_layers(res) -> list[str]:
    """Conv and linear layers of the compressed model that kept dense weights."""
    from torch import nn

    return [n for n, m in res.model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and n not in res.shared]


def _check_combinations(a: argparse.Namespace) -> None:
    """Options that would have no effect in this combination are errors, not silently dropped."""
    from dkm.errors import DKMError

    given = "--clusters" if a.clusters is not None else "--bits" if a.bits is not None else None
    if a.first_rate is not None and given:
        raise DKMError(f"--first-rate {a.first_rate:g} has no effect with {given}: it sets the first layer's cluster "
                       "rate; give its K in --clusters instead")
    if a.regularizer != "dkm":
        for flag, v in (("--temperature", a.temperature), ("--dkm-tau", a.dkm_tau), ("--dkm-n-init", a.dkm_n_init)):
            if v is not None:
                raise DKMError(f"{flag} {v:g} applies to --regularizer dkm only, not {a.regularizer}")
    elif a.temperature is not None and a.dkm_tau is not None:
        raise DKMError(f"--temperature {a.temperature:g} and --dkm-tau {a.dkm_tau:g}: give one (--dkm-tau overrides "
                       "--temperature)")
    if a.lam is not None and a.regularizer in ("dkm", "none"):
        raise DKMError(f"--lam {a.lam:g} has no effect with --regularizer {a.regularizer} (no penalty is added)")


def _check_fits(model: str, ds, spec: str) -> None:
    """The zoo model takes the data set's images (channels and size)."""
    from dkm.errors import DKMError
    from energysim import zoo

    want, have = tuple(zoo.input_shape(model)), tuple(ds.x_train.shape[1:])
    if want != have:
        raise DKMError(f"{model} needs {'x'.join(map(str, want))} inputs, data {spec} has {'x'.join(map(str, have))}")


def _run_compress(a: argparse.Namespace) -> int:
    import torch

    from energysim import zoo

    from dkm import artifact, data, ratio
    from dkm.pipeline import CompressConfig, compress
    from dkm.progress import Progress
    from energysim.cli.outputs import atomic_output_dir, check_out, dumps, write_json

    a.model = model_name(a)
    _check_combinations(a)
    torch.manual_seed(a.seed)
    model = zoo.build(a.model)
    sparsity = None
    if a.sparsity is not None:
        sp = floats(a.sparsity, "--sparsity")
        sparsity = sp[0] if len(sp) == 1 else sp
    by_k = a.clusters is not None or a.bits is not None
    cfg = CompressConfig(
        clusters=clusters(a.clusters) if a.clusters is not None else None, bits=a.bits,
        cluster_rate=None if by_k else (a.cluster_rate if a.cluster_rate is not None else 0.1),
        first_rate=a.first_rate, regularizer=a.regularizer, lam=a.lam, f_update_epochs=a.f_update_epochs,
        temperature=a.temperature, dkm_tau=a.dkm_tau, dkm_n_init=a.dkm_n_init, sparsity=sparsity, sparsity_mode=a.sparsity_mode, grouping=a.grouping,
        linear_vector_size=a.linear_vector_size, lut_group=a.lut_group_size,
        pretrain_epochs=a.pretrain_epochs, retrain_epochs=a.retrain_epochs, finetune_epochs=a.finetune_epochs,
        seed=a.seed)
    cfg.validate()
    # Validate the layer list before loading data or training (cheap, and the commonest mistake).
    cfg.specs(model)
    out = check_out(a.out)  # before minutes of training, not after
    state = load_state_dict(a.state_dict, model) if a.state_dict else None
    ds = data.load(a.data)
    _check_fits(a.model, ds, a.data)  # before training: a mismatch would fail deep inside torch
    res = compress(model, ds, cfg, state_dict=state, progress=Progress(enabled=False if a.quiet else None))

    with atomic_output_dir(out) as tmp:  # model.dkm and result.json appear together or not at all
        nbytes = artifact.save(tmp / "model.dkm", res.model, res.shared, model_name=a.model,
                               huffman=not a.no_huffman, float16=a.float16_codebook)
        result = result_dict(res, nbytes, ratio.state_bytes(res.model.state_dict()), ds.note)
        result["model"] = a.model
        write_json(tmp / "result.json", result, indent=2)
    if a.json:
        print(dumps(result))
    else:
        print(f"accuracy {result['accuracy']:.2f}% (baseline {result['baseline_accuracy']:.2f}%) -> {out / 'model.dkm'}")
        print(f"whole model: {result['compression_ratio_bytes']:.2f}x artifact bytes, "
              f"{result['compression_ratio_han']:.2f}x Han, {result['compression_ratio_authors']:.2f}x authors' "
              f"convention; conv layers only: {result['conv_compression_ratio_han']:.2f}x Han")
        print("shared: " + ", ".join(f"{l['name']} (K={l['k']}, {l['rows']} rows of {l['vector_size']})"
                                      for l in result["layers"]))
        if result["unshared_layers"]:
            print("not shared (dense): " + ", ".join(result["unshared_layers"])
                  + ("" if a.linear_vector_size else " -- pass --linear-vector-size V to share linear layers"))
    return 0


COMMAND = Command("compress", "compress a zoo model with Deep k-Means", _configure_compress, _run_compress)

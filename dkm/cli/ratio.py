"""``dkm ratio MODEL``: share a zoo model's weights by k-means (no training) and print its compression ratios in
every convention (the authors', Han's, entropy, true artifact bytes), layer by layer.

With the authors' per-layer K and sparsity lists this reproduces their arithmetic, e.g. ``dkm ratio wrn16_4
--clusters 144,90,... --sparsity 0,0.3,... --sparsity-mode mean --seed 0 --json``. The weights are the seeded
default initialisation unless ``--state-dict`` gives trained ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dkm.cli.common import Command, clusters, floats, load_state_dict, path_arg, rate, seed
from energysim.analysis.schema import stamped
from energysim.cli.options import nonneg_int, positive_int


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo model name (energysim.zoo), e.g. wrn16_4")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--clusters", default=None, help="K per shared layer: K1,K2,... (layer order) or name=K,...")
    g.add_argument("--cluster-rate", type=rate, default=None, help="K = max(2, ceil(rate * N)) per layer")
    g.add_argument("--bits", type=int, default=None, help="bits per index: K = 2**bits on every layer")
    p.add_argument("--sparsity", default=None, help="sparsity rate p: one value or p1,p2,... per layer")
    p.add_argument("--sparsity-mode", choices=["mean", "zero"], default="zero",
                   help="mean: the authors' rule (rows nearest the mean row share their mean); "
                        "zero: smallest-norm rows share a zero codeword (default)")
    p.add_argument("--grouping", choices=["row", "kernel", "scalar"], default="row")
    p.add_argument("--linear-vector-size", type=nonneg_int, default=0, help="also share linear layers (vector size; 0 = no)")
    p.add_argument("--lut-group-size", type=nonneg_int, default=0,
                   help="output channels per lookup table (1: per channel; 0: one per layer, default)")
    p.add_argument("--state-dict", default=None, help="trained weights (torch state_dict); default: seeded init")
    p.add_argument("--seed", type=seed, default=0, help="seeds the initialisation and k-means (default 0)")
    p.add_argument("--max-iter", type=positive_int, default=100, help="k-means iteration cap (default 100)")
    p.add_argument("--save", type=path_arg, default=None, help="also write the shared model as a .dkm artifact")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")


def _run(a: argparse.Namespace) -> int:
    import torch

    from dkm import artifact
    from dkm.artifact import check_out_file
    from dkm.errors import DKMError
    from dkm.layers import resolve_layers
    from dkm.ratio import authors_bits, ratios, state_bytes
    from dkm.share import share_weights
    from energysim import zoo

    if a.save is not None:  # before the k-means: a folder, a device or a missing folder is refused here
        check_out_file(a.save, "--save")
        if not Path(a.save).parent.is_dir():
            raise DKMError(f"--save {a.save!r}: folder {str(Path(a.save).parent)!r} does not exist")
    torch.manual_seed(a.seed)
    model = zoo.build(a.model)
    if a.state_dict is not None:
        if not Path(a.state_dict).is_file():
            raise DKMError(f"--state-dict file {a.state_dict!r} does not exist")
        model.load_state_dict(load_state_dict(a.state_dict, model))
    sparsity = None
    if a.sparsity is not None:
        sp = floats(a.sparsity, "--sparsity")
        sparsity = sp[0] if len(sp) == 1 else sp
    specs = resolve_layers(model, clusters=clusters(a.clusters) if a.clusters is not None else None,
                           cluster_rate=a.cluster_rate if a.cluster_rate is not None else 0.1, bits=a.bits,
                           sparsity=sparsity, sparsity_mode=a.sparsity_mode, mode=a.grouping,
                           linear_vector_size=a.linear_vector_size, lut_group=a.lut_group_size)
    from energysim.cli.progress import Progress

    # one k-means per layer: at a high cluster rate a large layer takes minutes, so say where it is
    with Progress(enabled=False if a.json else None).bar(len(specs), "k-means") as bar:
        shared = share_weights(model, specs, a.seed, max_iter=a.max_iter,
                               progress=lambda i, n, name: bar.step(name, n=i))
    r = ratios(model, shared)
    data = artifact.to_bytes(model, shared, model_name=a.model)
    if a.save is not None:
        artifact.write_file(a.save, data, "--save")
    dense_bytes = state_bytes(model.state_dict())
    dense_a, comp_a = authors_bits(model, shared)
    by_name = {s.name: s for s in specs}
    result = stamped("dkm.ratio", {
        "model": a.model, "seed": a.seed, "weights": a.state_dict or "seeded default initialisation",
        "sparsity_mode": a.sparsity_mode,
        "compression_ratio_authors": r["authors"], "compression_ratio_han": r["han"],
        "compression_ratio_entropy": r["entropy"], "compression_ratio_bytes": dense_bytes / len(data),
        "conv_compression_ratio_han": r["conv_han"], "conv_compression_ratio_authors": r["conv_authors"],
        "authors_dense_bits": dense_a, "authors_compressed_bits": comp_a,
        "artifact_bytes": len(data), "dense_bytes": dense_bytes,
        "layers": [{"name": n, "k": by_name[n].k, "sparsity": by_name[n].sparsity, "codewords": sl.codebook.shape[0],
                    "vector_size": sl.s, "rows": sl.n, "luts": sl.luts, "index_bits": sl.index_bits,
                    "entropy_bits": sl.entropy_bits, "distinct_entropy_bits": sl.distinct_entropy_bits}
                   for n, sl in shared.items()],
    })
    if a.json:
        print(json.dumps(result))
        return 0
    print(f"{a.model}: {result['weights']} (seed {a.seed}), k-means sharing, sparsity mode {a.sparsity_mode}")
    print(f"{'layer':<22s}{'K':>6s}{'p':>6s}{'s':>3s}{'rows':>9s}{'bits':>5s}{'H':>7s}")
    for row in result["layers"]:
        print(f"{row['name']:<22s}{row['k']:>6d}{row['sparsity']:>6.2f}{row['vector_size']:>3d}{row['rows']:>9d}"
              f"{row['index_bits']:>5d}{row['distinct_entropy_bits']:>7.3f}")
    print(f"compression ratio: authors {r['authors']:.2f}x (conv + linear weights and biases, BN excluded), "
          f"Han {r['han']:.2f}x, entropy {r['entropy']:.2f}x, artifact bytes {result['compression_ratio_bytes']:.2f}x "
          f"({len(data)} B)")
    return 0


COMMAND = Command("ratio", "share a zoo model by k-means (no training) and print its compression ratios",
                  _configure, _run)

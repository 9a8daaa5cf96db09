"""The main job: train ``digits_cnn`` on the bundled digits, compress it with Deep k-Means, save the artifact,
and score dense vs compressed energy on ``eyeriss-65nm`` (row stationary) with codebook-aware costs.

``python -m dkm.demo --out out/demo`` writes to ``out/demo``: ``model.dkm`` (the artifact), ``summary.json``,
``layers.csv`` (per-layer dense/compressed energy and terms), ``score.json``, the side-by-side per-layer
breakdown figures (by level and by data space) and ``summary.png`` (accuracy and compression ratios), and
prints a short summary. ``--quick`` runs a shortened schedule (for tests).

Compression settings: the hard (cluster-indicator) k-means regularizer at lam = 0.05, the value the dkm
benchmark (``benchmarks/dkm_mnist.py``) uses for it, cluster rate 0.05 (K = ceil(0.05 · rows) per conv layer)
with the first conv layer at 0.25 (its 48 rows would otherwise get 3 codewords), conv layers only, as the paper.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from energysim.analysis.schema import stamped

PROFILE = "eyeriss-65nm"
DATAFLOW = "rs"
MODEL = "digits_cnn"


def run(out: str | Path, *, quick: bool = False, seed: int = 0, verbose: bool = True) -> dict:
    """Run the demo into ``out``; returns the summary dict (also written as ``summary.json``)."""
    import torch

    threads = torch.get_num_threads()
    # a model this small trains fastest on one thread (several threads spin on a busy machine: 50x slower)
    torch.set_num_threads(1)
    try:
        return _run(out, quick, seed, verbose)
    finally:
        torch.set_num_threads(threads)


def _run(out, quick: bool, seed: int, verbose: bool) -> dict:
    import torch

    import dkm
    from energysim import zoo

    from .progress import Progress
    from .ratio import state_bytes
    from .score import score, write_outputs

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    data = dkm.data.load("digits")
    model = zoo.build(MODEL)
    epochs = (2, 2, 1) if quick else (12, 8, 3)
    cfg = dkm.CompressConfig(cluster_rate=0.05, first_rate=0.25, regularizer="hard", lam=0.05,
                             pretrain_epochs=epochs[0], retrain_epochs=epochs[1], finetune_epochs=epochs[2], seed=seed)
    res = dkm.compress(model, data, cfg, progress=Progress(enabled=verbose))
    art = out / "model.dkm"
    nbytes = dkm.save(art, res.model, res.shared, model_name=MODEL)
    dense_bytes = state_bytes(res.model.state_dict())
    t_compress = time.perf_counter() - t0

    sc = score(art, PROFILE, DATAFLOW)
    files = write_outputs(sc, out)
    summary = stamped("dkm.demo", {
        "model": MODEL, "data": data.note or data.name, "profile": PROFILE, "dataflow": DATAFLOW,
        "config": res.config,
        "baseline_accuracy": res.baseline_accuracy, "shared_accuracy_no_retrain": res.shared_accuracy_no_retrain,
        "accuracy": res.accuracy,
        "compression_ratio_han": res.ratios["han"], "compression_ratio_entropy": res.ratios["entropy"],
        "compression_ratio_bytes": dense_bytes / nbytes, "artifact_bytes": nbytes, "dense_bytes": dense_bytes,
        "conv_compression_ratio_han": res.ratios["conv_han"],
        "dense_energy": sc.dense_energy, "compressed_energy": sc.compressed_energy,
        "reduction": sc.reduction, "term_energy": sc.term_energy,
        "shared_layers": [{"name": n, "k": sl.k, "rows": sl.n, "vector_size": sl.s, "index_bits": sl.index_bits}
                          for n, sl in res.shared.items()],
        "seconds": {"compress": t_compress, "total": None},
        "energy_unit": sc.dense.energy_unit,
    })
    _summary_figure(summary, out / "summary.png")
    summary["seconds"]["total"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    summary["files"] = [str(art), str(out / "summary.json"), *map(str, files), str(out / "summary.png")]
    return summary


def _summary_figure(s: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "axes.spines.top": False,
             "axes.spines.right": False}
    with plt.rc_context(style):
        fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(9.0, 2.9))
        acc = [s["baseline_accuracy"], s["shared_accuracy_no_retrain"], s["accuracy"]]
        lab = ["dense", "k-means\n(no retrain)", "Deep\nk-Means"]
        a1.bar(lab, acc, color=["0.6", "#ff7f0e", "#1f77b4"])
        for i, v in enumerate(acc):
            a1.text(i, v + 0.5, f"{v:.1f}", ha="center", fontsize=8)
        a1.set_ylim(min(acc) - 10 if min(acc) > 10 else 0, 101)
        a1.set_ylabel("test accuracy (%)")
        a1.set_title("accuracy")
        cr = [s["compression_ratio_han"], s["compression_ratio_entropy"], s["compression_ratio_bytes"]]
        a2.bar(["Han", "entropy", "artifact\nbytes"], cr, color="#2ca02c")
        for i, v in enumerate(cr):
            a2.text(i, v * 1.01, f"{v:.1f}x", ha="center", fontsize=8)
        a2.set_ylabel("compression ratio (whole model)")
        a2.set_title("compression")
        t = s["term_energy"]
        keys = ["index_traffic", "codebook_lut", "codebook_load", "compute_reuse_macs", "reuse_psum_add"]
        vals = [t[k] / s["dense_energy"] * 100 for k in keys]
        a3.barh(["index traffic", "LUT reads", "codebook load", "reuse: MACs", "reuse: psum adds"], vals,
                color=["#2ca02c" if v < 0 else "#d62728" for v in vals])
        a3.axvline(0, color="0.3", lw=0.8)
        a3.invert_yaxis()
        a3.set_xlabel("change vs dense energy (%)")
        a3.set_title(f"energy: {100 * s['reduction']:.1f}% saved" if s["reduction"] >= 0
                     else f"energy: {-100 * s['reduction']:.1f}% more")
        fig.suptitle(f"{s['model']} on {s['profile']} ({s['dataflow']})", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=200)
        plt.close(fig)


def format_summary(s: dict) -> str:
    t = s["term_energy"]
    d = s["dense_energy"]
    parts = ", ".join(f"{k} {100 * v / d:+.1f}%" for k, v in t.items())
    return "\n".join([
        f"{s['model']} on digits: accuracy {s['baseline_accuracy']:.2f}% dense -> {s['accuracy']:.2f}% Deep k-Means "
        f"(plain k-means without re-training: {s['shared_accuracy_no_retrain']:.2f}%)",
        f"compression ratio (whole model): Han {s['compression_ratio_han']:.2f}x, entropy "
        f"{s['compression_ratio_entropy']:.2f}x, artifact bytes {s['compression_ratio_bytes']:.2f}x "
        f"({s['artifact_bytes']} B vs {s['dense_bytes']} B); conv layers (Han) {s['conv_compression_ratio_han']:.2f}x",
        f"energy on {s['profile']} ({s['dataflow']}): {d / 1e6:.4f} -> {s['compressed_energy'] / 1e6:.4f} "
        f"(x1e6 normalized units), {100 * s['reduction']:.1f}% saved",
        f"  where it comes from (share of dense energy, negative = saved): {parts}",
        f"wrote {len(s['files'])} files to {Path(s['files'][0]).parent} in {s['seconds']['total']:.1f}s",
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dkm.demo", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="out/demo", help="report folder (default out/demo)")
    p.add_argument("--quick", action="store_true", help="shortened training schedule (tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no training progress on stderr")
    a = p.parse_args(argv)
    s = run(a.out, quick=a.quick, seed=a.seed, verbose=not a.quiet)
    print(format_summary(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())

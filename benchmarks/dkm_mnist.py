"""LeNet-5 on MNIST (10k test files only: first 8000 train / last 2000 test): Deep k-Means vs post-hoc k-means.

Methods (all share conv AND FC layers; FC with 4-vectors and a sparsity-promoting zero cluster on fc1):
  posthoc      k-means on the pre-trained weights, no re-training
  none         re-train without regularizer, then k-means (control: what re-training alone buys)
  spectral     re-train with the paper's relaxed regularizer (lam = 1e-4, the paper's value)
  spectral-big the same at the hard regularizer's lam
  hard         re-train with the hard (cluster-indicator) regularizer
each reported before and after centroid fine-tuning ("+ft"), at several cluster-count settings.

Writes docs/results/dkm_mnist.md (table) and docs/results/dkm_mnist.png (accuracy vs compression ratio).
With --seeds 0,1,2 the study runs once per seed (pre-training included) and writes docs/results/dkm_mnist_seeds.md
instead: mean, spread and wins over post-hoc k-means per setting and method (seed 0 is the one-seed table's run).
Usage: python benchmarks/dkm_mnist.py [--quick] [--data DIR] [--seeds S1,S2,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dkm  # noqa: E402
from dkm import ratio  # noqa: E402
from energysim import zoo  # noqa: E402

LAYERS = ["conv1", "conv2", "fc1", "fc2"]
# K per layer (conv1, conv2, fc1, fc2) and the fc1 zero-cluster fraction p, from mild to aggressive
SETTINGS = {"a": ((16, 128, 256, 32), 0.7), "b": ((8, 64, 128, 16), 0.8), "b2": ((8, 48, 128, 16), 0.8),
            "c": ((4, 32, 64, 8), 0.9)}
HARD_LAM = 0.05


def methods(quick: bool):
    m = [("posthoc", "none", 0.0, 0), ("none", "none", 0.0, 1), ("spectral", "spectral", 1e-4, 1),
         ("spectral-big", "spectral", HARD_LAM, 1), ("hard", "hard", HARD_LAM, 1)]
    return m if not quick else [x for x in m if x[0] in ("posthoc", "spectral", "hard")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    ap.add_argument("--quick", action="store_true", help="two settings, three methods, fewer epochs")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a shared, busy machine)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated subset of {list(SETTINGS)}")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods (default: all)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's rows")
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seeds: run the study once per seed and write dkm_mnist_seeds.md (mean, "
                         "spread, wins over post-hoc k-means) instead of the one-seed table")
    ap.add_argument("--reuse", action="store_true",
                    help="keep rows of other settings from the last run (benchmarks/_work/dkm_mnist.json)")
    a = ap.parse_args()
    if a.seeds and a.reuse:
        ap.error("--reuse keeps rows of the one-seed table; it does not combine with --seeds")
    torch.set_num_threads(a.threads)
    pre_e, re_e, ft_e = (6, 3, 1) if a.quick else (12, 6, 2)
    settings = {k: SETTINGS[k] for k in (["b", "c"] if a.quick else a.settings.split(","))}
    note = "MNIST 10k test set only: first 8000 train / last 2000 test"
    if a.report_only and a.seeds:
        rows = json.loads((ROOT / "benchmarks" / "_work" / "dkm_mnist_seeds.json").read_text())
        write_seeds_report(rows, Path(a.out), note, (pre_e, re_e, ft_e))
        return 0
    if a.report_only:
        rows = json.loads((ROOT / "benchmarks" / "_work" / "dkm_mnist.json").read_text())
        write_report(rows, rows[0]["baseline"], Path(a.out), note, (pre_e, re_e, ft_e))
        return 0
    run_methods = [m for m in methods(a.quick) if a.methods is None or m[0] in a.methods.split(",")]
    data = dkm.data.load(f"mnist10k:{a.data}")
    work = ROOT / "benchmarks" / "_work"
    work.mkdir(parents=True, exist_ok=True)
    prog = dkm.Progress()

    if a.seeds:
        run_seeds([int(v) for v in a.seeds.split(",")], data, settings, run_methods, (pre_e, re_e, ft_e), prog,
                  work, Path(a.out))
        return 0
    old = work / "dkm_mnist.json"
    prev = None
    if a.reuse and old.is_file():
        redo = {m[0] for m in run_methods}
        prev = [r for r in json.loads(old.read_text())
                if r["setting"] not in settings or r["method"].split("+")[0] not in redo]
    rows, baseline = run_rows(data, settings, run_methods, (pre_e, re_e, ft_e), 0, prog, old, prev)
    order = list(SETTINGS)
    rows.sort(key=lambda r: order.index(r["setting"]))
    write_report(rows, baseline, Path(a.out), data.note, (pre_e, re_e, ft_e))
    return 0


def run_rows(data, settings, run_methods, epochs, seed, prog, save: Path, prev=None):
    """Pre-train LeNet-5 with ``seed``, then every method at every setting from those weights; the rows are
    saved to ``save`` after each method. ``prev``: rows of an earlier run to keep (same baseline required)."""
    pre_e, re_e, ft_e = epochs
    torch.manual_seed(seed)
    base = zoo.build("lenet5")
    t0 = time.perf_counter()
    dkm.train(base, data, pre_e, lr=1e-3, optimizer="adam", batch_size=64, seed=seed, phase="pretrain",
              progress=prog)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    baseline = dkm.evaluate(base, data.x_test, data.y_test)
    prog.log(f"seed {seed}: baseline {baseline:.2f}% after {time.perf_counter() - t0:.0f}s")
    dense_bytes = ratio.state_bytes(state)
    rows = []
    if prev:
        if abs(prev[0]["baseline"] - baseline) > 1e-9:
            raise SystemExit(f"--reuse: baseline differs from the last run ({prev[0]['baseline']} vs {baseline})")
        rows = prev
    for sname, (ks, p) in settings.items():
        for mname, reg, lam, retrain in run_methods:
            cfg = dkm.CompressConfig(clusters=list(ks), sparsity=[0, 0, p, 0], regularizer=reg, lam=lam,
                                     f_update_epochs=2, linear_vector_size=4, pretrain_epochs=0,
                                     retrain_epochs=re_e * retrain, finetune_epochs=ft_e, seed=seed)
            t = time.perf_counter()
            res = dkm.compress(zoo.build("lenet5"), data, cfg, state_dict=state, progress=prog)
            nbytes = len(dkm.artifact.to_bytes(res.model, res.shared, model_name="lenet5"))
            r = res.ratios
            common = {"setting": sname, "K": "/".join(map(str, ks)), "p_fc1": p,
                      "rates": "/".join(f"{k / sl.n:.3g}" for k, sl in zip(ks, res.shared.values())),
                      "cr_conv_entropy": r["conv_entropy"], "cr_conv_han": r["conv_han"],
                      "cr_entropy": r["entropy"], "cr_han": r["han"], "cr_bytes": dense_bytes / nbytes,
                      "artifact_bytes": nbytes, "baseline": baseline, "seconds": time.perf_counter() - t}
            if mname == "posthoc":
                rows.append({"method": "posthoc", "accuracy": res.shared_accuracy_no_retrain, **common})
            else:
                rows.append({"method": mname, "accuracy": res.shared_accuracy, **common})
            rows.append({"method": mname + "+ft", "accuracy": res.accuracy, **common})
            prog.log(f"[seed {seed}, {sname}] {mname}: shared {rows[-2]['accuracy']:.2f}%  +ft {res.accuracy:.2f}%  "
                     f"CR entropy {r['entropy']:.1f}x conv {r['conv_entropy']:.1f}x")
            save.write_text(json.dumps(rows, indent=1))
    return rows, baseline


def run_seeds(seeds, data, settings, run_methods, epochs, prog, work: Path, out: Path):
    """The whole study once per seed (pre-training included); writes docs/results/dkm_mnist_seeds.md."""
    rows = []
    for seed in seeds:
        got, _ = run_rows(data, settings, run_methods, epochs, seed, prog, work / f"dkm_mnist_seed{seed}.json")
        rows += [{**r, "seed": seed} for r in got]
        (work / "dkm_mnist_seeds.json").write_text(json.dumps(rows, indent=1))
    write_seeds_report(rows, out, data.note, epochs)


def write_seeds_report(rows, out: Path, note: str, epochs):
    import pandas as pd

    df = pd.DataFrame(rows)
    df["drop"] = df["accuracy"] - df["baseline"]
    seeds = sorted(df["seed"].unique())
    # against post-hoc k-means at the same stage (shared, or after fine-tuning), same seed and setting
    post = df[df["method"].isin(["posthoc", "posthoc+ft"])].set_index(["seed", "setting", "method"])["accuracy"]
    df["vs_posthoc"] = [a - post.get((sd, st, "posthoc+ft" if m.endswith("+ft") else "posthoc"), float("nan"))
                        for a, sd, st, m in zip(df["accuracy"], df["seed"], df["setting"], df["method"])]
    order = {k: i for i, k in enumerate(SETTINGS)}
    g = df.groupby(["setting", "method"], sort=False)
    summary = g.agg(K=("K", "first"), cr_conv=("cr_conv_entropy", "mean"), cr_whole=("cr_entropy", "mean"),
                    drop_mean=("drop", "mean"), drop_sd=("drop", "std"), drop_min=("drop", "min"),
                    drop_max=("drop", "max"), vs_posthoc=("vs_posthoc", "mean"),
                    above_posthoc=("vs_posthoc", lambda v: int((v > 0).sum()))).reset_index()
    summary = summary.sort_values("setting", key=lambda c: c.map(order), kind="stable")  # methods in run order
    header = ("| setting | method | K | conv CR | whole CR | drop mean | drop sd | drop min..max | vs post-hoc "
              f"| above post-hoc (of {len(seeds)}) |\n|" + "---|" * 10 + "\n")
    lines = [f"| {r.setting} | {r.method} | {r.K} | {r.cr_conv:.1f} | {r.cr_whole:.1f} | {r.drop_mean:+.2f} | "
             f"{r.drop_sd:.2f} | {r.drop_min:+.2f}..{r.drop_max:+.2f} | {r.vs_posthoc:+.2f} | "
             f"{'-' if r.method.startswith('posthoc') else r.above_posthoc} |" for r in summary.itertuples()]
    baselines = ", ".join(f"{b:.2f}%" for b in df.groupby("seed")["baseline"].first())
    pre_e, re_e, ft_e = epochs
    best = []
    for sname in dict.fromkeys(summary["setting"]):
        sub = summary[(summary["setting"] == sname) & summary["method"].str.endswith("+ft")]
        b = sub.loc[sub["drop_mean"].idxmax()]
        best.append(f"- setting {sname} (conv {b.cr_conv:.1f}x, whole {b.cr_whole:.1f}x): best on average "
                    f"**{b.method}**, {b.drop_mean:+.2f} +- {b.drop_sd:.2f} points"
                    + ("" if b.method.startswith("posthoc") else f", {b.vs_posthoc:+.2f} vs post-hoc+ft, above it "
                       f"with {b.above_posthoc} of {len(seeds)} seeds"))
    text = f"""# Deep k-Means on LeNet-5 / MNIST, over seeds

The study of [dkm_mnist.md](dkm_mnist.md) repeated with seeds {", ".join(map(str, seeds))}: each seed pre-trains
its own baseline ({baselines}) and seeds the k-means and the re-training.
Data: {note}. Epochs: pre-training {pre_e}, re-training {re_e}, fine-tuning {ft_e}.
`drop` = accuracy - that seed's baseline (points, mean / sample sd / range over seeds); `vs post-hoc` = accuracy -
post-hoc k-means at the same stage (shared, or after fine-tuning) with the same seed and setting, mean over seeds;
`above post-hoc` counts the seeds where that difference is > 0. CRs: authors' entropy convention, mean over seeds.
Produced by `python benchmarks/dkm_mnist.py --seeds {",".join(map(str, seeds))}`.

{header}{chr(10).join(lines)}

{chr(10).join(best)}
"""
    out.mkdir(parents=True, exist_ok=True)
    (out / "dkm_mnist_seeds.md").write_text(text)


def write_report(rows, baseline, out: Path, note: str, epochs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    order = list(SETTINGS)
    df = pd.DataFrame(sorted(rows, key=lambda r: order.index(r["setting"])))
    df["drop"] = df["accuracy"] - baseline
    cols = ["setting", "method", "K", "rates", "p_fc1", "accuracy", "drop", "cr_conv_entropy", "cr_conv_han",
            "cr_entropy", "cr_han", "cr_bytes", "artifact_bytes"]
    fmt = df[cols].copy()
    for c in ["accuracy", "drop"]:
        fmt[c] = fmt[c].map(lambda v: f"{v:+.2f}" if c == "drop" else f"{v:.2f}")
    for c in ["cr_conv_entropy", "cr_conv_han", "cr_entropy", "cr_han", "cr_bytes"]:
        fmt[c] = fmt[c].map(lambda v: f"{v:.1f}")
    header = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    table = header + "".join("| " + " | ".join(str(v) for v in r) + " |\n" for r in fmt.itertuples(index=False))
    pre_e, re_e, ft_e = epochs
    lines = []
    for sname in dict.fromkeys(df["setting"]):
        sub = df[(df["setting"] == sname) & df["method"].str.endswith("+ft")]
        best = sub.loc[sub["accuracy"].idxmax()]
        post = sub[sub["method"] == "posthoc+ft"].iloc[0]
        lines.append(f"- setting {sname} (conv {best.cr_conv_entropy:.1f}x, whole model {best.cr_entropy:.1f}x "
                     f"entropy / {best.cr_han:.1f}x Han / {best.cr_bytes:.1f}x bytes): best after fine-tuning "
                     f"**{best.method}** {best.accuracy:.2f}% ({best['drop']:+.2f}); post-hoc k-means + fine-tuning "
                     f"{post.accuracy:.2f}% ({post['drop']:+.2f})")
    summary = "\n".join(lines)
    versus = []
    acc = {(r.setting, r.method): r.accuracy for r in df.itertuples()}
    lams = {"spectral": "lam = 1e-4, the paper's", "spectral-big": f"lam = {HARD_LAM}", "hard": f"lam = {HARD_LAM}"}
    for m, what in lams.items():
        diffs = [f"{sname} {acc[sname, m] - acc[sname, 'none']:+.2f} / {acc[sname, m + '+ft'] - acc[sname, 'none+ft']:+.2f}"
                 for sname in dict.fromkeys(df["setting"]) if (sname, m) in acc and (sname, "none") in acc]
        if diffs:
            versus.append(f"- {m} ({what}): " + ", ".join(diffs))
    versus = "\n".join(versus) or "(no run without a regularizer)"
    text = f"""# Deep k-Means on LeNet-5 / MNIST

Data: {note} (the 60k training images are not available offline). Baseline LeNet-5 (Caffe variant) accuracy
**{baseline:.2f}%** on the 2000 held-out images after {pre_e} Adam epochs. Re-training: {re_e} SGD epochs (lr 0.01,
momentum 0.9, cosine), F / assignments refreshed every 2 epochs; centroid fine-tuning ("+ft"): {ft_e} epochs.
All four layers are shared: conv layers by kernel rows (s = 5), FC layers by 4-vectors of consecutive inputs;
fc1 additionally puts the fraction p of smallest-norm vectors in a cluster fixed at zero.
`K` lists conv1/conv2/fc1/fc2 clusters, `rates` the cluster rates K/N.

Ratios: `cr_conv_*` over the two conv layers only, `cr_*` over the whole model (biases at 32 bits);
`entropy` = the authors' convention (codebook K*s*32 bits + N x entropy of the assignments), `han` = fixed
ceil(log2 K)-bit indices (Han et al.), `bytes` = fp32 state_dict bytes / `.dkm` file bytes (Huffman-coded indices).
`drop` = accuracy - baseline (points). Produced by `python benchmarks/dkm_mnist.py`.

{table}
![accuracy vs compression ratio](dkm_mnist.png)

## Reading the numbers

{summary}

Caveats: one seed; 2000 test images, so one image is 0.05 points and differences below ~0.3 points are within
run-to-run noise (compare settings b and b2: b2 has fewer conv clusters yet several methods score higher).
`--seeds 0,1,2` repeats the study over seeds ([dkm_mnist_seeds.md](dkm_mnist_seeds.md): means and spread).
The spectral regularizer with K >= s is exactly zero right after each F refresh (DESIGN.md section 7); what it
does between refreshes is pull the kernel rows back towards their old row space. The hard regularizer is the
same trace with the cluster-indicator F, i.e. the k-means distortion. Each regularized method against
re-training without a regularizer ("none"), in points, shared / after fine-tuning:

{versus}
"""
    (out / "dkm_mnist.md").write_text(text)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4))
    base_methods = [m for m in ["posthoc", "none", "spectral", "spectral-big", "hard"]
                    if m in {r.split("+")[0] for r in df["method"]}]
    styles = {"posthoc": ("k", "s"), "none": ("C7", "^"), "spectral": ("C0", "o"), "spectral-big": ("C3", "o"),
              "hard": ("C2", "D")}
    for ax, suffix, title in [(axes[0], "", "shared, before fine-tuning"),
                              (axes[1], "+ft", "after centroid fine-tuning (2 epochs)")]:
        for m in base_methods:
            sub = df[df["method"] == m + suffix].sort_values("cr_conv_entropy")
            color, marker = styles[m]
            ax.plot(sub["cr_conv_entropy"], sub["accuracy"], "-", marker=marker, color=color, label=m, ms=5, lw=1.4)
        ax.axhline(baseline, color="k", lw=0.8, ls=":", label=f"baseline {baseline:.2f}%")
        ax.axhline(baseline - 0.3, color="grey", lw=0.8, ls="--", label="baseline - 0.3 points")
        sub = df[df["method"] == "posthoc"].sort_values("cr_conv_entropy")
        for r in sub.itertuples():
            ax.annotate(f"{r.cr_entropy:.0f}x", (r.cr_conv_entropy, 0.0), xycoords=("data", "axes fraction"),
                        xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7, color="dimgray")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("compression ratio of the conv layers (authors' entropy convention)\n"
                      "(grey numbers: whole-model ratio, FC layers shared too)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_ylabel("top-1 accuracy (%), 2000 held-out images")
    ft = df[df["method"].str.endswith("+ft")]["accuracy"]
    axes[1].set_ylim(min(ft.min(), baseline - 0.3) - 0.25, baseline + 0.25)
    axes[0].set_ylim(df["accuracy"].min() - 1.5, baseline + 0.5)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # off the data and labels
    fig.suptitle("LeNet-5 on MNIST (8000 train / 2000 test, both from the 10k test set): "
                 "Deep k-Means vs post-hoc k-means", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "dkm_mnist.png", dpi=200)


if __name__ == "__main__":
    sys.exit(main())

"""Compute-matched study of weight-sharing methods, several seeds, paired differences with 95% intervals.

Two tasks: LeNet-5 on MNIST (the 10k test files: first 8000 train / last 2000 test; conv and FC layers shared, FC in
4-vectors) and digits_cnn on scikit-learn's 8x8 digits (1437 train / 360 test; conv layers shared, as the paper).
Per seed one baseline is pre-trained; then every method gets the same number E of epochs on top of it:

  posthoc      E epochs of plain training (the re-training schedule, no regularizer), then k-means
  posthoc+ft   k-means, then E epochs of centroid fine-tuning (indices frozen)
  retrain      E-F epochs of re-training without a regularizer, k-means, F epochs ft (the control: what the
               re-training schedule buys without any k-means term)
  spectral     E-F epochs of re-training with the paper's spectral regularizer (its default lam), k-means, F epochs ft
  hard         the same with the hard (cluster-indicator) regularizer (its default lam)
  dkm          the same with differentiable k-means (its default temperature)

Every re-training phase uses the same optimizer and schedule (SGD, momentum 0.9, lr 1e-2, cosine), every
fine-tuning phase the same (SGD, lr 1e-3). For each method and seed the difference to posthoc+ft is taken on the same
baseline (paired); the report gives its mean, standard deviation and a 95% t interval, and calls a difference
significant when the interval excludes 0. The paper's claim (re-training with the spectral regularizer beats plain
k-means) is tested by the spectral - posthoc, spectral - posthoc+ft and spectral - retrain rows.

Writes docs/results/dkm_study.md and docs/results/dkm_study.png; raw rows go to benchmarks/_work/dkm_study_TASK.json
after every run (``--resume`` continues from them).
Usage: python benchmarks/dkm_study.py [--tasks mnist,digits] [--seeds 0,...,7] [--quick] [--resume] [--report-only]
(the published report: ``--tasks digits --seeds 0,...,9`` and ``--tasks mnist --seeds 0,...,5`` as two processes,
then ``--report-only``; differentiable k-means costs about 10x a plain training step on LeNet-5's FC1).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dkm  # noqa: E402
from dkm import ratio  # noqa: E402
from energysim import zoo  # noqa: E402

MNIST_DIR = ROOT.parent / "shared" / "datasets" / "mnist"
#: task -> (zoo model, data spec, K per shared layer, linear vector size, pre-training epochs, budget E, ft epochs F)
TASKS = {
    "mnist": ("lenet5", f"mnist10k:{MNIST_DIR}", [8, 32, 64, 8], 4, 10, 4, 1),
    "digits": ("digits_cnn", "digits", [4, 8, 16], 0, 15, 6, 2),
}
METHODS = ["posthoc", "posthoc+ft", "retrain", "spectral", "hard", "dkm"]
REFERENCE = "posthoc+ft"
WORK = ROOT / "benchmarks" / "_work"


def config(method: str, ks, lvs: int, budget: int, ft: int, seed: int) -> dkm.CompressConfig:
    """The compute-matched configuration of ``method``: ``budget`` epochs after pre-training in all."""
    common = dict(clusters=list(ks), linear_vector_size=lvs, pretrain_epochs=0, seed=seed, retrain_lr=1e-2,
                  retrain_optimizer="sgd", lr_schedule="cosine", finetune_lr=1e-3, f_update_epochs=2)
    if method == "posthoc":
        return dkm.CompressConfig(regularizer="none", retrain_epochs=budget, finetune_epochs=0, **common)
    if method == "posthoc+ft":
        return dkm.CompressConfig(regularizer="none", retrain_epochs=0, finetune_epochs=budget, **common)
    reg = "none" if method == "retrain" else method
    return dkm.CompressConfig(regularizer=reg, retrain_epochs=budget - ft, finetune_epochs=ft, **common)


def run_task(task: str, seeds: list[int], quick: bool, resume: bool, log) -> list[dict]:
    name, spec, ks, lvs, pre, budget, ft = TASKS[task]
    if quick:
        pre, budget, ft = max(2, pre // 4), 2, 1
    data = dkm.data.load(spec)
    save = WORK / f"dkm_study_{task}{'_quick' if quick else ''}.json"
    rows = json.loads(save.read_text()) if resume and save.is_file() else []
    done = {(r["seed"], r["method"]) for r in rows}
    for seed in seeds:
        if all((seed, m) in done for m in METHODS):
            continue
        torch.manual_seed(seed)
        base = zoo.build(name)
        t0 = time.perf_counter()
        dkm.train(base, data, pre, lr=1e-3, optimizer="adam", batch_size=64, seed=seed)
        state = {k: v.clone() for k, v in base.state_dict().items()}
        baseline = dkm.evaluate(base, data.x_test, data.y_test)
        old = [r["baseline"] for r in rows if r["seed"] == seed]
        if old and abs(old[0] - baseline) > 1e-9:  # a resumed seed must pair with the same baseline
            raise SystemExit(f"{task} seed {seed}: baseline {baseline} differs from the saved runs' {old[0]}")
        log(f"[{task} seed {seed}] baseline {baseline:.2f}% ({time.perf_counter() - t0:.0f}s)")
        for method in METHODS:
            if (seed, method) in done:
                continue
            t = time.perf_counter()
            res = dkm.compress(zoo.build(name), data, config(method, ks, lvs, budget, ft, seed), state_dict=state)
            nbytes = len(dkm.artifact.to_bytes(res.model, res.shared, model_name=name))
            r = res.ratios
            rows.append({"task": task, "seed": seed, "method": method, "baseline": baseline,
                         "accuracy": res.accuracy, "shared_no_retrain": res.shared_accuracy_no_retrain,
                         "cr_authors": r["authors"], "cr_han": r["han"], "cr_conv_han": r["conv_han"],
                         "cr_bytes": ratio.state_bytes(state) / nbytes, "seconds": time.perf_counter() - t,
                         "epochs_after_pretraining": budget})
            log(f"[{task} seed {seed}] {method:<10s} {res.accuracy:.2f}%  ({rows[-1]['seconds']:.0f}s)")
            save.write_text(json.dumps(rows, indent=1))
    return rows


def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def paired(rows: list[dict], a: str, b: str) -> dict:
    """Mean, sd and 95% t interval of accuracy(a) - accuracy(b) over the seeds both have (points)."""
    acc = {(r["seed"], r["method"]): r["accuracy"] for r in rows}
    d = [acc[(s, a)] - acc[(s, b)] for s in sorted({r["seed"] for r in rows}) if (s, a) in acc and (s, b) in acc]
    n = len(d)
    mean = statistics.fmean(d) if d else float("nan")
    sd = statistics.stdev(d) if n > 1 else float("nan")
    half = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    lo, hi = mean - half, mean + half
    verdict = ("not significant" if not (lo > 0 or hi < 0) else f"significant: {a} {'better' if lo > 0 else 'worse'}")
    wins = sum(x > 0 for x in d)
    return {"a": a, "b": b, "n": n, "mean": mean, "sd": sd, "lo": lo, "hi": hi, "verdict": verdict, "wins": wins,
            "ties": sum(x == 0 for x in d), "diffs": d}


def summary(rows: list[dict]) -> dict:
    out = {}
    for m in METHODS:
        acc = [r["accuracy"] for r in rows if r["method"] == m]
        if acc:
            out[m] = {"mean": statistics.fmean(acc), "sd": statistics.stdev(acc) if len(acc) > 1 else float("nan"),
                      "n": len(acc)}
    return out


def write_report(by_task: dict[str, list[dict]], out_dir: Path, argv: list[str]) -> None:
    lines = ["# Compute-matched study: post-hoc k-means, fine-tuning, spectral, hard and differentiable k-means", "",
             "Produced by `python benchmarks/dkm_study.py` (each task run on its own with `--tasks TASK --seeds "
             "...`, extended with `--resume`, the report written with `--report-only`; the seeds are listed per "
             "task).", "",
             "Every method starts from the same pre-trained baseline per seed and gets the same number of epochs on "
             "top of it (compute-matched by epochs; see the benchmark's docstring for the schedule). Differences are "
             f"paired by seed and taken against **{REFERENCE}** (k-means, then centroid fine-tuning for all the "
             "epochs): mean, standard deviation and a 95% Student-t interval, in accuracy points. A difference is "
             "called significant when its interval excludes 0.", ""]
    verdicts = []
    for task, rows in by_task.items():
        if not rows:
            continue
        name, spec, ks, lvs, pre, budget, ft = TASKS[task]
        seeds = sorted({r["seed"] for r in rows})
        r0 = rows[0]
        ntest = {"mnist": 2000, "digits": 360}[task]
        lines += [f"## {task}: {name}, K per shared layer {ks}" + (f", FC layers in {lvs}-vectors" if lvs else
                                                                     ", conv layers only"), "",
                  f"Seeds {', '.join(map(str, seeds))} ({len(seeds)}); pre-training {pre} epochs; "
                  f"{budget} epochs per method after it ({budget - ft} re-training + {ft} fine-tuning for the "
                  f"regularized methods). One test image = {100 / ntest:.2f} points. Compression (same for every "
                  f"method): whole model {r0['cr_authors']:.1f}x (authors' convention), {r0['cr_han']:.1f}x (Han), "
                  f"{r0['cr_bytes']:.1f}x (artifact bytes); shared conv layers {r0['cr_conv_han']:.1f}x (Han).", "",
                  "| method | accuracy % (mean +- sd) | vs " + REFERENCE + ": mean | sd | 95% interval | "
                  "seeds better / tied | verdict |", "|---|---|---|---|---|---|---|"]
        base = [r["baseline"] for r in rows if r["method"] == METHODS[0]]
        lines.insert(len(lines) - 2, f"Baseline (dense): {statistics.fmean(base):.2f} +- "
                     f"{statistics.stdev(base) if len(base) > 1 else float('nan'):.2f}%.\n")
        summ = summary(rows)
        for m in METHODS:
            if m not in summ:
                continue
            s = summ[m]
            if m == REFERENCE:
                lines.append(f"| {m} | {s['mean']:.2f} +- {s['sd']:.2f} | (reference) | | | | |")
                continue
            p = paired(rows, m, REFERENCE)
            lines.append(f"| {m} | {s['mean']:.2f} +- {s['sd']:.2f} | {p['mean']:+.2f} | {p['sd']:.2f} | "
                         f"[{p['lo']:+.2f}, {p['hi']:+.2f}] | {p['wins']} / {p['ties']} of {p['n']} | {p['verdict']} |")
            verdicts.append((task, p))
        claim = [paired(rows, "spectral", b) for b in ("posthoc", "posthoc+ft", "retrain")
                 if any(r["method"] == b for r in rows)]
        lines += ["", "The paper's claim, spectral re-training against plain k-means (same epochs):", ""]
        for p in claim:
            lines.append(f"- spectral - {p['b']}: {p['mean']:+.2f} points, 95% interval [{p['lo']:+.2f}, "
                         f"{p['hi']:+.2f}], better on {p['wins']} of {p['n']} seeds: {p['verdict']}.")
        lines.append("")
    lines += ["## Conclusion", ""]
    for task, p in verdicts:
        lines.append(f"- {task}: {p['a']} - {p['b']} = {p['mean']:+.2f} [{p['lo']:+.2f}, {p['hi']:+.2f}]: "
                     f"{p['verdict']}.")
    lines += ["", "In plain words:", ""]
    for task, rows in by_task.items():
        if not rows:
            continue
        better = [p["a"] for t, p in verdicts if t == task and p["lo"] > 0]
        worse = [p["a"] for t, p in verdicts if t == task and p["hi"] < 0]
        same = [p["a"] for t, p in verdicts if t == task and p["lo"] <= 0 <= p["hi"]]
        lines.append(f"- {task}: better than {REFERENCE} beyond the noise: {', '.join(better) or 'none'}; worse: "
                     f"{', '.join(worse) or 'none'}; no significant difference: {', '.join(same) or 'none'}.")
        claim = {b: paired(rows, "spectral", b) for b in ("posthoc", "posthoc+ft", "retrain")
                 if any(r["method"] == b for r in rows)}
        holds = [b for b, p in claim.items() if p["lo"] > 0]
        fails = [b for b, p in claim.items() if p["lo"] <= 0]
        lines.append(f"  The paper's claim (spectral re-training beats plain k-means) "
                     f"{'holds against ' + ', '.join(holds) if holds else 'holds against none'}"
                     f"{' and does not hold against ' + ', '.join(fails) if fails else ''}"
                     " at the same number of epochs.")
    lines.append("")
    lines.append("(`posthoc` spends its epochs before k-means and is not fine-tuned after it; `retrain` is the same "
                 "schedule as `spectral` without the regularizer, so `spectral - retrain` is the regularizer's own "
                 "effect.)")
    (out_dir / "dkm_study.md").write_text("\n".join(lines) + "\n")
    _figure(by_task, out_dir / "dkm_study.png")


def _figure(by_task, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t, rows in by_task.items() if rows]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = by_task[task]
        ms = [m for m in METHODS if m != REFERENCE and any(r["method"] == m for r in rows)]
        ps = [paired(rows, m, REFERENCE) for m in ms]
        for i, p in enumerate(ps):
            ax.plot(p["diffs"], [i] * len(p["diffs"]), "o", color="0.6", ms=3)
            ax.errorbar(p["mean"], i, xerr=[[p["mean"] - p["lo"]], [p["hi"] - p["mean"]]], fmt="s", color="#1f77b4",
                        capsize=3)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(range(len(ms)), ms)
        ax.set_xlabel(f"accuracy - {REFERENCE} (points)")
        ax.set_title(f"{task}: mean and 95% interval; dots = seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="mnist,digits")
    ap.add_argument("--seeds", default="0,1,2,3,4,5,6,7")
    ap.add_argument("--quick", action="store_true", help="two seeds, short schedules (for trying things)")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in benchmarks/_work")
    ap.add_argument("--report-only", action="store_true", help="write the report from benchmarks/_work")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    WORK.mkdir(parents=True, exist_ok=True)
    tasks = a.tasks.split(",")
    seeds = [0, 1] if a.quick else [int(s) for s in a.seeds.split(",")]
    by_task = {}
    for task in tasks:
        if a.report_only:
            f = WORK / f"dkm_study_{task}{'_quick' if a.quick else ''}.json"
            by_task[task] = json.loads(f.read_text()) if f.is_file() else []
        else:
            by_task[task] = run_task(task, seeds, a.quick, a.resume, lambda m: print(m, flush=True))
    if not a.quick or a.report_only:
        if a.report_only:  # the report covers every task with results, whichever process ran it
            for task in TASKS:
                f = WORK / f"dkm_study_{task}.json"
                if task not in by_task and f.is_file():
                    by_task[task] = json.loads(f.read_text())
        write_report(by_task, Path(a.out), sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

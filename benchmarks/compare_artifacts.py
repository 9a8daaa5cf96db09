"""The paper metric vs the dataflow estimate on real trained, compressed models, beside the null proxies.

Builds (or reuses) ``.dkm`` artifacts with ``dkm compress`` -- digits_cnn on the bundled digits and LeNet-5 on MNIST
(the 10k test files: first 8000 train / last 2000 test) at several cluster rates -- then runs
``dkm compare-metrics --artifacts`` on each model twice: as configured by default (fixed-width indices, no compute
reuse: only K and index widths matter), and with entropy-coded indices and row-stationary compute reuse (the real
assignments matter). Prints one markdown table of R² and null-proxy R², and writes the JSON results under --out.

Usage: python benchmarks/compare_artifacts.py [--out out/compare_artifacts] [--data DIR] [--rates 0.5,0.3,...]
       [--models digits_cnn,lenet5] [--profile eyeriss-65nm]
Time: ~35 s per digits_cnn artifact and ~2-4 min per LeNet-5 artifact on 2 shared cores (built once, then reused).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DKM = [sys.executable, "-m", "dkm"]
COMPRESS = {
    "digits_cnn": lambda data: ["--data", "digits"],
    "lenet5": lambda data: ["--data", f"mnist10k:{data}", "--regularizer", "hard", "--pretrain-epochs", "3",
                            "--retrain-epochs", "2", "--finetune-epochs", "1"],
}


def build(model: str, rate: str, out: Path, data: str) -> Path:
    art = out / "artifacts" / f"{model}_r{rate}" / "model.dkm"
    if art.is_file():
        return art
    t = time.perf_counter()
    cmd = [*DKM, "compress", "--model", model, "--cluster-rate", rate, *COMPRESS[model](data),
           "--out", str(art.parent), "--quiet", "--json"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    acc = json.loads(res.stdout).get("accuracy")
    print(f"built {art} (accuracy {acc:.2f}%, {time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    return art


def compare(model: str, arts: list[Path], out: Path, profile: str, extra: list[str]) -> dict:
    tag = "reuse_entropy" if extra else "default"
    cmd = [*DKM, "compare-metrics", model, "--artifacts", *map(str, arts), "--profile", profile, "--json",
           "--out", str(out / f"{model}_{tag}"), *extra]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/compare_artifacts")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "mnist"))
    ap.add_argument("--rates", default="0.5,0.3,0.2,0.1,0.05,0.02")
    ap.add_argument("--models", default="digits_cnn,lenet5")
    ap.add_argument("--profile", default="eyeriss-65nm")
    a = ap.parse_args()
    out = Path(a.out)
    rates = [r.strip() for r in a.rates.split(",") if r.strip()]
    rows = []
    for model in a.models.split(","):
        arts = [build(model, r, out, a.data) for r in rates]
        for extra in ([], ["--compute-reuse", "--index-coding", "entropy"]):
            d = compare(model, arts, out, a.profile, extra)
            (out / f"{model}_{'reuse_entropy' if extra else 'default'}.json").write_text(json.dumps(d, indent=1))
            on = "+".join(k for k, v in d["terms"].items() if v)
            per = "; ".join(f"{p['layer']} {_f(p['r2'])} / {_f(p['r2_null']['weight_bits'])} / "
                            f"{_f(p['r2_null']['cluster_rate'])}" for p in d["per_layer"])
            rows.append(f"| {model} | {len(arts)} | {on}, {d['index_coding']} indices | {_f(d['r2'])} | "
                        f"{_f(d['r2_null']['weight_bits'])} | {_f(d['r2_null']['cluster_rate'])} | {per} |")
    print("| model | artifacts | terms, indices | R² | null: weight bits | null: cluster rate | per layer "
          "(R² / weight bits / rate) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    return 0


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())

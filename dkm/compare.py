"""The paper's energy metric against the dataflow estimate, over k-means compressions at several cluster rates
(DESIGN.md §5; Wu et al., ICML 2018, §3 report R² = 0.9931 on AlexNet and 0.9675 on GoogLeNet).

For each cluster rate the conv layers (kinds conv, grouped, depthwise) are shared by k-means over kernel rows
(row grouping, ``K = ceil(rate · rows)`` per layer), and two numbers are computed for the conv layers only:

- the paper metric (``energysim.paper_metric``, 8-bit weights and activations as the paper does for
  conv layers, codebook + fixed-length indices), total full-adder equivalents / #MACs;
- the dataflow estimate with codebook-aware costs (``energysim.costs.codebook``: index traffic, LUT reads and
  codebook load by default; row-stationary compute reuse only when asked, since the paper metric by construction
  leaves the computation unchanged by sharing and the Eyeriss tool it was checked against has no such term) on
  a hardware profile and dataflow (``eyeriss-65nm``, ``rs``), total energy / #MACs (the dense #MACs).

The coefficient of determination is that of a least-squares line fitting one metric on the other across the
rates, which for a one-variable linear fit is the squared Pearson correlation ``r²`` (symmetric in the two).

The dense counts come from ``energysim.evaluate`` on each layer's dataflow mapping (computed once and reused
at every rate); a profile's optional ``sparsity`` section is not applied here.

k-means: all conv rows of AlexNet / GoogLeNet at 8 rates is up to ~10⁵ centres over ~3·10⁵ rows per layer,
where ``dkm.kmeans`` (k-means++ seeding, O(N·K) per step) takes minutes per layer. Small problems
(``N·K <= DKM_KMEANS_LIMIT``) use ``dkm.kmeans`` with ``max_iter`` iterations; larger ones use the same Lloyd
iteration here with an exact nearest-centre search in a k-d tree (scipy) from ``K`` distinct random rows
(seeded), also capped at ``max_iter`` iterations (default 5). Empty clusters keep their centre.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from energysim import zoo
from energysim.costs.codebook import CodebookRecord
from energysim.costs.codebook import TERM_NAMES, CodebookCosts, CodebookTerms
from energysim.model.counts import evaluate
from energysim.mapping.dataflow import mapping_for
from energysim.analysis.paper_metric import paper_metric
from energysim.model.problem import Problem
from energysim.arch import load_profile
from energysim.workload.trace import trace

from .errors import DKMError
from .grouping import group
from .kmeans import kmeans
from energysim.analysis.schema import stamped

#: The paper's cluster rates (Wu et al. 2018, §5).
PAPER_RATES: dict[str, tuple[float, ...]] = {
    "alexnet": (0.5, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.01),
    "googlenet": (0.33, 0.18, 0.05, 0.012),
}
CONV_KINDS = frozenset({"conv", "grouped", "depthwise"})
#: Largest N·K clustered with ``dkm.kmeans``; above it the k-d tree Lloyd iteration is used.
DKM_KMEANS_LIMIT = 2e5


def default_rates(model: str) -> tuple[float, ...]:
    return PAPER_RATES.get(model, PAPER_RATES["alexnet"])


def _kd_kmeans(X: np.ndarray, k: int, seed: int, max_iter: int) -> np.ndarray:
    from scipy.spatial import cKDTree

    N, d = X.shape
    rng = np.random.default_rng(seed)
    C = X[rng.choice(N, k, replace=False)].astype(np.float64)
    labels = None
    for _ in range(max_iter):
        _, new = cKDTree(C).query(X, workers=-1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        cnt = np.bincount(labels, minlength=k)
        S = np.stack([np.bincount(labels, weights=X[:, j], minlength=k) for j in range(d)], 1)
        C = np.where(cnt[:, None] > 0, S / np.maximum(cnt, 1)[:, None], C)
    _, labels = cKDTree(C).query(X, workers=-1)
    return labels.astype(np.int64)


def cluster_rows(weight: torch.Tensor, k: int, *, seed: int = 0, max_iter: int = 5) -> np.ndarray:
    """Assignments of the kernel rows of ``weight`` (row grouping) to ``k`` clusters (see the module docstring)."""
    X = group(weight.detach().float(), "row").T.contiguous()
    N = X.shape[0]
    if k >= N:
        return np.arange(N, dtype=np.int64)
    if N * k <= DKM_KMEANS_LIMIT:
        return kmeans(X, k, seed=seed, max_iter=max_iter).labels.numpy().astype(np.int64)
    return _kd_kmeans(X.numpy().astype(np.float64), k, seed, max_iter)


def _record(name: str, labels: np.ndarray, k: int, s: int) -> CodebookRecord:
    n = labels.size
    p = np.bincount(labels, minlength=k) / n
    p = p[p > 0]
    return CodebookRecord(layer=name, k=k, vector_size=s, rows=n, index_bits=math.ceil(math.log2(k)) if k > 1 else 0,
                          entropy_bits=float(-(p * np.log2(p)).sum()) + 0.0, assignments=labels)


def r_squared(x: Sequence[float], y: Sequence[float]) -> float:
    """Coefficient of determination of the least-squares line y ~ a + b·x (= squared Pearson correlation)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def _num(v: float) -> float | None:
    """JSON has no NaN: an undefined R² (a constant series) is null."""
    return None if v != v else v


@dataclass
class CompareResult:
    """Points (one per rate), R², the per-layer table and how the weights were obtained."""

    model: str
    profile: str
    dataflow: str
    weights: str
    points: list[dict]
    r2: float
    fit: dict
    table: pd.DataFrame
    dense: dict
    r2_by_term: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return stamped("dkm.compare-metrics", {"model": self.model, "profile": self.profile, "dataflow": self.dataflow, "weights": self.weights,
                "points": self.points, "r2": _num(self.r2), "fit": self.fit, "dense": self.dense,
                "r2_by_term": {k: _num(v) for k, v in self.r2_by_term.items()}, "seconds": self.seconds,
                "r2_definition": "squared Pearson correlation of paper_metric and dataflow_estimate across rates "
                                 "(= R^2 of the least-squares line of one on the other)"})


def compare_metrics(
    model: str, rates: Sequence[float] | None = None, *, profile: str = "eyeriss-65nm", dataflow: str = "rs",
    state_dict: dict | None = None, seed: int = 0, max_iter: int = 5, terms: CodebookTerms = CodebookTerms(compute_reuse=False),
    bits: int = 8, batch: int = 1, log: Callable[[str], None] | None = None,
) -> CompareResult:
    """Compress the conv layers of zoo ``model`` at each rate and compare the two metrics (module docstring)."""
    t0 = time.perf_counter()
    say = log or (lambda _m: None)
    rates = tuple(default_rates(model) if rates is None else rates)
    for r in rates:
        if not (0 < r <= 1):
            raise DKMError(f"cluster rate must be in (0, 1], got {r}")
    if len(rates) < 2:
        raise DKMError(f"need at least 2 rates for R^2, got {list(rates)}")
    prof = load_profile(profile)
    torch.manual_seed(seed)
    module = zoo.build(model)
    weights = f"seeded random initialization (torch seed {seed}; no trained weights given)"
    if state_dict is not None:
        try:
            module.load_state_dict(state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise DKMError(f"state_dict does not fit {model!r}: {' '.join(first[:2])[:300]}") from None
        weights = "trained weights from the given state_dict"
    net = trace(module, (batch, *zoo.input_shape(model)), name=model)
    mods = dict(module.named_modules())
    convs = [l for l in net.mac_layers() if l.kind in CONV_KINDS]
    if not convs:
        raise DKMError(f"model {model!r} has no conv layers to compress")
    # dense counts once per layer: the mapping does not depend on the codebook
    dense = {}
    for l in convs:
        problem = Problem.from_layer(l)
        m = mapping_for(problem, prof, dataflow)
        dense[l.name] = (l, problem, m, evaluate(problem, prof, m, name=l.name))
    macs = sum(l.macs for l in convs)
    t_dense = time.perf_counter() - t0
    dense_e = sum(CodebookCosts(None)(*dense[l.name], prof).energy for l in convs)
    dense_paper = paper_metric(net, bw=bits, bx=bits, kinds=CONV_KINDS)
    dense_info = {"paper_metric": float(dense_paper["total"].sum()) / macs, "dataflow_estimate": dense_e / macs,
                  "macs": macs}

    no_reuse = CodebookTerms(**{**terms.__dict__, "compute_reuse": False})
    with_reuse = CodebookTerms(**{**terms.__dict__, "compute_reuse": True})
    configs = {"all": terms, "no_compute_reuse": no_reuse, "with_compute_reuse": with_reuse, **{n: CodebookTerms.only(n) for n in TERM_NAMES}}
    points, rows = [], []
    t_km = 0.0
    for ri, rate in enumerate(rates):
        recs = []
        for li, l in enumerate(convs):
            w = mods[l.name].weight
            s = w.shape[3]
            n = w.numel() // s
            k = max(1, math.ceil(rate * n))
            t = time.perf_counter()
            labels = cluster_rows(w, k, seed=seed + 1000 * ri + li, max_iter=max_iter)
            t_km += time.perf_counter() - t
            recs.append(_record(l.name, labels, k, s))
        pm = paper_metric(net, bw=bits, bx=bits, records=recs, kinds=CONV_KINDS)
        est = {}
        per_layer = {}
        for cname, tm in configs.items():
            hook = CodebookCosts(recs, tm, dataflow=dataflow)
            energies = {l.name: hook(*dense[l.name], prof) for l in convs}
            est[cname] = sum(e.energy for e in energies.values()) / macs
            if cname == "all":
                per_layer = energies
                details = hook.details
        pt = {"rate": rate, "paper_metric": float(pm["total"].sum()) / macs, "dataflow_estimate": est["all"],
              "without_compute_reuse": est["no_compute_reuse"],
              "with_compute_reuse": est["with_compute_reuse"], "term_only": {n: est[n] for n in TERM_NAMES}}
        points.append(pt)
        for l, rec in zip(convs, recs):
            le = per_layer[l.name]
            d = details.get(l.name, {})
            rows.append({
                "rate": rate, "layer": l.name, "kind": l.kind, "macs": l.macs, "rows": rec.rows, "vector_size": rec.vector_size,
                "k": rec.k, "index_bits": rec.index_bits, "entropy_bits": rec.entropy_bits,
                "paper_metric_per_mac": float(pm.loc[l.name, "per_mac"]),
                "dataflow_per_mac": le.energy / l.macs,
                "dense_per_mac": CodebookCosts(None)(*dense[l.name], prof).energy / l.macs,
                "macs_saved": d.get("macs_saved", 0), "distinct_vectors": d.get("distinct_vectors", rec.rows),
                **{f"extra_{k}": v for k, v in le.extra.items()},
                "weight_index_energy": float(le.counts.loc[le.counts["dataspace"] == "WeightIndices", "energy"].sum()),
                "compute_energy": le.compute_energy,
            })
        say(f"rate {rate:g}: paper {pt['paper_metric']:.3f} FA/MAC, dataflow {pt['dataflow_estimate']:.4f} "
            f"{prof.energy_unit}/MAC ({time.perf_counter() - t0:.1f}s)")
    x = [p["paper_metric"] for p in points]
    y = [p["dataflow_estimate"] for p in points]
    b, a = np.polyfit(x, y, 1)
    r2 = r_squared(x, y)
    by_term = {n: r_squared(x, [p["term_only"][n] for p in points]) for n in TERM_NAMES}
    by_term["all_but_compute_reuse"] = r_squared(x, [p["without_compute_reuse"] for p in points])
    by_term["all_with_compute_reuse"] = r_squared(x, [p["with_compute_reuse"] for p in points])
    table = pd.DataFrame(rows).fillna(0)
    secs = {"total": time.perf_counter() - t0, "kmeans": t_km, "dense_mapping": t_dense}
    return CompareResult(model, prof.name, dataflow, weights, points, r2, {"slope": float(b), "intercept": float(a)},
                         table, dense_info, by_term, secs)


def plot_scatter(res: CompareResult, path: str | Path) -> Path:
    """Dataflow estimate vs paper metric, one point per rate, with the least-squares line and R²."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([p["paper_metric"] for p in res.points])
    y = np.array([p["dataflow_estimate"] for p in res.points])
    style = {"font.size": 9, "axes.labelsize": 9, "axes.titlesize": 9, "legend.fontsize": 8,
             "axes.spines.top": False, "axes.spines.right": False}
    with plt.rc_context(style):
        fig, ax = plt.subplots(figsize=(3.6, 3.0))
        ax.scatter(x, y, s=18, color="#1f77b4", zorder=3)
        for p in res.points:
            ax.annotate(f"{p['rate']:g}", (p["paper_metric"], p["dataflow_estimate"]), textcoords="offset points",
                        xytext=(4, -8), fontsize=6.5, color="0.3")
        xs = np.linspace(x.min(), x.max(), 2)
        ax.plot(xs, res.fit["intercept"] + res.fit["slope"] * xs, color="#d62728", lw=1,
                label=f"as configured: $R^2$ = {res.r2:.4f}")
        other = "without_compute_reuse" if not np.allclose(
            [p.get("without_compute_reuse", np.nan) for p in res.points], y) else "with_compute_reuse"
        y2 = np.array([p.get(other, np.nan) for p in res.points])
        if np.isfinite(y2).all() and not np.allclose(y2, y):
            b2, a2 = np.polyfit(x, y2, 1)
            ax.scatter(x, y2, s=16, facecolors="none", edgecolors="#7f7f7f", zorder=3)
            ax.plot(xs, a2 + b2 * xs, color="#7f7f7f", lw=0.8, ls="--",
                    label=f"{other.replace('_', ' ')}: $R^2$ = {r_squared(x, y2):.4f}")
        ax.set_xlabel("paper metric (full-adder eq. / MAC)")
        ax.set_ylabel("dataflow estimate (energy / MAC)")
        ax.set_title(f"{res.model} conv layers, {len(x)} cluster rates\n{res.profile} ({res.dataflow}), codebook-aware",
                     fontsize=8.5)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="best")
        fig.tight_layout()
        fig.savefig(path, dpi=300)
        plt.close(fig)
    return Path(path)


def write_outputs(res: CompareResult, out: str | Path) -> dict[str, Path]:
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"scatter": plot_scatter(res, out / f"{res.model}_metrics_scatter.png"),
             "layers": out / f"{res.model}_metrics_layers.csv", "json": out / f"{res.model}_metrics.json"}
    res.table.to_csv(files["layers"], index=False)
    files["json"].write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    return files

"""The paper's energy metric against the dataflow estimate, over weight-shared versions of a model (DESIGN.md §5;
Wu et al., ICML 2018, §3 report R² = 0.9931 on AlexNet and 0.9675 on GoogLeNet), with the null proxies that
say how much of that R² the construction alone explains.

Each *point* is one weight-shared version of the conv layers (kinds conv, grouped, depthwise):

- **rates** (default): at each cluster rate every conv layer is shared by k-means over kernel rows
  (``K = ceil(rate · rows)``) of the model's weights (``state_dict``, else a seeded random initialization);
- **artifacts**: one ``.dkm`` file per point (``dkm compress`` output), whose real assignments give the index
  entropy and the row-stationary compute reuse; the point's rate is ``Σ K / Σ rows`` over its conv layers.

Two numbers per point, for the conv layers only: the paper metric (``energysim.paper_metric``, 8-bit weights and
activations as the paper has for conv layers; codebook + indices), full-adder equivalents / #MACs; and the
dataflow estimate with codebook-aware costs (``energysim.costs.codebook``: index traffic, LUT reads, codebook
load by default; compute reuse when asked) on a profile and dataflow, energy / dense #MACs. More profiles may be
estimated beside the first one.

``r2`` is that of the least-squares line of one on the other across the points (= squared Pearson correlation).
``r2_null`` is the same R² with the paper metric replaced by a null proxy that knows nothing of energy: the total
stored weight bits (codebook ``K·s·8`` + indices) and the cluster rate. Both metrics are affine in each layer's
``K`` and index bits, so a high ``r2`` is expected by construction; it means something only where it clearly
beats ``r2_null``. ``per_layer`` gives the same figures for every conv layer.

k-means: all conv rows of AlexNet / GoogLeNet at 8 rates is up to ~10⁵ centres over ~3·10⁵ rows per layer, where
``dkm.kmeans`` (k-means++ seeding, O(N·K) per step) takes minutes per layer. Small problems
(``N·K <= DKM_KMEANS_LIMIT``) use ``dkm.kmeans`` with ``max_iter`` iterations; larger ones use the same Lloyd
iteration here with an exact nearest-centre search in a k-d tree (scipy) from ``K`` distinct random rows
(seeded), also capped at ``max_iter`` iterations (default 5). Empty clusters keep their centre.

The dense counts come from ``energysim.evaluate`` on each layer's dataflow mapping (computed once per profile
and reused at every point); a profile's optional ``sparsity`` section is not applied here.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from energysim import zoo
from energysim.analysis.paper_metric import paper_metric
from energysim.analysis.schema import stamped
from energysim.arch import load_profile
from energysim.costs.codebook import TERM_NAMES, CodebookCosts, CodebookRecord, CodebookTerms
from energysim.mapping.dataflow import mapping_for
from energysim.model.counts import evaluate
from energysim.model.problem import Problem
from energysim.workload.trace import trace

from .errors import DKMError
from .grouping import group
from .kmeans import kmeans

#: The paper's cluster rates (Wu et al. 2018, §5).
PAPER_RATES: dict[str, tuple[float, ...]] = {
    "alexnet": (0.5, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.01),
    "googlenet": (0.33, 0.18, 0.05, 0.012),
}
CONV_KINDS = frozenset({"conv", "grouped", "depthwise"})
#: Largest N·K clustered with ``dkm.kmeans``; above it the k-d tree Lloyd iteration is used.
DKM_KMEANS_LIMIT = 2e5
#: The null proxies: series that know nothing of energy, tested against the same estimate.
NULL_PROXIES = ("weight_bits", "cluster_rate")


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


def _num(v):
    """JSON has no NaN: an undefined R² (a constant series) is null; dicts are cleaned recursively."""
    if isinstance(v, dict):
        return {k: _num(x) for k, x in v.items()}
    return None if isinstance(v, float) and v != v else v


@dataclass
class CompareResult:
    """Points, R² (with the null proxies' and per layer), the per-layer table and what was used."""

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
    r2_null: dict = field(default_factory=dict)
    per_layer: list = field(default_factory=list)
    weights_source: str = "random_init"
    terms: dict = field(default_factory=dict)
    index_coding: str = "fixed"
    other_profiles: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def depends_on_assignments(self) -> bool:
        """Whether any number depends on which rows share a codeword (not only on K and index widths)."""
        return bool(self.terms.get("compute_reuse")) or self.index_coding == "entropy"

    def to_dict(self) -> dict:
        return stamped("dkm.compare-metrics", {
            "model": self.model, "profile": self.profile, "dataflow": self.dataflow,
            "weights": self.weights, "weights_source": self.weights_source, "terms": dict(self.terms),
            "index_coding": self.index_coding, "depends_on_assignments": self.depends_on_assignments,
            "points": self.points, "r2": _num(self.r2), "r2_null": _num(self.r2_null), "fit": self.fit,
            "dense": self.dense, "per_layer": [_num(p) for p in self.per_layer],
            "other_profiles": _num(self.other_profiles), "r2_by_term": _num(self.r2_by_term),
            "seconds": self.seconds, "notes": list(self.notes),
            "r2_definition": "squared Pearson correlation of paper_metric and dataflow_estimate across points "
                             "(= R^2 of the least-squares line of one on the other)",
            "r2_null_definition": "the same R^2 with paper_metric replaced by a proxy that knows nothing of energy: "
                                  "weight_bits (stored conv weight bits: codebook K*s*8 + indices) and cluster_rate "
                                  "(sum K / sum rows); r2 means something only where it clearly beats these"})


def _dense(convs, prof, dataflow: str) -> dict:
    out = {}
    for l in convs:
        problem = Problem.from_layer(l)
        m = mapping_for(problem, prof, dataflow)
        out[l.name] = (l, problem, m, evaluate(problem, prof, m, name=l.name))
    return out


def _points_from_rates(module, convs, rates, seed: int, max_iter: int) -> tuple[list, float]:
    mods = dict(module.named_modules())
    out, t_km = [], 0.0
    for ri, rate in enumerate(rates):
        recs = []
        for li, l in enumerate(convs):
            w = mods[l.name].weight
            s = w.shape[3]
            k = max(1, math.ceil(rate * (w.numel() // s)))
            t = time.perf_counter()
            recs.append(_record(l.name, cluster_rows(w, k, seed=seed + 1000 * ri + li, max_iter=max_iter), k, s))
            t_km += time.perf_counter() - t
        out.append((f"{rate:g}", rate, recs))
    return out, t_km


def _artifact_model(paths: Sequence[str | Path], model: str | None) -> str:
    from .artifact import parse

    names = {}
    for p in paths:
        if not Path(p).is_file():
            raise DKMError(f"artifact {str(p)!r} does not exist")
        names[str(p)] = parse(Path(p).read_bytes(), p)[0].get("model")
    found = set(names.values())
    if None in found or len(found) != 1:
        raise DKMError(f"--artifacts must all record the same zoo model; they record {names}")
    name = found.pop()
    if model is not None and model != name:
        raise DKMError(f"the artifacts are of model {name!r}, not {model!r}")
    return name


def _points_from_artifacts(paths, convs, notes: list) -> list:
    from .records import codebook_records

    conv = {l.name: l for l in convs}
    out = []
    for p in paths:
        recs = codebook_records(p)
        other = [r.layer for r in recs if r.layer not in conv]
        if other:
            notes.append(f"{Path(p).name}: shared layers {other} are not conv layers; they are left out")
        recs = [r for r in recs if r.layer in conv]
        for r in recs:
            if r.rows * r.vector_size != conv[r.layer].weight_count:
                raise DKMError(f"artifact {str(p)!r}: layer {r.layer!r} holds {r.rows * r.vector_size} weights, the "
                               f"model's has {conv[r.layer].weight_count}")
        shared = sum(r.rows for r in recs)
        rate = sum(r.k for r in recs) / shared if shared else 1.0
        out.append((Path(p).parent.name + "/" + Path(p).name, rate, recs))
    return out


def compare_metrics(
    model: str | None, rates: Sequence[float] | None = None, *, profile: str | Sequence[str] = "eyeriss-65nm",
    dataflow: str = "rs-template", state_dict: dict | None = None, artifacts: Sequence[str | Path] | None = None,
    seed: int = 0, max_iter: int = 5, terms: CodebookTerms = CodebookTerms(compute_reuse=False),
    index_coding: str = "fixed", bits: int = 8, batch: int = 1, log: Callable[[str], None] | None = None,
) -> CompareResult:
    """Compare the two metrics over cluster rates of zoo ``model`` or over ``artifacts`` (module docstring).
    ``profile``: one profile, or several (the first is the main one; the others are estimated beside it)."""
    t0 = time.perf_counter()
    say = log or (lambda _m: None)
    if index_coding not in ("fixed", "entropy"):
        raise DKMError(f"index coding must be 'fixed' or 'entropy', got {index_coding!r}")
    profiles = [profile] if isinstance(profile, str) else list(profile)
    if not profiles:
        raise DKMError("need at least one profile")
    profs = [load_profile(p) for p in profiles]
    notes: list[str] = []
    if artifacts:
        if rates is not None or state_dict is not None:
            raise DKMError("--artifacts brings its own weights and cluster rates: do not pass --rates or --state-dict")
        if len(artifacts) < 2:
            raise DKMError(f"need at least 2 artifacts for R^2, got {len(artifacts)}")
        model = _artifact_model(artifacts, model)
    elif model is None:
        raise DKMError("give a zoo model or --artifacts")
    else:
        rates = tuple(default_rates(model) if rates is None else rates)
        for r in rates:
            if not (0 < r <= 1):
                raise DKMError(f"cluster rate must be in (0, 1], got {r}")
        if len(rates) < 2:
            raise DKMError(f"need at least 2 rates for R^2, got {list(rates)}")
    torch.manual_seed(seed)
    module = zoo.build(model)
    net = trace(module, (batch, *zoo.input_shape(model)), name=model)
    convs = [l for l in net.mac_layers() if l.kind in CONV_KINDS]
    if not convs:
        raise DKMError(f"model {model!r} has no conv layers to compress")
    if artifacts:
        weights, source = (f"trained weights: the real assignments of {len(artifacts)} .dkm artifacts "
                           f"({', '.join(Path(a).parent.name + '/' + Path(a).name for a in artifacts)})"), "artifacts"
    elif state_dict is not None:
        try:
            module.load_state_dict(state_dict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise DKMError(f"state_dict does not fit {model!r}: {' '.join(first[:2])[:300]}") from None
        weights, source = "trained weights from the given state_dict, shared by k-means at each rate", "state_dict"
    else:
        weights = f"seeded random initialization (torch seed {seed}; no trained weights given)"
        source = "random_init"
    dense = {p.name: _dense(convs, p, dataflow) for p in profs}
    prof, dense0 = profs[0], dense[profs[0].name]
    macs = sum(l.macs for l in convs)
    t_dense = time.perf_counter() - t0
    dense_e = sum(CodebookCosts(None)(*dense0[l.name], prof).energy for l in convs)
    dense_paper = paper_metric(net, bw=bits, bx=bits, kinds=CONV_KINDS)
    dense_info = {"paper_metric": float(dense_paper["total"].sum()) / macs, "dataflow_estimate": dense_e / macs,
                  "macs": macs, "weight_bits": float(dense_paper["weight_bits"].sum())}
    if artifacts:
        settings, t_km = _points_from_artifacts(artifacts, convs, notes), 0.0
    else:
        settings, t_km = _points_from_rates(module, convs, rates, seed, max_iter)

    no_reuse = CodebookTerms(**{**terms.__dict__, "compute_reuse": False})
    with_reuse = CodebookTerms(**{**terms.__dict__, "compute_reuse": True})
    configs = {"all": terms, "no_compute_reuse": no_reuse, "with_compute_reuse": with_reuse,
               **{n: CodebookTerms.only(n) for n in TERM_NAMES}}
    points, rows = [], []
    for label, rate, recs in settings:
        by = {r.layer: r for r in recs}
        pm = paper_metric(net, bw=bits, bx=bits, records=recs, kinds=CONV_KINDS, index_coding=index_coding)
        est, per_layer, details = {}, {}, {}
        for cname, tm in configs.items():
            hook = CodebookCosts(recs, tm, dataflow=dataflow, index_coding=index_coding)
            energies = {l.name: hook(*dense0[l.name], prof) for l in convs}
            est[cname] = sum(e.energy for e in energies.values()) / macs
            if cname == "all":
                per_layer, details = energies, hook.details
        others = {}
        for p in profs[1:]:
            hook = CodebookCosts(recs, terms, dataflow=dataflow, index_coding=index_coding)
            others[p.name] = sum(hook(*dense[p.name][l.name], p).energy for l in convs) / macs
        pt = {"label": label, "rate": rate, "paper_metric": float(pm["total"].sum()) / macs,
              "dataflow_estimate": est["all"], "weight_bits": float(pm["weight_bits"].sum()), "cluster_rate": rate,
              "without_compute_reuse": est["no_compute_reuse"], "with_compute_reuse": est["with_compute_reuse"],
              "term_only": {n: est[n] for n in TERM_NAMES}, "other_profiles": others}
        points.append(pt)
        for l in convs:
            rec, le, d = by.get(l.name), per_layer[l.name], details.get(l.name, {})
            rows.append({
                "point": label, "rate": rate, "layer": l.name, "kind": l.kind, "macs": l.macs,
                "rows": rec.rows if rec else l.weight_count // l.S, "vector_size": rec.vector_size if rec else l.S,
                "k": rec.k if rec else 0, "index_bits": rec.index_bits if rec else 0,
                "entropy_bits": rec.entropy_bits if rec else 0.0,
                "cluster_rate": rec.k / rec.rows if rec else 1.0,
                "weight_bits": float(pm.loc[l.name, "weight_bits"]),
                "paper_metric_per_mac": float(pm.loc[l.name, "per_mac"]),
                "dataflow_per_mac": le.energy / l.macs,
                "dense_per_mac": CodebookCosts(None)(*dense0[l.name], prof).energy / l.macs,
                "macs_saved": d.get("macs_saved", 0), "distinct_vectors": d.get("distinct_vectors", rec.rows if rec else 0),
                **{f"extra_{k}": v for k, v in le.extra.items()},
                "weight_index_energy": float(le.counts.loc[le.counts["dataspace"] == "WeightIndices", "energy"].sum()),
                "compute_energy": le.compute_energy,
            })
        say(f"{label}: paper {pt['paper_metric']:.3f} FA/MAC, dataflow {pt['dataflow_estimate']:.4f} "
            f"{prof.energy_unit}/MAC ({time.perf_counter() - t0:.1f}s)")
    x = [p["paper_metric"] for p in points]
    y = [p["dataflow_estimate"] for p in points]
    b, a = np.polyfit(x, y, 1)
    by_term = {n: r_squared(x, [p["term_only"][n] for p in points]) for n in TERM_NAMES}
    by_term["all_but_compute_reuse"] = r_squared(x, [p["without_compute_reuse"] for p in points])
    by_term["all_with_compute_reuse"] = r_squared(x, [p["with_compute_reuse"] for p in points])
    table = pd.DataFrame(rows).fillna(0)
    other = {}
    for p in profs[1:]:
        yo = [pt["other_profiles"][p.name] for pt in points]
        other[p.name] = {"r2": r_squared(x, yo), "r2_null": {n: r_squared([pt[n] for pt in points], yo)
                                                            for n in NULL_PROXIES},
                         "dataflow_estimate": yo, "dense": sum(CodebookCosts(None)(*dense[p.name][l.name], p).energy
                                                               for l in convs) / macs}
    secs = {"total": time.perf_counter() - t0, "kmeans": t_km, "dense_mapping": t_dense}
    return CompareResult(model, prof.name, dataflow, weights, points, r_squared(x, y),
                         {"slope": float(b), "intercept": float(a)}, table, dense_info, by_term, secs,
                         r2_null={n: r_squared([p[n] for p in points], y) for n in NULL_PROXIES},
                         per_layer=_per_layer(table), weights_source=source, terms=asdict(terms),
                         index_coding=index_coding, other_profiles=other, notes=notes)


def _per_layer(table: pd.DataFrame) -> list[dict]:
    """Per conv layer, across the points: R² of its paper metric, and of its null proxies, with its estimate."""
    out = []
    for name, g in table.groupby("layer", sort=False):
        y = g["dataflow_per_mac"].to_numpy()
        out.append({"layer": name, "macs": int(g["macs"].iloc[0]), "r2": r_squared(g["paper_metric_per_mac"], y),
                    "r2_null": {n: r_squared(g[n], y) for n in NULL_PROXIES}})
    return out


def plot_scatter(res: CompareResult, path: str | Path) -> Path:
    """Dataflow estimate vs paper metric, one point per weight-shared version, with the least-squares line, R²
    and the null proxies' R²."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([p["paper_metric"] for p in res.points])
    y = np.array([p["dataflow_estimate"] for p in res.points])
    style = {"font.size": 9, "axes.labelsize": 9, "axes.titlesize": 9, "legend.fontsize": 7,
             "axes.spines.top": False, "axes.spines.right": False}
    with plt.rc_context(style):
        fig, ax = plt.subplots(figsize=(3.6, 3.2))
        ax.scatter(x, y, s=18, color="#1f77b4", zorder=3)
        for p in res.points:
            ax.annotate(f"{p['rate']:.3g}", (p["paper_metric"], p["dataflow_estimate"]), textcoords="offset points",
                        xytext=(4, -8), fontsize=6.5, color="0.3")
        xs = np.linspace(x.min(), x.max(), 2)
        nulls = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in res.r2_null.items() if v == v)
        ax.plot(xs, res.fit["intercept"] + res.fit["slope"] * xs, color="#d62728", lw=1,
                label=f"$R^2$ = {res.r2:.4f}" + (f"\nnull $R^2$: {nulls}" if nulls else ""))
        ax.set_xlabel("paper metric (full-adder eq. / MAC)")
        ax.set_ylabel("dataflow estimate (energy / MAC)")
        on = [k for k, v in res.terms.items() if v]
        ax.set_title(f"{res.model} conv layers, {len(x)} points ({res.weights_source})\n{res.profile} "
                     f"({res.dataflow}); terms: {', '.join(on) or 'none'}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="best")
        fig.tight_layout()
        fig.savefig(path, dpi=300)
        plt.close(fig)
    return Path(path)


def write_outputs(res: CompareResult, out: str | Path) -> dict[str, Path]:
    """The scatter plot, the per-layer CSV and the JSON in the folder ``out``, all three or none (written to a
    staging folder and moved into place: ``energysim.cli.outputs.atomic_output_dir``)."""
    import json

    from energysim.cli.outputs import atomic_output_dir, in_place

    out = Path(out)
    with atomic_output_dir(out) as tmp:
        files = {"scatter": plot_scatter(res, tmp / f"{res.model}_metrics_scatter.png"),
                 "layers": tmp / f"{res.model}_metrics_layers.csv", "json": tmp / f"{res.model}_metrics.json"}
        res.table.to_csv(files["layers"], index=False)
        files["json"].write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    return in_place(files, tmp, out)

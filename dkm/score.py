"""Score a compressed model: dense vs codebook-aware energy of a ``.dkm`` artifact on a hardware profile.

``score(path, profile)`` reads the artifact (its manifest names the zoo model), checks that every shared layer is
a conv/linear layer of that model with the recorded weight shape, traces the model, and estimates it twice with
``energysim``: dense, and with :class:`energysim.costs.codebook.CodebookCosts` fed by the artifact's codebook
records (index traffic, codebook LUT reads, codebook load, row-stationary compute reuse; each switchable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from energysim import zoo
from energysim.analysis.compressed import estimate_compressed
from energysim.costs.codebook import CodebookTerms
from energysim.analysis.estimate import estimate
from energysim.analysis.plots import plot_side_by_side
from energysim.arch import load_profile
from energysim.analysis.report import EnergyReport
from energysim.workload.trace import trace

from .errors import DKMError
from energysim.analysis.schema import stamped


@dataclass
class ScoreResult:
    """Dense and compressed reports of one artifact, with the per-term totals (in the profile's energy unit) behind the difference."""

    model: str
    artifact: str
    dense: EnergyReport
    compressed: EnergyReport
    terms: CodebookTerms
    details: dict
    term_energy: dict = field(default_factory=dict)

    @property
    def dense_energy(self) -> float:
        return self.dense.total_energy

    @property
    def compressed_energy(self) -> float:
        return self.compressed.total_energy

    @property
    def reduction(self) -> float:
        """Fraction of the dense energy saved: ``1 − compressed / dense``."""
        return 1.0 - self.compressed_energy / self.dense_energy if self.dense_energy else 0.0

    def layers(self) -> pd.DataFrame:
        rows = []
        for d, c in zip(self.dense.layers, self.compressed.layers):
            det = self.details.get(d.name, {})
            rows.append({
                "layer": d.name, "kind": d.kind, "macs": d.macs, "shared": d.name in self.details,
                "k": det.get("k"), "index_bits": det.get("index_bits"),
                "dense_energy": d.energy, "compressed_energy": c.energy,
                "reduction": 1 - c.energy / d.energy if d.energy else 0.0,
                "macs_saved": det.get("macs_saved", 0),
                **{f"extra_{k}": v for k, v in c.extra.items()},
            })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return stamped("dkm.score", {
            "model": self.model, "artifact": self.artifact, "profile": self.dense.profile,
            "dataflow": self.dense.dataflow, "energy_unit": self.dense.energy_unit,
            "terms": self.terms.__dict__.copy(),
            "dense_energy": self.dense_energy, "compressed_energy": self.compressed_energy,
            "reduction": self.reduction, "term_energy": self.term_energy,
            "layers": json.loads(self.layers().to_json(orient="records")),
        })


def _check_layers(manifest: dict, net, path: str) -> None:
    mac = {l.name: l for l in net.mac_layers()}
    for e in manifest.get("layers", []):
        name = e.get("name")
        if name not in mac:
            raise DKMError(f"artifact {path!r}: shared layer {name!r} is not a conv/linear layer of model "
                           f"{manifest.get('model')!r} (its layers: {', '.join(list(mac)[:8])}"
                           f"{', ...' if len(mac) > 8 else ''})")
        l = mac[name]
        n = 1
        for v in e.get("shape", []):
            n *= int(v)
        if n != l.weight_count:
            raise DKMError(f"artifact {path!r}: layer {name!r} has weight shape {tuple(e.get('shape', []))} "
                           f"({n} weights) but layer {name!r} of model {manifest.get('model')!r} has {l.weight_count}")


def score(artifact: str | Path, profile: str = "eyeriss-65nm", dataflow: str = "rs", *,
          terms: CodebookTerms = CodebookTerms(), index_coding: str = "fixed", batch: int = 1) -> ScoreResult:
    """Dense and compressed energy of the model in ``artifact`` (see the module docstring)."""
    import torch

    from .artifact import load, parse
    from .records import codebook_records

    path = Path(artifact)
    if not path.is_file():
        raise DKMError(f"artifact {str(path)!r} does not exist")
    manifest, _ = parse(path.read_bytes(), path)
    name = manifest.get("model")
    if not name:
        raise DKMError(f"artifact {str(path)!r} records no zoo model name; cannot trace it")
    prof = load_profile(profile)  # fail on a bad profile before the work
    with torch.device("meta"):
        shape_model = zoo.build(name, num_classes=manifest.get("num_classes"))
    net = trace(shape_model, (batch, *zoo.input_shape(name)), name=name)
    _check_layers(manifest, net, str(path))
    try:
        art = load(path)
    except RuntimeError as exc:  # load_state_dict mismatch
        raise DKMError(f"artifact {str(path)!r} does not fit model {name!r}: "
                       f"{str(exc).strip().splitlines()[0][:200]}") from None
    records = codebook_records(art)
    comp, hook = estimate_compressed(net, prof, records, dataflow, terms=terms, index_coding=index_coding)
    dense = estimate(net, prof, dataflow)
    res = ScoreResult(name, str(path), dense, comp, terms, hook.details)
    res.term_energy = term_totals(res)
    return res


def term_totals(res: ScoreResult) -> dict:
    """Where the difference comes from, in the profile's energy unit (negative = saved): summed over layers."""
    idx = sum(d.get("index_traffic_saved", 0.0) for d in res.details.values())
    mac = sum(d.get("reuse_mac_saved", 0.0) for d in res.details.values())
    extra = {}
    for l in res.compressed.layers:
        for k, v in l.extra.items():
            extra[k] = extra.get(k, 0.0) + v
    return {
        "index_traffic": -idx,
        "codebook_lut": extra.get("codebook_lut", 0.0),
        "codebook_load": extra.get("codebook_load", 0.0),
        "compute_reuse_macs": -mac,
        "reuse_psum_add": extra.get("reuse_psum_add", 0.0),
    }


def write_outputs(res: ScoreResult, out: str | Path) -> list[Path]:
    """``score.json``, ``layers.csv`` and side-by-side per-layer breakdown plots (by level and data space)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "score.json").write_text(json.dumps(res.to_dict(), indent=1) + "\n")
    res.layers().to_csv(out / "layers.csv", index=False)
    figs = [plot_side_by_side(res.dense, res.compressed, out / f"{res.model}_dense_vs_compressed_by_level.png",
                              by="level"),
            plot_side_by_side(res.dense, res.compressed, out / f"{res.model}_dense_vs_compressed_by_dataspace.png",
                              by="dataspace")]
    return [out / "score.json", out / "layers.csv", *figs]

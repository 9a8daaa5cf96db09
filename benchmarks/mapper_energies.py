"""The mapper's energies on every case we can name, as one JSON file: to check that a change to the mapper
leaves every energy unchanged or lower (run it on the old tree and the new one, then ``--compare``).

Cases: the default (pruned) search of ``benchmarks/mapper_quality.py`` (Timeloop validation problems and
AlexNet CONV3-5 on the two small profiles; the search side only, not the exhaustive one); every MAC layer of
every zoo model (batch 1) on eyeriss-65nm, free search, energy objective; ResNet-18 from ZigZag's ONNX file on
``hw_profiles/zigzag-eyeriss.yaml``, free and K|C search (as ``benchmarks/vs_zigzag.py``).

    .venv/bin/python benchmarks/mapper_energies.py --out before.json [--models resnet18,alexnet] [--onnx FILE]
    .venv/bin/python benchmarks/mapper_energies.py --compare before.json after.json

The script imports ``energysim`` from the tree it is run in (``PYTHONPATH`` picks an old checkout), and only
uses API that both the old and the new tree have.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import sys
import time
from pathlib import Path


def _quality(root: Path, shared: Path) -> dict:
    from energysim.interop.timeloop import TimeloopCase
    from energysim.mapping.search import search
    from energysim.model.problem import Problem
    from energysim.workload.trace import trace_model

    spec = importlib.util.spec_from_file_location("_mq", root / "benchmarks" / "mapper_quality.py")
    mq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mq)
    out = {}
    for case in sorted(glob.glob(str(shared / "validation" / "timeloop" / "*"))):
        c = TimeloopCase.load(case)
        if c.problem.name == "CNN_Layer":
            continue
        out[Path(case).name] = search(c.problem, c.profile, None, cache=False).value
    net = trace_model("alexnet", batch=1)
    convs = [l for l in net if l.kind in ("conv", "grouped")][2:5]
    for split in (False, True):
        prof = mq.small_profile(split)
        for layer in convs:
            out[f"alexnet {layer.name} {prof.name}"] = search(Problem.from_layer(layer), prof, None,
                                                              cache=False).value
    return out


def _network(net, prof, opts=None) -> dict:
    from energysim.mapping.search import search
    from energysim.model.problem import Problem

    layers = {}
    for layer in net:
        if layer.has_macs:
            layers[layer.name] = search(Problem.from_layer(layer), prof, None, "energy", opts).energy
    return {"total": sum(layers.values()), "layers": layers}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    ap.add_argument("--models", default="all", help="comma-separated zoo models, or 'all'")
    ap.add_argument("--onnx", help="ZigZag's resnet18.onnx (skipped when not given)")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    a = ap.parse_args()
    if a.compare:
        return compare(*a.compare)
    root = Path(__file__).resolve().parents[1]
    import energysim
    from energysim.arch import load_profile
    from energysim.mapping.search import MapperOptions

    res: dict = {"energysim": str(Path(energysim.__file__).parent)}
    t = time.process_time()
    if not a.skip_quality:
        res["quality"] = _quality(root, root.parent / "shared")
        print(f"quality cases: {len(res['quality'])}", file=sys.stderr, flush=True)
    zoo = energysim.zoo
    names = zoo.names() if a.models == "all" else a.models.split(",")
    prof = load_profile("eyeriss-65nm")
    res["zoo"] = {}
    for name in names:
        t0 = time.process_time()
        res["zoo"][name] = _network(energysim.trace_model(name, batch=1), prof)
        print(f"{name}: {res['zoo'][name]['total']:.6g} ({time.process_time() - t0:.1f} s CPU)", file=sys.stderr,
              flush=True)
    if a.onnx:
        zz = load_profile(root / "hw_profiles" / "zigzag-eyeriss.yaml")
        net = energysim.from_onnx(a.onnx)
        res["zigzag"] = {"free": _network(net, zz), "kc": _network(
            net, zz, MapperOptions(spatial=(("X", ("M",)), ("Y", ("C",)))))}
    res["cpu_s"] = time.process_time() - t
    text = json.dumps(res, indent=1)
    if a.out:
        Path(a.out).write_text(text)
    else:
        print(text)
    return 0


def _flat(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, float):
            out[f"{prefix}{k}"] = v
    return out


def compare(before: str, after: str) -> int:
    """Every energy in ``before`` must be in ``after`` and not higher (relative 1e-12)."""
    b = _flat(json.loads(Path(before).read_text()))
    a = _flat(json.loads(Path(after).read_text()))
    b.pop("cpu_s", None)
    a.pop("cpu_s", None)
    worse = [(k, b[k], a[k]) for k in b if k in a and a[k] > b[k] * (1 + 1e-12)]
    lower = [(k, b[k], a[k]) for k in b if k in a and a[k] < b[k] * (1 - 1e-12)]
    missing = [k for k in b if k not in a]
    print(f"{len(b)} energies compared: {len(b) - len(worse) - len(lower) - len(missing)} equal, "
          f"{len(lower)} lower, {len(worse)} higher, {len(missing)} missing")
    for k, x, y in lower:
        print(f"  lower  {k}: {x:.9g} -> {y:.9g} ({y / x - 1:+.3%})")
    for k, x, y in worse:
        print(f"  HIGHER {k}: {x:.9g} -> {y:.9g} ({y / x - 1:+.3%})")
    for k in missing:
        print(f"  missing {k}")
    return 1 if worse or missing else 0


if __name__ == "__main__":
    sys.exit(main())

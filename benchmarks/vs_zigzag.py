"""Our mapping search against ZigZag (KU Leuven, zigzag-dse) on ResNet-18, same hardware, same network file.

ZigZag runs its own example: ``zigzag/inputs/workload/resnet18.onnx`` on ``inputs/hardware/eyeriss_like.yaml``
with ``inputs/mapping/default.yaml`` (spatial K on D1, C on D2; LOMA temporal search, lpf_limit 6, energy
objective). Ours reads the very same ONNX file (``energysim.from_onnx``; the file ships without its external
weight data, which neither tool needs: 20 convolutions + the FC layer, 1.81 GMAC, batch 1, same shapes as our
zoo ResNet-18) and maps it on ``hw_profiles/zigzag-eyeriss.yaml`` (that example as a profile of ours) in two
settings:

* ``search`` (free search: any spatial unrolling, every keep variant, energy objective), and
* ``kc`` (ZigZag-equivalent: spatial dimensions fixed to K (M) on X and C on Y as in ZigZag's mapping file).

Each tool runs in a fresh interpreter. Two ratios are printed per setting, labelled:

* **process**: whole-process wall time (interpreter start, imports, work) of ZigZag over ours;
* **work**: the post-import work: ZigZag's ``run_s`` (ONNX parsing + mapping + evaluation, timed inside its
  process) over ours (ONNX parsing + mapping every layer + pricing, timed inside ours).

A third line runs ours on the zoo ResNet-18 traced with torch (the same layers; torch import and tracing add
about 2 s). ZigZag is installed into its own venv under ``benchmarks/_work/zz-venv`` if missing (needs PyPI;
offline it prints ours alone). The two energy models differ (ZigZag counts per-operand memory chains with its
own rules; ours Timeloop's), so the energies are reported, not compared.

    .venv/bin/python benchmarks/vs_zigzag.py [--skip-zigzag]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
VENV = WORK / "zz-venv"
ZZ_PY = VENV / "bin" / "python"

ZZ_ONNX = "zigzag/inputs/workload/resnet18.onnx"

ZZ_SCRIPT = r'''
import json, logging, os, sys, time, tempfile
logging.disable(logging.CRITICAL)
t0 = time.perf_counter()
import zigzag
from zigzag import api
base = os.path.join(os.path.dirname(zigzag.__file__), "inputs")
t1 = time.perf_counter()
energy, latency, _ = api.get_hardware_performance_zigzag(
    workload=os.path.join(base, "workload", "resnet18.onnx"),
    accelerator=os.path.join(base, "hardware", "eyeriss_like.yaml"),
    mapping=os.path.join(base, "mapping", "default.yaml"),
    opt="energy", dump_folder=tempfile.mkdtemp(), loma_show_progress_bar=False)
t2 = time.perf_counter()
print(json.dumps({"energy": energy, "latency_cycles": latency, "import_s": t1 - t0, "run_s": t2 - t1,
                  "version": getattr(zigzag, "__version__", "?")}))
'''


def ensure_zigzag() -> str | None:
    """Path to a python with zigzag importable, installing it if needed; None when that fails."""
    if ZZ_PY.exists() and subprocess.run([str(ZZ_PY), "-c", "import zigzag, six"], capture_output=True).returncode == 0:
        return str(ZZ_PY)
    try:
        if not ZZ_PY.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(ZZ_PY), "-m", "pip", "install", "-q", "zigzag-dse", "six"], check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"cannot install zigzag-dse ({exc}); printing ours alone", file=sys.stderr)
        return None
    return str(ZZ_PY)


def zigzag_onnx(py: str) -> str | None:
    """Path of ZigZag's ResNet-18 ONNX file (inside its site-packages)."""
    p = subprocess.run([py, "-c", "import os, zigzag; print(os.path.dirname(os.path.dirname(zigzag.__file__)))"],
                       capture_output=True, text=True)
    path = Path(p.stdout.strip()) / ZZ_ONNX
    return str(path) if p.returncode == 0 and path.exists() else None


def run_zigzag(py: str) -> dict | None:
    t = time.perf_counter()
    p = subprocess.run([py, "-c", ZZ_SCRIPT], capture_output=True, text=True, cwd=str(WORK))
    wall = time.perf_counter() - t
    if p.returncode != 0:
        print("ZigZag failed:\n" + p.stderr[-3000:], file=sys.stderr)
        return None
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def run_ours(setting: str, source: str) -> dict:
    """One setting in this (fresh) process; ``source`` is an ONNX path or ``zoo`` (trace with torch)."""
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    import energysim
    from energysim.mapping.search import MapperOptions, clear_cache, search
    from energysim.model.problem import Problem
    from energysim.arch import load_profile

    clear_cache()
    t1 = time.perf_counter()
    # the work timed against ZigZag's run_s starts here: reading the network, mapping and pricing every layer
    net = energysim.trace_model("resnet18", batch=1) if source == "zoo" else energysim.from_onnx(source)
    prof = load_profile(ROOT / "hw_profiles" / "zigzag-eyeriss.yaml")
    t2 = time.perf_counter()
    opts = MapperOptions(spatial=(("X", ("M",)), ("Y", ("C",)))) if setting == "kc" else MapperOptions()
    energy = 0.0
    cycles = 0
    layers = 0
    for layer in net:
        if not layer.has_macs:
            continue
        # search() re-prices its best mapping with the counting engine (stats, energy) and caches per shape
        r = search(Problem.from_layer(layer), prof, None, "energy", opts)
        energy += r.energy
        cycles += r.cycles
        layers += 1
    t3 = time.perf_counter()
    return {"energy": energy, "cycles": cycles, "layers": layers, "import_s": t1 - t0, "read_s": t2 - t1,
            "map_s": t3 - t2, "work_s": t3 - t1}


def ours_in_subprocess(setting: str, source: str) -> dict | None:
    # a fresh interpreter per run, so interpreter start, imports and caches are counted each time
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--ours", setting, source], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        return None
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-zigzag", action="store_true")
    a = ap.parse_args()
    zz = None
    py = ensure_zigzag() if not a.skip_zigzag or not ZZ_PY.exists() else str(ZZ_PY)
    onnx_path = zigzag_onnx(py) if py else None
    if py and not a.skip_zigzag:
        print("running ZigZag on ResNet-18 ...", file=sys.stderr, flush=True)
        zz = run_zigzag(py)
    runs = []
    if onnx_path:
        runs += [("search", onnx_path, "ours, free search (ONNX)"), ("kc", onnx_path, "ours, K|C spatial (ONNX)")]
    runs += [("kc", "zoo", "ours, K|C spatial (torch zoo)")]
    print(f"{'tool':<34} {'process s':>10} {'work s':>8} {'energy uJ':>12} {'MAC-layer cycles':>18}  breakdown")
    if zz:
        print(f"{'ZigZag ' + zz['version'] + ' (LOMA, K|C spatial)':<34} {zz['wall_s']:>10.2f} {zz['run_s']:>8.2f} "
              f"{zz['energy'] / 1e6:>12,.1f} {zz['latency_cycles']:>18,.0f}  (import {zz['import_s']:.2f} s; "
              "work = parse + map + evaluate)")
    for setting, source, label in runs:
        r = ours_in_subprocess(setting, source)
        if r is None:
            continue
        print(f"{label:<34} {r['wall_s']:>10.2f} {r['work_s']:>8.2f} {r['energy'] / 1e6:>12,.1f} "
              f"{r['cycles']:>18,}  (import {r['import_s']:.2f} s; work = read {r['read_s']:.2f} s + "
              f"map and price {r['layers']} layers {r['map_s']:.2f} s)")
        if zz:
            print(f"{'':<34} ZigZag / ours: process {zz['wall_s'] / r['wall_s']:.1f}x, "
                  f"work {zz['run_s'] / r['work_s']:.1f}x")
    if not zz:
        print("ZigZag was not run (not installable, skipped or failed); ours alone above.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--ours":
        print(json.dumps(run_ours(sys.argv[2], sys.argv[3])))
        sys.exit(0)
    sys.exit(main())

"""Our mapping search against ZigZag (KU Leuven, zigzag-dse) on ResNet-18, same hardware, same run.

ZigZag runs its own example: ``zigzag/inputs/workload/resnet18.onnx`` on ``inputs/hardware/eyeriss_like.yaml``
with ``inputs/mapping/default.yaml`` (spatial K on D1, C on D2; LOMA temporal search, lpf_limit 6, energy
objective). Ours runs the same network (``energysim`` zoo ResNet-18, 224x224, batch 1) on
``hw_profiles/zigzag-eyeriss.yaml`` (that example as a profile of ours) in two settings:

* ``search`` (free search: any spatial unrolling, every keep variant, energy objective), and
* ``kc`` (ZigZag-equivalent: spatial dimensions fixed to K (M) on X and C on Y as in ZigZag's mapping file).

ZigZag is installed into its own venv under ``benchmarks/_work/zz-venv`` if missing (needs PyPI; offline it
prints ours alone). Both wall times are printed (ours: tracing + mapping every layer + pricing; ZigZag:
parsing + mapping + evaluation), their ratio, and both energies. The two energy models differ (ZigZag counts
per-operand memory chains with its own rules; ours Timeloop's), so the energies are reported, not compared.

    .venv/bin/python benchmarks/vs_zigzag.py [--skip-zigzag]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
VENV = WORK / "zz-venv"
ZZ_PY = VENV / "bin" / "python"

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
print(json.dumps({"energy_pj": energy, "latency_cycles": latency, "import_s": t1 - t0, "run_s": t2 - t1,
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


def run_ours(setting: str) -> dict:
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    from energysim.estimate import (_in_place, applied_in_place, layer_energy_from_stats,  # noqa: F401
                                    streaming_energy)
    from energysim.mapper import MapperOptions, clear_cache, search
    from energysim.problem import Problem
    from energysim.profile import load_profile
    from energysim.trace import trace_model

    clear_cache()
    t1 = time.perf_counter()
    net = trace_model("resnet18", batch=1)
    prof = load_profile(ROOT / "hw_profiles" / "zigzag-eyeriss.yaml")
    t2 = time.perf_counter()
    opts = MapperOptions(spatial=(("X", ("M",)), ("Y", ("C",)))) if setting == "kc" else MapperOptions()
    energy = 0.0
    cycles = 0
    for layer in net:
        if not layer.has_macs:
            continue
        r = search(Problem.from_layer(layer), prof, None, "energy", opts)
        energy += r.energy_pj
        cycles += r.cycles
    t3 = time.perf_counter()
    return {"energy_pj": energy, "cycles": cycles, "import_s": t1 - t0, "trace_s": t2 - t1, "map_s": t3 - t2,
            "wall_s": t3 - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-zigzag", action="store_true")
    a = ap.parse_args()
    zz = None
    if not a.skip_zigzag:
        py = ensure_zigzag()
        if py:
            print("running ZigZag on ResNet-18 ...", file=sys.stderr, flush=True)
            zz = run_zigzag(py)
    ours = {}
    for setting in ("search", "kc"):
        # a fresh interpreter per setting, so imports and caches are counted each time
        p = subprocess.run([sys.executable, __file__, "--ours", setting], capture_output=True, text=True) \
            if "--ours" not in sys.argv else None
        ours[setting] = json.loads(p.stdout.strip().splitlines()[-1]) if p and p.returncode == 0 else None
        if p is not None and p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
    print(f"{'tool':<34} {'wall s':>8} {'energy uJ':>12} {'MAC-layer cycles':>18}")
    if zz:
        print(f"{'ZigZag ' + zz['version'] + ' (LOMA, K|C spatial)':<34} {zz['wall_s']:>8.2f} "
              f"{zz['energy_pj'] / 1e6:>12,.1f} {zz['latency_cycles']:>18,.0f}")
    for setting, r in ours.items():
        if r is None:
            continue
        label = {"search": "energysim search (free)", "kc": "energysim search (K|C spatial)"}[setting]
        print(f"{label:<34} {r['wall_s']:>8.2f} {r['energy_pj'] / 1e6:>12,.1f} {r['cycles']:>18,}   "
              f"(import {r['import_s']:.2f} s, trace {r['trace_s']:.2f} s, mapping {r['map_s']:.2f} s)")
        if zz:
            print(f"{'':<34} ZigZag / ours: {zz['wall_s'] / r['wall_s']:.1f}x wall, "
                  f"{zz['wall_s'] / r['map_s']:.1f}x vs mapping alone")
    if not zz:
        print("ZigZag was not run (not installable or failed); ours alone above.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--ours":
        print(json.dumps(run_ours(sys.argv[2])))
        sys.exit(0)
    sys.exit(main())

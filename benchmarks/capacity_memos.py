"""What the capacity-free memos (issue 19: ``counts.evaluate``'s memo, template replays, the search's bounds and
verified candidates, all keyed by ``HardwareProfile.levels_key``) return against a cold process, on profiles whose
buffers are resized at random (and search replays): every answer must be the same.

* templates: every shipped profile, 8 random resizings (each bounded level's ``depth`` and ``capacity_split``
  times 0.25 to 4), the four templates, 24 layers drawn from AlexNet, ResNet-18, MobileNet-v2 and ViT-B/16:
  each ``map_problem`` of a warm run (replays allowed) against a fresh one (memos cleared before it);
* searches: four profiles, 4 resizings (x 0.5 to 2), ``ws`` and free search, 12 layers: each warm ``search``
  (whole searches replayed where every capacity test answers alike: ``replay``; the tiling steps' pairs
  remembered per remainder, ``tiling.remembered_pairs``, as in a sweep) against a cold one
  (``clear_cache`` before it); value, mapping, counts, candidates evaluated and source.

    .venv/bin/python benchmarks/capacity_memos.py [--seed 0] [--skip-search]

Prints the number of cases and of equal answers; exits 1 if any differs.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import energysim  # noqa: E402
from energysim.arch import HardwareProfile, load_profile  # noqa: E402
from energysim.errors import EnergySimError  # noqa: E402
from energysim.mapping import templates  # noqa: E402
from energysim.mapping.search import accel, clear_cache, replay, search  # noqa: E402
from energysim.mapping.search.tiling import remembered_pairs  # noqa: E402
from energysim.model.memo import clear_all  # noqa: E402
from energysim.model.problem import Problem  # noqa: E402

PROFILES = ["eyeriss-32nm", "eyeriss-65nm", "eyeriss-chip", "simple-45nm", "tpu-like", "zigzag-eyeriss"]


def resized(base: HardwareProfile, rng: random.Random, factors) -> HardwareProfile | None:
    d = base.model_dump(by_alias=True, exclude_none=True)
    for lv in d["levels"]:
        if "depth" in lv:
            f = rng.choice(factors)
            lv["depth"] = max(1, int(lv["depth"] * f))
            if "capacity_split" in lv:
                lv["capacity_split"] = {k: min(int(v * f), lv["depth"] // 2) for k, v in lv["capacity_split"].items()}
    try:
        return HardwareProfile.from_dict(d)
    except EnergySimError:
        return None


def layers(rng: random.Random, models, per_model: int) -> list[Problem]:
    out = []
    for m in models:
        ls = [l for l in energysim.trace_model(m, batch=1) if l.has_macs]
        out += [Problem.from_layer(l) for l in rng.sample(ls, min(per_model, len(ls)))]
    return out


def answer(fn):
    try:
        return fn()
    except EnergySimError as exc:
        return ("error", str(exc))


def check_templates(rng: random.Random) -> tuple[int, int]:
    problems = layers(rng, ["alexnet", "resnet18", "mobilenet_v2", "vit_b16"], 6)
    n = same = 0
    for pn in PROFILES:
        variants = [v for v in (resized(load_profile(pn), rng, [0.25, 0.5, 1, 2, 4]) for _ in range(8)) if v]
        for flow in ("rs", "ws", "os", "nlr"):
            clear_all()
            warm = [answer(lambda: templates.map_problem(p, v, flow)) for v in variants for p in problems]
            for (v, p), got in zip([(v, p) for v in variants for p in problems], warm):
                clear_all()
                n += 1
                same += got == answer(lambda: templates.map_problem(p, v, flow))
    return n, same


def check_searches(rng: random.Random) -> tuple[int, int, int]:
    accel.prefer()  # the kernels throughout (numpy and the kernels count ``evaluated`` apart)
    problems = layers(rng, ["alexnet", "resnet18", "mobilenet_v2"], 4)
    n = same = replays = 0
    found = []
    real = replay.find
    replay.find = lambda *a: found.append(real(*a)) or found[-1]
    for pn in ("eyeriss-65nm", "eyeriss-chip", "simple-45nm", "zigzag-eyeriss"):
        variants = [v for v in (resized(load_profile(pn), rng, [0.5, 1, 2]) for _ in range(4)) if v]
        for flow in ("ws", None):
            def one(p, v):
                r = search(p, v, flow, "energy", cache=False)
                return r.value, r.mapping, r.stats, r.evaluated, r.source

            clear_cache()
            found.clear()
            with remembered_pairs():  # as a sweep's designs do
                warm = [answer(lambda: one(p, v)) for v in variants for p in problems]
            replays += sum(f is not None for f in found)
            for (v, p), got in zip([(v, p) for v in variants for p in problems], warm):
                clear_cache()
                n += 1
                same += got == answer(lambda: one(p, v))
    replay.find = real
    return n, same, replays


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-search", action="store_true", help="templates only (seconds instead of minutes)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    ok = True
    n, same = check_templates(rng)
    print(f"templates: {n} cases, {same} equal to a fresh run", flush=True)
    ok &= n == same
    if not a.skip_search:
        n, same, replays = check_searches(rng)
        print(f"searches: {n} cases, {same} equal to a cold process (warm: {replays} whole searches replayed)",
              flush=True)
        ok &= n == same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Regularizer overhead per training step (forward + backward + SGD step), batch 32.

Models: LeNet-5 (all 4 layers regularized, FC with 4-vectors) and wrn16_4 (its 16 conv layers, the authors'
K list for CR 45); also LeNet-5 with its conv layers only (as the paper regularizes). Prints the median step time without a regularizer, with ``spectral`` and with ``hard``,
the ratio, and the cost of one F / assignment refresh (done every T epochs, not per step).
``--backend`` picks the per-step path (``auto``: compiled kernels for large layers when numba is installed;
``numba``: kernels for every layer; ``torch``: torch products only). The first construction of each regularizer
includes compiling its kernels (the first time on a machine; later they load from numba's disk cache) and is
printed apart from the refresh. The kernels run on one thread, so with ``--threads 2`` the model's step gets
faster and the same overhead a larger share of it; one thread is the like-for-like measure.
Usage: OMP_NUM_THREADS=1 python benchmarks/reg_overhead.py --threads 1 [--steps 60] [--backend auto|numba|torch]
       [--models lenet5,lenet5-conv,wrn16_4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dkm  # noqa: E402
from energysim import zoo  # noqa: E402

K_CR45 = [144, 90, 80, 50, 30, 30, 100, 50, 10, 50, 50, 30, 7, 12, 7, 7]


def step_times(model, x, y, regs: dict, steps: int) -> dict:
    """Median step time per variant; variants alternate step by step so machine-load drift hits all alike, and
    their order rotates every round so no variant always runs after the same one (the allocator and cache state
    a step leaves behind shifts the next step's time by a few percent)."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    times = {k: [] for k in regs}
    items = list(regs.items())
    for i in range(steps + 3):
        j = i % len(items)
        for kind, reg in items[j:] + items[:j]:
            t = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            if reg is not None:
                loss = loss + reg.loss(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 3:  # warm-up steps excluded
                times[kind].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="auto", choices=dkm.regularizers.BACKENDS)
    ap.add_argument("--models", default="lenet5,lenet5-conv,wrn16_4",
                    help="lenet5 = all 4 layers regularized; lenet5-conv = its 2 conv layers only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for label in a.models.split(","):
        name = label.split("-")[0]
        torch.manual_seed(0)
        model = zoo.build(name)
        x = torch.randn(32, *zoo.input_shape(name))
        y = torch.randint(10, (32,))
        if name == "wrn16_4":
            specs = dkm.resolve_layers(model, clusters=K_CR45)
        elif label == "lenet5-conv":
            specs = dkm.resolve_layers(model, clusters=[8, 64])
        else:
            specs = dkm.resolve_layers(model, clusters=[8, 64, 128, 16], linear_vector_size=4)
        regs, build, refresh = {"none": None}, {}, {}
        for kind in ("spectral", "hard"):
            t = time.perf_counter()
            regs[kind] = dkm.regularizers.make(kind, model, specs, lam=1e-4, backend=a.backend)
            build[kind] = time.perf_counter() - t
            t = time.perf_counter()
            regs[kind].update()
            refresh[kind] = time.perf_counter() - t
        med = step_times(model, x, y, regs, a.steps)
        base = med["none"]
        print(f"{label}: {len(specs)} regularized layers, {sum(s.n * s.s for s in specs)} weights, batch 32, "
              f"threads {a.threads}, backend {a.backend}, median of {a.steps} interleaved steps")
        print(f"  no regularizer   {base * 1e3:9.2f} ms/step")
        for kind in ("spectral", "hard"):
            st = med[kind]
            print(f"  {kind:<16s} {st * 1e3:9.2f} ms/step  overhead {100 * (st / base - 1):+6.1f}%  "
                  f"(ratio {st / base:.3f}; one refresh of F/assignments: {refresh[kind] * 1e3:.1f} ms, "
                  f"every T epochs; first build incl. compiling: {build[kind] * 1e3:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

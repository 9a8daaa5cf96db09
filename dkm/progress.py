"""A tiny progress printer: one line per epoch on stderr (no tqdm)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``Progress().epoch("retrain", 3, 10, loss=0.12)`` prints ``[   4.1s] retrain  3/10  loss=0.1200``."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def log(self, msg: str) -> None:
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)

    def epoch(self, phase: str, epoch: int, total: int, **metrics: float) -> None:
        vals = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        self.log(f"{phase:<9s}{epoch:3d}/{total:<3d} {vals}")


QUIET = Progress(enabled=False)

"""Progress on stderr for both command lines and dkm's training loop: a tqdm bar with rate and ETA on a
terminal, nothing when stderr is not a terminal (a log file, a pipe, a test) or with ``--quiet``.

``Progress(enabled=True)`` forces output where there is no terminal; it is then plain lines (a log file gets no
carriage returns): ``[   4.1s] retrain    3/10  loss=0.1200`` per dkm epoch, ``[  12/21] conv3`` per step.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Bar:
    """One counted task (layers of a network, designs of a sweep): ``step(label)`` after each item."""

    def __init__(self, owner: "Progress", total: int, desc: str, leave: bool):
        self.owner, self.total, self.n = owner, total, 0
        self._tqdm = None
        if owner.active and owner.tty:
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=desc, file=owner.stream, leave=leave, ncols=owner.size()[0], nrows=owner.size()[1],
                              bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}{postfix}")

    def step(self, label: str = "", n: int | None = None, **postfix) -> None:
        """Mark one more item done (or ``n`` done in all); ``label`` and ``postfix`` describe it."""
        self.n = self.n + 1 if n is None else n
        if self._tqdm is not None:
            if label or postfix:
                self._tqdm.set_postfix_str(" ".join([label, *(_fmt(k, v) for k, v in postfix.items())]).strip(),
                                           refresh=False)
            self._tqdm.update(self.n - self._tqdm.n)
        elif self.owner.active:
            vals = "  ".join(_fmt(k, v) for k, v in postfix.items())
            self.owner.line(f"[{self.n:>4}/{self.total}] {label} {vals}".rstrip())

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fmt(k, v) -> str:
    return f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"


class Progress:
    """Where and whether to show progress. ``enabled``: ``None`` = on a terminal only (the default), ``False`` =
    never (``--quiet``), ``True`` = always (plain lines when not on a terminal)."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.active = self.tty if enabled is None else bool(enabled)
        self.t0 = time.perf_counter()
        self._phase: tuple[str, Bar] | None = None

    def size(self) -> tuple[int, int]:
        """The terminal's (columns, lines); one that reports 0 x 0 (a fresh pty) counts as 100 x 24, since tqdm
        draws nothing on a screen without lines."""
        try:
            cols, rows = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            cols, rows = 0, 0
        return (cols if cols > 0 else 100), (rows if rows > 0 else 24)

    def bar(self, total: int, desc: str = "", leave: bool = False) -> Bar:
        """A bar over ``total`` items (use as a context manager, or ``close()`` it)."""
        return Bar(self, total, desc, leave)

    def line(self, msg: str) -> None:
        """A line of text (above a running bar on a terminal)."""
        if not self.active:
            return
        if self.tty:
            from tqdm import tqdm

            tqdm.write(msg, file=self.stream)
        else:
            print(msg, file=self.stream, flush=True)

    def log(self, msg: str) -> None:
        """A timestamped line: ``[   4.1s] msg``."""
        self.line(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}")

    def epoch(self, phase: str, epoch: int, total: int, **metrics) -> None:
        """Epoch ``epoch`` of ``total`` of a training ``phase`` is done (dkm's pre-train, re-train, fine-tune)."""
        if not self.active:
            return
        if not self.tty:
            vals = "  ".join(_fmt(k, v) for k, v in metrics.items())
            self.log(f"{phase:<9s}{epoch:3d}/{total:<3d} {vals}")
            return
        if self._phase is None or self._phase[0] != phase or self._phase[1].total != total:
            self.close()
            self._phase = (phase, self.bar(total, f"{phase:<9s}", leave=True))
        self._phase[1].step(n=epoch, **metrics)
        if epoch >= total:
            self.close()

    def close(self) -> None:
        """End a running epoch bar."""
        if self._phase is not None:
            self._phase[1].close()
            self._phase = None


QUIET = Progress(enabled=False)

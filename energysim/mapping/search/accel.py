"""Whether the mapping search runs its compiled kernels (``kernels``, numba) or the numpy reference code.

Both give the same results (the same values bit for bit, so the same decisions). numba is optional (the
``fast`` extra, in ``dev``). Importing numba and loading the kernels from its on-disk cache costs a few tenths of a
second of CPU, more than a small search takes in numpy, so by default (``ENERGYSIM_NUMBA`` unset or ``auto``) a
process searches in numpy until it has spent ``AUTO_AFTER_S`` seconds of CPU in searches, then switches to the
kernels if the searches a caller says are left (``plan``) would save more than the load (the kernels take about
``KERNEL_SHARE`` of numpy's time), or when it does not know (at once when a caller announces many searches,
``expect``); ``ENERGYSIM_NUMBA=1`` uses them from the first search, ``0`` never. A search decides once, when it
starts (``begin``).
"""

from __future__ import annotations

import os
import time

#: CPU seconds of searching after which an ``auto`` process loads the kernels
AUTO_AFTER_S = 0.4
#: distinct searches from which a caller that knows its count up front (``expect``) loads the kernels at once
#: (measured: 4 shapes, LeNet-5, are 0.4 CPU s faster in numpy; 8, AlexNet, 0.25 s faster compiled)
EXPECT_AT = 6
#: CPU seconds a process pays to start using the kernels (numba's import and loading them from its cache)
LOAD_S = 0.5
#: the kernels' CPU time as a share of the numpy search's (measured per network and dataflow on eyeriss-65nm,
#: searches after the first: 0.44 to 0.92, median 0.59)
KERNEL_SHARE = 0.6

_state: dict = {"spent": 0.0, "searches": 0, "left": None, "used": False, "active": None, "forced": None}


def _load():
    if "module" not in _state:
        try:
            from energysim.mapping.search import kernels as mod
        except ImportError:  # numba is not installed
            mod = None
        _state["module"] = mod
    return _state["module"]


def _mode() -> str:
    if _state["forced"] is not None:
        return "1" if _state["forced"] else "0"
    v = os.environ.get("ENERGYSIM_NUMBA", "auto").strip().lower()
    return "0" if v in ("0", "false", "no", "off") else "1" if v in ("1", "true", "yes", "on") else "auto"


def begin() -> float:
    """Decide for the search that starts now; returns its start (CPU seconds) for ``end``."""
    mode = _mode()
    use = mode == "1" or (mode == "auto" and _state["spent"] >= AUTO_AFTER_S and _worth_loading())
    _state["active"] = _load() if use else None
    _state["used"] = _state["used"] or _state["active"] is not None
    return time.process_time()


def _worth_loading() -> bool:
    """Whether the searches a caller said are left (``plan``) would take longer in numpy, at this process's average
    so far, than with the kernels and their load (always when unknown, or once they are in use)."""
    left, n = _state["left"], _state["searches"]
    if left is None or _state["used"] or not n:
        return True
    return _state["spent"] / n * left * (1 - KERNEL_SHARE) > LOAD_S


def end(started: float) -> None:
    _state["spent"] += time.process_time() - started
    _state["searches"] += 1


def plan(left: int | None) -> None:
    """A caller running a known number of searches says, before each, how many are left (this one included;
    None when done): near the end of a small batch, ``auto`` keeps searching in numpy rather than pay the load."""
    _state["left"] = left


def prefer() -> None:
    """A caller about to run many searches (a sweep) loads the kernels now, unless ``ENERGYSIM_NUMBA=0``: every
    later search uses them, and processes forked afterwards (a sweep's workers) inherit them loaded."""
    if _mode() != "0" and _load() is not None:
        _state["spent"] = max(_state["spent"], AUTO_AFTER_S)
        _state["used"] = True


def expect(searches: int) -> None:
    """A caller about to run ``searches`` distinct searches (a network's layer shapes): from ``EXPECT_AT`` on, the
    kernels' load costs less than the numpy searching ``auto`` would do before it, so they are loaded now
    (``prefer``)."""
    if searches >= EXPECT_AT:
        prefer()


def kernels():
    """The ``kernels`` module for the running search, or None (numpy)."""
    return _state["active"]


def set_enabled(enabled: bool | None) -> None:
    """Force the kernels on (True; as far as numba is importable) or off (False) for every later search, or
    back to ``ENERGYSIM_NUMBA`` (None): for tests and benchmarks that compare both paths in one process."""
    _state["forced"] = enabled
    _state["active"] = _load() if enabled else None


def forced() -> bool | None:
    """What ``set_enabled`` last set (None: ``ENERGYSIM_NUMBA`` decides)."""
    return _state["forced"]


def wanted() -> bool:
    """Whether later searches may use the kernels: numba is there and neither ``set_enabled(False)`` nor
    ``ENERGYSIM_NUMBA=0`` says no."""
    return _mode() != "0" and available()


def available() -> bool:
    """Whether numba and the kernels can be loaded."""
    return _load() is not None

"""Byte-compile a checkout's packages before timing it, so that every side of a comparison runs from compiled
bytecode.

A package installed by pip (ZigZag, torch, pandas) is byte-compiled at install time; this checkout is installed
editable, and where the environment writes no bytecode (``PYTHONDONTWRITEBYTECODE``, set on the development
machines) each fresh process compiled every energysim module from source again: about 0.08 s CPU of a 1 s
``vs_zigzag`` process. ``make`` set-up does the same (``python -m dkm.warm``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def compile_tree(tree: Path) -> None:
    """``python -m compileall`` over the tree's ``energysim`` and ``dkm`` (up-to-date files are skipped)."""
    pkgs = [p for p in ("energysim", "dkm") if (Path(tree) / p).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *pkgs], cwd=str(tree), check=True,
                   capture_output=True)

"""The numba-compiled parts of dkm (optional: ``pip install deep-kmeans-energy[fast]``), imported on first use."""

from __future__ import annotations

import importlib

#: How an error message tells the user to get numba.
INSTALL_HINT = "pip install deep-kmeans-energy[fast]"
_modules: dict[str, object] = {}


def load(name: str):
    """dkm's submodule ``name`` (``"_kmeans_tree"``, ``"_reg_kernels"``), imported on first use (importing numba
    takes about 0.4 s); None when numba is missing."""
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(f"dkm.{name}")
        except ImportError:
            _modules[name] = None
    return _modules[name]

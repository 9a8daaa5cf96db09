"""Fused per-layer kernels of the k-means regularizers, compiled with numba (optional).

:mod:`dkm.regularizers` owns the contract and uses these when numba is installed (``pip install
deep-kmeans-energy[fast]``); without it the same terms run as torch products. For one layer, with ``x`` the
weight's memory read as ``N`` rows of ``s`` float32 values (the samples), a kernel writes
``out = a * (x - proj(x))`` and returns ``sum(out**2)`` as a float64, in two passes over the rows:

* :func:`spectral` (``F``: ``(N, r)`` float32, orthonormal columns, zero rows for zero samples): first
  ``P = F'x`` (``(r, s)``; float32 partial sums over blocks of 1024 rows, added up in float64), then
  ``out_i = a (x_i - P' f_i)``.
* :func:`hard` (labels ``l_i`` in ``0..k``, ``inv[c] = 1 / n_c``): first the cluster sums
  ``C_c = sum_{l_i = c} x_i`` (float64), then ``out_i = a (x_i - inv[l_i] C_{l_i})``. The last slot ``k`` has
  ``inv = 0``: samples there (sparsity's zero columns) keep ``out_i = a x_i``.

Why generated code: MKL runs these skinny products (``(r, N) @ (N, s)`` and back, r <= s <= 8) far below memory
speed: on LeNet-5's FC1 (N = 100,000 rows of 4) they took about 400 us per step, while reading the two
1.6 MB operands once takes 35-75 us on the development machine (cache-warm or not); the kernels take about 110 us.
The kernels are written out per shape with every accumulator a scalar and ``U`` rows per loop iteration, and
compiled with LLVM's SLP vectorizer on and its loop vectorizer off: a row's ``s`` values then become one vector
operation, while the loop vectorizer would gather across rows. numba leaves SLP off by default, so the two flags
are switched for these compiles only.

A shape compiles in 0.3-3 s. So that this happens once per machine rather than once per process, the generated
source is written to a file named by its hash under ``$XDG_CACHE_HOME/dkm/reg_kernels`` (default
``~/.cache``; ``DKM_KERNEL_CACHE`` overrides the folder) and compiled from there with numba's on-disk cache. If the
folder cannot be written, the source is compiled in memory instead, once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from pathlib import Path

import numba as nb
import numpy as np
from numba.core import config

#: Largest sample dimension s with a generated kernel (the accumulators are r*s scalars, r <= s).
MAX_S = 8
BLOCK = 1024  # rows summed in float32 before the float64 total
# reassociation lets LLVM pack the per-row sums into vectors; no nnan/ninf: NaN and inf still propagate
_FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

#: numba signatures: kernel(x, f, a, out) and kernel(x, lab, inv, a, out), each returning sum(out**2)
SPECTRAL_SIGNATURE = "float64(float32[::1], float32[::1], float32, float32[::1])"
HARD_SIGNATURE = "float64(float32[::1], int32[::1], float64[::1], float32, float32[::1])"

_lock = threading.Lock()
_kernels: dict[str, object] = {}  # compiled kernels by name


def _unroll(r: int, s: int) -> tuple[int, int]:
    """Rows per iteration in pass 1 and pass 2 (measured on the development machine's AVX-512 core: s = 4
    packs 4 rows into one 16-lane vector; odd s or many accumulators do best one or two rows at a time)."""
    u1 = 4 if s == 4 or r * s <= 6 else 2 if r * s <= 12 else 1
    u2 = 4 if s in (1, 2, 4, 8) else 1
    return u1, u2


def _spectral_source(r: int, s: int) -> str:
    u1, u2 = _unroll(r, s)
    L = ["def kernel(x, f, a, out):",
         f"  n = x.shape[0] // {s}",
         f"  P = np.zeros({r * s})",
         f"  for b0 in range(0, n, {BLOCK}):",
         f"    b1 = min(b0 + {BLOCK}, n)"]
    L += [f"    a{u}_{k}_{j} = np.float32(0.0)" for u in range(u1) for k in range(r) for j in range(s)]

    def p1_rows(us, ind):
        out = []
        for u in us:
            out += [f"{ind}f{u}_{k} = f[(i + {u}) * {r} + {k}]" for k in range(r)]
            out += [f"{ind}x{u}_{j} = x[(i + {u}) * {s} + {j}]" for j in range(s)]
        out += [f"{ind}a{u}_{k}_{j} += f{u}_{k} * x{u}_{j}" for u in us for k in range(r) for j in range(s)]
        return out

    L += ["    i = b0", f"    while i + {u1} <= b1:"] + p1_rows(range(u1), "      ") + [f"      i += {u1}"]
    L += ["    while i < b1:"] + p1_rows([0], "      ") + ["      i += 1"]
    L += [f"    P[{k * s + j}] += " + " + ".join(f"a{u}_{k}_{j}" for u in range(u1))
          for k in range(r) for j in range(s)]
    L += [f"  q{k}_{j} = np.float32(P[{k * s + j}])" for k in range(r) for j in range(s)]
    L += ["  ss = 0.0", f"  for b0 in range(0, n, {BLOCK}):", f"    b1 = min(b0 + {BLOCK}, n)"]
    L += [f"    s{u}_{j} = np.float32(0.0)" for u in range(u2) for j in range(s)]

    def p2_rows(us, ind):
        # all loads, then all arithmetic, then all stores: out may alias x as far as LLVM knows, so a store
        # between two loads would keep them from being packed into one vector load
        out = []
        for u in us:
            out += [f"{ind}f{u}_{k} = f[(i + {u}) * {r} + {k}]" for k in range(r)]
            out += [f"{ind}x{u}_{j} = x[(i + {u}) * {s} + {j}]" for j in range(s)]
        for u in us:
            for j in range(s):
                terms = " - ".join([f"x{u}_{j}"] + [f"f{u}_{k} * q{k}_{j}" for k in range(r)])
                out.append(f"{ind}v{u}_{j} = a * ({terms})")
        out += [f"{ind}out[(i + {u}) * {s} + {j}] = v{u}_{j}" for u in us for j in range(s)]
        out += [f"{ind}s{u}_{j} += v{u}_{j} * v{u}_{j}" for u in us for j in range(s)]
        return out

    L += ["    i = b0", f"    while i + {u2} <= b1:"] + p2_rows(range(u2), "      ") + [f"      i += {u2}"]
    L += ["    while i < b1:"] + p2_rows([0], "      ") + ["      i += 1"]
    L += ["    ss += " + " + ".join(f"s{u}_{j}" for u in range(u2) for j in range(s)), "  return ss"]
    return "\n".join(L)


def _hard_source(s: int) -> str:
    u1 = 4  # separate sums per row slot: runs of equal labels would otherwise chain every add on the last one
    L = ["def kernel(x, lab, inv, a, out):",
         f"  n = x.shape[0] // {s}",
         "  kk = inv.shape[0]",
         f"  C = np.zeros({u1} * kk * {s})",
         "  i = 0",
         f"  while i + {u1} <= n:"]
    for u in range(u1):
        L.append(f"    l{u} = ({u} * kk + lab[i + {u}]) * {s}")
        L += [f"    x{u}_{j} = x[(i + {u}) * {s} + {j}]" for j in range(s)]
    L += [f"    C[l{u} + {j}] += x{u}_{j}" for u in range(u1) for j in range(s)]
    L += [f"    i += {u1}", "  while i < n:", f"    l0 = lab[i] * {s}"]
    L += [f"    C[l0 + {j}] += x[i * {s} + {j}]" for j in range(s)]
    L += ["    i += 1",
         f"  M = np.empty(kk * {s}, np.float32)",
         "  for c in range(kk):",
         f"    for j in range({s}):",
         f"      M[c * {s} + j] = (" + " + ".join(f"C[({u} * kk + c) * {s} + j]" for u in range(u1))
         + ") * inv[c]",
         "  ss = 0.0",
         f"  for b0 in range(0, n, {BLOCK}):",
         f"    b1 = min(b0 + {BLOCK}, n)"]
    L += [f"    s{j} = np.float32(0.0)" for j in range(s)]
    L += ["    for i in range(b0, b1):", f"      l = lab[i] * {s}"]
    L += [f"      x{j} = x[i * {s} + {j}]" for j in range(s)]
    L += [f"      v{j} = a * (x{j} - M[l + {j}])" for j in range(s)]
    L += [f"      out[i * {s} + {j}] = v{j}" for j in range(s)]
    L += [f"      s{j} += v{j} * v{j}" for j in range(s)]
    L += ["    ss += " + " + ".join(f"s{j}" for j in range(s)), "  return ss"]
    return "\n".join(L)


def cache_dir() -> Path:
    """Folder of the generated kernel sources (and, in its ``__pycache__``, numba's compiled code)."""
    if os.environ.get("DKM_KERNEL_CACHE"):
        return Path(os.environ["DKM_KERNEL_CACHE"])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dkm" / "reg_kernels"


def _python_function(name: str, source: str):
    """The generated function, from a file in :func:`cache_dir` (so that numba can cache it) or, when that
    fails, from memory; returns ``(function, cacheable)``."""
    source = "import numpy as np\n\n\n" + source + "\n"
    try:  # RuntimeError: no home folder
        path = cache_dir() / f"{name}_{hashlib.sha256(source.encode()).hexdigest()[:16]}.py"
        if not path.is_file() or path.read_text() != source:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)  # atomic: a process running beside this one sees the old file or the whole new one
        modname = f"dkm_reg_kernel_{path.stem}"
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[modname] = module  # numba's cached code looks its globals' module up by name
        return module.kernel, True
    except (OSError, RuntimeError):
        ns = {"np": np}
        exec(compile(source, f"<dkm._reg_kernels {name}>", "exec"), ns)  # noqa: S102 - our own generated source
        return ns["kernel"], False


def _compile(name: str, source: str, signature: str):
    fn, cacheable = _python_function(name, source)
    with _lock:
        old = config.LOOP_VECTORIZE, config.SLP_VECTORIZE
        config.LOOP_VECTORIZE, config.SLP_VECTORIZE = 0, 1
        try:  # an explicit signature compiles (or loads from the cache) now, while the flags are set
            options = dict(nogil=True, fastmath=_FASTMATH, boundscheck=False)
            try:
                return nb.njit(signature, cache=cacheable, **options)(fn)
            except RuntimeError:  # numba found no folder to cache in
                if not cacheable:
                    raise
                return nb.njit(signature, **options)(fn)
        finally:
            config.LOOP_VECTORIZE, config.SLP_VECTORIZE = old


def _kernel(name: str, source, signature: str):
    """The compiled kernel ``name``, compiled from ``source()`` on first use in this process."""
    if name not in _kernels:
        _kernels[name] = _compile(name, source(), signature)
    return _kernels[name]


def spectral(r: int, s: int):
    """The compiled ``kernel(x, f, a, out) -> sum(out**2)`` for ``F`` with ``r`` columns and samples of ``s``
    (``1 <= r <= s <= MAX_S``): ``x``, ``out`` flat float32 ``(N s,)``, ``f`` flat float32 ``(N r,)``,
    ``a`` float32."""
    if not 1 <= r <= s <= MAX_S:
        raise ValueError(f"spectral kernel needs 1 <= r <= s <= {MAX_S}, got r={r}, s={s}")
    return _kernel(f"spectral_r{r}_s{s}", lambda: _spectral_source(r, s), SPECTRAL_SIGNATURE)


def hard(s: int):
    """The compiled ``kernel(x, lab, inv, a, out) -> sum(out**2)`` for samples of ``s`` (``1 <= s <= MAX_S``):
    ``x``, ``out`` flat float32 ``(N s,)``, ``lab`` int32 ``(N,)`` in ``0..len(inv)-1``, ``inv`` float64
    (``1 / cluster size``; 0 for the zero slot), ``a`` float32."""
    if not 1 <= s <= MAX_S:
        raise ValueError(f"hard kernel needs 1 <= s <= {MAX_S}, got s={s}")
    return _kernel(f"hard_s{s}", lambda: _hard_source(s), HARD_SIGNATURE)

"""The compiled regularizer kernels (dkm._reg_kernels) against float64 references, on every row-count tail
(rows per iteration, the float32 block) and with the zero rows / zero slot that sparsity uses."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

rk = pytest.importorskip("dkm._reg_kernels")  # needs numba (the "fast" extra)

SPECTRAL_SHAPES = [(1, 1), (2, 3), (3, 3), (4, 4), (5, 5), (3, 8)]
HARD_S = [1, 3, 4, 5, 8]


def _spectral_ref(X, F, a):
    X, F = X.astype(np.float64), F.astype(np.float64)
    out = a * (X - F @ (F.T @ X))
    return out, float((out ** 2).sum())


def _hard_ref(X, lab, inv, a):
    X = X.astype(np.float64)
    sums = np.zeros((len(inv), X.shape[1]))
    np.add.at(sums, lab, X)
    out = a * (X - sums[lab] * inv[lab, None])
    return out, float((out ** 2).sum())


def _close(got, ref, ss, ss_ref, inputs=0.0):
    # float32 rounding is relative to the inputs (a * |x|), not to the residual, which cancels to ~0 when F spans
    # every row (e.g. n = r: F F' = I)
    scale = max(float(np.abs(ref).max()), inputs, 1e-30)
    assert np.allclose(got, ref, rtol=1e-4, atol=2e-6 * scale)
    assert ss == pytest.approx(ss_ref, rel=2e-5, abs=(2e-6 * scale) ** 2 * got.size)


@pytest.mark.parametrize("r,s", SPECTRAL_SHAPES)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 2600), seed=st.integers(0, 2**32 - 1), zero_frac=st.sampled_from([0.0, 0.3]),
       a=st.sampled_from([1.0, 1e-4, 0.3]))
def test_spectral_kernel_matches_float64(r, s, n, seed, zero_frac, a):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, s)).astype(np.float32)
    F = np.linalg.qr(rng.standard_normal((n, r)))[0] if n >= r else rng.standard_normal((n, r)) / np.sqrt(n)
    F[rng.random(n) < zero_frac] = 0.0  # zero columns of W: rows of zeros in F
    F = np.ascontiguousarray(F, dtype=np.float32)
    out = np.full(n * s, np.nan, np.float32)
    ss = rk.spectral(r, s)(X.ravel(), F.ravel(), np.float32(a), out)
    ref, ss_ref = _spectral_ref(X, F, a)
    _close(out.reshape(n, s), ref, ss, ss_ref, a * float(np.abs(X).max()))


@pytest.mark.parametrize("s", HARD_S)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 2600), k=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       runs=st.booleans(), zero_frac=st.sampled_from([0.0, 0.25]))
def test_hard_kernel_matches_float64(s, n, k, seed, runs, zero_frac):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, s)).astype(np.float32)
    lab = np.sort(rng.integers(0, k, n)) if runs else rng.integers(0, k, n)  # runs of equal labels, or mixed
    lab[rng.random(n) < zero_frac] = k  # the zero slot
    lab = lab.astype(np.int32)
    inv = np.zeros(k + 1)
    inv[:k] = 1.0 / np.maximum(np.bincount(lab, minlength=k + 1)[:k], 1)
    out = np.full(n * s, np.nan, np.float32)
    ss = rk.hard(s)(X.ravel(), lab, inv, np.float32(0.3), out)
    ref, ss_ref = _hard_ref(X, lab, inv, 0.3)
    _close(out.reshape(n, s), ref, ss, ss_ref)
    assert np.array_equal(out.reshape(n, s)[lab == k], (np.float32(0.3) * X[lab == k]))  # zero slot: a x_i


def test_nan_and_inf_propagate():
    """fastmath without nnan/ninf: a NaN weight shows up in the loss instead of being optimized away."""
    n, s = 64, 4
    X = np.ones((n, s), np.float32)
    X[5, 2] = np.nan
    F = np.ascontiguousarray(np.linalg.qr(np.random.default_rng(0).standard_normal((n, 4)))[0], np.float32)
    out = np.empty(n * s, np.float32)
    assert np.isnan(rk.spectral(4, s)(X.ravel(), F.ravel(), np.float32(1.0), out))
    X[5, 2] = np.inf
    lab = np.zeros(n, np.int32)
    assert not np.isfinite(rk.hard(s)(X.ravel(), lab, np.array([1.0 / n, 0.0]), np.float32(1.0), out))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="r=5, s=4"):
        rk.spectral(5, 4)
    with pytest.raises(ValueError, match="s=9"):
        rk.hard(rk.MAX_S + 1)


def _run(code: str, cache) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DKM_KERNEL_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_generated_kernels_are_cached_on_disk_and_work_without_a_cache(tmp_path):
    code = ("import numpy as np; from dkm import _reg_kernels as rk; k = rk.hard(2); "
            "out = np.empty(4, np.float32); "
            "ss = k(np.arange(4, dtype=np.float32), np.array([0, 1], np.int32), np.array([1.0, 1.0, 0.0]), "
            "np.float32(1), out); print(sum(k.stats.cache_hits.values()), ss)")
    assert _run(code, tmp_path / "c") == "0 0.0"  # compiled and stored (each cluster holds one row: R = 0)
    assert len(list((tmp_path / "c").glob("hard_s2_*.py"))) == 1
    assert _run(code, tmp_path / "c") == "1 0.0"  # loaded from numba's cache
    (tmp_path / "file").write_text("not a folder")
    assert _run(code, tmp_path / "file") == "0 0.0"  # folder cannot be made: compiled in memory


def test_compile_without_numba_cache(monkeypatch, tmp_path):
    """When numba finds no folder to cache in (it raises at decoration), the kernel is compiled uncached."""
    monkeypatch.setenv("DKM_KERNEL_CACHE", str(tmp_path))
    real = rk.nb.njit

    def njit(*args, cache=False, **kw):
        if cache:
            raise RuntimeError("cannot cache function 'kernel': no locator available")
        return real(*args, **kw)

    monkeypatch.setattr(rk.nb, "njit", njit)
    k = rk._compile("hard_s1", rk._hard_source(1), rk.HARD_SIGNATURE)
    out = np.empty(3, np.float32)
    assert k(np.array([1, 2, 6], np.float32), np.zeros(3, np.int32), np.array([1 / 3, 0.0]), np.float32(1), out) == 14.0
    assert np.array_equal(out, [-2, -1, 3])

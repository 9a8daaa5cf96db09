"""Datasets by spec string, as float tensors ready for training (no downloads).

* ``digits``: scikit-learn's bundled 8x8 digits (1797 images), fixed seeded 80/20 split (1437 / 360).
* ``mnist:DIR``: the standard idx files (``train-images-idx3-ubyte`` ... , gzipped or not).
* ``mnist10k:DIR``: only the 10k test files: the first 8000 train, the last 2000 test.
* ``cifar10:DIR``: the python-batch pickles ``data_batch_1..5`` and ``test_batch``.

Images are scaled to [0, 1] and normalised per channel with the training split's mean and std.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DKMError

SPLIT_SEED = 0  # the digits split is part of the spec: changing it changes reported numbers


@dataclass
class Dataset:
    """Train/test tensors: images ``(n, C, H, W)`` float32, labels ``(n,)`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    note: str = ""


def _finish(name, xtr, ytr, xte, yte, note=""):
    xtr = torch.as_tensor(xtr, dtype=torch.float32)
    xte = torch.as_tensor(xte, dtype=torch.float32)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return Dataset(name, (xtr - mean) / std, torch.as_tensor(ytr, dtype=torch.long),
                   (xte - mean) / std, torch.as_tensor(yte, dtype=torch.long), note)


def _find(directory: Path, stem: str) -> Path:
    for p in (directory / stem, directory / (stem + ".gz")):
        if p.is_file():
            return p
    raise DKMError(f"missing data file {str(directory / stem)!r} (or .gz)")


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gz or not) as a uint8 array; the header gives the shape."""
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DKMError(f"{str(path)!r} is not a uint8 idx file")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DKMError(f"{str(path)!r}: truncated idx file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0)[:, None].astype(np.float32)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = perm[:cut], perm[cut:]
    return _finish("digits", x[tr], d.target[tr], x[te], d.target[te], "scikit-learn digits, seeded 80/20 split")


def _mnist(directory: Path, only_test: bool):
    def pair(prefix):
        x = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        return x[:, None].astype(np.float32) / 255.0, y.astype(np.int64)

    if only_test:
        x, y = pair("t10k")
        return _finish("mnist10k", x[:8000], y[:8000], x[8000:], y[8000:],
                       "MNIST 10k test set only: first 8000 train / last 2000 test")
    xtr, ytr = pair("train")
    xte, yte = pair("t10k")
    return _finish("mnist", xtr, ytr, xte, yte, "MNIST 60k/10k")


def _cifar10(directory: Path):
    def batch(name):
        path = directory / name
        if not path.is_file():
            raise DKMError(f"missing data file {str(path)!r}")
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        return x, np.asarray(d[b"labels"], dtype=np.int64)

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    xte, yte = batch("test_batch")
    return _finish("cifar10", np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                   xte, yte, "CIFAR-10 50k/10k")


def load(spec: str) -> Dataset:
    """Load a dataset by spec string (see module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "digits":
        return _digits()
    if kind in ("mnist", "mnist10k", "cifar10"):
        if not arg:
            raise DKMError(f"data spec {spec!r} needs a directory: {kind}:DIR")
        directory = Path(arg)
        if not directory.is_dir():
            raise DKMError(f"data directory {arg!r} does not exist")
        return _cifar10(directory) if kind == "cifar10" else _mnist(directory, kind == "mnist10k")
    raise DKMError(f"unknown data spec {spec!r}; use digits, mnist:DIR, mnist10k:DIR or cifar10:DIR")

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
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DKMError

SPLIT_SEED = 0  # the digits split is part of the spec: changing it changes reported numbers
NUM_CLASSES = 10  # every data set here (digits, MNIST, CIFAR-10) has ten classes


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
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DKMError(f"{str(path)!r} cannot be read: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DKMError(f"{str(path)!r} is not a uint8 idx file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DKMError(f"{str(path)!r}: truncated idx header ({ndim} dimensions)")
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DKMError(f"{str(path)!r}: truncated idx file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def _check_labels(y: np.ndarray, path) -> None:
    if y.size and (int(y.min()) < 0 or int(y.max()) >= NUM_CLASSES):
        raise DKMError(f"{str(path)!r}: label {int(y.max()) if y.max() >= NUM_CLASSES else int(y.min())} is "
                       f"outside 0..{NUM_CLASSES - 1}")


def _digits():
    try:
        from sklearn.datasets import load_digits  # a dependency; its bundled copy of the UCI digits is the data
    except ImportError:
        raise DKMError("data spec 'digits' is read with scikit-learn, which is not installed here: "
                       "pip install scikit-learn") from None

    d = load_digits()
    x = (d.images / 16.0)[:, None].astype(np.float32)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = perm[:cut], perm[cut:]
    return _finish("digits", x[tr], d.target[tr], x[te], d.target[te], "scikit-learn digits, seeded 80/20 split")


def _mnist(directory: Path, only_test: bool):
    def pair(prefix):
        xp, yp = _find(directory, f"{prefix}-images-idx3-ubyte"), _find(directory, f"{prefix}-labels-idx1-ubyte")
        x, y = read_idx(xp), read_idx(yp)
        if x.ndim != 3 or y.ndim != 1:
            raise DKMError(f"{str(xp)!r} / {str(yp)!r}: expected images (n, H, W) and labels (n,), got shapes "
                           f"{x.shape} and {y.shape}")
        if len(x) != len(y):
            raise DKMError(f"{str(xp)!r} has {len(x)} images but {str(yp)!r} has {len(y)} labels")
        _check_labels(y, yp)
        return x[:, None].astype(np.float32) / 255.0, y.astype(np.int64)

    if only_test:
        x, y = pair("t10k")
        if len(x) <= 8000:
            raise DKMError(f"mnist10k:{directory}: the t10k files hold {len(x)} images; the 8000/2000 split "
                           "needs the 10k test set")
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
        try:
            with open(path, "rb") as f:
                d = pickle.load(f, encoding="bytes")
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except Exception as exc:  # noqa: BLE001 -- pickle raises anything for a file that is not its own
            raise DKMError(f"{str(path)!r} is not a CIFAR-10 python batch ({type(exc).__name__}: "
                           f"{str(exc)[:120]})") from None
        if y.ndim != 1 or len(x) != len(y):
            raise DKMError(f"{str(path)!r}: {len(x)} images but {y.size} labels")
        _check_labels(y, path)
        return x, y

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    xte, yte = batch("test_batch")
    return _finish("cifar10", np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                   xte, yte, "CIFAR-10 50k/10k")


def load(spec: str) -> Dataset:
    """Load a dataset by spec string (see module docstring)."""
    kind, sep, arg = spec.partition(":")
    if kind == "digits":
        if sep:  # the bundled set takes no directory: an argument would be ignored without a word
            raise DKMError(f"data spec {spec!r}: digits takes no argument (it is bundled with scikit-learn); "
                           "use --data digits")
        return _digits()
    if kind in ("mnist", "mnist10k", "cifar10"):
        if not arg:
            raise DKMError(f"data spec {spec!r} needs a directory: {kind}:DIR")
        directory = Path(arg)
        if not directory.is_dir():
            raise DKMError(f"data directory {arg!r} does not exist")
        return _cifar10(directory) if kind == "cifar10" else _mnist(directory, kind == "mnist10k")
    raise DKMError(f"unknown data spec {spec!r}; use digits, mnist:DIR, mnist10k:DIR or cifar10:DIR")

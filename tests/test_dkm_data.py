import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dkm import data
from dkm.errors import DKMError
from shared_paths import MNIST_DIR  # noqa: E402


MNIST = MNIST_DIR


@pytest.mark.skipif(not MNIST.is_dir(), reason="shared MNIST files not present")
def test_mnist10k_split():
    d = data.load(f"mnist10k:{MNIST}")
    assert d.x_train.shape == (8000, 1, 28, 28) and d.x_test.shape == (2000, 1, 28, 28)
    counts = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # README
    assert abs(float(d.x_train.mean())) < 1e-4 and "8000" in d.note


@pytest.mark.skipif(not MNIST.is_dir(), reason="shared MNIST files not present")
def test_full_mnist_names_missing_file():
    with pytest.raises(DKMError, match="train-images-idx3-ubyte"):
        data.load(f"mnist:{MNIST}")


def _idx(path: Path, arr: np.ndarray, gz: bool):
    raw = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    (gzip.open(str(path) + ".gz", "wb") if gz else open(path, "wb")).write(raw)


def test_mnist_idx_plain_and_gz(tmp_path):
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 255, (30, 28, 28)), gz=False)
    _idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 10, 30), gz=True)
    _idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 255, (7, 28, 28)), gz=True)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 7), gz=False)
    d = data.load(f"mnist:{tmp_path}")
    assert d.x_train.shape == (30, 1, 28, 28) and d.y_test.shape == (7,)


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(1)
    raw = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        y = list(rng.integers(0, 10, 4))
        raw[name] = (x, y)
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": x, b"labels": y, b"batch_label": name.encode()}, f)
    d = data.load(f"cifar10:{tmp_path}")
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (4, 3, 32, 32)
    assert d.y_train.tolist() == sum((raw[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    # channel-major layout: the first 1024 bytes are the red plane
    x0 = raw["data_batch_1"][0][0].reshape(3, 32, 32).astype(np.float32) / 255
    mean = np.stack([raw[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 1024).astype(np.float32) / 255
    red = (x0[0] - mean[:, 0].mean()) / mean[:, 0].std(ddof=1)
    assert np.allclose(d.x_train[0, 0].numpy(), red, atol=1e-4)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DKMError, match="data_batch_3"):
        data.load(f"cifar10:{tmp_path}")


def test_digits_fixed_split():
    a, b = data.load("digits"), data.load("digits")
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert torch.equal(a.y_test, b.y_test)


@pytest.mark.parametrize("spec,match", [("imagenet", "unknown data spec"), ("mnist10k", "needs a directory"),
                                        ("mnist10k:/nonexistent/dir", "does not exist")])
def test_bad_specs(spec, match):
    with pytest.raises(DKMError, match=match):
        data.load(spec)

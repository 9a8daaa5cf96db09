import math

import numpy as np
import pytest
import torch

import dkm
from dkm import bitcodes
from dkm.artifact import to_bytes
from dkm.errors import ArtifactError
from dkm.layers import resolve_layers
from dkm.ratio import han_ratio, ratios
from dkm.share import SharedLayer, share_weights
from energysim import zoo
from energysim.costs.codebook import CodebookRecord



@pytest.fixture(scope="module")
def shared_lenet():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = zoo.build("lenet5")
    specs = resolve_layers(m, clusters=[8, 60, 40, 16], sparsity=[0, 0.3, 0.5, 0], linear_vector_size=4)
    shared = share_weights(m, specs)
    torch.set_num_threads(n)
    return m, shared


@pytest.mark.parametrize("huffman", [True, False])
def test_round_trip_bit_exact(tmp_path, shared_lenet, huffman):
    m, shared = shared_lenet
    path = tmp_path / "m.dkm"
    n = dkm.save(path, m, shared, model_name="lenet5", huffman=huffman)
    assert n == path.stat().st_size
    art = dkm.load(path)
    a, b = m.state_dict(), art.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    for name, sl in shared.items():
        assert np.array_equal(art.layers[name].assignments, sl.assignments)
    encs = {e["indices"]["encoding"] for e in art.manifest["layers"]}
    assert encs == ({"huffman", "packed"} if huffman else {"packed"}) or (huffman and "huffman" in encs)


def test_float16_codebook(tmp_path, shared_lenet):
    m, shared = shared_lenet
    small = dkm.save(tmp_path / "h.dkm", m, shared, model_name="lenet5", float16=True)
    big = dkm.save(tmp_path / "f.dkm", m, shared, model_name="lenet5")
    assert small < big
    art = dkm.load(tmp_path / "h.dkm")
    w = art.model.fc1.weight
    expect = torch.from_numpy(shared["fc1"].codebook.astype(np.float16).astype(np.float32)[shared["fc1"].assignments])
    assert torch.equal(w, expect.reshape(w.shape))


def test_corruption_and_truncation(tmp_path, shared_lenet):
    m, shared = shared_lenet
    data = to_bytes(m, shared, model_name="lenet5")
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01
    (tmp_path / "c.dkm").write_bytes(bytes(bad))
    with pytest.raises(ArtifactError, match="checksum"):
        dkm.load(tmp_path / "c.dkm")
    (tmp_path / "t.dkm").write_bytes(data[:-100])
    with pytest.raises(ArtifactError, match="checksum"):
        dkm.load(tmp_path / "t.dkm")
    (tmp_path / "e.dkm").write_bytes(b"")
    with pytest.raises(ArtifactError):
        dkm.load(tmp_path / "e.dkm")


@pytest.mark.parametrize("k", [1, 2, 3, 17, 256, 1000])
def test_bit_packing_and_huffman(k):
    v = np.minimum(np.random.default_rng(k).geometric(0.2, 5000) - 1, k - 1)
    b = math.ceil(math.log2(k)) if k > 1 else 0
    p = bitcodes.pack(v, b)
    assert len(p) == math.ceil(len(v) * b / 8)
    assert np.array_equal(bitcodes.unpack(p, b, len(v)), v)
    lengths = bitcodes.huffman_lengths(v, k)
    assert np.array_equal(bitcodes.huffman_decode(bitcodes.huffman_encode(v, lengths), lengths, len(v)), v)
    # Kraft equality of a complete prefix code
    used = lengths[lengths > 0]
    assert len(used) == 1 or sum(2.0 ** -used) == pytest.approx(1.0)


def test_han_ratio_hand_computed():
    # n = 1000 weights of 32 bits, k = 16: 32000 / (1000*4 + 16*32) = 32000 / 4512
    assert han_ratio(1000, 16) == pytest.approx(32000 / 4512)
    assert han_ratio(8, 4, b=8) == pytest.approx(64 / (16 + 32))


def test_model_ratios_hand_computed():
    # one shared layer: N=4 rows of s=2, K=2 (indices 0,0,0,1) + an 8-weight unshared bias-like tensor
    sl = SharedLayer("conv", (2, 1, 2, 2), np.zeros((2, 2), np.float32), np.array([0, 0, 0, 1]))
    state = {"conv.weight": torch.zeros(2, 1, 2, 2), "conv.bias": torch.zeros(8),
             "bn.num_batches_tracked": torch.tensor(0)}
    r = ratios(state, {"conv": sl})
    dense = 16 * 32
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert r["han"] == pytest.approx(dense / (8 * 32 + 4 * 1 + 2 * 2 * 32))
    assert r["entropy"] == pytest.approx(dense / (8 * 32 + 4 * h + 2 * 2 * 32))
    assert r["conv_han"] == pytest.approx(8 * 32 / (4 + 128))
    assert sl.index_bits == 1 and sl.entropy_bits == pytest.approx(h)


def test_codebook_records(tmp_path, shared_lenet):
    m, shared = shared_lenet
    path = tmp_path / "r.dkm"
    dkm.save(path, m, shared, model_name="lenet5")
    recs = dkm.codebook_records(path)
    assert [r.layer for r in recs] == ["conv1", "conv2", "fc1", "fc2"]
    r = recs[2]
    assert isinstance(r, CodebookRecord)
    assert (r.k, r.vector_size, r.rows, r.index_bits) == (40, 4, 100000, 6)
    assert r.assignments.dtype.kind == "i" and r.assignments.shape == (100000,)
    assert np.array_equal(r.assignments, shared["fc1"].assignments)
    assert r.entropy_bits <= r.index_bits
    with pytest.raises(Exception):
        r.k = 3  # frozen
    assert dkm.codebook_records(shared)[0] .k == 8

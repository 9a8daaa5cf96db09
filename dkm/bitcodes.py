"""Index coding for artifacts: fixed-width bit packing and canonical Huffman codes (numpy, vectorized)."""

from __future__ import annotations

import heapq

import numpy as np

MAX_HUFFMAN_BITS = 24  # decoding uses a 2^L lookup table; longer codes fall back to fixed-width packing


def index_bits(k: int) -> int:
    """Bits of one fixed-width index into ``k`` codewords: ``ceil(log2 k)``, 0 for ``k = 1``.

    The one definition used by the artifact, the ratios (Han's included) and the records: an index is stored
    in a whole number of bits.
    """
    k = int(k)
    return (k - 1).bit_length() if k > 1 else 0


def pack(values: np.ndarray, bits: int) -> bytes:
    """Pack non-negative ints ``< 2**bits`` at ``bits`` bits each, MSB first."""
    if bits == 0 or len(values) == 0:
        return b""
    v = values.astype(np.uint64)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    return np.packbits(((v[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel()).tobytes()


def unpack(data: bytes, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack` for ``n`` values."""
    if bits == 0:
        return np.zeros(n, dtype=np.int64)
    b = np.unpackbits(np.frombuffer(data, np.uint8), count=n * bits).reshape(n, bits).astype(np.int64)
    return b @ (np.int64(1) << np.arange(bits - 1, -1, -1, dtype=np.int64))


def huffman_lengths(values: np.ndarray, k: int) -> np.ndarray:
    """Huffman code length per symbol ``0..k-1`` (0 for unused symbols; a lone symbol gets 1 bit)."""
    counts = np.bincount(values, minlength=k)
    heap = [(int(c), i, [i]) for i, c in enumerate(counts) if c > 0]
    lengths = np.zeros(k, dtype=np.int64)
    if len(heap) == 1:
        lengths[heap[0][2][0]] = 1
        return lengths
    heapq.heapify(heap)
    tie = k
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def _canonical(lengths: np.ndarray) -> np.ndarray:
    codes = np.zeros(len(lengths), dtype=np.int64)
    code, prev = 0, 0
    for sym in sorted((int(l), i) for i, l in enumerate(lengths) if l > 0):
        code <<= sym[0] - prev
        codes[sym[1]] = code
        code, prev = code + 1, sym[0]
    return codes


def huffman_encode(values: np.ndarray, lengths: np.ndarray) -> bytes:
    codes, lens = _canonical(lengths)[values], lengths[values]
    L = int(lengths.max())
    shifts = np.arange(L - 1, -1, -1)
    bits = (codes[:, None] >> (shifts[None, :] - (L - lens[:, None])).clip(min=0)) & 1
    keep = shifts[None, :] >= (L - lens[:, None])
    return np.packbits(bits[keep].astype(np.uint8)).tobytes()


def huffman_decode(data: bytes, lengths: np.ndarray, n: int) -> np.ndarray:
    """Decode ``n`` symbols with a 2^L table: for every code, all L-bit windows starting with it map to it."""
    L = int(lengths.max())
    codes = _canonical(lengths)
    table_sym = np.zeros(1 << L, dtype=np.int64)
    table_len = np.zeros(1 << L, dtype=np.int64)
    for sym in np.nonzero(lengths)[0]:
        lo = int(codes[sym]) << (L - int(lengths[sym]))
        hi = lo + (1 << (L - int(lengths[sym])))
        table_sym[lo:hi], table_len[lo:hi] = sym, lengths[sym]
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    bits = np.concatenate([bits, np.zeros(L, np.uint8)]).astype(np.int64)
    # L-bit window value at every bit position, built with L shifted adds (vectorized).
    win = np.zeros(len(bits) - L, dtype=np.int64)
    for j in range(L):
        win = (win << 1) | bits[j:j + len(win)]
    ts, tl, w = table_sym.tolist(), table_len.tolist(), win.tolist()
    out = [0] * n
    pos = 0
    for i in range(n):
        x = w[pos]
        out[i] = ts[x]
        pos += tl[x]
    return np.asarray(out, dtype=np.int64)

"""Structural validation of a ``.dkm`` artifact's manifest against its payload (see ``dkm.artifact``).

The checksum only says that the bytes are the ones that were signed; a file re-signed after its manifest was
edited (a wrong ``k``, an offset past the payload, a shape that does not match the rows) passes it. Every
field the loader relies on is checked here, so that such a file is a one-line :class:`ArtifactError` naming the
layer, field and value, in ``dkm inspect`` as in ``load``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ArtifactError

CODEBOOK_DTYPES = ("float32", "float16")
TENSOR_DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
MAX_HUFFMAN_BITS = 24  # as dkm.bitcodes: longer codes are never written
#: The keys ``dkm.artifact.to_bytes`` writes: any other is an edit or another tool's, and would be dropped silently.
KEYS = {
    "manifest": {"format", "version", "model", "num_classes", "layers", "tensors"},
    "layer": {"name", "shape", "k", "s", "n", "luts", "sparse", "codebook", "indices"},
    "codebook": {"dtype", "offset", "nbytes"},
    "indices": {"encoding", "bits", "offset", "nbytes", "lengths"},
    "lengths": {"offset", "nbytes"},
    "tensor": {"key", "dtype", "shape", "offset", "nbytes"},
}


def _fail(where: str, msg: str):
    raise ArtifactError(f"dkm artifact: {where}: {msg}")


def _int(d: dict, key: str, where: str, lo: int = 0, default=None) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(where, f"{key} = {v!r} is not an integer")
    if v < lo:
        _fail(where, f"{key} = {v} must be >= {lo}")
    return v


def _known(d: dict, kind: str, where: str) -> None:
    extra = sorted(set(d) - KEYS[kind])
    if extra:
        _fail(where, f"unknown key {extra[0]!r}; expected only {sorted(KEYS[kind])}")


def _finite(payload, off: int, nb: int, dtype: str, where: str) -> None:
    """Stored floats must be finite: a nan or inf codeword or tensor would only show as nan outputs later."""
    if np.dtype(dtype).kind == "f" and nb:
        values = np.frombuffer(bytes(payload[off:off + nb]), dtype)
        if not np.isfinite(values).all():
            _fail(where, f"holds non-finite values (nan or inf), e.g. {values[~np.isfinite(values)][0]}")


def _region(d, where: str, payload_len: int, regions: list, kind: str) -> tuple[int, int]:
    if not isinstance(d, dict):
        _fail(where, f"expected an object with offset and nbytes, got {type(d).__name__}")
    _known(d, kind, where)
    off, nb = _int(d, "offset", where), _int(d, "nbytes", where)
    if off + nb > payload_len:
        _fail(where, f"bytes {off}..{off + nb} lie past the end of the {payload_len}-byte payload")
    if nb:
        regions.append((off, nb, where))
    return off, nb


def _layer(i: int, e, payload, regions: list) -> str:
    if not isinstance(e, dict):
        _fail(f"layers[{i}]", f"expected an object, got {type(e).__name__}")
    name = e.get("name")
    if not isinstance(name, str) or not name:
        _fail(f"layers[{i}]", f"name = {name!r} is not a layer name")
    w = f"layer {name!r}"
    _known(e, "layer", w)
    shape = e.get("shape")
    if (not isinstance(shape, list) or len(shape) not in (2, 4)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)):
        _fail(w, f"shape = {shape!r} is not a 2-D or 4-D weight shape of positive integers")
    k, s, n = _int(e, "k", w, 1), _int(e, "s", w, 1), _int(e, "n", w, 1)
    luts = _int(e, "luts", w, 1, default=1)
    if n * s != math.prod(shape):
        _fail(w, f"n * s = {n} * {s} = {n * s} rows x row length does not match shape {shape} "
                 f"({math.prod(shape)} weights)")
    if n % luts:
        _fail(w, f"luts = {luts} does not divide the n = {n} rows")
    if not isinstance(e.get("sparse", False), bool):
        _fail(w, f"sparse = {e.get('sparse')!r} is not true/false")
    cb = e.get("codebook")
    _region(cb, f"{w} codebook", len(payload), regions, "codebook")
    if cb.get("dtype") not in CODEBOOK_DTYPES:
        _fail(f"{w} codebook", f"dtype = {cb.get('dtype')!r}; expected one of {list(CODEBOOK_DTYPES)}")
    want = luts * k * s * np.dtype(cb["dtype"]).itemsize
    if cb["nbytes"] != want:
        _fail(f"{w} codebook", f"nbytes = {cb['nbytes']}, but {luts} x {k} codewords of {s} {cb['dtype']} "
                               f"take {want}")
    _finite(payload, cb["offset"], cb["nbytes"], cb["dtype"], f"{w} codebook")
    ix = e.get("indices")
    _region(ix, f"{w} indices", len(payload), regions, "indices")
    bits = _int(ix, "bits", f"{w} indices")
    need = math.ceil(math.log2(k)) if k > 1 else 0
    if bits != need:
        _fail(f"{w} indices", f"bits = {bits}, but K = {k} codewords need {need}")
    if ix.get("encoding") == "packed":
        if "lengths" in ix:
            _fail(f"{w} indices", "packed indices have no code lengths")
        if ix["nbytes"] != math.ceil(n * bits / 8):
            _fail(f"{w} indices", f"nbytes = {ix['nbytes']}, but {n} packed {bits}-bit indices take "
                                  f"{math.ceil(n * bits / 8)}")
    elif ix.get("encoding") == "huffman":
        off, nb = _region(ix.get("lengths"), f"{w} code lengths", len(payload), regions, "lengths")
        if nb != k:
            _fail(f"{w} code lengths", f"nbytes = {nb}; one byte per codeword is {k}")
        lengths = np.frombuffer(bytes(payload[off:off + nb]), np.uint8).astype(np.int64)
        used = lengths[lengths > 0]
        if used.size == 0 or used.max() > MAX_HUFFMAN_BITS or float(np.sum(2.0 ** -used)) > 1.0 + 1e-12:
            _fail(f"{w} code lengths", "not the code lengths of a prefix code")
        if not 0 < ix["nbytes"] <= math.ceil(n * int(used.max()) / 8):
            _fail(f"{w} indices", f"nbytes = {ix['nbytes']} does not fit {n} Huffman-coded indices")
    else:
        _fail(f"{w} indices", f"encoding = {ix.get('encoding')!r}; expected 'packed' or 'huffman'")
    return name


def _tensor(i: int, t, payload, regions: list) -> str:
    if not isinstance(t, dict) or not isinstance(t.get("key"), str) or not t.get("key"):
        _fail(f"tensors[{i}]", "expected an object with a key name")
    w = f"tensor {t['key']!r}"
    _region(t, w, len(payload), regions, "tensor")
    if t.get("dtype") not in TENSOR_DTYPES:
        _fail(w, f"dtype = {t.get('dtype')!r}; expected one of {list(TENSOR_DTYPES)}")
    shape = t.get("shape")
    if not isinstance(shape, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in shape):
        _fail(w, f"shape = {shape!r} is not a list of non-negative integers")
    want = math.prod(shape) * np.dtype(t["dtype"]).itemsize
    if t["nbytes"] != want:
        _fail(w, f"nbytes = {t['nbytes']}, but shape {shape} of {t['dtype']} takes {want}")
    _finite(payload, t["offset"], t["nbytes"], t["dtype"], w)
    return t["key"]


def validate(manifest, payload, version: int) -> None:
    """Raise :class:`ArtifactError` unless ``manifest`` describes ``payload`` consistently (see the module
    docstring): only known keys, types, shapes against rows and row lengths, index widths against K, byte counts
    against shapes and dtypes, every region inside the payload and no two overlapping, finite stored floats."""
    if not isinstance(manifest, dict):
        _fail("manifest", f"expected a JSON object, got {type(manifest).__name__}")
    _known(manifest, "manifest", "manifest")
    if manifest.get("format") != "dkm":
        _fail("manifest", f"format = {manifest.get('format')!r}, not 'dkm'")
    v = manifest.get("version")
    if v != version:
        _fail("manifest", f"version = {v!r}; this dkm reads version {version}"
                          + (" (the file is from a newer dkm)" if isinstance(v, int) and v > version else ""))
    if manifest.get("model") is not None and not isinstance(manifest["model"], str):
        _fail("manifest", f"model = {manifest['model']!r} is not a model name")
    nc = manifest.get("num_classes")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc < 1):
        _fail("manifest", f"num_classes = {nc!r} is not a positive integer")
    layers, tensors = manifest.get("layers"), manifest.get("tensors")
    if not isinstance(layers, list) or not isinstance(tensors, list):
        _fail("manifest", "layers and tensors must be lists")
    regions: list = []
    names = [_layer(i, e, payload, regions) for i, e in enumerate(layers)]
    keys = [_tensor(i, t, payload, regions) for i, t in enumerate(tensors)]
    dup = sorted({x for x in names if names.count(x) > 1} | {x for x in keys if keys.count(x) > 1})
    if dup:
        _fail("manifest", f"{dup[0]!r} appears twice")
    clash = sorted({f"{n}.weight" for n in names} & set(keys))
    if clash:
        _fail("manifest", f"{clash[0]!r} is both a shared layer's weight and a stored tensor")
    regions.sort()
    for (o1, n1, w1), (o2, _, w2) in zip(regions, regions[1:]):
        if o2 < o1 + n1:
            _fail(w2, f"its bytes overlap those of {w1}")

"""The ``.dkm`` artifact: a compressed model in one checksummed file.

Layout (little-endian)::

    b"DKM1" | manifest length (uint64) | manifest (UTF-8 JSON) | payload | sha256 of all preceding bytes

The manifest records the zoo model name, and per shared layer its shape, its lookup tables (``luts`` codebooks of
``k`` codewords, stacked; float32, or float16) and its within-LUT indices (fixed ceil(log2 K)-bit packing, or canonical Huffman when smaller, with the code lengths); every
other state_dict tensor (biases, BN statistics, unshared layers) is stored raw. Offsets are into the payload.
``load`` rebuilds the model with weights bit-identical to the shared model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import bitcodes
from .errors import ArtifactError, DKMError
from .manifest import validate
from .share import SharedLayer

MAGIC = b"DKM1"
VERSION = 1


@dataclass
class Artifact:
    """A loaded artifact: the rebuilt ``model``, its ``layers`` (SharedLayer by name), the ``manifest``."""

    model: nn.Module
    layers: dict[str, SharedLayer]
    manifest: dict
    nbytes: int = 0
    path: str = ""


class _Payload:
    def __init__(self):
        self.buf = io.BytesIO()

    def add(self, data: bytes) -> dict:
        off = self.buf.tell()
        self.buf.write(data)
        return {"offset": off, "nbytes": len(data)}


def _encode_indices(sl: SharedLayer, huffman: bool, payload: _Payload) -> dict:
    bits = sl.index_bits
    local = sl.local_assignments  # within-LUT indices: ceil(log2 K) bits each, whatever the number of LUTs
    packed = bitcodes.pack(local, bits)
    entry = {"encoding": "packed", "bits": bits}
    if huffman and sl.k > 1:
        lengths = bitcodes.huffman_lengths(local, sl.k)
        if lengths.max() <= bitcodes.MAX_HUFFMAN_BITS:
            coded = bitcodes.huffman_encode(local, lengths)
            if len(coded) + sl.k < len(packed):  # the code lengths cost one byte per symbol
                entry = {"encoding": "huffman", "bits": bits, "lengths": payload.add(lengths.astype(np.uint8).tobytes())}
                packed = coded
    entry.update(payload.add(packed))
    return entry


def to_bytes(model: nn.Module, shared: dict[str, SharedLayer], *, model_name: str | None = None,
             num_classes: int | None = None, huffman: bool = True, float16: bool = False) -> bytes:
    """Serialize a shared model (see module docstring); ``float16`` stores codebooks at half precision."""
    payload = _Payload()
    layers = []
    for name, sl in shared.items():
        cb = sl.codebook.astype(np.float16 if float16 else np.float32)
        layers.append({"name": name, "shape": list(sl.shape), "k": sl.k, "s": sl.s, "n": sl.n, "luts": sl.luts,
                       "sparse": sl.sparse, "codebook": {"dtype": str(cb.dtype), **payload.add(cb.tobytes())},
                       "indices": _encode_indices(sl, huffman, payload)})
    skip = {f"{n}.weight" for n in shared}
    tensors = []
    for key, t in model.state_dict().items():
        if key in skip:
            continue
        a = t.detach().cpu().contiguous().numpy()
        tensors.append({"key": key, "dtype": str(a.dtype), "shape": list(a.shape), **payload.add(a.tobytes())})
    manifest = {"format": "dkm", "version": VERSION, "model": model_name, "num_classes": num_classes,
                "layers": layers, "tensors": tensors}
    head = json.dumps(manifest, separators=(",", ":")).encode()
    body = MAGIC + struct.pack("<Q", len(head)) + head + payload.buf.getvalue()
    return body + hashlib.sha256(body).digest()


def save(path: str | os.PathLike, model: nn.Module, shared: dict[str, SharedLayer], **kw) -> int:
    """Write the artifact to ``path`` atomically (temp file + rename); returns its size in bytes."""
    data = to_bytes(model, shared, **kw)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return len(data)


def parse(data: bytes) -> tuple[dict, memoryview]:
    """Verify the checksum and split into (manifest, payload); raises :class:`ArtifactError`."""
    if len(data) < len(MAGIC) + 8 + 32 or data[:4] != MAGIC:
        raise ArtifactError("not a dkm artifact (bad magic or file too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError("dkm artifact checksum mismatch: the file is corrupted or truncated")
    (hlen,) = struct.unpack("<Q", body[4:12])
    if hlen > len(body) - 12:
        raise ArtifactError(f"dkm artifact: manifest length {hlen} runs past the end of the file")
    try:
        manifest = json.loads(body[12:12 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"dkm artifact: the manifest is not valid JSON ({exc})") from None
    payload = memoryview(body)[12 + hlen:]
    validate(manifest, payload, VERSION)  # a consistent checksum does not make a consistent manifest
    return manifest, payload


def _slice(payload, e):
    return bytes(payload[e["offset"]:e["offset"] + e["nbytes"]])


def decode_indices(e: dict, payload) -> np.ndarray:
    """A layer entry's within-LUT indices, ``(n,)`` int64."""
    ix = e["indices"]
    if ix["encoding"] == "huffman":
        lengths = np.frombuffer(_slice(payload, ix["lengths"]), np.uint8).astype(np.int64)
        return bitcodes.huffman_decode(_slice(payload, ix), lengths, e["n"])
    return bitcodes.unpack(_slice(payload, ix), ix["bits"], e["n"])


def _decode_layer(e: dict, payload) -> SharedLayer:
    luts = int(e.get("luts", 1))
    cb = np.frombuffer(_slice(payload, e["codebook"]), e["codebook"]["dtype"]).reshape(luts * e["k"], e["s"])
    try:
        idx = decode_indices(e, payload)
    except (IndexError, ValueError):  # a Huffman stream that ends before its n-th code
        raise ArtifactError(f"dkm artifact: layer {e['name']!r} indices: the coded stream is too short") from None
    if idx.size and int(idx.max()) >= e["k"]:
        raise ArtifactError(f"dkm artifact: layer {e['name']!r} indices: index {int(idx.max())} is not below "
                            f"K = {e['k']}")
    sl = SharedLayer(e["name"], tuple(e["shape"]), cb.astype(np.float32), idx, e["sparse"], luts)
    if luts > 1:
        sl.assignments = sl.assignments + sl.lut_offsets()
    return sl


def load(path: str | os.PathLike, model: nn.Module | None = None) -> Artifact:
    """Read an artifact and rebuild the model (from the zoo name in the manifest unless ``model`` is given)."""
    path = Path(path)
    if not path.is_file():
        raise DKMError(f"artifact {str(path)!r} does not exist")
    data = path.read_bytes()
    manifest, payload = parse(data)
    if model is None:
        if not manifest.get("model"):
            raise DKMError(f"artifact {str(path)!r} records no zoo model name: pass a model to fill")
        from energysim import zoo

        model = zoo.build(manifest["model"], num_classes=manifest.get("num_classes"))
    layers = {e["name"]: _decode_layer(e, payload) for e in manifest["layers"]}
    state = {}
    for e in manifest["tensors"]:
        a = np.frombuffer(_slice(payload, e), e["dtype"]).reshape(e["shape"])
        state[e["key"]] = torch.from_numpy(a.copy())
    for name, sl in layers.items():
        state[f"{name}.weight"] = sl.weight()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # keys or shapes of another model
        first = " ".join(str(exc).split())[:240]
        raise ArtifactError(f"artifact {str(path)!r} does not fit model {manifest.get('model')!r}: {first}") from None
    return Artifact(model, layers, manifest, len(data), str(path))

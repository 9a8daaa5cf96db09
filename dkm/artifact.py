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

from energysim.errors import EnergySimError

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


def check_out_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` as a ``Path`` if a file may be written there: a new name or an existing regular file, in a folder
    that is, or can become, writable; else a one-line :class:`DKMError` naming ``flag`` and the path. Creates
    nothing. Checked before any work: a folder, a device or a pipe at ``path`` would be replaced by the rename."""
    text = str(path)
    if not text.strip():
        raise DKMError(f"{flag}: an empty path; give a file name")
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise DKMError(f"{flag} {text!r} is a broken symbolic link")
    if p.exists() and not p.is_file():
        raise DKMError(f"{flag} {text!r} exists and is not a regular file")
    from energysim.cli.outputs import check_out

    try:
        check_out(p.parent, f"{flag} {text!r}: folder")
    except EnergySimError as exc:
        raise DKMError(str(exc)) from None
    return p


def write_file(path: str | os.PathLike, data: bytes, flag: str = "--out") -> Path:
    """Write ``data`` to ``path`` whole or not at all (a uniquely named temporary sibling, then one rename),
    creating missing parent folders; ``path`` as :func:`check_out_file` takes it."""
    from energysim.cli.outputs import write_file_atomic

    path = check_out_file(path, flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomic(path, data)


def save(path: str | os.PathLike, model: nn.Module, shared: dict[str, SharedLayer], **kw) -> int:
    """Write the artifact to ``path`` atomically (temp file + rename); returns its size in bytes. ``path`` is
    checked before the work (see :func:`check_out_file`); its folder must exist."""
    from energysim.cli.outputs import write_file_atomic

    path = check_out_file(path, "artifact path")
    if not path.parent.is_dir():
        raise DKMError(f"artifact path {str(path)!r}: folder {str(path.parent)!r} does not exist")
    data = to_bytes(model, shared, **kw)
    write_file_atomic(path, data)
    return len(data)


def _named(exc: ArtifactError, name) -> ArtifactError:
    """``exc`` with its message naming the file ``name`` instead of "dkm artifact" (unchanged without a name)."""
    if name is None:
        return exc
    msg = str(exc).removeprefix("dkm artifact: ")
    return ArtifactError(f"artifact {str(name)!r}: {msg}")


def parse(data: bytes, name: str | os.PathLike | None = None) -> tuple[dict, memoryview]:
    """Verify the checksum and split into (manifest, payload); raises :class:`ArtifactError` (naming the file
    ``name`` where given)."""
    try:
        return _parse(data)
    except ArtifactError as exc:
        raise _named(exc, name) from None


def _parse(data: bytes) -> tuple[dict, memoryview]:
    if len(data) < len(MAGIC) + 8 + 32 or data[:4] != MAGIC:
        raise ArtifactError("not a dkm artifact (bad magic or file too short)")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError("dkm artifact: checksum mismatch: the file is corrupted or truncated")
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


def read(path: str | os.PathLike) -> tuple[bytes, dict, memoryview]:
    """The bytes, manifest and payload of the artifact file ``path``; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise DKMError(f"artifact {str(path)!r} does not exist")
    data = p.read_bytes()
    manifest, payload = parse(data, path)
    return data, manifest, payload


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


def _check_dtypes(manifest: dict, model: nn.Module, path) -> None:
    """Every stored tensor has its model tensor's dtype: ``load_state_dict`` would cast a relabelled one (a float
    bias read as int32) without a word."""
    want = model.state_dict()
    for e in manifest["tensors"]:
        t = want.get(e["key"])
        if t is not None and str(t.dtype).removeprefix("torch.") != e["dtype"]:
            raise ArtifactError(f"artifact {str(path)!r}: tensor {e['key']!r} is stored as {e['dtype']}, the model "
                                f"{manifest.get('model')!r} has {str(t.dtype).removeprefix('torch.')}")


def load(path: str | os.PathLike, model: nn.Module | None = None) -> Artifact:
    """Read an artifact and rebuild the model (from the zoo name in the manifest unless ``model`` is given)."""
    path = Path(path)
    data, manifest, payload = read(path)
    if model is None:
        if not manifest.get("model"):
            raise DKMError(f"artifact {str(path)!r} records no zoo model name: pass a model to fill")
        from energysim import zoo

        model = zoo.build(manifest["model"], num_classes=manifest.get("num_classes"))
    _check_dtypes(manifest, model, path)
    try:
        layers = {e["name"]: _decode_layer(e, payload) for e in manifest["layers"]}
    except ArtifactError as exc:
        raise _named(exc, path) from None
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

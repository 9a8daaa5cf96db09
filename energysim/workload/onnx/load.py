"""Reading an ONNX model: the optional ``onnx`` package, the file, and tensor dims from its type protos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from energysim.errors import EnergySimError


def _import_onnx():
    try:
        # an absolute import: this is the third-party ``onnx`` package, not the ``energysim.workload.onnx``
        # package this module belongs to
        import onnx
    except ImportError:
        raise EnergySimError(
            "ONNX import needs the optional 'onnx' package: pip install 'deep-kmeans-energy[onnx]' (or pip install onnx)"
        ) from None
    return onnx


def _load(onnx, path) -> Any:
    if isinstance(path, onnx.ModelProto):
        return path
    p = Path(os.fspath(path))
    if not p.exists():
        raise EnergySimError(f"ONNX file {str(p)!r} not found")
    if p.is_dir():
        raise EnergySimError(f"ONNX path {str(p)!r} is a directory, not a file")
    try:
        # only tensor shapes matter here, so weights stored as external data are not read (as ZigZag does;
        # its example models ship without their external weight files)
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, external-data errors, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EnergySimError(f"{str(p)!r} is not a readable ONNX model: {first}") from None
    # protobuf parses many byte strings (an empty file, some text) into an empty message without complaint
    if not model.graph.node or not model.graph.input:
        raise EnergySimError(f"{str(p)!r} is not an ONNX model: it has no graph (no nodes or no inputs)")
    return model


def _dims(onnx_type) -> tuple | None:
    """Dims of a tensor type: ints where static, str or None where symbolic/unknown; None if no shape."""
    t = onnx_type.tensor_type
    if not t.HasField("shape"):
        return None
    out = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or None)
    return tuple(out)


def _static(shape) -> tuple[int, ...] | None:
    if shape is None or any(not isinstance(d, int) or d < 0 for d in shape):
        return None
    return tuple(shape)

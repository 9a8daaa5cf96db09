"""Reading an ONNX model: the optional ``onnx`` package (imported only when needed), the file (read by ``wire``),
and tensor dims from its type protos."""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path
from typing import Any

from energysim.errors import EnergySimError
from energysim.workload.onnx import wire


class _LazyOnnx:
    """The ``onnx`` package, imported on first use of one of its attributes (importing it costs more than
    reading a model with ``wire``). ``ModelProto`` does not import it: without ``onnx`` in ``sys.modules``
    nothing can be an ``onnx.ModelProto``, so a class of which nothing is an instance stands in."""

    class _NoModelProto:
        pass

    def __getattr__(self, name: str):
        if name == "ModelProto" and "onnx" not in sys.modules:
            return self._NoModelProto
        import onnx  # the third-party package (absolute import), not energysim.workload.onnx

        return getattr(onnx, name)


def _import_onnx():
    """The ``onnx`` package, lazily (it must be installed: shape inference and ``ModelProto`` inputs need it)."""
    try:
        found = importlib.util.find_spec("onnx") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise EnergySimError(
            "ONNX import needs the optional 'onnx' package: pip install 'deep-kmeans-energy[onnx]' (or pip install onnx)"
        )
    return _LazyOnnx()


def _load(onnx, path) -> Any:
    """An ``onnx.ModelProto`` as given, or the file read by ``wire`` (names, shapes, attributes; the ``onnx``
    package parses it again only if a node needs shape inference)."""
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
        model = wire.Model(p.read_bytes())
    except (wire.WireError, OSError, IndexError, struct.error) as exc:
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

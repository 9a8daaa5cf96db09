"""What the sub-commands share: reading a MODEL argument (a zoo name or an .onnx file) into a ``Network``."""

from __future__ import annotations

from energysim.errors import EnergySimError


def load_network(spec: str, batch: int = 1):
    """A zoo model name (or, where ONNX import is available, a path to an .onnx file) as a ``Network``."""
    from energysim.workload.trace import trace_model

    if spec.endswith(".onnx"):
        try:
            from energysim.workload.onnx import from_onnx
        except ImportError:
            raise EnergySimError(f"cannot read {spec!r}: ONNX import is not available in this build") from None
        return from_onnx(spec, batch=batch)
    return trace_model(spec, batch=batch)

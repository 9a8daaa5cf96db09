"""What the importer refuses before it builds on a graph input, an initializer or a node: sizes past the bounds
below, ops outside the standard domain, attributes the op does not define, non-finite float attributes and
window attributes out of range. Every error names the input or node, the field and its value, on one line.
"""

from __future__ import annotations

import math

from energysim.errors import EnergySimError
from energysim.workload.onnx.schema import ATTRIBUTES, STANDARD_DOMAINS

#: the largest dimension of a graph input or an initializer: the command line's largest batch (MAX_BATCH);
#: the longest real dimensions (raw audio samples, sequence lengths) are far below it
MAX_DIM = 2**31 - 1
#: the most elements one tensor may hold per sample. Real networks stay far below (a 4K RGB frame has 2**24.6,
#: a 256k-token attention matrix of 32 heads 2**41); past it MAC counts are meaningless and a mapping search
#: runs out of memory.
MAX_ELEMENTS = 2**44

#: attributes whose values are tensor data, where an infinity is a legitimate value (attention masks)
_DATA_ATTRIBUTES = frozenset({("Constant", "value_float"), ("Constant", "value_floats")})
_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def is_standard(node) -> bool:
    return node.domain in STANDARD_DOMAINS


def graph_input(model: str, vi_name: str, dims: tuple | None) -> None:
    """Refuse a graph input's shape unless every dimension but the batch (first) is a positive integer, no
    dimension exceeds ``MAX_DIM`` and one sample holds at most ``MAX_ELEMENTS``."""
    where = f"ONNX model {model!r}: graph input {vi_name!r}"
    if not dims:
        raise EnergySimError(f"{where} has no shape")
    if any(not isinstance(d, int) for d in dims[1:]):
        raise EnergySimError(f"{where} has non-static dimensions {dims}; only the batch (first) dimension may be "
                             "symbolic")
    for i, d in enumerate(dims):
        if i and d < 1:
            raise EnergySimError(f"{where} has dimension {i} = {d} in {dims}; sizes must be positive")
        if isinstance(d, int) and d > MAX_DIM:
            raise EnergySimError(f"{where} has dimension {i} = {d:,} in {dims}, above the largest supported "
                                 f"({MAX_DIM:,})")
    per_sample = math.prod(dims[1:])
    if per_sample > MAX_ELEMENTS:
        raise EnergySimError(f"{where} of shape {dims} holds {per_sample:,} elements per sample, above the largest "
                             f"supported ({MAX_ELEMENTS:,} = 2**44)")


def initializer(name: str, dims: tuple[int, ...]) -> None:
    """Refuse an initializer shape with a negative or oversized dimension (external data is never read, so its
    declared shape is all that bounds it)."""
    if any(d < 0 or d > MAX_DIM for d in dims) or math.prod(dims) > MAX_ELEMENTS:
        raise EnergySimError(f"initializer {name!r} has shape {dims}; dimensions must be 0 to {MAX_DIM:,} and the "
                             f"tensor at most {MAX_ELEMENTS:,} elements")


def tensor(label: str, name: str, shape: tuple[int, ...], batch: int) -> None:
    """Refuse a derived tensor (a layer's output) of more than ``MAX_ELEMENTS`` per sample: window attributes
    and broadcasts can make one far larger than the graph input."""
    total = math.prod(shape)
    if total > batch * MAX_ELEMENTS:
        raise EnergySimError(f"node {label}: output {name!r} of shape {tuple(shape)} holds {total // batch:,} "
                             f"elements per sample, above the largest supported ({MAX_ELEMENTS:,} = 2**44)")


def outputs(node, label: str, *taken) -> None:
    """Refuse a node writing a tensor that a graph input, an initializer or an earlier node already holds: ONNX
    assigns each tensor once, and a second writer would silently replace the first one's edges."""
    for o in node.output:
        if o and any(o in t for t in taken):
            raise EnergySimError(f"node {label}: output {o!r} is already a graph input, an initializer or another "
                                 "node's output; ONNX assigns each tensor once")


def node_attributes(node, names: list[str], attrs: dict, label: str) -> None:
    """Refuse an attribute given twice, one the standard op does not define, and a float attribute that is not
    finite. Ops outside the standard domain are the caller's to refuse; their float attributes are checked
    here too."""
    op = node.op_type
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EnergySimError(f"node {label}: attribute {twice[0]!r} is given more than once")
    allowed = ATTRIBUTES.get(op) if is_standard(node) else None
    for name, value in attrs.items():
        if allowed is not None and name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise EnergySimError(f"node {label}: unknown attribute {name!r} for {op} (ONNX defines: {known})")
        if (op, name) in _DATA_ATTRIBUTES:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise EnergySimError(f"node {label}: attribute {name}={_short(value)} is not finite")


def window(a: dict, rank: int, label: str, pool: bool) -> None:
    """Refuse window attributes (``kernel_shape``, ``strides``, ``dilations``, ``pads``, ``auto_pad``,
    ``ceil_mode``, a conv's ``group``) a ``rank``-D window cannot have."""
    if pool and "kernel_shape" not in a:
        raise EnergySimError(f"node {label}: attribute 'kernel_shape' is missing")
    for key, count, lo in (("kernel_shape", rank, 1), ("strides", rank, 1), ("dilations", rank, 1),
                           ("pads", 2 * rank, 0)):
        if key not in a:
            continue
        v = a[key]
        ok = isinstance(v, (list, tuple)) and len(v) == count
        if not ok or any(isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= MAX_DIM for x in v):
            raise EnergySimError(f"node {label}: attribute {key}={_short(v)}; a {rank}-D window needs {count} "
                                 f"integers from {lo} to {MAX_DIM:,}")
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode(errors="replace") if isinstance(auto, bytes) else auto
    if auto not in _AUTO_PAD:
        raise EnergySimError(f"node {label}: attribute auto_pad={_short(auto)}; use one of {', '.join(_AUTO_PAD)}")
    for key, lo, hi in (("ceil_mode", 0, 1), ("group", 1, MAX_DIM)):
        v = a.get(key, lo)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise EnergySimError(f"node {label}: attribute {key}={_short(v)}; it must be an integer from {lo} to "
                                 f"{hi:,}")


def describe(exc: Exception) -> str:
    """One line for an error raised while building a layer: pydantic's validation text spans lines and links to
    its docs, so only the fields, values and messages are kept."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(map(str, e['loc']))}={_short(e.get('input'))}: {e['msg']}" if e.get("loc")
                     else e["msg"].removeprefix("Value error, ") for e in errors()]
            return "; ".join(parts)
        except Exception:  # not pydantic's errors() after all: fall back to the text
            pass
    return " ".join(str(exc).split()) or type(exc).__name__


def _short(value, limit: int = 60) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."

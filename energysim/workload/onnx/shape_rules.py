"""The importer's own output-shape rules: sliding windows (conv, pool, ``auto_pad``), broadcasting, and
``Reshape`` targets. They are ONNX's semantics (which match torch's), computed from the batch the caller asked
for rather than the batch the file was exported with."""

from __future__ import annotations

import math

from energysim.errors import EnergySimError


def _window(size: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool) -> int:
    """Output length of a window ``k`` (stride ``s``, dilation ``d``) over ``size`` padded by ``pb``/``pe``."""
    span = size + pb + pe - d * (k - 1) - 1
    if span < 0:
        raise ValueError(f"window {k} (dilation {d}) larger than padded input {size + pb + pe}")
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    # as in torch/ONNX: with ceil_mode the last window must start inside the input or left padding
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1
    return out


def _spatial_params(a: dict, kernel: tuple[int, int], hw: tuple[int, int]):
    """(strides, dilations, begin pads, output size) for a 2-D window op with attributes ``a``, auto_pad
    included."""
    strides = tuple(a.get("strides", (1, 1)))
    dil = tuple(a.get("dilations", (1, 1)))
    pads = tuple(a.get("pads", (0, 0, 0, 0)))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    ceil_mode = bool(a.get("ceil_mode", 0))
    out, begin = [], []
    for i in range(2):
        size, k, s, d = hw[i], kernel[i], strides[i], dil[i]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            o = math.ceil(size / s)
            total = max(0, (o - 1) * s + d * (k - 1) + 1 - size)
            b = total // 2 if auto == "SAME_UPPER" else total - total // 2
            out.append(o)
            begin.append(b)
        elif auto == "VALID":
            out.append(_window(size, k, s, d, 0, 0, ceil_mode))
            begin.append(0)
        else:
            out.append(_window(size, k, s, d, pads[i], pads[i + 2], ceil_mode))
            begin.append(pads[i])
    return strides, dil, tuple(begin), tuple(out)


def _broadcast(shapes: list[tuple[int, ...]], label: str) -> tuple[int, ...]:
    """The numpy-style broadcast of ``shapes`` (an element-wise op's output)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        ds = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(ds) > 1:
            raise EnergySimError(f"node {label}: shapes {shapes} do not broadcast")
        out.append(ds.pop() if ds else 1)
    return tuple(out)


def _reshape(xs: tuple[int, ...], target, allowzero: bool, orig_batch: int | None, batch: int,
             label: str) -> tuple[int, ...]:
    """The output of reshaping ``xs`` to the constant ``target`` (``0`` copies a dim unless ``allowzero``,
    ``-1`` is inferred). ``orig_batch``/``batch``: the exporter's batch and the one asked for."""
    total = math.prod(xs)
    t = [int(v) for v in list(getattr(target, "flat", target))]
    t = [xs[i] if (v == 0 and not allowzero and i < len(xs)) else v for i, v in enumerate(t)]
    # a target written for the exporter's batch (e.g. [1, -1]) still means "keep the batch" after an override
    if t and orig_batch is not None and t[0] == orig_batch and xs and xs[0] == batch and batch != orig_batch:
        t[0] = batch
    if t.count(-1) == 1:
        known = math.prod(v for v in t if v != -1)
        if known == 0 or total % known:
            raise EnergySimError(f"node {label}: cannot reshape {xs} to {t}")
        t[t.index(-1)] = total // known
    if math.prod(t) != total:
        raise EnergySimError(f"node {label}: cannot reshape {xs} to {t}")
    return tuple(t)


#: shape-arithmetic ops evaluated on constants (exporters compute ``Reshape`` targets with them)
_FOLDED = frozenset({"Gather", "Unsqueeze", "Concat", "Cast", "Squeeze"})


def _fold(op: str, a: dict, vals: list):
    """The value of ``op`` (one of ``_FOLDED``, attributes ``a``) on the constant inputs ``vals``."""
    import numpy as np

    if op == "Gather":
        return np.take(vals[0], vals[1], axis=a.get("axis", 0))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in vals], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = a.get("axes", vals[1] if len(vals) > 1 else [0])
        return np.expand_dims(vals[0], tuple(int(x) for x in np.atleast_1d(axes)))
    if op == "Squeeze":
        return np.squeeze(vals[0])
    return vals[0]  # Cast: the dtype does not matter to a shape

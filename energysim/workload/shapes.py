"""Tensor-shape helpers shared by both front ends (``fx`` for torch, ``onnx`` for ONNX files).

They live apart from ``trace`` so that neither front end has to import the public entry points.
"""

from __future__ import annotations

import math


def _pair(v) -> tuple[int, int]:
    """A torch-style int-or-pair argument (kernel, stride, padding, dilation) as ``(h, w)``."""
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(N, C, H, W) of an activation tensor of rank 2, 3 or 4."""
    if len(shape) == 4:
        return shape
    if len(shape) == 3:  # (N, C, L): a 1-D signal, height 1
        return (shape[0], shape[1], 1, shape[2])
    if len(shape) == 2:
        return (shape[0], shape[1], 1, 1)
    n = math.prod(shape[:-1]) if len(shape) > 1 else 1
    return (n, shape[-1], 1, 1)

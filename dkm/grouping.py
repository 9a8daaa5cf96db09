"""Grouping a layer's weight tensor into the sample matrix that k-means clusters.

Convention (paper, eq. 4): ``W`` has shape ``(s, N)``; each of its N columns is one sample of s weights.

* ``row`` (default, Deep k-Means): conv weight ``(m, c, r, s)`` -> columns are kernel rows, ``N = m*c*r``.
  A 1x1 conv therefore gives scalar samples (``s = 1``).
* ``kernel``: whole kernels, ``(r*s, m*c)``.
* ``scalar``: every weight alone, ``(1, m*c*r*s)`` (classic weight sharing, Han et al.).
* linear weight ``(out, in)``: consecutive runs of ``vector_size`` inputs, ``(v, out*in/v)``.

All maps are reshapes/transposes, so they are differentiable and exactly invertible (:func:`ungroup`).
"""

from __future__ import annotations

import torch

from .errors import DKMError

MODES = ("row", "kernel", "scalar")


def vector_size(shape: tuple[int, ...], mode: str = "row", linear_vector_size: int = 1) -> int:
    """Number of weights per sample (rows of ``W``) for a weight of ``shape``."""
    if mode not in MODES:
        raise DKMError(f"grouping mode must be one of {MODES}, got {mode!r}")
    if mode == "scalar":
        return 1
    if len(shape) == 4:
        return shape[3] if mode == "row" else shape[2] * shape[3]
    if len(shape) == 2:
        v = int(linear_vector_size)
        if v < 1 or shape[1] % v:
            raise DKMError(f"linear vector size must be >= 1 and divide in_features={shape[1]}, got {v}")
        return v
    raise DKMError(f"cannot group a weight of shape {tuple(shape)} (need 2-D linear or 4-D conv)")


def group(weight: torch.Tensor, mode: str = "row", linear_vector_size: int = 1) -> torch.Tensor:
    """Weight tensor -> sample matrix ``W`` of shape ``(s, N)`` (a view where possible; differentiable)."""
    s = vector_size(tuple(weight.shape), mode, linear_vector_size)
    return weight.reshape(-1, s).T


def ungroup(W: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Exact inverse of :func:`group`: ``(s, N)`` -> weight of ``shape`` (the mode is implied by ``s``)."""
    return W.T.reshape(shape)

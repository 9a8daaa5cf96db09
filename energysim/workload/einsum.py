"""Products of two tensors as the one einsum form of MAC layers (see ``energysim.workload.layer``).

Every dimension of a two-operand einsum falls in one class, by the tensors it indexes:

==========================  =========  ===================================================================
indexes                     becomes    examples
==========================  =========  ===================================================================
left, right and output      ``G``      batch of ``bmm``, heads of attention
left and output             ``P``      rows of ``A @ B``, query positions of ``Q·Kᵀ``, a batch ``B`` lacks
right and output            ``M``      columns of ``A @ B``, key positions of ``Q·Kᵀ``
left and right (summed)     ``C``      the contracted dimension
==========================  =========  ===================================================================

Several dimensions of one class are merged into one (their product): the counts of the engine do not change,
because a merged dimension indexes the same tensors as its parts and a tile of it is a contiguous range of
their flattened index. A dimension in one operand only (a reduction inside an operand) or in the output
only (a broadcast) is not a product of two tensors and is rejected, never dropped.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from energysim.errors import EnergySimError


@dataclass(frozen=True)
class MatmulShape:
    """The einsum form of a product of two tensors: ``G`` groups of ``(P x C) @ (C x M)``."""

    G: int
    P: int
    M: int
    C: int

    @property
    def macs(self) -> int:
        return self.G * self.P * self.M * self.C

    def layer_fields(self) -> dict:
        """``Layer`` fields of a ``matmul`` layer of this shape (``M``, ``C`` over all groups, as for convs)."""
        return dict(N=1, M=self.G * self.M, C=self.G * self.C, P=self.P, groups=self.G)

    def transposed(self) -> "MatmulShape":
        """``(A B)ᵀ = Bᵀ Aᵀ``: the same product with the operands swapped."""
        return MatmulShape(self.G, self.M, self.P, self.C)


def _check_shape(shape, where: str, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of its sizes, each an integer >= 1 (a negative, fractional or boolean size would
    otherwise become a negative or fractional loop bound, or a silent 1)."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise EnergySimError(f"{where}: the {what} shape must be a sequence of sizes, got {shape!r}")
    shape = tuple(shape)
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise EnergySimError(f"{where}: the {what} shape {shape} has size {d!r}; sizes must be integers >= 1")
    return shape


def matmul_shape(a: tuple[int, ...], b: tuple[int, ...], where: str = "matmul") -> MatmulShape:
    """The shape of ``torch.matmul(a, b)`` / ONNX ``MatMul`` (numpy semantics: 1-D operands, broadcast batch)."""
    a, b = _check_shape(a, where, "first"), _check_shape(b, where, "second")
    if not a or not b:
        raise EnergySimError(f"{where}: operands must have at least one dimension, got {a} and {b}")
    sa = (1, *a) if len(a) == 1 else tuple(a)
    sb = (*b, 1) if len(b) == 1 else tuple(b)
    (i, k), (k2, j) = sa[-2:], sb[-2:]
    if k != k2:
        raise EnergySimError(f"{where}: inner dimensions differ: {a} @ {b}")
    ba, bb = sa[:-2], sb[:-2]
    n = max(len(ba), len(bb))
    ba, bb = (1,) * (n - len(ba)) + ba, (1,) * (n - len(bb)) + bb
    g = p = m = 1
    for da, db in zip(ba, bb):
        if da == db:
            g *= da
        elif db == 1:
            p *= da  # the right operand is broadcast: this batch dimension only meets the left one
        elif da == 1:
            m *= db
        else:
            raise EnergySimError(f"{where}: batch dimensions {a[:-2]} and {b[:-2]} do not broadcast")
    return MatmulShape(g, p * i, m * j, k)


_EQUATION = re.compile(r"^\s*([A-Za-z]*)\s*,\s*([A-Za-z]*)\s*->\s*([A-Za-z]*)\s*$")


def einsum_shape(equation: str, a: tuple[int, ...], b: tuple[int, ...]) -> MatmulShape:
    """The shape of ``torch.einsum(equation, a, b)`` / ONNX ``Einsum`` for two operands with an explicit output
    (``"bhqd,bhkd->bhqk"``)."""
    if not isinstance(equation, str):
        raise EnergySimError(f"einsum equation must be a string such as 'bij,bjk->bik', got {equation!r}")
    a, b = _check_shape(a, f"einsum {equation!r}", "first"), _check_shape(b, f"einsum {equation!r}", "second")
    m = _EQUATION.match(equation.replace(" ", ""))
    if m is None:
        raise EnergySimError(f"einsum {equation!r}: only two operands with an explicit output and no '...' are "
                             "supported (e.g. 'bij,bjk->bik')")
    la, lb, lo = m.groups()
    for letters, shape, what in ((la, a, "first"), (lb, b, "second")):
        if len(letters) != len(shape):
            raise EnergySimError(f"einsum {equation!r}: the {what} operand has shape {shape}, {len(letters)} letters")
        if len(set(letters)) != len(letters):
            raise EnergySimError(f"einsum {equation!r}: a repeated letter in one operand (a diagonal) is not "
                                 "supported")
    if len(set(lo)) != len(lo):
        # torch rejects it too: an output letter names one axis of the result
        raise EnergySimError(f"einsum {equation!r}: the output repeats a letter")
    missing = set(lo) - set(la) - set(lb)
    if missing:
        raise EnergySimError(f"einsum {equation!r}: output letters {sorted(missing)} index no operand")
    size: dict[str, int] = {}
    for letters, shape in ((la, a), (lb, b)):
        for c, d in zip(letters, shape):
            if size.setdefault(c, int(d)) != int(d):
                raise EnergySimError(f"einsum {equation!r}: letter {c!r} has sizes {size[c]} and {d}")
    g = p = mm = k = 1
    for c, d in size.items():
        ina, inb, ino = c in la, c in lb, c in lo
        if ina and inb and ino:
            g *= d
        elif ina and ino:
            p *= d
        elif inb and ino:
            mm *= d
        elif ina and inb:
            k *= d
        else:
            raise EnergySimError(f"einsum {equation!r}: letter {c!r} is summed inside one operand; only products "
                                 "of two tensors are supported")
    return MatmulShape(g, p, mm, k)


def attention_shapes(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...]) -> tuple[MatmulShape, MatmulShape]:
    """``Q·Kᵀ`` and ``A·V`` of scaled dot-product attention on ``q (..., L, E)``, ``k (..., S, E)``,
    ``v (..., S, Ev)``: the batch dimensions (``...``, heads included) are groups."""
    q, k, v = (_check_shape(s, "attention", w) for s, w in ((q, "query"), (k, "key"), (v, "value")))
    if len(q) < 2 or len(k) < 2 or len(v) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
        raise EnergySimError(f"attention: shapes q {q}, k {k}, v {v} do not fit (..., L, E), (..., S, E), (..., S, Ev)")
    g = math.prod(q[:-2])
    L, E, S, Ev = q[-2], q[-1], k[-2], v[-1]
    return MatmulShape(g, L, S, E), MatmulShape(g, L, Ev, S)

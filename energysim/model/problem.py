"""A generic Timeloop-style problem: named loop dimensions with bounds, and data spaces given by projections.

Each data space (tensor) has ranks; each rank index is a sum of ``coefficient * dimension`` terms, e.g. the
input rank ``R*Wdilation + P*Wstride``. A loop-nest tile of the problem (a bound per dimension) touches, in each
rank, the interval spanned by its terms; like Timeloop we take the product of those intervals (an axis-aligned
box) as the tile's size in words. Padding is not part of the projection (Timeloop ignores it too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from math import prod
from typing import Mapping as _Mapping

from energysim.errors import EnergySimError


@dataclass(frozen=True)
class DataSpace:
    """One tensor: ``ranks[k]`` is a tuple of ``(dimension, coefficient)`` terms; the rank index is their sum.

    ``read_write`` marks the output (partial sums are read, updated and written back).
    """

    name: str
    ranks: tuple[tuple[tuple[str, int], ...], ...]
    read_write: bool = False
    #: ``weight`` (a parameter), ``activation`` (produced by another layer) or ``output``; ``None`` when not
    #: known (a Timeloop problem). Counting does not depend on it; cost extensions do (a codebook prices
    #: weights only).
    role: str | None = None

    @property
    def dims(self) -> frozenset[str]:
        """Dimensions that index this data space (the others are irrelevant: iterating them reuses the tile)."""
        return frozenset(d for rank in self.ranks for d, _ in rank)

    def rank_extents(self, extent: _Mapping[str, int]) -> list[int]:
        """Per-rank index span of a tile that covers ``extent[d]`` consecutive values of each dimension."""
        return [sum(c * (extent.get(d, 1) - 1) for d, c in rank) + 1 for rank in self.ranks]

    def tile_size(self, extent: _Mapping[str, int]) -> int:
        """Words in a tile spanning ``extent[d]`` values of each dimension (axis-aligned box, as Timeloop)."""
        # ``prod(self.rank_extents(extent))`` without the list and generators: templates and mapping checks ask
        # for tile sizes by the hundred thousand in a sweep
        size = 1
        for rank in self.ranks:
            e = 1
            for d, c in rank:
                e += c * (extent.get(d, 1) - 1)
            size *= e
        return size

    def offset(self, index: _Mapping[str, int]) -> tuple[int, ...]:
        """Rank coordinates of the point with dimension indices ``index`` (missing dimensions are 0)."""
        return tuple(sum(c * index.get(d, 0) for d, c in rank) for rank in self.ranks)


@dataclass(frozen=True)
class Problem:
    """Loop dimensions with bounds, and the data spaces they index.

    Attributes:
        name: shape name (``CNN_Layer``, ``Conv1D``...).
        dims: dimension names in a fixed order.
        bounds: loop bound of each dimension.
        data_spaces: the tensors; by convention Weights, Inputs, Outputs.
        coefficients: the named coefficients (strides, dilations) used to build the projections.
    """

    name: str
    dims: tuple[str, ...]
    bounds: dict[str, int]
    data_spaces: tuple[DataSpace, ...]
    coefficients: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        # once per problem and cheap (a search builds one per layer): the hot loops trust these facts
        dims, bounds = self.dims, self.bounds
        if type(dims) is not tuple or len(set(dims)) != len(dims):
            # a repeated dimension would count its loops twice (MACs = bound squared)
            raise EnergySimError(f"problem {self.name!r}: dims = {dims!r} must be a tuple of distinct dimension names")
        if not isinstance(bounds, dict):
            raise EnergySimError(f"problem {self.name!r}: bounds = {bounds!r} must be a dict of dimension -> bound")
        for d in dims:
            b = bounds.get(d)
            if type(d) is not str or not d:
                raise EnergySimError(f"problem {self.name!r}: dimension name {d!r} must be a non-empty string")
            if not isinstance(b, int) or isinstance(b, bool) or b < 1:
                raise EnergySimError(f"problem {self.name!r}: bound of dimension {d} = {b!r} must be an integer >= 1")
        if len(bounds) != len(dims):
            extra = set(bounds) - set(dims)
            raise EnergySimError(f"problem {self.name!r}: bounds given for unknown dimension(s) {sorted(extra)}")
        spaces = self.data_spaces
        if type(spaces) is not tuple or not spaces:
            raise EnergySimError(f"problem {self.name!r}: data_spaces = {spaces!r} must be a non-empty tuple of "
                                 "DataSpace")
        names = set()
        for ds in spaces:
            if not isinstance(ds, DataSpace):
                raise EnergySimError(f"problem {self.name!r}: data space {ds!r} is not a DataSpace")
            if ds.name in names:
                raise EnergySimError(f"problem {self.name!r}: duplicate data space names {self.data_space_names}")
            names.add(ds.name)
            _check_data_space(self, ds)
        if not isinstance(self.coefficients, dict):
            raise EnergySimError(f"problem {self.name!r}: coefficients = {self.coefficients!r} must be a dict")
        for k, c in self.coefficients.items():
            if type(k) is not str or type(c) is not int or c < 0:
                raise EnergySimError(f"problem {self.name!r}: coefficient {k!r} = {c!r} must be an int >= 0")

    # ---- queries ------------------------------------------------------------------------------------
    @cached_property
    def key(self) -> tuple:
        """The problem as a hashable value, its name aside (dimensions, bounds, data spaces, coefficients): what
        the memos of what a mapping of it counts and costs are keyed by."""
        return (self.dims, tuple(self.bounds.items()), self.data_spaces, tuple(self.coefficients.items()))

    @property
    def macs(self) -> int:
        """Multiply-accumulates: the product of all bounds."""
        return prod(self.bounds[d] for d in self.dims)

    @property
    def data_space_names(self) -> list[str]:
        return [ds.name for ds in self.data_spaces]

    def data_space(self, name: str) -> DataSpace:
        for ds in self.data_spaces:
            if ds.name == name:
                return ds
        raise EnergySimError(f"problem {self.name!r} has no data space {name!r}; it has {self.data_space_names}")

    def tensor_size(self, name: str) -> int:
        """Words of the whole tensor (its box over the full bounds)."""
        return self.data_space(name).tile_size(self.bounds)

    @property
    def output(self) -> DataSpace:
        """The read-write data space."""
        for ds in self.data_spaces:
            if ds.read_write:
                return ds
        raise EnergySimError(f"problem {self.name!r} has no read-write (output) data space")

    # ---- construction -------------------------------------------------------------------------------
    @classmethod
    def from_layer(cls, layer) -> "Problem":
        """The einsum of a MAC layer (``energysim.workload.Layer``): Timeloop's CNN-layer shape, which also holds
        every product of two tensors (see the ``Layer`` docstring).

        Inputs are indexed ``[N][G][C][R*Wdilation + P*Wstride][S*Hdilation + Q*Hstride]``: Timeloop pairs R
        with P under the names Wstride/Wdilation; our ``Layer`` calls that axis height, so
        ``Wstride = stride_h`` and ``Hstride = stride_w``. Grouped and depthwise convolutions get a ``G``
        dimension (``groups``) with ``C`` and ``M`` per group, so MACs = N*M*(C/groups)*P*Q*R*S.

        The data spaces keep the names Weights / Inputs / Outputs (the names profiles keep and bypass by) and
        carry a role: the operand in the weight position of a matmul of two activations has role ``activation``
        (reports call it ``Inputs2``).
        """
        if not layer.has_macs:
            raise EnergySimError(f"layer {layer.name!r} (kind {layer.kind}) has no MACs; it has no loop-nest problem")
        g = layer.groups
        coef = {
            "Wstride": layer.stride_h,
            "Hstride": layer.stride_w,
            "Wdilation": layer.dilation_h,
            "Hdilation": layer.dilation_w,
        }
        bounds = {"N": layer.N, "M": layer.M // g, "C": layer.C // g, "P": layer.P, "Q": layer.Q, "R": layer.R, "S": layer.S}
        dims = ("N", "M", "C", "P", "Q", "R", "S")
        gr: tuple = ()
        if g > 1:
            dims = ("G",) + dims
            bounds["G"] = g
            gr = ((("G", 1),),)
        w = ((("C", 1),), (("M", 1),), (("R", 1),), (("S", 1),))
        i = ((("N", 1),), (("C", 1),), (("R", coef["Wdilation"]), ("P", coef["Wstride"])),
             (("S", coef["Hdilation"]), ("Q", coef["Hstride"])))
        o = ((("N", 1),), (("M", 1),), (("P", 1),), (("Q", 1),))
        if g > 1:
            w, i, o = gr + w, (i[0],) + gr + i[1:], (o[0],) + gr + o[1:]
        return cls(
            name=layer.name,
            dims=dims,
            bounds=bounds,
            data_spaces=(DataSpace("Weights", w, role=layer.weight_role), DataSpace("Inputs", i, role="activation"),
                         DataSpace("Outputs", o, read_write=True, role="output")),
            coefficients=coef,
        )


#: What a data space's ``role`` may be (``None``: not known).
ROLES = (None, "weight", "activation", "output")


def _check_data_space(problem: Problem, ds: DataSpace) -> None:
    """A data space of ``problem`` is a tuple of ranks, each a non-empty tuple of (known dimension, int >= 0)."""
    ranks = ds.ranks
    # a data space without ranks, or a rank without terms, would silently be a single element
    if type(ranks) is not tuple or not ranks:
        raise EnergySimError(f"problem {problem.name!r}: data space {ds.name}: ranks = {ranks!r} must be a non-empty "
                             "tuple of ranks")
    dims = problem.dims
    for rank in ranks:
        if type(rank) is not tuple or not rank:
            raise EnergySimError(f"problem {problem.name!r}: data space {ds.name}: rank {rank!r} must be a non-empty "
                                 "tuple of (dimension, coefficient) terms")
        for term in rank:
            if type(term) is not tuple or len(term) != 2:
                raise EnergySimError(f"problem {problem.name!r}: data space {ds.name}: term {term!r} must be a "
                                     "(dimension, coefficient) pair")
            d, c = term
            if d not in dims:
                raise EnergySimError(f"problem {problem.name!r}: data space {ds.name} projects unknown dimension {d!r}")
            if type(c) is not int or c < 0:
                raise EnergySimError(f"problem {problem.name!r}: data space {ds.name} coefficient of {d} = {c!r} must "
                                     "be an int >= 0")
    if ds.role not in ROLES:
        raise EnergySimError(f"problem {problem.name!r}: data space {ds.name}: role = {ds.role!r} must be one of "
                             f"{list(ROLES)}")
    if type(ds.read_write) is not bool:
        raise EnergySimError(f"problem {problem.name!r}: data space {ds.name}: read_write = {ds.read_write!r} must be "
                             "true or false")

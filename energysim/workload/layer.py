"""One workload layer as a Timeloop-style 7-D loop nest: ``Layer``, its ``LayerKind`` and the ``MAC_KINDS``.

Conventions (Eyeriss / DESIGN.md): ``N`` batch, ``M`` output channels, ``C`` input channels (all groups),
``P``/``Q`` output height/width, ``R``/``S`` filter height/width. A filter *row* has ``S`` weights.
Inputs[n][c][h][w] with ``h = p*stride_h + r*dilation_h - pad_h`` and ``w = q*stride_w + s*dilation_w - pad_w``.
Linear layers are the case ``P = Q = R = S = 1``. All counts are in elements (words), not bytes.

Every MAC layer is one einsum form (``energysim.model.problem.Problem.from_layer``): a grouped convolution
``Outputs[n][g][m][p][q] += Inputs[n][g][c][p*stride + r*dilation][q*stride + s*dilation] * Weights[g][m][c][r][s]``.
A matrix product of any two tensors (``kind="matmul"``: bmm, einsum, attention's Q·Kᵀ and A·V) fits it with
``R = S = Q = 1``: dimensions that index both operands and the output are groups ``G``, those of the left
operand and the output ``P`` (rows), those of the right operand and the output ``M`` (columns), the summed ones
``C``. ``weight_role`` says whether the operand in the weight position is a parameter or an activation.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

LayerKind = Literal[
    "conv",  # dense convolution (groups == 1)
    "grouped",  # grouped convolution, 1 < groups < C
    "depthwise",  # groups == C == M
    "linear",
    "matmul",  # a product of two tensors (bmm, einsum, attention's Q·Kᵀ and A·V): no parameter needed
    "pool",
    "add",
    "elementwise",  # other element-wise arithmetic (mul, div, exp, ...)
    "reduce",  # mean / sum / max over axes
    "gather",  # embedding lookups
    "concat",
    "activation",
    "norm",
    "unsupported",
]

#: Kinds whose arithmetic is multiply-accumulate: all of them are one einsum form (``Problem.from_layer``).
MAC_KINDS: frozenset[str] = frozenset({"conv", "grouped", "depthwise", "linear", "matmul"})

#: Largest loop bound, stride, padding or tensor extent: the bound of a profile's integers
#: (``energysim.arch.fields.MAX_INT``), far beyond any real layer and far enough from overflow that counts times
#: energies stay finite.
MAX_DIM = 2**40


def _exact_int(v):
    # pydantic would read True as 1, "3" as 3 and 2.0 as 2: a size that is not an integer is the caller's mistake
    if isinstance(v, (bool, str, bytes, float)):
        raise ValueError(f"must be an integer, got {type(v).__name__}")
    return v


def _exact_bool(v):
    # pydantic would read 1, 0.0, "yes" and "off" as booleans
    if not isinstance(v, bool) and isinstance(v, (int, float, str, bytes)):
        raise ValueError(f"must be true or false, got {type(v).__name__}")
    return v


Int = Annotated[int, BeforeValidator(_exact_int), Field(le=MAX_DIM)]
Extent = Annotated[int, BeforeValidator(_exact_int), Field(ge=0, le=MAX_DIM)]


class Layer(BaseModel):
    """One node of the workload graph: loop bounds plus the facts needed to count data movement.

    For layers without weights (pool, add, ...) ``M == C`` is the channel count and ``R``/``S`` the window
    (1 for element-wise ops). ``input_shapes`` keeps the real tensor shapes so that data movement of
    non-MAC layers (and concat/add fan-in) is exact.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: LayerKind
    op: str = Field(description="the torch op or module class this layer came from, e.g. 'Conv2d'")
    N: Int = Field(1, ge=1)
    M: Int = Field(1, ge=1)
    C: Int = Field(1, ge=1)
    P: Int = Field(1, ge=1)
    Q: Int = Field(1, ge=1)
    R: Int = Field(1, ge=1)
    S: Int = Field(1, ge=1)
    H: Int = Field(1, ge=1, description="input height (unpadded)")
    W: Int = Field(1, ge=1, description="input width (unpadded)")
    stride_h: Int = Field(1, ge=1)
    stride_w: Int = Field(1, ge=1)
    dilation_h: Int = Field(1, ge=1)
    dilation_w: Int = Field(1, ge=1)
    pad_h: Int = Field(0, ge=0)
    pad_w: Int = Field(0, ge=0)
    groups: Int = Field(1, ge=1)
    bias: Annotated[bool, BeforeValidator(_exact_bool)] = False
    weight_role: Literal["weight", "activation"] = Field(
        "weight", description="what the operand in the weight position is: a parameter ('weight') or a tensor "
                              "another layer produced ('activation', e.g. K in attention's Q·Kᵀ)")
    input_shapes: tuple[tuple[Extent, ...], ...] = ()
    output_shape: tuple[Extent, ...] = ()
    fused: tuple[str, ...] = Field((), description="ops folded into this layer (BatchNorm, flatten, dropout)")

    @model_validator(mode="after")
    def _check_groups(self) -> "Layer":
        if self.kind in MAC_KINDS and (self.C % self.groups or self.M % self.groups):
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} must divide C={self.C} and M={self.M}"
            )
        # the kind is what reports and metrics group layers by: it must say what the groups make the layer
        if self.kind == "conv" and self.groups != 1:
            raise ValueError(f"layer {self.name!r}: kind='conv' with groups={self.groups}: a grouped convolution is "
                             "'grouped' or 'depthwise'")
        if self.kind == "grouped" and self.groups == 1:
            raise ValueError(f"layer {self.name!r}: kind='grouped' with groups=1: a dense convolution is 'conv'")
        if self.kind == "depthwise" and not self.groups == self.C == self.M:
            raise ValueError(f"layer {self.name!r}: kind='depthwise' needs groups == C == M, got "
                             f"groups={self.groups}, C={self.C}, M={self.M}")
        if self.weight_role == "activation" and self.kind != "matmul":
            raise ValueError(f"layer {self.name!r}: only a matmul layer has an activation in the weight position")
        return self

    # ---- derived counts -------------------------------------------------------------------------------
    @property
    def has_macs(self) -> bool:
        return self.kind in MAC_KINDS

    @property
    def has_weights(self) -> bool:
        """Whether the layer multiplies by parameters (conv, linear, or a matmul by a parameter)."""
        return self.has_macs and self.weight_role == "weight"

    @property
    def data_space_labels(self) -> dict[str, str]:
        """Report names that differ from the einsum's: the weight-position operand of a matmul of two activations
        is ``Inputs2`` (the layer's second input), not ``Weights``."""
        return {"Weights": "Inputs2"} if self.has_macs and self.weight_role == "activation" else {}

    @property
    def c_per_group(self) -> int:
        return self.C // self.groups

    @property
    def macs(self) -> int:
        """Multiply-accumulates: N*M*(C/groups)*P*Q*R*S; 0 for layers without MACs."""
        if not self.has_macs:
            return 0
        return self.N * self.M * self.c_per_group * self.P * self.Q * self.R * self.S

    @property
    def weight_count(self) -> int:
        """Weight elements M*(C/groups)*R*S (bias excluded; see ``bias_count``); 0 without parameters."""
        if not self.has_weights:
            return 0
        return self.M * self.c_per_group * self.R * self.S

    @property
    def bias_count(self) -> int:
        return self.M if (self.has_weights and self.bias) else 0

    @property
    def input_count(self) -> int:
        """Input elements read by the layer (sum over all inputs for add/concat), unpadded."""
        if self.input_shapes:
            return sum(_prod(s) for s in self.input_shapes)
        return self.N * self.C * self.H * self.W

    @property
    def output_count(self) -> int:
        return self.N * self.M * self.P * self.Q

    @property
    def bounds(self) -> dict[str, int]:
        """The 7 loop bounds with C per group (the extent of the reduction loop)."""
        return {"N": self.N, "M": self.M, "C": self.c_per_group, "P": self.P, "Q": self.Q, "R": self.R, "S": self.S}

    def row(self) -> dict:
        """A flat dict for tables and JSON."""
        return {
            "name": self.name,
            "kind": self.kind,
            "op": self.op,
            "N": self.N,
            "M": self.M,
            "C": self.C,
            "P": self.P,
            "Q": self.Q,
            "R": self.R,
            "S": self.S,
            "stride": f"{self.stride_h}x{self.stride_w}",
            "groups": self.groups,
            "macs": self.macs,
            "weights": self.weight_count,
            "inputs": self.input_count,
            "outputs": self.output_count,
        }


def _prod(xs) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p

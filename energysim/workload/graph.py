"""Workload model: layers as Timeloop-style 7-D loop nests, and networks as graphs of layers.

Conventions (Eyeriss / DESIGN.md): ``N`` batch, ``M`` output channels, ``C`` input channels (all groups),
``P``/``Q`` output height/width, ``R``/``S`` filter height/width. A filter *row* has ``S`` weights.
Inputs[n][c][h][w] with ``h = p*stride_h + r*dilation_h - pad_h`` and ``w = q*stride_w + s*dilation_w - pad_w``.
Linear layers are the case ``P = Q = R = S = 1``. All counts are in elements (words), not bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd

LayerKind = Literal[
    "conv",  # dense convolution (groups == 1)
    "grouped",  # grouped convolution, 1 < groups < C
    "depthwise",  # groups == C == M
    "linear",
    "pool",
    "add",
    "concat",
    "activation",
    "norm",
    "unsupported",
]

#: Kinds whose arithmetic is multiply-accumulate over weights.
MAC_KINDS: frozenset[str] = frozenset({"conv", "grouped", "depthwise", "linear"})


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
    N: int = Field(1, ge=1)
    M: int = Field(1, ge=1)
    C: int = Field(1, ge=1)
    P: int = Field(1, ge=1)
    Q: int = Field(1, ge=1)
    R: int = Field(1, ge=1)
    S: int = Field(1, ge=1)
    H: int = Field(1, ge=1, description="input height (unpadded)")
    W: int = Field(1, ge=1, description="input width (unpadded)")
    stride_h: int = Field(1, ge=1)
    stride_w: int = Field(1, ge=1)
    dilation_h: int = Field(1, ge=1)
    dilation_w: int = Field(1, ge=1)
    pad_h: int = Field(0, ge=0)
    pad_w: int = Field(0, ge=0)
    groups: int = Field(1, ge=1)
    bias: bool = False
    input_shapes: tuple[tuple[int, ...], ...] = ()
    output_shape: tuple[int, ...] = ()
    fused: tuple[str, ...] = Field((), description="ops folded into this layer (BatchNorm, flatten, dropout)")

    @model_validator(mode="after")
    def _check_groups(self) -> "Layer":
        if self.kind in MAC_KINDS and (self.C % self.groups or self.M % self.groups):
            raise ValueError(
                f"layer {self.name!r}: groups={self.groups} must divide C={self.C} and M={self.M}"
            )
        return self

    # ---- derived counts -------------------------------------------------------------------------------
    @property
    def has_macs(self) -> bool:
        return self.kind in MAC_KINDS

    @property
    def c_per_group(self) -> int:
        return self.C // self.groups

    @property
    def macs(self) -> int:
        """Multiply-accumulates: N*M*(C/groups)*P*Q*R*S; 0 for layers without weights."""
        if not self.has_macs:
            return 0
        return self.N * self.M * self.c_per_group * self.P * self.Q * self.R * self.S

    @property
    def weight_count(self) -> int:
        """Weight elements M*(C/groups)*R*S (bias excluded; see ``bias_count``)."""
        if not self.has_macs:
            return 0
        return self.M * self.c_per_group * self.R * self.S

    @property
    def bias_count(self) -> int:
        return self.M if (self.has_macs and self.bias) else 0

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


class Network:
    """A workload graph: layers by name plus the edges between them (tensor ``shape`` per edge).

    ``graph`` is the networkx DiGraph view (nodes are layer names carrying ``layer`` attributes, edges carry
    ``shape``). It is built on first use, because importing networkx takes about a tenth of a second and
    reading a network and mapping it never needs it; once built it is kept in step with ``add_layer`` and
    ``replace_layer``. Iteration yields layers in a deterministic topological order (the order the tracer
    met them).
    """

    def __init__(self, name: str, input_shape: tuple[int, ...]):
        self.name = name
        self.input_shape = tuple(input_shape)
        self._layers: dict[str, Layer] = {}  # insertion order = topological order
        self._edges: list[tuple[str, str, tuple[int, ...]]] = []
        self._nodes: set[str] = set()  # the graph's node names: layers and edge sources
        self._graph = None

    @property
    def graph(self):
        if self._graph is None:
            import networkx as nx

            g = nx.DiGraph()
            for name, layer in self._layers.items():
                g.add_node(name, layer=layer)
            for src, dst, shape in self._edges:
                g.add_edge(src, dst, shape=shape)
            self._graph = g
        return self._graph

    def add_layer(self, layer: Layer, inputs: list[tuple[str, tuple[int, ...]]] = ()) -> None:
        if layer.name in self._nodes:
            raise ValueError(f"duplicate layer name {layer.name!r} in network {self.name!r}")
        self._layers[layer.name] = layer
        edges = [(src, layer.name, tuple(shape)) for src, shape in inputs]
        self._edges += edges
        self._nodes.add(layer.name)
        self._nodes.update(src for src, _, _ in edges)
        if self._graph is not None:
            self._graph.add_node(layer.name, layer=layer)
            for src, dst, shape in edges:
                self._graph.add_edge(src, dst, shape=shape)

    def unique_name(self, name: str) -> str:
        """``name``, or ``name#2``, ``name#3``, ... if taken (a module called more than once)."""
        if name not in self._nodes:
            return name
        i = 2
        while f"{name}#{i}" in self._nodes:
            i += 1
        return f"{name}#{i}"

    def replace_layer(self, layer: Layer) -> None:
        """Swap the attributes of an existing node (same name), e.g. after folding an op into it."""
        if layer.name not in self._layers:
            raise KeyError(layer.name)
        self._layers[layer.name] = layer
        if self._graph is not None:
            self._graph.nodes[layer.name]["layer"] = layer

    def __iter__(self) -> Iterator[Layer]:
        return iter(list(self._layers.values()))

    def __len__(self) -> int:
        return len(self._layers)

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._layers[name]
        except KeyError:
            raise KeyError(f"no layer named {name!r} in network {self.name!r}") from None

    @property
    def layers(self) -> list[Layer]:
        return list(self)

    def mac_layers(self) -> list[Layer]:
        return [l for l in self if l.has_macs]

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self)

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd
        return pd.DataFrame([l.row() for l in self])

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self)} layers, {self.macs} MACs)"

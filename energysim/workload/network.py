"""A workload graph: ``Network`` holds the layers of a model by name and the tensor edges between them."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Iterator

from pydantic import ValidationError

from energysim.errors import EnergySimError
from energysim.workload.layer import MAX_DIM, Layer

if TYPE_CHECKING:  # pandas is imported where tables are built (it is slow to import)
    import pandas as pd


class Network:
    """A workload graph: layers by name plus the edges between them (tensor ``shape`` per edge).

    ``graph`` is the networkx DiGraph view (nodes are layer names carrying ``layer`` attributes, edges carry
    ``shape``). It is built on first use, because importing networkx takes about a tenth of a second and
    reading a network and mapping it never needs it; once built it is kept in step with ``add_layer`` and
    ``replace_layer``. Iteration yields layers in a deterministic topological order (the order the tracer
    met them).
    """

    def __init__(self, name: str, input_shape: tuple[int, ...]):
        if not isinstance(name, str):
            raise EnergySimError(f"network name must be a string, got {name!r}")
        self.name = name
        self.input_shape = _shape(input_shape, f"network {name!r}: input_shape")
        self._layers: dict[str, Layer] = {}  # insertion order = topological order
        self._edges: list[tuple[str, str, tuple[int, ...]]] = []
        self._nodes: set[str] = set()  # the graph's node names: layers and edge sources
        self._graph = None
        self._adjacency = None  # (predecessors, successors) by name, built on first use; dropped by add_layer
        #: what became of each op of the source graph (filled by the front ends): source node name -> the layer
        #: it is, or "fused into LAYER", "metadata" (sizes, shapes), "input", "output N of LAYER"; so that a
        #: reader (and a test) can see that no op was dropped
        self.sources: dict[str, str] = {}

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
        """Add ``layer`` fed by ``inputs``: (source node name, tensor shape) per edge; a source that is no layer
        (yet) is a graph input."""
        if not isinstance(layer, Layer):
            raise EnergySimError(f"network {self.name!r}: add_layer takes a Layer, got {layer!r}")
        if layer.name in self._nodes:
            raise EnergySimError(f"duplicate layer name {layer.name!r} in network {self.name!r}")
        edges = []
        for edge in inputs:
            # a bare string would unpack letter by letter into a source and a shape
            if not isinstance(edge, (tuple, list)) or len(edge) != 2 or not isinstance(edge[0], str):
                raise EnergySimError(f"network {self.name!r}: input {edge!r} of layer {layer.name!r} must be a "
                                     "(source name, shape) pair")
            if edge[0] == layer.name:
                raise EnergySimError(f"network {self.name!r}: layer {layer.name!r} cannot feed itself")
            edges.append((edge[0], layer.name,
                          _shape(edge[1], f"network {self.name!r}: shape of input {edge[0]!r} of {layer.name!r}")))
        self._layers[layer.name] = layer
        self._edges += edges
        self._nodes.add(layer.name)
        self._nodes.update(src for src, _, _ in edges)
        self._adjacency = None
        if self._graph is not None:
            self._graph.add_node(layer.name, layer=layer)
            for src, dst, shape in edges:
                self._graph.add_edge(src, dst, shape=shape)

    def _adjacent(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        if self._adjacency is None:
            preds: dict[str, list[str]] = {}
            succs: dict[str, list[str]] = {}
            for src, dst, _ in self._edges:
                # as in the DiGraph: a repeated edge counts once
                if src not in preds.setdefault(dst, []):
                    preds[dst].append(src)
                    succs.setdefault(src, []).append(dst)
            self._adjacency = preds, succs
        return self._adjacency

    def has_node(self, name: str) -> bool:
        """Whether ``name`` is a node of the graph (a layer or an edge's source, such as the input)."""
        return name in self._nodes

    def predecessors(self, name: str) -> list[str]:
        """The nodes with an edge into ``name`` (as ``graph.predecessors``, without building the graph)."""
        return list(self._adjacent()[0].get(name, ()))

    def out_degree(self, name: str) -> int:
        """How many nodes ``name`` has an edge to (as ``graph.out_degree``, without building the graph)."""
        return len(self._adjacent()[1].get(name, ()))

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
        if not isinstance(layer, Layer):
            raise EnergySimError(f"network {self.name!r}: replace_layer takes a Layer, got {layer!r}")
        if layer.name not in self._layers:
            raise EnergySimError(f"network {self.name!r}: no layer named {layer.name!r} to replace")
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

    def to_dict(self) -> dict:
        """The whole network as plain JSON-able data (``from_dict`` rebuilds an equal one): layers in order
        (fields left at their defaults omitted), edges in the order they were added, ``sources``."""
        return {"name": self.name, "input_shape": list(self.input_shape),
                "layers": [l.model_dump(mode="json", exclude_defaults=True) for l in self._layers.values()],
                "edges": [[src, dst, list(shape)] for src, dst, shape in self._edges],
                "sources": dict(self.sources)}

    @classmethod
    def from_dict(cls, d: dict) -> "Network":
        """The network ``to_dict`` gave (each layer validated again)."""
        keys = ("name", "input_shape", "layers", "edges", "sources")
        if not isinstance(d, dict) or set(d) != set(keys):
            got = sorted(map(str, d)) if isinstance(d, dict) else type(d).__name__
            raise EnergySimError(f"network data must be a dict with keys {list(keys)}, got {got}")
        net = cls(d["name"], d["input_shape"])
        for what in ("layers", "edges"):
            if not isinstance(d[what], list):
                raise EnergySimError(f"network {net.name!r}: {what} must be a list, got {d[what]!r}")
        into: dict[str, list] = {}
        for edge in d["edges"]:
            if not isinstance(edge, list) or len(edge) != 3 or not isinstance(edge[1], str):
                raise EnergySimError(f"network {net.name!r}: edge {edge!r} must be [source, destination, shape]")
            into.setdefault(edge[1], []).append((edge[0], edge[2]))
        for i, ld in enumerate(d["layers"]):
            try:
                layer = Layer.model_validate(ld)
            except ValidationError as exc:
                raise EnergySimError(f"network {net.name!r}: layers[{i}]: {_describe(exc)}") from None
            net.add_layer(layer, into.pop(layer.name, []))
        if into:
            raise EnergySimError(f"network {net.name!r}: edges into unknown layers {sorted(into)}")
        src = d["sources"]
        if not isinstance(src, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in src.items()):
            raise EnergySimError(f"network {net.name!r}: sources must map node names to strings, got {src!r}"[:300])
        net.sources = dict(src)
        return net

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self)} layers, {self.macs} MACs)"


def _shape(shape, where: str) -> tuple[int, ...]:
    """``shape`` as a tuple of sizes, each an integer in [0, ``MAX_DIM``] (as a ``Layer``'s tensor shapes)."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise EnergySimError(f"{where} = {shape!r} must be a sequence of sizes")
    shape = tuple(shape)
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not 0 <= d <= MAX_DIM:
            raise EnergySimError(f"{where} = {shape!r} has size {d!r}; sizes must be integers in [0, {MAX_DIM}]")
    return shape


def _describe(exc: ValidationError) -> str:
    """pydantic's errors in one line: ``field = value: what is wrong`` each (its own message spans lines)."""
    parts = []
    for err in exc.errors():
        where = ".".join(map(str, err.get("loc", ())))
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        value = "" if isinstance(err.get("input"), dict) else f" = {err.get('input')!r}"[:90]
        parts.append(f"{where}{value}: {msg}" if where else msg)
    return "; ".join(parts)

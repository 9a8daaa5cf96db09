"""A workload graph: ``Network`` holds the layers of a model by name and the tensor edges between them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from energysim.workload.layer import Layer

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
        self.name = name
        self.input_shape = tuple(input_shape)
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
        if layer.name in self._nodes:
            raise ValueError(f"duplicate layer name {layer.name!r} in network {self.name!r}")
        self._layers[layer.name] = layer
        edges = [(src, layer.name, tuple(shape)) for src, shape in inputs]
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
        net = cls(d["name"], tuple(d["input_shape"]))
        into: dict[str, list] = {}
        for src, dst, shape in d["edges"]:
            into.setdefault(dst, []).append((src, tuple(shape)))
        for ld in d["layers"]:
            layer = Layer.model_validate(ld)
            net.add_layer(layer, into.pop(layer.name, []))
        if into:
            raise ValueError(f"network {net.name!r}: edges into unknown layers {sorted(into)}")
        net.sources = dict(d["sources"])
        return net

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self)} layers, {self.macs} MACs)"

"""A Timeloop v4 ``architecture: {nodes: [...]}`` (``!Container``, ``!Component``, ``!Parallel`` ...) turned
into the flat v0.4 ``subtree``/``local`` form Timeloop's front end hands its model (and ``arch.py`` reads).

What the front end does, and so what this does:

* Nodes are read outer -> inner; a container's ``attributes`` are inherited by everything after it.
* ``spatial: {meshX, meshY}`` replicates a container (or a component) and everything after it; the instance
  count of a component is the product of the meshes above it and its own, its mesh the product per axis.
* A container with a spatial fan-out (meshX * meshY > 1) becomes a dummy storage level
  ``inter_<name>_spatial``, with the instances *above* the container: the place where the fan-out's spatial
  loops sit. A mapping may target the container by its name or by that level's name.
* ``!Parallel`` branches (e.g. Eyeriss's three scratchpads) are read in order, one level after the other;
  which data space each keeps comes from the mapping or the constraints (as in Timeloop's processed input).
* ``constraints`` on a node are collected as mapspace constraints with that node as target.

Unknown keys on a node are errors naming the file, the key path and the value.
"""

from __future__ import annotations

from energysim.errors import EnergySimError
from energysim.interop.timeloop.arch import check_numbers
from energysim.interop.timeloop.keys import join, require_mapping, show, unknown

_CONTAINER_KEYS = ("!", "name", "attributes", "spatial", "constraints", "sparse_optimizations")
_COMPONENT_KEYS = ("!", "name", "class", "attributes", "spatial", "constraints", "required_actions", "enabled",
                   "sparse_optimizations", "area_scale", "energy_scale")
_BRANCH_KEYS = ("!", "nodes")
_SPATIAL_KEYS = ("meshX", "meshY")


def is_v4(arch: dict) -> bool:
    """True for a v4 ``nodes`` architecture (the v0.3/v0.4 form has ``subtree``)."""
    return isinstance(arch, dict) and "nodes" in arch


def flatten_nodes(arch: dict, source: str, path: str = "architecture") -> tuple[dict, dict[str, str], list, dict]:
    """``(architecture in subtree form, target name -> level name, constraints, level name -> key path)``.
    Constraints are ``(target level name, constraint dict, key path)``."""
    arch = require_mapping(arch, source, path)
    for k, v in arch.items():
        if k not in ("version", "nodes"):
            raise unknown(source, join(path, k), v, ("version", "nodes"))
    st = _State(source)
    st.walk(arch.get("nodes"), join(path, "nodes"), {}, 1, 1)
    return {"subtree": [{"name": "system", "local": st.comps}]}, st.names, st.constraints, st.paths


class _State:
    def __init__(self, source: str):
        self.source = source
        self.comps: list[dict] = []
        self.names: dict[str, str] = {}
        self.constraints: list[tuple[str, dict, str]] = []
        self.paths: dict[str, str] = {}

    def walk(self, nodes, path: str, attrs: dict, mx: int, my: int) -> tuple[dict, int, int]:
        """Read ``nodes`` in order; returns the attributes and mesh in force after them."""
        if not isinstance(nodes, list):
            raise EnergySimError(f"{self.source}: {path!r} = {show(nodes)} must be a list of nodes")
        for j, node in enumerate(nodes):
            attrs, mx, my = self.node(node, join(path, j), attrs, mx, my)
        return attrs, mx, my

    def _spatial(self, node: dict, where: str) -> tuple[int, int]:
        sp = require_mapping(node.get("spatial") or {}, self.source, join(where, "spatial"))
        out = []
        for k, v in sp.items():
            if k not in _SPATIAL_KEYS:
                raise unknown(self.source, join(join(where, "spatial"), k), v, _SPATIAL_KEYS)
        for k in _SPATIAL_KEYS:
            v = sp.get(k, 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise EnergySimError(f"{self.source}: {join(join(where, 'spatial'), k)!r} = {show(v)} must be an "
                                     f"integer >= 1")
            out.append(v)
        return out[0], out[1]

    def _constraints(self, node: dict, target: str, where: str) -> None:
        c = node.get("constraints")
        if c is None:
            return
        c = require_mapping(c, self.source, join(where, "constraints"))
        for kind, body in c.items():
            if kind not in ("temporal", "spatial", "dataspace", "utilization"):
                raise unknown(self.source, join(join(where, "constraints"), kind), body,
                              ("temporal", "spatial", "dataspace", "utilization"))
            body = require_mapping(body, self.source, join(join(where, "constraints"), kind))
            self.constraints.append((target, {"target": target, "type": kind, **body},
                                     join(join(where, "constraints"), kind)))

    def node(self, node, where: str, attrs: dict, mx: int, my: int) -> tuple[dict, int, int]:
        node = require_mapping(node, self.source, where)
        tag = node.get("!")
        if tag is None:
            # an untagged node: a component if it has a class, else a container
            tag = "Component" if "class" in node else ("Hierarchical" if "nodes" in node else "Container")
        if tag in ("Parallel", "Hierarchical", "Pipelined"):
            for k, v in node.items():
                if k not in _BRANCH_KEYS:
                    raise unknown(self.source, join(where, k), v, _BRANCH_KEYS)
            if tag == "Pipelined":
                raise EnergySimError(f"{self.source}: {where!r}: !Pipelined nodes are not modelled")
            a, x, y = self.walk(node.get("nodes") or [], join(where, "nodes"), attrs, mx, my)
            return (attrs, mx, my) if tag == "Parallel" else (a, x, y)
        if tag == "Nothing":
            return attrs, mx, my
        keys = _CONTAINER_KEYS if tag == "Container" else _COMPONENT_KEYS
        for k, v in node.items():
            if k not in keys:
                raise unknown(self.source, join(where, k), v, keys)
        if node.get("sparse_optimizations"):
            raise EnergySimError(f"{self.source}: {join(where, 'sparse_optimizations')!r} = "
                                 f"{show(node['sparse_optimizations'])}: sparse optimizations are not modelled")
        name = node.get("name")
        if not isinstance(name, str) or not name:
            raise EnergySimError(f"{self.source}: {join(where, 'name')!r} = {show(name)} must be a name")
        own = require_mapping(node.get("attributes") or {}, self.source, join(where, "attributes"))
        sx, sy = self._spatial(node, where)
        if tag == "Container":
            check_numbers(own, self.source, join(where, "attributes"))
            if sx * sy > 1:
                level = f"inter_{name}_spatial"
                self.comps.append({"name": f"{level}[1..{mx * my}]", "class": "dummy_storage",
                                   "attributes": {"meshX": mx, "meshY": my}})
                self.names[name] = level
                self.names[level] = level
                self._constraints(node, level, where)
            elif node.get("constraints"):
                raise EnergySimError(f"{self.source}: {join(where, 'constraints')!r}: container {name!r} has no "
                                     f"spatial fan-out, so it is not a level a constraint can target")
            return {**attrs, **own}, mx * sx, my * sy
        for k in ("area_scale", "energy_scale"):
            if node.get(k, 1) != 1:
                raise EnergySimError(f"{self.source}: {join(where, k)!r} = {show(node[k])}: only 1 is supported "
                                     f"(energies come from the ERT)")
        mx, my = mx * sx, my * sy
        comp = {"name": f"{name}[1..{mx * my}]", "class": node.get("class", ""),
                "attributes": {**attrs, **own, "meshX": mx, "meshY": my}}
        for k in ("required_actions", "enabled"):
            if k in node:
                comp[k] = node[k]
        for k in ("meshX", "meshY"):
            if k in own and own[k] != comp["attributes"][k]:
                raise EnergySimError(f"{self.source}: {join(join(where, 'attributes'), k)!r} = {show(own[k])} "
                                     f"disagrees with the spatial meshes above it ({comp['attributes'][k]})")
        self.comps.append(comp)
        self.paths[comp["name"]] = where
        self.names[name] = name
        self._constraints(node, name, where)
        return attrs, mx, my

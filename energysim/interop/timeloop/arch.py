"""A Timeloop ``architecture`` (v0.4 processed, or v0.3 spellings) and its ERT (Accelergy's energy reference
table) as our ``HardwareProfile``.

Attributes are read strictly (``keys.py``): those that size or time a level are read (``width``/``depth``,
``datawidth``, ``block_size``, meshes, bandwidths, ``multiple_buffering``); those that only Accelergy's energy
plug-ins or Timeloop's mapper read are accepted and ignored (energies come from the ERT); those that would
change Timeloop's model in ways we do not model must keep their default; anything else is an error. v0.3
spellings (``word-bits``, ``block-size``, ``memory_depth``, instance ranges on subtrees such as
``PE[0..167]``) are read as Timeloop reads them.
"""

from __future__ import annotations

import re

from energysim.arch import HardwareProfile
from energysim.errors import EnergySimError
from energysim.interop.timeloop.keys import canonical, join, require_mapping, show, unknown
from energysim.interop.timeloop.values import number

_INST = re.compile(r"^(?P<name>[^\[]+)(\[(?P<lo>\d+)\.\.(?P<hi>\d+)\])?$")
#: component classes of Timeloop's / Accelergy's network models (XY_NoC, SimpleMulticast, ReductionTree, ...)
_NETWORK = re.compile(r"noc|network|multicast|reduction_?tree")

#: v0.3 (and other accepted) spellings -> the name read here. Timeloop itself looks these up in this order.
ALIASES = {
    "word-bits": "datawidth", "word_bits": "datawidth", "word_width": "datawidth",
    "block-size": "block_size", "n_words": "block_size", "cluster-size": "cluster_size",
    "multiple-buffering": "multiple_buffering", "min-utilization": "min_utilization",
    "num-ports": "num_ports", "num-banks": "num_banks", "read-bandwidth": "read_bandwidth",
    "write-bandwidth": "write_bandwidth", "shared-bandwidth": "shared_bandwidth",
    # two spellings of a capacity in words: two that disagree would be a silent choice
    "size": "entries",
}
#: read: they size, time or replicate a level; each must be (integer?, least, above): a zero clock period or
#: buffering, or a boolean depth, is an error rather than a default.
READ = {"width": (True, 1, None), "depth": (True, 1, None), "memory_width": (True, 1, None),
        "memory_depth": (True, 1, None), "entries": (True, 1, None), "datawidth": (True, 1, None),
        "block_size": (True, 1, None), "meshX": (True, 1, None), "meshY": (True, 1, None),
        "instances": (True, 1, None), "read_bandwidth": (False, None, 0), "write_bandwidth": (False, None, 0),
        "multiple_buffering": (False, 1, None), "global_cycle_seconds": (False, None, 0)}
#: only Accelergy's energy/area estimation or Timeloop's mapper read these; energies come from the ERT.
IGNORED = {"technology", "n_banks", "num_banks", "num_ports", "n_rdwr_ports", "n_rd_ports", "n_wr_ports", "type",
           "update_fifo_depth", "latency", "version", "adder_width", "multiplier_width", "power_gated_at",
           "allow_overbooking", "min_utilization"}
#: they change Timeloop's model; only their default value is supported.
DEFAULT_ONLY = {"cluster_size": (1,), "shared_bandwidth": (None, "-"), "has_power_gating": (False,),
                "reduction_supported": (True,)}
_COMPONENT_KEYS = ("name", "class", "attributes", "required_actions", "enabled")
_NODE_KEYS = ("name", "attributes", "local", "subtree")
_ERT_ACTION_KEYS = ("name", "arguments", "energy")


def _range(name: str, source: str, where: str) -> tuple[str, int]:
    m = _INST.match(name) if isinstance(name, str) else None
    if not m:
        raise EnergySimError(f"{source}: {where!r} = {show(name)} is not a component name (NAME or NAME[lo..hi])")
    n = int(m.group("hi")) - int(m.group("lo")) + 1 if m.group("hi") else 1
    return m.group("name"), n


def _flatten(node: dict, out: list, source: str, path: str, inherited: dict, count: int) -> None:
    """Components outer -> inner, each with its inherited attributes and the instances of its enclosing
    subtrees (v0.3 writes ``PE[0..167]`` on the subtree)."""
    node = require_mapping(node, source, path)
    for k, v in node.items():
        if k not in _NODE_KEYS:
            raise unknown(source, join(path, k), v, _NODE_KEYS)
    own = canonical(require_mapping(node.get("attributes") or {}, source, join(path, "attributes")), ALIASES, source,
                    join(path, "attributes"))
    check_numbers(own, source, join(path, "attributes"))
    attrs = {**inherited, **own}
    _, n = _range(node.get("name", "node"), source, join(path, "name"))
    count *= n
    for j, comp in enumerate(node.get("local") or []):
        out.append((comp, attrs, count, join(join(path, "local"), j)))
    for j, sub in enumerate(node.get("subtree") or []):
        _flatten(sub, out, source, join(join(path, "subtree"), j), attrs, count)


def ert_tables(ert: dict, source: str = "ERT", paths: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Per component name (hierarchy and instance range stripped): action -> pJ per (block) access. ``paths``,
    if given, receives each component's table key path (``ERT.tables[j]``) for error messages."""
    ert = require_mapping(ert, source, "")
    top = ert.get("ERT", ert)
    path = "ERT" if "ERT" in ert else ""
    for k, v in ert.items():
        if k != "ERT" and "ERT" in ert:
            raise unknown(source, k, v, ("ERT",))
    for k, v in require_mapping(top, source, path).items():
        if k not in ("version", "tables"):
            raise unknown(source, join(path, k), v, ("version", "tables"))
    out = {}
    where: dict[str, str] = {}
    for j, t in enumerate(top.get("tables") or []):
        tp = join(join(path, "tables"), j)
        for k, v in require_mapping(t, source, tp).items():
            if k not in ("name", "actions"):
                raise unknown(source, join(tp, k), v, ("name", "actions"))
        name = _label(t.get("name"), source, join(tp, "name"))
        if name in where:
            # one energy per component: a second table would silently replace the first
            raise EnergySimError(f"{source}: {join(tp, 'name')!r} = {show(t.get('name'))}: a second table for "
                                 f"component {name!r} (the first is {where[name]!r})")
        where[name] = tp
        if paths is not None:
            paths[name] = tp
        acts: dict[str, float] = {}
        for i, a in enumerate(t.get("actions") or []):
            ap = join(join(tp, "actions"), i)
            for k, v in require_mapping(a, source, ap).items():
                if k not in _ERT_ACTION_KEYS:
                    raise unknown(source, join(ap, k), v, _ERT_ACTION_KEYS)
            act = a.get("name")
            if not isinstance(act, str) or not act:
                raise EnergySimError(f"{source}: {join(ap, 'name')!r} = {show(act)} must be an action name")
            e = number(a.get("energy"), source, join(ap, "energy"), least=0, strings=True)
            # older ERTs list one entry per argument set (repeated vs random access): price the random one,
            # which is the most expensive, as Timeloop's vector access energy does
            acts[act] = max(acts.get(act, 0.0), e)
        out[name] = acts
    return out


def _label(name, source: str, where: str) -> str:
    """An ERT/ART table's component name, hierarchy and instance range stripped."""
    if not isinstance(name, str) or not name:
        raise EnergySimError(f"{source}: {where!r} = {show(name)} must be a component name")
    return re.sub(r"\[\d+\.\.\d+\]$", "", name).split(".")[-1]


def art_areas(art: dict, source: str) -> dict[str, float]:
    """Per component name (hierarchy and instance range stripped): area of one instance in um^2."""
    art = require_mapping(art, source, "ART")
    for k, v in art.items():
        if k not in ("version", "tables"):
            raise unknown(source, join("ART", k), v, ("version", "tables"))
    out: dict[str, float] = {}
    for j, t in enumerate(art.get("tables") or []):
        p = join("ART.tables", j)
        t = require_mapping(t, source, p)
        for k, v in t.items():
            if k not in ("name", "area", "primitive_estimations"):
                raise unknown(source, join(p, k), v, ("name", "area", "primitive_estimations"))
        out[_label(t.get("name"), source, join(p, "name"))] = number(t.get("area"), source, join(p, "area"), least=0,
                                                                    strings=True)
    return out



def _attributes(inherited: dict, raw, source: str, where: str) -> dict:
    """A component's attributes (its own over those inherited from enclosing subtrees), checked."""
    attrs = {**inherited, **canonical(require_mapping(raw or {}, source, where), ALIASES, source, where)}
    for k, v in attrs.items():
        if k in READ or k in IGNORED:
            continue
        if k.startswith("network"):
            raise EnergySimError(f"{source}: {join(where, k)!r} = {show(v)}: network models (Timeloop's NoC "
                                 f"networks) are not modelled here")
        if k in DEFAULT_ONLY:
            if v not in DEFAULT_ONLY[k]:
                raise EnergySimError(f"{source}: {join(where, k)!r} = {show(v)} is not modelled here (supported: "
                                     f"{' or '.join(show(d) for d in DEFAULT_ONLY[k])})")
            continue
        raise unknown(source, join(where, k), v, set(READ) | IGNORED | set(DEFAULT_ONLY) | set(ALIASES))
    check_numbers(attrs, source, where)  # every component's, the MAC's too: none is read unchecked
    return attrs


def check_numbers(attrs: dict, source: str, where: str) -> None:
    """Raise ``EnergySimError`` for a read attribute of ``attrs`` (at key path ``where``) that is not the number
    ``READ`` says; containers and subtrees check theirs where they are written, before passing them down."""
    for k in READ:
        _num(attrs, k, source, where)


def _num(attrs: dict, key: str, source: str, where: str):
    """A read attribute as the number ``READ`` says it must be; None where absent (``-``: not given)."""
    v = attrs.get(key)
    if v is None or v == "-":
        return None
    whole, least, above = READ[key]
    return number(v, source, join(where, key), least=least, above=above, whole=whole, strings=True)


def _storage_geometry(attrs: dict, source: str, where: str) -> tuple[int, int | None, int | None]:
    """(block size in words, word bits, capacity in words) as Timeloop derives them."""
    # memory_width / memory_depth are Accelergy's physical memory (its smartbuffer rounds them up: Eyeriss's
    # spads have width 16, memory_width 32); Timeloop reads them only where width / depth are not given
    width = _num(attrs, "width", source, where)
    if width is None:
        width = _num(attrs, "memory_width", source, where)
    word = _num(attrs, "datawidth", source, where)
    block = _num(attrs, "block_size", source, where)
    if block is None:
        block = max(1, width // word) if width and word else 1
    elif width and word and block * word != width:
        raise EnergySimError(f"{source}: {where!r}: block size {block} x word bits {word} = {block * word} "
                             f"disagrees with width {width}")
    if word is None and width:
        word = width // block
    depth = _num(attrs, "depth", source, where)
    if depth is None:
        depth = _num(attrs, "memory_depth", source, where)
    words = _num(attrs, "entries", source, where)
    if depth is not None:
        if words is not None and words != depth * block:
            raise EnergySimError(f"{source}: {where!r}: depth {depth} x block {block} disagrees with "
                                 f"entries/size {words}")
        words = depth * block
    return block, word, words


def profile_from_timeloop(spec: dict, ert: dict, name: str = "timeloop", source: str = "timeloop architecture",
                          ert_source: str = "ERT", paths: dict[str, str] | None = None) -> HardwareProfile:
    """A ``HardwareProfile`` from a Timeloop ``architecture`` (or the whole input holding it) and its ERT.
    ``paths`` (component name -> key path) names components in errors when the tree was built from another
    file's layout (case.json)."""
    spec = require_mapping(spec, source, "")
    arch, path = (spec["architecture"], "architecture") if "architecture" in spec else (spec, "")
    arch = require_mapping(arch, source, path)
    for k, v in arch.items():
        if k not in ("version", "subtree"):
            raise unknown(source, join(path, k), v, ("version", "subtree"),
                          why="; the v0.2 'arithmetic'/'storage' layout is not read, write a v0.3/v0.4 subtree"
                          if k in ("arithmetic", "storage") else "")
    comps: list = []
    for j, top in enumerate(arch.get("subtree") or []):
        _flatten(top, comps, source, join(join(path, "subtree"), j), {}, 1)
    table_paths: dict[str, str] = {}
    tables = ert_tables(ert, ert_source, table_paths)
    levels, mac = [], None
    cycle_s = None
    for comp, inherited, count, where in comps:
        comp = require_mapping(comp, source, where)
        where = (paths or {}).get(str(comp.get("name")), where)
        for k, v in comp.items():
            if k not in _COMPONENT_KEYS:
                raise unknown(source, join(where, k), v, _COMPONENT_KEYS)
        if comp.get("enabled", True) is not True:
            raise EnergySimError(f"{source}: {join(where, 'enabled')!r} = {show(comp.get('enabled'))}: disabled "
                                 f"components are not modelled")
        lname, n = _range(comp.get("name"), source, join(where, "name"))
        aw = join(where, "attributes")
        attrs = _attributes(inherited, comp.get("attributes"), source, aw)
        if "global_cycle_seconds" in attrs:
            cycle_s = _num(attrs, "global_cycle_seconds", source, aw)
        if "instances" in attrs:
            given = _num(attrs, "instances", source, aw)
            if "[" in str(comp.get("name")) and given != n:
                raise EnergySimError(f"{source}: {join(aw, 'instances')!r} = {given} disagrees with the name "
                                     f"range of {comp.get('name')!r} ({n})")
            n = given
        n *= count
        cls = comp.get("class")
        if not isinstance(cls, str) or not cls:
            # the class decides storage, DRAM or MAC: another value would silently make an SRAM
            raise EnergySimError(f"{source}: {join(where, 'class')!r} = {show(cls)} must be a component class name")
        cls = cls.lower()
        if _NETWORK.search(cls):
            raise EnergySimError(f"{source}: {join(where, 'class')!r} = {show(comp.get('class'))}: network "
                                 f"components (Timeloop's NoC models) are not modelled here")
        acts = tables.get(lname, {})
        mx = _num(attrs, "meshX", source, aw) or 1
        my = _num(attrs, "meshY", source, aw) or 1
        if mx * my != n:
            if n % mx == 0:
                mx, my = mx, n // mx
            else:
                mx, my = n, 1
        mac_acts = [a for a in acts if a == "compute" or a.startswith("mac")]
        if mac_acts or ("mac" in cls and "dummy" not in cls):
            if not mac_acts:
                raise EnergySimError(f"{ert_source}: no ERT table with a 'compute' action for {lname!r} ({source}: "
                                     f"{where!r}; tables: {sorted(tables)})")
            # older ERTs name the action mac_random / mac_reused; Timeloop prices a compute as the random one
            e = acts.get("compute", acts.get("mac_random", max(acts[a] for a in mac_acts)))
            mac = {"name": lname, "energy_pj": e, "instances": n, "mesh_x": mx, "mesh_y": my}
            continue
        if "dummy" in cls:
            levels.append({"name": lname, "class": "dummy", "instances": n, "mesh_x": mx, "mesh_y": my})
            continue
        if lname not in tables:
            raise EnergySimError(f"{ert_source}: no ERT table for storage level {lname!r} ({source}: {where!r}; "
                                 f"tables: {sorted(tables)})")
        for a in ("read", "write"):
            if a not in acts:
                raise EnergySimError(f"{ert_source}: {table_paths.get(lname, 'ERT')!r}: the ERT table of {lname!r} "
                                     f"has no {a!r} action (it has {sorted(acts)})")
        block, word, words = _storage_geometry(attrs, source, aw)
        kind = "dram" if "dram" in cls else ("regfile" if "rf" in cls or "regfile" in cls else "sram")
        lv = {
            "name": lname, "class": kind, "instances": n, "mesh_x": mx, "mesh_y": my, "block_size": block,
            "depth": None if (words is None or kind == "dram") else int(words),
            "word_bits": word,
            "read_pj": acts["read"], "write_pj": acts["write"],
            # v0.3 ERTs have no update action: Timeloop prices an update as a write there
            "update_pj": acts.get("update", acts["write"]), "leak_pj": acts.get("leak", 0.0),
            "multiple_buffering": _num(attrs, "multiple_buffering", source, aw) or 1.0,
        }
        for k in ("read_bandwidth", "write_bandwidth"):
            v = _num(attrs, k, source, aw)
            if v is not None:
                lv[k] = v
        levels.append(lv)
    if mac is None:
        raise EnergySimError(f"{source}: no compute (MAC) component found")
    clock = 1.0 / cycle_s if cycle_s is not None else 1e9
    return HardwareProfile.from_dict(
        {"name": name, "clock_hz": clock, "word_bits": 8, "levels": levels, "mac": mac},
        source=f"timeloop architecture {name!r}",
    )

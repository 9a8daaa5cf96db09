"""Timeloop input files as users write them: one or more YAML files (or folders of them) merged into one spec,
as ``timeloop-model a.yaml b.yaml ...`` merges its inputs.

Timeloop v4's tags (``!Container``, ``!Component``, ``!Parallel``, ``!Hierarchical``, ``!Nothing``) are read
into plain mappings with a ``"!"`` key naming the tag; any other tag is an error naming the file. Top-level
sections are read (``architecture``, ``problem``, ``mapping``, ``ERT``, ``ART``, the constraint sections),
known to be Accelergy's or the mapper's business and skipped (``compound_components``, ``components``,
``variables``, ``globals``, ``mapper``, ``model``, ...), empty-only (``sparse_optimizations``), or an error
naming the file and the key. A section given by two files is an error naming both (``constraints`` and
``compound_components`` lists are concatenated, as Timeloop does).

Each section remembers the file it came from (``TimeloopSpec.source``) so every later error names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from energysim.errors import EnergySimError
from energysim.interop.timeloop.files import load_mapping
from energysim.interop.timeloop.keys import show, unknown

#: v4 node tags (``!Hierarchical`` is a plain list of nodes; ``!Nothing`` is an empty node).
TAGS = ("Container", "Component", "Parallel", "Hierarchical", "Pipelined", "Nothing")
#: Sections read by ``timeloop run``.
READ = ("architecture", "problem", "mapping", "ERT", "ART", "constraints", "architecture_constraints",
        "mapspace_constraints", "mapspace")
#: Sections only Accelergy, Timeloop's mapper or its front end read (energies come from an ERT; the mapper
#: here is ours, its knobs are our flags).
SKIPPED = ("compound_components", "components", "variables", "globals", "mapper", "model",
           "dumped_by_timeloop_front_end", "ERT_summary", "ART_summary", "flattened_architecture")
EMPTY_ONLY = ("sparse_optimizations",)
_MERGED = ("compound_components", "components")


class _Loader(yaml.SafeLoader):
    """A safe loader that knows Timeloop v4's node tags and nothing else."""


def _tagged(tag: str):
    def construct(loader: yaml.SafeLoader, node):
        if isinstance(node, yaml.MappingNode):
            data = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            data = {"nodes": loader.construct_sequence(node, deep=True)}
        else:
            data = {} if loader.construct_scalar(node) in ("", None) else {"value": loader.construct_scalar(node)}
        return {"!": tag, **data}
    return construct


for _t in TAGS:
    _Loader.add_constructor(f"!{_t}", _tagged(_t))


def _unknown_tag(loader, suffix, node):
    raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{suffix} (known: "
                                            f"{', '.join('!' + t for t in TAGS)})", node.start_mark)


_Loader.add_multi_constructor("!", _unknown_tag)


def load_yaml(path: str | Path) -> dict:
    """One Timeloop YAML file as a mapping; an unreadable, non-YAML or non-mapping file is one clear error."""
    return load_mapping(path, _Loader, "Timeloop YAML")


@dataclass
class TimeloopSpec:
    """The merged sections of a user's Timeloop input files, and the file each came from."""

    sections: dict = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def get(self, key: str, default=None):
        return self.sections.get(key, default)

    def where(self, key: str) -> str:
        """The file a section came from (for error messages)."""
        return self.source.get(key, "timeloop input")

    @classmethod
    def read(cls, paths: list[str | Path], extra: dict[str, str | Path] | None = None) -> "TimeloopSpec":
        """Merge ``paths`` (files, or folders searched for ``*.yaml`` / ``*.yml``). ``extra`` maps a section
        (``ERT``, ``ART``, ``mapping``) to a file that must provide it (``--ert``, ``--mapping``)."""
        spec = cls()
        for p in _expand(paths):
            spec._add(p, load_yaml(p))
        for key, p in (extra or {}).items():
            if p is None:
                continue
            data = load_yaml(p)
            if key in spec.sections:
                raise EnergySimError(f"{str(p)!r}: section {key!r} is also given by {spec.where(key)!r}")
            if key == "ERT" and "ERT" not in data and "tables" in data:
                data = {"ERT": data}
            if key == "ART" and "ART" not in data and "tables" in data:
                data = {"ART": data}
            if key not in data:
                raise EnergySimError(f"{str(p)!r}: no {key!r} section (given as the {key} file)")
            others = {k: v for k, v in data.items() if k != key}
            for k, v in others.items():
                if k not in ("version",):
                    raise unknown(str(p), k, v, (key,), why=f" (the {key} file holds only {key!r})")
            spec._add(Path(p), {key: data[key]})
        return spec

    def _add(self, path: Path, data: dict) -> None:
        src = str(path)
        self.files.append(src)
        for k, v in data.items():
            if k in EMPTY_ONLY:
                if v:
                    raise EnergySimError(f"{src}: {k!r} = {show(v)}: sparse optimizations are not modelled")
                continue
            if k not in READ + SKIPPED:
                raise unknown(src, k, v, READ + SKIPPED + EMPTY_ONLY)
            if k == "mapping" and not v:
                continue  # a mapper run's processed input has an empty mapping: not given
            if k in self.sections:
                if k in _MERGED:
                    continue
                if k in ("constraints", "architecture_constraints", "mapspace_constraints"):
                    self.sections[k] = {"targets": constraint_list(self.sections[k], self.where(k), k)
                                        + constraint_list(v, src, k)}
                    continue
                raise EnergySimError(f"{src}: section {k!r} is also given by {self.where(k)!r}")
            self.sections[k] = v
            self.source[k] = src


def constraint_list(section, source: str, key: str) -> list:
    """The constraint list of a constraints section (``{targets: [...]}`` or a bare list); another shape is an
    error naming the file and the section."""
    if isinstance(section, dict):
        for k, v in section.items():
            if k not in ("targets", "version"):
                raise unknown(source, f"{key}.{k}", v, ("targets", "version"))
        section = section.get("targets")
    if section is None:
        return []
    if not isinstance(section, list):
        raise EnergySimError(f"{source}: {key!r} = {show(section)} must be a list of constraints")
    return list(section)


def _expand(paths) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")])
            if not found:
                raise EnergySimError(f"{str(p)!r}: a folder without any .yaml file")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise EnergySimError(f"{str(p)!r}: no such file or folder")
    if not out:
        raise EnergySimError("no Timeloop input files given")
    return out

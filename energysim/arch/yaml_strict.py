"""A YAML loader for the files a user writes (profiles): a key given twice in one mapping is an error, not the
last value silently winning as in PyYAML's ``SafeLoader``."""

from __future__ import annotations

import yaml


class StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that rejects a key given twice in one mapping (``yaml.constructor.ConstructorError``
    naming the key and both lines). A key merged in (``<<: *anchor``) may still be overridden."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not key_node:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice (first on line {first.start_mark.line + 1})",
                key_node.start_mark)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def one_line(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's own text spans several, with a caret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = "; ".join(x for x in (exc.context, exc.problem) if x)
        return f"{what}{where}"
    return " ".join(str(exc).split())

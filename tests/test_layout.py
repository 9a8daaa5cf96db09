"""The package layout's rules (docs/concepts.md, "Layout"), checked on the source: no import cycles in
``energysim`` or ``dkm`` (module-level and function-level imports alike), each stage of ``energysim`` imports
only from its own stage and the stages before it, ``energysim`` never imports ``dkm``, no ``.py`` file over 500
lines except numba kernel files that say why, and at most 6 ``.py`` files directly in ``energysim/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: energysim's stages in flow order; a module may import from its own stage and the ones before it. The
#: package's own ``__init__``/``__main__`` (the public API) come last.
STAGES = ["errors", "workload", "arch", "model", "mapping", "costs", "analysis", "interop", "cli"]
MAX_LINES = 500
KERNEL_MARK = "numba kernel file"


def _modules(pkg: str) -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / pkg).rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ``known`` that ``name`` imports anywhere in its source (``from X import y`` counts as
    importing ``X.y`` when that is a module, else ``X``)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                mod = node.module
            for a in node.names:
                out.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return {m for m in out if m in known and m != name}


def _graph(pkg: str) -> dict[str, set[str]]:
    mods = _modules(pkg)
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


@pytest.mark.parametrize("pkg", ["energysim", "dkm"])
def test_no_import_cycles(pkg):
    cycle = _cycle(_graph(pkg))
    assert cycle is None, " -> ".join(cycle)


def _stage(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__", "hw_profiles"):
        return len(STAGES)
    return STAGES.index(parts[1])


def test_stages_import_only_earlier_stages():
    bad = [f"{m} ({STAGES[_stage(m)]}) imports {n} ({STAGES[_stage(n)]})"
           for m, deps in _graph("energysim").items() if _stage(m) < len(STAGES)
           for n in deps if _stage(n) > _stage(m)]
    assert not bad, "\n".join(bad)


def test_energysim_never_imports_dkm():
    for m, p in _modules("energysim").items():
        imported = set()
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
        assert "dkm" not in imported, m


def test_every_stage_folder_is_known():
    folders = {p.name for p in (ROOT / "energysim").iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders <= set(STAGES), folders - set(STAGES)


@pytest.mark.parametrize("pkg", ["energysim", "dkm"])
def test_file_sizes(pkg):
    for p in _modules(pkg).values():
        text = p.read_text()
        n = len(text.splitlines())
        if n > MAX_LINES:
            assert KERNEL_MARK in text.split('"""')[1], f"{p.relative_to(ROOT)}: {n} lines"


def test_few_files_at_the_top_of_energysim():
    top = sorted(p.name for p in (ROOT / "energysim").glob("*.py"))
    assert len(top) <= 6, top

"""The package's architecture, checked: no import cycles between modules, no private name imported from another module.

The layer order and "no Qt below the GUI" are import-linter contracts in pyproject.toml, which the
test command runs before pytest (scripts/dev.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rnnbow_desktop"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import in a file, at any depth."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports under `if TYPE_CHECKING:` are for annotations only and never run.
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, names, _line in imports_of(path):
            candidates = [f"{target}.{n}" for n in names] + [target]
            for candidate in candidates:
                if candidate in MODULES and candidate != name:
                    graph[name].add(candidate)
                    break
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of modules that import each other in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules():
    # A package's __init__ may re-export its own modules; a cycle through it is still a cycle.
    assert strongly_connected(internal_graph()) == []


def test_no_private_name_is_imported_from_another_module():
    offences = []
    for name, path in MODULES.items():
        for target, names, line in imports_of(path):
            if not target.startswith("rnnbow_desktop"):
                continue
            offences += [f"{path.relative_to(PACKAGE.parent)}:{line} imports {n} from {target}"
                         for n in names if n.startswith("_") and not n.startswith("__")]
    assert offences == []


@pytest.mark.parametrize("layer", ["core", "analysis", "storage", "api"])
def test_lower_layers_do_not_import_qt_even_lazily(layer):
    # import-linter sees module-level and function-level imports alike; this is a second, simpler check.
    qt = [f"{path.relative_to(PACKAGE.parent)}:{line}" for name, path in MODULES.items() if name.startswith(f"rnnbow_desktop.{layer}")
          for target, _names, line in imports_of(path) if target.split(".")[0] in ("PySide6", "pyqtgraph")]
    assert qt == []

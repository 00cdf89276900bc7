"""The shape of the code, checked: Textual stays in ui/, no import circles, small modules,
no attribute probing of the engine.

Every module is found with ``pkgutil.walk_packages``, so a new subpackage is
checked without being listed here. Imports are read from each module's AST,
top-level and inside functions alike.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

import tui_llm

DOMAIN = ("machine", "models", "hub", "engine", "prompts", "chat")
MAX_LINES = 500

# Exceptions, each with its reason; empty today. A new entry needs a reason as good.
TOO_LONG_FOR_NOW: set[str] = set()
KNOWN_MODULE_CYCLES: set[frozenset[str]] = set()
KNOWN_PACKAGE_CYCLES: set[frozenset[str]] = set()


def _module_files() -> dict[str, Path]:
    files = {"tui_llm": Path(tui_llm.__file__)}
    for info in pkgutil.walk_packages(tui_llm.__path__, "tui_llm."):
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        files[info.name] = Path(spec.origin)
    return files


MODULES = _module_files()
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _typing_only_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _package(module: str) -> str:
    """The first-level package: ``tui_llm.machine.fit`` -> ``machine``."""
    return module.split(".")[1] if "." in module else ""


def _owner(name: str) -> str:
    """The module a dotted name lives in (``tui_llm.ui.screens.registered_screens`` -> ``tui_llm.ui.screens``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, with_typing: bool) -> dict[str, int]:
    """The tui_llm modules ``module`` imports, each with the line of its first import."""
    tree = TREES[module]
    skip = set() if with_typing else _typing_only_nodes(tree)
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + [base] if base else parts)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target == "tui_llm" or target.startswith("tui_llm."):
                owner = _owner(target)
                if owner != module:
                    found.setdefault(owner, node.lineno)
    return found


def _graph(with_typing: bool) -> dict[str, dict[str, int]]:
    return {module: _imports(module, with_typing) for module in MODULES}


def _cycles(graph: dict[str, set[str]] | dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest cycle per strongly connected group of nodes, as a path back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph, group: set[str]) -> list[str]:
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt in group and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def _describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:])]
    return "\n  ".join(steps)


# --- Textual only in ui/, llama_cpp only when a model loads ---------------------------------

def _imported_after(modules: list[str]) -> set[str]:
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _outside_ui() -> list[str]:
    return sorted(
        name for name in MODULES
        if name != "tui_llm.__main__" and name != "tui_llm.ui" and not name.startswith("tui_llm.ui.")
    )


def test_every_subpackage_is_walked():
    for package in (*DOMAIN, "commands", "ui", "ui.screens", "ui.widgets", "ui.dialogs"):
        assert f"tui_llm.{package}" in MODULES
    assert "tui_llm.ui.screens.home" in MODULES


def test_only_ui_imports_textual_and_nothing_imports_llama_cpp_at_import_time():
    loaded = _imported_after(_outside_ui())
    assert "textual" not in loaded
    assert "llama_cpp" not in loaded, "llama_cpp must be imported lazily"


def test_ui_does_import_textual():
    # The check above can fail: importing the UI does pull Textual in.
    assert "textual" in _imported_after(["tui_llm.ui.app"])


# --- no import circles -----------------------------------------------------------------------

@pytest.mark.parametrize("with_typing", [False, True], ids=["runtime", "with-type-checking"])
def test_no_module_import_cycles(with_typing):
    """``runtime`` is what Python executes; ``with-type-checking`` also counts imports made for
    annotations only, which still tie two modules together in a reader's head."""
    graph = _graph(with_typing)
    cycles = [c for c in _cycles(graph) if frozenset(c) not in KNOWN_MODULE_CYCLES]
    assert not cycles, "import cycles:\n  " + "\n\n  ".join(_describe(c, graph) for c in cycles)


def test_domain_packages_form_no_cycle():
    graph = _graph(with_typing=True)
    packages: dict[str, set[str]] = {p: set() for p in DOMAIN}
    why: dict[tuple[str, str], str] = {}
    for module, imported in graph.items():
        source = _package(module)
        for target in imported:
            dest = _package(target)
            if source in DOMAIN and dest in DOMAIN and source != dest:
                packages[source].add(dest)
                why.setdefault((source, dest), f"{module} imports {target}")
    cycles = [c for c in _cycles(packages) if frozenset(c) not in KNOWN_PACKAGE_CYCLES]
    assert not cycles, "package cycles:\n" + "\n".join(
        " -> ".join(c) + ": " + "; ".join(why[a, b] for a, b in zip(c, c[1:])) for c in cycles
    )


def test_domain_never_imports_the_ui_or_the_cli():
    offenders = [
        f"{module} imports {target}"
        for module, imported in _graph(with_typing=True).items()
        if _package(module) in DOMAIN
        for target in imported
        if _package(target) in {"ui", "commands", "cli", "app_factory"}
    ]
    assert not offenders, offenders


def test_the_cycle_finder_finds_cycles():
    # The tests above pass on an empty answer: show the finder reports a real cycle, with its path.
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert "a (line 1) -> b" in _describe(["a", "b", "c", "a"], graph)
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


# --- small modules ------------------------------------------------------------------------

def test_no_module_over_500_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    offenders = sorted(
        (f"{name}: {lines} lines" for name, lines in sizes.items()
         if lines > MAX_LINES and name not in TOO_LONG_FOR_NOW),
    )
    assert not offenders, offenders


# --- no attribute probing of the engine ---------------------------------------------------

def _probes_runner(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"} and node.args):
        return False
    target = node.args[0]
    return (isinstance(target, ast.Name) and target.id == "runner") or (
        isinstance(target, ast.Attribute) and target.attr == "runner"
    )


def test_the_runner_is_never_probed_with_getattr():
    """The engine contract declares capabilities; code asks them, not ``getattr(runner, ...)``."""
    offenders = [
        f"{MODULES[name]}:{node.lineno}: {ast.unparse(node)}"
        for name, tree in TREES.items()
        for node in ast.walk(tree)
        if _probes_runner(node)
    ]
    assert not offenders, offenders


def test_the_probe_check_can_fail():
    tree = ast.parse("getattr(self.app.runner, 'x', None)\nhasattr(runner, 'y')\ngetattr(self.config, 'z')")
    assert [ast.unparse(n) for n in ast.walk(tree) if _probes_runner(n)] == [
        "getattr(self.app.runner, 'x', None)", "hasattr(runner, 'y')",
    ]

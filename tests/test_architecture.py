"""The package's shape: no import cycles, no private names used across modules, light modules stay light."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import diarize

PACKAGE = Path(diarize.__file__).parent

# The model stack: none of it may load before a stage runs.
HEAVY = ("torch", "pyannote.audio", "faster_whisper", "whisper", "ctranslate2")

# Names one module may take from another although they are private: (importer, module, name).
SHARED_PRIVATE: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("diarize.bench.child", "diarize.batch.local", "_exit_reason"),
        ("diarize.bench.child", "diarize.batch.local", "_die_with_parent"),
    }
)


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, importer: str, modules: dict[str, Path]) -> str:
    """The module an ``from … import`` names, with relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if modules[importer].name != "__init__.py":
        package.pop()
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def _targets(node: ast.Import | ast.ImportFrom, importer: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules an import statement loads (a name imported from a package may be a module)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = _absolute(node, importer, modules)
    targets = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            targets.add(f"{base}.{alias.name}")
        elif base in modules:
            targets.add(base)
    return targets


def _import_time_imports(body: list[ast.stmt], importer: str, modules: dict[str, Path]) -> set[str]:
    """Imports run when the module is imported: not those under ``if TYPE_CHECKING`` or inside functions."""
    found: set[str] = set()
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= _targets(node, importer, modules)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node):
            found |= _import_time_imports(node.orelse, importer, modules)
        else:
            for block in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(node, block, None)
                if isinstance(inner, list):
                    found |= _import_time_imports(inner, importer, modules)
    return found


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of the package it imports at import time}``."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = _import_time_imports(tree.body, name, modules) - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, …, a]``) through each strongly connected group of modules."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return [_cycle_through(group, graph) for group in groups]


def _cycle_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle inside ``group`` starting at its first member (breadth-first)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no cycle through {start}")  # unreachable for a strongly connected group


def test_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "diarize.config" in graph and "diarize.speakers.diarization" in graph
    assert "diarize.speakers.options" in graph["diarize.config"]
    assert "diarize.asr.options" in graph["diarize.config"]
    # function-level imports do not count: the speaker stage loads pyannote lazily
    assert "diarize.speakers.pyannote" not in graph["diarize.speakers.diarization"]


def test_cycle_finder_names_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e2"}, "e2": {"e"}}
    cycles = sorted(find_cycles(graph))
    assert cycles == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def _private_uses() -> list[tuple[str, str, str, int]]:
    """``(importer, module, name, line)`` for every private name a module takes from another module."""
    modules = _modules()
    uses = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or node.level):
                base = _absolute(node, importer, modules)
                for alias in node.names:
                    if f"{base}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
                    elif base in modules and alias.name.startswith("_") and not alias.name.startswith("__"):
                        uses.append((importer, base, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                uses.append((importer, aliases[node.value.id], node.attr, node.lineno))
    return [use for use in uses if use[0] != use[1]]


def test_no_private_names_across_modules() -> None:
    uses = [u for u in _private_uses() if u[:3] not in SHARED_PRIVATE]
    assert not uses, "private names used from another module: " + "; ".join(
        f"{importer}:{line} uses {module}.{name}" for importer, module, name, line in uses
    )


def _loaded_after(statement: str) -> list[str]:
    code = f"{statement}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@pytest.mark.parametrize(
    "module",
    ["diarize.config", "diarize.types", "diarize.writers", "diarize.cli", "diarize.speakers", "diarize.asr"],
)
def test_light_modules_load_no_model_stack(module: str) -> None:
    assert _loaded_after(f"import {module}") == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_loads_no_model_stack(argv: list[str]) -> None:
    statement = (
        f"import contextlib, io, sys\nsys.argv = ['diarize', *{argv!r}]\nfrom diarize.cli import main\n"
        "try:\n    with contextlib.redirect_stdout(io.StringIO()):\n        main()\n"
        "except SystemExit as exit:\n    assert exit.code in (0, None), exit.code"
    )
    assert _loaded_after(statement) == []


def test_importing_the_pyannote_adapter_switches_nothing_off() -> None:
    """Hub access is switched off by the model loaders and the pipeline factory, not as a side effect of an import."""
    switches = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY")
    code = (
        "import os\nimport diarize.speakers.pyannote\n"
        f"print(' '.join(k for k in {switches!r} if k in os.environ))"
    )
    env = {k: v for k, v in os.environ.items() if k not in switches}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == []

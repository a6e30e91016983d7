"""The package's imports (function-local ones included) flow one way: no cycle between packages or modules, and
the target-task protocol sits below the methods (baselines, controller) and the tables (comparison)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "degaml"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module → the degaml modules it imports (anywhere in the file)."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("degaml"):
                found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("degaml")}
        out[name] = {m for m in found if m in modules and m != name}
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in _imports().items():
        packages.setdefault(_package(module), set()).update(_package(t) for t in targets if _package(t) != _package(module))
    assert _cycle(packages) is None


def test_no_import_cycle_between_modules():
    graph = {m: {t for t in ts if t != "degaml"} for m, ts in _imports().items()}  # `degaml` itself: the version
    assert _cycle(graph) is None
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]  # the check sees a cycle when there is one


def test_the_protocol_sits_below_the_methods_and_the_tables():
    edges = {(_package(m), _package(t)) for m, ts in _imports().items() for t in ts}
    for above in ("baselines", "controller", "comparison", "cli"):
        assert ("protocol", above) not in edges
    assert ("baselines", "comparison") not in edges and ("controller", "comparison") not in edges
    assert ("baselines", "protocol") in edges and ("comparison", "baselines") in edges

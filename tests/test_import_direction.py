"""Imports run one way: api → services → engine → drivers/dataplane/store, and nothing upward.

Every module of minicvm/ is read with `ast` (no import is executed), so imports inside functions and
under TYPE_CHECKING count too: a type-only import upward is still a dependency upward, and a lazy one is
how cycles hide."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "minicvm"

# The layer map, top first. A module may import from its own layer and from the layers below it.
# Units in a layer marked `independent` may not import each other either.
LAYERS: list[tuple[str, frozenset[str], bool]] = [
    # Wiring and the top-level surfaces: only these know every part.
    ("wiring", frozenset({"minicvm.cloud", "minicvm.server", "minicvm.cli", "minicvm.__main__", "minicvm.metrics",
                          "minicvm.console", "minicvm.testing", "minicvm.tccli_profile"}), False),
    ("api", frozenset({"minicvm.api"}), False),
    ("services", frozenset({"minicvm.services"}), False),
    # Durable operations, the runner and the reconcilers (Auto Scaling, CLB controller).
    ("engine", frozenset({"minicvm.engine", "minicvm.accounts", "minicvm.principals"}), False),
    # What the engine drives: guests, the CLB data plane, the database. None knows the others.
    ("infrastructure", frozenset({"minicvm.drivers", "minicvm.dataplane", "minicvm.store"}), True),
    # Rules and tables without I/O (lifecycle, catalog, keys): usable from every layer above.
    ("domain", frozenset({"minicvm.domain"}), False),
    # Leaves every layer may use.
    ("base", frozenset({"minicvm", "minicvm.claims", "minicvm.config", "minicvm.errors", "minicvm.fdlimit", "minicvm.ids",
                        "minicvm.timefmt"}), False),
]
RANK = {unit: rank for rank, (_name, units, _ind) in enumerate(LAYERS) for unit in units}
LAYER_NAME = {unit: name for name, units, _ind in LAYERS for unit in units}
INDEPENDENT = {unit for _name, units, independent in LAYERS if independent for unit in units}


def unit_of(module: str) -> str | None:
    """The layer map's entry a module belongs to: its longest listed prefix (the bare package `minicvm`
    only for itself, so that a new top-level module must be placed in the map)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        candidate = ".".join(parts[:end])
        if candidate in RANK:
            return candidate
    return module if module == "minicvm" else None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(module: str, source: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, module) for every import anywhere in the source; `from a import b` yields a.b as well as a,
    since b may be a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name
            if node.module is not None:
                yield node.lineno, base


def sources() -> Iterator[tuple[str, str, bool]]:
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # Alembic's scripts: run by Alembic, imported by nothing
        yield module_name(path), path.read_text(), path.name == "__init__.py"


def unit_edges(modules: Iterable[tuple[str, str, bool]]) -> Iterator[tuple[str, int, str, str]]:
    """(importing module, line, its unit, imported unit) for every import between two units."""
    for module, source, is_package in modules:
        here = unit_of(module)
        assert here is not None, f"{module} is in no layer: place it in LAYERS"
        seen: set[tuple[int, str]] = set()
        for line, target in imported_modules(module, source, is_package):
            if target != "minicvm" and not target.startswith("minicvm."):
                continue
            there = unit_of(target)
            assert there is not None, f"{module}:{line} imports {target}, which is in no layer: place it in LAYERS"
            if there != here and (line, there) not in seen:
                seen.add((line, there))
                yield module, line, here, there


def violations(modules: Iterable[tuple[str, str, bool]]) -> list[str]:
    found = []
    for module, line, here, there in unit_edges(modules):
        if RANK[there] < RANK[here]:
            found.append(f"{module}:{line} imports {there} ({LAYER_NAME[there]}, above {LAYER_NAME[here]})")
        elif here in INDEPENDENT and there in INDEPENDENT:
            found.append(f"{module}:{line} imports {there} ({LAYER_NAME[here]} units do not know each other)")
    return found


def cycles(modules: Iterable[tuple[str, str, bool]]) -> list[list[str]]:
    """Groups of units that import each other, directly or round about."""
    graph: dict[str, set[str]] = {}
    for _module, _line, here, there in unit_edges(modules):
        graph.setdefault(here, set()).add(there)
        graph.setdefault(there, set())
    return strongly_connected(graph)


def module_cycles(modules: Iterable[tuple[str, str, bool]], within: str) -> list[list[str]]:
    """Groups of modules under `within` that import each other, directly or round about."""
    inside = [m for m in modules if m[0] == within or m[0].startswith(within + ".")]
    names = {m[0] for m in inside}
    graph = {module: {t for _line, t in imported_modules(module, source, is_package) if t in names and t != module}
             for module, source, is_package in inside}
    return strongly_connected(graph)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_runs_downward() -> None:
    assert violations(sources()) == []


def test_no_cycle_between_units() -> None:
    assert cycles(sources()) == []


def test_no_cycle_between_engine_modules() -> None:
    # The engine once reached its peers through lazy imports (runner <-> changes); they stay out.
    assert module_cycles(list(sources()), "minicvm.engine") == []


@pytest.mark.parametrize(("module", "source"), [
    ("minicvm.engine.runner", "from minicvm.cloud import Cloud"),
    ("minicvm.engine.runner", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from minicvm.cloud import Cloud"),
    ("minicvm.engine.runner", "def later():\n    import minicvm.services.dispatch"),
    ("minicvm.dataplane.plane", "from minicvm.engine import clb_controller"),
    ("minicvm.dataplane.plane", "from minicvm.store.db import Store"),
    ("minicvm.services.dispatch", "from minicvm.api import params"),
    ("minicvm.engine.scaling.membership", "from ...dataplane import control\nfrom ... import cloud"),
])
def test_an_upward_import_is_caught(module: str, source: str) -> None:
    assert violations([(module, source, False)])


def test_a_cycle_is_caught() -> None:
    planted = [("minicvm.engine.runner", "from minicvm.dataplane.model import Health", False),
               ("minicvm.dataplane.plane", "from minicvm.engine.events import Bus", False),
               ("minicvm.cloud", "from minicvm.engine.runner import Runner", False)]
    assert cycles(planted) == [["minicvm.dataplane", "minicvm.engine"]]


def test_a_lazy_cycle_inside_the_engine_is_caught() -> None:
    planted = [("minicvm.engine.runner", "from minicvm.engine.changes import apply_changes", False),
               ("minicvm.engine.changes", "def later():\n    from minicvm.engine.runner import Runner", False)]
    assert module_cycles(planted, "minicvm.engine") == [["minicvm.engine.changes", "minicvm.engine.runner"]]

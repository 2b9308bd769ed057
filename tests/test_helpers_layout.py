"""Shared test helpers live in tests/support/, so that a test module can be changed, split or deleted
without breaking another that borrowed its helpers."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(TESTS)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[-1].startswith("test_") or n.startswith("tests.test_")]
    assert not offenders, "move shared helpers to tests/support/: " + "; ".join(offenders)

"""Only store/ speaks SQL, and its SQL text never contains a value: values are bound."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "cvmigrate"
STORE_FILES = sorted((SRC / "store").glob("*.py"))
# Names that may be interpolated into SQL text: constant column lists and clause
# fragments assembled from constant strings with "?" placeholders.
ALLOWED_NAMES = {"_RUN_COLUMNS", "_COLUMNS", "where", "condition"}


def _is_placeholder_join(node: ast.expr) -> bool:
    # ', '.join('?' * n)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.BinOp)
        and isinstance(node.args[0].left, ast.Constant)
        and node.args[0].left.value == "?"
    )


def _is_int_conversion(node: ast.expr) -> bool:
    # int(x): PRAGMA values cannot be bound, and an int cannot carry SQL.
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "int"


def _sql_arguments(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in {"execute", "executemany"} and node.args:
                yield node.args[0]


@pytest.mark.parametrize("path", STORE_FILES, ids=lambda p: p.name)
def test_store_sql_text_has_no_interpolated_values(path):
    tree = ast.parse(path.read_text())
    for arg in _sql_arguments(tree):
        for part in ast.walk(arg):
            if isinstance(part, ast.FormattedValue):
                value = part.value
                ok = (
                    (isinstance(value, ast.Name) and value.id in ALLOWED_NAMES)
                    or _is_placeholder_join(value)
                    or _is_int_conversion(value)
                )
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                    # " AND ".join(clauses): clauses hold constant text only (checked by review)
                    ok = ok or (value.func.attr == "join" and isinstance(value.args[0], ast.Name))
                assert ok, f"{path.name}:{part.lineno}: interpolated {ast.unparse(value)!r}"


def test_only_store_speaks_sql():
    offenders = []
    for path in SRC.rglob("*.py"):
        if "store" in path.relative_to(SRC).parts or "proto" in path.relative_to(SRC).parts:
            continue
        if ".execute(" in path.read_text():
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []

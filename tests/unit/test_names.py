"""Reason codes and tag names are spelled in one module each.

A reason code lives in ``mlops_core.reasons`` and an ``mlops.*`` tag or event
name in ``tasks.tags``; any other module uses the constants. A string literal
elsewhere would drift from the contract silently (a renamed code no longer
matches, a typo in a tag key writes a tag nobody reads), so these tests read
every module's syntax tree and fail on one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlops_core.reasons import ReasonCode

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "tasks", "mlops_core", "bench")
TAGS_MODULE = Path("tasks/tags.py")
REASONS_MODULE = Path("mlops_core/reasons.py")
#: Words spelled like a reason code that name something else: an approval answer,
#: a kind of contract change, the promotion column of a superseded decision, a
#: validation rule. Allowed as literals, but never where a code is set or compared.
SAME_SPELLING = frozenset(
    {
        "approved",
        "superseded",
        "empty_batch",
        "column_added",
        "column_dropped",
        "type_changed",
        "range_widened",
        "range_narrowed",
        "category_added",
        "category_removed",
    }
)
CODE_NAMES = frozenset({"code", "codes", "rule", "trigger", "reason_codes"})


def _modules() -> list[Path]:
    return sorted(p.relative_to(REPO) for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _names_a_code(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in CODE_NAMES
    return isinstance(node, ast.Name) and node.id in CODE_NAMES


def _code_contexts(tree: ast.AST) -> list[ast.AST]:
    """Expressions where a string is a reason code: ``code=...`` and comparisons with codes."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in CODE_NAMES:
            found.append(node.value)
        elif isinstance(node, ast.Compare) and any(
            _names_a_code(n) for n in (node.left, *node.comparators)
        ):
            found.append(node)
    return found


def test_modules_are_found() -> None:
    modules = _modules()
    assert TAGS_MODULE in modules and REASONS_MODULE in modules and len(modules) > 50


def test_no_mlops_tag_or_event_literal_outside_the_tags_module() -> None:
    offenders = [
        f"{path}:{node.lineno}: {node.value!r}"
        for path in _modules()
        if path != TAGS_MODULE
        for node in _strings(ast.parse((REPO / path).read_text()))
        if node.value.startswith("mlops.")
    ]
    assert offenders == [], "use the constants in tasks/tags.py"


def test_no_reason_code_literal_outside_the_reasons_module() -> None:
    codes = {c.value for c in ReasonCode}
    offenders = []
    for path in _modules():
        if path == REASONS_MODULE:
            continue
        tree = ast.parse((REPO / path).read_text())
        in_context = {id(n) for ctx in _code_contexts(tree) for n in _strings(ctx)}
        offenders += [
            f"{path}:{node.lineno}: {node.value!r}"
            for node in _strings(tree)
            if node.value in codes and (node.value not in SAME_SPELLING or id(node) in in_context)
        ]
    assert offenders == [], "use ReasonCode members from mlops_core/reasons.py"


def test_the_checks_catch_a_literal() -> None:
    # The scan itself must see a code set, a code compared and a tag key.
    tree = ast.parse(
        'Reason(code="approved")\nif r.code == "no_decay": pass\nt = {"mlops.period": 1}'
    )
    in_context = {n.value for ctx in _code_contexts(tree) for n in _strings(ctx)}
    assert {"approved", "no_decay"} <= in_context
    assert any(n.value.startswith("mlops.") for n in _strings(tree))

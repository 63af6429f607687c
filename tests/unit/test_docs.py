"""The documentation names what the code defines, and points only inside the repository.

Read from the sources themselves: the flows from the ``@flow(name=...)``
decorators in ``flows/`` (parsed, not imported), the commands from the ``mlops``
command line as Typer builds it, the deployments from ``prefect.yaml``, and the
files from ``git ls-files``.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
import typer.main
import yaml

from flows.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The first design draft lived outside the repository; the design is docs/design.md.
OUTSIDE_DESIGN = "DESIGN" + ".md"
#: Folders that are not the project's own files when the repository is not a git checkout.
NOT_PROJECT = frozenset({".git", ".venv", ".tools", "__pycache__", ".pytest_cache", ".ruff_cache"})


def _tracked_files() -> list[Path]:
    """The repository's tracked files; every file outside tool folders without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8")
    except (OSError, subprocess.SubprocessError):
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file() and not NOT_PROJECT.intersection(p.relative_to(ROOT).parts)
        ]
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [p for p in paths if p.is_file() and ".venv" not in p.relative_to(ROOT).parts]


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _section(markdown: str, heading: str) -> str:
    """The text under a ``## heading`` up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def _first_cells(markdown: str) -> list[str]:
    """The first cell of every body row of the markdown tables in ``markdown``."""
    lines = markdown.splitlines()
    cells = []
    for i, line in enumerate(lines):
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue  # not a row, or a separator row
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if following.startswith("|") and set(following) <= set("|-: "):
            continue  # a header row
        # An escaped pipe (``a\\|b``) inside a code span does not end the cell.
        cells.append(re.split(r"(?<!\\)\|", line)[1].strip())
    return cells


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def named_flows(source: str) -> dict[str, str]:
    """``{flow name: function}`` of every ``@flow(name=...)`` (or ``@prefect.flow``) in a source."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call):
                continue
            func = decorator.func
            if not (
                (isinstance(func, ast.Name) and func.id == "flow")
                or (isinstance(func, ast.Attribute) and func.attr == "flow")
            ):
                continue
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    found[str(keyword.value.value)] = node.name
    return found


def flow_entrypoints() -> dict[str, str]:
    """``{flow name: 'flows/<module>.py:<function>'}`` of every named flow in ``flows/``."""
    return {
        name: f"flows/{path.name}:{function}"
        for path in sorted((ROOT / "flows").glob("*.py"))
        for name, function in named_flows(path.read_text(encoding="utf-8")).items()
    }


def cli_commands() -> dict[tuple[str, ...], frozenset[str]]:
    """``{command path: its option names}`` of every leaf command of ``mlops``."""
    commands: dict[tuple[str, ...], frozenset[str]] = {}

    def walk(command, path: tuple[str, ...]) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk(child, (*path, name))
            return
        options = set()
        for param in command.params:
            options.update(getattr(param, "opts", ()))
            options.update(getattr(param, "secondary_opts", ()))
        commands[path] = frozenset(o for o in options if o.startswith("--"))

    walk(typer.main.get_command(app), ())
    return commands


def _readme_command_rows() -> list[list[list[str]]]:
    """The ``mlops ...`` code spans, split into words, of each row of the Commands table."""
    return [
        [span.split() for span in _code_spans(cell) if span.startswith("mlops ")]
        for cell in _first_cells(_section(README.read_text(encoding="utf-8"), "Commands"))
    ]


def _lists(tokens: list[str], path: tuple[str, ...]) -> bool:
    """Whether the words of a span (``mlops review approve ...``) name the command ``path``."""
    return tokens[1 : 1 + len(path)] == list(path)


# ------------------------------------------------------------------ the sources are read
def test_the_sources_define_what_the_checks_look_for() -> None:
    flows = flow_entrypoints()
    commands = cli_commands()
    assert flows["review_held_predictions"] == "flows/review.py:review_held_predictions"
    assert {"monitor", "bootstrap", "score_batch", "alert"} <= set(flows)
    assert {("monitor",), ("report",), ("review", "approve")} <= set(commands)
    assert {"--from-version", "--home"} <= commands[("rollback",)]
    assert len(_tracked_files()) > 50


def test_flow_decorators_are_found_in_any_form() -> None:
    source = (
        "from prefect import flow\nimport prefect\n"
        "@flow(name='a')\ndef a(): ...\n"
        "@prefect.flow(name='b', log_prints=True)\nasync def run_b(): ...\n"
        "@flow\ndef c(): ...\n"
        "@task(name='d')\ndef d(): ...\n"
    )
    assert named_flows(source) == {"a": "a", "b": "run_b"}


def test_command_spans_name_their_command() -> None:
    assert _lists("mlops review approve USECASE --batch B".split(), ("review", "approve"))
    assert not _lists("mlops review list USECASE".split(), ("review", "approve"))
    assert not _lists("mlops reviews".split(), ("review",))


# ----------------------------------------------------------------------- the checks
def test_nothing_refers_to_the_design_draft_outside_the_repository() -> None:
    referring = []
    for path in _tracked_files():
        text = _text(path)
        if text is not None and OUTSIDE_DESIGN in text:
            lines = [i for i, line in enumerate(text.splitlines(), 1) if OUTSIDE_DESIGN in line]
            referring.append(f"{path.relative_to(ROOT)}:{','.join(map(str, lines))}")
    assert not referring, (
        f"these files refer to {OUTSIDE_DESIGN}, which is not in the repository; "
        f"point at the section of docs/design.md instead: {referring}"
    )


def test_the_design_document_is_in_the_repository_and_linked() -> None:
    assert (ROOT / "docs" / "design.md").is_file()
    assert "](docs/design.md)" in README.read_text(encoding="utf-8")


def test_every_flow_is_in_the_readme_flows_list() -> None:
    rows = [
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `flows/` |")
    ]
    assert len(rows) == 1, "README.md's code layout table has no single `flows/` row"
    listed = set(_code_spans(rows[0]))
    missing = {name: where for name, where in flow_entrypoints().items() if name not in listed}
    assert not missing, f"flows missing from README.md's `flows/` row: {missing}"


def test_every_command_is_in_the_readme_commands_table() -> None:
    rows = _readme_command_rows()
    missing = [
        " ".join(path)
        for path in cli_commands()
        if not any(_lists(tokens, path) for row in rows for tokens in row)
    ]
    assert not missing, f"commands missing from README.md's Commands table: {missing}"


def test_the_readme_commands_table_shows_only_real_commands_and_options() -> None:
    commands = cli_commands()
    wrong = []
    for row in _readme_command_rows():
        for tokens in row:
            path = max((p for p in commands if _lists(tokens, p)), key=len, default=None)
            if path is None:
                wrong.append(f"`{' '.join(tokens)}` is no command")
                continue
            for token in tokens:
                option = token.strip("[]").split("=")[0]
                if option.startswith("--") and option not in commands[path]:
                    wrong.append(f"`mlops {' '.join(path)}` has no option {option}")
    assert not wrong, f"README.md's Commands table: {wrong}"


def test_every_deployment_is_in_the_readme() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    flow_of = {entrypoint: name for name, entrypoint in flow_entrypoints().items()}
    # The first cells of the README's tables (fenced code blocks would pair backticks wrongly).
    shown = {
        span
        for cell in _first_cells(README.read_text(encoding="utf-8"))
        for span in _code_spans(cell)
    }
    missing = [
        f"{flow_of[d['entrypoint']]}/{d['name']}"
        for d in config["deployments"]
        if f"{flow_of[d['entrypoint']]}/{d['name']}" not in shown
    ]
    assert not missing, f"prefect.yaml deployments missing from README.md: {missing}"

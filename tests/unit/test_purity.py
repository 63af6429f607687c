"""mlops_core stays pure: no orchestration, tracking, validation or drift vendor inside.

Checked twice: statically (every import statement in the source, including
imports inside functions) and dynamically (importing the modules in a fresh
interpreter must not pull a forbidden package in, even through a dependency).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

FORBIDDEN = frozenset({"prefect", "mlflow", "great_expectations", "evidently"})
ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "mlops_core"
SOURCES = sorted(CORE.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = [_module_name(p) for p in SOURCES]


def forbidden_imports(source: str) -> list[str]:
    """Top-level packages from FORBIDDEN imported anywhere in ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names = [node.args[0].value]
        else:
            continue
        found.extend(n for n in names if n.split(".")[0] in FORBIDDEN)
    return found


_PROBE = """
import importlib, json, sys
forbidden = set(sys.argv[1].split(","))
def loaded():
    return {m for m in sys.modules if m.split(".")[0] in forbidden}
result = {}
for name in sys.argv[2:]:
    before = loaded()
    importlib.import_module(name)
    result[name] = sorted(loaded() - before)
print(json.dumps(result))
"""


# Reading a clock, the environment or a file makes a decision depend on where
# and when it runs; the caller passes those in.
_CLOCK_CALLS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter"})
_FILE_CALLS = frozenset({"open", "read_text", "read_bytes", "read_csv", "read_parquet"})
_ENV_NAMES = frozenset({"environ", "getenv"})


def impure_calls(source: str) -> list[str]:
    """Clock, environment and file reads in ``source``, as written."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _ENV_NAMES:
            found.append(node.attr)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _FILE_CALLS or name in _ENV_NAMES:
                found.append(name)
            elif isinstance(func, ast.Attribute) and name in _CLOCK_CALLS:
                found.append(name)
    return found


@pytest.fixture(scope="module")
def runtime_imports() -> dict[str, list[str]]:
    """For each module, the forbidden packages that importing it loaded.

    One fresh interpreter (not this pytest process, whose plugins may have
    loaded anything) imports the modules one after another and records what
    each import added to ``sys.modules``. A forbidden package stays loaded
    once imported, so any module pulling one in, directly or through a
    dependency, makes the check fail; it is attributed to the first module that
    loaded it. One interpreter instead of one per module keeps the unit suite
    fast: several modules import scikit-learn, which costs seconds each time.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(sorted(FORBIDDEN)), *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"importing mlops_core modules failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_there_are_modules_to_check() -> None:
    assert {"mlops_core.stats", "mlops_core.retrain", "mlops_core.config"} <= set(MODULES)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_imports_no_vendor(path: Path) -> None:
    bad = forbidden_imports(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name} imports {bad}; mlops_core must stay pure"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_reads_no_clock_env_or_file(path: Path) -> None:
    bad = impure_calls(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name} calls {bad}; mlops_core takes time, settings and data as inputs"


@pytest.mark.parametrize(
    "source",
    [
        "import datetime\ndatetime.datetime.now()",
        "import time\nt = time.time()",
        "import os\nos.environ['X']",
        "import os\nos.getenv('X')",
        "open('f.csv')",
        "import pandas as pd\npd.read_csv('f.csv')",
        "from pathlib import Path\nPath('f').read_text()",
    ],
)
def test_impurity_check_catches_reads(source: str) -> None:
    assert impure_calls(source)


def test_impurity_check_allows_a_passed_in_clock() -> None:
    assert impure_calls("def f(inputs):\n    return inputs.now - inputs.start") == []


@pytest.mark.parametrize("module", MODULES)
def test_import_loads_no_vendor(module: str, runtime_imports: dict[str, list[str]]) -> None:
    assert runtime_imports[module] == [], (
        f"importing {module} loads {runtime_imports[module]}; mlops_core must stay pure"
    )


@pytest.mark.parametrize(
    "source",
    [
        "import mlflow",
        "import prefect.blocks.system as b",
        "from great_expectations.core import ExpectationSuite",
        "def f():\n    from evidently import Report\n",
        "import importlib\nimportlib.import_module('mlflow.tracking')",
        "__import__('prefect')",
    ],
)
def test_static_check_catches_vendor_imports(source: str) -> None:
    assert forbidden_imports(source)


@pytest.mark.parametrize(
    "source",
    ["import numpy as np", "from mlops_core.metrics import METRICS", "from . import mlflow_like"],
)
def test_static_check_allows_pure_imports(source: str) -> None:
    assert forbidden_imports(source) == []

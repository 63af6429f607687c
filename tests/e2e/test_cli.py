"""The installed ``mlops`` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "usecases" / "retail_demand.yaml"
MLOPS = Path(sys.executable).parent / "mlops"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MLOPS), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _write_variant(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _unknown_key(raw):
    raw["retrain"]["max_decayy"] = 0.1


def _wrong_type(raw):
    raw["data"]["label_delay"] = "two weeks"


def _undefined_column(raw):
    raw["guardrails"]["rules"][2]["column"] = "capacity"


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (_unknown_key, "retrain.max_decayy", "unknown key"),
        (_wrong_type, "data.label_delay", "valid integer"),
        (_undefined_column, "guardrails.rules.2.column", "not defined in the contract"),
    ],
)
def test_bad_usecase_exits_2_with_one_line(tmp_path, edit, key, words):
    bad = _write_variant(tmp_path, edit)
    result = _run("monitor", str(bad), "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0] and key in lines[0] and words in lines[0]
    assert not (tmp_path / "home").exists(), "nothing is created for an invalid use case"


def test_not_yaml_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\ndata: [unclosed\n", encoding="utf-8")
    result = _run("bootstrap", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr and "not valid YAML" in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = _run("status", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "cannot be read" in result.stderr


def test_help_lists_every_command(tmp_path):
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("demo", "bootstrap", "score", "monitor", "rollback", "status"):
        assert command in result.stdout

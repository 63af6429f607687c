"""``mlops deploy`` refusals, run as a user runs it: one line, the right exit code, no server.

Deploying to a real server is tested in ``test_stack.py`` against the stack's Prefect.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MLOPS = Path(sys.executable).parent / "mlops"
USECASE = REPO / "usecases" / "elec2.yaml"


def _deploy(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLOPS), "deploy", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def _env(tmp_path: Path, api_url: str | None) -> dict[str, str]:
    """No Prefect profile of this machine: a fresh PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_without_a_prefect_server_configured_it_says_to_run_mlops_up(tmp_path: Path) -> None:
    done = _deploy(str(USECASE), cwd=tmp_path, env=_env(tmp_path, None))
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert "PREFECT_API_URL is not set" in line and "mlops up" in line


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    done = _deploy(str(USECASE), cwd=tmp_path, env=_env(tmp_path, url))
    assert done.returncode == 1
    line = _one_line(done.stderr)
    assert f"no Prefect server answers at {url}" in line and "mlops up" in line


@pytest.mark.parametrize(
    ("options", "words"),
    [(["--cron", "0 25 * * *"], "--cron: "), (["--timezone", "Mars/Olympus"], "--timezone: ")],
)
def test_a_bad_schedule_exits_2(tmp_path: Path, options: list[str], words: str) -> None:
    done = _deploy(str(USECASE), *options, cwd=tmp_path, env=_env(tmp_path, None))
    assert done.returncode == 2
    assert _one_line(done.stderr).startswith(f"error: {words}")


def test_a_bad_usecase_file_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text(USECASE.read_text(encoding="utf-8").replace("period: week", "period: fortnight"))
    done = _deploy(str(bad), cwd=tmp_path, env=_env(tmp_path, None))
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert str(bad) in line and "data.period" in line

"""Task-runner settings: parsed strictly, defaults from the environment."""

from __future__ import annotations

import pytest

from flows.runners import RunnerSetting, parse_runner

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("threads", RunnerSetting("threads")),
        ("threads:4", RunnerSetting("threads", workers=4)),
        ("dask", RunnerSetting("dask", workers=2)),
        ("dask:3", RunnerSetting("dask", workers=3)),
        ("dask:tcp://10.0.0.5:8786", RunnerSetting("dask", address="tcp://10.0.0.5:8786")),
    ],
)
def test_settings_parse(text: str, expected: RunnerSetting) -> None:
    assert parse_runner(text) == expected


@pytest.mark.parametrize("text", ["ray", "threads:0", "dask:x", "dask:tcp//host"])
def test_bad_settings_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="task runner"):
        parse_runner(text)


def test_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_TASK_RUNNER", raising=False)
    assert parse_runner(None) == RunnerSetting("threads")
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "dask:2")
    assert parse_runner(None).kind == "dask"
    assert not parse_runner(None).shares_memory

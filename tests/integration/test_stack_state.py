"""``stack.json``: the state ``mlops up`` writes is read back, and so is the previous layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flows import stack

pytestmark = pytest.mark.integration


def test_the_previous_layout_loads_and_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    settings = stack.StackSettings(home=tmp_path, data_root=tmp_path / "data")
    assert stack.load_state(settings) == stack.StackState()
    alive = {"name": "worker", "pid": os.getpgrp(), "log": str(tmp_path / "worker.log")}
    # As ``up`` wrote it before the state was typed: services first, settings after.
    previous = {
        "services": {"worker": alive},
        "settings": settings.model_dump(mode="json"),
    }
    text = json.dumps(previous, indent=2, default=str)
    (tmp_path / "stack.json").write_text(text)

    state = stack.load_state(settings)

    assert state.settings == settings
    assert stack._running(state, "worker") == stack.Service(**alive)
    assert stack._running(state, "mlflow-server") is None
    stack._save_state(settings, state)
    assert (tmp_path / "stack.json").read_text() == text


def test_a_state_no_version_wrote_fails_naming_the_file_and_field(tmp_path: Path) -> None:
    settings = stack.StackSettings(home=tmp_path, data_root=tmp_path / "data")
    (tmp_path / "stack.json").write_text('{"services": {"worker": {"name": "worker"}}}')
    with pytest.raises(stack.StackError, match=r"stack.json: not a StackState: services.worker"):
        stack.load_state(settings)
    (tmp_path / "stack.json").write_text('{"services": ')
    with pytest.raises(stack.StackError, match="stack.json is not JSON"):
        stack.load_state(settings)

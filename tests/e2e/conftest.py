"""Set-up shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_commands import bootstrap_with_the_command


@pytest.fixture(scope="session", autouse=True)
def _mlflow_schema(mlflow_schema_from_a_template: None) -> None:
    """New SQLite tracking stores get MLflow's schema copied (tests/conftest.py)."""


@pytest.fixture(scope="session")
def bootstrapped_by_the_command(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root ``mlops bootstrap`` trained (embedded_commands.py); copy it, never use it.

    The modules that use it are one xdist work unit (tests/conftest.py), so the
    command runs once per test session.
    """
    return bootstrap_with_the_command(tmp_path_factory.mktemp("bootstrapped-by-the-command"))

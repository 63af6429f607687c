"""Set-up shared by the end-to-end tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _mlflow_schema(mlflow_schema_from_a_template: None) -> None:
    """New SQLite tracking stores get MLflow's schema copied (tests/conftest.py)."""

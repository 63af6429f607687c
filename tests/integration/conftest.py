"""Set-up shared by the integration tests."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _mlflow_schema(mlflow_schema_from_a_template: None) -> None:
    """New SQLite tracking stores get MLflow's schema copied (tests/conftest.py)."""


@pytest.fixture(scope="module")
def coordination_url() -> Iterator[str]:
    """A real PostgreSQL on loopback, as ``mlops up`` starts it: the URL of its ``mlops`` database.

    Found on the machine or installed as ``mlops up`` does (``flows.stack``);
    stopped and removed after the module.
    """
    from flows import stack

    # As root, PostgreSQL runs as an unprivileged user: its folder must be
    # reachable by it (pytest's tmp folders are private).
    home = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    home.chmod(0o755)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    settings = stack.StackSettings(home=home, data_root=home / "data", pg_port=port)
    try:
        stack.start_postgres(settings)
        yield stack.database_url(settings, stack.COORDINATION_DATABASE, "psycopg2")
    finally:
        stack.stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)

"""Flow tests run against Prefect's test harness (a throwaway local server)."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    """One temporary Prefect database for the whole flow tier (it costs seconds to start)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield

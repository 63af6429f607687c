"""Flow tests run against Prefect's test harness (a throwaway local server)."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.local import without_heartbeats


@pytest.fixture(scope="session", autouse=True)
def prefect_harness(mlflow_schema_from_a_template: None):
    """One temporary Prefect database for the whole flow tier (it costs seconds to start).

    Flows run in the test process as ``mlops`` commands run them: without
    heartbeats, which would hold each run up to 1 s after it ends (flows/local.py).
    The harness server does not record task runs (its task-run recorder reads
    every task's state events into the database: half of the server's work, and
    no test reads task runs) and does not evaluate automation triggers (no
    automation exists here: the stack test fires the real one); flow runs, their
    states, logs, artifacts and events are recorded as by any server. New SQLite
    tracking stores get MLflow's schema copied (tests/conftest.py).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")
        patch.setenv("PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=120), without_heartbeats():
            yield


@pytest.fixture(scope="session")
def bootstrapped_variant():
    """Make a use case from the shipped one with some keys changed, bootstrapped in a root.

    Returns a function ``(root, simulator, changes, *, cycle_report=False) ->
    (usecase path, paths)``:
    ``changes`` maps a section to the keys to set (e.g. ``{"retrain":
    {"max_age_periods": 4}}``); the simulator's history weeks and their labels
    are landed and the bootstrap flow trains champion version 1.
    """
    from pathlib import Path

    from usecase_variant import land_weeks, write_shipped_variant

    from flows.cycle import bootstrap
    from tasks import storage

    def make(
        root: Path, simulator, changes: dict, *, cycle_report: bool = False
    ) -> tuple[Path, storage.UseCasePaths]:
        # No cycle report unless the test reads one (tests/usecase_variant.py).
        usecase = write_shipped_variant(root, changes, cycle_report=cycle_report)
        paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
        land_weeks(simulator, paths, range(simulator.config.initial_periods))
        out = bootstrap(str(usecase), str(root))
        assert out.champion_version == "1", out
        return usecase, paths

    return make


@pytest.fixture(scope="session")
def prefect_events():
    """Find events in Prefect: ``(event name, predicate on the payload) -> events``.

    Events reach the server asynchronously: the search polls for up to 30 s
    until at least one matches.
    """
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter

    def find(name: str, wanted) -> list:
        found: list = []
        deadline = time.monotonic() + 30
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline and not found:
                page = client.read_events(
                    filter=EventFilter(event=EventNameFilter(name=[name])), limit=50
                )
                found = [e for e in page.events if wanted(e.payload)]
                if not found:
                    time.sleep(0.5)
        return found

    return find


@pytest.fixture(scope="session")
def screenshots():
    """bench/screenshots.py, loaded from its file (a script, not a package): the browser
    driver, the loopback servers and what it knows of the UIs' pages."""
    import importlib.util
    import sys
    from pathlib import Path

    if "screenshots" not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "bench" / "screenshots.py"
        spec = importlib.util.spec_from_file_location("screenshots", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["screenshots"] = module
        spec.loader.exec_module(module)
    return sys.modules["screenshots"]

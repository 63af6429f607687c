"""Shared test set-up: thread limits, trusted-model policy, paths to real data, a shop contract."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import UseCase, parse_usecase
from mlops_core.profiling import UseCaseProfile, profile_frame

# Set before any test imports scikit-learn: histogram models oversubscribe the
# cores badly when the suite runs beside other work.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# As the commands set it: MLflow's telemetry thread edits os.environ while other
# threads read it (a KeyError inside requests failed a compose test once).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# A shell pointed at a stack (`mlops up` prints the line) would put every test's
# ledger and locks in that stack's database: the tests that use one name it.
os.environ.pop("MLOPS_COORDINATION_URL", None)

REPO = Path(__file__).resolve().parent.parent
SHIPPED_USECASES = REPO / "usecases"

#: Real datasets shipped with the tests (those whose license allows it).
SHIPPED_DATA = REPO / "tests" / "data" / "real"

#: Where a user gets the Walmart file, the one real data file not shipped.
WALMART_SOURCE = (
    'Kaggle "Walmart Recruiting - Store Sales Forecasting" (research and education use '
    "only, so not shipped; columns and date format in usecases/walmart_sales.yaml)"
)


def shared_data_dir() -> Path:
    """The real datasets beside the repository (``../shared/data``), as CI has them."""
    return REPO.parent / "shared" / "data"


def real_data_file(relative: str, source: str) -> Path:
    """The real data file ``relative`` (e.g. ``elec2/elec2.csv``), or skip the test.

    ``../shared/data/<relative>`` is used when present (CI has every file there),
    else the copy shipped in ``tests/data/real``; when neither exists the test is
    skipped with a reason that says where to get the file and where to put it.

    Args:
        relative: Path of the file under the data folder: ``<dataset>/<file>``.
        source: Where a user gets the file, for the skip reason.
    """
    for folder in (shared_data_dir(), SHIPPED_DATA):
        path = folder / relative
        if path.is_file():
            return path
    pytest.skip(
        f"real data file {relative} not found: get it from {source} and place it at "
        f"../shared/data/{relative} beside the repository"
    )


# ------------------------------------------------ two test processes (make test)
#: The modules whose tests start real servers (PostgreSQL, Prefect, MLflow): one
#: work unit, so one worker runs them one after the other. Two stacks never start
#: at once on a small machine, and `mlops up` never installs PostgreSQL twice at
#: the same time. Every test marked ``stack`` must be in one of them (checked at
#: collection).
STACK_MODULES = frozenset({"tests/e2e/test_stack.py", "tests/e2e/test_compose_auth.py"})

#: The name of their shared work unit.
STACK_GROUP = "stack"

#: The modules that copy the data root ``mlops bootstrap`` trained (the session
#: fixture ``bootstrapped_by_the_command``, tests/e2e/conftest.py): one work unit,
#: so the command runs once.
CLI_BOOTSTRAP_MODULES = frozenset(
    {"tests/e2e/test_killed_monitor.py", "tests/e2e/test_two_monitors.py"}
)

#: The name of their shared work unit.
CLI_BOOTSTRAP_GROUP = "bootstrapped by the command"

#: The longest work units, longest first, from `make test` with `--junitxml` on a
#: quiet 2-core machine (pytest 636 s; the seconds move with the host's speed and
#: load, the order much less). Under xdist they are handed out first, so the long
#: ones start at once, the short ones fill in at the end and both workers finish
#: together. Only the order matters; a unit not listed keeps its place after
#: them (collection order: e2e, flows, integration, unit).
LONGEST_FIRST: tuple[str, ...] = (
    STACK_GROUP,  # 220 s
    CLI_BOOTSTRAP_GROUP,  # 150 s
    "tests/flows/test_backtest_flow.py",  # 110 s (with the Walmart file)
    "tests/flows/test_demo_cycle.py",  # 100 s
    "tests/flows/test_replay.py",  # 85 s
    "tests/flows/test_crash.py",  # 60 s
    "tests/flows/test_object_store_landing.py",  # 55 s (127 s on a machine half as fast)
    "tests/flows/test_tracking_server_lost.py",  # 50 s
    "tests/flows/test_disk_full.py",  # 40 s
    "tests/flows/test_schema_change.py",  # 40 s
    "tests/flows/test_faults.py",  # 35 s
    "tests/e2e/test_review_cli.py",  # 35 s
    "tests/e2e/test_local_dask.py",  # 30 s
    "tests/flows/test_review_flow.py",  # 30 s
)


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test: its module, or the group its module shares.

    A unit's tests all run on one worker, in collection order, so a module-scoped
    fixture (a bootstrapped data root, a demo run, a started stack) is built once
    and tests that build on their module's earlier tests find their work done.
    The stack modules are one unit (:data:`STACK_MODULES`), and so are the modules
    that share a session fixture built by a command (:data:`CLI_BOOTSTRAP_MODULES`).
    """
    module = nodeid.split("::", 1)[0]
    if module in STACK_MODULES:
        return STACK_GROUP
    if module in CLI_BOOTSTRAP_MODULES:
        return CLI_BOOTSTRAP_GROUP
    return module


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadfile`` (pyproject's addopts), schedule by :func:`work_unit`.

    xdist's own ``loadfile`` keeps a module's tests together but would put the
    two stack modules on both workers at once; its ``loadgroup`` is what the
    stack needs, but pytest-xdist 3.8 writes the group into ``item._nodeid``,
    which pytest 9 no longer reads (node ids live in ``Node._id``), so it groups
    nothing. This is xdist's module scheduler with :func:`work_unit` as the
    scope; units go out in collection order (``--no-loadscope-reorder``), which
    :func:`pytest_collection_modifyitems` sets on the workers. Other ``--dist``
    modes are left to xdist.
    """
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Check the stack modules; on an xdist worker, put the longest units first.

    Every worker collects the same tests and sorts them the same way (a stable
    sort: within a unit, and among units not in :data:`LONGEST_FIRST`, the
    collection order stays). A run without ``-n`` keeps pytest's order.
    """
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if (item.get_closest_marker("stack") is not None) != (module in STACK_MODULES):
            raise pytest.UsageError(
                f"{item.nodeid}: a test is marked `stack` exactly when its module is in "
                "STACK_MODULES (tests/conftest.py), so two stacks never start at once"
            )
    if not hasattr(config, "workerinput"):
        return
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


# ------------------------------------------- MLflow's schema, made once per process
@pytest.fixture(scope="session")
def mlflow_schema_from_a_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Every new SQLite tracking store of this test process gets MLflow's schema copied.

    The first client on a fresh ``mlflow.db`` runs MLflow's schema creation and
    every Alembic migration: 0.7 to 1.3 s of CPU, and the suite makes dozens of
    fresh data roots. Here MLflow creates the schema once, in a template file,
    with its own function; each later SQLite store that needs it gets a copy of
    that file through SQLite's backup API (milliseconds): the same tables, indexes
    and Alembic revision, made by the same MLflow version. Other databases, and
    processes the tests start (commands, servers), keep MLflow's own path.

    Used (autouse) by the tiers that touch MLflow: integration, flows, end to end.
    """
    import sqlite3
    from contextlib import closing

    import mlflow.store.db.utils as db_utils
    import mlflow.store.model_registry.sqlalchemy_store as registry_store
    from mlflow.store.db.utils import create_sqlalchemy_engine_with_retry

    make_schema = db_utils._initialize_tables
    template = tmp_path_factory.mktemp("mlflow-schema") / "mlflow.db"
    engine = create_sqlalchemy_engine_with_retry(f"sqlite:///{template}")
    make_schema(engine)
    engine.dispose()

    def copy_schema(engine: Any) -> None:
        if engine.dialect.name != "sqlite":
            make_schema(engine)
            return
        target = engine.raw_connection()
        try:
            with closing(sqlite3.connect(template)) as source:
                source.backup(target.driver_connection)
        finally:
            target.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_utils, "_initialize_tables", copy_schema)
        patch.setattr(registry_store, "_initialize_tables", copy_schema)
        yield


@pytest.fixture(scope="session")
def bike_hours_csv() -> Path:
    """UCI Bike Sharing ``hour.csv`` (shipped in tests/data/real)."""
    return real_data_file(
        "bike_sharing/hour.csv", "the UCI Machine Learning Repository, dataset 275"
    )


@pytest.fixture(scope="session")
def bike_hours_frame(bike_hours_csv: Path) -> pd.DataFrame:
    """``hour.csv`` as a user would model it: without ``casual`` and ``registered``
    (they add up to the target ``cnt``)."""
    return pd.read_csv(bike_hours_csv).drop(columns=["casual", "registered"])


@pytest.fixture(scope="session")
def bike_hours_profile(bike_hours_frame: pd.DataFrame) -> UseCaseProfile:
    """What ``mlops init-usecase hour.csv --target cnt --time dteday --period month
    --id instant`` profiles from it."""
    return profile_frame(
        bike_hours_frame,
        name="hour",
        target="cnt",
        time="dteday",
        period="month",
        id_column="instant",
        source_name="hour.csv",
    )


@pytest.fixture(scope="session")
def elec2_csv() -> Path:
    """Elec2 ``elec2.csv`` (shipped in tests/data/real)."""
    return real_data_file("elec2/elec2.csv", 'OpenML dataset 151 "electricity"')


@pytest.fixture(scope="session")
def walmart_sales_csv() -> Path:
    """Walmart weekly store sales (never shipped: the test skips without it)."""
    return real_data_file("walmart_sales/walmart_store_sales.csv", WALMART_SOURCE)


#: Use-case name -> the fixture giving the real data file it describes.
REAL_DATA_FIXTURES = {
    "bike_sharing": "bike_hours_csv",
    "elec2": "elec2_csv",
    "walmart_sales": "walmart_sales_csv",
}


@pytest.fixture
def real_data_of(request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Function ``(use case name) -> real data file``, for tests parametrized over the
    three real use cases (``bike_sharing``, ``elec2``, ``walmart_sales``): each case
    finds or skips on its own file."""

    def file_of(usecase: str) -> Path:
        return request.getfixturevalue(REAL_DATA_FIXTURES[usecase])

    return file_of


# ------------------------------------------------------- a shop's data contract
def _shop_usecase(**contract_overrides: Any) -> UseCase:
    contract: dict[str, Any] = {
        "columns": [
            {"name": "id", "type": "integer", "feature": False},
            {"name": "week", "type": "integer", "min": 1, "feature": False},
            {"name": "store", "type": "categorical", "categories": ["s1", "s2", "s3"]},
            {"name": "price", "type": "numeric", "min": 0, "max": 100, "max_null_share": 0.1},
            {"name": "promo", "type": "boolean"},
            {"name": "temp", "type": "numeric", "min": -30, "max": 45, "severity": "warn"},
        ],
        **contract_overrides,
    }
    raw = {
        "name": "shop-demand",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "week",
            "target_column": "sales",
            "segment_column": "store",
        },
        "contract": contract,
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
    }
    return parse_usecase(raw, "test-usecase.yaml")


def _shop_batch(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "week": np.full(rows, 7),
            "store": rng.choice(["s1", "s2", "s3"], rows),
            "price": rng.uniform(1.0, 99.0, rows).round(2),
            "promo": rng.choice([True, False], rows),
            "temp": rng.normal(15.0, 5.0, rows).clip(-20, 40).round(1),
        }
    )


@pytest.fixture(scope="session")
def shop_usecase() -> Callable[..., UseCase]:
    """Function ``(**contract overrides) -> UseCase``: a shop whose contract has six columns.

    ``id`` and ``week`` (integers, week at least 1), ``store`` (categories s1 to
    s3, also the segment), ``price`` (0 to 100, at most 10% missing), ``promo``
    (boolean) and ``temp`` (-30 to 45, a warning only); the target ``sales`` is
    not in batches. Keyword arguments replace keys of the contract.
    """
    return _shop_usecase


@pytest.fixture(scope="session")
def shop_batch() -> Callable[..., pd.DataFrame]:
    """Function ``(rows, seed=0) -> DataFrame``: a batch that meets the shop's contract."""
    return _shop_batch


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An S3-compatible server (moto's) on loopback for the session, its environment set.

    Yields:
        The environment that reaches it (``AWS_ENDPOINT_URL``, credentials), also set in
        this process's environment while the session lasts, as a worker's would be.
    """
    from s3_server import s3_environment, s3_server

    with s3_server(tmp_path_factory.mktemp("s3") / "moto.log") as env, s3_environment(env):
        yield env

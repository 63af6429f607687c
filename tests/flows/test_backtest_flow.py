"""Short backtests of the three real datasets through the ``backtest`` flow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.backtest import backtest
from mlops_core.records import BacktestResult
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

REPO = Path(__file__).resolve().parents[2]
POLICIES = ["never", "every:2", "default"]
# Walmart replays 143 weeks, so only the two policies its claim is about: the
# default policy beats never retraining over the holiday seasons (a scheduled
# policy's retrains are checked on the two shorter files).
WALMART_POLICIES = ["never", "default"]

# (use case, time column, days kept from the start, first champion's periods); the
# real file is found (or the case skipped) by tests/conftest.py.
# Walmart keeps its whole history: a cut that ends in January leaves the default
# policy behind `never` (challengers trained on the holiday peak win the gate on
# holiday weeks, then over-forecast January; the file has no calendar feature),
# which the README reports.
CASES = {
    "bike_sharing": ("bike_sharing.yaml", "dteday", 396, 5),
    "elec2": ("elec2.yaml", "timestamp", 7 * 24, 8),
    "walmart_sales": ("walmart_sales.yaml", "Date", 7 * 150, 26),
}


#: Backtests run with threads, by (use case, folder): the Dask test compares its
#: table with the bike sharing one instead of replaying the same policies again.
_THREADS_RUNS: dict[str, tuple[BacktestResult, Path]] = {}


def _short_backtest(name: str, source: Path, folder: Path, task_runner: str | None = None):
    """The ``backtest`` flow on the first days of a real file; returns (result, data root)."""
    usecase, time_column, days, initial = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / source.name
    frame = pd.read_csv(source)
    when = pd.to_datetime(frame[time_column])
    frame.loc[when < when.min() + pd.Timedelta(days=days)].to_csv(data, index=False)
    home = folder / (task_runner or "threads").replace(":", "-")
    out = backtest(
        str(REPO / "usecases" / usecase),
        str(data),
        policies=WALMART_POLICIES if name == "walmart_sales" else POLICIES,
        initial_periods=initial,
        data_root=str(home),
        task_runner=task_runner,
    )
    return out, home


def _threads_run(
    name: str, source: Path, tmp: pytest.TempPathFactory
) -> tuple[BacktestResult, Path]:
    if name not in _THREADS_RUNS:
        _THREADS_RUNS[name] = _short_backtest(name, source, tmp.mktemp(name))
    return _THREADS_RUNS[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_short_backtest_of_real_data(name, real_data_of, tmp_path_factory):
    usecase = CASES[name][0]
    policies = WALMART_POLICIES if name == "walmart_sales" else POLICIES
    out, home = _threads_run(name, real_data_of(name), tmp_path_factory)

    table = {row["policy"]: row for row in out.table}
    assert list(table) == policies
    for row in table.values():
        assert {
            "mean_error",
            "total_error",
            "retrains",
            "total_cost",
            "guardrail_period_share",
        } <= set(row)
    assert table["never"]["retrains"] == 0
    if "every:2" in table:
        assert table["every:2"]["retrains"] > 0
    assert table["default"]["retrains"] > 0
    assert table["default"]["total_error"] < table["never"]["total_error"]

    rt = open_runtime(REPO / "usecases" / usecase, str(home))
    files = {a.path for a in rt.client.list_artifacts(out.run_id)}
    assert {"metric_over_time.png", "table.json", "table.md", "periods.csv"} <= files
    assert Path(out.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_policies_on_a_local_dask_cluster_give_the_same_table_as_threads(
    bike_hours_csv, tmp_path_factory
):
    """Scale-out is configuration: two Dask worker processes replay the policies and
    the outcome is the one the threads give (each worker keeps its own cache)."""
    usecase = REPO / "usecases" / CASES["bike_sharing"][0]
    threads, threads_home = _threads_run("bike_sharing", bike_hours_csv, tmp_path_factory)
    dask, dask_home = _short_backtest(
        "bike_sharing", bike_hours_csv, tmp_path_factory.mktemp("bike-dask"), task_runner="dask:2"
    )
    assert dask.table == threads.table
    for out, home, runner in ((threads, threads_home, "threads"), (dask, dask_home, "dask:2")):
        rt = open_runtime(usecase, str(home))
        assert rt.client.get_run(out.run_id).data.params["task_runner"] == runner

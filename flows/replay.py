"""Replay a labeled history through the real flows, period by period.

``mlops replay USECASE DATA`` is how a user sees their own history in the
Prefect UI and the MLflow experiment browser before going live. The file is cut
into periods by :mod:`mlops_core.periods` (the function the live flows use);
the periods before the start land with their labels and train the first
champion through ``bootstrap``; then, for each later period, its batch lands
(without the target), the labels due by then land (``data.label_delay``
periods after their batch) and one ``monitor`` cycle runs. Nothing is done in
memory that the live path would not do: the batches and label files are real
files in the use case's landing and labels folders.

The order of events is the backtester's (:mod:`tasks.backtest`): at the cycle
of period ``p`` the labels of every period up to ``p - label_delay`` have
arrived, and rows keep the order of :func:`tasks.backtest.history_order`, so a
replay and a backtest of the ``default`` policy decide the same, period by period.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow

from flows.backtest import default_initial_periods
from flows.cycle import bootstrap, monitor
from flows.cycle_table import advance, cycle_progress, table_row
from flows.local import without_heartbeats
from mlops_core.config import UseCase
from mlops_core.periods import PeriodError, PeriodUnit, period_index, period_label, short_label
from mlops_core.records import CycleResult
from tasks import storage
from tasks.backtest import history_order
from tasks.notify import publish_table


class ReplayError(ValueError):
    """A replay that cannot start; ``str()`` is the one line to show the user."""


@dataclass(frozen=True)
class ReplayPlan:
    """Which periods bootstrap, which run live, and when each period's labels land.

    Attributes:
        periods: Every period of the history that holds rows, ascending.
        initial: How many of them the first champion trains on.
        label_delay: Periods between a batch and its labels.
        live: The periods run through ``monitor``, in order.
    """

    periods: tuple[int, ...]
    initial: int
    label_delay: int
    live: tuple[int, ...]

    @property
    def bootstrap_periods(self) -> tuple[int, ...]:
        """The periods whose batches and labels land before the bootstrap."""
        return self.periods[: self.initial]

    def labels_due(self, period: int, delivered: Sequence[int]) -> tuple[int, ...]:
        """Periods whose labels land by the cycle of ``period`` and have not yet landed."""
        done = set(delivered)
        return tuple(q for q in self.periods if q <= period - self.label_delay and q not in done)


def plan_replay(
    periods: Sequence[int],
    label_delay: int,
    holdout_periods: int,
    *,
    start: int | None = None,
    max_periods: int | None = None,
) -> ReplayPlan:
    """The replay's schedule.

    Args:
        periods: The history's periods, ascending.
        label_delay: ``data.label_delay``.
        holdout_periods: ``retrain.holdout_periods`` (the first champion needs a
            holdout and two training periods before it).
        start: First period run live; the periods before it train the first
            champion. None: after the first quarter of the history.
        max_periods: Stop after this many live periods; None runs to the end.

    Raises:
        ReplayError: The start leaves nothing to bootstrap on or nothing to run.
    """
    ordered = tuple(sorted(set(periods)))
    if start is None:
        initial = default_initial_periods(len(ordered), holdout_periods)
    else:
        initial = sum(p < start for p in ordered)
    if initial < 1:
        raise ReplayError("the start leaves no earlier period to train the first model on")
    live = ordered[initial:]
    if max_periods is not None:
        live = live[:max_periods]
    if not live:
        raise ReplayError(
            f"nothing to replay: the history has {len(ordered)} periods with rows and the "
            f"first model trains on {min(initial, len(ordered))} of them"
        )
    return ReplayPlan(periods=ordered, initial=initial, label_delay=label_delay, live=live)


def parse_start(text: str, unit: PeriodUnit | None) -> int:
    """A ``--start`` value as a period: ``2012-03``, ``2012-03-05`` or an integer period.

    Raises:
        ReplayError: The text is not a date (with a unit) or an integer (without).
    """
    try:
        return int(period_index(pd.Series([text.strip()]), unit, "--start").iloc[0])
    except PeriodError as exc:
        raise ReplayError(str(exc).replace("time column '--start'", "--start")) from None


@dataclass(frozen=True)
class _History:
    """The history cut into the files that land: batches without the target, labels."""

    batches: dict[int, pd.DataFrame]
    labels: dict[int, pd.DataFrame]


def _cut_history(frame: pd.DataFrame, usecase: UseCase) -> _History:
    d = usecase.data
    frame = frame.reset_index(drop=True)
    ids, periods, order = history_order(frame, usecase, d.period)
    frame = frame.assign(**{d.id_column: ids.to_numpy()}).iloc[order]
    periods = periods.iloc[order]
    batches: dict[int, pd.DataFrame] = {}
    labels: dict[int, pd.DataFrame] = {}
    for period, rows in frame.groupby(periods.to_numpy(), sort=True):
        p = int(period)
        batches[p] = rows.drop(columns=[d.target_column])
        # A row whose target is missing never got its label: nothing lands for it.
        known = rows[rows[d.target_column].notna()]
        labels[p] = known[[d.id_column, d.target_column]]
    return _History(batches, labels)


def _file_name(prefix: str, period: int, unit: PeriodUnit | None, fmt: str) -> str:
    # Names sort by period (monitor_landed takes batches in name order).
    stamp = short_label(period, unit) if unit is not None else f"{period:08d}"
    return f"{prefix}_{stamp}.{'csv' if fmt == 'csv' else 'parquet'}"


def _check_fresh(paths: storage.UseCasePaths, usecase: UseCase) -> None:
    busy = [
        folder
        for folder in (paths.landing, paths.labels, paths.processed, paths.archive)
        if any(folder.iterdir())
    ]
    if paths.ledger.exists() or busy:
        raise ReplayError(
            f"the data root {paths.root} already holds batches of {usecase.name!r}: replay "
            "into a fresh data root (--home)"
        )


@flow(name="replay", flow_run_name="replay {data_path}")
def replay(
    usecase_path: str,
    data_path: str,
    data_root: str | None = None,
    start: str | None = None,
    max_periods: int | None = None,
    show_progress: bool = False,
) -> list[CycleResult]:
    """Replay a labeled history file through ``bootstrap`` and ``monitor``, period by period.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        data_path: CSV or Parquet file with every column of a batch plus the target.
        data_root: Data root (default ``$MLOPS_HOME``); it must not hold batches
            of this use case yet.
        start: First period run live (``2012-03``, ``2012-03-05``, or an integer
            period); the periods before it train the first model. Default: after
            the first quarter of the history.
        max_periods: Stop after this many live periods (default: to the end).
        show_progress: Draw a progress bar and describe each period as it ends.

    Returns:
        One row per cycle (the bootstrap first), as ``monitor`` returns them.

    Raises:
        ReplayError: The file, the start or the data root do not allow a replay.
    """
    usecase = storage.load_usecase_file(usecase_path)
    d = usecase.data
    try:
        frame = storage.read_table(Path(data_path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReplayError(f"{data_path}: cannot be read: {first}") from None
    for role, column in (("time", d.time_column), ("target", d.target_column)):
        if column not in frame.columns:
            raise ReplayError(f"{data_path}: the {role} column {column!r} is not in the data")
    try:
        history = _cut_history(frame, usecase)
    except PeriodError as exc:
        raise ReplayError(f"{data_path}: {exc}") from None
    plan = plan_replay(
        list(history.batches),
        d.label_delay,
        usecase.retrain.holdout_periods,
        start=None if start is None else parse_start(start, d.period),
        max_periods=max_periods,
    )
    root = Path(data_root).expanduser().resolve() if data_root else storage.resolve_data_root()
    paths = storage.UseCasePaths.for_usecase(usecase, root)
    _check_fresh(paths, usecase)

    def land_batch(period: int) -> str:
        name = _file_name("batch", period, d.period, d.format)
        storage.write_table(history.batches[period], paths.landing / name)
        return name

    delivered: list[int] = []

    def land_labels(periods: Sequence[int]) -> None:
        for q in periods:
            name = _file_name("labels", q, d.period, d.format)
            storage.write_table(history.labels[q], paths.labels / name)
            delivered.append(q)

    for p in plan.bootstrap_periods:
        land_batch(p)
    land_labels(plan.bootstrap_periods)

    progress = cycle_progress()
    rows: list[CycleResult] = []
    # Subflows: the replay run's own heartbeat (if any) covers the process.
    with progress if show_progress else nullcontext(), without_heartbeats():
        bar = progress.add_task("bootstrap", total=len(plan.live) + 1)
        rows.append(bootstrap(usecase_path, data_root=str(root)))
        if rows[-1].status == "exists":
            raise ReplayError(
                f"{usecase.name!r} already has a model in this MLflow registry: replay into "
                "a fresh data root and tracking store"
            )
        advance(progress, bar, rows[-1], show_progress, d.period)
        for p in plan.live:
            name = land_batch(p)
            land_labels(plan.labels_due(p, delivered))
            rows.append(monitor(usecase_path, name, data_root=str(root)))
            advance(progress, bar, rows[-1], show_progress, d.period)

    first, last = plan.live[0], plan.live[-1]
    publish_table(
        usecase.name,
        "replay",
        [table_row(r, d.period) for r in rows],
        f"Replay of {Path(data_path).name}: {period_label(first, d.period)} to "
        f"{period_label(last, d.period)}, one row per period",
    )
    return rows

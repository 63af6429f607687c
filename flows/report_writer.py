"""Writing the report files: a cycle's report after its decisions, and the history report.

``write_cycle_report`` is what a cycle calls once its decisions are recorded:
it reads the decision run back from MLflow (so the report shows exactly what
was recorded), gathers the history for the charts, the batch's review queue and
Evidently's drift report on a bounded sample, and writes one HTML file into the
use case's reports folder. ``history_report`` writes the decisions of many
cycles (champion timeline, decisions, performance); ``mlops report`` calls it.
The HTML itself is rendered by ``tasks.html_report``.

Heavy imports (MLflow, Evidently, matplotlib) happen inside the functions, so
the CLI that imports this module stays instant.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_core.periods import PeriodUnit
    from tasks.history import RecordedCycle
    from tasks.runtime import Runtime

#: Periods of history drawn in a cycle report's charts.
CYCLE_REPORT_HISTORY_PERIODS = 52


def _logger() -> Any:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _write_atomically(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def cycle_report_path(rt: Runtime, period: int, run_id: str) -> Path:
    """Where the report of a cycle goes: ``<reports>/cycle-period-0020-<run id>.html``."""
    return rt.paths.reports / f"cycle-period-{period:04d}-{run_id[:12]}.html"


def render_recorded_cycle(
    rt: Runtime,
    cycle: RecordedCycle,
    *,
    with_drift_report: bool = True,
    now: dt.datetime | None = None,
) -> str:
    """The HTML report of a recorded cycle (raises on any problem; see ``write_cycle_report``).

    Args:
        rt: The use case's runtime.
        cycle: The cycle as recorded (``tasks.history.read_cycle``).
        with_drift_report: Embed Evidently's drift report (a few seconds per cycle).
        now: Time shown as the report's making (default: now).

    Returns:
        The HTML document.
    """
    import warnings

    from mlops_core.schema_change import usecase_for_inputs
    from tasks import history, training_runs
    from tasks.html_report import REVIEW_ROWS_SHOWN, evidently_drift_html, render_cycle_report

    o = cycle.outcome
    past = history.load_history(
        rt.client,
        rt.decisions_experiment_id,
        since_period=o.period - CYCLE_REPORT_HISTORY_PERIODS,
        until_period=o.period,
        read_records=False,
    )
    review = None
    if o.guardrails is not None:
        review = history.load_review_queue(
            rt.paths.review, o.batch, rt.usecase, limit=REVIEW_ROWS_SHOWN
        )
    drift_html = None
    scorer = o.kept_version  # the champion that scored the batch and was measured for drift
    current = rt.paths.processed / f"{Path(o.batch).stem}.{o.gate.batch_sha256[:12]}.parquet"
    if with_drift_report and o.drift is not None and scorer is not None and current.exists():
        import pandas as pd

        info = training_runs.get_model_version_info(
            rt.client, rt.usecase.registered_model_name, version=scorer
        )
        if info is not None:
            reference = training_runs.load_reference(rt.client, info.run_id)
            with warnings.catch_warnings():
                # Evidently's correlation step divides by a zero spread on constant
                # columns; the drift verdicts do not use it.
                warnings.simplefilter("ignore", RuntimeWarning)
                drift_html = evidently_drift_html(
                    reference.drop(columns=["prediction"], errors="ignore"),
                    pd.read_parquet(current),
                    # The scorer's own inputs: the reference holds no column added since.
                    usecase_for_inputs(rt.usecase, info.profile.feature_names),
                    seed=o.period,
                )
    return render_cycle_report(
        cycle,
        past,
        rt.usecase,
        generated_at=now or dt.datetime.now(dt.UTC),
        review=review,
        drift_report_html=drift_html,
        drift_sample_rows=rt.usecase.drift.report_sample_rows if drift_html else None,
    )


def write_cycle_report(rt: Runtime, run_id: str, *, with_drift_report: bool = True) -> Path | None:
    """Write the HTML report of a recorded cycle into the use case's reports folder.

    Called after the cycle's decisions are recorded (and carried out), so the
    report reads them back exactly as recorded, including a promotion that was
    superseded. A report is for people and is never part of a decision: a
    failure to write it is logged as a warning and the cycle goes on.

    Args:
        rt: The use case's runtime.
        run_id: The cycle's retrain-kind decision run.
        with_drift_report: Embed Evidently's drift report on a bounded sample.

    Returns:
        The HTML file, or None when it could not be written (warning logged).
    """
    try:
        from tasks import history

        cycle = history.read_cycle(rt.client, run_id)
        text = render_recorded_cycle(rt, cycle, with_drift_report=with_drift_report)
        return _write_atomically(cycle_report_path(rt, cycle.outcome.period, run_id), text)
    except Exception:  # noqa: BLE001 - a report never fails a recorded cycle
        _logger().warning(
            "the cycle report of decision run %s was not written", run_id, exc_info=True
        )
        return None


# ------------------------------------------------------------------ history
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_since(
    since: str | int | None, unit: PeriodUnit | None = None
) -> tuple[int | None, dt.datetime | None, str | None]:
    """Read ``--since``: a period (number or, with ``data.period``, a date) or an ISO date.

    With ``unit`` (the use case cuts its time column into days, weeks or
    months) a date names the first period of the data to include (``2012-03``,
    ``2012-03-05``), as the reports show periods; without, a date or date-time
    is the first moment the cycles ran, a time-zone-less one taken as UTC.

    Args:
        since: E.g. ``"12"``, ``"2026-01-31"`` or ``"2026-01-31T08:00:00+01:00"``; None for all.
        unit: ``data.period`` of the use case.

    Returns:
        (first period, first time, label): one of the first two is set, or neither.

    Raises:
        ValueError: Neither a whole number nor an ISO date.
    """
    if since is None or str(since).strip() == "":
        return None, None, None
    text = str(since).strip()
    if unit is not None and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", text):
        import pandas as pd  # here: `mlops --help` does not import pandas

        from mlops_core.periods import period_index, period_label

        try:
            first = int(period_index(pd.Series([text]), unit, "--since").iloc[0])
        except ValueError:
            first = None
        if first is not None:
            return first, None, period_label(first, unit)
    if re.fullmatch(r"-?\d+", text):
        return int(text), None, f"period {int(text)}"
    if _ISO_DATE.match(text):
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return None, moment, text
    raise ValueError(
        f"--since {since!r}: expected a period number (e.g. 12) or an ISO date (e.g. 2026-01-31)"
    )


def history_report(
    usecase_path: str | os.PathLike[str],
    since: str | int | None,
    data_root: str | None,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the history report of a use case: champion timeline, decisions, performance.

    Args:
        usecase_path: The use-case file.
        since: First period (a number) or first day (ISO date); None for every cycle.
        data_root: Data root (default ``$MLOPS_HOME``).
        out: HTML file to write (default: ``history-....html`` in the reports folder).

    Returns:
        The HTML file.

    Raises:
        ValueError: ``since`` is neither a period number nor an ISO date.
    """
    from tasks import history
    from tasks.html_report import render_history_report
    from tasks.runtime import open_runtime

    rt = open_runtime(usecase_path, data_root)
    since_period, since_time, label = parse_since(since, rt.usecase.data.period)
    past = history.load_history(
        rt.client, rt.decisions_experiment_id, since_period=since_period, since_time=since_time
    )
    text = render_history_report(
        past, rt.usecase, generated_at=dt.datetime.now(dt.UTC), since_label=label
    )
    slug = re.sub(r"[^0-9A-Za-z]+", "-", label or "all").strip("-")
    target = Path(out) if out is not None else rt.paths.reports / f"history-{slug}.html"
    return _write_atomically(target, text)

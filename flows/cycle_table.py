"""The per-period table and progress bar of runs that drive many cycles (demo, replay).

Rows are the ``monitor`` and ``bootstrap`` flows' results; periods are shown
as people read them (``2012-03``, ``2012-03-05``) when the use case cuts dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlops_core.periods import PeriodUnit, short_label
from mlops_core.reasons import ReasonCode
from mlops_core.records import CycleResult
from tasks.decision_store import DecisionRunInfo
from tasks.tags import TAG_BATCH, TAG_CHAMPION_VERSION, TAG_PERIOD, TAG_SUPERSEDED_BY


def cycle_progress() -> Progress:
    """A progress bar on stderr, wide enough for a cycle's one-line outcome."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, width=max(Console(stderr=True).width, 150)),
    )


def period_text(period: int | None, unit: PeriodUnit | None) -> str:
    """A period for the table: its date label, or the integer period."""
    return "-" if period is None else short_label(period, unit)


def advance(
    progress: Progress,
    bar: Any,
    row: CycleResult,
    show: bool,
    unit: PeriodUnit | None = None,
) -> None:
    """Advance the bar by one cycle and, when shown, describe what it decided."""
    progress.advance(bar)
    if show:
        promo = f", {row.promotion}" if row.promotion else ""
        progress.update(
            bar,
            description=f"period {period_text(row.period, unit)}: {row.decision} "
            f"({row.reason}{promo})".ljust(48),
        )


def _fmt(x: Any) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def results_table(
    rows: Sequence[CycleResult],
    metric: str = "mae",
    unit: PeriodUnit | None = None,
    title: str = "mlops demo: one row per period",
) -> Table:
    """The per-period table printed at the end of a demo or replay."""
    table = Table(title=title, show_lines=False)
    for col in (
        "period",
        "validation",
        "drift share",
        f"realized {metric.upper()}",
        "decision",
        "reason",
        "promotion",
        "champion",
        "guardrail actions",
    ):
        table.add_column(col)
    for r in rows:
        t = table_row(r, unit)
        table.add_row(
            str(t["period"]),
            str(t["validation"]),
            _fmt(t["drift_share"]),
            _fmt(t["realized"]),
            str(t["decision"]),
            str(t["reason"]),
            str(t["promotion"] or ""),
            f"v{t['champion']}" if t["champion"] else "-",
            t["guardrails"],
        )
    return table


def table_row(
    r: CycleResult, unit: PeriodUnit | None = None
) -> dict[str, str | int | float | None]:
    """One cycle's result as a row of the table (and of the Prefect table artifact)."""
    return {
        "period": period_text(r.period, unit) if unit else r.period,
        "validation": r.validation,
        "drift_share": r.drift_share,
        "realized": r.realized,
        "decision": r.decision,
        "reason": r.reason,
        "promotion": r.promotion,
        "champion": r.champion_version,
        "guardrails": ", ".join(f"{k}={v}" for k, v in sorted(r.guardrail_actions.items())),
    }


def _tag_period(value: str | None) -> int | None:
    return int(value) if value not in (None, "", "None") else None


def _text(value: str | None) -> str | None:
    return None if value in (None, "", "None") else value


def _rounded(metrics: dict[str, float], key: str) -> float | None:
    value = metrics.get(key)
    return None if value is None or value != value else round(value, 4)  # NaN: not measured


def recent_period_rows(
    cycles: Sequence[DecisionRunInfo],
    promotions: Sequence[DecisionRunInfo],
    unit: PeriodUnit | None = None,
) -> list[dict[str, str | int | float | None]]:
    """The last cycles as rows of the per-use-case table artifact, oldest first.

    Built from the decision runs' tags and metrics (one search each for the
    ``retrain``-kind and ``promotion``-kind runs), the columns of the demo's
    table with the realized interval, the estimate and the domain AUC beside them.

    Args:
        cycles: The cycles' ``retrain``-kind decision runs, newest first.
        promotions: Promotion-kind decision runs (matched to a cycle by its batch).
        unit: The use case's period unit, for the period labels.
    """
    promoted = {run.tags.get(TAG_BATCH): run for run in promotions}
    rows: list[dict[str, str | int | float | None]] = []
    for run in reversed(cycles):
        promotion = promoted.get(run.tags.get(TAG_BATCH))
        superseded = run.tags.get(TAG_SUPERSEDED_BY)
        m = run.metrics
        rows.append(
            {
                "period": period_text(_tag_period(run.tags.get(TAG_PERIOD)), unit),
                "validation": "fail" if ReasonCode.BATCH_FAILED_GATE in run.reasons else "pass",
                "decision": run.action,
                "reason": run.reasons[0] if run.reasons else "-",
                "promotion": "superseded"
                if superseded
                else (promotion.action if promotion is not None else None),
                "champion": superseded or _text(run.tags.get(TAG_CHAMPION_VERSION)),
                "realized": _rounded(m, "realized"),
                "realized_low": _rounded(m, "realized_low"),
                "realized_high": _rounded(m, "realized_high"),
                "estimated": _rounded(m, "estimated"),
                "drift_share": _rounded(m, "drift_share"),
                "domain_auc": _rounded(m, "domain_auc"),
                "guardrail_rate": _rounded(m, "guardrail_violation_rate"),
            }
        )
    return rows

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
from mlops_core.records import CycleResult


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

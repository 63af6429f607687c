"""Assembling a cycle's evidence into ``RetrainInputs``: one place, used by the
live ``monitor`` flow and by every in-memory replay, so both decide on the
same inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlops_core.decisions import DecayCause, DriftSummary, PerformanceSummary, RetrainInputs
from mlops_core.periods import is_late


@dataclass(frozen=True)
class PastDecision:
    """What one earlier retrain-kind decision contributes to the next one."""

    period: int | None
    action: str
    labels_through: int | None


@dataclass(frozen=True)
class DecisionHistory:
    """What earlier decisions say about cooldown, budget and label progress."""

    labels_through: int | None
    last_retrain_period: int | None
    retrain_periods: tuple[int, ...]
    last_period: int | None = None  # the latest period decided: a batch before it is late

    @classmethod
    def from_decisions(cls, newest_first: Iterable[PastDecision]) -> DecisionHistory:
        """Summarise earlier decisions, given newest first."""
        labels_through = None
        retrains: list[int] = []
        periods: list[int] = []
        for d in newest_first:
            if labels_through is None and d.labels_through is not None:
                labels_through = d.labels_through
            if d.period is not None:
                periods.append(d.period)
                if d.action in ("train", "retrain"):
                    retrains.append(d.period)
        return cls(
            labels_through=labels_through,
            last_retrain_period=max(retrains) if retrains else None,
            retrain_periods=tuple(retrains),
            last_period=max(periods) if periods else None,
        )

    def seen_through(self, champion_trained_period: int | None) -> int | None:
        """Labels up to this period were already judged (or trained on) before."""
        known = [p for p in (self.labels_through, champion_trained_period) if p is not None]
        return max(known) if known else None

    def retrains_since(self, period: int, window: int) -> int:
        """Retrains within the last ``window`` periods before ``period``."""
        return sum(p > period - window for p in self.retrain_periods)


def build_retrain_inputs(
    *,
    period: int,
    gate_passed: bool,
    champion_trained_period: int | None,
    has_champion: bool,
    history: DecisionHistory,
    budget_window_periods: int,
    new_labeled_rows: int,
    last_labeled_period: int | None,
    rows_per_period: float,
    performance: PerformanceSummary | None,
    drift: DriftSummary | None,
    decay_cause: DecayCause,
) -> RetrainInputs:
    """The inputs of ``decide_retrain`` for one cycle."""
    return RetrainInputs(
        period=period,
        gate_passed=gate_passed,
        has_champion=has_champion,
        champion_trained_period=champion_trained_period,
        last_retrain_period=history.last_retrain_period,
        retrain_periods_in_budget_window=history.retrains_since(period, budget_window_periods),
        new_labeled_rows=new_labeled_rows,
        last_labeled_period=last_labeled_period,
        rows_per_period=rows_per_period,
        late_after=history.last_period if is_late(period, history.last_period) else None,
        performance=performance,
        drift=drift,
        decay_cause=decay_cause,
    )


def bootstrap_inputs(*, last_labeled_period: int | None, labeled_rows: int) -> RetrainInputs:
    """The inputs of ``decide_retrain`` for the first champion: every labeled row is
    new and there is no champion yet (rule 2 decides, the floor still applies later)."""
    return RetrainInputs(
        period=last_labeled_period if last_labeled_period is not None else 0,
        gate_passed=True,
        has_champion=False,
        new_labeled_rows=labeled_rows,
        last_labeled_period=last_labeled_period,
    )

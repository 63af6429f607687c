"""Recorded cycles for tests of what stores and reads them: decay, a retrain, a
promotion, and the ledger entry that commits a batch."""

from __future__ import annotations

import datetime as dt

from mlops_core.config import DriftPolicy, PromotionPolicy, RetrainPolicy
from mlops_core.decisions import (
    GateDecision,
    MetricInterval,
    PerformanceSummary,
    PromotionInputs,
    RetrainInputs,
)
from mlops_core.promotion import decide_promotion
from mlops_core.records import LedgerEntry
from mlops_core.report import CycleOutcome
from mlops_core.retrain import decide_retrain


def promoting_outcome(
    *,
    realized: float = 10.5,
    has_champion: bool = True,
    champion_before: str | None = None,
    challenger: str = "4",
    batch: str = "period_021.csv",
    batch_sha256: str = "a" * 64,
) -> CycleOutcome:
    """Period 21: the champion's MAE rose from 7.0 to ``realized``; the retrained
    challenger (MAE 7.2 on its holdout) passed the promotion gate.

    The decisions are made by ``decide_retrain`` and ``decide_promotion`` on these
    inputs, so the outcome holds their real reasons and numbers.
    """
    low, high = realized - 0.4, realized + 0.4
    perf = PerformanceSummary(
        metric="mae",
        reference=7.0,
        realized=MetricInterval(metric="mae", value=realized, low=low, high=high, rows=360),
        decay=realized / 7 - 1,
        decay_low=low / 7 - 1,
        decay_high=high / 7 - 1,
        new_labeled_rows=360,
    )
    retrain = decide_retrain(
        RetrainInputs(
            period=21,
            gate_passed=True,
            has_champion=has_champion,
            champion_trained_period=18,
            new_labeled_rows=360,
            last_labeled_period=19,
            rows_per_period=360,
            performance=perf,
            decay_cause="concept_drift",
        ),
        RetrainPolicy(max_decay=0.15),
        DriftPolicy(),
        "mae",
    )
    promotion = decide_promotion(
        PromotionInputs(
            metric="mae",
            holdout_rows=700,
            challenger_metric=7.2,
            champion_metric=realized,
            p_value=0.001,
            baseline_metric=25.0,
            baseline="median 40",
        ),
        PromotionPolicy(floor=20.0, min_improvement=0.02),
    )
    return CycleOutcome(
        period=21,
        batch=batch,
        gate=GateDecision(
            action="pass", batch=batch, batch_sha256=batch_sha256, rows=360, reasons=(), results=()
        ),
        retrain=retrain,
        performance=perf,
        promotion=promotion,
        champion_version=challenger,
        challenger_version=challenger,
        champion_before=champion_before,
    )


def sample_ledger_entry(n: int, **changes: object) -> LedgerEntry:
    """The ledger entry of batch ``period_<n>.csv`` (hash ``n`` zero-padded), decided ``skip``."""
    base = LedgerEntry(
        sha256=f"{n:064d}",
        batch=f"period_{n:03d}.csv",
        period=n,
        gate="pass",
        decision="skip",
        decision_run_id=f"run-{n}",
        at=dt.datetime(2026, 3, 2, 9, n, tzinfo=dt.UTC),
    )
    return base.model_copy(update=changes)

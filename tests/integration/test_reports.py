"""Report reading and rendering against a real MLflow store, real files and matplotlib.

Decision runs are written with ``tasks.decision_store.log_decision_run`` exactly as a
cycle writes them (records from the real decision functions, the same tags and
metrics), then read back by ``tasks.history`` and rendered by ``tasks.html_report``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flows.report_writer import parse_since
from mlops_core.config import DriftPolicy, PromotionPolicy, RetrainPolicy
from mlops_core.decisions import (
    DriftSummary,
    FeatureDrift,
    GateDecision,
    GuardrailSummary,
    MetricInterval,
    PerformanceSummary,
    PromotionInputs,
    RetrainInputs,
)
from mlops_core.promotion import decide_promotion
from mlops_core.records import CycleRecord, RollbackRecord
from mlops_core.report import CycleOutcome, cycle_summary
from mlops_core.retrain import decide_retrain
from mlops_core.sentences import wording_for
from tasks import decision_store, history, mlflow_store
from tasks.html_report import render_cycle_report, render_history_report
from tasks.storage import load_usecase_file
from tasks.tags import METRIC_PERIOD, TAG_SUPERSEDED_BY

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

USECASE = load_usecase_file(Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml")
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


# --------------------------------------------------------------- builders
def _gate(period: int, action: str = "pass") -> GateDecision:
    return GateDecision(
        action=action,
        batch=f"period_{period:03d}.csv",
        batch_sha256=f"{period:064d}",
        rows=360,
        reasons=(),
        results=(),
    )


def _perf(realized: float) -> PerformanceSummary:
    return PerformanceSummary(
        metric="mae",
        reference=7.0,
        realized=MetricInterval(
            metric="mae", value=realized, low=realized - 0.4, high=realized + 0.4, rows=360
        ),
        decay=realized / 7 - 1,
        decay_low=(realized - 0.4) / 7 - 1,
        decay_high=(realized + 0.4) / 7 - 1,
        estimated=7.1,
        estimated_low=6.8,
        estimated_high=7.4,
        estimate_method="dle",
        current_estimate=MetricInterval(metric="mae", value=7.3, low=7.0, high=7.6, rows=360),
        new_labeled_rows=360,
    )


def _drift(names: dict[str, tuple[float, bool]]) -> DriftSummary:
    features = tuple(
        FeatureDrift(
            feature=name,
            kind="numeric",
            method="wasserstein",
            score=0.3 if drifted else 0.02,
            threshold=0.1,
            drifted=drifted,
            importance=importance,
        )
        for name, (importance, drifted) in names.items()
    )
    drifted = [f for f in features if f.drifted]
    return DriftSummary(
        features=features,
        drift_share=len(drifted) / len(features),
        importance_weighted_share=sum(f.importance for f in drifted),
        reference_rows=720,
        current_rows=360,
    )


def _cycle(period: int, realized: float, *, champion: str, challenger: str | None = None):
    perf = _perf(realized)
    drift = _drift({"price": (0.5, realized > 9), "<b>temp</b>": (0.5, False)})
    retrain = decide_retrain(
        RetrainInputs(
            period=period,
            gate_passed=True,
            has_champion=True,
            champion_trained_period=period - 3,
            new_labeled_rows=360,
            last_labeled_period=period - 2,
            rows_per_period=360,
            performance=perf,
            drift=drift,
            decay_cause="concept_drift",
        ),
        RetrainPolicy(max_decay=0.15),
        DriftPolicy(),
        "mae",
    )
    promotion = None
    if retrain.action == "retrain":
        promotion = decide_promotion(
            PromotionInputs(
                metric="mae",
                holdout_rows=700,
                challenger_metric=7.2,
                champion_metric=realized,
                p_value=0.001,
                loss_difference_mean=0.5,
                loss_difference_low=0.2,
                loss_difference_high=0.8,
                baseline_metric=25.0,
                baseline="median 40",
            ),
            PromotionPolicy(floor=20.0, min_improvement=0.02),
        )
    promoted = promotion is not None and promotion.action == "promote"
    return CycleOutcome(
        period=period,
        batch=f"period_{period:03d}.csv",
        gate=_gate(period),
        retrain=retrain,
        performance=perf,
        drift=drift,
        guardrails=GuardrailSummary(
            rows=360,
            violating_rows=12,
            violation_rate=12 / 360,
            held_rows=5,
            actions={"store_capacity:quarantine": 5, "max_ratio_to_column:flag": 7},
        ),
        promotion=promotion,
        champion_version=challenger if promoted else champion,
        challenger_version=challenger if promotion else None,
        champion_before=champion,
    )


def _record(o: CycleOutcome) -> CycleRecord:
    """The record ``tasks.commit_protocol.finish`` writes."""
    return CycleRecord.from_outcome(
        o,
        usecase=USECASE.name,
        summary=cycle_summary(o),
        decay_cause="concept_drift",
        champion_before=o.champion_before,
    )


def _log(client, exp: str, o: CycleOutcome, *, superseded_by: str | None = None) -> str:
    tags = {
        "mlops.batch": o.batch,
        "mlops.batch_sha256": o.gate.batch_sha256,
        "mlops.period": str(o.period),
        "mlops.labels_through": str(o.period - 2),
        "mlops.champion_version": str(o.champion_version),
    }
    perf = o.performance
    assert perf is not None and perf.realized is not None and o.retrain is not None
    metrics = {
        METRIC_PERIOD: float(o.period),  # as every cycle logs it (commit_protocol.cycle_metrics)
        "realized": perf.realized.value,
        "realized_low": perf.realized.low,
        "realized_high": perf.realized.high,
        "reference": perf.reference,
        "estimated": perf.estimated or 0.0,
        "estimated_current": 7.3,
    }
    run_id = decision_store.log_decision_run(
        client,
        experiment_id=exp,
        run_name=f"p{o.period}",
        kind="retrain",
        action=o.retrain.action,
        reason_codes=[r.code for r in o.retrain.reasons],
        record=_record(o),
        markdown="-",
        metrics=metrics,
        tags=tags,
    )
    if o.promotion is not None:
        time.sleep(0.01)  # runs are ordered by their start time in milliseconds
        decision_store.log_decision_run(
            client,
            experiment_id=exp,
            run_name=f"p{o.period}-{o.promotion.action}",
            kind="promotion",
            action=o.promotion.action,
            reason_codes=[],
            record=_record(o),
            markdown="-",
            metrics={},
            tags={**tags, "mlops.challenger_version": str(o.challenger_version)},
        )
    if superseded_by is not None:
        client.set_tag(run_id, TAG_SUPERSEDED_BY, superseded_by)
    time.sleep(0.01)
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("mlflow")
    client = mlflow_store.make_client(mlflow_store.settings_for_data_root(root))
    exp = mlflow_store.ensure_experiment(client, "shop-decisions", str(root / "mlartifacts"))
    runs = {
        20: _log(client, exp, _cycle(20, 7.1, champion="3")),
        21: _log(client, exp, _cycle(21, 10.5, champion="3", challenger="4")),
        22: _log(client, exp, _cycle(22, 10.8, champion="4", challenger="5"), superseded_by="6"),
    }
    decision_store.log_decision_run(
        client,
        experiment_id=exp,
        run_name="rollback",
        kind="rollback",
        action="rollback",
        reason_codes=["manual_rollback"],
        record=RollbackRecord(from_version="4", to_version="3", reason="odd", requested_by="Ana"),
        markdown="-",
        metrics={},
        tags={"mlops.champion_version": "3", "mlops.previous_version": "4"},
    )
    return {"client": client, "exp": exp, "runs": runs}


# ------------------------------------------------------------- the history
def test_read_cycle_returns_the_recorded_decisions(store):
    cycle = history.read_cycle(store["client"], store["runs"][21])
    assert cycle.outcome == _cycle(21, 10.5, champion="3", challenger="4")
    assert (cycle.labels_through, cycle.decay_cause, cycle.usecase) == (
        19,
        "concept_drift",
        "retail_demand",
    )
    superseded = history.read_cycle(store["client"], store["runs"][22]).outcome
    assert superseded.superseded_by == "6"


def test_history_points_and_timeline_leave_out_a_superseded_promotion(store):
    past = history.load_history(store["client"], store["exp"])
    assert [(p.period, p.action, p.promotion, p.superseded_by) for p in past.points] == [
        (20, "skip", None, None),
        (21, "retrain", "promote", None),
        (22, "retrain", "promote", "6"),
    ]
    assert [p.promoted for p in past.points] == [False, True, False]
    assert past.points[1].realized == pytest.approx(10.5) and past.points[1].labels_through == 19
    assert all(p.cycle is not None for p in past.points)
    changes = [(s.change.version, s.change.previous, s.change.kind) for s in past.timeline]
    assert changes == [("4", "3", "promotion"), ("3", "4", "rollback")]
    first, back = past.timeline
    assert (first.first_period, first.last_period) == (21, 22)
    assert (back.first_period, back.last_period, back.end) == (23, None, None)
    assert back.change.requested_by == "Ana" and back.change.reason == "odd"


def test_history_window_and_the_light_read(store):
    past = history.load_history(store["client"], store["exp"], since_period=21, read_records=False)
    assert [p.period for p in past.points] == [21, 22]
    assert past.timeline == () and all(p.cycle is None for p in past.points)
    future = NOW.replace(year=2999)
    assert history.load_history(store["client"], store["exp"], since_time=future).points == ()
    capped = history.load_history(store["client"], store["exp"], until_period=20)
    assert [p.period for p in capped.points] == [20]


# ------------------------------------------------------------ review queue
def test_review_queue_is_read_capped_with_counts(tmp_path):
    frame = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(7)],
            "store": ["S01"] * 7,
            "raw_prediction": np.arange(7, dtype=float) * 100,
            "proposed_prediction": np.arange(7, dtype=float) * 10,
            "violations": ["store_capacity:quarantine"] * 5
            + ["store_capacity:quarantine; input_out_of_range:flag"] * 2,
            "review_status": ["pending"] * 6 + ["approved"],
        }
    )
    frame.to_parquet(tmp_path / "period_012.parquet")
    queue = history.load_review_queue(tmp_path, "period_012.csv", USECASE, limit=3)
    assert queue.total == 7 and len(queue.rows) == 3
    assert queue.rows[0] == history.HeldRow(
        row_id="r0",
        segment="S01",
        raw_prediction=0.0,
        proposed_prediction=0.0,
        violations=("store_capacity:quarantine",),
        status="pending",
    )
    assert queue.by_rule == {"input_out_of_range:flag": 2, "store_capacity:quarantine": 7}
    assert queue.by_status == {"approved": 1, "pending": 6}
    empty = history.load_review_queue(tmp_path, "period_013.csv", USECASE)
    assert (empty.total, empty.rows) == (0, ())


# ---------------------------------------------------------------- rendering
def _no_address(text: str) -> None:
    assert not re.search(r"https?:|ftp:", text, re.IGNORECASE)
    for value in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text, re.IGNORECASE):
        assert value.startswith(("#", "data:")), value


def test_cycle_report_renders_the_record_and_escapes_its_text(store):
    client, exp = store["client"], store["exp"]
    cycle = history.read_cycle(client, store["runs"][22])
    past = history.load_history(client, exp, until_period=22, read_records=False)
    text = render_cycle_report(cycle, past, USECASE, generated_at=NOW)
    _no_address(text)
    summary = cycle_summary(cycle.outcome, wording_for(USECASE))
    assert summary.startswith("We trained version 5 and the checks approved it, but it was not")
    assert f'<p class="summary">{summary}</p>' in text
    assert text.count('<figure class="chart"') == 4 and text.count("<title>") == 5
    assert "&lt;b&gt;temp&lt;/b&gt;" in text and "<b>temp</b>" not in text
    assert '<td class="action">superseded</td>' in text
    assert "Evidently drift report" in text and "evidently-data" not in text
    assert "2026-03-02 09:30 UTC" in text


def test_history_report_renders_the_timeline(store):
    past = history.load_history(store["client"], store["exp"])
    text = render_history_report(past, USECASE, generated_at=NOW, since_label=None)
    _no_address(text)
    assert "Version 4 replaced version 3 in period 21." in text
    assert "Version 3 came back when Ana rolled back version 4: &quot;odd&quot;." in text
    assert "superseded by version 6" in text
    assert text.count('<figure class="chart"') == 3


# ---------------------------------------------------------------- --since
@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, (None, None, None)),
        ("", (None, None, None)),
        ("12", (12, None, "period 12")),
        (7, (7, None, "period 7")),
        ("2026-01-31", (None, dt.datetime(2026, 1, 31, tzinfo=dt.UTC), "2026-01-31")),
        (
            "2026-01-31T08:00:00+01:00",
            (
                None,
                dt.datetime(2026, 1, 31, 7, tzinfo=dt.UTC),
                "2026-01-31T08:00:00+01:00",
            ),
        ),
    ],
)
def test_since_is_a_period_or_an_iso_date(since, expected):
    assert parse_since(since) == expected


@pytest.mark.parametrize("since", ["last week", "2026-13-40", "12.5"])
def test_since_refuses_anything_else(since):
    with pytest.raises(ValueError, match="expected a period number"):
        parse_since(since)


def test_since_is_the_data_period_when_the_use_case_cuts_dates():
    # (2012 - 1970) * 12 + 2 is March 2012; weeks are counted from Monday 1970-01-05.
    assert parse_since("2012-03", "month") == (506, None, "2012-03")
    assert parse_since("2012-03-07", "week") == (2200, None, "week of 2012-03-05")
    assert parse_since("17", "month") == (17, None, "period 17")
    # Without data.period a date is the first day the cycles ran.
    assert parse_since("2012-03-07")[1] == dt.datetime(2012, 3, 7, tzinfo=dt.UTC)

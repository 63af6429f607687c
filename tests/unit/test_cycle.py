"""Decision history and retrain-input assembly shared by the flow and replays."""

from __future__ import annotations

import pytest

from mlops_core.cycle import DecisionHistory, PastDecision, build_retrain_inputs

pytestmark = pytest.mark.unit


def _h(*decisions: tuple[int | None, str, int | None]) -> DecisionHistory:
    return DecisionHistory.from_decisions(PastDecision(*d) for d in decisions)


@pytest.mark.parametrize(
    ("decisions", "labels_through", "last_retrain", "retrains"),
    [
        ((), None, None, ()),
        (((12, "skip", 10), (11, "retrain", 9), (7, "train", 7)), 10, 11, (11, 7)),
        # the newest decision that knows its label progress wins, even if older ones say more
        (((12, "block", None), (11, "skip", 9), (10, "skip", 8)), 9, None, ()),
        (((15, "retrain", 13), (9, "retrain", 7), (20, "skip", 18)), 13, 15, (15, 9)),
    ],
)
def test_history_from_decisions(decisions, labels_through, last_retrain, retrains):
    h = _h(*decisions)
    assert h.labels_through == labels_through
    assert h.last_retrain_period == last_retrain
    assert h.retrain_periods == retrains


@pytest.mark.parametrize(
    ("labels_through", "trained", "expected"),
    [(None, None, None), (None, 7, 7), (9, 7, 9), (5, 7, 7)],
)
def test_seen_through_is_the_later_of_judged_and_trained(labels_through, trained, expected):
    h = DecisionHistory(labels_through=labels_through, last_retrain_period=None, retrain_periods=())
    assert h.seen_through(trained) == expected


@pytest.mark.parametrize(
    ("period", "window", "expected"),
    [(20, 13, 2), (20, 5, 0), (20, 6, 1), (30, 13, 0), (16, 1, 0), (16, 2, 1)],
)
def test_retrains_since_counts_only_the_window(period, window, expected):
    # A window of w periods at period t covers t-w+1 .. t.
    h = DecisionHistory(labels_through=None, last_retrain_period=15, retrain_periods=(15, 9))
    assert h.retrains_since(period, window) == expected


def test_build_retrain_inputs_carries_history_into_the_decision_inputs():
    h = DecisionHistory(labels_through=9, last_retrain_period=15, retrain_periods=(15, 9))
    inputs = build_retrain_inputs(
        period=20,
        gate_passed=True,
        champion_trained_period=13,
        has_champion=True,
        history=h,
        budget_window_periods=13,
        new_labeled_rows=300,
        last_labeled_period=18,
        rows_per_period=360.0,
        performance=None,
        drift=None,
        decay_cause="unknown",
    )
    assert inputs.last_retrain_period == 15
    assert inputs.retrain_periods_in_budget_window == 2
    assert inputs.last_labeled_period == 18 and inputs.new_labeled_rows == 300


@pytest.mark.parametrize(("last", "period"), [(7, 7), (None, 0)])
def test_bootstrap_inputs_count_every_labeled_row_as_new(last, period):
    from mlops_core.cycle import bootstrap_inputs

    inputs = bootstrap_inputs(last_labeled_period=last, labeled_rows=2880)
    assert (inputs.period, inputs.last_labeled_period, inputs.new_labeled_rows) == (
        period,
        last,
        2880,
    )
    assert inputs.gate_passed and not inputs.has_champion

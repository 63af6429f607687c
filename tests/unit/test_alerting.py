"""The alert policy: each mode, de-duplication by cause, resolution, digests, fail safe."""

from __future__ import annotations

import pytest

from mlops_core.alerting import (
    AlertCondition,
    AlertKind,
    AlertRound,
    AlertState,
    decide_alerts,
    guardrail_conditions,
)
from mlops_core.config import AlertPolicy, AlertRule
from mlops_core.decisions import GuardrailSummary, InputRangeFinding
from mlops_core.reasons import ReasonCode as C

pytestmark = pytest.mark.unit

BREACH = AlertKind.GUARDRAIL_BREACH
FINDING = AlertKind.GUARDRAIL_FINDING
MEASURED = (BREACH, FINDING)


def breach(cause: str, count: int, rows: int = 1000, breaker: bool = False) -> AlertCondition:
    return AlertCondition(kind=BREACH, cause=cause, count=count, rows=rows, breaker=breaker)


def run(
    weeks: list[list[AlertCondition]],
    policy: AlertPolicy | None = None,
    measured: tuple[str, ...] = MEASURED,
) -> list[AlertRound]:
    """Decide a sequence of weekly cycles (period = index), carrying the state along."""
    policy = policy or AlertPolicy()
    state, rounds = AlertState(), []
    for period, conditions in enumerate(weeks):
        r = decide_alerts(
            conditions,
            measured=measured,
            policy=policy,
            state=state,
            period=period,
            batch_sha256=f"sha{period}",
        )
        state = r.state
        rounds.append(r)
    return rounds


def actions(rounds: list[AlertRound]) -> list[list[tuple[str, str]]]:
    return [[(d.cause, d.action) for d in r.decisions] for r in rounds]


def test_a_small_recurring_breach_alerts_once_then_is_muted_and_counted() -> None:
    # 1 to 4% of the rows clipped every week: below the default 5% threshold.
    rounds = run([[breach("range:clip", n)] for n in (10, 40, 25, 1, 33, 12)])
    assert actions(rounds) == [[("range:clip", "raise")]] + [[("range:clip", "mute")]] * 5
    assert rounds[0].decisions[0].reason.code == C.ALERT_NEW_CAUSE
    assert [r.decisions[0].reason.code for r in rounds[1:]] == [C.ALERT_BELOW_THRESHOLD] * 5
    assert [r.decisions[0].muted_since_raised for r in rounds[1:]] == [1, 2, 3, 4, 5]


def test_a_cause_over_the_threshold_raises_at_most_once_per_n_periods() -> None:
    rule = AlertRule(min_rate=0.05, min_periods_between=3)
    rounds = run([[breach("range:clip", 100)]] * 7, AlertPolicy(guardrail_breach=rule))
    raised = [i for i, r in enumerate(rounds) if r.of(BREACH, "raise")]
    assert raised == [0, 3, 6]
    assert rounds[1].decisions[0].reason.code == C.ALERT_THROTTLED
    assert rounds[3].decisions[0].reason.code == C.ALERT_THRESHOLD_CROSSED
    assert rounds[3].decisions[0].muted_since_raised == 2, "the two muted in between"


def test_a_crossing_after_a_small_new_cause_alert_is_not_muted() -> None:
    # 1 row at first (new: alerted), then 10% of the rows: over the threshold.
    rounds = run([[breach("cap:clip", n)] for n in (1, 100, 100, 1, 100, 100)])
    assert actions(rounds) == [
        [("cap:clip", "raise")],
        [("cap:clip", "raise")],
        [("cap:clip", "mute")],
        [("cap:clip", "mute")],
        [("cap:clip", "mute")],
        [("cap:clip", "raise")],
    ]
    codes = [r.decisions[0].reason.code for r in rounds]
    assert codes == [
        C.ALERT_NEW_CAUSE,
        C.ALERT_THRESHOLD_CROSSED,
        C.ALERT_THROTTLED,
        C.ALERT_BELOW_THRESHOLD,
        C.ALERT_THROTTLED,
        C.ALERT_THRESHOLD_CROSSED,
    ]


def test_min_count_raises_whatever_the_share() -> None:
    rule = AlertRule(min_rate=0.5, min_count=20, new_cause=False, min_periods_between=0)
    rounds = run(
        [[breach("r:flag", 19, 100_000)], [breach("r:flag", 20, 100_000)]],
        AlertPolicy(guardrail_breach=rule),
    )
    assert actions(rounds) == [[("r:flag", "mute")], [("r:flag", "raise")]]


def test_causes_are_deduplicated_separately() -> None:
    rounds = run(
        [
            [breach("range:clip", 5)],
            [breach("range:clip", 5), breach("capacity:clip", 5)],
            [breach("range:clip", 5), breach("capacity:clip", 5)],
        ]
    )
    assert actions(rounds) == [
        [("range:clip", "raise")],
        [("range:clip", "mute"), ("capacity:clip", "raise")],
        [("range:clip", "mute"), ("capacity:clip", "mute")],
    ]


def test_a_cleared_cause_is_resolved_and_its_return_is_new_after_the_quiet_period() -> None:
    rule = AlertRule(resolve_after=2, min_periods_between=4)
    weeks = [
        [breach("range:clip", 5)],
        [],
        [],
        [breach("range:clip", 5)],
        [breach("range:clip", 5)],
    ]
    rounds = run(weeks, AlertPolicy(guardrail_breach=rule))
    assert actions(rounds) == [
        [("range:clip", "raise")],
        [],
        [("range:clip", "resolve")],
        # Back within 4 periods of its alert: new, but muted (at most once per 4 periods).
        [("range:clip", "mute")],
        [("range:clip", "raise")],
    ]
    assert rounds[2].decisions[0].reason.code == C.ALERT_RESOLVED
    assert rounds[3].decisions[0].reason.code == C.ALERT_THROTTLED
    assert rounds[4].decisions[0].reason.code == C.ALERT_NEW_CAUSE


def test_an_unmeasured_cycle_does_not_resolve() -> None:
    policy = AlertPolicy(guardrail_breach=AlertRule(resolve_after=1))
    state = run([[breach("range:clip", 5)]], policy)[0].state
    quiet = decide_alerts([], measured=(), policy=policy, state=state, period=1, batch_sha256="q")
    assert quiet.decisions == ()
    measured = decide_alerts(
        [], measured=MEASURED, policy=policy, state=state, period=1, batch_sha256="m"
    )
    assert [d.action for d in measured.decisions] == ["resolve"]


def test_immediate_mode_raises_every_condition() -> None:
    policy = AlertPolicy(guardrail_breach=AlertRule(mode="immediate"))
    rounds = run([[breach("range:clip", 1)]] * 3, policy)
    assert actions(rounds) == [[("range:clip", "raise")]] * 3
    assert {r.decisions[0].reason.code for r in rounds} == {C.ALERT_IMMEDIATE}


def test_the_breaker_raises_even_when_throttled() -> None:
    rounds = run([[breach("finite:fallback", 900, breaker=True)]] * 2)
    assert actions(rounds) == [[("finite:fallback", "raise")]] * 2
    assert rounds[1].decisions[0].reason.code == C.ALERT_BREAKER


def test_digest_mode_collects_and_sends_once_due() -> None:
    policy = AlertPolicy(guardrail_breach=AlertRule(mode="digest", digest_every_periods=3))
    rounds = run(
        [[breach("a:clip", 5)], [breach("b:clip", 5)], [], [breach("a:clip", 5)], []], policy
    )
    assert actions(rounds) == [
        [("a:clip", "digest")],
        [("b:clip", "digest")],
        [],
        [("a:clip", "digest"), ("a:clip, b:clip", "send_digest")],
        [],
    ]
    sent = rounds[3].of(BREACH, "send_digest")[0]
    assert sent.count == 3 and sent.reason.code == C.ALERT_DIGEST_DUE


def test_an_unconfigured_kind_alerts_every_time() -> None:
    odd = AlertCondition(kind="something_new", cause="x", count=1, rows=10)
    rounds = run([[odd], [odd]])
    assert actions(rounds) == [[("x", "raise")]] * 2
    assert rounds[0].decisions[0].reason.code == C.ALERT_UNCONFIGURED


def test_a_rerun_of_a_batch_gets_its_decisions_back_and_moves_nothing() -> None:
    first = run([[breach("range:clip", 5)]])[0]
    again = decide_alerts(
        [breach("range:clip", 5)],
        measured=MEASURED,
        policy=AlertPolicy(),
        state=first.state,
        period=0,
        batch_sha256="sha0",
    )
    assert again.replayed and again.decisions == first.decisions
    assert again.state == first.state


def test_guardrail_conditions_one_per_rule_action_and_per_finding_column() -> None:
    finding = InputRangeFinding(
        code=C.INPUTS_OUTSIDE_TRAINING_RANGE,
        column="temp",
        rule="input_out_of_range",
        rows=100,
        rows_out=96,
        share=0.96,
        train_min=0.0,
        train_max=0.5,
        batch_min=0.6,
        batch_max=0.9,
    )
    g = GuardrailSummary(
        rows=100,
        violating_rows=7,
        violation_rate=0.07,
        actions={"range:clip": 5, "finite:fallback": 2, "cap:flag": 0},
        findings=(finding,),
    )
    got = [(c.kind, c.cause, c.count, c.rows) for c in guardrail_conditions(g)]
    assert got == [
        (BREACH, "finite:fallback", 2, 100),
        (BREACH, "range:clip", 5, 100),
        (FINDING, "temp", 96, 100),
    ]

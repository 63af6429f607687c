"""The alert policy: which conditions of a cycle page a person, and which are only counted.

A condition is a fact a cycle measured about one cause: guardrail rule
``range:clip`` acted on 12 of 900 rows; column ``temp`` lies outside the
training range for 96% of rows. An alert that fires on every such fact gets
muted by the people it pages, and then the one that matters is missed. So
each condition goes through the rule of its kind (``alerts:`` in the use-case
file, :class:`~mlops_core.config.AlertRule`) and the alert state of its cause,
and :func:`decide_alerts` returns one :class:`AlertDecision` per condition
(``raise``, ``mute`` or ``digest``) and per cause that cleared (``resolve``) or
digest that is due (``send_digest``), each with a reason code and its numbers.
A muted condition is still a decision, and the cycle record keeps it.

Fail safe: a condition of a kind no rule is given for raises (reason
``alert_unconfigured``); nothing is silently muted. A circuit-breaker trip
(the whole batch held) raises in every mode.

The state (:class:`AlertState`) is per use case, read before and written after
each cycle's decisions (``tasks.alert_state``). It remembers the decisions of
recent batches: a batch decided again (a rerun after a crash) gets the
decisions already made, ``replayed``, and the state does not move, so the same
alert is never sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Literal

from pydantic import Field

from mlops_core.config import AlertPolicy, AlertRule
from mlops_core.decisions import GuardrailSummary, Reason, Value
from mlops_core.reasons import ReasonCode as C
from mlops_core.sentences import reason


class AlertKind(StrEnum):
    """The kinds of condition the alert policy decides on (one rule each in ``alerts:``)."""

    GUARDRAIL_BREACH = "guardrail_breach"
    GUARDRAIL_FINDING = "guardrail_finding"


AlertAction = Literal["raise", "mute", "digest", "resolve", "send_digest"]

#: How many recent batches' decisions the state keeps (for reruns).
RECENT_BATCHES = 64


class AlertCondition(Value):
    """One cause of one kind, measured in a cycle."""

    kind: str = Field(description="The condition's kind (an AlertKind value).")
    cause: str = Field(min_length=1, description="What it is about: a rule:action, a column.")
    count: int = Field(ge=0, description="Rows with this cause in the batch.")
    rows: int = Field(ge=0, description="Rows of the batch.")
    breaker: bool = Field(False, description="The circuit breaker held the whole batch.")

    @property
    def rate(self) -> float:
        """The share of the batch's rows with this cause."""
        return self.count / self.rows if self.rows else 0.0


class AlertDecision(Value):
    """What the policy did with one condition, a cleared cause or a due digest."""

    kind: str = Field(description="The condition's kind (an AlertKind value).")
    cause: str = Field(description="The cause; for a digest, its causes joined by ', '.")
    action: AlertAction = Field(
        description="raise: an alert is sent; mute: counted only; digest: collected for the "
        "next digest; resolve: an alerted cause cleared (a resolved message is sent); "
        "send_digest: the collected conditions are sent as one digest."
    )
    period: int = Field(description="The period of the cycle that decided it.")
    count: int = Field(0, description="Rows with the cause (a digest: conditions collected).")
    rows: int = Field(0, description="Rows of the batch.")
    rate: float = Field(0.0, description="count / rows (0 for a resolve or a digest).")
    muted_since_raised: int = Field(
        0, description="Conditions of the cause muted since its last alert, this one included."
    )
    reason: Reason = Field(description="Why, with the numbers.")


class CauseState(Value):
    """What the policy remembers about one cause of one kind."""

    kind: str
    cause: str
    open: bool = Field(description="Alerted and not resolved since.")
    last_raised: int | None = Field(description="Period of its last alert; None: never.")
    last_crossed: int | None = Field(
        None,
        description="Period of its last alert over the threshold (or by the circuit "
        "breaker); None: never.",
    )
    last_seen: int = Field(description="Period it was last measured present.")
    clear_cycles: int = Field(0, description="Measured cycles in a row it was absent.")
    muted: int = Field(0, description="Conditions muted since its last alert.")


class DigestState(Value):
    """Conditions of one kind collected for its next digest."""

    kind: str
    since: int = Field(description="Period of the first condition collected.")
    pending: int = Field(ge=1, description="Conditions collected.")
    causes: tuple[str, ...] = Field(description="Their causes, in order of first appearance.")


class BatchAlerts(Value):
    """The decisions made for one batch (a rerun of it gets them back)."""

    batch_sha256: str
    period: int
    decisions: tuple[AlertDecision, ...]


class AlertState(Value):
    """A use case's alert state: per cause, per digest, and recent batches' decisions."""

    causes: tuple[CauseState, ...] = ()
    digests: tuple[DigestState, ...] = ()
    recent: tuple[BatchAlerts, ...] = ()


class AlertRound(Value):
    """The result of :func:`decide_alerts` for one cycle."""

    decisions: tuple[AlertDecision, ...]
    state: AlertState
    replayed: bool = Field(
        description="The batch was decided before (a rerun): nothing is to be sent again."
    )

    def of(self, kind: str, *actions: AlertAction) -> tuple[AlertDecision, ...]:
        """The decisions of ``kind`` with one of ``actions`` (every action when none given)."""
        return tuple(
            d for d in self.decisions if d.kind == kind and (not actions or d.action in actions)
        )


# ----------------------------------------------------------------- conditions
def guardrail_conditions(g: GuardrailSummary) -> tuple[AlertCondition, ...]:
    """The alert conditions of a batch's guardrail summary.

    One breach condition per ``rule:action`` that acted on rows (a tripped
    circuit breaker marks each of them) and one finding condition per input
    column outside the training range.
    """
    breaches = tuple(
        AlertCondition(
            kind=AlertKind.GUARDRAIL_BREACH,
            cause=cause,
            count=rows,
            rows=g.rows,
            breaker=g.breaker_tripped,
        )
        for cause, rows in sorted(g.actions.items())
        if rows > 0
    )
    findings = tuple(
        AlertCondition(
            kind=AlertKind.GUARDRAIL_FINDING, cause=f.column, count=f.rows_out, rows=f.rows
        )
        for f in g.findings
    )
    return breaches + findings


def rule_for(policy: AlertPolicy, kind: str) -> AlertRule | None:
    """The configured rule of a kind; None for a kind the policy has no rule for."""
    known = {k.value for k in AlertKind}
    return getattr(policy, kind) if kind in known else None


# ------------------------------------------------------------------ decisions
def _numbers(c: AlertCondition, rule: AlertRule | None, **more: int | float | None) -> dict:
    n: dict[str, int | float | str | None] = {
        "count": c.count,
        "rows": c.rows,
        "rate": c.rate,
    }
    if rule is not None:
        n |= {
            "min_rate": rule.min_rate,
            "min_count": rule.min_count,
            "min_periods_between": rule.min_periods_between,
        }
    return n | more


def _decide_condition(
    c: AlertCondition, rule: AlertRule | None, prior: CauseState | None, period: int
) -> tuple[AlertAction, Reason]:
    """The action and reason for one present condition, before the state moves."""
    words = {"kind": c.kind, "cause": c.cause}
    if rule is None:
        return "raise", reason(C.ALERT_UNCONFIGURED, _numbers(c, None), **words)
    if c.breaker:
        return "raise", reason(C.ALERT_BREAKER, _numbers(c, rule), **words)
    if rule.mode == "immediate":
        return "raise", reason(C.ALERT_IMMEDIATE, _numbers(c, rule), **words)
    if rule.mode == "digest":
        n = _numbers(c, rule, every=rule.digest_every_periods)
        return "digest", reason(C.ALERT_DIGESTED, n, **words)
    muted = (prior.muted if prior is not None else 0) + 1
    crossed = c.rate >= rule.min_rate or (rule.min_count is not None and c.count >= rule.min_count)
    new = prior is None or not prior.open
    if not crossed and not (new and rule.new_cause):
        return "mute", reason(C.ALERT_BELOW_THRESHOLD, _numbers(c, rule, muted=muted), **words)
    # Two levels, each at most once per min_periods_between periods: a cause that
    # appears (new) and a cause over the threshold. An alert on a new cause of a
    # few rows does not mute the crossing that follows it: that one matters more.
    if crossed:
        last = prior.last_crossed if prior is not None else None
    else:
        last = prior.last_raised if prior is not None else None
    if last is not None and period - last < rule.min_periods_between:
        n = _numbers(c, rule, last_raised=last, muted=muted)
        return "mute", reason(C.ALERT_THROTTLED, n, **words)
    code = C.ALERT_THRESHOLD_CROSSED if crossed else C.ALERT_NEW_CAUSE
    return "raise", reason(code, _numbers(c, rule, last_raised=last), **words)


def decide_alerts(
    conditions: Iterable[AlertCondition],
    *,
    measured: Iterable[str],
    policy: AlertPolicy,
    state: AlertState,
    period: int,
    batch_sha256: str,
) -> AlertRound:
    """Decide, for one cycle, which conditions raise an alert and which are only counted.

    Args:
        conditions: The conditions the cycle measured (e.g. :func:`guardrail_conditions`).
        measured: The kinds the cycle measured at all: a cause of a measured kind
            that is absent counts towards its resolution; a kind not measured
            (no champion, a quarantined batch) tells nothing about its causes.
        policy: The use case's ``alerts:`` rules.
        state: The alert state before this cycle.
        period: The cycle's period.
        batch_sha256: The cycle's batch; a batch the state has decided already
            gets its recorded decisions back (``replayed``), the state unchanged.

    Returns:
        The decisions (conditions in the order given, then resolutions, then
        digests due) and the state after them.
    """
    for done in state.recent:
        if done.batch_sha256 == batch_sha256:
            return AlertRound(decisions=done.decisions, state=state, replayed=True)
    conditions = tuple(conditions)
    measured_kinds = set(measured)
    causes: dict[tuple[str, str], CauseState] = {(s.kind, s.cause): s for s in state.causes}
    digests: dict[str, DigestState] = {d.kind: d for d in state.digests}
    decisions: list[AlertDecision] = []
    present: set[tuple[str, str]] = set()

    for c in conditions:
        key = (c.kind, c.cause)
        present.add(key)
        rule = rule_for(policy, c.kind)
        prior = causes.get(key)
        action, why = _decide_condition(c, rule, prior, period)
        muted_before = prior.muted if prior is not None else 0
        muted = muted_before + 1 if action in ("mute", "digest") else 0
        decisions.append(
            AlertDecision(
                kind=c.kind,
                cause=c.cause,
                action=action,
                period=period,
                count=c.count,
                rows=c.rows,
                rate=c.rate,
                muted_since_raised=muted if action != "raise" else muted_before,
                reason=why,
            )
        )
        raised = action == "raise"
        crossed = raised and why.code in (C.ALERT_THRESHOLD_CROSSED, C.ALERT_BREAKER)
        causes[key] = CauseState(
            kind=c.kind,
            cause=c.cause,
            open=raised or (prior is not None and prior.open),
            last_raised=period if raised else (prior.last_raised if prior else None),
            last_crossed=period if crossed else (prior.last_crossed if prior else None),
            last_seen=period,
            clear_cycles=0,
            muted=muted,
        )
        if action == "digest":
            d = digests.get(c.kind)
            digests[c.kind] = DigestState(
                kind=c.kind,
                since=d.since if d else period,
                pending=(d.pending if d else 0) + 1,
                causes=(d.causes if d else ()) + (() if d and c.cause in d.causes else (c.cause,)),
            )

    # Causes of a measured kind absent this cycle: a step towards resolution.
    for key, s in list(causes.items()):
        if key in present or s.kind not in measured_kinds:
            continue
        clear = s.clear_cycles + 1
        rule = rule_for(policy, s.kind)
        if s.open and rule is not None and clear >= rule.resolve_after:
            decisions.append(
                AlertDecision(
                    kind=s.kind,
                    cause=s.cause,
                    action="resolve",
                    period=period,
                    muted_since_raised=s.muted,
                    reason=reason(
                        C.ALERT_RESOLVED,
                        {"clear_cycles": clear, "last_raised": s.last_raised},
                        kind=s.kind,
                        cause=s.cause,
                    ),
                )
            )
            # Closed: its return is new again (min_periods_between still holds).
            causes[key] = s.model_copy(update={"open": False, "clear_cycles": clear, "muted": 0})
        else:
            causes[key] = s.model_copy(update={"clear_cycles": clear})

    for kind, d in list(digests.items()):
        rule = rule_for(policy, kind)
        every = rule.digest_every_periods if rule is not None else 1
        # A digest is sent when due, or at once when its kind is no longer in digest mode.
        if (rule is not None and rule.mode != "digest") or period - d.since >= every:
            decisions.append(
                AlertDecision(
                    kind=kind,
                    cause=", ".join(d.causes),
                    action="send_digest",
                    period=period,
                    count=d.pending,
                    reason=reason(
                        C.ALERT_DIGEST_DUE,
                        {"pending": d.pending, "since": d.since, "every": every},
                        kind=kind,
                        causes=d.causes,
                    ),
                )
            )
            del digests[kind]

    done = BatchAlerts(batch_sha256=batch_sha256, period=period, decisions=tuple(decisions))
    new_state = AlertState(
        causes=tuple(sorted(causes.values(), key=lambda s: (s.kind, s.cause))),
        digests=tuple(sorted(digests.values(), key=lambda d: d.kind)),
        recent=(*state.recent, done)[-RECENT_BATCHES:],
    )
    return AlertRound(decisions=done.decisions, state=new_state, replayed=False)


def alert_counts(decisions: Iterable[AlertDecision]) -> Mapping[str, int]:
    """How many decisions of each action (``raise``, ``mute``, ...) there are."""
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.action] = counts.get(d.action, 0) + 1
    return counts

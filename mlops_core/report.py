"""Plain-language text generated from decision values.

Every sentence here is built from the fields of a decision, so the words can
never contradict the numbers: there is no free template text about outcomes.
Each claim ("so there was no reason to retrain", "it would not pay off") is
tied to the decision's action and reason code, and every number in a sentence
is read from the decision's inputs or the numbers of its reasons.

The summary at the top of a cycle report speaks to the people who own the
business (a store manager, a fraud analyst): first what happened to the model
in production, then why, in the use case's own words (``Wording``).

The sentence of each single reason comes from :mod:`mlops_core.sentences`, the
one renderer of reason codes; this module composes those sentences into the
summary, the record's markdown and the history of the model in production.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mlops_core.alerting import AlertDecision
from mlops_core.decisions import (
    DriftSummary,
    GateDecision,
    GuardrailSummary,
    PerformanceSummary,
    PromotionDecision,
    Reason,
    RetrainDecision,
)
from mlops_core.formatting import count, number, percent
from mlops_core.label_gate import LabelGateDecision
from mlops_core.metrics import METRICS
from mlops_core.reasons import ReasonCode
from mlops_core.schema_change import SchemaDecision
from mlops_core.sentences import (
    Wording,
    alert_kind_words,
    as_clause,
    as_sentence,
    default_wording,
    drift_clause,
    input_range_finding_sentence,
    promotion_reason_sentence,
    retrain_reason_sentence,
    version_words,
    versus_normal,
)

# --------------------------------------------------------------------- wording


# --------------------------------------------------------------------- outcome
@dataclass(frozen=True)
class CycleOutcome:
    """Everything one monitor cycle decided, for the summary and the record.

    ``champion_before`` is the model in production when the cycle started (the
    one a promotion replaces); ``superseded_by`` is set when a decided promotion
    was not carried out because another version became champion first;
    ``labels`` are the label gate's decisions on the label files that arrived
    for this cycle; ``schema`` compares the contract that model was trained under with the
    current one (None without a champion); ``alerts`` are the alert policy's decisions on
    the cycle's conditions (raised, muted and counted, resolved).
    """

    period: int
    batch: str
    gate: GateDecision
    retrain: RetrainDecision | None = None
    performance: PerformanceSummary | None = None
    drift: DriftSummary | None = None
    guardrails: GuardrailSummary | None = None
    promotion: PromotionDecision | None = None
    champion_version: str | None = None
    challenger_version: str | None = None
    champion_before: str | None = None
    superseded_by: str | None = None
    labels: tuple[LabelGateDecision, ...] = ()
    schema: SchemaDecision | None = None
    alerts: tuple[AlertDecision, ...] = ()

    @property
    def kept_version(self) -> str | None:
        """The version in production before this cycle's promotion, when known."""
        if self.champion_before is not None:
            return self.champion_before
        promoted = self.promotion is not None and self.promotion.action == "promote"
        return None if promoted else self.champion_version


# ------------------------------------------------------------ detail sentences
def schema_sentence(s: SchemaDecision | None) -> str | None:
    """What changed in the contract since the champion was trained, and what follows.

    Args:
        s: The comparison of the champion's training contract with the current one.

    Returns:
        One sentence naming each change; None when nothing changed (or when the
        change was refused, which stops a cycle before anything is recorded).
    """
    if s is None or s.action != "compatible" or not s.changes:
        return None
    changes = "; ".join(c.message for c in s.changes)
    return as_sentence(
        f"the contract changed since {version_words(s.champion_version)} was trained: {changes}"
    )


def gate_sentence(gate: GateDecision) -> str:
    """One sentence on whether the batch was usable."""
    if gate.action == "fail":
        failed = gate.failed_rules
        first = failed[0].message if failed else (gate.reasons[0].message if gate.reasons else "")
        more = f" (and {len(failed) - 1} more problem(s))" if len(failed) > 1 else ""
        return (
            f"The new data ({gate.batch}) was rejected and set aside unused: "
            f"{first.rstrip('.')}{more}. The current model stays in place."
        )
    warn = f", with {len(gate.warnings)} warning(s)" if gate.warnings else ""
    return f"The new data ({gate.rows:,} rows) passed every check{warn}."


def performance_sentence(perf: PerformanceSummary | None, w: Wording | None = None) -> str | None:
    """How the model did on the labels that arrived, in words."""
    if perf is None or perf.realized is None:
        return None
    w = w or default_wording(perf.metric)
    rows = count(perf.realized.rows, w.prediction)
    return as_sentence(f"measured on {rows} whose {w.outcomes} arrived, {versus_normal(perf, w)}")


def attribution_sentence(
    perf: PerformanceSummary | None, cause: str, w: Wording | None = None
) -> str | None:
    """Why the model got worse: the inputs moved (covariate shift) or the relationship
    changed (concept drift), judged against the label-free estimate."""
    if perf is None or perf.realized is None or perf.decay_low is None or perf.decay_low <= 0:
        return None
    w = w or default_wording(perf.metric)
    if perf.estimated is None:
        return (
            "No label-free estimate was available, so it is not known whether the inputs "
            "moved or the relationship changed."
        )
    expected = (
        f"{number(perf.estimated)} (between {number(perf.estimated_low)} and "
        f"{number(perf.estimated_high)})"
    )
    if cause == "concept_drift":
        return (
            f"Had the relationship between inputs and outcome stayed the same, the "
            f"{w.metric} would have been about {expected}; it was "
            f"{number(perf.realized.value)}, so the relationship itself changed "
            f"(concept drift)."
        )
    if cause == "covariate_shift":
        return (
            f"The inputs moved into harder cases: with the relationship unchanged we "
            f"expected a {w.metric} of {expected}, which explains the "
            f"{number(perf.realized.value)} seen (covariate shift)."
        )
    return None


def estimate_sentence(perf: PerformanceSummary | None, w: Wording | None = None) -> str | None:
    """The early, label-free estimate for the batch just scored."""
    if perf is None or perf.current_estimate is None:
        return None
    w = w or default_wording(perf.metric)
    e = perf.current_estimate
    sampled = "" if e.sampled_rows is None else f", estimated from {e.sampled_rows:,} of them"
    return (
        f"For the {e.rows:,} {w.predictions} just made, before the {w.outcomes} arrive, the "
        f"expected {w.metric} is {number(e.value)} (between {number(e.low)} and {number(e.high)}; "
        f"{number(perf.reference)} normally{sampled})."
    )


def _estimate_warning(perf: PerformanceSummary | None, w: Wording) -> str | None:
    """The early estimate, only when its whole interval is worse than normal."""
    if perf is None or perf.current_estimate is None:
        return None
    e = perf.current_estimate
    gib = METRICS[perf.metric].greater_is_better
    worse = e.high < perf.reference if gib else e.low > perf.reference
    if not worse:
        return None
    return (
        f"Early warning: before the {w.outcomes} arrive, the {w.metric} of the "
        f"{count(e.rows, w.prediction)} just made is estimated at {number(e.value)} (between "
        f"{number(e.low)} and {number(e.high)}), worse than the normal {number(perf.reference)}."
    )


def drift_sentence(drift: DriftSummary | None) -> str | None:
    """Which inputs moved and whether they matter to the model."""
    if drift is None:
        return None
    joint = ""
    if drift.multivariate_drift and drift.domain_auc is not None:
        joint = (
            f" Taken together, the new rows can be told apart from the training data "
            f"(classifier AUC {drift.domain_auc:.2f})."
        )
    clause = drift_clause(drift)
    if clause is None:
        return f"None of the {len(drift.features)} inputs changed noticeably on its own.{joint}"
    return as_sentence(clause) + joint


def label_gate_sentence(
    decisions: Sequence[LabelGateDecision], w: Wording | None = None
) -> str | None:
    """What the label gate did to the label files of this cycle, when it did anything.

    Quarantined files are named with their reason; accepted files whose rows
    were left out are counted, so a reader knows the realized figures rest on
    fewer labels than arrived. Clean files say nothing.
    """
    w = w or Wording(prediction="forecast")
    said: list[str] = []
    for d in decisions:
        if d.action == "quarantine":
            said.append(
                f"the label file {d.file} was set aside unused ({d.reason.rstrip('.')}), so its "
                f"{w.outcomes} do not count until a corrected file arrives"
            )
        elif d.dropped_rows:
            rules = ", ".join(
                f"{f.rule.replace('_', ' ')}: {f.rows:,}" for f in d.findings if f.dropped
            )
            said.append(
                f"{count(d.dropped_rows, 'row')} of the {d.rows:,} in the label file {d.file} "
                f"were left out ({rules})"
            )
        if d.corrections:
            said.append(f"the label file {d.file} changed {count(d.corrections, 'earlier label')}")
    return " ".join(as_sentence(x) for x in said) if said else None


def guardrail_sentence(g: GuardrailSummary | None, w: Wording | None = None) -> str | None:
    """What the business limits did to this batch's predictions, with the batch's
    input-range findings (columns out of the training range for the batch as a whole)."""
    if g is None:
        return None
    w = w or Wording(prediction="forecast")
    # Not through _sentence: a finding opens with a column name, kept as it is spelled.
    findings = " ".join(input_range_finding_sentence(f) for f in g.findings)
    if g.breaker_tripped:
        # Records written before breaker_rows existed counted every violating row.
        rate = g.breaker_rows / g.rows if g.breaker_rows and g.rows else g.violation_rate
        text = (
            f"{percent(rate)} of the {w.predictions} broke business limits, so the "
            f"whole batch of {g.rows:,} was held for review instead of being sent."
        )
    elif g.violating_rows == 0 and g.findings:
        noun = "a finding" if len(g.findings) == 1 else "findings"
        return (
            f"All {g.rows:,} {w.predictions} were sent on, with {noun} for the batch as a "
            f"whole rather than a flag on each row. {findings}"
        )
    elif g.violating_rows == 0:
        return f"All {g.rows:,} {w.predictions} were within business limits."
    else:
        held = f"; {g.held_rows:,} held for review" if g.held_rows else ""
        text = (
            f"{g.violating_rows:,} of {g.rows:,} {w.predictions} were adjusted or flagged by "
            f"business limits{held}."
        )
    return f"{text} {findings}" if findings else text


# ------------------------------------------------------------ retrain, in words


def retrain_why(d: RetrainDecision, w: Wording | None = None) -> str:
    """Why the model was kept, trained or retrained: the deciding reasons in plain words.

    A skipped retrain that was warranted but over budget or not worth its cost
    names both the trigger and the reason it was not taken; a retrain worth its
    cost says the expected saving.

    Args:
        d: The retrain decision.
        w: The use case's words.

    Returns:
        One or two sentences (empty when the decision has no reason).
    """
    if not d.reasons:
        return ""
    first = d.reasons[0]
    said = [retrain_reason_sentence(first, d, w)]
    if (
        first.code in (ReasonCode.RETRAIN_BUDGET_EXHAUSTED, ReasonCode.RETRAIN_NOT_WORTH_COST)
        and len(d.reasons) > 1
    ):
        trigger = retrain_reason_sentence(d.reasons[1], d, w)
        said = [
            as_sentence(
                f"{as_clause(trigger)}, so a retrain was warranted, but {as_clause(said[0])}"
            )
        ]
    if d.action == "retrain":
        worth = [
            r
            for r in d.reasons[1:]
            if r.code in (ReasonCode.RETRAIN_WORTH_COST, ReasonCode.CRITICAL_DECAY_OVERRIDES_BUDGET)
        ]
        said += [retrain_reason_sentence(r, d, w) for r in worth]
    return " ".join(said)


def retrain_sentence(d: RetrainDecision, w: Wording | None = None) -> str:
    """The retrain decision and its deciding reason."""
    head = {
        "block": "Nothing was retrained",
        "skip": "We kept the current model",
        "train": "A first model was trained",
        "retrain": "A new candidate model was trained",
    }[d.action]
    why = retrain_why(d, w)
    return f"{head}: {as_clause(why)}." if why else f"{head}."


# ---------------------------------------------------------- promotion, in words


def promotion_why(p: PromotionDecision, w: Wording | None = None, kept: str | None = None) -> str:
    """Why the candidate was (not) put in production: the deciding checks in plain words.

    Args:
        p: The promotion decision.
        w: The use case's words.
        kept: The version the candidate was compared with.

    Returns:
        For a rejection the first failed check; else the quality evidence (the
        gain over the champion, or the floor for a first model) and an approval.
    """
    if p.action == "reject":
        failed = [r for r in p.reasons if r.passed is False]
        return promotion_reason_sentence(failed[0], p, w, kept) if failed else ""
    codes = {r.code: r for r in p.reasons}
    # Against a champion the improvement says it all; a first model is judged on the
    # floor when one is set, else on the naive baseline.
    quality = (
        codes.get(ReasonCode.IMPROVEMENT_MET)
        or codes.get(ReasonCode.FLOOR_MET)
        or codes.get(ReasonCode.BASELINE_BEATEN)
    )
    said = [
        promotion_reason_sentence(r, p, w, kept)
        for r in (quality, codes.get(ReasonCode.APPROVED))
        if r
    ]
    return " ".join(said)


def promotion_sentence(
    p: PromotionDecision,
    challenger_version: str | None,
    w: Wording | None = None,
    kept: str | None = None,
) -> str:
    """Whether the candidate replaced the model in production, and why.

    Args:
        p: The promotion decision.
        challenger_version: The candidate's version.
        w: The use case's words.
        kept: The version it was compared with.

    Returns:
        One or two sentences.
    """
    w = w or default_wording(p.inputs.metric)
    v = f" (version {challenger_version})" if challenger_version else ""
    why = promotion_why(p, w, kept)
    if p.action == "promote":
        head = f"The candidate{v} passed every check and now makes the {w.predictions}."
        return f"{head} {why}".strip()
    if p.action == "await_approval":
        return f"The candidate{v} passed every automatic check and waits for approval."
    return f"The candidate{v} was not put in production: {as_clause(why)}."


# --------------------------------------------------------------- the summary
def headline_sentence(o: CycleOutcome, w: Wording | None = None) -> str:
    """What happened to the model in production this cycle, in one sentence.

    Args:
        o: The cycle's decisions.
        w: The use case's words.

    Returns:
        E.g. "We kept the current model (version 3)."
    """
    w = w or default_wording(o.performance.metric if o.performance else None)
    kept = o.kept_version
    if o.gate.action == "fail":
        failed = o.gate.failed_rules
        reasons = o.gate.reasons
        first = failed[0].message if failed else (reasons[0].message if reasons else "")
        more = f" (and {len(failed) - 1} more problem(s))" if len(failed) > 1 else ""
        stays = f"{version_words(kept)} stays as it was" if kept else "no model was trained on it"
        return as_sentence(
            f"we set the data of {w.when(o.period)} ({o.batch}) aside unused: "
            f"{first.rstrip('.')}{more}; {stays}"
        )
    r, p, c = o.retrain, o.promotion, o.challenger_version
    if r is None or r.action in ("skip", "block"):
        if kept is None:
            return as_sentence("no model is in production yet, and none could be trained")
        return as_sentence(f"we kept the current model ({version_words(kept)})")
    first_model = r.action == "train"
    candidate = f"version {c}" if c else "a candidate"
    if p is None:
        return as_sentence(f"we trained {candidate} but did not judge it")
    if o.superseded_by is not None:
        return as_sentence(
            f"we trained {candidate} and the checks approved it, but it was not put in "
            f"production: version {o.superseded_by} became the model in production first, and "
            f"the next {w.period} judges against it"
        )
    if p.action == "promote":
        if first_model:
            return as_sentence(f"we put a first model in production ({candidate})")
        instead = f" instead of version {kept}" if kept is not None else ""
        return as_sentence(
            f"we replaced the model in production: {candidate} now makes the "
            f"{w.predictions}{instead}"
        )
    if p.action == "await_approval":
        meanwhile = (
            "" if first_model else f", while {version_words(kept)} keeps making the {w.predictions}"
        )
        return as_sentence(
            f"we trained {candidate}; it passed every automatic check and waits for a person "
            f"to approve it{meanwhile}"
        )
    if first_model:
        return as_sentence(
            f"we trained a first model ({candidate}) but did not put it in production"
        )
    kept_words = f" ({version_words(kept)})" if kept is not None else ""
    return as_sentence(
        f"we trained a new candidate ({candidate}) but kept the current model{kept_words}"
    )


_ALERT_DONE = {
    "raise": "alerted",
    "mute": "muted (counted, no alert)",
    "digest": "collected for a digest",
    "resolve": "resolved",
    "send_digest": "sent as a digest",
}


def alerts_sentence(decisions: Sequence[AlertDecision]) -> str | None:
    """What the alert policy did with the cycle's conditions, per action, naming the causes.

    E.g. "Alerts: business limits range:clip alerted; business limits
    capacity:clip muted (counted, no alert)."; None when there was nothing to decide.
    """
    if not decisions:
        return None
    said = []
    for action, done in _ALERT_DONE.items():
        these = [d for d in decisions if d.action == action]
        if these:
            causes = ", ".join(f"{alert_kind_words(d.kind)} {d.cause}" for d in these)
            said.append(f"{causes} {done}")
    return f"Alerts: {'; '.join(said)}."


def _covers_performance(o: CycleOutcome) -> bool:
    r = o.retrain
    codes = {x.code for x in r.reasons[:2]} if r is not None else set()
    return bool(
        codes & {ReasonCode.NO_DECAY, ReasonCode.REALIZED_DECAY, ReasonCode.DECAY_NOT_MEASURABLE}
    )


def _covers_drift(o: CycleOutcome) -> bool:
    r = o.retrain
    codes = {x.code for x in r.reasons[:2]} if r is not None else set()
    return bool(codes & {ReasonCode.NO_DECAY, ReasonCode.IMPORTANT_FEATURE_DRIFT})


def cycle_summary(o: CycleOutcome, w: Wording | None = None) -> str:
    """The plain-language summary of one cycle, built only from its decisions.

    First what happened to the model in production, then why (the deciding
    retrain reason and, for a candidate, the deciding promotion check), then
    facts a reader must not miss: the realized error and drifted inputs when the
    reason did not already say them, what business limits did, an early warning
    from the label-free estimate, data warnings.

    Args:
        o: The cycle's decisions.
        w: The use case's words (``wording_for``); derived from the metric when None.

    Returns:
        A few sentences.
    """
    w = w or default_wording(o.performance.metric if o.performance else None)
    parts = [headline_sentence(o, w)]
    if o.gate.action == "pass":
        if o.retrain is not None:
            parts.append(retrain_why(o.retrain, w))
        if o.promotion is not None and o.superseded_by is None:
            why = promotion_why(o.promotion, w, o.kept_version)
            if why:
                parts.append(why)
        if not _covers_performance(o):
            parts.append(performance_sentence(o.performance, w) or "")
        if o.drift is not None and not _covers_drift(o):
            clause = drift_clause(o.drift)
            parts.append(as_sentence(clause) if clause else "")
        g = o.guardrails
        if g is not None and (g.violating_rows or g.findings):
            parts.append(guardrail_sentence(g, w) or "")
        parts.append(_estimate_warning(o.performance, w) or "")
        parts.append(label_gate_sentence(o.labels, w) or "")
        parts.append(schema_sentence(o.schema) or "")
        parts.append(alerts_sentence(o.alerts) or "")
        if o.gate.warnings:
            warned = o.gate.warnings
            more = f" (and {len(warned) - 1} more)" if len(warned) > 1 else ""
            parts.append(
                as_sentence(
                    f"the data had {count(len(warned), 'warning')}: {warned[0].message}"
                ).rstrip(".")
                + f"{more}."
            )
    return " ".join(as_sentence(p) for p in parts if p)


# ----------------------------------------------------------- champion changes
@dataclass(frozen=True)
class ChampionChange:
    """One change of the model in production, with the decisions behind it.

    Attributes:
        version: The version that became champion.
        previous: The version it replaced (None for the first model).
        period: Period of the cycle that decided it (None for a rollback).
        kind: How it changed: first model, promotion or rollback.
        retrain: The retrain decision that produced the version (promotions).
        promotion: The promotion decision that put it in production.
        reason: The reason given for a rollback.
        requested_by: Who asked for a rollback.
    """

    version: str
    previous: str | None
    period: int | None
    kind: Literal["first", "promotion", "rollback"]
    retrain: RetrainDecision | None = None
    promotion: PromotionDecision | None = None
    reason: str | None = None
    requested_by: str | None = None


def champion_change_sentence(change: ChampionChange, w: Wording | None = None) -> str:
    """Why the model in production changed, in plain words with the numbers.

    Args:
        change: The change.
        w: The use case's words.

    Returns:
        The version, what it replaced and when, then the retrain and promotion
        reasons (promotions) or who rolled back and why (rollbacks).
    """
    metric = change.promotion.inputs.metric if change.promotion else None
    w = w or default_wording(metric)
    when = f"in {w.when(change.period)}" if change.period is not None else ""
    if change.kind == "rollback":
        who = change.requested_by or "someone"
        why = f': "{change.reason}"' if change.reason else ""
        return as_sentence(
            f"version {change.version} came back {when + ' ' if when else ''}when {who} rolled "
            f"back version {change.previous}{why}"
        )
    head = (
        f"version {change.version} became the first model in production {when}".rstrip()
        if change.kind == "first" or change.previous is None
        else f"version {change.version} replaced version {change.previous} {when}".rstrip()
    )
    said = [as_sentence(head)]
    if change.retrain is not None and change.kind != "first":
        said.append(retrain_why(change.retrain, w))
    if change.promotion is not None:
        said.append(promotion_why(change.promotion, w, change.previous))
    return " ".join(s for s in said if s)


# --------------------------------------------------------------- the markdown
def reasons_table(reasons: Sequence[Reason]) -> str:
    """Markdown table of reasons: check, outcome, explanation."""
    rows = ["| check | outcome | explanation |", "|---|---|---|"]
    for r in reasons:
        outcome = {True: "pass", False: "fail", None: "-"}[r.passed]
        rows.append(f"| `{r.code}` | {outcome} | {r.message.replace('|', '/')} |")
    return "\n".join(rows)


def _performance_table(o: CycleOutcome, w: Wording) -> list[str]:
    p = o.performance
    assert p is not None
    rows = [
        "| what | rows | value | interval |",
        "|---|---|---|---|",
        f"| reference ({p.metric} expected one step after the champion's training) | - | "
        f"{number(p.reference)} | - |",
    ]
    if p.realized is not None:
        r = p.realized
        rows.append(
            f"| realized on newly labeled rows (decay {percent(p.decay or 0)}) | {r.rows} | "
            f"{number(r.value)} | [{number(r.low)}, {number(r.high)}] |"
        )
    if p.estimated is not None:
        rows.append(
            f"| estimated on the same rows, relationship unchanged ({p.estimate_method}) "
            f"| {p.new_labeled_rows}{sample_note(p.estimated_sampled_rows)} | "
            f"{number(p.estimated)} | [{number(p.estimated_low)}, {number(p.estimated_high)}] |"
        )
    if p.current_estimate is not None:
        e = p.current_estimate
        rows.append(
            f"| estimated on the batch just scored (no labels yet) "
            f"| {e.rows}{sample_note(e.sampled_rows)} | "
            f"{number(e.value)} | [{number(e.low)}, {number(e.high)}] |"
        )
    cause = o.retrain.inputs.decay_cause if o.retrain is not None else "unknown"
    attribution = attribution_sentence(p, cause, w)
    if attribution:
        rows += ["", f"**Attribution.** {attribution}"]
    return rows


def sample_note(sampled_rows: int | None) -> str:
    """What follows an estimate's row count when it was computed on a sample of them."""
    return "" if sampled_rows is None else f" (sample of {sampled_rows:,})"


def cycle_markdown(o: CycleOutcome, usecase_name: str, w: Wording | None = None) -> str:
    """The decision record of a cycle as markdown (MLflow artifact, Prefect artifact)."""
    w = w or default_wording(o.performance.metric if o.performance else None)
    lines = [
        f"# {usecase_name}: {w.when(o.period)}",
        "",
        f"**Summary.** {cycle_summary(o, w)}",
        "",
    ]
    lines += [
        f"- batch: `{o.batch}` ({o.gate.rows:,} rows, sha256 `{o.gate.batch_sha256[:12]}`)",
        f"- champion version: {o.champion_version or 'none'}",
    ]
    if o.challenger_version:
        lines.append(f"- challenger version: {o.challenger_version}")
    lines += ["", "## Validation", "", reasons_table(o.gate.reasons)]
    if o.schema is not None and o.schema.changes:
        lines += [
            "",
            f"## Contract changes since {version_words(o.schema.champion_version)} was trained",
            "",
            "| column | change | code | champion reads it | compatible | detail |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c.column} | {c.kind} | `{c.code}` | {'yes' if c.champion_input else 'no'} | "
            f"{'yes' if c.compatible else 'no'} | {c.message} |"
            for c in o.schema.changes
        ]
    if o.performance is not None:
        lines += ["", "## Performance", "", *_performance_table(o, w)]
    if o.drift is not None:
        lines += [
            "",
            "## Drift",
            "",
            f"Drift share {percent(o.drift.drift_share)}, "
            f"importance-weighted {percent(o.drift.importance_weighted_share)}"
            + (
                f", prediction drift {number(o.drift.prediction_drift)}"
                if o.drift.prediction_drift is not None
                else ""
            )
            + (
                f", domain classifier AUC {number(o.drift.domain_auc)}"
                if o.drift.domain_auc is not None
                else ""
            )
            + ".",
            "",
            "| feature | method | score | threshold | drifted | importance |",
            "|---|---|---|---|---|---|",
        ]
        for f in sorted(o.drift.features, key=lambda f: -f.importance):
            lines.append(
                f"| {f.feature} | {f.method} | {number(f.score)} | {number(f.threshold)} | "
                f"{'yes' if f.drifted else 'no'} | {percent(f.importance)} |"
            )
    if o.guardrails is not None:
        g = o.guardrails
        lines += ["", "## Guardrails", "", guardrail_sentence(g, w) or ""]
        if g.actions:
            lines += ["", "| rule:action | rows |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(g.actions.items())]
    if o.alerts:
        lines += [
            "",
            "## Alerts",
            "",
            "| kind | cause | decision | rows | share | why |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {alert_kind_words(d.kind)} | {d.cause} | {d.action} | {d.count:,} | "
            f"{percent(d.rate)} | {d.reason.message} |"
            for d in o.alerts
        ]
    if o.labels:
        lines += [
            "",
            "## Labels",
            "",
            "| label file | decision | rows | accepted | left out | corrected | why |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in o.labels:
            why = d.reason or "; ".join(f.message for f in d.findings) or "-"
            lines.append(
                f"| {d.file} | {d.action} | {d.rows:,} | {d.accepted_rows:,} | "
                f"{d.dropped_rows:,} | {d.corrections:,} | {why} |"
            )
    if o.retrain is not None:
        lines += [
            "",
            f"## Retrain decision: `{o.retrain.action}`",
            "",
            reasons_table(o.retrain.checked),
        ]
    if o.promotion is not None:
        lines += [
            "",
            f"## Promotion decision: `{o.promotion.action}`",
            "",
            reasons_table(o.promotion.reasons),
        ]
    return "\n".join(lines) + "\n"

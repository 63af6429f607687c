"""Plain-language text generated from decision values.

Every sentence here is built from the fields of a decision, so the words can
never contradict the numbers: there is no free template text about outcomes.
Each claim ("so there was no reason to retrain", "it would not pay off") is
tied to the decision's action and reason code, and every number in a sentence
is read from the decision's inputs or the numbers of its reasons.

The summary at the top of a cycle report speaks to the people who own the
business (a store manager, a fraud analyst): first what happened to the model
in production, then why, in the use case's own words (``Wording``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mlops_core.config import UseCase
from mlops_core.decisions import (
    DriftSummary,
    GateDecision,
    GuardrailSummary,
    PerformanceSummary,
    PromotionDecision,
    Reason,
    RetrainDecision,
    TrainingWindow,
)
from mlops_core.formatting import count, number, percent
from mlops_core.label_gate import LabelGateDecision
from mlops_core.metrics import METRICS, worsening
from mlops_core.periods import PeriodUnit, period_label
from mlops_core.reasons import ReasonCode
from mlops_core.schema_change import SchemaDecision
from mlops_core.sentences import input_range_finding_sentence


# ------------------------------------------------------------- reading numbers
def _float(numbers: Mapping[str, float | int | str | None], key: str) -> float | None:
    value = numbers.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(numbers: Mapping[str, float | int | str | None], key: str) -> int | None:
    value = _float(numbers, key)
    return None if value is None else int(value)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _clause(sentence: str) -> str:
    """A sentence as a clause to embed: first letter lowered, final period dropped."""
    text = sentence.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def _version(v: str | None) -> str:
    return f"version {v}" if v else "the model in production"


# --------------------------------------------------------------------- wording
_METRIC_WORDS = {
    "mae": "{p} error",
    "rmse": "{p} error (big misses weigh more)",
    "mape": "{p} error in percent",
    "accuracy": "share of correct {p}s",
    "balanced_accuracy": "share of correct {p}s, each class weighing the same",
    "f1": "{p} quality on the positive class (F1)",
    "roc_auc": "ranking quality of the {p}s (AUC)",
    "log_loss": "{p} error (log loss)",
}


@dataclass(frozen=True)
class Wording:
    """The use case's own words for what the summary talks about.

    Attributes:
        prediction: One output of the model ("forecast", "prediction").
        metric: The primary metric in plain words ("forecast error").
        outcomes: What the labels are, plural ("actual units sold").
        period: The time unit of a batch ("week", or "period").
        segment: What a segment is ("store", or "segment").
        unit: ``data.period`` when periods are cut from dates: periods then read
            as dates ("2012-03", "week of 2012-03-05"); None for integer periods.
    """

    prediction: str = "prediction"
    metric: str = "error"
    outcomes: str = "actual outcomes"
    period: str = "period"
    segment: str = "segment"
    unit: PeriodUnit | None = None

    def when(self, period: int | None) -> str:
        """One period as people read it: "2012-03", "week of 2012-03-05", "period 17"."""
        if self.unit is None:
            return "-" if period is None else f"{self.period} {period}"
        return period_label(period, self.unit)

    def span(self, first: int | None, last: int | None) -> str:
        """Periods ``first`` to ``last``: "2012-01 to 2012-03", "weeks 3 to 9"."""
        if self.unit is None:
            return f"{self.period}s {first} to {last}"
        return f"{period_label(first, self.unit)} to {period_label(last, self.unit)}"

    @property
    def predictions(self) -> str:
        """Plural of ``prediction``."""
        return self.prediction + "s"

    def periods(self, n: int) -> str:
        """``n`` periods, e.g. "1 week", "3 weeks"."""
        return count(n, self.period)


def _prediction_noun(task: str) -> str:
    # A regression model here predicts a future quantity; a classifier a class.
    return "forecast" if task == "regression" else "prediction"


def default_wording(metric: str | None) -> Wording:
    """Words derived from the primary metric alone (no use case at hand).

    Args:
        metric: Primary metric name, or None when unknown.

    Returns:
        Generic words; "forecast error" for a regression metric such as MAE.
    """
    if metric is None or metric not in METRICS:
        return Wording()
    noun = _prediction_noun(METRICS[metric].task)
    return Wording(prediction=noun, metric=_METRIC_WORDS[metric].format(p=noun))


def wording_for(usecase: UseCase) -> Wording:
    """The words of a use case: its task, metric, target, period and segment names.

    Args:
        usecase: The use case.

    Returns:
        E.g. for the retail demand use case: "forecast", "forecast error",
        "actual units sold", "period", "store".
    """
    noun = _prediction_noun(usecase.model.task)
    data = usecase.data
    return Wording(
        prediction=noun,
        metric=_METRIC_WORDS[usecase.metric.primary].format(p=noun),
        outcomes="actual " + data.target_column.replace("_", " ").strip(),
        period=data.period or "period",
        segment=(data.segment_column or "segment").replace("_", " "),
        unit=data.period,
    )


# --------------------------------------------------------------------- outcome
@dataclass(frozen=True)
class CycleOutcome:
    """Everything one monitor cycle decided, for the summary and the record.

    ``champion_before`` is the model in production when the cycle started (the
    one a promotion replaces); ``superseded_by`` is set when a decided promotion
    was not carried out because another version became champion first;
    ``labels`` are the label gate's decisions on the label files that arrived
    for this cycle; ``schema`` compares the contract that model was trained under with the
    current one (None without a champion).
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
    return _sentence(
        f"the contract changed since {_version(s.champion_version)} was trained: {changes}"
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


def _vs_normal(perf: PerformanceSummary, w: Wording, note: str = "") -> str:
    """'the forecast error was 7.3 against 7.0 normally (4.3% worse, within normal variation)'.

    ``note`` is added inside the parentheses (e.g. the limit that was crossed).
    """
    r = perf.realized
    assert r is not None
    decay = perf.decay or 0.0
    significant = perf.decay_low is not None and perf.decay_low > 0
    better = perf.decay_high is not None and perf.decay_high < 0
    if significant:
        noise = "clearly beyond normal variation"
    elif better:
        noise = "clearly better than usual"
    else:
        noise = "within normal variation"
    direction = "worse" if decay > 0 else "better"
    return (
        f"the {w.metric} was {number(r.value)} against {number(perf.reference)} normally "
        f"({percent(abs(decay))} {direction}, {noise}{note})"
    )


def performance_sentence(perf: PerformanceSummary | None, w: Wording | None = None) -> str | None:
    """How the model did on the labels that arrived, in words."""
    if perf is None or perf.realized is None:
        return None
    w = w or default_wording(perf.metric)
    rows = count(perf.realized.rows, w.prediction)
    return _sentence(f"measured on {rows} whose {w.outcomes} arrived, {_vs_normal(perf, w)}")


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
    return (
        f"For the {e.rows:,} {w.predictions} just made, before the {w.outcomes} arrive, the "
        f"expected {w.metric} is {number(e.value)} (between {number(e.low)} and {number(e.high)}; "
        f"{number(perf.reference)} normally)."
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


def _importance_known(drift: DriftSummary) -> bool:
    return sum(f.importance for f in drift.features) > 0


def _drift_clause(drift: DriftSummary) -> str | None:
    """'3 of 9 inputs changed (price, ...), carrying 12% of what the model relies on'."""
    names = drift.drifted_features
    if not names:
        return None
    n = len(drift.features)
    shown = ", ".join(names[:3]) + (" and others" if len(names) > 3 else "")
    if _importance_known(drift):
        weight = f"carrying {percent(drift.importance_weighted_share)} of what the model relies on"
    else:
        weight = "how much the model relies on them is not known"
    return f"{len(names)} of {n} inputs changed ({shown}), {weight}"


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
    clause = _drift_clause(drift)
    if clause is None:
        return f"None of the {len(drift.features)} inputs changed noticeably on its own.{joint}"
    return _sentence(clause) + joint


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
    return " ".join(_sentence(x) for x in said) if said else None


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
def _window_words(window: TrainingWindow | None, w: Wording) -> str:
    if window is None:
        return "the labeled data"
    if window.first_period is None:
        last = window.last_period if w.unit is None else period_label(window.last_period, w.unit)
        return f"every {w.period} up to {last}"
    return w.span(window.first_period, window.last_period)


def _cause_clause(cause: str, w: Wording) -> str:
    if cause == "concept_drift":
        return f"; the link between the inputs and the {w.outcomes} changed"
    if cause == "covariate_shift":
        return "; the inputs moved into cases the model handles less well"
    return ""


def retrain_reason_sentence(reason: Reason, d: RetrainDecision, w: Wording | None = None) -> str:
    """One reason of a retrain decision in plain words, with its numbers.

    Args:
        reason: A reason of ``d`` (any of ``d.reasons`` or ``d.checked``).
        d: The decision it belongs to (its inputs give the measured values).
        w: The use case's words.

    Returns:
        A sentence; the reason's own message for a code this function does not know.
    """
    inputs = d.inputs
    perf, drift = inputs.performance, inputs.drift
    w = w or default_wording(perf.metric if perf else None)
    n = reason.numbers
    code = reason.code
    if code == ReasonCode.BATCH_FAILED_GATE:
        return _sentence("the data failed its checks, so nothing was scored or retrained")
    if code == ReasonCode.LATE_BATCH:
        late, latest = _int(n, "period"), _int(n, "latest_decided_period")
        return _sentence(
            f"this batch belongs to {w.when(late)}, which comes before {w.when(latest)}, already "
            f"decided: its {w.predictions} were delivered and its rows will train the next "
            "model, but no retrain is decided on data that arrives late"
        )
    if code == ReasonCode.NO_CHAMPION:
        return _sentence(
            f"there was no model in production yet; the new one learned from "
            f"{_window_words(d.window, w)}"
        )
    if code == ReasonCode.NO_LABELED_DATA:
        return _sentence(f"no {w.outcomes} have arrived yet, so there is nothing to learn from")
    if code == ReasonCode.NOT_ENOUGH_LABELS:
        got, need = _int(n, "new_labeled_rows"), _int(n, "min_new_labels")
        if not got:
            return _sentence(
                f"no {w.outcomes} arrived this {w.period}, so the model cannot be judged yet"
            )
        return _sentence(
            f"only {count(got or 0, w.prediction)} got their {w.outcomes} this {w.period} "
            f"and at least {need} are needed to judge the model, so it is too early to "
            "retrain"
        )
    if code == ReasonCode.COOLDOWN:
        since, wait = _int(n, "periods_since_retrain"), _int(n, "min_periods_between")
        if since is not None and wait is not None:
            decay = _float(n, "decay")
            change = (
                ""
                if decay is None
                else f"; the {w.metric} is {percent(abs(decay))} "
                f"{'worse' if decay > 0 else 'better'} than normal, not enough to cut the "
                "wait short"
            )
            return _sentence(
                f"the model was retrained {w.periods(since)} ago and a retrain waits at least "
                f"{w.periods(wait)} so that its effect can be measured{change}"
            )
        limit = _float(n, "max_decay")
        return _sentence(
            f"the model was retrained recently, and the {w.metric} is not "
            f"{percent(limit) + ' ' if limit is not None else ''}worse than normal, which it "
            "would take to retrain again this soon"
        )
    if code == ReasonCode.NO_DECAY:
        parts = []
        clause = _drift_clause(drift) if drift is not None else None
        if perf is not None and perf.realized is not None:
            said = _vs_normal(perf, w)
            parts.append(f"{clause}, but {said}" if clause else said)
        elif clause:
            parts.append(clause)
        else:
            # Records written before decay_not_measurable existed said no_decay here.
            parts.append(f"the {w.metric} cannot be measured yet and no input changed noticeably")
        return _sentence(f"{parts[0]}, so there was no reason to retrain")
    if code == ReasonCode.DECAY_NOT_MEASURABLE:
        rows, why = _int(n, "new_labeled_rows"), n.get("why")
        got = f"{rows} newly labeled rows arrived" if rows is not None else "new labels arrived"
        because = f" ({why})" if why else ""
        return _sentence(
            f"{got}, but the {w.metric} could not be measured on them{because}; without it "
            "no decay can be judged, so the model was kept, which says nothing about "
            "whether it is still good"
        )
    if code == ReasonCode.REALIZED_DECAY and perf is not None and perf.realized is not None:
        limit = _float(n, "max_decay")
        over = f" and over the {percent(limit)} limit" if limit is not None else ""
        cause = _cause_clause(str(n.get("cause", inputs.decay_cause)), w)
        return _sentence(_vs_normal(perf, w, over) + cause)
    if code == ReasonCode.IMPORTANT_FEATURE_DRIFT:
        share, limit = _float(n, "importance_weighted_share"), _float(n, "importance_drift_limit")
        top = n.get("top_drifted") or "some inputs"
        return _sentence(
            f"inputs the model relies on changed ({top}): they carry "
            f"{percent(share or 0.0)} of what the model relies on, over the "
            f"{percent(limit or 0.0)} limit"
        )
    if code == ReasonCode.MODEL_AGE:
        age, limit = _int(n, "age_periods"), _int(n, "max_age_periods")
        if age is not None and limit is not None:
            return _sentence(
                f"the model learned from data up to {w.periods(age)} old, more than the "
                f"{w.periods(limit)} allowed, so it is refreshed"
            )
    if code == ReasonCode.CRITICAL_DECAY_OVERRIDES_BUDGET:
        used, window = _int(n, "retrains_in_window"), _int(n, "budget_window_periods")
        decay = _float(n, "decay")
        if used is not None and window is not None and decay is not None:
            return _sentence(
                f"{count(used, 'retrain')} were already made in the last {w.periods(window)}, "
                f"the whole budget, but the {w.metric} is {percent(decay)} worse than normal, "
                "too much to keep the model until the budget frees up"
            )
    if code == ReasonCode.RETRAIN_BUDGET_EXHAUSTED:
        used, cap = _int(n, "retrains_in_window"), _int(n, "max_retrains")
        window = _int(n, "budget_window_periods")
        if used is not None and cap is not None and window is not None:
            return _sentence(
                f"{count(used, 'retrain')} were already made in the last "
                f"{w.periods(window)}, and at most {cap} are allowed, so this one waits"
            )
    if code in (ReasonCode.RETRAIN_NOT_WORTH_COST, ReasonCode.RETRAIN_WORTH_COST):
        saving, cost = _float(n, "expected_saving"), _float(n, "retrain_cost")
        horizon = _int(n, "horizon_periods")
        if saving is not None and cost is not None and horizon is not None:
            if code == ReasonCode.RETRAIN_WORTH_COST:
                return _sentence(
                    f"retraining is expected to save about {number(saving)} over the next "
                    f"{w.periods(horizon)}, more than its cost of {number(cost)}"
                )
            return _sentence(
                f"retraining would not pay off: it would save about {number(saving)} over the "
                f"next {w.periods(horizon)}, less than its cost of {number(cost)}"
            )
    return reason.message


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
            _sentence(f"{_clause(trigger)}, so a retrain was warranted, but {_clause(said[0])}")
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
    return f"{head}: {_clause(why)}." if why else f"{head}."


# ---------------------------------------------------------- promotion, in words
def _gain_words(numbers: Mapping[str, float | int | str | None], mode: object) -> str:
    need = _float(numbers, "min_improvement")
    if need is None:
        return "the improvement required"
    return f"the {percent(need)} improvement required" if mode != "absolute" else f"{number(need)}"


def promotion_reason_sentence(
    reason: Reason, p: PromotionDecision, w: Wording | None = None, kept: str | None = None
) -> str:
    """One check of the promotion gate in plain words, with its numbers.

    Args:
        reason: A reason of ``p``.
        p: The promotion decision (its inputs give the measured values).
        w: The use case's words.
        kept: The version in production the challenger was compared with.

    Returns:
        A sentence; the reason's own message for a code this function does not know.
    """
    i = p.inputs
    w = w or default_wording(i.metric)
    n = reason.numbers
    code = reason.code
    champ = _version(kept)
    if code == ReasonCode.NO_FLOOR_CONFIGURED:
        return _sentence(
            "the use case sets no minimum quality for a model in production, so none is put "
            "in production (a safety default)"
        )
    if code in (ReasonCode.BASELINE_BEATEN, ReasonCode.BASELINE_NOT_BEATEN):
        base = _float(n, "baseline")
        naive = str(n.get("baseline_kind") or "a constant")
        if code == ReasonCode.BASELINE_NOT_BEATEN:
            return _sentence(
                f"it is no better than a naive guess: its {w.metric} on recent held-back data "
                f"was {number(i.challenger_metric)} against {number(base)} for always predicting "
                f"the {naive} of the data it learned from"
            )
        return _sentence(
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)}, better "
            f"than the {number(base)} of always predicting the {naive} of the data it learned from"
        )
    if code == ReasonCode.BASELINE_UNAVAILABLE:
        return _sentence(
            "it could not be compared with a naive guess (no target to learn one from, or the "
            f"{w.metric} is undefined on the held-back data), so it is not put in production "
            "(a safety default)"
        )
    if code in (ReasonCode.FLOOR_MET, ReasonCode.FLOOR_NOT_MET):
        floor = _float(n, "floor")
        verb = "within" if code == ReasonCode.FLOOR_MET else "missing"
        return _sentence(
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)}, {verb} "
            f"the minimum quality of {number(floor)}"
        )
    if code == ReasonCode.TARGET_LEAK_SUSPECTED:
        leaking = {
            k: v
            for k, v in n.items()
            if k != "max_target_association" and isinstance(v, int | float)
        }
        named = ", ".join(
            f"{k} ({v:.2f})" for k, v in sorted(leaking.items(), key=lambda kv: -kv[1])
        )
        return _sentence(
            f"it looks too good to be true: {named or 'an input'} follow"
            f"{'s' if len(leaking) == 1 else ''} the {w.outcomes} almost exactly, which points "
            "to a data error (an input filled from what it should predict); the data must be "
            "checked before any new model goes live"
        )
    if code == ReasonCode.TOO_GOOD_TO_BE_TRUE:
        gain, limit = _float(n, "relative_gain"), _float(n, "max_plausible_gain")
        return _sentence(
            f"it looks too good to be true: it removes {percent(gain or 0.0)} of the error of "
            f"{champ} (at most {percent(limit or 0.0)} is plausible), which points to a data "
            f"error such as an input filled from the {w.outcomes}"
        )
    if code in (ReasonCode.IMPROVEMENT_MET, ReasonCode.IMPROVEMENT_TOO_SMALL):
        against = (
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)} against "
            f"{number(i.champion_metric)} for {champ}"
        )
        if code == ReasonCode.IMPROVEMENT_TOO_SMALL:
            return _sentence(
                f"it did not improve enough: {against}, short of {_gain_words(n, n.get('mode'))}"
            )
        rel = (
            -worsening(i.metric, i.champion_metric, i.challenger_metric)
            if i.champion_metric is not None
            else None
        )
        better = f" ({percent(rel)} better)" if rel is not None and math.isfinite(rel) else ""
        return _sentence(f"{against}{better}")
    if code in (ReasonCode.GAIN_SIGNIFICANT, ReasonCode.GAIN_NOT_SIGNIFICANT):
        if i.p_value is None:
            return _sentence("its advantage was not tested, so it cannot be trusted")
        if code == ReasonCode.GAIN_NOT_SIGNIFICANT:
            return _sentence(
                f"its advantage over {champ} is too small to tell from chance "
                f"(p = {i.p_value:.2g}, {number(_float(n, 'significance'))} or less needed)"
            )
        return _sentence(f"its advantage is not chance (p = {i.p_value:.2g})")
    if code == ReasonCode.SEGMENT_REGRESSION:
        bad, worst = _int(n, "regressed_segments"), n.get("worst_segment")
        by, cap = _float(n, "worst_worsening"), _float(n, "max_segment_regression")
        return _sentence(
            f"it would be worse for {count(bad or 1, w.segment)}, most for {worst} "
            f"({percent(by or 0.0)} worse; at most {percent(cap or 0.0)} is allowed)"
        )
    if code == ReasonCode.GUARDRAIL_RATE_TOO_HIGH:
        rate, cap = _float(n, "guardrail_rate"), _float(n, "max_guardrail_rate")
        return _sentence(
            f"{percent(rate or 0.0)} of its {w.predictions} on recent data broke business limits "
            f"(at most {percent(cap or 0.0)} is allowed)"
        )
    if code == ReasonCode.APPROVAL_REJECTED:
        comment = f' ("{i.approval_comment}")' if i.approval_comment else ""
        return _sentence(f"{i.approver or 'a reviewer'} rejected it{comment}")
    if code == ReasonCode.APPROVAL_TIMEOUT:
        return _sentence("no one approved it in time, and no answer counts as a no")
    if code == ReasonCode.APPROVAL_PENDING:
        return _sentence("it waits for a person to approve it")
    if code == ReasonCode.APPROVED:
        comment = f' ("{i.approval_comment}")' if i.approval_comment else ""
        return _sentence(f"{i.approver or 'a reviewer'} approved it{comment}")
    return reason.message


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
    return f"The candidate{v} was not put in production: {_clause(why)}."


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
        stays = f"{_version(kept)} stays as it was" if kept else "no model was trained on it"
        return _sentence(
            f"we set the data of {w.when(o.period)} ({o.batch}) aside unused: "
            f"{first.rstrip('.')}{more}; {stays}"
        )
    r, p, c = o.retrain, o.promotion, o.challenger_version
    if r is None or r.action in ("skip", "block"):
        if kept is None:
            return _sentence("no model is in production yet, and none could be trained")
        return _sentence(f"we kept the current model ({_version(kept)})")
    first_model = r.action == "train"
    candidate = f"version {c}" if c else "a candidate"
    if p is None:
        return _sentence(f"we trained {candidate} but did not judge it")
    if o.superseded_by is not None:
        return _sentence(
            f"we trained {candidate} and the checks approved it, but it was not put in "
            f"production: version {o.superseded_by} became the model in production first, and "
            f"the next {w.period} judges against it"
        )
    if p.action == "promote":
        if first_model:
            return _sentence(f"we put a first model in production ({candidate})")
        instead = f" instead of version {kept}" if kept is not None else ""
        return _sentence(
            f"we replaced the model in production: {candidate} now makes the "
            f"{w.predictions}{instead}"
        )
    if p.action == "await_approval":
        meanwhile = (
            "" if first_model else f", while {_version(kept)} keeps making the {w.predictions}"
        )
        return _sentence(
            f"we trained {candidate}; it passed every automatic check and waits for a person "
            f"to approve it{meanwhile}"
        )
    if first_model:
        return _sentence(f"we trained a first model ({candidate}) but did not put it in production")
    kept_words = f" ({_version(kept)})" if kept is not None else ""
    return _sentence(
        f"we trained a new candidate ({candidate}) but kept the current model{kept_words}"
    )


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
            clause = _drift_clause(o.drift)
            parts.append(_sentence(clause) if clause else "")
        g = o.guardrails
        if g is not None and (g.violating_rows or g.findings):
            parts.append(guardrail_sentence(g, w) or "")
        parts.append(_estimate_warning(o.performance, w) or "")
        parts.append(label_gate_sentence(o.labels, w) or "")
        parts.append(schema_sentence(o.schema) or "")
        if o.gate.warnings:
            warned = o.gate.warnings
            more = f" (and {len(warned) - 1} more)" if len(warned) > 1 else ""
            parts.append(
                _sentence(
                    f"the data had {count(len(warned), 'warning')}: {warned[0].message}"
                ).rstrip(".")
                + f"{more}."
            )
    return " ".join(_sentence(p) for p in parts if p)


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
        return _sentence(
            f"version {change.version} came back {when + ' ' if when else ''}when {who} rolled "
            f"back version {change.previous}{why}"
        )
    head = (
        f"version {change.version} became the first model in production {when}".rstrip()
        if change.kind == "first" or change.previous is None
        else f"version {change.version} replaced version {change.previous} {when}".rstrip()
    )
    said = [_sentence(head)]
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
            f"| {p.new_labeled_rows} | {number(p.estimated)} | "
            f"[{number(p.estimated_low)}, {number(p.estimated_high)}] |"
        )
    if p.current_estimate is not None:
        e = p.current_estimate
        rows.append(
            f"| estimated on the batch just scored (no labels yet) | {e.rows} | "
            f"{number(e.value)} | [{number(e.low)}, {number(e.high)}] |"
        )
    cause = o.retrain.inputs.decay_cause if o.retrain is not None else "unknown"
    attribution = attribution_sentence(p, cause, w)
    if attribution:
        rows += ["", f"**Attribution.** {attribution}"]
    return rows


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
            f"## Contract changes since {_version(o.schema.champion_version)} was trained",
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

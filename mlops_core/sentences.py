"""The one renderer from reason codes and numbers to sentences.

Decisions emit a :class:`~mlops_core.reasons.ReasonCode`, its numbers and, where
a sentence names something that is not a number (a column, a metric, the rule
a validator broke), those words; they build no English themselves. Every
sentence about a reason is written here, in two registers:

- the record's sentence, once per code (:func:`sentence`): :func:`reason`
  renders it into the reason's ``message`` when the decision is made, so the
  record, its markdown table, the HTML report and the model card all show the
  sentence written here. A unit test renders every code and fails when one
  has no sentence;
- the summary's sentence, in the use case's own words (:class:`Wording`), for
  the reasons that decide a retrain or a promotion
  (:func:`retrain_reason_sentence`, :func:`promotion_reason_sentence`), which
  ``mlops_core.report`` composes into the cycle summary.

Numbers are formatted by :mod:`mlops_core.formatting`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_core.config import UseCase
from mlops_core.decisions import (
    DriftSummary,
    InputRangeFinding,
    PerformanceSummary,
    PromotionDecision,
    Reason,
    RetrainDecision,
    RuleResult,
    TrainingWindow,
)
from mlops_core.formatting import PRECISE, change, count, listed, number, percent
from mlops_core.metrics import METRICS, worsening
from mlops_core.periods import PeriodUnit, period_label
from mlops_core.reasons import ReasonCode as C

Numbers = Mapping[str, float | int | str | None]
#: A sentence template: the code (a template may serve several), its numbers, its words.
Template = Callable[..., str]

_SENTENCES: dict[C, Template] = {}


def _says(*codes: C) -> Callable[[Template], Template]:
    def register(template: Template) -> Template:
        for code in codes:
            if code in _SENTENCES:  # pragma: no cover - a programming error
                raise ValueError(f"two sentences for {code}")
            _SENTENCES[code] = template
        return template

    return register


def has_sentence(code: C) -> bool:
    """Whether the renderer has a sentence for ``code``."""
    return code in _SENTENCES


def sentence(code: C, numbers: Numbers | None = None, **words: Any) -> str:
    """The plain-language sentence of a reason.

    Args:
        code: The reason code.
        numbers: The reason's numbers.
        **words: What the sentence names besides numbers (see each template).

    Returns:
        The sentence, with the numbers in it.

    Raises:
        KeyError: When ``code`` has no sentence (a test keeps that from happening).
    """
    return _SENTENCES[C(code)](C(code), numbers or {}, **words)


def reason(
    code: C,
    numbers: Mapping[str, float | int | str | None] | None = None,
    passed: bool | None = None,
    **words: Any,
) -> Reason:
    """A reason with its sentence rendered from its code, numbers and words."""
    n = dict(numbers or {})
    return Reason(code=code, message=sentence(code, n, **words), numbers=n, passed=passed)


def _n(x: Any) -> str:
    """A number in a record sentence (4 significant digits)."""
    return number(x, PRECISE)


def _periods(n: Any) -> str:
    return count(int(n), "period")


# ------------------------------------------------- the use case's words
def _float(numbers: Mapping[str, float | int | str | None], key: str) -> float | None:
    value = numbers.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(numbers: Mapping[str, float | int | str | None], key: str) -> int | None:
    value = _float(numbers, key)
    return None if value is None else int(value)


def as_sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def as_clause(sentence: str) -> str:
    """A sentence as a clause to embed: first letter lowered, final period dropped."""
    text = sentence.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def version_words(v: str | None) -> str:
    return f"version {v}" if v else "the model in production"


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


# ------------------------------------------------------------------- batch gate
def _where(result: RuleResult) -> str:
    return f"Column {result.column!r}" if result.column else "The batch"


def _found(result: RuleResult) -> str:
    parts = [result.message.rstrip(".")]
    if result.unexpected_count or result.unexpected_share:
        parts.append(
            f"{result.unexpected_count} unexpected values ({result.unexpected_share:.1%} of rows)"
        )
    if result.examples:
        parts.append("e.g. " + ", ".join(result.examples[:5]))
    return "; ".join(parts)


@_says(C.RULE_FAILED, C.RULE_WARNING)
def _rule_broken(code: C, n: Numbers, *, result: RuleResult) -> str:
    verb = "failed" if code == C.RULE_FAILED else "broke warning"
    return f"{_where(result)} {verb} rule {result.rule!r}: {_found(result)}."


@_says(C.EMPTY_BATCH)
def _empty_batch(code: C, n: Numbers, *, batch: str) -> str:
    return f"Batch {batch!r} has no rows; an empty batch is never scored or trained on."


@_says(C.BATCH_VALID)
def _batch_valid(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"Batch {batch!r} is valid: {n['rows']} rows, {n['rules']} rules checked, "
        f"{n['warnings']} warnings."
    )


# -------------------------------------------------------------------- retrain
_CAUSE_TEXT = {
    "concept_drift": "concept drift (the link between inputs and target changed: realized "
    "performance is clearly worse than the label-free estimate)",
    "covariate_shift": "covariate shift (inputs moved into regions where the model is weaker; "
    "the label-free estimate explains the loss)",
    "unknown": "unattributed (the label-free estimate is missing or does not separate concept "
    "drift from covariate shift)",
}


def _performance_text(n: Numbers, metric: str) -> str:
    """Realized against reference, from the numbers ``retrain`` records for a performance."""
    return (
        f"realized {metric} {_n(n['realized'])} (interval {_n(n['realized_low'])} to "
        f"{_n(n['realized_high'])}, {n['labeled_rows']} rows) vs reference "
        f"{_n(n['reference'])}: decay {change(n['decay'])} (interval {change(n['decay_low'])} "
        f"to {change(n['decay_high'])})"  # type: ignore[arg-type]
    )


def unmeasured_why(perf: PerformanceSummary | None, metric: str) -> str:
    """Why a performance summary carries no realized metric, in words (a retrain number)."""
    if perf is None:
        return "no performance was assessed"
    if perf.new_labeled_rows == 0:
        return "none of them could be joined to a scored prediction with a target"
    if not math.isfinite(perf.reference):
        return "the champion has no reference metric to compare with"
    return f"{metric} is undefined on them (for example one class only)"


@_says(C.BATCH_FAILED_GATE)
def _batch_failed_gate(code: C, n: Numbers) -> str:
    return (
        "The batch failed the validation gate: nothing is scored or trained and the champion stays."
    )


@_says(C.BATCH_PASSED_GATE)
def _batch_passed_gate(code: C, n: Numbers) -> str:
    return "The batch passed the validation gate."


@_says(C.LATE_BATCH)
def _late_batch(code: C, n: Numbers) -> str:
    return (
        "The batch arrived late: its period is before the latest one already decided. Its "
        "predictions were delivered and its rows join the labeled pool for the next retrain; "
        "no retrain is decided on it, since decisions only move forward in time."
    )


@_says(C.NO_LABELED_DATA)
def _no_labeled_data(code: C, n: Numbers) -> str:
    return (
        "No labeled period is available yet, so there is nothing to train on; training waits "
        "for labels."
    )


@_says(C.NO_CHAMPION)
def _no_champion(code: C, n: Numbers) -> str:
    # Shared by two decisions: the retrain decision records the training window,
    # the promotion gate records no numbers.
    if "last_period" not in n:
        return "There is no champion yet: the naive baseline, the floor and the leak check decide."
    first, last = n.get("first_period"), n["last_period"]
    window = (
        f"from the beginning up to {last} (expanding window)"
        if first is None
        else f"{first} to {last} (sliding window)"
    )
    return f"There is no champion yet: a first model is trained on periods {window}."


@_says(C.HAS_CHAMPION)
def _has_champion(code: C, n: Numbers) -> str:
    return "A champion is in production."


@_says(C.NOT_ENOUGH_LABELS)
def _not_enough_labels(code: C, n: Numbers) -> str:
    return (
        f"Only {n['new_labeled_rows']} newly labeled rows arrived (at least "
        f"{n['min_new_labels']} needed): too little evidence to judge the model or to retrain on."
    )


@_says(C.ENOUGH_LABELS)
def _enough_labels(code: C, n: Numbers) -> str:
    return (
        f"{n['new_labeled_rows']} newly labeled rows arrived (at least {n['min_new_labels']} "
        "needed)."
    )


@_says(C.CRITICAL_DECAY_OVERRIDES_COOLDOWN)
def _critical_overrides_cooldown(
    code: C, n: Numbers, *, decay_low: float | None, decay_high: float | None
) -> str:
    return (
        f"The last retrain was {_periods(n['periods_since_retrain'])} ago (cooldown "
        f"{n['min_periods_between']}), but the decay {change(n['decay'])} (interval "  # type: ignore[arg-type]
        f"{change(decay_low)} to {change(decay_high)}) is over the critical "
        f"{n['critical_decay']:.0%}: the cooldown is overridden."
    )


@_says(C.COOLDOWN)
def _cooldown(code: C, n: Numbers, *, critical_decay: float | None = None) -> str:
    if "periods_since_retrain" not in n:
        # The override let only a decay retrain through, and the decay fell short.
        return (
            "Inside the cooldown and the decay does not reach the retrain limit "
            f"{n['max_decay']:.0%}: retraining waits for the cooldown to end."
        )
    decay = n.get("decay")
    decay_txt = (
        ""
        if decay is None
        else f" The decay {change(decay)} is not over "  # type: ignore[arg-type]
        f"the critical {critical_decay:.0%} with significance."
    )
    return (
        f"The last retrain was {_periods(n['periods_since_retrain'])} ago, inside the cooldown "
        f"of {n['min_periods_between']} periods.{decay_txt}"
    )


@_says(C.OUTSIDE_COOLDOWN)
def _outside_cooldown(code: C, n: Numbers) -> str:
    if "periods_since_retrain" not in n:
        return "No retrain has happened yet: no cooldown."
    return (
        f"The last retrain was {_periods(n['periods_since_retrain'])} ago (cooldown "
        f"{n['min_periods_between']})."
    )


@_says(C.PERFORMANCE_UNAVAILABLE)
def _performance_unavailable(code: C, n: Numbers) -> str:
    return (
        "Realized performance is not available (no joined labels or the metric is undefined "
        "on them): the decay rule does not apply."
    )


@_says(C.REALIZED_DECAY)
def _realized_decay(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"Significant decay: {_performance_text(n, metric)}, over the {n['max_decay']:.0%} "
        f"limit. Cause: {_CAUSE_TEXT[str(n['cause'])]}."
    )


@_says(C.NO_SIGNIFICANT_DECAY)
def _no_significant_decay(code: C, n: Numbers, *, metric: str) -> str:
    return f"No significant decay over {n['max_decay']:.0%}: {_performance_text(n, metric)}."


@_says(C.DRIFT_UNAVAILABLE)
def _drift_unavailable(code: C, n: Numbers) -> str:
    return "No drift summary for this batch: the drift rule does not apply."


@_says(C.IMPORTANT_FEATURE_DRIFT)
def _important_feature_drift(code: C, n: Numbers) -> str:
    return (
        f"Drifted features carry {n['importance_weighted_share']:.0%} of the champion's "
        f"importance (limit {n['importance_drift_limit']:.0%}); most important drifted: "
        f"{n['top_drifted']}."
    )


@_says(C.UNIMPORTANT_FEATURE_DRIFT)
def _unimportant_feature_drift(code: C, n: Numbers) -> str:
    return (
        f"{n['drifted_features']} drifted feature(s) ({n['top_drifted']}) carry only "
        f"{n['importance_weighted_share']:.0%} of the champion's importance (limit "
        f"{n['importance_drift_limit']:.0%}): reported, not acted on."
    )


@_says(C.NO_FEATURE_DRIFT)
def _no_feature_drift(code: C, n: Numbers) -> str:
    return "No feature drifted."


@_says(C.MODEL_AGE_UNKNOWN)
def _model_age_unknown(code: C, n: Numbers) -> str:
    return "The champion's training period is unknown: the age rule does not apply."


@_says(C.MODEL_AGE)
def _model_age(code: C, n: Numbers) -> str:
    return (
        f"The champion was trained on data up to {n['age_periods']} periods ago, over the "
        f"{n['max_age_periods']}-period limit: it is refreshed."
    )


@_says(C.MODEL_FRESH)
def _model_fresh(code: C, n: Numbers) -> str:
    return f"The champion is {n['age_periods']} periods old (limit {n['max_age_periods']})."


@_says(C.DECAY_NOT_MEASURABLE)
def _decay_not_measurable(code: C, n: Numbers) -> str:
    return (
        f"Realized performance could not be measured on the {n['new_labeled_rows']} newly "
        f"labeled rows: {n['why']}. Without it no decay can be judged; the champion stays, and "
        "neither drift nor age gave a reason to retrain."
    )


@_says(C.NO_DECAY)
def _no_decay(code: C, n: Numbers, *, metric: str) -> str:
    if "realized" in n:
        text = _performance_text(n, metric)
        parts = [text[0].upper() + text[1:]]
    else:
        parts = ["Realized performance is not available yet"]
    if "importance_weighted_share" in n:
        parts.append(
            f"{n['importance_weighted_share']:.0%} of the champion's importance sits in "
            f"drifted features (limit {n['importance_drift_limit']:.0%}), "
            f"{n['drift_share']:.0%} of features drifted"
        )
    return f"No decay: retraining postponed. {'; '.join(parts)}."


@_says(C.CRITICAL_DECAY_OVERRIDES_BUDGET)
def _critical_overrides_budget(
    code: C, n: Numbers, *, decay_low: float | None, decay_high: float | None
) -> str:
    return (
        f"{n['retrains_in_window']} retrains were already taken in the last "
        f"{n['budget_window_periods']} periods (budget {n['max_retrains']}), but the decay "
        f"{change(n['decay'])} (interval {change(decay_low)} to {change(decay_high)}) is over "  # type: ignore[arg-type]
        f"the critical {n['critical_decay']:.0%}: the budget is overridden."
    )


@_says(C.RETRAIN_BUDGET_EXHAUSTED)
def _budget_exhausted(code: C, n: Numbers, *, trigger: str) -> str:
    return (
        f"A retrain is warranted ({trigger}) but {n['retrains_in_window']} retrains were "
        f"already taken in the last {n['budget_window_periods']} periods (budget "
        f"{n['max_retrains']}): skipped."
    )


@_says(C.RETRAIN_BUDGET_AVAILABLE)
def _budget_available(code: C, n: Numbers) -> str:
    return (
        f"{n['retrains_in_window']} of {n['max_retrains']} retrains used in the last "
        f"{n['budget_window_periods']} periods."
    )


def _saving_formula(n: Numbers, metric: str) -> str:
    return (
        f"excess {metric} {_n(n['excess_loss_per_row'])} per row x {_n(n['rows_per_period'])} "
        f"rows x {n['horizon_periods']} periods x {_n(n['error_cost_per_unit'])} per unit"
    )


@_says(C.RETRAIN_NOT_WORTH_COST)
def _not_worth_cost(code: C, n: Numbers, *, metric: str, trigger: str) -> str:
    return (
        f"A retrain is warranted ({trigger}) but its expected saving "
        f"{_n(n['expected_saving'])} ({_saving_formula(n, metric)}) does not exceed its cost "
        f"{_n(n['retrain_cost'])}: skipped."
    )


@_says(C.RETRAIN_WORTH_COST)
def _worth_cost(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"Expected saving {_n(n['expected_saving'])} ({_saving_formula(n, metric)}) exceeds the "
        f"retrain cost {_n(n['retrain_cost'])}."
    )


@_says(C.RETRAIN_COST_FREE)
def _cost_free(code: C, n: Numbers) -> str:
    return "No retrain cost is configured: cost does not limit retraining."


# ------------------------------------------------------------------ promotion
@_says(C.BASELINE_UNAVAILABLE)
def _baseline_unavailable(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"The naive baseline's {metric} could not be computed on the holdout (baseline "
        f"{_n(n['baseline'])}, challenger {_n(n['challenger'])}): without it nothing is "
        "promoted (fail-safe)."
    )


@_says(C.BASELINE_BEATEN, C.BASELINE_NOT_BEATEN)
def _baseline(code: C, n: Numbers, *, metric: str, holdout_rows: int) -> str:
    verb = "beats" if code == C.BASELINE_BEATEN else "does not beat"
    return (
        f"Challenger {metric} {_n(n['challenger'])} {verb} the naive baseline "
        f"({n['baseline_kind']}, refit on the challenger's training rows) at "
        f"{_n(n['baseline'])} on the same {holdout_rows} holdout rows."
    )


@_says(C.NO_FLOOR_CONFIGURED)
def _no_floor(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"No floor is configured for {metric}: nothing is promoted until the use case sets "
        "promotion.floor (fail-safe)."
    )


@_says(C.FLOOR_MET, C.FLOOR_NOT_MET)
def _floor(code: C, n: Numbers, *, metric: str, greater_is_better: bool) -> str:
    verb = "meets" if code == C.FLOOR_MET else "misses"
    side = "at least" if greater_is_better else "at most"
    return f"Challenger {metric} {_n(n['challenger'])} {verb} the floor ({side} {_n(n['floor'])})."


@_says(C.IMPROVEMENT_MET, C.IMPROVEMENT_TOO_SMALL)
def _improvement(code: C, n: Numbers, *, metric: str) -> str:
    gain, need = float(n["gain"]), float(n["min_improvement"])  # type: ignore[arg-type]
    if n["mode"] == "absolute":
        shown, needed = f"{_n(gain)} {metric}", f"{_n(need)} {metric}"
    else:
        shown, needed = f"{gain:.1%} of the error", f"{need:.1%}"
    verb = "meets" if code == C.IMPROVEMENT_MET else "below"
    return (
        f"Challenger {metric} {_n(n['challenger'])} vs champion {_n(n['champion'])}: gain "
        f"{shown}, {verb} the required {needed} ({n['mode']})."
    )


@_says(C.GAIN_SIGNIFICANT, C.GAIN_NOT_SIGNIFICANT)
def _significance(code: C, n: Numbers, *, holdout_rows: int) -> str:
    p = n["p_value"]
    if p is None:
        return "The gain was not tested with a paired bootstrap: it cannot be trusted."
    ok = code == C.GAIN_SIGNIFICANT
    return (
        f"Paired bootstrap on {holdout_rows} holdout rows: mean loss reduction "
        f"{_n(n['loss_difference_mean'])} per row (interval {_n(n['loss_difference_low'])} to "
        f"{_n(n['loss_difference_high'])}), p = {p:.3g} {'<=' if ok else '>'} "
        f"{n['significance']:g}: the gain is {'significant' if ok else 'possibly noise'}."
    )


@_says(C.SEGMENT_REGRESSION)
def _segment_regression(
    code: C, n: Numbers, *, regressed: list[tuple[str, float, float, float]]
) -> str:
    """``regressed``: (segment, champion, challenger, worsening), worst first."""
    shown = ", ".join(
        f"{seg} ({_n(champ)} -> {_n(chall)}, {change(worse)})"
        for seg, champ, chall, worse in regressed[:5]
    )
    return (
        f"{n['regressed_segments']} of {n['segments']} segments get worse than the allowed "
        f"{n['max_segment_regression']:.0%}: {shown}."
    )


@_says(C.SEGMENTS_OK)
def _segments_ok(code: C, n: Numbers) -> str:
    return (
        f"No segment of {n['segments']} gets worse than the allowed "
        f"{n['max_segment_regression']:.0%} (worst: {n['worst_segment']}, "
        f"{change(n['worst_worsening'])})."  # type: ignore[arg-type]
    )


@_says(C.SEGMENTS_NOT_JUDGED)
def _segments_not_judged(code: C, n: Numbers) -> str:
    return "No segment had enough holdout rows to be compared."


@_says(C.GAIN_PLAUSIBLE, C.TOO_GOOD_TO_BE_TRUE)
def _plausibility(code: C, n: Numbers, *, when: str) -> str:
    gain, limit = n["relative_gain"], n["max_plausible_gain"]
    if code == C.GAIN_PLAUSIBLE:
        return (
            f"The challenger removes {gain:.1%} of the champion's error {when} "
            f"(plausible up to {limit:.0%})."
        )
    return (
        f"The challenger removes {gain:.1%} of the champion's error {when}, over the plausible "
        f"{limit:.0%}: too good to be true, check for label leakage (a feature computed from "
        "the target) before promoting."
    )


def _associations(n: Numbers) -> list[tuple[str, float]]:
    """The per-feature associations a leak check records beside its limit, strongest first."""
    found = [
        (k, float(v))
        for k, v in n.items()
        if k != "max_target_association" and isinstance(v, int | float)
    ]
    return sorted(found, key=lambda kv: -kv[1])


@_says(C.NO_TARGET_LEAK)
def _no_target_leak(code: C, n: Numbers) -> str:
    top = _associations(n)
    closest = f" (closest: {top[0][0]} at {top[0][1]:.3f})" if top else ""
    return (
        f"No input follows the target at {n['max_target_association']:g} correlation or "
        f"more{closest}."
    )


@_says(C.TARGET_LEAK_SUSPECTED)
def _target_leak(code: C, n: Numbers) -> str:
    leaking = _associations(n)
    shown = ", ".join(f"{k} ({v:.3f})" for k, v in leaking)
    return (
        f"On the holdout, {shown} follow{'s' if len(leaking) == 1 else ''} the target almost "
        f"exactly (correlation at or over {n['max_target_association']:g}): too good to be "
        "true. The target is leaking into the inputs (a feature filled from the outcome it "
        "predicts); fix the data before any model trained on it is promoted."
    )


@_says(C.GUARDRAIL_RATE_OK, C.GUARDRAIL_RATE_TOO_HIGH)
def _guardrail_rate(code: C, n: Numbers) -> str:
    return (
        f"{n['guardrail_rate']:.1%} of the challenger's holdout predictions break a guardrail "
        f"(allowed {n['max_guardrail_rate']:.1%})."
    )


def _approval_words(approver: str | None, comment: str | None) -> str:
    said = f' ("{comment}")' if comment else ""
    return f"{approver or 'an unnamed approver'}{said}"


@_says(C.APPROVED)
def _approved(code: C, n: Numbers, *, comment: str | None) -> str:
    return f"Approved by {_approval_words(n.get('approver'), comment)}."  # type: ignore[arg-type]


@_says(C.APPROVAL_REJECTED)
def _approval_rejected(code: C, n: Numbers, *, comment: str | None) -> str:
    return f"Rejected by {_approval_words(n.get('approver'), comment)}."  # type: ignore[arg-type]


@_says(C.APPROVAL_TIMEOUT)
def _approval_timeout(code: C, n: Numbers) -> str:
    return "No one answered the approval request in time: a missing answer is a rejection."


@_says(C.APPROVAL_PENDING)
def _approval_pending(code: C, n: Numbers) -> str:
    return "Every automatic check passed; the use case requires a human approval, which is pending."


@_says(C.SUPERSEDED)
def _superseded(code: C, n: Numbers, *, action: str) -> str:
    return f"Decided '{action}', not carried out: version {n['champion']} became champion first."


# ----------------------------------------------------------------- guardrails
#: What a model has not seen when a calendar column is outside its training range.
_CALENDAR_UNSEEN = {
    "month": "this season",
    "season": "this season",
    "quarter": "this season",
    "week": "this season",
    "hour": "this time of day",
    "weekday": "this day of the week",
    "day": "this day of the month",
    "year": "this year",
}
#: What a guardrail action did to the rows it acted on.
ACTION_WORD = {
    "clip": "clipped to the limit",
    "fallback": "replaced by the fallback value",
    "flag": "passed on with a flag",
    "quarantine": "held for review",
}


def _span(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "no values"
    return number(low) if low == high else f"{number(low)} to {number(high)}"


def input_range_finding_sentence(f: InputRangeFinding) -> str:
    """One input column outside the training range for a batch, in plain words.

    E.g. "mnth (month) is outside the training range for every row (train 1 to 3,
    batch 4): the model has not seen this season." or "temp is outside the
    training range for 96% of rows (train 0.02 to 0.56, batch 0.6 to 0.98): the
    model extrapolates."
    """
    name = f.column if f.calendar in (None, f.column) else f"{f.column} ({f.calendar})"
    if f.rows_out >= f.rows:
        where = "every row"
    elif round(f.share, 2) >= 1.0:
        where = f"all but {count(f.rows - f.rows_out, 'row')}"
    else:
        where = f"{percent(f.share)} of rows"
    ranges = f"train {_span(f.train_min, f.train_max)}, batch {_span(f.batch_min, f.batch_max)}"
    if f.calendar is not None:
        meaning = f"the model has not seen {_CALENDAR_UNSEEN.get(f.calendar, 'this time')}"
    else:
        meaning = "the model extrapolates"
    return f"{name} is outside the training range for {where} ({ranges}): {meaning}."


@_says(C.INPUTS_OUTSIDE_TRAINING_RANGE, C.CALENDAR_NOT_SEEN)
def _range_finding(code: C, n: Numbers, *, finding: InputRangeFinding, action: str) -> str:
    if action in ("quarantine", "fallback"):
        then = f" Its rows were {ACTION_WORD[action]}, as rule {finding.rule!r} says."
    else:
        then = (
            " One finding for the batch: its rows are not flagged for it and it does not "
            "count towards the circuit breaker."
        )
    return input_range_finding_sentence(finding) + then


@_says(C.INPUT_RANGE_UNAVAILABLE)
def _input_range_unavailable(code: C, n: Numbers, *, rule: str) -> str:
    return f"Rule {rule!r} was not applied: no training ranges are known for the champion."


@_says(C.SEGMENT_CAPS_UNAVAILABLE)
def _segment_caps_unavailable(code: C, n: Numbers, *, rule: str, caps_known: bool) -> str:
    lacking = (
        "no segment labels were given for the batch"
        if caps_known
        else "no per-segment training maxima are known for the champion"
    )
    return f"Rule {rule!r} was not applied: {lacking}."


@_says(C.GUARDRAIL_RULE)
def _guardrail_rule(
    code: C,
    n: Numbers,
    *,
    predictions: int,
    missing: list[str],
    found: list[str],
    uncapped: int,
) -> str:
    rows = int(n["rows"])  # type: ignore[arg-type]
    text = (
        f"Rule {n['rule']!r}: {rows} of {predictions} predictions "
        f"({rows / max(predictions, 1):.1%}) violated it and were {ACTION_WORD[str(n['action'])]}."
    )
    if missing:
        text += f" Training ranges of {', '.join(missing)} could not be checked: not in the batch."
    if found:
        text += (
            f" Out of range for the batch as a whole: {', '.join(found)} (one finding per column)."
        )
    if uncapped:
        text += f" {uncapped} rows could not be checked: their segment has no training history."
    return text


@_says(C.NON_FINITE_HELD)
def _non_finite_held(code: C, n: Numbers) -> str:
    return (
        f"{n['rows']} predictions were not finite after the guardrails and were held for "
        "review (always, whatever the rules say)."
    )


@_says(C.CIRCUIT_BREAKER)
def _circuit_breaker(code: C, n: Numbers, *, counts_flags: bool) -> str:
    what = "clipped, replaced, held or flagged" if counts_flags else "clipped, replaced or held"
    return (
        f"{n['breaker_rows']} of {n['rows']} predictions ({n['breaker_rate']:.1%}) broke a "
        f"guardrail ({what}), over the {n['max_violation_rate']:.1%} limit: the whole batch is "
        "held for review."
    )


# ----------------------------------------------------------------- alert policy
#: What each kind of alert condition is about, in words.
ALERT_KIND_WORDS = {
    "guardrail_breach": "business limits",
    "guardrail_finding": "inputs outside the training range",
}


def alert_kind_words(kind: str) -> str:
    """The kind of an alert condition in words (its name when it has none)."""
    return ALERT_KIND_WORDS.get(kind, kind.replace("_", " "))


def _alert_fact(n: Numbers, kind: str, cause: str) -> str:
    rows, hit = _int(n, "rows") or 0, _int(n, "count") or 0
    share = f"{hit:,} of {count(rows, 'row')} ({percent(_float(n, 'rate') or 0.0)})"
    if kind == "guardrail_breach":
        return f"Guardrail {cause} acted on {share}"
    if kind == "guardrail_finding":
        return f"Input {cause} was outside the training range for {share}"
    return f"{alert_kind_words(kind).capitalize()} ({cause}): {share}"


def _alert_threshold(n: Numbers) -> str:
    least = _int(n, "min_count")
    rows = f" or {count(least, 'row')}" if least is not None else ""
    return f"{percent(_float(n, 'min_rate') or 0.0)} of the rows{rows}"


def _muted_so_far(n: Numbers) -> str:
    muted = _int(n, "muted") or 0
    return f"{count(muted, 'condition')} of this cause muted since its last alert"


@_says(C.ALERT_UNCONFIGURED)
def _alert_unconfigured(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}; no alert rule is configured for "
        f"{alert_kind_words(kind)}, so it alerts (nothing is muted without a rule)."
    )


@_says(C.ALERT_BREAKER)
def _alert_breaker(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)} and the circuit breaker held the whole batch: "
        "alerted whatever the rule."
    )


@_says(C.ALERT_IMMEDIATE)
def _alert_immediate(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return f"{_alert_fact(n, kind, cause)}: alerted at once, as the rule says."


@_says(C.ALERT_NEW_CAUSE)
def _alert_new_cause(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: new (no open alert for it), so alerted although "
        f"below the threshold of {_alert_threshold(n)}."
    )


@_says(C.ALERT_THRESHOLD_CROSSED)
def _alert_threshold_crossed(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    last = _int(n, "last_raised")
    before = f" (last alert in period {last})" if last is not None else ""
    return (
        f"{_alert_fact(n, kind, cause)}: at or over the threshold of {_alert_threshold(n)}, "
        f"alerted{before}."
    )


@_says(C.ALERT_BELOW_THRESHOLD)
def _alert_below_threshold(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: below the threshold of {_alert_threshold(n)}, "
        f"counted without an alert ({_muted_so_far(n)})."
    )


@_says(C.ALERT_THROTTLED)
def _alert_throttled(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: already alerted in period {_int(n, 'last_raised')}, "
        f"less than {_periods(n['min_periods_between'])} ago, so counted without an alert "
        f"({_muted_so_far(n)})."
    )


@_says(C.ALERT_DIGESTED)
def _alert_digested(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    return (
        f"{_alert_fact(n, kind, cause)}: collected for the digest sent every "
        f"{_periods(n['every'])}."
    )


@_says(C.ALERT_DIGEST_DUE)
def _alert_digest_due(code: C, n: Numbers, *, kind: str, causes: tuple[str, ...]) -> str:
    return (
        f"Digest of {alert_kind_words(kind)}: {count(_int(n, 'pending') or 0, 'condition')} "
        f"since period {_int(n, 'since')} ({listed(list(causes), 8)})."
    )


@_says(C.ALERT_RESOLVED)
def _alert_resolved(code: C, n: Numbers, *, kind: str, cause: str) -> str:
    last = _int(n, "last_raised")
    since = f" since its alert of period {last}" if last is not None else ""
    return (
        f"{alert_kind_words(kind).capitalize()} {cause}: absent from "
        f"{count(_int(n, 'clear_cycles') or 0, 'measured cycle')} in a row{since}: resolved."
    )


# --------------------------------------------------------------------- review
def shown_value(value: float | str | None) -> str:
    """A reviewed or proposed value as a reviewer typed or saw it."""
    if value is None:
        return "none"
    return f"{value:.6g}" if isinstance(value, float) else value


@_says(C.LIMIT_NOT_CHECKED)
def _limit_not_checked(code: C, n: Numbers) -> str:
    return (
        f"Rule {n['rule']!r} was not checked on override values: it needs the champion's "
        "training maxima per segment."
    )


@_says(C.REVIEWER_MISSING)
def _reviewer_missing(code: C, n: Numbers) -> str:
    return "The review names no reviewer: say who you are, it is recorded."


@_says(C.NO_ROWS)
def _no_rows(code: C, n: Numbers, *, batch: str) -> str:
    return f"The review of batch {batch!r} decides no row."


def _row(n: Numbers, batch: str) -> str:
    return f"row {n['row']!r} of batch {batch!r}"


@_says(C.ROW_LISTED_TWICE)
def _row_listed_twice(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)} is decided more than once in the review."


@_says(C.ROW_NOT_HELD)
def _row_not_held(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)} is not in the review queue."


@_says(C.ROW_AMBIGUOUS)
def _row_ambiguous(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"{_row(n, batch)} is in the queue {n['rows']} times: the id does not tell which row is "
        "meant."
    )


@_says(C.ROW_NOT_PENDING)
def _row_not_pending(code: C, n: Numbers, *, batch: str, reviewed_by: str | None) -> str:
    by = f" by {reviewed_by}" if reviewed_by else ""
    return f"{_row(n, batch)} was already reviewed ({n['status']}{by})."


@_says(C.LIMITS_NOT_CHECKABLE)
def _limits_not_checkable(code: C, n: Numbers, *, error: str) -> str:
    return f"The override values could not be checked against the guardrail limits: {error}."


@_says(C.OVERRIDE_OUTSIDE_LIMITS)
def _override_outside_limits(code: C, n: Numbers, *, broken: list[str], allowed: bool) -> str:
    said = f"Override {shown_value(n['value'])} of row {n['row']!r} breaks {', '.join(broken)}"  # type: ignore[arg-type]
    if allowed:
        return f"{said}: released because the reviewer allowed values outside the limits."
    return (
        f"{said}. Correct the value, or allow values outside the limits explicitly (it is "
        "recorded)."
    )


@_says(C.REVIEW_APPLIED)
def _review_applied(code: C, n: Numbers, *, reviewer: str, batch: str, comment: str) -> str:
    said = f' ("{comment}")' if comment else ""
    return (
        f"{reviewer} reviewed {n['rows']} held row(s) of batch {batch!r}{said}: "
        f"{n['approved']} approved as proposed, {n['overridden']} overridden, "
        f"{n['rejected']} rejected; {n['released']} released downstream."
    )


@_says(C.OVERRIDE_UNSUPPORTED)
def _override_unsupported(code: C, n: Numbers, *, batch: str) -> str:
    return (
        f"{_row(n, batch)}: a classifier's predictions are labels; an override value cannot be "
        "checked against them. Approve or reject the row."
    )


@_says(C.OVERRIDE_MISSING_VALUE)
def _override_missing_value(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)}: an override needs the value to release."


@_says(C.OVERRIDE_NOT_FINITE)
def _override_not_finite(code: C, n: Numbers, *, batch: str) -> str:
    return f"{_row(n, batch)}: the override value {n['value']} is not a finite number."


@_says(C.VALUE_WITHOUT_OVERRIDE)
def _value_without_override(code: C, n: Numbers, *, batch: str, action: str) -> str:
    return (
        f"{_row(n, batch)}: a value ({shown_value(n['value'])}) was given but the decision is "  # type: ignore[arg-type]
        f"{action}; choose override to release your value."
    )


@_says(C.PROPOSED_NOT_USABLE)
def _proposed_not_usable(code: C, n: Numbers, *, batch: str, proposed: float | str | None) -> str:
    return (
        f"{_row(n, batch)}: the proposed value ({shown_value(proposed)}) cannot be released; "
        "override it with a value or reject the row."
    )


# -------------------------------------------------------------- schema changes
@_says(C.INPUT_TYPE_CHANGED)
def _input_type_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str
) -> str:
    return (
        f"'{column}' changed from {before} to {after} and version {version} reads it as "
        f"{before}: keep '{column}' as {before} and add the {after} column under a new name"
    )


@_says(C.TYPE_CHANGED_SAME_ENCODING, C.TYPE_CHANGED)
def _type_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str
) -> str:
    who = f"version {version}"
    note = (
        f" (both reach {who} as numbers)"
        if code == C.TYPE_CHANGED_SAME_ENCODING
        else f" ({who} does not read it)"
    )
    return f"'{column}' changed from {before} to {after}{note}"


@_says(C.RANGE_WIDENED, C.RANGE_NARROWED)
def _range_changed(
    code: C, n: Numbers, *, column: str, before: str, after: str, version: str, reads: bool
) -> str:
    widened = code == C.RANGE_WIDENED
    note = (
        f" (version {version} keeps scoring it: values beyond those it was trained on are "
        "flagged by the input-range guardrail where the use case has one)"
        if reads and widened
        else ""
    )
    return (
        f"the range of '{column}' {'widened' if widened else 'narrowed'} from {before} to "
        f"{after}{note}"
    )


@_says(C.CATEGORY_ADDED)
def _category_added(
    code: C, n: Numbers, *, column: str, added: tuple[str, ...] | None, version: str, reads: bool
) -> str:
    what = "any category" if added is None else ", ".join(added)
    note = (
        f" (version {version} never saw {'them' if added is None else 'it'} and scores such "
        "rows as an unknown category until the next retrain)"
        if reads
        else ""
    )
    return f"'{column}' now accepts {what}{note}"


@_says(C.CATEGORY_REMOVED)
def _category_removed(
    code: C, n: Numbers, *, column: str, removed: tuple[str, ...] | None, now: str
) -> str:
    if removed is None:
        return f"'{column}' no longer accepts every category (only {now})"
    return f"'{column}' no longer accepts {', '.join(removed)}"


@_says(C.INPUT_DROPPED)
def _input_dropped(code: C, n: Numbers, *, column: str, version: str) -> str:
    return (
        f"'{column}' was dropped from the contract but version {version} reads it: keep it in "
        "the contract with 'feature: false' until a champion trained without it is promoted"
    )


@_says(C.COLUMN_DROPPED)
def _column_dropped(code: C, n: Numbers, *, column: str, version: str) -> str:
    return f"'{column}' was dropped from the contract (version {version} does not read it)"


@_says(C.FEATURE_REMOVED_NEXT_RETRAIN)
def _feature_removed(code: C, n: Numbers, *, column: str, version: str) -> str:
    return (
        f"'{column}' is no longer a feature (version {version} keeps reading it: the next "
        "retrain trains without it)"
    )


@_says(C.NEW_FEATURE_NEXT_RETRAIN)
def _new_feature(code: C, n: Numbers, *, column: str, version: str, added: bool) -> str:
    if added:
        return (
            f"'{column}' was added to the contract as a feature (version {version} does not "
            "read it: it takes effect at the next retrain whose training rows hold it, rows "
            "stored before it count as missing)"
        )
    return (
        f"'{column}' is now a feature (version {version} does not read it: it takes effect at "
        "the next retrain)"
    )


@_says(C.COLUMN_ADDED)
def _column_added(
    code: C, n: Numbers, *, column: str, version: str = "?", added: bool = True
) -> str:
    return f"'{column}' was added to the contract (not a feature)"


# ----------------------------------------------------------------- label gate
@_says(C.ID_MISSING)
def _id_missing(code: C, n: Numbers, *, id_column: str) -> str:
    return f"{n['rows']} rows have no {id_column!r}: left out."


@_says(C.TARGET_NOT_NUMERIC)
def _target_not_numeric(code: C, n: Numbers, *, target_column: str, example: str) -> str:
    return (
        f"{n['rows']} rows have a {target_column!r} that is not a number (for example "
        f"{example!r}): left out."
    )


@_says(C.TARGET_MISSING)
def _target_missing(code: C, n: Numbers, *, target_column: str) -> str:
    return (
        f"{n['rows']} rows have no {target_column!r} (the label is unknown): left out; they "
        "never count as evidence."
    )


@_says(C.TARGET_OUT_OF_RANGE)
def _target_out_of_range(
    code: C, n: Numbers, *, target_column: str, bounds: str, example: float
) -> str:
    return (
        f"{n['rows']} rows have a {target_column!r} outside the target rules ({bounds}: "
        f"labels.target_min/target_max; for example {example:g}): left out."
    )


@_says(C.TARGET_CLASS_MISSPELLED)
def _target_class_misspelled(code: C, n: Numbers, *, example: str, listed_as: str) -> str:
    return (
        f"{n['rows']} rows have a class that differs from a listed one only in case or spaces "
        f"(for example {example!r} for {listed_as!r}; labels.target_classes): left out."
    )


@_says(C.TARGET_NEW_CLASS)
def _target_new_class(code: C, n: Numbers, *, classes: list[str]) -> str:
    found = ", ".join(repr(c) for c in classes)
    return (
        f"{n['rows']} rows have a class that labels.target_classes does not list ({found}): "
        "kept, a class the model never saw is real data; add it to labels.target_classes once "
        "it is confirmed."
    )


@_says(C.CONFLICTING_DUPLICATES)
def _conflicting_duplicates(code: C, n: Numbers, *, ids: int) -> str:
    return (
        f"{ids} ids appear with different targets ({n['rows']} rows): every row of those ids "
        "is left out, since which target is right cannot be known."
    )


@_says(C.DUPLICATE_IDS)
def _duplicate_ids(code: C, n: Numbers) -> str:
    return f"{n['rows']} rows repeat an id with the same target: each id is kept once."


@_says(C.UNKNOWN_IDS)
def _unknown_ids(code: C, n: Numbers) -> str:
    return (
        f"{n['rows']} rows label ids that no accepted batch holds yet (never scored, or of a "
        "period not delivered yet): kept, they join their rows when a batch holding them is "
        "accepted."
    )


@_says(C.CORRECTIONS)
def _corrections(code: C, n: Numbers, *, refused: bool) -> str:
    then = (
        "refused (labels.corrections: refuse), the earlier labels stay."
        if refused
        else "applied (labels.corrections: apply), the new labels replace them."
    )
    return f"{n['rows']} rows change the label an earlier file gave their id: {then}"


# --------------------------------------------------------------------- search
def _search_share(share: float) -> str:
    # Whole percents hide small gains ("0% lower"); below 10% one decimal shows them.
    if not math.isfinite(share) or round(abs(share) * 100, 6) >= 10:
        return f"{share:.0%}"
    return f"{share:.1%}"


@_says(C.SEARCH_NO_TRIAL)
def _search_no_trial(code: C, n: Numbers, *, incumbent: str) -> str:
    return f"kept {incumbent}: no trial of the search could be scored"


@_says(C.SEARCH_KEPT, C.SEARCH_SWITCHED)
def _search_choice(
    code: C,
    n: Numbers,
    *,
    label: str,
    chosen: str,
    incumbent: str,
    compared: str | None = None,
    switched: bool = False,
    greater_is_better: bool = False,
) -> str:
    kept = code == C.SEARCH_KEPT
    folds, score = int(n["folds"]), float(n["chosen_score"])  # type: ignore[arg-type]
    if "compared" not in n:
        return (
            f"{'kept' if kept else 'chose'} {chosen}: {label} {score:.4g} on the last {folds} "
            "fold(s) (no other estimator scored to compare with)"
        )
    span = "the last fold" if folds == 1 else f"the last {folds} folds"
    figures = f"on {span} ({score:.4g} vs {float(n['compared_score']):.4g}, fold-weighted)"  # type: ignore[arg-type]
    direction = "higher" if greater_is_better else "lower"
    share = _search_share(float(n["relative_gain"]))  # type: ignore[arg-type]
    if switched:
        return f"switched from {incumbent} to {chosen}: {share} {direction} {label} {figures}"
    return (
        f"{'kept' if kept else 'chose'} {chosen}: {share} {direction} {label} than {compared} "
        f"{figures}"
    )


@_says(C.SEARCH_BUDGET)
def _search_budget(code: C, n: Numbers) -> str:
    started, total = int(n["trials_started"]), int(n["trials_sampled"])  # type: ignore[arg-type]
    return (
        f"search ran {started} of {total} trials in {n['elapsed_seconds']:.1f} s "
        f"(budget {n['budget_seconds']:.0f} s"
        + (f"; {total - started} not started once it was spent)" if started < total else ")")
    )


# ------------------------------------------------------------ model card limits
#: Names listed at most in one sentence of the model card.
MAX_LISTED = 10


def _bounds(low: float | None, high: float | None) -> str:
    return f"{'-inf' if low is None else _n(low)} to {'+inf' if high is None else _n(high)}"


@_says(C.METRIC_DIRECTION)
def _metric_direction(code: C, n: Numbers, *, description: str) -> str:
    direction = "higher is better" if n["greater_is_better"] == "True" else "lower is better"
    return (
        f"{n['metric']} is the {description}: {direction}. Every number here was measured on "
        "holdout rows the version did not train on."
    )


@_says(C.LEAK_CHECK)
def _leak_check(code: C, n: Numbers, *, check: Reason | None) -> str:
    if check is None:
        return "Leak check: not recorded for this promotion."
    return f"Leak check: {check.message}"


@_says(C.FIRST_CHAMPION)
def _first_champion(
    code: C, n: Numbers, *, metric: str, baseline: float | None, baseline_kind: str | None
) -> str:
    if baseline is None:
        return (
            "There was no champion to compare with: only the floor and the leak check "
            "decided, so nothing shows this version beats a simpler model."
        )
    return (
        "There was no champion to compare with: only the naive baseline "
        f"({baseline_kind}, {metric} {baseline:.4g} on the same holdout), the floor if set and "
        "the leak check decided; nothing shows it beats another trained model."
    )


@_says(C.SECONDARY_NOT_COMPARED)
def _secondary_not_compared(code: C, n: Numbers, *, metric: str) -> str:
    return (
        f"The previous champion was measured on {metric} only: this version's {n['metrics']} "
        "cannot be compared with it."
    )


@_says(C.FEW_ROWS_SEGMENTS)
def _few_rows_segments(
    code: C, n: Numbers, *, segment_column: str, few: list[tuple[int, str]]
) -> str:
    """``few``: (training rows, segment), fewest first."""
    return (
        f"{n['segments']} {segment_column} value(s) had fewer than {n['min_rows']} training "
        f"rows: {listed([f'{seg} ({rows})' for rows, seg in few], MAX_LISTED)}. Forecasts for "
        "them rest on little data."
    )


@_says(C.SEGMENTS_NOT_COMPARED)
def _segments_not_compared(code: C, n: Numbers, *, segment_column: str, unjudged: list[str]) -> str:
    return (
        f"{n['segments']} {segment_column} value(s) were not compared with the previous "
        f"champion (fewer than {n['min_holdout_rows']} holdout rows each): "
        f"{listed(unjudged, MAX_LISTED)}."
    )


@_says(C.SEGMENT_ROWS_UNKNOWN)
def _segment_rows_unknown(code: C, n: Numbers, *, segment_column: str) -> str:
    return (
        f"Training rows per {segment_column} are not known (it is not a model input, so the "
        "training profile does not count it)."
    )


@_says(C.DRIFTED_AT_TRAINING)
def _drifted_at_training(code: C, n: Numbers, *, features: list[str]) -> str:
    return (
        f"When this version was trained, {listed(features, MAX_LISTED)} had drifted from the "
        f"previous champion's reference ({n['importance_weighted_share']:.0%} of its "
        "importance): the new values appear only in the latest periods of the training window."
    )


@_says(C.EXTRAPOLATION)
def _extrapolation(
    code: C,
    n: Numbers,
    *,
    wider: list[tuple[str, float, float, float | None, float | None]],
    tolerance: float | None,
) -> str:
    """``wider``: (feature, trained low, trained high, accepted low, accepted high)."""
    shown = [
        f"{f} (trained {_bounds(lo, hi)}, accepted {_bounds(c_lo, c_hi)})"
        for f, lo, hi, c_lo, c_hi in wider
    ]
    guard = (
        "The input_out_of_range guardrail flags forecasts made outside the trained range"
        + (f" plus {tolerance:.0%} of it" if tolerance else "")
        + "; an input outside it on batch_share of a batch's rows or more, or a calendar "
        "field the model never saw, is one finding for the batch instead."
        if tolerance is not None
        else "No guardrail flags such inputs in this use case."
    )
    return (
        f"The contract accepts inputs the version never saw: {listed(shown, MAX_LISTED)}. "
        f"Beyond the trained range the model extrapolates. {guard}"
    )


@_says(C.NO_LABEL_FREE_ESTIMATE)
def _no_label_free_estimate(code: C, n: Numbers, *, note: str) -> str:
    return (
        "No label-free performance estimate is available for this version "
        f"({note.removeprefix('none').lstrip(': ') or 'not fitted'}): decay shows only once "
        "labels arrive."
    )


# ------------------------------------- the cycle summary, in the use case's words
def versus_normal(perf: PerformanceSummary, w: Wording, note: str = "") -> str:
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


def _importance_known(drift: DriftSummary) -> bool:
    return sum(f.importance for f in drift.features) > 0


def drift_clause(drift: DriftSummary) -> str | None:
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
    if code == C.BATCH_FAILED_GATE:
        return as_sentence("the data failed its checks, so nothing was scored or retrained")
    if code == C.LATE_BATCH:
        late, latest = _int(n, "period"), _int(n, "latest_decided_period")
        return as_sentence(
            f"this batch belongs to {w.when(late)}, which comes before {w.when(latest)}, already "
            f"decided: its {w.predictions} were delivered and its rows will train the next "
            "model, but no retrain is decided on data that arrives late"
        )
    if code == C.NO_CHAMPION:
        return as_sentence(
            f"there was no model in production yet; the new one learned from "
            f"{_window_words(d.window, w)}"
        )
    if code == C.NO_LABELED_DATA:
        return as_sentence(f"no {w.outcomes} have arrived yet, so there is nothing to learn from")
    if code == C.NOT_ENOUGH_LABELS:
        got, need = _int(n, "new_labeled_rows"), _int(n, "min_new_labels")
        if not got:
            return as_sentence(
                f"no {w.outcomes} arrived this {w.period}, so the model cannot be judged yet"
            )
        return as_sentence(
            f"only {count(got or 0, w.prediction)} got their {w.outcomes} this {w.period} "
            f"and at least {need} are needed to judge the model, so it is too early to "
            "retrain"
        )
    if code == C.COOLDOWN:
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
            return as_sentence(
                f"the model was retrained {w.periods(since)} ago and a retrain waits at least "
                f"{w.periods(wait)} so that its effect can be measured{change}"
            )
        limit = _float(n, "max_decay")
        return as_sentence(
            f"the model was retrained recently, and the {w.metric} is not "
            f"{percent(limit) + ' ' if limit is not None else ''}worse than normal, which it "
            "would take to retrain again this soon"
        )
    if code == C.NO_DECAY:
        parts = []
        clause = drift_clause(drift) if drift is not None else None
        if perf is not None and perf.realized is not None:
            said = versus_normal(perf, w)
            parts.append(f"{clause}, but {said}" if clause else said)
        elif clause:
            parts.append(clause)
        else:
            # Records written before decay_not_measurable existed said no_decay here.
            parts.append(f"the {w.metric} cannot be measured yet and no input changed noticeably")
        return as_sentence(f"{parts[0]}, so there was no reason to retrain")
    if code == C.DECAY_NOT_MEASURABLE:
        rows, why = _int(n, "new_labeled_rows"), n.get("why")
        got = f"{rows} newly labeled rows arrived" if rows is not None else "new labels arrived"
        because = f" ({why})" if why else ""
        return as_sentence(
            f"{got}, but the {w.metric} could not be measured on them{because}; without it "
            "no decay can be judged, so the model was kept, which says nothing about "
            "whether it is still good"
        )
    if code == C.REALIZED_DECAY and perf is not None and perf.realized is not None:
        limit = _float(n, "max_decay")
        over = f" and over the {percent(limit)} limit" if limit is not None else ""
        cause = _cause_clause(str(n.get("cause", inputs.decay_cause)), w)
        return as_sentence(versus_normal(perf, w, over) + cause)
    if code == C.IMPORTANT_FEATURE_DRIFT:
        share, limit = _float(n, "importance_weighted_share"), _float(n, "importance_drift_limit")
        top = n.get("top_drifted") or "some inputs"
        return as_sentence(
            f"inputs the model relies on changed ({top}): they carry "
            f"{percent(share or 0.0)} of what the model relies on, over the "
            f"{percent(limit or 0.0)} limit"
        )
    if code == C.MODEL_AGE:
        age, limit = _int(n, "age_periods"), _int(n, "max_age_periods")
        if age is not None and limit is not None:
            return as_sentence(
                f"the model learned from data up to {w.periods(age)} old, more than the "
                f"{w.periods(limit)} allowed, so it is refreshed"
            )
    if code == C.CRITICAL_DECAY_OVERRIDES_BUDGET:
        used, window = _int(n, "retrains_in_window"), _int(n, "budget_window_periods")
        decay = _float(n, "decay")
        if used is not None and window is not None and decay is not None:
            return as_sentence(
                f"{count(used, 'retrain')} were already made in the last {w.periods(window)}, "
                f"the whole budget, but the {w.metric} is {percent(decay)} worse than normal, "
                "too much to keep the model until the budget frees up"
            )
    if code == C.RETRAIN_BUDGET_EXHAUSTED:
        used, cap = _int(n, "retrains_in_window"), _int(n, "max_retrains")
        window = _int(n, "budget_window_periods")
        if used is not None and cap is not None and window is not None:
            return as_sentence(
                f"{count(used, 'retrain')} were already made in the last "
                f"{w.periods(window)}, and at most {cap} are allowed, so this one waits"
            )
    if code in (C.RETRAIN_NOT_WORTH_COST, C.RETRAIN_WORTH_COST):
        saving, cost = _float(n, "expected_saving"), _float(n, "retrain_cost")
        horizon = _int(n, "horizon_periods")
        if saving is not None and cost is not None and horizon is not None:
            if code == C.RETRAIN_WORTH_COST:
                return as_sentence(
                    f"retraining is expected to save about {number(saving)} over the next "
                    f"{w.periods(horizon)}, more than its cost of {number(cost)}"
                )
            return as_sentence(
                f"retraining would not pay off: it would save about {number(saving)} over the "
                f"next {w.periods(horizon)}, less than its cost of {number(cost)}"
            )
    return reason.message


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
    champ = version_words(kept)
    if code == C.NO_FLOOR_CONFIGURED:
        return as_sentence(
            "the use case sets no minimum quality for a model in production, so none is put "
            "in production (a safety default)"
        )
    if code in (C.BASELINE_BEATEN, C.BASELINE_NOT_BEATEN):
        base = _float(n, "baseline")
        naive = str(n.get("baseline_kind") or "a constant")
        if code == C.BASELINE_NOT_BEATEN:
            return as_sentence(
                f"it is no better than a naive guess: its {w.metric} on recent held-back data "
                f"was {number(i.challenger_metric)} against {number(base)} for always predicting "
                f"the {naive} of the data it learned from"
            )
        return as_sentence(
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)}, better "
            f"than the {number(base)} of always predicting the {naive} of the data it learned from"
        )
    if code == C.BASELINE_UNAVAILABLE:
        return as_sentence(
            "it could not be compared with a naive guess (no target to learn one from, or the "
            f"{w.metric} is undefined on the held-back data), so it is not put in production "
            "(a safety default)"
        )
    if code in (C.FLOOR_MET, C.FLOOR_NOT_MET):
        floor = _float(n, "floor")
        verb = "within" if code == C.FLOOR_MET else "missing"
        return as_sentence(
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)}, {verb} "
            f"the minimum quality of {number(floor)}"
        )
    if code == C.TARGET_LEAK_SUSPECTED:
        leaking = {
            k: v
            for k, v in n.items()
            if k != "max_target_association" and isinstance(v, int | float)
        }
        named = ", ".join(
            f"{k} ({v:.2f})" for k, v in sorted(leaking.items(), key=lambda kv: -kv[1])
        )
        return as_sentence(
            f"it looks too good to be true: {named or 'an input'} follow"
            f"{'s' if len(leaking) == 1 else ''} the {w.outcomes} almost exactly, which points "
            "to a data error (an input filled from what it should predict); the data must be "
            "checked before any new model goes live"
        )
    if code == C.TOO_GOOD_TO_BE_TRUE:
        gain, limit = _float(n, "relative_gain"), _float(n, "max_plausible_gain")
        return as_sentence(
            f"it looks too good to be true: it removes {percent(gain or 0.0)} of the error of "
            f"{champ} (at most {percent(limit or 0.0)} is plausible), which points to a data "
            f"error such as an input filled from the {w.outcomes}"
        )
    if code in (C.IMPROVEMENT_MET, C.IMPROVEMENT_TOO_SMALL):
        against = (
            f"its {w.metric} on recent held-back data was {number(i.challenger_metric)} against "
            f"{number(i.champion_metric)} for {champ}"
        )
        if code == C.IMPROVEMENT_TOO_SMALL:
            return as_sentence(
                f"it did not improve enough: {against}, short of {_gain_words(n, n.get('mode'))}"
            )
        rel = (
            -worsening(i.metric, i.champion_metric, i.challenger_metric)
            if i.champion_metric is not None
            else None
        )
        better = f" ({percent(rel)} better)" if rel is not None and math.isfinite(rel) else ""
        return as_sentence(f"{against}{better}")
    if code in (C.GAIN_SIGNIFICANT, C.GAIN_NOT_SIGNIFICANT):
        if i.p_value is None:
            return as_sentence("its advantage was not tested, so it cannot be trusted")
        if code == C.GAIN_NOT_SIGNIFICANT:
            return as_sentence(
                f"its advantage over {champ} is too small to tell from chance "
                f"(p = {i.p_value:.2g}, {number(_float(n, 'significance'))} or less needed)"
            )
        return as_sentence(f"its advantage is not chance (p = {i.p_value:.2g})")
    if code == C.SEGMENT_REGRESSION:
        bad, worst = _int(n, "regressed_segments"), n.get("worst_segment")
        by, cap = _float(n, "worst_worsening"), _float(n, "max_segment_regression")
        return as_sentence(
            f"it would be worse for {count(bad or 1, w.segment)}, most for {worst} "
            f"({percent(by or 0.0)} worse; at most {percent(cap or 0.0)} is allowed)"
        )
    if code == C.GUARDRAIL_RATE_TOO_HIGH:
        rate, cap = _float(n, "guardrail_rate"), _float(n, "max_guardrail_rate")
        return as_sentence(
            f"{percent(rate or 0.0)} of its {w.predictions} on recent data broke business limits "
            f"(at most {percent(cap or 0.0)} is allowed)"
        )
    if code == C.APPROVAL_REJECTED:
        comment = f' ("{i.approval_comment}")' if i.approval_comment else ""
        return as_sentence(f"{i.approver or 'a reviewer'} rejected it{comment}")
    if code == C.APPROVAL_TIMEOUT:
        return as_sentence("no one approved it in time, and no answer counts as a no")
    if code == C.APPROVAL_PENDING:
        return as_sentence("it waits for a person to approve it")
    if code == C.APPROVED:
        comment = f' ("{i.approval_comment}")' if i.approval_comment else ""
        return as_sentence(f"{i.approver or 'a reviewer'} approved it{comment}")
    return reason.message

"""The cycle summary's sentences, in the use case's words: performance against
normal, drift, why retrain and why promote (composed by ``mlops_core.report``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mlops_core.decisions import (
    DriftSummary,
    PerformanceSummary,
    PromotionDecision,
    Reason,
    RetrainDecision,
    TrainingWindow,
)
from mlops_core.formatting import count, number, percent
from mlops_core.metrics import worsening
from mlops_core.periods import period_label
from mlops_core.reasons import ReasonCode as C
from mlops_core.renderers.wording import (
    Wording,
    as_sentence,
    default_wording,
    float_of,
    int_of,
    version_words,
)


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
        late, latest = int_of(n, "period"), int_of(n, "latest_decided_period")
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
        got, need = int_of(n, "new_labeled_rows"), int_of(n, "min_new_labels")
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
        since, wait = int_of(n, "periods_since_retrain"), int_of(n, "min_periods_between")
        if since is not None and wait is not None:
            decay = float_of(n, "decay")
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
        limit = float_of(n, "max_decay")
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
        rows, why = int_of(n, "new_labeled_rows"), n.get("why")
        got = f"{rows} newly labeled rows arrived" if rows is not None else "new labels arrived"
        because = f" ({why})" if why else ""
        return as_sentence(
            f"{got}, but the {w.metric} could not be measured on them{because}; without it "
            "no decay can be judged, so the model was kept, which says nothing about "
            "whether it is still good"
        )
    if code == C.REALIZED_DECAY and perf is not None and perf.realized is not None:
        limit = float_of(n, "max_decay")
        over = f" and over the {percent(limit)} limit" if limit is not None else ""
        cause = _cause_clause(str(n.get("cause", inputs.decay_cause)), w)
        return as_sentence(versus_normal(perf, w, over) + cause)
    if code == C.IMPORTANT_FEATURE_DRIFT:
        share = float_of(n, "importance_weighted_share")
        limit = float_of(n, "importance_drift_limit")
        top = n.get("top_drifted") or "some inputs"
        return as_sentence(
            f"inputs the model relies on changed ({top}): they carry "
            f"{percent(share or 0.0)} of what the model relies on, over the "
            f"{percent(limit or 0.0)} limit"
        )
    if code == C.MODEL_AGE:
        age, limit = int_of(n, "age_periods"), int_of(n, "max_age_periods")
        if age is not None and limit is not None:
            return as_sentence(
                f"the model learned from data up to {w.periods(age)} old, more than the "
                f"{w.periods(limit)} allowed, so it is refreshed"
            )
    if code == C.CRITICAL_DECAY_OVERRIDES_BUDGET:
        used, window = int_of(n, "retrains_in_window"), int_of(n, "budget_window_periods")
        decay = float_of(n, "decay")
        if used is not None and window is not None and decay is not None:
            return as_sentence(
                f"{count(used, 'retrain')} were already made in the last {w.periods(window)}, "
                f"the whole budget, but the {w.metric} is {percent(decay)} worse than normal, "
                "too much to keep the model until the budget frees up"
            )
    if code == C.RETRAIN_BUDGET_EXHAUSTED:
        used, cap = int_of(n, "retrains_in_window"), int_of(n, "max_retrains")
        window = int_of(n, "budget_window_periods")
        if used is not None and cap is not None and window is not None:
            return as_sentence(
                f"{count(used, 'retrain')} were already made in the last "
                f"{w.periods(window)}, and at most {cap} are allowed, so this one waits"
            )
    if code in (C.RETRAIN_NOT_WORTH_COST, C.RETRAIN_WORTH_COST):
        saving, cost = float_of(n, "expected_saving"), float_of(n, "retrain_cost")
        horizon = int_of(n, "horizon_periods")
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
    need = float_of(numbers, "min_improvement")
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
        base = float_of(n, "baseline")
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
        floor = float_of(n, "floor")
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
        gain, limit = float_of(n, "relative_gain"), float_of(n, "max_plausible_gain")
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
                f"(p = {i.p_value:.2g}, {number(float_of(n, 'significance'))} or less needed)"
            )
        return as_sentence(f"its advantage is not chance (p = {i.p_value:.2g})")
    if code == C.SEGMENT_REGRESSION:
        bad, worst = int_of(n, "regressed_segments"), n.get("worst_segment")
        by, cap = float_of(n, "worst_worsening"), float_of(n, "max_segment_regression")
        return as_sentence(
            f"it would be worse for {count(bad or 1, w.segment)}, most for {worst} "
            f"({percent(by or 0.0)} worse; at most {percent(cap or 0.0)} is allowed)"
        )
    if code == C.GUARDRAIL_RATE_TOO_HIGH:
        rate, cap = float_of(n, "guardrail_rate"), float_of(n, "max_guardrail_rate")
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

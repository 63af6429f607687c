"""The promotion gate (docs/design.md, section 4.4): evidence on a shared holdout, then a decision.

``compare_on_holdout`` measures champion and challenger on the same labeled
rows, beside the naive baseline refit on the challenger's training rows;
``decide_promotion`` turns that evidence into promote / reject /
await_approval. Missing evidence never promotes: no baseline (or floor), an
undefined metric or an untested gain all reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from mlops_core.baseline import NaiveBaseline
from mlops_core.config import PromotionPolicy
from mlops_core.decisions import (
    PromotionAction,
    PromotionDecision,
    PromotionInputs,
    Reason,
    SegmentComparison,
)
from mlops_core.metrics import METRICS, compute_metric, per_row_loss, worsening
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import reason
from mlops_core.stats import paired_bootstrap_gain

#: Failed checks that point to the target leaking into the inputs (a data bug
#: upstream, worth an alert) rather than to a weak challenger.
LEAK_REASONS = frozenset({ReasonCode.TARGET_LEAK_SUSPECTED, ReasonCode.TOO_GOOD_TO_BE_TRUE})


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _take(values: object | None, mask: np.ndarray) -> np.ndarray | None:
    return None if values is None else np.asarray(values)[mask]


def compare_on_holdout(
    metric: str,
    y_true: object,
    champion_pred: object | None,
    challenger_pred: object,
    *,
    policy: PromotionPolicy,
    seed: int,
    champion_proba: object | None = None,
    challenger_proba: object | None = None,
    segments: object | None = None,
    challenger_guardrail_rate: float = 0.0,
    target_association: Mapping[str, float] | None = None,
    baseline: NaiveBaseline | None = None,
    champion_reference: float | None = None,
) -> PromotionInputs:
    """Measure champion and challenger on the same labeled holdout.

    The gain is a paired bootstrap of per-row losses (champion minus
    challenger) with ``policy.bootstrap_samples`` resamples. The interval is
    two-sided at ``1 - 2 * policy.significance`` so that its lower end being
    above zero matches the one-sided test at ``policy.significance``. Segments
    with at least ``policy.min_segment_rows`` rows are compared with the exact
    metric; a segment where the metric is undefined is left out.

    Args:
        metric: Primary metric name.
        y_true: True values of the holdout rows.
        champion_pred: Champion predictions, or None when there is no champion.
        challenger_pred: Challenger predictions on the same rows.
        policy: Promotion policy (resamples, significance, segment size).
        seed: Bootstrap seed.
        champion_proba: Champion positive-class probabilities, if the metric needs them.
        challenger_proba: Challenger positive-class probabilities.
        segments: Segment label of each row (e.g. store), or None.
        challenger_guardrail_rate: Share of the challenger's holdout predictions
            violating guardrails.
        target_association: Per numeric feature, its association with the
            target on these rows (``mlops_core.stats.target_association``).
        baseline: The naive baseline fitted on the challenger's training rows
            (:func:`mlops_core.baseline.fit_naive_baseline`); it is scored on
            the same holdout rows. None leaves ``baseline_metric`` empty.
        champion_reference: The champion's metric on its holdout at training
            time, for the plausibility check.

    Returns:
        The evidence for :func:`decide_promotion`, with approval ``pending``.

    Raises:
        ValueError: On misaligned inputs or an empty holdout.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    yt = np.asarray(y_true)
    rows = int(yt.shape[0]) if yt.ndim else 0
    if rows == 0:
        raise ValueError("the holdout has no rows")
    for name, arr in (
        ("challenger_pred", challenger_pred),
        ("champion_pred", champion_pred),
        ("champion_proba", champion_proba),
        ("challenger_proba", challenger_proba),
        ("segments", segments),
    ):
        if arr is not None and np.asarray(arr).shape[0] != rows:
            raise ValueError(f"{name} has {np.asarray(arr).shape[0]} rows, the holdout {rows}")

    challenger_metric = compute_metric(metric, yt, challenger_pred, challenger_proba)
    naive: dict[str, float | str | None] = {"baseline_metric": None, "baseline": None}
    if baseline is not None:
        base_pred, base_proba = baseline.predict(rows)
        naive = {
            "baseline_metric": compute_metric(metric, yt, base_pred, base_proba),
            "baseline": baseline.describe(),
        }
    if champion_pred is None:
        return PromotionInputs(
            metric=metric,
            holdout_rows=rows,
            challenger_metric=challenger_metric,
            challenger_guardrail_rate=challenger_guardrail_rate,
            target_association=dict(target_association or {}),
            **naive,  # type: ignore[arg-type]
        )

    champion_metric = compute_metric(metric, yt, champion_pred, champion_proba)
    gain, low, high, p_value = paired_bootstrap_gain(
        per_row_loss(metric, yt, champion_pred, champion_proba),
        per_row_loss(metric, yt, challenger_pred, challenger_proba),
        n_resamples=policy.bootstrap_samples,
        confidence=1.0 - 2.0 * policy.significance,
        seed=seed,
    )

    compared: list[SegmentComparison] = []
    if segments is not None:
        seg = np.asarray(segments)
        labels, counts = np.unique(seg.astype(str), return_counts=True)
        seg_str = seg.astype(str)
        for label, count in zip(labels, counts, strict=True):
            if count < policy.min_segment_rows:
                continue
            mask = seg_str == label
            champ_seg = compute_metric(
                metric, yt[mask], _take(champion_pred, mask), _take(champion_proba, mask)
            )
            chall_seg = compute_metric(
                metric, yt[mask], _take(challenger_pred, mask), _take(challenger_proba, mask)
            )
            if not _finite(champ_seg, chall_seg):
                continue
            compared.append(
                SegmentComparison(
                    segment=str(label),
                    rows=int(count),
                    champion=champ_seg,
                    challenger=chall_seg,
                    worsening=worsening(metric, champ_seg, chall_seg),
                )
            )

    return PromotionInputs(
        metric=metric,
        holdout_rows=rows,
        challenger_metric=challenger_metric,
        champion_metric=champion_metric,
        loss_difference_mean=gain,
        loss_difference_low=low,
        loss_difference_high=high,
        p_value=p_value,
        champion_reference_metric=champion_reference,
        segments=tuple(compared),
        challenger_guardrail_rate=challenger_guardrail_rate,
        target_association=dict(target_association or {}),
        **naive,  # type: ignore[arg-type]
    )


def _baseline_check(inputs: PromotionInputs) -> Reason:
    """The challenger against the naive baseline refit on its own training rows."""
    metric = inputs.metric
    value, base = inputs.challenger_metric, inputs.baseline_metric
    if not _finite(value, base):
        return reason(
            ReasonCode.BASELINE_UNAVAILABLE,
            {"challenger": value, "baseline": base, "baseline_kind": inputs.baseline},
            passed=False,
            metric=metric,
        )
    assert value is not None and base is not None
    gib = METRICS[metric].greater_is_better
    ok = value > base if gib else value < base
    return reason(
        ReasonCode.BASELINE_BEATEN if ok else ReasonCode.BASELINE_NOT_BEATEN,
        {"challenger": value, "baseline": base, "baseline_kind": inputs.baseline},
        passed=ok,
        metric=metric,
        holdout_rows=inputs.holdout_rows,
    )


def _floor_check(inputs: PromotionInputs, policy: PromotionPolicy) -> Reason | None:
    metric = inputs.metric
    value = inputs.challenger_metric
    if policy.floor is None:
        if policy.baseline == "naive":
            return None  # the naive baseline bounds the quality; a floor is optional
        return reason(
            ReasonCode.NO_FLOOR_CONFIGURED, {"challenger": value}, passed=False, metric=metric
        )
    gib = METRICS[metric].greater_is_better
    ok = _finite(value) and (value >= policy.floor if gib else value <= policy.floor)
    return reason(
        ReasonCode.FLOOR_MET if ok else ReasonCode.FLOOR_NOT_MET,
        {"challenger": value, "floor": policy.floor},
        passed=ok,
        metric=metric,
        greater_is_better=gib,
    )


def _comparison_checks(inputs: PromotionInputs, policy: PromotionPolicy) -> list[Reason]:
    """Checks against the champion; only called when there is one."""
    metric = inputs.metric
    gib = METRICS[metric].greater_is_better
    champ, chall = inputs.champion_metric, inputs.challenger_metric
    assert champ is not None
    defined = _finite(champ, chall)
    checks: list[Reason] = []

    # Improvement: in metric units (absolute) or as the relative reduction of
    # the error (relative), the same scale as decay and plausibility.
    abs_gain = (chall - champ) if gib else (champ - chall)
    rel_gain = -worsening(metric, champ, chall) if defined else float("nan")
    gain = abs_gain if policy.improvement_mode == "absolute" else rel_gain
    ok = defined and gain >= policy.min_improvement
    checks.append(
        reason(
            ReasonCode.IMPROVEMENT_MET if ok else ReasonCode.IMPROVEMENT_TOO_SMALL,
            {
                "champion": champ,
                "challenger": chall,
                "gain": gain,
                "min_improvement": policy.min_improvement,
                "mode": policy.improvement_mode,
            },
            passed=ok,
            metric=metric,
        )
    )

    p = inputs.p_value
    ok = p is not None and math.isfinite(p) and p <= policy.significance
    checks.append(
        reason(
            ReasonCode.GAIN_SIGNIFICANT if ok else ReasonCode.GAIN_NOT_SIGNIFICANT,
            {
                "p_value": p,
                "significance": policy.significance,
                "loss_difference_mean": inputs.loss_difference_mean,
                "loss_difference_low": inputs.loss_difference_low,
                "loss_difference_high": inputs.loss_difference_high,
            },
            passed=ok,
            holdout_rows=inputs.holdout_rows,
        )
    )

    if inputs.segments:
        worst = max(inputs.segments, key=lambda s: s.worsening)
        bad = [s for s in inputs.segments if s.worsening > policy.max_segment_regression]
        seg_nums = {
            "segments": len(inputs.segments),
            "worst_segment": worst.segment,
            "worst_worsening": worst.worsening,
            "max_segment_regression": policy.max_segment_regression,
        }
        if bad:
            regressed = [
                (s.segment, s.champion, s.challenger, s.worsening)
                for s in sorted(bad, key=lambda s: -s.worsening)
            ]
            checks.append(
                reason(
                    ReasonCode.SEGMENT_REGRESSION,
                    {**seg_nums, "regressed_segments": len(bad)},
                    passed=False,
                    regressed=regressed,
                )
            )
        else:
            checks.append(reason(ReasonCode.SEGMENTS_OK, seg_nums, passed=True))
    else:
        checks.append(
            reason(
                ReasonCode.SEGMENTS_NOT_JUDGED,
                {"min_segment_rows": policy.min_segment_rows},
                passed=None,
            )
        )

    # Plausibility is judged against the champion at its best: a champion whose
    # error grew since its training (decay) is legitimately beaten by far, while a
    # leak beats even the error the champion had when it was fresh.
    best, when = champ, "now"
    ref = inputs.champion_reference_metric
    if defined and _finite(ref) and worsening(metric, champ, ref) < 0:  # type: ignore[arg-type]
        best, when = ref, "at its training"  # type: ignore[assignment]
    plausible_gain = -worsening(metric, best, chall) if defined else float("nan")
    ok = defined and plausible_gain <= policy.max_plausible_gain
    checks.append(
        reason(
            ReasonCode.GAIN_PLAUSIBLE if ok else ReasonCode.TOO_GOOD_TO_BE_TRUE,
            {
                "relative_gain": plausible_gain,
                "max_plausible_gain": policy.max_plausible_gain,
                "champion_error_judged": best,
            },
            passed=ok,
            when=when,
        )
    )
    return checks


def _leak_check(inputs: PromotionInputs, policy: PromotionPolicy) -> Reason:
    limit = policy.max_target_association
    leaking = {name: value for name, value in inputs.target_association.items() if value >= limit}
    if not leaking:
        top = max(inputs.target_association.items(), key=lambda kv: kv[1], default=None)
        return reason(
            ReasonCode.NO_TARGET_LEAK,
            {"max_target_association": limit, **({top[0]: top[1]} if top else {})},
            passed=True,
        )
    return reason(
        ReasonCode.TARGET_LEAK_SUSPECTED,
        {"max_target_association": limit, **leaking},
        passed=False,
    )


def _guardrail_check(inputs: PromotionInputs, policy: PromotionPolicy) -> Reason:
    rate = inputs.challenger_guardrail_rate
    ok = math.isfinite(rate) and rate <= policy.max_guardrail_rate
    return reason(
        ReasonCode.GUARDRAIL_RATE_OK if ok else ReasonCode.GUARDRAIL_RATE_TOO_HIGH,
        {"guardrail_rate": rate, "max_guardrail_rate": policy.max_guardrail_rate},
        passed=ok,
    )


def _approval_check(inputs: PromotionInputs) -> Reason:
    who = {"approver": inputs.approver}
    comment = inputs.approval_comment
    if inputs.approval == "approved":
        return reason(ReasonCode.APPROVED, who, passed=True, comment=comment)
    if inputs.approval == "rejected":
        return reason(ReasonCode.APPROVAL_REJECTED, who, passed=False, comment=comment)
    if inputs.approval == "timeout":
        return reason(ReasonCode.APPROVAL_TIMEOUT, passed=False)
    return reason(ReasonCode.APPROVAL_PENDING, passed=None)


def decide_promotion(inputs: PromotionInputs, policy: PromotionPolicy) -> PromotionDecision:
    """Decide whether the challenger replaces the champion.

    Checks: the naive baseline (with ``policy.baseline`` ``"naive"``: the
    challenger must score better than the baseline refit on its own training
    rows, on the same holdout rows; a baseline not computed rejects, fail-safe),
    the floor when one is set (with neither a floor nor the baseline, nothing
    is promoted, fail-safe); with a champion,
    also the minimum improvement, the significance of the paired gain, the
    per-segment regression, the guardrail rate and plausibility (a relative
    loss reduction over ``max_plausible_gain`` suggests label leakage; it is
    measured against the better of the champion's error now and at its
    training, so beating a decayed champion by far is no sign of a leak). Always:
    no input may follow the target at ``max_target_association`` or more (a
    leak the gain check can miss when only recent rows leak). With no champion
    the baseline, the floor and the leak check decide. When every automatic check passes and the
    policy requires approval, the human answer decides: pending waits,
    approved promotes, rejected or timeout reject.

    Args:
        inputs: Evidence from :func:`compare_on_holdout` plus the approval answer.
        policy: Promotion policy of the use case.

    Returns:
        The decision; reasons list failed checks first, then pending ones and
        facts, then passed checks.
    """
    floor = _floor_check(inputs, policy)
    checks = [] if floor is None else [floor]
    if policy.baseline == "naive":
        checks.append(_baseline_check(inputs))
    checks.append(_leak_check(inputs, policy))
    if inputs.champion_metric is None:
        checks.append(reason(ReasonCode.NO_CHAMPION, passed=None))
    else:
        checks.extend(_comparison_checks(inputs, policy))
        checks.append(_guardrail_check(inputs, policy))

    action: PromotionAction
    if any(c.passed is False for c in checks):
        action = "reject"
    elif policy.require_approval:
        approval = _approval_check(inputs)
        checks.insert(0, approval)
        action = {True: "promote", False: "reject", None: "await_approval"}[approval.passed]
    else:
        action = "promote"

    order = {False: 0, None: 1, True: 2}
    reasons = sorted(checks, key=lambda c: order[c.passed])  # stable: keeps check order
    return PromotionDecision(action=action, reasons=tuple(reasons), inputs=inputs)

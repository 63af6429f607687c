"""Guardrails on predictions (docs/design.md, section 4.5): business limits before anything leaves.

Rules run in the configured order on the current values, so a clip changes
what later rules see. Actions: ``clip`` moves the value to the violated limit,
``fallback`` replaces it with the fallback column or constant, ``flag`` lets
it pass with a flag, ``quarantine`` holds it for review. Two fail-safes hold
regardless of the configuration: a prediction that is not finite after all
rules is held, and a batch whose violation rate exceeds the limit is held as a
whole (circuit breaker).

What the circuit breaker counts: rows a rule clipped, replaced or held, and
non-finite predictions (always). Flagged rows count only when the policy says
so (``breaker_counts_flags``): a flag passes its prediction on by the rule's
own choice, so holding a whole batch because of flags is a rule the user sets,
never a default.

Inputs outside the training range (``input_out_of_range``): a column out of
range on a few rows flags those rows. A column out of range on ``batch_share``
of the judged rows or more, or a calendar column (``calendar_columns``: a month,
an hour) out of range on any row, is one :class:`InputRangeFinding` for the
batch instead, with its rows, share, training and batch ranges and a sentence
("mnth (month) is outside the training range for every row ...: the model has
not seen this season"). Being out of range is then a fact about the batch (a
new season, a level shift), not about its rows: with action ``flag`` the rows
are not flagged for that column, so the finding never trips the circuit
breaker and the batch is delivered; with ``quarantine`` or ``fallback`` the
rows are still held or replaced, as the user chose. Calendar columns are judged
without tolerance: a month the model never saw is unseen however close it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_core.config import (
    CapColumnRule,
    FiniteRule,
    GuardrailPolicy,
    InputRangeRule,
    RangeRule,
    RatioColumnRule,
    SegmentHistoryCapRule,
)
from mlops_core.decisions import GuardrailSummary, InputRangeFinding, Reason
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import reason


@dataclass(frozen=True)
class GuardrailResult:
    """Predictions after guardrails, row by row, and what happened to the batch.

    Attributes:
        values: Final predictions after clip and fallback.
        raw: Predictions as the model made them.
        held: Rows that go to the review queue instead of downstream.
        flagged: Rows passed on with a flag.
        violations: Per row, the ``'rule:action'`` pairs that applied, joined by
            ``'; '``; empty when the row broke no rule. An array, not a tuple:
            Prefect walks tuple parameters of a task element by element (seconds
            at a million rows), an array it passes as one value.
        summary: Counts and reasons for the decision record.
    """

    values: np.ndarray
    raw: np.ndarray
    held: np.ndarray
    flagged: np.ndarray
    violations: np.ndarray
    summary: GuardrailSummary


@dataclass
class _Outcome:
    """A rule's verdict: the rows it caught and, for clip, the limit per row."""

    mask: np.ndarray
    limit: np.ndarray | None = None


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        raise ValueError(f"guardrail column {name!r} is not in the batch")
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def _range(rule: RangeRule, values: np.ndarray, judged: np.ndarray) -> _Outcome:
    low = -np.inf if rule.min is None else rule.min
    high = np.inf if rule.max is None else rule.max
    mask = judged & ((values < low) | (values > high))
    return _Outcome(mask, np.clip(values, low, high))


def _upper_limit(limit: np.ndarray, values: np.ndarray, judged: np.ndarray) -> _Outcome:
    # A missing column value means the rule cannot judge that row; the gate's
    # null-share rule is where missing inputs are caught.
    usable = judged & np.isfinite(limit)
    mask = np.zeros_like(judged)
    mask[usable] = values[usable] > limit[usable]
    return _Outcome(mask, np.where(mask, limit, values))


def segment_keys(segments: object) -> np.ndarray:
    """Segment labels as text, the way they are written in a file.

    Whole numbers read as floats (a store column with a gap turns ``3`` into
    ``3.0``) become ``"3"``, so caps computed on one file match labels read
    from another; text labels are kept as they are. Missing labels are None.
    """

    def key(value: object) -> str | None:
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return None
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    labels = np.asarray(segments, dtype=object).ravel()
    return np.array([key(v) for v in labels], dtype=object)


def _segment_limit(
    rule: SegmentHistoryCapRule, segments: np.ndarray, segment_caps: Mapping[str, float]
) -> tuple[np.ndarray, int]:
    """Per row, ``multiple`` x its segment's cap (NaN for unknown segments), and how
    many rows had no cap."""
    keys = segment_keys(segments)
    caps = np.array(
        [np.nan if k is None else segment_caps.get(k, np.nan) for k in keys], dtype=float
    )
    return rule.multiple * caps, int(np.isnan(caps).sum())


def _observed(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None, None
    return float(finite.min()), float(finite.max())


def _input_range(
    rule: InputRangeRule,
    action: str,
    frame: pd.DataFrame,
    judged: np.ndarray,
    training_ranges: Mapping[str, tuple[float, float]],
) -> tuple[_Outcome, list[str], list[InputRangeFinding]]:
    """Rows to act on, features the batch lacks, and the batch-level findings.

    A column whose out-of-range rows reach ``rule.batch_share`` of the judged rows
    (any row, for a calendar column) becomes a finding; its rows are acted on only
    when the action holds or replaces them (see the module docstring).
    """
    mask = np.zeros(len(frame), dtype=bool)
    missing: list[str] = []
    findings: list[InputRangeFinding] = []
    judged_rows = int(judged.sum())
    keeps_rows = action in ("quarantine", "fallback")
    for feature, (lo, hi) in training_ranges.items():
        if feature not in frame.columns:
            missing.append(feature)
            continue
        x = _column(frame, feature)
        calendar = rule.calendar_columns.get(feature)
        tolerance = 0.0 if calendar is not None else rule.tolerance
        slack = tolerance * (hi - lo)
        with np.errstate(invalid="ignore"):
            out = judged & ((x < lo - slack) | (x > hi + slack))
        rows_out = int(out.sum())
        if not rows_out:
            continue
        share = rows_out / judged_rows
        if calendar is None and share < rule.batch_share:
            mask |= out
            continue
        batch_min, batch_max = _observed(x)
        findings.append(
            InputRangeFinding(
                code=ReasonCode.INPUTS_OUTSIDE_TRAINING_RANGE
                if calendar is None
                else ReasonCode.CALENDAR_NOT_SEEN,
                rule=rule.label,
                column=feature,
                calendar=calendar,
                rows_out=rows_out,
                rows=judged_rows,
                share=share,
                train_min=float(lo),
                train_max=float(hi),
                batch_min=batch_min,
                batch_max=batch_max,
                tolerance=tolerance,
            )
        )
        if keeps_rows:
            mask |= out
    return _Outcome(mask & judged), missing, findings


def _finding_reason(finding: InputRangeFinding, action: str) -> Reason:
    return reason(
        finding.code,
        {
            "rule": finding.rule,
            "column": finding.column,
            "calendar": finding.calendar,
            "rows_out": finding.rows_out,
            "rows": finding.rows,
            "share": finding.share,
            "train_min": finding.train_min,
            "train_max": finding.train_max,
            "batch_min": finding.batch_min,
            "batch_max": finding.batch_max,
        },
        passed=False,
        finding=finding,
        action=action,
    )


def _guard_class_labels(
    labels: np.ndarray,
    frame: pd.DataFrame,
    policy: GuardrailPolicy,
    training_ranges: Mapping[str, tuple[float, float]] | None,
) -> GuardrailResult:
    """Guard predicted class labels: only a missing label and inputs outside the
    training range can be judged; limits on values do not apply to a class.

    A missing label is held (there is no class to fall back to or clip to); the
    other rules run on a numeric stand-in whose only content is "present or not".
    """
    present = ~pd.isna(pd.Series(labels, dtype=object)).to_numpy()
    stand_in = np.where(present, 0.0, np.nan)
    rules = []
    for rule in policy.rules:
        if isinstance(rule, FiniteRule):
            rules.append(rule.model_copy(update={"action": "quarantine"}))
        elif isinstance(rule, InputRangeRule):
            rules.append(rule)
    label_policy = policy.model_copy(update={"rules": tuple(rules), "fallback": None})
    judged = apply_guardrails(stand_in, frame, label_policy, training_ranges)
    return GuardrailResult(
        values=labels.copy(),
        raw=labels.copy(),
        held=judged.held,
        flagged=judged.flagged,
        violations=judged.violations,
        summary=judged.summary,
    )


def apply_guardrails(
    predictions: object,
    frame: pd.DataFrame,
    policy: GuardrailPolicy,
    training_ranges: Mapping[str, tuple[float, float]] | None = None,
    segment_caps: Mapping[str, float] | None = None,
    segments: object | None = None,
) -> GuardrailResult:
    """Apply the use case's guardrails to one batch of predictions.

    Args:
        predictions: One prediction per row of ``frame``: numbers (regression), or
            class labels, for which only missing labels and input ranges are judged.
        frame: The batch the predictions were made for (columns used by
            cap/ratio/fallback rules and the inputs checked against training ranges).
        policy: Guardrail policy of the use case.
        training_ranges: ``{feature: (min, max)}`` of numeric features seen in
            the champion's training data; without it the input-range rule is
            not applied, and the summary says so.
        segment_caps: ``{segment: highest target}`` in the champion's training data
            (see :func:`mlops_core.features.segment_maxima`), for the
            ``segment_history_cap`` rule; without it (or without ``segments``) that
            rule is not applied, and the summary says so.
        segments: Segment label of each row of ``frame`` (the use case's segment
            column); labels are compared as text (:func:`segment_keys`).

    Returns:
        Final values, per-row hold/flag masks and violation labels, and a summary.

    Raises:
        ValueError: When predictions and frame differ in length, a rule names
            a column the batch lacks, or ``segments`` differs in length.

    Notes:
        ``clip`` has no limit to clip to for ``finite`` and ``input_out_of_range``
        rules: there it acts as ``quarantine`` and ``flag`` respectively, and the
        violation label names the action actually taken. An input column out of
        range for the batch as a whole is a finding in ``summary.findings`` (and
        a reason), not a flag on each row; see the module docstring. Rules other than
        ``finite`` only judge rows whose current value is finite, so a non-finite
        value reaches the ``finite`` rule wherever it sits in the order.
    """
    given = np.asarray(predictions).ravel()
    if given.dtype.kind not in "biuf":
        return _guard_class_labels(given, frame, policy, training_ranges)
    raw = given.astype(float)
    rows = raw.size
    if len(frame) != rows:
        raise ValueError(f"{rows} predictions for a batch of {len(frame)} rows")
    if segments is not None and np.asarray(segments, dtype=object).ravel().size != rows:
        raise ValueError(f"{rows} predictions but a different number of segment labels")
    values = raw.copy()
    held = np.zeros(rows, dtype=bool)
    flagged = np.zeros(rows, dtype=bool)
    violating = np.zeros(rows, dtype=bool)
    counted = np.zeros(rows, dtype=bool)  # rows the circuit breaker counts
    labels: list[tuple[str, np.ndarray]] = []
    reasons: list[Reason] = []
    findings: list[InputRangeFinding] = []
    fallback_values: np.ndarray | None = None
    if policy.fallback is not None:
        fallback_values = (
            _column(frame, policy.fallback.column)
            if policy.fallback.column is not None
            else np.full(rows, float(policy.fallback.value))
        )

    for rule in policy.rules:
        judged = np.isfinite(values)
        action = rule.action
        missing: list[str] = []
        found: list[InputRangeFinding] = []
        uncapped = 0
        if isinstance(rule, FiniteRule):
            outcome = _Outcome(~judged)
            if action == "clip":
                action = "quarantine"
        elif isinstance(rule, RangeRule):
            outcome = _range(rule, values, judged)
        elif isinstance(rule, CapColumnRule):
            outcome = _upper_limit(_column(frame, rule.column), values, judged)
        elif isinstance(rule, RatioColumnRule):
            limit = np.fmax(rule.ratio * _column(frame, rule.column), rule.floor)
            outcome = _upper_limit(limit, values, judged)
        elif isinstance(rule, InputRangeRule):
            if not training_ranges:
                reasons.append(
                    reason(ReasonCode.INPUT_RANGE_UNAVAILABLE, passed=None, rule=rule.label)
                )
                continue
            if action == "clip":
                action = "flag"
            outcome, missing, found = _input_range(rule, action, frame, judged, training_ranges)
        elif isinstance(rule, SegmentHistoryCapRule):
            if not segment_caps or segments is None:
                reasons.append(
                    reason(
                        ReasonCode.SEGMENT_CAPS_UNAVAILABLE,
                        passed=None,
                        rule=rule.label,
                        caps_known=bool(segment_caps),
                    )
                )
                continue
            limit, uncapped = _segment_limit(rule, segments, segment_caps)
            outcome = _upper_limit(limit, values, judged)
        else:  # pragma: no cover - the config union is closed
            raise TypeError(f"unknown guardrail rule {rule!r}")

        mask = outcome.mask
        if action == "clip" and outcome.limit is not None:
            values = np.where(mask, outcome.limit, values)
        elif action == "fallback":
            assert fallback_values is not None  # the config guarantees a fallback
            values = np.where(mask, fallback_values, values)
        elif action == "flag":
            flagged |= mask
        elif action == "quarantine":
            held |= mask
        violating |= mask
        if action != "flag" or policy.breaker_counts_flags:
            counted |= mask
        tag = f"{rule.label}:{action}"
        labels.append((tag, mask))
        count = int(mask.sum())
        reasons.append(
            reason(
                ReasonCode.GUARDRAIL_RULE,
                {"rule": rule.label, "action": action, "rows": count},
                passed=count == 0,
                predictions=rows,
                missing=missing,
                found=[f.column for f in found],
                uncapped=uncapped,
            )
        )
        findings.extend(found)
        reasons.extend(_finding_reason(f, action) for f in found)

    # Fail-safe: whatever the rules did, a non-finite value never leaves.
    bad = ~np.isfinite(values)
    if bad.any():
        newly = bad & ~held
        held |= bad
        violating |= bad
        counted |= bad
        if newly.any():
            labels.append(("finite:quarantine", newly))
            count = int(newly.sum())
            reasons.append(
                reason(
                    ReasonCode.NON_FINITE_HELD,
                    {"rule": "finite", "action": "quarantine", "rows": count},
                    passed=False,
                )
            )

    violating_rows = int(violating.sum())
    rate = violating_rows / rows if rows else 0.0
    breaker_rows = int(counted.sum())
    breaker_rate = breaker_rows / rows if rows else 0.0
    tripped = breaker_rate > policy.max_violation_rate
    if tripped:
        held[:] = True
        reasons.insert(
            0,
            reason(
                ReasonCode.CIRCUIT_BREAKER,
                {
                    "breaker_rows": breaker_rows,
                    "violating_rows": violating_rows,
                    "rows": rows,
                    "breaker_rate": breaker_rate,
                    "max_violation_rate": policy.max_violation_rate,
                },
                passed=False,
                counts_flags=policy.breaker_counts_flags,
            ),
        )

    # Only the strings need a Python loop, and only over violating rows.
    per_row: dict[int, list[str]] = {}
    actions: dict[str, int] = {}
    for tag, mask in labels:
        idx = np.flatnonzero(mask)
        if idx.size:
            actions[tag] = actions.get(tag, 0) + int(idx.size)
        for i in idx.tolist():
            per_row.setdefault(i, []).append(tag)
    violations = np.full(rows, "", dtype=object)
    for i, tags in per_row.items():
        violations[i] = "; ".join(tags)

    summary = GuardrailSummary(
        rows=rows,
        violating_rows=violating_rows,
        violation_rate=rate,
        actions=actions,
        held_rows=int(held.sum()),
        breaker_rows=breaker_rows,
        breaker_tripped=tripped,
        findings=tuple(findings),
        reasons=tuple(reasons),
    )
    return GuardrailResult(
        values=values,
        raw=raw,
        held=held,
        flagged=flagged,
        violations=violations,
        summary=summary,
    )

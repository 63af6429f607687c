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
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class FeatureTally:
    """One input column against its training range, over some rows (mergeable).

    Attributes:
        column: The feature.
        calendar: The calendar field it is, or None.
        rows_out: Judged rows whose value lies outside the allowed range.
        batch_min, batch_max: The column's lowest and highest finite values.
        train_min, train_max: The champion's training range.
        tolerance: Allowed excess, as a share of the training range.
    """

    column: str
    calendar: str | None
    rows_out: int
    batch_min: float | None
    batch_max: float | None
    train_min: float
    train_max: float
    tolerance: float

    def merged(self, later: FeatureTally) -> FeatureTally:
        """This column's tally and the one of the rows after it."""
        lows = [v for v in (self.batch_min, later.batch_min) if v is not None]
        highs = [v for v in (self.batch_max, later.batch_max) if v is not None]
        return replace(
            self,
            rows_out=self.rows_out + later.rows_out,
            batch_min=min(lows) if lows else None,
            batch_max=max(highs) if highs else None,
        )


def _input_range(
    rule: InputRangeRule,
    action: str,
    frame: pd.DataFrame,
    judged: np.ndarray,
    training_ranges: Mapping[str, tuple[float, float]],
    findings: frozenset[str] | None,
) -> tuple[_Outcome, list[str], list[FeatureTally]]:
    """Rows to act on, features the batch lacks, and each present feature's tally.

    A column whose out-of-range rows reach ``rule.batch_share`` of the judged rows
    (any row, for a calendar column) is a finding about the batch: its rows are
    acted on only when the action holds or replaces them (see the module
    docstring). ``findings`` names those columns when the whole batch decided
    them (a batch read in chunks); None decides them on these rows.
    """
    mask = np.zeros(len(frame), dtype=bool)
    missing: list[str] = []
    tallies: list[FeatureTally] = []
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
        batch_min, batch_max = _observed(x)
        tallies.append(
            FeatureTally(
                feature,
                calendar,
                rows_out,
                batch_min,
                batch_max,
                float(lo),
                float(hi),
                tolerance,
            )
        )
        if not rows_out:
            continue
        if findings is None:
            finding = _is_finding(rule, calendar, rows_out, judged_rows)
        else:
            finding = feature in findings
        if keeps_rows or not finding:
            mask |= out
    return _Outcome(mask & judged), missing, tallies


def _is_finding(rule: InputRangeRule, calendar: str | None, rows_out: int, judged: int) -> bool:
    """Whether a column out of range on ``rows_out`` of ``judged`` rows is a batch finding."""
    return rows_out > 0 and (calendar is not None or rows_out / judged >= rule.batch_share)


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
    findings: Mapping[int, frozenset[str]] | None,
) -> tuple[GuardedRows, GuardrailTally]:
    """Guard predicted class labels: only a missing label and inputs outside the
    training range can be judged; limits on values do not apply to a class.

    A missing label is held (there is no class to fall back to or clip to); the
    other rules run on a numeric stand-in whose only content is "present or not".
    An input-range rule whose action is ``fallback`` holds its rows instead: a
    fallback value is a number, not a class.
    """
    present = ~pd.isna(pd.Series(labels, dtype=object)).to_numpy()
    stand_in = np.where(present, 0.0, np.nan)
    rules = []
    for rule in policy.rules:
        if isinstance(rule, FiniteRule):
            rules.append(rule.model_copy(update={"action": "quarantine"}))
        elif isinstance(rule, InputRangeRule):
            if rule.action == "fallback":
                rule = rule.model_copy(update={"action": "quarantine"})
            rules.append(rule)
    label_policy = policy.model_copy(update={"rules": tuple(rules), "fallback": None})
    judged, tally = guard_rows(stand_in, frame, label_policy, training_ranges, findings=findings)
    guarded = GuardedRows(
        values=labels.copy(),
        raw=labels.copy(),
        held=judged.held,
        flagged=judged.flagged,
        violations=judged.violations,
    )
    return guarded, tally


@dataclass(frozen=True)
class GuardedRows:
    """Predictions after guardrails, row by row, before the circuit breaker.

    Attributes:
        values: Final predictions after clip and fallback.
        raw: Predictions as the model made them.
        held: Rows a rule (or the non-finite fail-safe) holds for review; a
            tripped circuit breaker holds every row besides.
        flagged: Rows passed on with a flag.
        violations: Per row, the ``'rule:action'`` pairs that applied, joined by
            ``'; '``; empty when the row broke no rule.
    """

    values: np.ndarray
    raw: np.ndarray
    held: np.ndarray
    flagged: np.ndarray
    violations: np.ndarray


@dataclass(frozen=True)
class GuardrailRuleTally:
    """What one rule did to some rows (mergeable).

    Attributes:
        label: The rule's label.
        action: The action it took (``clip`` becomes ``quarantine`` for the
            finite rule and ``flag`` for input ranges: nothing to clip to).
        rows: Rows it acted on.
        judged: Rows it judged (a finite value when it ran).
        unavailable: Why the rule could not run (no training ranges, no segment
            caps), or None when it ran.
        caps_known: Whether segment caps existed (for ``unavailable``).
        missing: Features the batch lacks (input ranges).
        uncapped: Rows whose segment has no cap.
        features: Each present feature against its training range.
        rule: The input-range rule itself, which decides the batch findings.
    """

    label: str
    action: str
    rows: int = 0
    judged: int = 0
    unavailable: ReasonCode | None = None
    caps_known: bool = False
    missing: tuple[str, ...] = ()
    uncapped: int = 0
    features: tuple[FeatureTally, ...] = ()
    rule: InputRangeRule | None = None

    def merged(self, later: GuardrailRuleTally) -> GuardrailRuleTally:
        """This rule's tally and the one of the rows after it."""
        return replace(
            self,
            rows=self.rows + later.rows,
            judged=self.judged + later.judged,
            uncapped=self.uncapped + later.uncapped,
            features=tuple(a.merged(b) for a, b in zip(self.features, later.features, strict=True)),
        )

    @property
    def tag(self) -> str:
        """``'rule:action'``, as the rows' violations name it."""
        return f"{self.label}:{self.action}"

    @property
    def findings(self) -> tuple[FeatureTally, ...]:
        """The features out of range as a fact about the batch (input ranges)."""
        if self.rule is None:
            return ()
        return tuple(
            f for f in self.features if _is_finding(self.rule, f.calendar, f.rows_out, self.judged)
        )


@dataclass(frozen=True)
class GuardrailTally:
    """What the guardrails did to some rows of a batch, mergeable chunk by chunk.

    A batch guarded whole is one tally; a batch guarded in chunks is the merge
    of its chunks' tallies, and :func:`summarize` gives the same summary.

    Attributes:
        rows: Predictions.
        rules: Each configured rule's tally, in the policy's order.
        non_finite: Rows the non-finite fail-safe held that no rule had held.
        violating: Rows any rule acted on.
        counted: Rows the circuit breaker counts.
        held: Rows held before the circuit breaker.
    """

    rows: int
    rules: tuple[GuardrailRuleTally, ...]
    non_finite: int
    violating: int
    counted: int
    held: int

    def merged(self, later: GuardrailTally) -> GuardrailTally:
        """This tally and the one of the rows after it (the same policy)."""
        return GuardrailTally(
            rows=self.rows + later.rows,
            rules=tuple(a.merged(b) for a, b in zip(self.rules, later.rules, strict=True)),
            non_finite=self.non_finite + later.non_finite,
            violating=self.violating + later.violating,
            counted=self.counted + later.counted,
            held=self.held + later.held,
        )

    def findings(self) -> dict[int, frozenset[str]]:
        """Each input-range rule's batch findings, by the rule's position in the policy."""
        return {
            position: frozenset(f.column for f in rule.findings)
            for position, rule in enumerate(self.rules)
            if rule.rule is not None
        }


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
        A batch too large to hold is guarded chunk by chunk with
        :func:`guard_rows` (twice: once to tally the findings, once with them)
        and :func:`summarize`.
    """
    guarded, tally = guard_rows(predictions, frame, policy, training_ranges, segment_caps, segments)
    summary = summarize(tally, policy)
    held = guarded.held
    if summary.breaker_tripped:
        held = np.ones_like(held)
    return GuardrailResult(
        values=guarded.values,
        raw=guarded.raw,
        held=held,
        flagged=guarded.flagged,
        violations=guarded.violations,
        summary=summary,
    )


def guard_rows(
    predictions: object,
    frame: pd.DataFrame,
    policy: GuardrailPolicy,
    training_ranges: Mapping[str, tuple[float, float]] | None = None,
    segment_caps: Mapping[str, float] | None = None,
    segments: object | None = None,
    *,
    findings: Mapping[int, frozenset[str]] | None = None,
) -> tuple[GuardedRows, GuardrailTally]:
    """The rules of :func:`apply_guardrails` on a batch or one chunk of it, row by row.

    Args:
        predictions, frame, policy, training_ranges, segment_caps, segments: As
            :func:`apply_guardrails` takes them, for these rows.
        findings: The batch findings of each input-range rule (by position in the
            policy), as :meth:`GuardrailTally.findings` gives them for the whole
            batch; None decides them on these rows (the whole batch).

    Returns:
        The rows as guarded before the circuit breaker, and their tally.
    """
    given = np.asarray(predictions).ravel()
    if given.dtype.kind not in "biuf":
        return _guard_class_labels(given, frame, policy, training_ranges, findings)
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
    tallies: list[GuardrailRuleTally] = []
    fallback_values: np.ndarray | None = None
    if policy.fallback is not None:
        fallback_values = (
            _column(frame, policy.fallback.column)
            if policy.fallback.column is not None
            else np.full(rows, float(policy.fallback.value))
        )

    for position, rule in enumerate(policy.rules):
        judged = np.isfinite(values)
        action = rule.action
        tally = GuardrailRuleTally(rule.label, action)
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
                tallies.append(replace(tally, unavailable=ReasonCode.INPUT_RANGE_UNAVAILABLE))
                continue
            if action == "clip":
                action = "flag"
            decided = None if findings is None else findings.get(position, frozenset())
            outcome, missing, features = _input_range(
                rule, action, frame, judged, training_ranges, decided
            )
            tally = replace(tally, missing=tuple(missing), features=tuple(features), rule=rule)
        elif isinstance(rule, SegmentHistoryCapRule):
            if not segment_caps or segments is None:
                tallies.append(
                    replace(
                        tally,
                        unavailable=ReasonCode.SEGMENT_CAPS_UNAVAILABLE,
                        caps_known=bool(segment_caps),
                    )
                )
                continue
            limit, uncapped = _segment_limit(rule, segments, segment_caps)
            outcome = _upper_limit(limit, values, judged)
            tally = replace(tally, uncapped=uncapped)
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
        labels.append((f"{rule.label}:{action}", mask))
        tallies.append(
            replace(tally, action=action, rows=int(mask.sum()), judged=int(judged.sum()))
        )

    # Fail-safe: whatever the rules did, a non-finite value never leaves.
    bad = ~np.isfinite(values)
    newly = bad & ~held
    if bad.any():
        held |= bad
        violating |= bad
        counted |= bad
        if newly.any():
            labels.append((_NON_FINITE_TAG, newly))

    # Only the strings need a Python loop, and only over violating rows.
    per_row: dict[int, list[str]] = {}
    for tag, mask in labels:
        for i in np.flatnonzero(mask).tolist():
            per_row.setdefault(i, []).append(tag)
    violations = np.full(rows, "", dtype=object)
    for i, tags in per_row.items():
        violations[i] = "; ".join(tags)

    tally_of_rows = GuardrailTally(
        rows=rows,
        rules=tuple(tallies),
        non_finite=int(newly.sum()),
        violating=int(violating.sum()),
        counted=int(counted.sum()),
        held=int(held.sum()),
    )
    return GuardedRows(values, raw, held, flagged, violations), tally_of_rows


#: The violation of a prediction the non-finite fail-safe held.
_NON_FINITE_TAG = "finite:quarantine"


def summarize(tally: GuardrailTally, policy: GuardrailPolicy) -> GuardrailSummary:
    """The batch's guardrail summary from its (merged) tally: counts, findings, the breaker.

    Args:
        tally: The batch's tally: one chunk's, or the merge of its chunks'.
        policy: The guardrail policy the tally was made under.

    Returns:
        The summary, with ``breaker_tripped`` set when the share of counted rows
        exceeds ``policy.max_violation_rate`` (then every row is held).
    """
    rows = tally.rows
    reasons: list[Reason] = []
    findings: list[InputRangeFinding] = []
    actions: dict[str, int] = {}
    for rule in tally.rules:
        if rule.unavailable == ReasonCode.INPUT_RANGE_UNAVAILABLE:
            reasons.append(reason(rule.unavailable, passed=None, rule=rule.label))
            continue
        if rule.unavailable == ReasonCode.SEGMENT_CAPS_UNAVAILABLE:
            reasons.append(
                reason(rule.unavailable, passed=None, rule=rule.label, caps_known=rule.caps_known)
            )
            continue
        if rule.rows:
            actions[rule.tag] = actions.get(rule.tag, 0) + rule.rows
        found = [_finding(rule, f) for f in rule.findings]
        reasons.append(
            reason(
                ReasonCode.GUARDRAIL_RULE,
                {"rule": rule.label, "action": rule.action, "rows": rule.rows},
                passed=rule.rows == 0,
                predictions=rows,
                missing=list(rule.missing),
                found=[f.column for f in found],
                uncapped=rule.uncapped,
            )
        )
        findings.extend(found)
        reasons.extend(_finding_reason(f, rule.action) for f in found)
    if tally.non_finite:
        actions[_NON_FINITE_TAG] = actions.get(_NON_FINITE_TAG, 0) + tally.non_finite
        reasons.append(
            reason(
                ReasonCode.NON_FINITE_HELD,
                {"rule": "finite", "action": "quarantine", "rows": tally.non_finite},
                passed=False,
            )
        )
    breaker_rate = tally.counted / rows if rows else 0.0
    tripped = breaker_rate > policy.max_violation_rate
    if tripped:
        reasons.insert(
            0,
            reason(
                ReasonCode.CIRCUIT_BREAKER,
                {
                    "breaker_rows": tally.counted,
                    "violating_rows": tally.violating,
                    "rows": rows,
                    "breaker_rate": breaker_rate,
                    "max_violation_rate": policy.max_violation_rate,
                },
                passed=False,
                counts_flags=policy.breaker_counts_flags,
            ),
        )
    return GuardrailSummary(
        rows=rows,
        violating_rows=tally.violating,
        violation_rate=tally.violating / rows if rows else 0.0,
        actions=actions,
        held_rows=rows if tripped else tally.held,
        breaker_rows=tally.counted,
        breaker_tripped=tripped,
        findings=tuple(findings),
        reasons=tuple(reasons),
    )


def _finding(rule: GuardrailRuleTally, feature: FeatureTally) -> InputRangeFinding:
    return InputRangeFinding(
        code=ReasonCode.INPUTS_OUTSIDE_TRAINING_RANGE
        if feature.calendar is None
        else ReasonCode.CALENDAR_NOT_SEEN,
        rule=rule.label,
        column=feature.column,
        calendar=feature.calendar,
        rows_out=feature.rows_out,
        rows=rule.judged,
        share=feature.rows_out / rule.judged,
        train_min=feature.train_min,
        train_max=feature.train_max,
        batch_min=feature.batch_min,
        batch_max=feature.batch_max,
        tolerance=feature.tolerance,
    )

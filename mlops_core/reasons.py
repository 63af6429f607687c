"""Every reason code a decision emits, in one enumeration.

A reason code is the stable, machine-readable half of a reason: records,
JSON files, MLflow tags and events carry it, tests and flows branch on it.
``ReasonCode`` is a ``StrEnum``, so a member compares equal to its string
value and serialises as that string: records written before this enumeration
existed read back unchanged. The plain-language sentence for each code lives in
``mlops_core.sentences`` (one renderer for the report, the record's markdown
and the model card); a unit test fails when a code has no sentence there.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Stable codes of the reasons behind decisions, grouped by the decision."""

    # Batch gate (mlops_core.gate).
    BATCH_VALID = "batch_valid"
    RULE_FAILED = "rule_failed"
    RULE_WARNING = "rule_warning"
    EMPTY_BATCH = "empty_batch"

    # Retrain decision (mlops_core.retrain), in rule order.
    BATCH_FAILED_GATE = "batch_failed_gate"
    BATCH_PASSED_GATE = "batch_passed_gate"
    LATE_BATCH = "late_batch"
    NO_LABELED_DATA = "no_labeled_data"
    NO_CHAMPION = "no_champion"
    HAS_CHAMPION = "has_champion"
    NOT_ENOUGH_LABELS = "not_enough_labels"
    ENOUGH_LABELS = "enough_labels"
    CRITICAL_DECAY_OVERRIDES_COOLDOWN = "critical_decay_overrides_cooldown"
    COOLDOWN = "cooldown"
    OUTSIDE_COOLDOWN = "outside_cooldown"
    PERFORMANCE_UNAVAILABLE = "performance_unavailable"
    REALIZED_DECAY = "realized_decay"
    NO_SIGNIFICANT_DECAY = "no_significant_decay"
    DRIFT_UNAVAILABLE = "drift_unavailable"
    IMPORTANT_FEATURE_DRIFT = "important_feature_drift"
    UNIMPORTANT_FEATURE_DRIFT = "unimportant_feature_drift"
    NO_FEATURE_DRIFT = "no_feature_drift"
    MODEL_AGE_UNKNOWN = "model_age_unknown"
    MODEL_AGE = "model_age"
    MODEL_FRESH = "model_fresh"
    DECAY_NOT_MEASURABLE = "decay_not_measurable"
    NO_DECAY = "no_decay"
    CRITICAL_DECAY_OVERRIDES_BUDGET = "critical_decay_overrides_budget"
    RETRAIN_BUDGET_EXHAUSTED = "retrain_budget_exhausted"
    RETRAIN_BUDGET_AVAILABLE = "retrain_budget_available"
    RETRAIN_NOT_WORTH_COST = "retrain_not_worth_cost"
    RETRAIN_WORTH_COST = "retrain_worth_cost"
    RETRAIN_COST_FREE = "retrain_cost_free"

    # Promotion gate (mlops_core.promotion); NO_CHAMPION above is shared.
    BASELINE_UNAVAILABLE = "baseline_unavailable"
    BASELINE_BEATEN = "baseline_beaten"
    BASELINE_NOT_BEATEN = "baseline_not_beaten"
    NO_FLOOR_CONFIGURED = "no_floor_configured"
    FLOOR_MET = "floor_met"
    FLOOR_NOT_MET = "floor_not_met"
    IMPROVEMENT_MET = "improvement_met"
    IMPROVEMENT_TOO_SMALL = "improvement_too_small"
    GAIN_SIGNIFICANT = "gain_significant"
    GAIN_NOT_SIGNIFICANT = "gain_not_significant"
    SEGMENT_REGRESSION = "segment_regression"
    SEGMENTS_OK = "segments_ok"
    SEGMENTS_NOT_JUDGED = "segments_not_judged"
    GAIN_PLAUSIBLE = "gain_plausible"
    TOO_GOOD_TO_BE_TRUE = "too_good_to_be_true"
    NO_TARGET_LEAK = "no_target_leak"
    TARGET_LEAK_SUSPECTED = "target_leak_suspected"
    GUARDRAIL_RATE_OK = "guardrail_rate_ok"
    GUARDRAIL_RATE_TOO_HIGH = "guardrail_rate_too_high"
    APPROVED = "approved"
    APPROVAL_REJECTED = "approval_rejected"
    APPROVAL_TIMEOUT = "approval_timeout"
    APPROVAL_PENDING = "approval_pending"
    #: Not a check: a decided promotion that was not carried out (the HTML report).
    SUPERSEDED = "superseded"

    # Guardrails (mlops_core.guardrails).
    INPUTS_OUTSIDE_TRAINING_RANGE = "inputs_outside_training_range"
    CALENDAR_NOT_SEEN = "calendar_not_seen"
    INPUT_RANGE_UNAVAILABLE = "input_range_unavailable"
    SEGMENT_CAPS_UNAVAILABLE = "segment_caps_unavailable"
    GUARDRAIL_RULE = "guardrail_rule"
    NON_FINITE_HELD = "non_finite_held"
    CIRCUIT_BREAKER = "circuit_breaker"

    # Alert policy (mlops_core.alerting).
    ALERT_UNCONFIGURED = "alert_unconfigured"
    ALERT_IMMEDIATE = "alert_immediate"
    ALERT_BREAKER = "alert_breaker"
    ALERT_NEW_CAUSE = "alert_new_cause"
    ALERT_THRESHOLD_CROSSED = "alert_threshold_crossed"
    ALERT_BELOW_THRESHOLD = "alert_below_threshold"
    ALERT_THROTTLED = "alert_throttled"
    ALERT_DIGESTED = "alert_digested"
    ALERT_DIGEST_DUE = "alert_digest_due"
    ALERT_RESOLVED = "alert_resolved"

    # Review of held predictions (mlops_core.review).
    LIMIT_NOT_CHECKED = "limit_not_checked"
    REVIEWER_MISSING = "reviewer_missing"
    NO_ROWS = "no_rows"
    ROW_LISTED_TWICE = "row_listed_twice"
    ROW_NOT_HELD = "row_not_held"
    ROW_AMBIGUOUS = "row_ambiguous"
    ROW_NOT_PENDING = "row_not_pending"
    LIMITS_NOT_CHECKABLE = "limits_not_checkable"
    OVERRIDE_OUTSIDE_LIMITS = "override_outside_limits"
    REVIEW_APPLIED = "review_applied"
    OVERRIDE_UNSUPPORTED = "override_unsupported"
    OVERRIDE_MISSING_VALUE = "override_missing_value"
    OVERRIDE_NOT_FINITE = "override_not_finite"
    VALUE_WITHOUT_OVERRIDE = "value_without_override"
    PROPOSED_NOT_USABLE = "proposed_not_usable"

    # Contract changes since the champion was trained (mlops_core.schema_change).
    INPUT_TYPE_CHANGED = "input_type_changed"
    TYPE_CHANGED_SAME_ENCODING = "type_changed_same_encoding"
    TYPE_CHANGED = "type_changed"
    RANGE_WIDENED = "range_widened"
    RANGE_NARROWED = "range_narrowed"
    CATEGORY_ADDED = "category_added"
    CATEGORY_REMOVED = "category_removed"
    INPUT_DROPPED = "input_dropped"
    COLUMN_DROPPED = "column_dropped"
    FEATURE_REMOVED_NEXT_RETRAIN = "feature_removed_next_retrain"
    NEW_FEATURE_NEXT_RETRAIN = "new_feature_next_retrain"
    COLUMN_ADDED = "column_added"

    # Label gate row rules (mlops_core.label_gate).
    ID_MISSING = "id_missing"
    TARGET_MISSING = "target_missing"
    TARGET_NOT_NUMERIC = "target_not_numeric"
    TARGET_OUT_OF_RANGE = "target_out_of_range"
    TARGET_CLASS_MISSPELLED = "target_class_misspelled"
    TARGET_NEW_CLASS = "target_new_class"
    CONFLICTING_DUPLICATES = "conflicting_duplicates"
    DUPLICATE_IDS = "duplicate_ids"
    UNKNOWN_IDS = "unknown_ids"
    CORRECTIONS = "corrections"

    # Model search (mlops_core.search).
    SEARCH_NO_TRIAL = "search_no_trial"
    SEARCH_KEPT = "search_kept"
    SEARCH_SWITCHED = "search_switched"
    SEARCH_BUDGET = "search_budget"

    # Known limits on the model card (mlops_core.model_card).
    METRIC_DIRECTION = "metric_direction"
    LEAK_CHECK = "leak_check"
    FIRST_CHAMPION = "first_champion"
    SECONDARY_NOT_COMPARED = "secondary_not_compared"
    FEW_ROWS_SEGMENTS = "few_rows_segments"
    SEGMENTS_NOT_COMPARED = "segments_not_compared"
    SEGMENT_ROWS_UNKNOWN = "segment_rows_unknown"
    DRIFTED_AT_TRAINING = "drifted_at_training"
    EXTRAPOLATION = "extrapolation"
    NO_LABEL_FREE_ESTIMATE = "no_label_free_estimate"

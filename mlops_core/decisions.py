"""Typed, frozen decision values shared by every part of the product.

A decision has an ``action``, the ``reasons`` behind it (code, sentence, numbers)
and the inputs it saw. Flows branch on ``action`` only; one consumer acts on it.
Vendor output never appears here: adapters in ``tasks`` map GX results,
Evidently snapshots and MLflow objects into these types.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.reasons import ReasonCode


class Value(BaseModel):
    """Base for decision values: strict, frozen, JSON-serialisable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(Value):
    """One reason behind a decision."""

    code: ReasonCode = Field(description="Stable machine code, e.g. 'realized_decay'.")
    message: str = Field(description="Plain-language sentence with the numbers in it.")
    numbers: dict[str, float | int | str | None] = Field(default_factory=dict)
    passed: bool | None = Field(
        None, description="For checks: whether this check passed; None for plain facts."
    )


# --------------------------------------------------------------------- batch gate
class RuleResult(Value):
    """Outcome of one validation rule on a batch (mapped from GX by an adapter)."""

    rule: str = Field(description="Rule kind, e.g. 'column_present', 'range', 'null_share'.")
    column: str | None = Field(None, description="Column the rule checks; None for table rules.")
    severity: Literal["error", "warn"]
    success: bool
    message: str = Field(description="What was checked and, on failure, what was found.")
    unexpected_count: int = 0
    unexpected_share: float = 0.0
    examples: tuple[str, ...] = Field((), description="A few offending values, as text.")


class GateDecision(Value):
    """Whether a batch may be scored and trained on."""

    action: Literal["pass", "fail"]
    batch: str = Field(description="Batch file name.")
    batch_sha256: str
    rows: int
    reasons: tuple[Reason, ...]
    results: tuple[RuleResult, ...]

    @property
    def failed_rules(self) -> tuple[RuleResult, ...]:
        """Error-severity rules that failed."""
        return tuple(r for r in self.results if not r.success and r.severity == "error")

    @property
    def warnings(self) -> tuple[RuleResult, ...]:
        """Warn-severity rules that failed."""
        return tuple(r for r in self.results if not r.success and r.severity == "warn")


# -------------------------------------------------------------------------- drift
class FeatureDrift(Value):
    """Drift of one feature between reference and current data."""

    feature: str
    kind: Literal["numeric", "categorical"]
    method: str
    score: float = Field(
        description="Effect size: the method's distance, or for tests (ks, chisquare) the "
        "Kolmogorov-Smirnov D or the total variation distance of the category shares."
    )
    threshold: float = Field(
        description="Score at or above which the feature counts as drifted (for tests: the "
        "minimum effect size, required on top of significance)."
    )
    score_error: float | None = Field(
        0.0,
        description="Most the score can differ from its exact value on the full reference "
        "(the reference is kept as a profile: exact for categories and discrete numbers, a "
        "bound for binned continuous ones); None where no bound is derived (PSI and "
        "Jensen-Shannon of continuous features, about one bin share per histogram edge).",
    )
    p_value: float | None = Field(None, description="Raw p-value for tests, else None.")
    significant: bool | None = Field(
        None,
        description="For tests: Benjamini-Hochberg rejected the p-value at the FDR level "
        "across the tested features; None for effect-size methods.",
    )
    drifted: bool = Field(description="score >= threshold, and for tests also significant.")
    importance: float = Field(0.0, description="Champion's normalised permutation importance.")


class DriftSummary(Value):
    """Data drift of a batch against the champion's reference."""

    features: tuple[FeatureDrift, ...]
    drift_share: float = Field(description="Share of features flagged as drifted.")
    importance_weighted_share: float = Field(
        description="Share of the champion's importance that sits in drifted features."
    )
    prediction_drift: float | None = Field(
        None, description="Wasserstein distance (normed) of predictions vs reference."
    )
    domain_auc: float | None = Field(
        None,
        description="Cross-validated ROC AUC of a classifier telling batch rows from "
        "reference rows (0.5: indistinguishable); None when not measured.",
    )
    multivariate_drift: bool | None = Field(
        None,
        description="domain_auc is above the policy's domain_auc_limit; None when not measured.",
    )
    reference_rows: int = 0
    current_rows: int = 0

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of drifted features, most important first."""
        d = sorted((f for f in self.features if f.drifted), key=lambda f: -f.importance)
        return tuple(f.feature for f in d)


# --------------------------------------------------------------------- performance
class MetricInterval(Value):
    """A metric with a bootstrap interval."""

    metric: str
    value: float
    low: float
    high: float
    rows: int
    sampled_rows: int | None = Field(
        None,
        description="When set, the value and interval were computed on a seeded uniform "
        "sample of this many of the rows (retrain.estimate_sample_rows); None: on every row.",
    )


class PerformanceSummary(Value):
    """Realized performance of the champion on newly labeled rows."""

    metric: str
    reference: float = Field(
        description="The champion's expected metric one step after its training (out of "
        "time; its holdout metric when the window allowed no out-of-time fit): what the "
        "decay is measured against."
    )
    realized: MetricInterval | None = Field(None, description="None when no labels arrived.")
    decay: float | None = Field(None, description="Relative worsening (positive is worse).")
    decay_low: float | None = Field(None, description="Lower end of the decay interval.")
    decay_high: float | None = Field(None, description="Upper end of the decay interval.")
    estimated: float | None = Field(
        None, description="Metric estimated without labels under unchanged P(y|x)."
    )
    estimated_low: float | None = None
    estimated_high: float | None = None
    estimated_sampled_rows: int | None = Field(
        None,
        description="When set, the estimate on the labeled rows was computed on a seeded "
        "uniform sample of this many of them (retrain.estimate_sample_rows).",
    )
    estimate_method: str | None = Field(
        None, description="'cbpe' (classifiers) or 'dle' (regressors); None when no estimator."
    )
    current_estimate: MetricInterval | None = Field(
        None,
        description="Label-free estimate on the batch just scored, before its labels arrive.",
    )
    new_labeled_rows: int = 0


# ------------------------------------------------------------------------ retrain
RetrainAction = Literal["block", "train", "skip", "retrain"]
DecayCause = Literal["concept_drift", "covariate_shift", "unknown"]


class RetrainInputs(Value):
    """Everything ``decide_retrain`` looks at; built by the flow from its state."""

    period: int = Field(description="Current period index (the caller's clock).")
    gate_passed: bool
    has_champion: bool
    champion_trained_period: int | None = Field(
        None, description="Last period in the champion's training window."
    )
    last_retrain_period: int | None = Field(None, description="Period of the last retrain.")
    retrain_periods_in_budget_window: int = Field(
        0, ge=0, description="Retrains already taken within the budget window."
    )
    new_labeled_rows: int = Field(0, ge=0, description="Labeled rows that arrived this cycle.")
    last_labeled_period: int | None = Field(
        None, description="Latest period with labels; the training window ends there."
    )
    rows_per_period: float = Field(0.0, ge=0.0, description="Typical rows scored per period.")
    late_after: int | None = Field(
        None,
        description="Set when the batch is late: the latest period already decided, which "
        "the batch's period is before (no retrain is decided on a late batch).",
    )
    performance: PerformanceSummary | None = None
    drift: DriftSummary | None = None
    decay_cause: DecayCause = "unknown"


class TrainingWindow(Value):
    """Periods to train on (inclusive) and why."""

    kind: Literal["expanding", "sliding"]
    first_period: int | None = Field(None, description="None means from the beginning.")
    last_period: int


class RetrainDecision(Value):
    """What to do about the model this cycle."""

    action: RetrainAction
    reasons: tuple[Reason, ...] = Field(description="The deciding reason first.")
    checked: tuple[Reason, ...] = Field(description="Every rule checked, in order.")
    window: TrainingWindow | None = Field(None, description="Set for train/retrain.")
    inputs: RetrainInputs


# ---------------------------------------------------------------------- promotion
class SegmentComparison(Value):
    """Champion vs challenger on one segment of the holdout."""

    segment: str
    rows: int
    champion: float
    challenger: float
    worsening: float = Field(description="Relative worsening of the challenger (positive worse).")


class PromotionInputs(Value):
    """Evidence for the promotion gate, measured on one shared labeled holdout."""

    metric: str
    holdout_rows: int
    challenger_metric: float
    champion_metric: float | None = Field(None, description="None when there is no champion.")
    loss_difference_mean: float | None = Field(
        None,
        description="Mean of champion loss minus challenger loss per row (positive: "
        "challenger better).",
    )
    loss_difference_low: float | None = Field(None, description="Bootstrap lower bound.")
    loss_difference_high: float | None = Field(None, description="Bootstrap upper bound.")
    p_value: float | None = Field(None, description="Bootstrap P(gain <= 0).")
    champion_reference_metric: float | None = Field(
        None,
        description="The champion's metric on its own holdout when it was trained (None: "
        "unknown); the plausibility check measures the challenger's gain against the better "
        "of it and the champion's metric now.",
    )
    baseline_metric: float | None = Field(
        None,
        description="The naive baseline's metric on the same holdout rows (see "
        "mlops_core.baseline); None when it was not computed.",
    )
    baseline: str | None = Field(
        None, description="What the naive baseline predicts, e.g. 'median 142' (None: none)."
    )
    segments: tuple[SegmentComparison, ...] = ()
    challenger_guardrail_rate: float = 0.0
    target_association: dict[str, float] = Field(
        default_factory=dict,
        description="Per numeric feature, the larger of |Pearson| and |Spearman| correlation "
        "with the target on the holdout rows (features with no variation left out).",
    )
    approval: Literal["pending", "approved", "rejected", "timeout"] = Field(
        "pending", description="Human answer; only consulted when the policy requires approval."
    )
    approver: str | None = None
    approval_comment: str | None = None


PromotionAction = Literal["promote", "reject", "await_approval"]


class PromotionDecision(Value):
    """Whether the challenger replaces the champion.

    ``await_approval`` means every automatic check passed and the policy wants a
    human: the flow asks, then decides again with the answer in the inputs.
    """

    action: PromotionAction
    reasons: tuple[Reason, ...] = Field(description="Failed checks first; all checks listed.")
    inputs: PromotionInputs


# --------------------------------------------------------------------- guardrails
class InputRangeFinding(Value):
    """One input column outside the champion's training range, as a fact about a batch.

    Raised by the ``input_out_of_range`` rule instead of a flag on each row when
    the column is out of range on ``batch_share`` of the rows or more, or when it
    is a calendar column (a month, an hour the model never saw).
    """

    code: Literal[ReasonCode.CALENDAR_NOT_SEEN, ReasonCode.INPUTS_OUTSIDE_TRAINING_RANGE] = Field(
        description="calendar_not_seen for a calendar column, else inputs_outside_training_range."
    )
    rule: str = Field(description="Label of the rule that raised it.")
    column: str
    calendar: str | None = Field(
        None, description="The calendar field the column is (month, hour, ...); None otherwise."
    )
    rows_out: int = Field(ge=0, description="Rows whose value lies outside the allowed range.")
    rows: int = Field(ge=0, description="Rows the rule judged (those with a finite prediction).")
    share: float = Field(ge=0.0, le=1.0, description="rows_out / rows.")
    train_min: float = Field(description="Lowest value in the champion's training data.")
    train_max: float = Field(description="Highest value in the champion's training data.")
    batch_min: float | None = Field(None, description="Lowest value in the batch.")
    batch_max: float | None = Field(None, description="Highest value in the batch.")
    tolerance: float = Field(
        0.0, ge=0.0, description="Allowed excess applied, as a share of the training range."
    )


class GuardrailSummary(Value):
    """What guardrails did to one batch of predictions."""

    rows: int
    violating_rows: int = Field(description="Rows any rule acted on (clip, fallback, flag, hold).")
    violation_rate: float
    actions: dict[str, int] = Field(
        default_factory=dict, description="Count of rows per 'rule:action'."
    )
    held_rows: int = Field(0, description="Rows sent to the review queue.")
    breaker_rows: int = Field(
        0,
        description="Rows the circuit breaker counted: clipped, replaced or held, flagged "
        "only when the policy counts flags.",
    )
    breaker_tripped: bool = Field(False, description="The whole batch was held.")
    findings: tuple[InputRangeFinding, ...] = Field(
        (), description="Inputs out of range as facts about the whole batch, one per column."
    )
    reasons: tuple[Reason, ...] = ()

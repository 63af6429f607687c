"""The use-case file: one YAML file describes one model in production.

Every model here is strict (unknown keys are errors) and frozen. Parsing takes
an already-loaded mapping plus the name of its source, so this module never
touches the file system; ``UseCaseError`` carries the file, the key path and a
one-line explanation that the CLI prints as is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_core.metrics import METRICS, MetricName, TaskType


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_NAME_PATTERN = r"^[a-z][a-z0-9_\-]{1,62}$"

#: A folder given as a URL: a scheme (``s3``, ``gs``, ``az``, ``file``...), ``://``, a path.
_URL_PATTERN = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*)://(?P<rest>.*)$")


def is_url(location: str) -> bool:
    """Whether a landing or labels location is a URL (``s3://bucket/prefix``), not a folder."""
    return _URL_PATTERN.match(location) is not None


# --------------------------------------------------------------------------- data
class DataConfig(Strict):
    """Where batches and labels land and which columns play which role."""

    landing: str = Field(
        min_length=1,
        description="Where feature batches land: a folder (absolute, or relative to the data "
        "root), or an object-store URL (s3://bucket/prefix, gs://, az://, file://) whose files "
        "each cycle moves into <data root>/<name>/landing first (tasks.remote_folders).",
    )
    labels: str = Field(
        min_length=1,
        description="Where label files (id + target) land, label_delay periods after their "
        "batch: a folder (absolute, or relative to the data root), or an object-store URL "
        "whose files each cycle moves into <data root>/<name>/labels first.",
    )
    format: Literal["csv", "parquet"] = Field("csv", description="File format of batches.")
    id_column: str = Field(description="Unique row id; labels are joined on it.")
    time_column: str = Field(
        description="Time of the row: integer periods, or dates and times that data.period cuts "
        "into periods (never a feature)."
    )
    target_column: str = Field(description="The label the model predicts.")
    segment_column: str | None = Field(
        None, description="Optional segment (e.g. store) for per-segment checks."
    )
    label_delay: int = Field(
        1, ge=0, le=104, description="Periods after a batch before its labels arrive."
    )
    period: Literal["day", "week", "month"] | None = Field(
        None,
        description="Calendar unit that cuts a date time column into periods (calendar days, "
        "Monday-to-Sunday weeks, calendar months; see mlops_core.periods); None when the time "
        "column already holds integer periods.",
    )

    @field_validator("landing", "labels")
    @classmethod
    def _url_has_a_folder(cls, value: str) -> str:
        match = _URL_PATTERN.match(value)
        if match is not None and not match.group("rest").strip("/"):
            raise ValueError(f"URL {value!r} names no bucket or folder")
        return value


# ----------------------------------------------------------------------- contract
class ColumnContract(Strict):
    """One input column: its type and the rules a batch must satisfy."""

    name: str = Field(min_length=1, description="Column name in the batch file.")
    type: Literal["numeric", "integer", "categorical", "boolean"] = Field(
        description="Logical type; decides the validation rules and the preprocessing."
    )
    min: float | None = Field(None, description="Smallest allowed value (numeric types).")
    max: float | None = Field(None, description="Largest allowed value (numeric types).")
    categories: tuple[str, ...] | None = Field(
        None, description="Allowed categories (categorical type); None allows any."
    )
    max_null_share: float = Field(
        0.0, ge=0.0, le=1.0, description="Largest share of missing values allowed."
    )
    severity: Literal["error", "warn"] = Field(
        "error", description="error blocks the batch; warn is reported only."
    )
    feature: bool = Field(
        True, description="Used as a model input; false keeps it for guardrails and reports."
    )

    @model_validator(mode="after")
    def _rules_fit_type(self) -> ColumnContract:
        if self.type in ("categorical", "boolean") and (
            self.min is not None or self.max is not None
        ):
            raise ValueError(f"column {self.name!r}: min/max apply to numeric types only")
        if self.categories is not None and self.type != "categorical":
            raise ValueError(f"column {self.name!r}: categories apply to categorical type only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column {self.name!r}: min {self.min} is above max {self.max}")
        return self


class ContractConfig(Strict):
    """The data contract; the Great Expectations suite is generated from it."""

    columns: tuple[ColumnContract, ...] = Field(min_length=1, description="Input columns.")
    unique_id: bool = Field(True, description="Ids must be unique within a batch.")
    allow_extra_columns: bool = Field(
        False, description="Columns not in the contract are an error when false."
    )
    min_rows: int = Field(1, ge=1, description="A batch with fewer rows fails the gate.")

    @model_validator(mode="after")
    def _unique_names(self) -> ContractConfig:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"columns defined twice: {', '.join(dupes)}")
        return self

    def column(self, name: str) -> ColumnContract | None:
        """Return the contract of ``name`` or None."""
        return next((c for c in self.columns if c.name == name), None)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the columns the model consumes, in contract order."""
        return tuple(c.name for c in self.columns if c.feature)


# -------------------------------------------------------------------------- model
_ESTIMATOR_PATH = r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$"


class SearchRange(Strict):
    """A numeric range a search samples one parameter from."""

    low: float = Field(description="Smallest value sampled (inclusive).")
    high: float = Field(description="Largest value sampled (inclusive).")
    log: bool = Field(False, description="Sample uniformly on a log scale (low must be > 0).")
    integer: bool = Field(False, description="Round the sample to a whole number.")

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        return self


def _space_kind(value: Any) -> str:
    # A mapping is a range, anything else a list of values: the error then names
    # what is wrong with the form the user wrote, not with the other form.
    return "value_range" if isinstance(value, (Mapping, SearchRange)) else "value_list"


#: One searched parameter: a list of values or a range.
SpaceEntry = Annotated[
    Annotated[tuple[Any, ...], Field(min_length=1, max_length=100), Tag("value_list")]
    | Annotated[SearchRange, Tag("value_range")],
    Discriminator(_space_kind),
]


class CandidateConfig(Strict):
    """One estimator a retrain may choose, with the parameters a search may try."""

    estimator: str = Field(
        pattern=_ESTIMATOR_PATH,
        description="Import path of a scikit-learn compatible estimator class.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Fixed parameters, used by every trial."
    )
    space: dict[str, SpaceEntry] = Field(
        default_factory=dict,
        max_length=20,
        description="Searched parameters: a list of values to choose from, or a range "
        "{low, high, log, integer}; a key here overrides the same fixed parameter.",
    )


class SearchConfig(Strict):
    """How a retrain searches the candidates (time-ordered cross-validation)."""

    budget_seconds: float = Field(
        60.0,
        gt=0.0,
        le=86_400.0,
        description="Wall-clock budget of one search: no trial starts after it is spent; "
        "a trial already running finishes.",
    )
    trials: int = Field(
        8, ge=1, le=1000, description="Trials sampled, spread round-robin over the candidates."
    )
    folds: int = Field(
        3,
        ge=1,
        le=20,
        description="Time-ordered validation folds over the training window's last periods; "
        "each fold trains only on periods before it (expanding window).",
    )
    recent_fold_weight: float = Field(
        1.0,
        ge=1.0,
        le=100.0,
        description="Weight of the most recent fold relative to the oldest; the folds in "
        "between get geometrically spaced weights (1.0 weighs every fold the same).",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the trial sampling.")


class ModelConfig(Strict):
    """The scikit-learn estimator; preprocessing comes from the contract's types."""

    task: TaskType = Field(description="regression or classification.")
    estimator: str = Field(
        pattern=_ESTIMATOR_PATH,
        description="Import path of a scikit-learn compatible estimator class.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator parameters.")
    random_state: int = Field(0, ge=0, description="Seed for training and importance.")
    importance_sample_rows: int = Field(
        10_000,
        ge=100,
        le=10_000_000,
        description="Most holdout rows the permutation importance shuffles: a larger "
        "holdout is sampled (seeded by random_state) to this many rows. Its cost is "
        "features x 5 shuffles x these rows predicted: at a million rows, most of a "
        "retrain; each share is a mean loss over the rows, so its noise shrinks with "
        "the square root of their number. Recorded with each training run.",
    )
    train_sample_rows: int = Field(
        250_000,
        ge=1_000,
        le=100_000_000,
        description="Most rows a fit trains on: a larger training window is sampled "
        "(seeded by random_state) to this many rows, period by period so every period "
        "keeps its share (see train_sample_half_life_periods). The holdout, the drift "
        "profile and the training ranges still use every row. A fit's cost grows with its "
        "rows: at a million, most of a retrain. Recorded with each training run.",
    )
    train_sample_half_life_periods: float | None = Field(
        None,
        gt=0,
        le=100_000,
        description="With a sampled training window: none samples every period at the same "
        "rate (a seasonal pattern a year back keeps its share); a number of periods makes a "
        "period's rate halve every that many periods back from the newest, so recent rows "
        "weigh more.",
    )
    estimator_sample_rows: int = Field(
        50_000,
        ge=1_000,
        le=10_000_000,
        description="Most holdout rows the label-free performance estimator learns from "
        "(the classifier's calibration, the regressor's loss model, fitted once per fold "
        "and once on all): a larger holdout is sampled (seeded by random_state), period by "
        "period. The holdout metrics still use every row. Recorded with each training run.",
    )
    per_segment: bool = Field(
        False,
        description="Train one copy of the model per value of data.segment_column (e.g. per "
        "store), plus one on every row for segments with too little history; the fits run "
        "in parallel through the flow's task runner.",
    )
    min_segment_rows: int = Field(
        30,
        ge=1,
        le=1_000_000,
        description="With per_segment: fewest training rows for a segment to get its own "
        "model; smaller segments use the model trained on every row.",
    )
    candidates: tuple[CandidateConfig, ...] = Field(
        (),
        max_length=10,
        description="Estimators a retrain searches among (time-ordered cross-validation); "
        "empty: the estimator above is retrained as is, with no search.",
    )
    search: SearchConfig | None = Field(
        None, description="Budget, trials, folds and seed of the candidate search."
    )

    @model_validator(mode="after")
    def _search_needs_candidates(self) -> ModelConfig:
        if self.search is not None and not self.candidates:
            raise _KeyedValueError("model.search", "a search needs model.candidates to search")
        if self.candidates and self.per_segment:
            raise _KeyedValueError(
                "model.candidates", "a candidate search is not available with per_segment models"
            )
        return self

    @property
    def search_settings(self) -> SearchConfig | None:
        """The search to run at retrain (defaults when candidates are set alone); None: none."""
        if not self.candidates:
            return None
        return self.search or SearchConfig()


class MetricConfig(Strict):
    """The primary metric decides; secondary metrics are logged."""

    primary: MetricName = Field(description="Metric that drives decisions.")
    secondary: tuple[MetricName, ...] = Field((), description="Metrics logged alongside.")

    @property
    def greater_is_better(self) -> bool:
        """Direction of the primary metric."""
        return METRICS[self.primary].greater_is_better


# ------------------------------------------------------------------------ drift
class DriftPolicy(Strict):
    """How per-feature drift is measured and when it matters."""

    numeric_method: Literal["wasserstein", "ks", "psi", "jensenshannon"] = Field(
        "wasserstein", description="Evidently stattest for numeric features."
    )
    numeric_threshold: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Effect-size methods: drifted when the score reaches it. ks: the smallest "
        "Kolmogorov-Smirnov D that counts as drift, on top of the FDR-corrected p-value.",
    )
    categorical_method: Literal["jensenshannon", "chisquare", "psi"] = Field(
        "jensenshannon", description="Evidently stattest for categorical features."
    )
    categorical_threshold: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="Effect-size methods: drifted when the score reaches it. chisquare: the "
        "smallest total variation distance between the category shares that counts as "
        "drift, on top of the FDR-corrected p-value.",
    )
    fdr_alpha: float = Field(
        0.05,
        gt=0.0,
        lt=1.0,
        description="Benjamini-Hochberg false discovery rate across the features tested "
        "with p-values (ks, chisquare).",
    )
    domain_classifier: bool = Field(
        True,
        description="Also measure multivariate drift: the cross-validated AUC of a classifier "
        "telling reference rows from batch rows (sees joint shifts per-feature checks miss).",
    )
    domain_auc_limit: float = Field(
        0.65,
        gt=0.5,
        le=1.0,
        description="Domain classifier AUC above which multivariate drift is flagged "
        "(0.5: indistinguishable, 1: fully separable).",
    )
    domain_max_rows: int = Field(
        5000,
        ge=100,
        le=200_000,
        description="Rows sampled from each side for the domain classifier.",
    )
    importance_drift_limit: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="Share of feature importance in drifted features "
        "above which drift alone can trigger a retrain.",
    )
    report_sample_rows: int = Field(
        5000, ge=100, le=1_000_000, description="Rows sampled for the HTML drift report."
    )


# ----------------------------------------------------------------------- retrain
class RetrainPolicy(Strict):
    """When a retrain pays off (docs/design.md, section 4.3)."""

    min_new_labels: int = Field(
        100, ge=1, description="Fewer newly labeled rows than this: skip (no evidence)."
    )
    min_periods_between: int = Field(2, ge=0, description="Cooldown in periods after a retrain.")
    max_decay: float = Field(
        0.10,
        gt=0.0,
        le=10.0,
        description="Relative worsening of the primary metric vs the "
        "champion's reference that triggers a retrain when significant.",
    )
    critical_decay: float = Field(
        0.30,
        gt=0.0,
        le=10.0,
        description="Relative worsening that overrides the cooldown and an exhausted budget "
        "(when its whole interval is also over max_decay).",
    )
    max_age_periods: int = Field(
        52, ge=1, description="A champion trained longer ago than this is refreshed."
    )
    retrain_cost: float = Field(0.0, ge=0.0, description="Cost of one retrain (any currency).")
    error_cost_per_unit: float = Field(
        0.0, ge=0.0, description="Cost of one unit of excess error per row (same currency)."
    )
    horizon_periods: int = Field(
        4, ge=1, description="Periods over which a retrain's saving is counted."
    )
    max_retrains: int = Field(4, ge=1, description="Most retrains within the budget window.")
    budget_window_periods: int = Field(13, ge=1, description="Budget window in periods.")
    window: Literal["expanding", "sliding"] = Field(
        "expanding", description="Training window of a retrain."
    )
    sliding_periods: int = Field(
        6, ge=1, description="Periods in the sliding window (also used after concept drift)."
    )
    sliding_after_concept_drift: bool = Field(
        True, description="Switch to the sliding window when the decay is concept drift."
    )
    holdout_periods: int = Field(
        1, ge=1, description="Most recent labeled periods kept out of training for the gate."
    )
    min_holdout_rows: int = Field(
        0,
        ge=0,
        description="The holdout reaches back over earlier periods of the window until "
        "about this many rows are held out (periods of very unequal size would leave the "
        "gate a handful of rows); 0 keeps exactly holdout_periods.",
    )
    holdout_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Share of the holdout periods' rows kept out (picked "
        "by a hash of the id); the rest trains, so a challenger sees the newest data.",
    )
    bootstrap_samples: int = Field(
        400, ge=50, le=20_000, description="Bootstrap resamples for metric intervals."
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Interval confidence level.")
    estimate_sample_rows: int = Field(
        100_000,
        ge=1_000,
        le=10_000_000,
        description="Most rows a label-free performance estimate is computed on (the batch "
        "just scored, the newly labeled rows): more rows are first sampled uniformly, seeded. "
        "The estimate then carries the sampling noise of that many rows in its interval, "
        "which is wider than the whole set's, never narrower. The record says when a sample "
        "was used. The realized metric always uses every row.",
    )


# --------------------------------------------------------------------- promotion
class PromotionPolicy(Strict):
    """The gate a challenger passes before it becomes champion (docs/design.md, section 4.4)."""

    floor: float | None = Field(
        None,
        description="Optional absolute floor on the primary metric, checked beside the naive "
        "baseline. With no floor and baseline 'none' nothing is promoted (fail-safe). Set it "
        "from what the business needs, not from a whole history file: a floor measured on "
        "all of it uses the future and goes stale when the data shifts.",
    )
    baseline: Literal["naive", "none"] = Field(
        "naive",
        description="'naive': a challenger must score better than the naive baseline "
        "(training-window median for mae/mape, mean for rmse, majority class and class "
        "prior for classification) refit on its own training rows and scored on the same "
        "holdout rows; a baseline that cannot be computed rejects (fail-safe). 'none': only "
        "the floor, if any, bounds the quality.",
    )
    min_improvement: float = Field(
        0.0, ge=0.0, description="Required gain over the champion (see improvement_mode)."
    )
    improvement_mode: Literal["absolute", "relative"] = Field(
        "relative", description="min_improvement as metric units or as a share."
    )
    significance: float = Field(
        0.05, gt=0.0, lt=0.5, description="Paired-bootstrap level for the gain being real."
    )
    bootstrap_samples: int = Field(1000, ge=100, le=50_000, description="Paired resamples.")
    max_segment_regression: float = Field(
        0.10, ge=0.0, description="Largest relative worsening allowed in any segment."
    )
    min_segment_rows: int = Field(
        20, ge=1, description="Segments with fewer holdout rows are not judged."
    )
    max_guardrail_rate: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Largest share of holdout predictions violating guardrails.",
    )
    max_plausible_gain: float = Field(
        0.60,
        gt=0.0,
        le=1.0,
        description="A relative loss reduction above this is "
        "too good to be true (label leakage) and is rejected.",
    )
    max_target_association: float = Field(
        0.99,
        ge=0.5,
        le=1.0,
        description="A numeric feature whose correlation with the target on the holdout "
        "(Pearson or Spearman, in size) reaches this is the target leaking into the inputs "
        "(an off-by-one join, a field filled after the fact): the challenger is rejected.",
    )
    require_approval: bool = Field(False, description="A human approves in the Prefect UI.")
    approval_timeout_seconds: int = Field(3600, ge=1, description="No answer by then means reject.")


# -------------------------------------------------------------------- guardrails
GuardrailAction = Literal["clip", "flag", "quarantine", "fallback"]


class _RuleBase(Strict):
    name: str | None = Field(None, description="Label used in reports; defaults to the kind.")
    action: GuardrailAction = Field(description="What happens to a violating prediction.")

    @property
    def label(self) -> str:
        """Human-readable rule name."""
        return self.name or self.kind  # type: ignore[attr-defined]


class FiniteRule(_RuleBase):
    """Prediction must be a finite number."""

    kind: Literal["finite"] = "finite"
    action: GuardrailAction = "fallback"


class RangeRule(_RuleBase):
    """Prediction must lie within fixed bounds."""

    kind: Literal["range"] = "range"
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("range rule needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("range rule: min is above max")
        return self


class CapColumnRule(_RuleBase):
    """Prediction must not exceed the value of a column (e.g. store capacity)."""

    kind: Literal["cap_column"] = "cap_column"
    column: str


class RatioColumnRule(_RuleBase):
    """Prediction must not exceed ``ratio`` times a column (e.g. last week's sales)."""

    kind: Literal["max_ratio_to_column"] = "max_ratio_to_column"
    column: str
    ratio: float = Field(gt=0.0)
    floor: float = Field(
        0.0, ge=0.0, description="Limit never below this, so a zero column does not block all."
    )


#: Calendar fields an input column can be (``month`` 1-12, ``hour`` 0-23,
#: ``weekday`` 0-6 or 1-7, ``day`` of the month 1-31, ``week`` of the year 0-53,
#: ``quarter`` 1-4, ``season`` 1-4 or 0-3, ``year`` a calendar year or year index).
CalendarField = Literal["month", "hour", "weekday", "day", "week", "quarter", "season", "year"]


class InputRangeRule(_RuleBase):
    """Inputs outside the champion's training range make a prediction suspect.

    A column out of range on a few rows flags those rows (or holds them, as the
    action says). A column out of range on ``batch_share`` of the rows or more, or
    a calendar column out of range on any row, is one finding for the whole batch
    instead: with action ``flag`` its rows are not flagged for it, so it never
    trips the circuit breaker; with ``quarantine`` or ``fallback`` they are still
    held or replaced, as the user chose.
    """

    kind: Literal["input_out_of_range"] = "input_out_of_range"
    action: GuardrailAction = "flag"
    tolerance: float = Field(
        0.0,
        ge=0.0,
        description="Allowed excess as a share of the training range (not applied to "
        "calendar_columns: a month the model never saw is unseen however close it is).",
    )
    batch_share: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Share of a batch's rows outside one column's training range from "
        "which that column is one finding for the batch (its rows, share, training and "
        "batch ranges) instead of a flag on each row. 0.5: a flag singles out the rows a "
        "person should look at; once most rows are out, being out is the batch's normal "
        "(a new season, a level shift) and one sentence says more than a flag on each row. "
        "1.0: only a column out of range on every row.",
    )
    calendar_columns: dict[str, CalendarField] = Field(
        default_factory=dict,
        description="Input columns that are calendar fields, e.g. {mnth: month, hr: hour}. "
        "A value outside the training range there is a part of the calendar the model has "
        "not seen (a new season): judged without tolerance, and any row out makes a "
        "finding for the batch, never a flag on each row.",
    )


class SegmentHistoryCapRule(_RuleBase):
    """Prediction must not exceed ``multiple`` times its segment's highest target in training.

    The caps (e.g. each store's best week) come from the champion's training data;
    a segment the champion never saw has no cap and is not judged.
    """

    kind: Literal["segment_history_cap"] = "segment_history_cap"
    multiple: float = Field(
        gt=0.0, description="Limit as a multiple of the segment's highest training target."
    )


GuardrailRule = Annotated[
    FiniteRule
    | RangeRule
    | CapColumnRule
    | RatioColumnRule
    | InputRangeRule
    | SegmentHistoryCapRule,
    Field(discriminator="kind"),
]


class FallbackConfig(Strict):
    """Value used by the fallback action: a column or a constant."""

    column: str | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _one_source(self) -> FallbackConfig:
        if (self.column is None) == (self.value is None):
            raise ValueError("fallback needs exactly one of column or value")
        return self


class GuardrailPolicy(Strict):
    """Business limits on every prediction (docs/design.md, section 4.5)."""

    rules: tuple[GuardrailRule, ...] = Field((), description="Checked in order.")
    fallback: FallbackConfig | None = Field(None, description="Source of fallback values.")
    max_violation_rate: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Circuit breaker: above this share of rows a rule clipped, replaced or "
        "held (flagged rows too with breaker_counts_flags; non-finite predictions always), "
        "the whole batch is held for review. A batch finding of input_out_of_range never "
        "counts.",
    )
    breaker_counts_flags: bool = Field(
        False,
        description="Count flagged rows towards max_violation_rate. False (the default): a "
        "flag passes its prediction on by the rule's own choice, so flags alone never hold "
        "a batch; set true when many flags in one batch should stop it for review.",
    )

    @model_validator(mode="after")
    def _fallback_present(self) -> GuardrailPolicy:
        if any(r.action == "fallback" for r in self.rules) and self.fallback is None:
            raise ValueError("a rule uses action 'fallback' but no fallback is configured")
        return self


class ReportPolicy(Strict):
    """The cycle report: a self-contained HTML file per cycle for domain experts."""

    cycle_report: bool = Field(
        True,
        description="Write the HTML cycle report after each cycle's decisions are recorded "
        "(logged to MLflow under the decision run, linked from the Prefect artifact).",
    )
    evidently: bool = Field(
        True,
        description="Embed Evidently's data drift report (on a bounded sample; about 1.5 MB "
        "and 1 to 3 s per cycle) in the cycle report.",
    )


class AlertRule(Strict):
    """When a condition of one kind pages a person, and when it is only counted.

    A cause is what the condition is about: one guardrail ``rule:action`` for a
    breach, one input column for an input-range finding. Every condition is
    counted in the cycle's record whether it raises an alert or not.
    """

    mode: Literal["immediate", "threshold", "digest"] = Field(
        "threshold",
        description="immediate: every condition raises an alert. threshold: a cause raises "
        "when it is new (new_cause) or when its rate or count reaches min_rate or min_count, "
        "each of the two at most once per min_periods_between periods; otherwise it is "
        "muted and counted. "
        "digest: conditions are collected and sent as one digest every "
        "digest_every_periods periods. A circuit-breaker trip (the whole batch held) "
        "raises in every mode.",
    )
    min_rate: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="threshold mode: a cause whose rows are at least this share of the "
        "batch's rows raises (again). A share, so it holds for batches of any size.",
    )
    min_count: int | None = Field(
        None,
        ge=1,
        description="threshold mode: a cause with at least this many rows raises (again) "
        "whatever the share; None: the share alone decides.",
    )
    new_cause: bool = Field(
        True,
        description="threshold mode: a cause not already open (never alerted, or resolved "
        "since) raises even below min_rate and min_count: something new happened.",
    )
    min_periods_between: int = Field(
        4,
        ge=0,
        le=520,
        description="threshold mode: per cause, at most one alert for being new and one for "
        "crossing the threshold within this many periods (0: no limit); a condition in "
        "between is muted and counted. A crossing after an alert on a new cause still "
        "alerts: the small first one does not mute the one that matters.",
    )
    resolve_after: int = Field(
        4,
        ge=1,
        le=52,
        description="An alerted cause absent from this many measured cycles in a row is "
        "resolved: a resolved message is sent and a later return is new again. As long as "
        "min_periods_between by default, so a cause that comes and goes every few periods "
        "stays one open alert instead of a raise and a resolve each time.",
    )
    digest_every_periods: int = Field(
        4,
        ge=1,
        le=520,
        description="digest mode: the conditions collected are sent as one digest once "
        "this many periods have passed since the first of them.",
    )


class AlertPolicy(Strict):
    """Which cycle conditions page a person (docs/design.md, section on alerts).

    A quarantined batch, a quarantined label file, a suspected leak, a promotion
    and a rollback always alert immediately; they are not configured here.
    """

    guardrail_breach: AlertRule = Field(
        default_factory=AlertRule,
        description="Predictions a guardrail rule clipped, replaced, flagged or held; one "
        "cause per rule:action.",
    )
    guardrail_finding: AlertRule = Field(
        default_factory=AlertRule,
        description="A batch whose inputs lie outside the champion's training range as a "
        "whole; one cause per column.",
    )


# ----------------------------------------------------------------------- use case
class LabelPolicy(Strict):
    """How the label gate treats a label file (see ``mlops_core.label_gate``)."""

    max_bad_row_share: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="A label file whose malformed rows (no id, a target that is not a "
        "number, a target outside labels.target_min/target_max, a misspelled class, ids "
        "with conflicting targets) exceed this share "
        "of its rows is quarantined whole; below it they are left out and counted.",
    )
    corrections: Literal["apply", "refuse"] = Field(
        "apply",
        description="A later label file that changes an id's label: apply (the new label "
        "wins; the ids are recorded in the label ledger) or refuse (the earlier label "
        "stays; the rows are left out and counted).",
    )
    target_min: float | None = Field(
        None,
        allow_inf_nan=False,
        description="Smallest possible regression target, inclusive (0 for a count or an "
        "amount that is never negative). A label below it is a malformed row "
        "(target_out_of_range). Set a physical or business bound, never the smallest "
        "value seen: a true label may lie beyond what the history showed. None: no rule.",
    )
    target_max: float | None = Field(
        None,
        allow_inf_nan=False,
        description="Largest possible regression target, inclusive (1 for a share). A label "
        "above it is a malformed row (target_out_of_range). Only a physical or business "
        "bound, never the largest value seen (demand grows, a record week is real). "
        "None: no rule.",
    )
    target_classes: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Known classes of a classification target, as text (an integer class 1 "
        "is '1'). A label whose class differs from a known one only in case or surrounding "
        "spaces ('up ' for 'UP') is a misspelling: a malformed row "
        "(target_class_misspelled), left out. Any other class not listed is kept and "
        "counted (target_new_class): a class the model never saw is real data under label "
        "shift, and leaving it out would hide exactly the rows the model gets wrong. "
        "None: no rule.",
    )

    @field_validator("target_classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: Any) -> Any:
        # YAML reads [0, 1] as numbers; a class is compared as text ('1', not 1.0).
        if isinstance(value, list | tuple):
            return tuple(_number_as_class(v) for v in value)
        return value

    @model_validator(mode="after")
    def _target_rules_consistent(self) -> LabelPolicy:
        if (
            self.target_min is not None
            and self.target_max is not None
            and self.target_min > self.target_max
        ):
            raise _KeyedValueError(
                "labels.target_min",
                f"target_min {self.target_min:g} is above target_max {self.target_max:g}",
            )
        if self.target_classes is not None:
            keys = [class_key(c) for c in self.target_classes]
            twins = sorted(
                {c for c, k in zip(self.target_classes, keys, strict=True) if keys.count(k) > 1}
            )
            if twins:
                raise _KeyedValueError(
                    "labels.target_classes",
                    f"classes equal up to case or spaces: {', '.join(map(repr, twins))} "
                    "(a label could not tell them apart from a misspelling)",
                )
        return self


def _number_as_class(value: Any) -> Any:
    """A class YAML read as a number, as text: 1 and 1.0 are '1'; anything else as is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


def class_key(value: str) -> str:
    """A class as compared for misspellings: surrounding spaces and case ignored.

    Args:
        value: A class as text.

    Returns:
        The text stripped and case-folded (``' Up'`` and ``'UP'`` give ``'up'``).
    """
    return value.strip().casefold()


class UseCase(Strict):
    """One model in production, as described by its use-case file."""

    name: str = Field(pattern=_NAME_PATTERN, description="Use-case id; names MLflow objects.")
    description: str = Field("", description="What the model is for, in plain language.")
    data: DataConfig
    contract: ContractConfig
    model: ModelConfig
    metric: MetricConfig
    drift: DriftPolicy = Field(default_factory=DriftPolicy)
    labels: LabelPolicy = Field(default_factory=LabelPolicy)
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    promotion: PromotionPolicy = Field(default_factory=PromotionPolicy)
    guardrails: GuardrailPolicy = Field(default_factory=GuardrailPolicy)
    report: ReportPolicy = Field(default_factory=ReportPolicy)
    alerts: AlertPolicy = Field(default_factory=AlertPolicy)

    @model_validator(mode="after")
    def _columns_defined(self) -> UseCase:
        known = {c.name for c in self.contract.columns}
        roles = {
            "data.id_column": self.data.id_column,
            "data.time_column": self.data.time_column,
            "data.segment_column": self.data.segment_column,
        }
        for key, col in roles.items():
            if col is not None and col not in known:
                raise _KeyedValueError(key, f"column {col!r} is not defined in the contract")
        if self.data.target_column in known:
            raise _KeyedValueError(
                "data.target_column",
                f"target {self.data.target_column!r} must not be a contract column "
                "(batches arrive without it)",
            )
        for i, rule in enumerate(self.guardrails.rules):
            if self.model.task == "classification" and rule.kind in (
                "range",
                "cap_column",
                "max_ratio_to_column",
                "segment_history_cap",
            ):
                raise _KeyedValueError(
                    f"guardrails.rules.{i}.kind",
                    f"{rule.kind!r} limits a predicted value; a classifier predicts a class",
                )
            if rule.kind == "segment_history_cap" and self.data.segment_column is None:
                raise _KeyedValueError(
                    f"guardrails.rules.{i}.kind",
                    "'segment_history_cap' needs data.segment_column (the caps are per segment)",
                )
            col = getattr(rule, "column", None)
            if col is not None and col not in known:
                raise _KeyedValueError(
                    f"guardrails.rules.{i}.column", f"column {col!r} is not defined in the contract"
                )
            for col in getattr(rule, "calendar_columns", {}):
                spec = self.contract.column(col)
                if spec is None or spec.type not in ("integer", "numeric"):
                    raise _KeyedValueError(
                        f"guardrails.rules.{i}.calendar_columns",
                        f"column {col!r} is not a numeric column of the contract",
                    )
        fb = self.guardrails.fallback
        if fb is not None and fb.column is not None and fb.column not in known:
            raise _KeyedValueError(
                "guardrails.fallback.column", f"column {fb.column!r} is not defined in the contract"
            )
        if not self.contract.feature_names:
            raise _KeyedValueError("contract.columns", "no column is marked as a feature")
        if self.model.per_segment and (
            self.data.segment_column is None
            or self.data.segment_column not in self.contract.feature_names
        ):
            raise _KeyedValueError(
                "model.per_segment",
                "per-segment models need data.segment_column, and it must be a feature "
                "(rows are routed to their segment's model by it)",
            )
        task = self.model.task
        if task == "classification":
            for key in ("target_min", "target_max"):
                if getattr(self.labels, key) is not None:
                    raise _KeyedValueError(
                        f"labels.{key}", "a range limits a number; a classifier's target is a class"
                    )
        elif self.labels.target_classes is not None:
            raise _KeyedValueError(
                "labels.target_classes", "classes apply to a classification target"
            )
        for key, name in [("metric.primary", self.metric.primary)] + [
            (f"metric.secondary.{i}", m) for i, m in enumerate(self.metric.secondary)
        ]:
            if METRICS[name].task != task:
                raise _KeyedValueError(key, f"metric {name!r} does not apply to a {task} model")
        return self

    @property
    def registered_model_name(self) -> str:
        """Name of the MLflow registered model."""
        return self.name

    @property
    def experiment_name(self) -> str:
        """MLflow experiment holding training runs."""
        return self.name

    @property
    def decisions_experiment_name(self) -> str:
        """MLflow experiment holding one run per decision."""
        return f"{self.name}-decisions"

    @property
    def monitoring_experiment_name(self) -> str:
        """MLflow experiment holding the use case's monitoring run (one point per period)."""
        return f"{self.name}-monitoring"


# ----------------------------------------------------------------------- parsing
class _KeyedValueError(ValueError):
    """A cross-field error that knows which key it belongs to."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class UseCaseError(ValueError):
    """A use-case file is invalid; ``str()`` is the one line to show the user."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        super().__init__(f"{source}: {key}: {message}")


def _format_loc(loc: tuple[Any, ...]) -> str:
    # Pydantic puts the discriminator tag into the location of union members
    # ("guardrails.rules.0.cap_column.column"); drop it so the key is the one the user wrote.
    parts = [str(p) for p in loc]
    tags = {
        "finite",
        "range",
        "cap_column",
        "max_ratio_to_column",
        "input_out_of_range",
        "segment_history_cap",
        "value_list",
        "value_range",
    }
    return ".".join(p for p in parts if p not in tags) or "(root)"


def _explain(err: dict[str, Any]) -> tuple[str, str]:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _KeyedValueError):
        return ctx_error.key, ctx_error.message
    key = _format_loc(loc)
    if kind == "extra_forbidden":
        return key, "unknown key"
    if kind == "missing":
        return key, "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = re.sub(r"^Value error, ", "", msg)
    inp = err.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error":
        return key, f"{msg} (got {inp!r})"
    return key, msg


def parse_usecase(raw: Mapping[str, Any] | Any, source: str) -> UseCase:
    """Validate a loaded use-case mapping.

    Args:
        raw: The mapping loaded from YAML.
        source: Name of the file it came from; used in error messages.

    Returns:
        The frozen, validated use case.

    Raises:
        UseCaseError: With the file, the first offending key and what is wrong.
    """
    if not isinstance(raw, Mapping):
        raise UseCaseError(source, "(root)", "the file must hold a mapping of keys")
    try:
        return UseCase.model_validate(dict(raw))
    except ValidationError as exc:
        key, message = _explain(exc.errors()[0])
        raise UseCaseError(source, key, message) from None

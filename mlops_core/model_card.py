"""The model card of a promoted version: what it learnt from, how it compares, where it is weak.

Built from typed facts only (the version's training profile, the promotion
decision with its evidence, the drift seen when it was trained, the use case's
contract), so the words cannot contradict the numbers. The caller publishes
the markdown as the registry version's description and as an artifact of the
training run.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import Field

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary, PromotionDecision, Reason, Value
from mlops_core.features import numeric_features
from mlops_core.formatting import PRECISE, number
from mlops_core.metrics import METRICS, worsening
from mlops_core.reasons import ReasonCode
from mlops_core.report import reasons_table
from mlops_core.sentences import MAX_LISTED, reason


class ModelCardInputs(Value):
    """Everything a model card says, gathered by the caller from the registry and the record."""

    usecase: str
    description: str = Field("", description="What the model is for, from the use case.")
    model_name: str = Field(description="Registered model name.")
    version: str = Field(description="The promoted version.")
    run_id: str = Field(description="Its training run.")
    previous_version: str | None = Field(description="The champion it replaced; None if first.")
    promoted_at: datetime | None = Field(None, description="When it became champion.")
    estimator: str = Field(description="Import path of the estimator class.")
    task: Literal["regression", "classification"]
    metric: str = Field(description="The primary metric.")
    window_kind: str | None = Field(None, description="expanding or sliding.")
    trained_first_period: int | None = Field(description="None: from the first period.")
    trained_last_period: int
    train_rows: int = Field(ge=0)
    holdout_metrics: dict[str, float] = Field(
        description="The version's metrics on the holdout it did not train on (primary and "
        "secondary); the previous champion was measured on the primary only."
    )
    promotion: PromotionDecision = Field(description="The gate's decision with its evidence.")
    importance: dict[str, float] = Field(description="Normalised permutation importance.")
    training_ranges: dict[str, tuple[float, float]] = Field(
        description="(min, max) of each numeric feature in the training rows."
    )
    contract_ranges: dict[str, tuple[float | None, float | None]] = Field(
        description="(min, max) the contract accepts for each numeric feature (None: unbounded)."
    )
    segment_column: str | None = None
    segment_rows: dict[str, int] = Field(
        default_factory=dict, description="Training rows per segment; empty when not known."
    )
    few_segment_rows: int = Field(
        30, ge=1, description="A segment with fewer training rows is listed as a limit."
    )
    gate_min_segment_rows: int = Field(
        20, ge=1, description="Segments with fewer holdout rows were not compared at the gate."
    )
    drift_at_training: DriftSummary | None = Field(
        None, description="Drift of the batch whose cycle trained the version."
    )
    input_range_tolerance: float | None = Field(
        None,
        description="Tolerance of the input_out_of_range guardrail; None when the use case "
        "has no such rule (inputs outside the training range then pass unflagged).",
    )
    estimator_note: str | None = Field(
        None, description="Label-free performance estimator: its method, or 'none: why'."
    )
    inputs: tuple[str, ...] = Field(
        (), description="The version's input columns (empty when not known)."
    )
    previous_inputs: tuple[str, ...] | None = Field(
        None, description="The input columns of the champion it replaced; None when none."
    )


def card_facts(usecase: UseCase) -> dict[str, object]:
    """The fields of :class:`ModelCardInputs` that come from the use case alone."""
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for name in numeric_features(usecase):
        column = usecase.contract.column(name)
        if column is not None:
            ranges[name] = (column.min, column.max)
    input_rules = [r for r in usecase.guardrails.rules if r.kind == "input_out_of_range"]
    return {
        "usecase": usecase.name,
        "description": usecase.description,
        "model_name": usecase.registered_model_name,
        "task": usecase.model.task,
        "metric": usecase.metric.primary,
        "contract_ranges": ranges,
        "segment_column": usecase.data.segment_column,
        "few_segment_rows": usecase.model.min_segment_rows,
        "gate_min_segment_rows": usecase.promotion.min_segment_rows,
        "input_range_tolerance": getattr(input_rules[0], "tolerance", None)
        if input_rules
        else None,
    }


def _direction(metric: str) -> str:
    return "higher is better" if METRICS[metric].greater_is_better else "lower is better"


def _range(low: float | None, high: float | None) -> str:
    lo = "-inf" if low is None else number(low, PRECISE)
    hi = "+inf" if high is None else number(high, PRECISE)
    return f"{lo} to {hi}"


def known_limits(inputs: ModelCardInputs) -> tuple[Reason, ...]:
    """What a user of this version should know it cannot do well, each with its numbers.

    Always the metric's direction and the leak check; then, when they apply: no
    previous champion to compare with, secondary metrics not compared, segments
    with few training rows, segments the gate could not compare, features
    drifted when the version was trained, numeric inputs the contract accepts
    beyond the trained range (extrapolation), no label-free estimator.
    """
    limits: list[Reason] = []
    metric = inputs.metric
    spec = METRICS[metric]
    limits.append(
        reason(
            ReasonCode.METRIC_DIRECTION,
            {"metric": metric, "greater_is_better": str(spec.greater_is_better)},
            description=spec.description,
        )
    )
    promo = inputs.promotion
    leak = next(
        (
            r
            for r in promo.reasons
            if r.code in (ReasonCode.NO_TARGET_LEAK, ReasonCode.TARGET_LEAK_SUSPECTED)
        ),
        None,
    )
    if leak is not None:
        limits.append(
            reason(ReasonCode.LEAK_CHECK, dict(leak.numbers), passed=leak.passed, check=leak)
        )
    else:
        limits.append(reason(ReasonCode.LEAK_CHECK, passed=None, check=None))
    if promo.inputs.champion_metric is None:
        limits.append(
            reason(
                ReasonCode.FIRST_CHAMPION,
                metric=metric,
                baseline=promo.inputs.baseline_metric,
                baseline_kind=promo.inputs.baseline,
            )
        )
    secondary = sorted(k for k in inputs.holdout_metrics if k != metric)
    if secondary and promo.inputs.champion_metric is not None:
        limits.append(
            reason(
                ReasonCode.SECONDARY_NOT_COMPARED,
                {"metrics": ", ".join(secondary)},
                metric=metric,
            )
        )
    if inputs.segment_column is not None:
        few = sorted(
            (rows, seg)
            for seg, rows in inputs.segment_rows.items()
            if rows < inputs.few_segment_rows
        )
        if few:
            limits.append(
                reason(
                    ReasonCode.FEW_ROWS_SEGMENTS,
                    {"segments": len(few), "min_rows": inputs.few_segment_rows},
                    segment_column=inputs.segment_column,
                    few=few,
                )
            )
        compared = {s.segment for s in promo.inputs.segments}
        unjudged = sorted(seg for seg in inputs.segment_rows if seg not in compared)
        if unjudged and promo.inputs.champion_metric is not None:
            limits.append(
                reason(
                    ReasonCode.SEGMENTS_NOT_COMPARED,
                    {
                        "segments": len(unjudged),
                        "min_holdout_rows": inputs.gate_min_segment_rows,
                    },
                    segment_column=inputs.segment_column,
                    unjudged=unjudged,
                )
            )
        if not inputs.segment_rows:
            limits.append(
                reason(ReasonCode.SEGMENT_ROWS_UNKNOWN, segment_column=inputs.segment_column)
            )
    drift = inputs.drift_at_training
    if drift is not None and drift.drifted_features:
        limits.append(
            reason(
                ReasonCode.DRIFTED_AT_TRAINING,
                {
                    "features": len(drift.drifted_features),
                    "importance_weighted_share": drift.importance_weighted_share,
                },
                features=list(drift.drifted_features),
            )
        )
    wider = []
    for feature, (lo, hi) in sorted(inputs.training_ranges.items()):
        c_lo, c_hi = inputs.contract_ranges.get(feature, (None, None))
        if (c_lo is None or c_lo < lo) or (c_hi is None or c_hi > hi):
            wider.append((feature, lo, hi, c_lo, c_hi))
    if wider:
        limits.append(
            reason(
                ReasonCode.EXTRAPOLATION,
                {"features": len(wider)},
                wider=wider,
                tolerance=inputs.input_range_tolerance,
            )
        )
    note = inputs.estimator_note
    if note is not None and note.startswith("none"):
        limits.append(reason(ReasonCode.NO_LABEL_FREE_ESTIMATE, note=note))
    return tuple(limits)


def _comparison_rows(inputs: ModelCardInputs) -> list[str]:
    promo = inputs.promotion.inputs
    previous = f"version {inputs.previous_version}" if inputs.previous_version else "none"
    rows = [
        f"| metric | direction | this version | previous champion ({previous}) | change |",
        "|---|---|---|---|---|",
    ]
    mine = promo.challenger_metric
    theirs = promo.champion_metric
    change = "-"
    if theirs is not None and math.isfinite(mine) and math.isfinite(theirs):
        rel = worsening(inputs.metric, theirs, mine)
        change = f"{abs(rel):.1%} {'worse' if rel > 0 else 'better'}"
    rows.append(
        f"| {inputs.metric} | {_direction(inputs.metric)} | {number(mine, PRECISE)} | "
        f"{number(theirs, PRECISE) if theirs is not None else '-'} | {change} |"
    )
    for name, value in sorted(inputs.holdout_metrics.items()):
        if name == inputs.metric or name not in METRICS:
            continue
        rows.append(
            f"| {name} | {_direction(name)} | {number(value, PRECISE)} | not measured | - |"
        )
    return rows


def inputs_lines(inputs: ModelCardInputs) -> list[str]:
    """The version's inputs and, against the champion it replaced, those gained and lost.

    A contract change (``mlops_core.schema_change``) takes effect at a retrain:
    this is where a reader sees which version first read a new column.
    """
    if not inputs.inputs:
        return []
    lines = [f"{len(inputs.inputs)} columns: {', '.join(inputs.inputs)}."]
    if inputs.previous_inputs is not None and inputs.previous_version is not None:
        gained = [c for c in inputs.inputs if c not in inputs.previous_inputs]
        lost = [c for c in inputs.previous_inputs if c not in inputs.inputs]
        was = f"version {inputs.previous_version}"
        if not gained and not lost:
            lines.append(f"The same inputs as {was}.")
        else:
            if gained:
                lines.append(f"New since {was}: {', '.join(gained)}.")
            if lost:
                lines.append(f"Read by {was}, not by this version: {', '.join(lost)}.")
    return lines


def model_card_markdown(inputs: ModelCardInputs) -> str:
    """The model card as markdown (registry version description, ``model_card.md``)."""
    promo = inputs.promotion
    p = promo.inputs
    first = "the first" if inputs.trained_first_period is None else inputs.trained_first_period
    window = f"periods {first} to {inputs.trained_last_period}" + (
        f" ({inputs.window_kind} window)" if inputs.window_kind else ""
    )
    if p.approval == "approved" and p.approver:
        by = f"approved by {p.approver}" + (
            f' ("{p.approval_comment}")' if p.approval_comment else ""
        )
    else:
        by = "the promotion gate"
    replaced = (
        f"version {inputs.previous_version}" if inputs.previous_version else "none (first champion)"
    )
    promoted = inputs.promoted_at.isoformat() if inputs.promoted_at else "-"
    lines = [f"# Model card: {inputs.model_name} version {inputs.version}", ""]
    if inputs.description.strip():
        lines += [inputs.description.strip(), ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| estimator | {inputs.estimator.rsplit('.', 1)[-1]} (`{inputs.estimator}`) |",
        f"| training window | {window} |",
        f"| training rows | {inputs.train_rows:,} |",
        f"| holdout rows (not trained on; the gate compared on them) | {p.holdout_rows:,} |",
        f"| replaced | {replaced} |",
        f"| promoted | {promoted}, by {by} |",
        f"| training run | `{inputs.run_id}` |",
        "",
        "## Metrics on the shared holdout",
        "",
        *_comparison_rows(inputs),
    ]
    if p.p_value is not None:
        lines += [
            "",
            f"Paired bootstrap over {p.holdout_rows:,} rows: mean loss reduction "
            f"{number(p.loss_difference_mean, PRECISE)} per row (interval "
            f"{number(p.loss_difference_low, PRECISE)} to "
            f"{number(p.loss_difference_high, PRECISE)}), p = {p.p_value:.3g}.",
        ]
    if p.segments:
        lines += [
            "",
            f"Per {inputs.segment_column or 'segment'} ({inputs.metric}, holdout rows):",
            "",
            "| segment | rows | this version | previous champion | change |",
            "|---|---|---|---|---|",
        ]
        for s in sorted(p.segments, key=lambda s: -s.worsening):
            lines.append(
                f"| {s.segment} | {s.rows:,} | {number(s.challenger, PRECISE)} | "
                f"{number(s.champion, PRECISE)} | "
                f"{abs(s.worsening):.1%} {'worse' if s.worsening > 0 else 'better'} |"
            )
    read = inputs_lines(inputs)
    if read:
        lines += ["", "## Inputs", "", " ".join(read)]
    lines += ["", f"## Promotion gate: `{promo.action}`", "", reasons_table(promo.reasons)]
    lines += ["", "## Known limits", ""]
    lines += [f"- **{r.code}**: {r.message}" for r in known_limits(inputs)]
    if inputs.importance:
        lines += [
            "",
            "## What it relies on",
            "",
            "| feature | importance | trained range |",
            "|---|---|---|",
        ]
        ranked = sorted(inputs.importance.items(), key=lambda kv: -kv[1])[:MAX_LISTED]
        for feature, weight in ranked:
            trained = inputs.training_ranges.get(feature)
            shown = _range(*trained) if trained else "(categories)"
            lines.append(f"| {feature} | {weight:.1%} | {shown} |")
    return "\n".join(lines) + "\n"

"""Plain-language text generated from decision values.

Every sentence here is built from the fields of a decision, so the words can
never contradict the numbers: there is no free template text about outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlops_core.decisions import (
    DriftSummary,
    GateDecision,
    GuardrailSummary,
    PerformanceSummary,
    PromotionDecision,
    Reason,
    RetrainDecision,
)
from mlops_core.metrics import METRICS


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


@dataclass(frozen=True)
class CycleOutcome:
    """Everything one monitor cycle decided, for the summary and the record."""

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


def performance_sentence(perf: PerformanceSummary | None) -> str | None:
    """How the model did on the labels that arrived, in words."""
    if perf is None or perf.realized is None:
        return None
    spec = METRICS[perf.metric]
    r = perf.realized
    decay = perf.decay or 0.0
    direction = "worse" if decay > 0 else "better"
    significant = perf.decay_low is not None and perf.decay_low > 0
    noise = "clearly beyond normal variation" if significant else "within normal variation"
    return (
        f"On {r.rows:,} newly labeled rows the model's {spec.description} was "
        f"{_num(r.value)} against {_num(perf.reference)} when it was trained "
        f"({_pct(abs(decay))} {direction}, {noise})."
    )


def attribution_sentence(perf: PerformanceSummary | None, cause: str) -> str | None:
    """Why the model got worse: the inputs moved (covariate shift) or the relationship
    changed (concept drift), judged against the label-free estimate."""
    if perf is None or perf.realized is None or perf.decay_low is None or perf.decay_low <= 0:
        return None
    spec = METRICS[perf.metric]
    if perf.estimated is None:
        return (
            "No label-free estimate was available, so it is not known whether the inputs "
            "moved or the relationship changed."
        )
    expected = (
        f"{_num(perf.estimated)} (between {_num(perf.estimated_low)} and "
        f"{_num(perf.estimated_high)})"
    )
    if cause == "concept_drift":
        return (
            f"Had the relationship between inputs and outcome stayed the same, the "
            f"{spec.description} would have been about {expected}; it was "
            f"{_num(perf.realized.value)}, so the relationship itself changed "
            f"(concept drift)."
        )
    if cause == "covariate_shift":
        return (
            f"The inputs moved into harder cases: with the relationship unchanged we "
            f"expected a {spec.description} of {expected}, which explains the "
            f"{_num(perf.realized.value)} seen (covariate shift)."
        )
    return None


def estimate_sentence(perf: PerformanceSummary | None) -> str | None:
    """The early, label-free estimate for the batch just scored."""
    if perf is None or perf.current_estimate is None:
        return None
    e = perf.current_estimate
    spec = METRICS[perf.metric]
    return (
        f"For the {e.rows:,} rows just scored, before their labels arrive, the expected "
        f"{spec.description} is {_num(e.value)} (between {_num(e.low)} and {_num(e.high)}; "
        f"{_num(perf.reference)} at training)."
    )


def drift_sentence(drift: DriftSummary | None) -> str | None:
    """Which inputs moved and whether they matter to the model."""
    if drift is None:
        return None
    n = len(drift.features)
    names = drift.drifted_features
    joint = ""
    if drift.multivariate_drift and drift.domain_auc is not None:
        joint = (
            f" Taken together, the new rows can be told apart from the training data "
            f"(classifier AUC {drift.domain_auc:.2f})."
        )
    if not names:
        return f"None of the {n} inputs changed noticeably on its own.{joint}"
    shown = ", ".join(names[:3]) + (" and others" if len(names) > 3 else "")
    return (
        f"{len(names)} of {n} inputs changed ({shown}); they carry "
        f"{_pct(drift.importance_weighted_share)} of what the model relies on.{joint}"
    )


def guardrail_sentence(g: GuardrailSummary | None) -> str | None:
    """What the business limits did to this batch's predictions."""
    if g is None:
        return None
    if g.breaker_tripped:
        return (
            f"{_pct(g.violation_rate)} of the forecasts broke business limits, so the whole "
            f"batch of {g.rows:,} was held for review instead of being sent."
        )
    if g.violating_rows == 0:
        return f"All {g.rows:,} forecasts were within business limits."
    held = f"; {g.held_rows:,} held for review" if g.held_rows else ""
    return (
        f"{g.violating_rows:,} of {g.rows:,} forecasts were adjusted or flagged by "
        f"business limits{held}."
    )


def retrain_sentence(d: RetrainDecision) -> str:
    """The retrain decision and its deciding reason."""
    head = {
        "block": "Nothing was retrained",
        "skip": "We kept the current model",
        "train": "A first model was trained",
        "retrain": "A new candidate model was trained",
    }[d.action]
    why = d.reasons[0].message if d.reasons else ""
    return f"{head}: {why}" if why else f"{head}."


def promotion_sentence(p: PromotionDecision, challenger_version: str | None) -> str:
    """Whether the candidate replaced the model in production, and why."""
    v = f" (version {challenger_version})" if challenger_version else ""
    if p.action == "promote":
        return f"The candidate{v} passed every check and now makes the forecasts."
    if p.action == "await_approval":
        return f"The candidate{v} passed every automatic check and waits for approval."
    failed = [r for r in p.reasons if r.passed is False]
    why = failed[0].message if failed else "a check failed"
    return f"The candidate{v} was not put in production: {why}"


def cycle_summary(o: CycleOutcome) -> str:
    """The plain-language summary of one cycle, built only from its decisions."""
    parts = [gate_sentence(o.gate)]
    if o.gate.action == "pass":
        cause = o.retrain.inputs.decay_cause if o.retrain is not None else "unknown"
        for s in (
            performance_sentence(o.performance),
            attribution_sentence(o.performance, cause),
            estimate_sentence(o.performance),
            drift_sentence(o.drift),
            guardrail_sentence(o.guardrails),
        ):
            if s:
                parts.append(s)
        if o.retrain is not None:
            parts.append(retrain_sentence(o.retrain))
        if o.promotion is not None:
            parts.append(promotion_sentence(o.promotion, o.challenger_version))
    return " ".join(p if p.endswith(".") else p + "." for p in parts)


def reasons_table(reasons: Sequence[Reason]) -> str:
    """Markdown table of reasons: check, outcome, explanation."""
    rows = ["| check | outcome | explanation |", "|---|---|---|"]
    for r in reasons:
        outcome = {True: "pass", False: "fail", None: "-"}[r.passed]
        rows.append(f"| `{r.code}` | {outcome} | {r.message.replace('|', '/')} |")
    return "\n".join(rows)


def _performance_table(o: CycleOutcome) -> list[str]:
    p = o.performance
    assert p is not None
    rows = [
        "| what | rows | value | interval |",
        "|---|---|---|---|",
        f"| reference ({p.metric} on the champion's holdout) | - | {_num(p.reference)} | - |",
    ]
    if p.realized is not None:
        r = p.realized
        rows.append(
            f"| realized on newly labeled rows (decay {_pct(p.decay or 0)}) | {r.rows} | "
            f"{_num(r.value)} | [{_num(r.low)}, {_num(r.high)}] |"
        )
    if p.estimated is not None:
        rows.append(
            f"| estimated on the same rows, relationship unchanged ({p.estimate_method}) "
            f"| {p.new_labeled_rows} | {_num(p.estimated)} | "
            f"[{_num(p.estimated_low)}, {_num(p.estimated_high)}] |"
        )
    if p.current_estimate is not None:
        e = p.current_estimate
        rows.append(
            f"| estimated on the batch just scored (no labels yet) | {e.rows} | "
            f"{_num(e.value)} | [{_num(e.low)}, {_num(e.high)}] |"
        )
    cause = o.retrain.inputs.decay_cause if o.retrain is not None else "unknown"
    attribution = attribution_sentence(p, cause)
    if attribution:
        rows += ["", f"**Attribution.** {attribution}"]
    return rows


def cycle_markdown(o: CycleOutcome, usecase_name: str) -> str:
    """The decision record of a cycle as markdown (MLflow artifact, Prefect artifact)."""
    lines = [f"# {usecase_name}: period {o.period}", "", f"**Summary.** {cycle_summary(o)}", ""]
    lines += [
        f"- batch: `{o.batch}` ({o.gate.rows:,} rows, sha256 `{o.gate.batch_sha256[:12]}`)",
        f"- champion version: {o.champion_version or 'none'}",
    ]
    if o.challenger_version:
        lines.append(f"- challenger version: {o.challenger_version}")
    lines += ["", "## Validation", "", reasons_table(o.gate.reasons)]
    if o.performance is not None:
        lines += ["", "## Performance", "", *_performance_table(o)]
    if o.drift is not None:
        lines += [
            "",
            "## Drift",
            "",
            f"Drift share {_pct(o.drift.drift_share)}, "
            f"importance-weighted {_pct(o.drift.importance_weighted_share)}"
            + (
                f", prediction drift {_num(o.drift.prediction_drift)}"
                if o.drift.prediction_drift is not None
                else ""
            )
            + (
                f", domain classifier AUC {_num(o.drift.domain_auc)}"
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
                f"| {f.feature} | {f.method} | {_num(f.score)} | {_num(f.threshold)} | "
                f"{'yes' if f.drifted else 'no'} | {_pct(f.importance)} |"
            )
    if o.guardrails is not None:
        g = o.guardrails
        lines += ["", "## Guardrails", "", guardrail_sentence(g) or ""]
        if g.actions:
            lines += ["", "| rule:action | rows |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(g.actions.items())]
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

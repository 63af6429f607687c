"""The use case's own words for the summary (:class:`Wording`), and the text
helpers the sentences share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlops_core.config import UseCase
from mlops_core.formatting import count
from mlops_core.metrics import METRICS
from mlops_core.periods import PeriodUnit, period_label


def float_of(numbers: Mapping[str, float | int | str | None], key: str) -> float | None:
    """A reason's number as a float; None when it is missing or not a number."""
    value = numbers.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def int_of(numbers: Mapping[str, float | int | str | None], key: str) -> int | None:
    """A reason's number as an int; None when it is missing or not a number."""
    value = float_of(numbers, key)
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

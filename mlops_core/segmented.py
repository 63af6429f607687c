"""Per-segment models: one pipeline per segment (e.g. per store), one for the rest.

With ``model.per_segment`` a use case trains one copy of its pipeline per value
of ``data.segment_column`` that has at least ``model.min_segment_rows`` training
rows, and one on every training row (the fallback, which serves segments with
too little history or never seen). :class:`SegmentedModel` routes each row to
its segment's pipeline, so the rest of the product (evaluation, guardrails,
importance, the registry) sees one model.

The fits are independent: :func:`segment_jobs` lists them and the caller maps a
fit function over them, sequentially here or through a flow's task runner
(threads, or Dask workers) in ``tasks.steps``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

#: Name of the job that trains on every row.
FALLBACK = "__all__"


@dataclass(frozen=True)
class SegmentJob:
    """One independent fit: a segment's training rows (or all of them, for the fallback)."""

    segment: str
    features: pd.DataFrame
    target: np.ndarray


def segment_keys(values: Any) -> np.ndarray:
    """Segment values as the text keys models are stored under (``3`` and ``"3"`` agree)."""
    series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    return series.map(lambda v: "" if v is None or v != v else str(v)).to_numpy(dtype=object)


def segment_jobs(
    features: pd.DataFrame,
    target: Any,
    segment_column: str,
    min_rows: int,
    *,
    classification: bool = False,
) -> list[SegmentJob]:
    """The fits of a per-segment model: the fallback first, then every segment with enough rows.

    Args:
        features: Model input of the training rows (holds ``segment_column``).
        target: Their target values.
        segment_column: The column whose values are the segments.
        min_rows: Fewest training rows for a segment to get its own model.
        classification: The target is a class: a segment that saw one class only
            has nothing to learn and is left to the fallback.

    Returns:
        The jobs, fallback first, segments in sorted order (stable across runs).
    """
    y = np.asarray(target)
    keys = segment_keys(features[segment_column])
    jobs = [SegmentJob(FALLBACK, features, y)]
    for key in sorted(set(keys.tolist())):
        rows = keys == key
        if int(rows.sum()) < min_rows:
            continue
        if classification and np.unique(y[rows].astype(str)).size < 2:
            continue
        jobs.append(SegmentJob(key, features.loc[rows], y[rows]))
    return jobs


class SegmentedModel(BaseEstimator):
    """Routes each row to the pipeline of its segment; unknown segments to the fallback.

    Args:
        segment_column: The column holding each row's segment.
        template: The unfitted pipeline each segment (and the fallback) gets a copy of.
        min_rows: Fewest training rows for a segment to get its own model.
        classification: The model is a classifier (see :func:`segment_jobs`).

    Attributes:
        models_: Fitted pipeline per segment key (see :func:`segment_keys`).
        fallback_: Fitted pipeline trained on every row.
    """

    def __init__(
        self,
        segment_column: str = "",
        template: Any = None,
        min_rows: int = 1,
        classification: bool = False,
    ) -> None:
        self.segment_column = segment_column
        self.template = template
        self.min_rows = min_rows
        self.classification = classification

    @property
    def classes_(self) -> np.ndarray:
        """Classes of a classifier, in the fallback's order."""
        return self.fallback_.classes_

    def fit(self, X: pd.DataFrame, y: Any) -> SegmentedModel:  # noqa: N803 (sklearn API)
        """Fit the fallback and every segment with enough rows, one after the other.

        The product maps the same fits over a task runner (:func:`fit_segmented`).
        """
        jobs = segment_jobs(
            X, y, self.segment_column, self.min_rows, classification=self.classification
        )
        return self.assemble(jobs, [fit_job(self.template, job) for job in jobs])

    def assemble(self, jobs: Sequence[SegmentJob], fitted: Sequence[Any]) -> SegmentedModel:
        """Take the pipelines fitted for ``jobs`` (same order) as this model's."""
        by_segment = {job.segment: model for job, model in zip(jobs, fitted, strict=True)}
        self.fallback_ = by_segment.pop(FALLBACK)
        self.models_ = by_segment
        return self

    def _route(self, X: pd.DataFrame) -> list[tuple[Any, np.ndarray]]:  # noqa: N803
        keys = segment_keys(X[self.segment_column])
        routes: dict[int, tuple[Any, list[np.ndarray]]] = {}
        for key in pd.unique(keys):
            model = self.models_.get(key, self.fallback_)
            routes.setdefault(id(model), (model, []))[1].append(np.flatnonzero(keys == key))
        return [(model, np.concatenate(parts)) for model, parts in routes.values()]

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Each row predicted by its segment's pipeline."""
        out: np.ndarray | None = None
        for model, rows in self._route(X):
            part = np.asarray(model.predict(X.iloc[rows]))
            if out is None:
                out = np.empty(len(X), dtype=part.dtype)
            out[rows] = part
        return out if out is not None else np.empty(0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Class probabilities, columns in the fallback's class order.

        A segment's model may have seen fewer classes: the classes it never saw
        get probability 0.
        """
        classes = list(self.classes_)
        out = np.zeros((len(X), len(classes)))
        for model, rows in self._route(X):
            part = model.predict_proba(X.iloc[rows])
            for j, cls in enumerate(model.classes_):
                out[rows, classes.index(cls)] = part[:, j]
        return out


#: Rows that cost a fit about as much as its fixed part: boosting a few hundred
#: rows is dominated by per-iteration overhead, not by the rows. Measured on the
#: Walmart stores (HistGradientBoosting, 200 iterations, one core): a store's 143
#: rows fit in 0.14 s, all 6,435 rows in 0.75 s, 5.3 times as long.
ROWS_PER_FIT_COST = 1400


def fit_cost(rows: int) -> float:
    """Estimated cost of one fit, in units of its fixed part.

    Args:
        rows: Training rows of the fit.

    Returns:
        1 (the fixed part) plus one per ``ROWS_PER_FIT_COST`` rows.
    """
    return 1.0 + rows / ROWS_PER_FIT_COST


def chunk_jobs(jobs: Sequence[SegmentJob], chunks: int) -> list[list[SegmentJob]]:
    """Deal the jobs into at most ``chunks`` lists of about equal cost, costliest first.

    Greedy on :func:`fit_cost`: each job, costliest first, goes to the cheapest
    list so far, so the lists' costs end within one job's cost of each other.
    The order inside a list follows the jobs' order.

    Args:
        jobs: The fits, as :func:`segment_jobs` lists them.
        chunks: Most lists to deal into (no list is left empty).

    Returns:
        The lists of jobs, every job in exactly one.

    Raises:
        ValueError: ``chunks`` is below 1.
    """
    if chunks < 1:
        raise ValueError(f"chunks must be at least 1, got {chunks}")
    costs = [fit_cost(len(job.target)) for job in jobs]
    loads = [0.0] * min(chunks, len(jobs))
    dealt: list[list[int]] = [[] for _ in loads]
    for i in sorted(range(len(jobs)), key=lambda i: -costs[i]):
        cheapest = loads.index(min(loads))
        dealt[cheapest].append(i)
        loads[cheapest] += costs[i]
    return [[jobs[i] for i in sorted(indexes)] for indexes in dealt if indexes]


def fit_job(template: Any, job: SegmentJob) -> Any:
    """A fresh copy of ``template`` fitted on one job's rows."""
    from sklearn.base import clone

    return clone(template).fit(job.features, job.target)


def fit_segmented(
    template: Any,
    features: pd.DataFrame,
    target: Any,
    segment_column: str,
    min_rows: int,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]] | None = None,
    *,
    classification: bool = False,
) -> SegmentedModel:
    """Fit a per-segment model, its independent fits mapped by ``map_fits``.

    Args:
        template: The unfitted pipeline.
        features: Model input of the training rows.
        target: Their target values.
        segment_column: The segment column.
        min_rows: Fewest rows for a segment of its own.
        map_fits: Called with ``template`` and the jobs, fits a copy of the
            template per job (:func:`fit_job`) and returns the pipelines in the
            jobs' order; default: one after the other.
        classification: The model is a classifier (see :func:`segment_jobs`).

    Returns:
        The fitted model.
    """
    model = SegmentedModel(segment_column, template, min_rows, classification)
    if map_fits is None:
        return model.fit(features, target)
    jobs = segment_jobs(features, target, segment_column, min_rows, classification=classification)
    return model.assemble(jobs, map_fits(template, jobs))

"""Training a model on a window of labeled data, and what is kept with it.

Pure computation: a labeled frame goes in; a fitted pipeline, its holdout
metrics, its out-of-time reference, permutation importance, training ranges and
a reference sample come out. The caller logs them (MLflow) and decides what to
do with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mlops_core.config import UseCase
from mlops_core.decisions import TrainingWindow
from mlops_core.estimation import PerformanceEstimator, fit_estimator
from mlops_core.features import build_pipeline, model_input, row_chunks, training_ranges
from mlops_core.metrics import compute_metric
from mlops_core.reference_profile import ReferenceProfile, profile_reference
from mlops_core.sampling import RowBudget, positions_within_budget, sample_within_budget
from mlops_core.schema_change import usecase_for_inputs
from mlops_core.segmented import SegmentJob, fit_segmented

REFERENCE_ROWS = 5000


def stable_fraction(ids: pd.Series) -> np.ndarray:
    """A number in [0, 1) per id, stable across runs and machines (not Python's hash)."""

    def one(value: object) -> float:
        digest = hashlib.blake2b(str(value).encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    return np.fromiter((one(v) for v in ids), dtype=float, count=len(ids))


def labeled_rows(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows of ``frame`` whose target is present.

    A row without a label (a blank in the label file, a sensor that failed) can
    neither teach a model nor score one: training, the promotion holdout,
    realized performance and a backtest's error all leave it out.
    """
    missing = frame[target].isna()
    return frame.loc[~missing.to_numpy()] if missing.any() else frame


@dataclass(frozen=True)
class Split:
    """Rows to train on and the holdout the gate compares models on.

    Attributes:
        train: Training rows (each with a target).
        holdout: Holdout rows (each with a target).
        window: The periods the split covers.
        unlabeled_rows: Rows of the window left out because their target is missing.
    """

    train: pd.DataFrame
    holdout: pd.DataFrame
    window: TrainingWindow
    unlabeled_rows: int = 0


def split_window(labeled: pd.DataFrame, usecase: UseCase, window: TrainingWindow) -> Split:
    """Cut the labeled pool into the training window and the recent holdout.

    The holdout is a stable, id-hashed share of the most recent
    ``holdout_periods`` labeled periods (more while they hold fewer than
    ``min_holdout_rows`` held-out rows); the other rows of those periods train,
    so a challenger learns from the newest data it is not judged on. Rows whose
    target is missing are left out of both and counted (``unlabeled_rows``).

    Raises:
        ValueError: When the window holds no labeled rows or leaves no training rows.
    """
    time_col = usecase.data.time_column
    periods = labeled[time_col]
    in_window = periods <= window.last_period
    if window.first_period is not None:
        in_window &= periods >= window.first_period
    in_window_rows = labeled.loc[in_window]
    frame = labeled_rows(in_window_rows, usecase.data.target_column)
    if frame.empty:
        raise ValueError(f"no labeled rows in periods {window.first_period}..{window.last_period}")
    recent = _holdout_periods(frame[time_col], usecase)
    in_recent = frame[time_col].isin(recent).to_numpy()
    # Only the holdout periods' ids are hashed (one Python call per id: about 1.2 s a
    # million); the other rows train whatever their hash.
    in_holdout = in_recent.copy()
    in_holdout[in_recent] = (
        stable_fraction(frame[usecase.data.id_column].iloc[np.flatnonzero(in_recent)])
        < usecase.retrain.holdout_share
    )
    train, holdout = frame.loc[~in_holdout], frame.loc[in_holdout]
    if train.empty or holdout.empty:
        raise ValueError("the window is too small to leave both training and holdout rows")
    return Split(
        train=train,
        holdout=holdout,
        window=window,
        unlabeled_rows=len(in_window_rows) - len(frame),
    )


def _holdout_periods(periods: pd.Series, usecase: UseCase) -> list[object]:
    """The most recent ``holdout_periods`` periods, and earlier ones while their rows
    (times ``holdout_share``) fall short of ``min_holdout_rows``.

    Periods of very unequal size (10 rows one month, 8,000 the next) would
    otherwise leave the gate a handful of rows to tell a model from a constant.
    """
    r = usecase.retrain
    counts = periods.value_counts().sort_index()
    ordered = list(counts.index)
    take = min(r.holdout_periods, len(ordered))
    while take < len(ordered) and counts.iloc[-take:].sum() * r.holdout_share < r.min_holdout_rows:
        take += 1
    return ordered[-take:]


#: A model's output on a frame: predictions, and positive-class probabilities
#: for a classifier (None for a regressor).
Predictions = tuple[np.ndarray, np.ndarray | None]


def predict(model: Pipeline, frame: pd.DataFrame, usecase: UseCase) -> Predictions:
    """Predictions (and positive-class probabilities for classifiers) for a frame.

    Scored in chunks of ``features.PREDICT_CHUNK_ROWS`` rows, so the peak memory of a
    million-row batch is that of a chunk's intermediate matrices.
    """
    parts = [
        _predict_input(model, model_input(frame.iloc[rows], usecase), usecase)
        for rows in row_chunks(len(frame))
    ]
    if len(parts) == 1:
        return parts[0]
    pred = np.concatenate([p for p, _ in parts])
    probas = [q for _, q in parts]
    proba = None if probas[0] is None else np.concatenate(probas)  # type: ignore[arg-type]
    return pred, proba


def _predict_input(
    model: Pipeline, x: pd.DataFrame, usecase: UseCase
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`predict` on a frame already passed through ``model_input``."""
    pred = np.asarray(model.predict(x))
    proba = None
    if usecase.model.task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(x))[:, -1]
    return pred, proba


#: Where a model's decay reference was measured (see :class:`DecayReference`).
ReferenceBasis = Literal["out_of_time", "holdout"]
#: The out-of-time fit needs at least this share of the training rows before the
#: holdout periods; a smaller one would measure a weaker model than the one served.
OUT_OF_TIME_MIN_SHARE = 0.5


@dataclass(frozen=True)
class DecayReference:
    """The error a model is expected to make on the period after its training.

    The decay rule compares a champion's realized metric on newly labeled rows,
    which come from periods after its training window, with this reference. The
    holdout metric is the wrong yardstick for that: half of the holdout
    periods' rows are in the training set, so the holdout is measured in time,
    and a model's error one period later is higher even when nothing decayed
    (seasonality, trends, noisy periods). Measured in time, every new period
    looks decayed and the monitor retrains nearly every period.

    So the reference is measured out of time: the same pipeline is refit on the
    window's rows from before the holdout periods and scored on the holdout rows,
    one step ahead, as the served model will be. When too few rows come before
    the holdout periods (less than :data:`OUT_OF_TIME_MIN_SHARE` of the training
    rows) or the refit fails, the holdout metrics are the reference
    (``basis="holdout"``) and the reason is kept.

    Attributes:
        metrics: Per metric name, the reference value.
        basis: ``"out_of_time"`` or ``"holdout"``.
        fit_rows: Rows the out-of-time model trained on (0 with ``basis="holdout"``).
        note: Why the basis is the holdout (empty when out of time).
    """

    metrics: dict[str, float]
    basis: ReferenceBasis
    fit_rows: int = 0
    note: str = ""


@dataclass(frozen=True)
class TrainingResult:
    """A fitted model with the evidence that travels with it.

    ``holdout_metrics`` judge the model at its best (the promotion gate and its
    plausibility check); ``decay_reference`` is what later cycles measure its
    decay against (None when :func:`train_model` was asked to leave it for
    later: :func:`decay_reference_of` then measures it). ``usecase`` is the use
    case as this model sees it: its feature columns are the model's inputs
    (:func:`trained_inputs`). ``fit_rows`` is how many of the split's training
    rows the model was fitted on (all, or ``model.train_sample_rows`` of them);
    ``estimator_rows`` how many holdout rows the estimator learned from (all, or
    ``model.estimator_sample_rows``).
    """

    model: Pipeline
    split: Split
    holdout_metrics: dict[str, float]
    decay_reference: DecayReference | None
    importance: dict[str, float]
    importance_rows: int
    fit_rows: int
    estimator_rows: int
    training_ranges: dict[str, tuple[float, float]]
    reference: pd.DataFrame
    reference_profile: ReferenceProfile
    estimator: PerformanceEstimator | None
    estimator_error: str | None
    usecase: UseCase

    @property
    def inputs(self) -> tuple[str, ...]:
        """The model's input columns, in order."""
        return self.usecase.contract.feature_names


def trained_inputs(frame: pd.DataFrame, usecase: UseCase) -> tuple[str, ...]:
    """The contract's features a model trained on ``frame`` reads: those with a value in it.

    A feature added to the contract after the rows of a window were stored is
    missing from them (the labeled pool holds it as missing). A model cannot
    learn from a column that has no value in its training rows, so it does not
    read it; the first retrain whose window holds values of it does. When no
    feature has a value, every feature is kept (the fit then fails on its own
    terms).
    """
    features = usecase.contract.feature_names
    present = tuple(
        name for name in features if name in frame.columns and frame[name].notna().any()
    )
    return present or features


def row_budget(usecase: UseCase) -> RowBudget:
    """The use case's training row budget (``model.train_sample_rows`` and its half-life)."""
    model = usecase.model
    return RowBudget(
        rows=model.train_sample_rows,
        half_life_periods=model.train_sample_half_life_periods,
        seed=model.random_state,
    )


def train_model(
    labeled: pd.DataFrame,
    usecase: UseCase,
    window: TrainingWindow,
    *,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]] | None = None,
    with_decay_reference: bool = True,
) -> TrainingResult:
    """Fit the use case's pipeline on a window and profile it.

    A window with more training rows than ``model.train_sample_rows`` is fitted
    on a sample of that many (:mod:`mlops_core.sampling`); the holdout, the
    drift profile and the training ranges use every row.

    Args:
        labeled: Labeled rows (features, time column, id, target).
        usecase: The use case.
        window: Periods to train on.
        map_fits: With ``model.per_segment``, runs the independent per-segment
            fits (see ``mlops_core.segmented.fit_segmented``); default one after
            the other.
        with_decay_reference: False leaves the out-of-time refit for later
            (``decay_reference`` is None; :func:`decay_reference_of` measures the
            same reference when it is needed). The backtester needs it only for
            the models that become champion, a fraction of those it trains.

    Returns:
        The fitted model, its holdout metrics, normalised permutation importance
        (measured on the holdout, so it reflects what the model relies on for
        unseen rows), numeric training ranges, the drift profile of every
        training row, a reference sample (for the domain classifier and the
        drift report) and the label-free performance estimator (None, with the
        reason, when the holdout cannot support one).
    """
    split = split_window(labeled, usecase, window)
    fitted = sample_within_budget(split.train, usecase.data.time_column, row_budget(usecase))
    # From here on the use case as this model sees it: its features are the
    # contract's features that hold values in the rows it is fitted on.
    usecase = usecase_for_inputs(usecase, trained_inputs(fitted, usecase))
    target = usecase.data.target_column
    features, y = model_input(fitted, usecase), fitted[target].to_numpy()
    model = _fit(usecase, features, y, map_fits)

    y_hold = split.holdout[target].to_numpy()
    pred, proba = predict(model, split.holdout, usecase)
    metric_names = (usecase.metric.primary, *usecase.metric.secondary)
    metrics = {name: compute_metric(name, y_hold, pred, proba) for name in metric_names}
    decay_reference = (
        out_of_time_reference(split, usecase, metrics, map_fits=map_fits)
        if with_decay_reference
        else None
    )

    importance, importance_rows = _permutation_importance(model, split.holdout, usecase)

    # The label-free estimator learns, on the same holdout (at most
    # model.estimator_sample_rows of it), how right the model is where: it later
    # estimates performance before labels arrive.
    estimator, estimator_error = None, None
    kept = positions_within_budget(
        split.holdout[usecase.data.time_column],
        RowBudget(rows=usecase.model.estimator_sample_rows, seed=usecase.model.random_state),
    )
    learned = np.arange(len(split.holdout)) if kept is None else kept
    try:
        estimator = fit_estimator(
            usecase.model.task,
            usecase.metric.primary,
            model_input(split.holdout.iloc[learned], usecase),
            y_hold[learned],
            pred[learned],
            None if proba is None else proba[learned],
            seed=usecase.model.random_state,
        )
    except ValueError as exc:
        estimator_error = str(exc)

    ref = split.train
    if len(ref) > REFERENCE_ROWS:
        ref = ref.sample(REFERENCE_ROWS, random_state=usecase.model.random_state)
    ref_pred, _ = predict(model, ref, usecase)
    reference = model_input(ref, usecase).assign(prediction=ref_pred)
    # Drift compares batches with every training row, profiled once here; the
    # predictions come from the sample (predicting the whole window costs more
    # than it tells).
    profile = profile_reference(
        model_input(split.train, usecase),
        usecase,
        predictions=ref_pred if usecase.model.task == "regression" else None,
    )
    return TrainingResult(
        model=model,
        split=split,
        holdout_metrics=metrics,
        decay_reference=decay_reference,
        importance=importance,
        importance_rows=importance_rows,
        fit_rows=len(fitted),
        estimator_rows=len(learned),
        training_ranges=training_ranges(split.train, usecase),
        reference=reference.reset_index(drop=True),
        reference_profile=profile,
        estimator=estimator,
        estimator_error=estimator_error,
        usecase=usecase,
    )


def decay_reference_of(
    result: TrainingResult,
    *,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]] | None = None,
) -> DecayReference:
    """A trained model's decay reference: the one measured at training, else measured now.

    Measured now, it is the reference :func:`train_model` would have measured
    (the same split, use case and holdout metrics; the refit is seeded).
    """
    if result.decay_reference is not None:
        return result.decay_reference
    return out_of_time_reference(
        result.split, result.usecase, result.holdout_metrics, map_fits=map_fits
    )


def _fit(
    usecase: UseCase,
    features: pd.DataFrame,
    y: np.ndarray,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]] | None,
) -> Any:
    """The use case's pipeline (per segment with ``model.per_segment``) fitted on rows."""
    if usecase.model.per_segment:
        assert usecase.data.segment_column is not None  # the config guarantees it
        return fit_segmented(
            build_pipeline(usecase),
            features,
            y,
            usecase.data.segment_column,
            usecase.model.min_segment_rows,
            map_fits,
            classification=usecase.model.task == "classification",
        )
    return build_pipeline(usecase).fit(features, y)


def out_of_time_reference(
    split: Split,
    usecase: UseCase,
    holdout_metrics: dict[str, float],
    *,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]] | None = None,
) -> DecayReference:
    """The model's expected metrics one step after its training (see :class:`DecayReference`).

    Args:
        split: The model's split (training rows and holdout).
        usecase: The use case.
        holdout_metrics: The model's holdout metrics: the reference when the
            out-of-time fit is not possible.
        map_fits: As in :func:`train_model`.

    Returns:
        The reference, out of time when the window allows it.
    """
    time_col, target = usecase.data.time_column, usecase.data.target_column
    first_holdout = split.holdout[time_col].min()
    earlier = split.train.loc[(split.train[time_col] < first_holdout).to_numpy()]
    needed = OUT_OF_TIME_MIN_SHARE * len(split.train)
    if len(earlier) < needed:
        return DecayReference(
            dict(holdout_metrics),
            "holdout",
            note=f"only {len(earlier)} training rows come before the holdout periods "
            f"(at least {needed:.0f} needed for an out-of-time fit)",
        )
    # Fitted as the model is: within the training row budget.
    earlier = sample_within_budget(earlier, time_col, row_budget(usecase))
    try:
        # A feature added to the contract recently may have no value before the
        # holdout periods: the out-of-time model then reads the others only.
        earlier_usecase = usecase_for_inputs(usecase, trained_inputs(earlier, usecase))
        model = _fit(
            earlier_usecase,
            model_input(earlier, earlier_usecase),
            earlier[target].to_numpy(),
            map_fits,
        )
        pred, proba = predict(model, split.holdout, earlier_usecase)
    except ValueError as exc:  # e.g. one class only before the holdout periods
        return DecayReference(
            dict(holdout_metrics), "holdout", note=f"the out-of-time fit failed: {exc}"
        )
    y_hold = split.holdout[target].to_numpy()
    metrics = {name: compute_metric(name, y_hold, pred, proba) for name in holdout_metrics}
    undefined = sorted(k for k, v in metrics.items() if not np.isfinite(v))
    if usecase.metric.primary in undefined:
        return DecayReference(
            dict(holdout_metrics),
            "holdout",
            note=f"{usecase.metric.primary} is undefined out of time on the holdout rows",
        )
    # A secondary metric undefined out of time keeps its holdout value.
    metrics.update({k: holdout_metrics[k] for k in undefined})
    return DecayReference(metrics, "out_of_time", fit_rows=len(earlier))


def _shuffled_copies_predictor(
    model: Any, x: pd.DataFrame, usecase: UseCase
) -> Callable[[Sequence[tuple[str, np.ndarray]]], tuple[np.ndarray, np.ndarray | None]]:
    """A function predicting stacked copies of ``x``, each with one column's rows shuffled.

    For a pipeline whose first step is a fitted ``ColumnTransformer`` with a
    dense numeric output (what :func:`~mlops_core.features.build_pipeline`
    makes), ``x`` is encoded once; a copy then re-encodes only the block of the
    transformer that reads the shuffled column, and the last step predicts the
    encoded matrices. A transformer's ``transform`` maps each row on its own, so
    every copy's encoded rows are the ones the whole pipeline would make, and so
    are the predictions. Each block is encoded once per chunk, for all of its
    copies together. On 20,000 rows x 25 features, encoding the whole frame was
    about a fifth of every copy's cost (1.23x faster); on a few hundred rows
    the two take the same time. Any other model predicts the copies whole.
    """
    from sklearn.compose import ColumnTransformer

    def predict_whole(chunk: Sequence[tuple[str, np.ndarray]]):
        stacked = pd.concat(
            [x.assign(**{column: x[column].to_numpy()[order]}) for column, order in chunk],
            ignore_index=True,
        )
        return _predict_input(model, stacked, usecase)

    prep = model[0] if isinstance(model, Pipeline) and len(model) == 2 else None
    if not isinstance(prep, ColumnTransformer) or not hasattr(prep, "output_indices_"):
        return predict_whole
    blocks: dict[str, tuple[Any, list[str], slice]] = {}
    block_of: dict[str, str] = {}
    for name, transformer, columns in prep.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if not hasattr(transformer, "transform") or not all(isinstance(c, str) for c in columns):
            return predict_whole
        blocks[name] = (transformer, list(columns), prep.output_indices_[name])
        block_of.update({column: name for column in columns})
    encoded = prep.transform(x)
    if not isinstance(encoded, np.ndarray) or encoded.dtype.kind not in "fiu":
        return predict_whole
    last = model[-1]
    rows = len(x)

    def predict_encoded(chunk: Sequence[tuple[str, np.ndarray]]):
        stacked = np.tile(encoded, (len(chunk), 1))
        # One transform call per block for all of its copies: per copy, the calls'
        # overhead would dominate on holdouts of a few hundred rows.
        copies_of: dict[str, list[tuple[int, str, np.ndarray]]] = {}
        for k, (column, order) in enumerate(chunk):
            if column in block_of:  # a column no transformer reads changes nothing
                copies_of.setdefault(block_of[column], []).append((k, column, order))
        for name, copies in copies_of.items():
            transformer, columns, out = blocks[name]
            shuffled = pd.concat(
                [x[columns].assign(**{c: x[c].to_numpy()[order]}) for _, c, order in copies],
                ignore_index=True,
            )
            block = transformer.transform(shuffled)
            for i, (k, _, _) in enumerate(copies):
                stacked[k * rows : (k + 1) * rows, out] = block[i * rows : (i + 1) * rows]
        return _predict_input(last, stacked, usecase)

    return predict_encoded


#: Shuffles per feature: the importance is their mean drop in score.
PERMUTATION_REPEATS = 5
#: Rows predicted in one call when scoring the shuffled copies; bounds memory.
_PERMUTATION_CHUNK_ROWS = 200_000


def _permutation_importance(
    model: Pipeline, holdout: pd.DataFrame, usecase: UseCase
) -> tuple[dict[str, float], int]:
    """Permutation importance on the holdout, normalised to sum to 1, and the rows it used.

    Per feature, the mean loss of the primary metric over ``PERMUTATION_REPEATS``
    shuffles of that feature's column (seeded by the model's random state), as
    scikit-learn's ``permutation_importance`` defines it. The shuffled copies
    of every feature and repeat are stacked and predicted in a few large calls
    instead of one call per copy: a tree ensemble's per-call overhead dominated
    at holdout sizes of a few hundred rows (12 features x 5 repeats took a
    second per training; stacked, about 0.1 s).

    A holdout above ``model.importance_sample_rows`` is first sampled to that
    many rows, without replacement and seeded, in holdout order: the cost is
    features x repeats x rows predicted, which at a million rows was four
    fifths of a training. A smaller holdout is used whole, as before.
    """
    budget = usecase.model.importance_sample_rows
    if len(holdout) > budget:
        picked = np.random.default_rng(usecase.model.random_state).choice(
            len(holdout), size=budget, replace=False
        )
        holdout = holdout.iloc[np.sort(picked)]
    x = model_input(holdout, usecase).reset_index(drop=True)
    y = holdout[usecase.data.target_column].to_numpy()
    metric = usecase.metric.primary
    names = list(x.columns)
    if not names or len(x) == 0:
        return ({n: 1.0 / len(names) for n in names} if names else {}), len(x)
    pred, proba = _predict_input(model, x, usecase)
    baseline = compute_metric(metric, y, pred, proba)

    rng = np.random.default_rng(usecase.model.random_state)
    copies = [
        (column, rng.permutation(len(x))) for column in names for _ in range(PERMUTATION_REPEATS)
    ]
    per_chunk = max(1, _PERMUTATION_CHUNK_ROWS // len(x))
    predict_copies = _shuffled_copies_predictor(model, x, usecase)
    scores: list[float] = []
    for start in range(0, len(copies), per_chunk):
        chunk = copies[start : start + per_chunk]
        chunk_pred, chunk_proba = predict_copies(chunk)
        for k in range(len(chunk)):
            rows = slice(k * len(x), (k + 1) * len(x))
            scores.append(
                compute_metric(
                    metric,
                    y,
                    chunk_pred[rows],
                    None if chunk_proba is None else chunk_proba[rows],
                )
            )
    permuted = np.asarray(scores, dtype=float).reshape(len(names), PERMUTATION_REPEATS)
    # The loss is the drop of a greater-is-better metric, the rise of an error.
    sign = 1.0 if usecase.metric.greater_is_better else -1.0
    losses = np.nan_to_num(sign * (baseline - permuted), nan=0.0).mean(axis=1)
    raw = np.clip(losses, 0.0, None)
    total = raw.sum()
    if total <= 0:
        # A model whose holdout score no shuffle can hurt relies on nothing measurable:
        # spread the weight evenly rather than claim any feature is irrelevant.
        return {n: 1.0 / len(names) for n in names}, len(x)
    return {n: float(v / total) for n, v in zip(names, raw, strict=True)}, len(x)

"""The backtest replay engine: a time-ordered file, cut into periods, replayed in memory.

One policy's replay runs the cycle of the live ``monitor`` flow with the same
mlops_core functions, in the same order, on the same inputs: predict and
guard the batch, let the labels of ``label_delay`` periods ago arrive,
``assess_performance``, the Evidently drift adapter, ``attribute_decay``,
``build_retrain_inputs`` with a ``DecisionHistory`` kept in memory,
``decide_retrain`` under the policy's settings
(:func:`mlops_core.backtest.policy_settings`), and on a retrain ``train_model``,
``compare_on_holdout`` and ``decide_promotion``. What the replay leaves out is
I/O: no batch files, no gate (the file is taken as valid), no MLflow, no
Prefect. Models live in memory, and a :class:`ReplayCache` shares what
policies have in common (the bootstrap champion, models trained on the same
window, performance and drift of the same model on the same period), so five
policies over two years of hourly data take about a minute on two cores, most
of it model training and Evidently.

Replay conventions, where the live flow has no counterpart:

- The bootstrap champion is trained on the first ``initial_periods`` periods,
  whose labels are all known, exactly as the ``bootstrap`` flow trains on the
  labeled history it finds; it must pass the promotion floor like there.
- The labels of every period up to ``p - label_delay`` have arrived when the
  batch of period ``p`` is handled.
- ``require_approval`` is treated as approved: nobody answers a replay.
- A challenger whose decided window leaves no training or holdout rows is
  recorded (``challenger_error``) and the champion stays; the live flow
  would fail the run there.
- Prediction drift is measured for numeric predictions only (a class label has
  no Wasserstein distance); the retrain rules do not use it. Drift compares the
  whole batch with the champion's reference profile, as the live flow does.
- A period's error is the serving champion's, on its raw predictions (before
  guardrails), measured with the period's labels; see
  :mod:`mlops_core.backtest` for the error units and the costs.
- A ``+search`` policy's retrain searches ``model.candidates`` on the decided
  window's training rows (trials one after the other, under the use case's
  budget by the wall clock) and trains the best; the search's reasons are kept
  with the period's outcome, naming the serving champion's estimator as the
  one kept or replaced. A searched model is cached by its window apart from
  the plain model of the same window; the bootstrap champion is the plain one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd

from mlops_core.backtest import PeriodOutcome, Policy, PolicyResult, error_units, policy_settings
from mlops_core.config import DriftPolicy, RetrainPolicy, UseCase
from mlops_core.cycle import (
    DecisionHistory,
    PastDecision,
    bootstrap_inputs,
    build_retrain_inputs,
)
from mlops_core.decisions import (
    DriftSummary,
    PromotionDecision,
    PromotionInputs,
    Reason,
    RetrainDecision,
    TrainingWindow,
)
from mlops_core.features import model_input, segment_maxima
from mlops_core.guardrails import apply_guardrails
from mlops_core.metrics import compute_metric
from mlops_core.monitoring import assess_performance, challenger_evidence
from mlops_core.periods import (
    PERIOD_UNITS,
    PeriodUnit,
    period_index,
    short_label,
)
from mlops_core.promotion import decide_promotion
from mlops_core.retrain import decide_retrain
from mlops_core.search import SearchResult, choice_reason, search_candidates
from mlops_core.stats import attribute_decay
from mlops_core.training import (
    TrainingResult,
    decay_reference_of,
    labeled_rows,
    predict,
    split_window,
    train_model,
)

_T = TypeVar("_T")


#: Seeds of different replay seeds never meet: seed s, period p -> s * SEED_STRIDE + p.
SEED_STRIDE = 1_000_000

#: A model's identity: its training window and how it was chosen ("" for the use
#: case's single estimator, "search" for the best of a candidate search).
ModelKey = tuple[int | None, int, str]


class ReplayCache:
    """Work shared between the policies of one backtest, safe across threads.

    Policies often train on the same window (``every:1`` and ``default`` both
    retrain on "everything up to last month") and keep the same champion for a
    while (``drift`` and ``default`` until one of them retrains). Everything
    cached is a deterministic function of its key, so a policy gets the same
    result with or without the cache, alone or beside others:

    - a trained model, by its window ``(first_period, last_period)``: the rows
      after ``last_period`` never reach ``train_model``;
    - performance, by model, period, the labeled periods judged and the seed;
    - drift, by model, period and the seed;
    - a model's decay reference (its out-of-time refit), by model, once it is
      champion.

    Policies running in parallel threads wait for each other on the same key
    instead of computing it twice. Use one cache per prepared frame and use case.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[object, ...], object] = {}
        self._pending: dict[tuple[object, ...], threading.Lock] = {}
        self._owner: tuple[Prepared, str] | None = None

    def bind(self, prepared: Prepared, usecase: UseCase) -> None:
        """Tie the cache to one prepared frame and use case on first use.

        Raises:
            ValueError: The cache already serves another frame or use case.
        """
        config = usecase.model_dump_json()
        with self._lock:
            if self._owner is None:
                self._owner = (prepared, config)
            elif self._owner[0] is not prepared or self._owner[1] != config:
                raise ValueError("this ReplayCache belongs to another prepared frame or use case")

    def get(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        """The value for ``key``, computed once by ``compute``; errors are not cached."""
        with self._lock:
            if key in self._values:
                return self._values[key]  # type: ignore[return-value]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._values:
                    return self._values[key]  # type: ignore[return-value]
            value = compute()
            with self._lock:
                self._values[key] = value
                self._pending.pop(key, None)
            return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


# ------------------------------------------------------------------ preparing
@dataclass(frozen=True)
class Prepared:
    """A labeled, time-ordered frame cut into integer periods.

    Attributes:
        frame: Every row, sorted by time; the use case's time column holds the
            integer period, the id column string ids, the target is kept.
        usecase_name: The use case the frame was prepared for.
        time_column: Column holding the period.
        target_column: The label.
        unit: ``day``, ``week`` or ``month`` when periods were cut from dates;
            None when the time column already held integer periods.
        periods: The periods present, ascending (a period without rows is absent).
        period_starts: Per period, its label as people read it (``2012-03``,
            the Monday of a week, or the integer period): the x-axis of a plot.
    """

    frame: pd.DataFrame
    usecase_name: str
    time_column: str
    target_column: str
    unit: PeriodUnit | None
    periods: tuple[int, ...]
    period_starts: dict[int, str]

    def _pos(self, through: int | None) -> int:
        """Number of rows with a period at or before ``through`` (0 for None)."""
        if through is None:
            return 0
        values = self.frame[self.time_column].to_numpy()
        return int(np.searchsorted(values, through, side="right"))

    def rows(self, period: int) -> pd.DataFrame:
        """Rows of one period, target included (periods are integers)."""
        return self.between(period - 1, period)

    def batch(self, period: int) -> pd.DataFrame:
        """Rows of one period as they arrive for scoring: without the target."""
        return self.rows(period).drop(columns=[self.target_column])

    def labeled_through(self, period: int | None) -> pd.DataFrame:
        """Every row with a period at or before ``period``, target included."""
        return self.frame.iloc[: self._pos(period)]

    def between(self, after: int | None, through: int | None) -> pd.DataFrame:
        """Rows with ``after < period <= through`` (``after`` None: from the start)."""
        if through is None:
            return self.frame.iloc[0:0]
        return self.frame.iloc[self._pos(after) : self._pos(through)]


def history_order(
    frame: pd.DataFrame, usecase: UseCase, unit: PeriodUnit | None
) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Ids, periods and the row order of a labeled history, as live batches hold it.

    The live labeled pool is sorted by period, then by id as text; a replay
    writes each period's batch in that order and the backtester sorts its frame
    the same way, so both score, sample and train on rows in the same order.

    Args:
        frame: The history with a ``RangeIndex`` (row positions).
        usecase: The use case (id and time columns).
        unit: The period unit (``data.period`` or an override).

    Returns:
        The ids as text (the row's position in ``frame`` when the file has no
        id column), each row's period, and the positions in sorted order.

    Raises:
        PeriodError: A time value that cannot be cut into a period.
    """
    d = usecase.data
    ids = (
        frame[d.id_column].astype(str)
        if d.id_column in frame.columns
        else pd.Series(np.arange(len(frame)).astype(str), index=frame.index)
    )
    periods = period_index(frame[d.time_column], unit, d.time_column)
    order = np.lexsort((ids.to_numpy(dtype=str), periods.to_numpy()))
    return ids, periods, order


def prepare(frame: pd.DataFrame, usecase: UseCase, *, period: str | None = None) -> Prepared:
    """Sort a labeled frame by time and cut it into integer periods.

    Args:
        frame: The whole file: features, time column and target; the id column
            may be missing.
        usecase: The use case (columns, label delay, period unit).
        period: ``day``, ``week`` or ``month``; overrides ``data.period``. Dates
            are cut by :mod:`mlops_core.periods`, the same function the live
            flows use (calendar days, Monday-to-Sunday weeks, calendar months).
            With no unit, the time column must already hold integer periods.

    Returns:
        The prepared frame, sorted by period then id as text (the live labeled
        pool's order, see :func:`history_order`). A missing id column is added
        as the row's position in ``frame`` (as text), so ids, and the id-hashed
        holdouts, are stable between runs. The time column is overwritten with
        the integer period (it is no model feature); the frame is not
        validated, since the gate is not what a backtest measures.

    Raises:
        ValueError: A missing time or target column, an unknown unit, or time
            values that are neither dates nor integer periods.
    """
    d = usecase.data
    unit = period if period is not None else d.period
    if unit is not None and unit not in PERIOD_UNITS:
        raise ValueError(f"unknown period unit {unit!r}: use one of {', '.join(PERIOD_UNITS)}")
    for role, column in (("time", d.time_column), ("target", d.target_column)):
        if column not in frame.columns:
            raise ValueError(f"the {role} column {column!r} is not in the data")

    out = frame.reset_index(drop=True)
    ids, periods, order = history_order(out, usecase, unit)
    out = out.assign(**{d.id_column: ids, d.time_column: periods.to_numpy()}).iloc[order]
    out = out.reset_index(drop=True)

    unique = np.unique(out[d.time_column].to_numpy())
    return Prepared(
        frame=out,
        usecase_name=usecase.name,
        time_column=d.time_column,
        target_column=d.target_column,
        unit=unit,
        periods=tuple(int(p) for p in unique),
        period_starts={int(p): short_label(int(p), unit) for p in unique},
    )


# ---------------------------------------------------------------- the models
@dataclass(frozen=True)
class ReplayModel:
    """A model of the replay with what the live flow keeps beside it in the registry.

    Attributes:
        label: ``"bootstrap"`` or ``"p<period>"``, the cycle that trained it.
        result: The training result (model, holdout metric, importance, ranges,
            reference sample, label-free estimator).
        segment_caps: Per segment, the highest target of its training rows, for
            the ``segment_history_cap`` rule; None when no rule needs it.
        estimator: Import path of its estimator class.
        variant: ``""`` for the use case's single estimator, ``"search"`` for the
            best candidate of a search (part of :attr:`key`).
    """

    label: str
    result: TrainingResult
    segment_caps: dict[str, float] | None = None
    estimator: str = ""
    variant: str = ""

    @classmethod
    def trained(
        cls, label: str, result: TrainingResult, usecase: UseCase, *, variant: str = ""
    ) -> ReplayModel:
        """Wrap a training result; with a ``segment_history_cap`` rule, keep the
        per-segment target maxima of its training rows, as the guardrails need.

        ``usecase`` is the one the model was trained with (for a searched model,
        the one naming the chosen estimator); ``variant`` is ``"search"`` for a
        searched model, so it is never mistaken for the plain model of its window.
        """
        caps = None
        segment = usecase.data.segment_column
        if segment and any(r.kind == "segment_history_cap" for r in usecase.guardrails.rules):
            caps = segment_maxima(result.split.train, segment, usecase.data.target_column)
        return cls(label, result, caps, usecase.model.estimator, variant)

    def guard(self, predictions: np.ndarray, frame: pd.DataFrame, usecase: UseCase) -> int:
        """Rows of ``frame`` on which any guardrail rule acts for these predictions."""
        segment = usecase.data.segment_column
        guarded = apply_guardrails(
            predictions,
            frame,
            usecase.guardrails,
            self.result.training_ranges,
            segment_caps=self.segment_caps,
            segments=frame[segment].to_numpy() if segment else None,
        )
        return guarded.summary.violating_rows

    @property
    def key(self) -> ModelKey:
        """The model's identity: its training window and variant (same key, same model)."""
        window = self.result.split.window
        return (window.first_period, window.last_period, self.variant)

    @property
    def trained_through(self) -> int:
        """Last period of its training window."""
        return self.result.split.window.last_period

    def reference_metric(self, metric: str) -> float:
        """Its metric on its holdout at training time (the champion at its best)."""
        return self.result.holdout_metrics[metric]

    def decay_reference(self, cache: ReplayCache, metric: str) -> float:
        """The metric its decay is measured against (out of time where possible).

        The replay trains its models without the out-of-time refit (most
        challengers never serve); it is made here, once per model, when the
        model is champion and its decay is measured.
        """
        reference = cache.get(
            ("decay reference", *self.key), lambda: decay_reference_of(self.result)
        )
        return reference.metrics[metric]


@dataclass(frozen=True)
class Bootstrap:
    """The first champion, shared by every policy of a backtest."""

    champion: ReplayModel
    decision: RetrainDecision
    promotion: PromotionDecision

    @property
    def period(self) -> int:
        """The last initial period: the bootstrap's place in the decision history."""
        return self.decision.inputs.period


class BootstrapError(ValueError):
    """The first model did not pass the promotion gate: there is nothing to replay."""


def _approved(inputs: PromotionInputs, usecase: UseCase) -> PromotionDecision:
    """decide_promotion, with a pending human approval answered yes (nobody answers a replay)."""
    decision = decide_promotion(inputs, usecase.promotion)
    if decision.action == "await_approval":
        answer = {"approval": "approved", "approver": "backtest replay"}
        decision = decide_promotion(inputs.model_copy(update=answer), usecase.promotion)
    return decision


def _evaluate(
    usecase: UseCase, challenger: ReplayModel, champion: ReplayModel | None, seed: int
) -> PromotionInputs:
    """The promotion gate's evidence, built exactly as the live flow builds it."""
    return challenger_evidence(
        # Each model reads its own inputs (mlops_core.training.trained_inputs).
        challenger.result.usecase,
        challenger.result.model,
        challenger.result.training_ranges,
        challenger.result.split.holdout,
        champion.result.model if champion is not None else None,
        champion_usecase=champion.result.usecase if champion is not None else None,
        training_target=challenger.result.split.train[usecase.data.target_column].to_numpy(),
        seed=seed,
        segment_caps=challenger.segment_caps,
        champion_reference=(
            champion.reference_metric(usecase.metric.primary) if champion is not None else None
        ),
    )


def _check_initial(prepared: Prepared, initial_periods: int) -> int:
    n = len(prepared.periods)
    if not 1 <= initial_periods < n:
        raise ValueError(
            f"initial_periods must leave at least one period to replay: got {initial_periods} "
            f"of {n} periods"
        )
    return prepared.periods[initial_periods - 1]


def bootstrap_champion(
    prepared: Prepared,
    usecase: UseCase,
    *,
    initial_periods: int,
    seed: int = 0,
    cache: ReplayCache | None = None,
) -> Bootstrap:
    """Train the first champion on the first ``initial_periods`` periods, as ``bootstrap`` does.

    The use case's own ``decide_retrain`` picks the window (expanding, or its
    sliding window), and the model must pass the promotion floor.

    Raises:
        ValueError: ``initial_periods`` leaves nothing to replay.
        BootstrapError: The first model misses the promotion gate.
    """
    last = _check_initial(prepared, initial_periods)
    pool = prepared.labeled_through(last)
    labeled = labeled_rows(pool, usecase.data.target_column)
    inputs = bootstrap_inputs(last_labeled_period=last, labeled_rows=len(labeled))
    decision = decide_retrain(inputs, usecase.retrain, usecase.drift, usecase.metric.primary)
    assert decision.action == "train" and decision.window is not None
    result = _train(cache or ReplayCache(), prepared, usecase, decision.window)
    champion = ReplayModel.trained("bootstrap", result, usecase)
    promotion = _approved(_evaluate(usecase, champion, None, seed * SEED_STRIDE + last), usecase)
    if promotion.action != "promote":
        failed = "; ".join(r.message for r in promotion.reasons if r.passed is False)
        raise BootstrapError(
            f"the first model, trained on periods up to {last}, is not promoted: {failed} "
            "Give more initial periods or check promotion.floor and promotion.baseline."
        )
    return Bootstrap(champion=champion, decision=decision, promotion=promotion)


# ------------------------------------------------------------------ replaying
def _drift(
    usecase: UseCase,
    champion: ReplayModel,
    batch: pd.DataFrame,
    predictions: np.ndarray,
    seed: int,
) -> DriftSummary:
    from tasks.drift import compute_drift  # Evidently takes seconds to import

    numeric = predictions.dtype.kind in "biuf" and usecase.model.task == "regression"
    return compute_drift(
        champion.result.reference_profile,
        model_input(batch, champion.result.usecase),
        champion.result.usecase,
        champion.result.importance,
        reference_sample=champion.result.reference.drop(columns=["prediction"], errors="ignore"),
        current_predictions=predictions if numeric else None,
        seed=seed,
    )


def _labels_through(prepared: Prepared, period: int, label_delay: int) -> int | None:
    """The latest period whose labels have arrived by the cycle of ``period``."""
    i = int(np.searchsorted(np.asarray(prepared.periods), period - label_delay, side="right"))
    return prepared.periods[i - 1] if i > 0 else None


@dataclass
class _Challenge:
    """What a cycle's challenger came to: its gate decision, or why there was none."""

    promotion: PromotionDecision | None = None
    error: str | None = None
    estimator: str | None = None
    search_reasons: tuple[Reason, ...] = ()


@dataclass
class _Cycle:
    """What one policy's replay carries from cycle to cycle."""

    champion: ReplayModel
    history: list[PastDecision]  # newest first, as the live flow reads them


def _train(
    cache: ReplayCache, prepared: Prepared, usecase: UseCase, window: TrainingWindow
) -> TrainingResult:
    return cache.get(
        ("train", window.first_period, window.last_period),
        lambda: train_model(
            prepared.labeled_through(window.last_period),
            usecase,
            window,
            with_decay_reference=False,
        ),
    )


@dataclass(frozen=True)
class Searched:
    """A candidate search on a window's training rows and the chosen candidate's training.

    Attributes:
        search: The search (its reasons name the use case's estimator as incumbent;
            :func:`search_reasons` restates them for another champion).
        result: The chosen candidate trained on the window, as ``train_model`` trains.
        usecase: The use case naming the chosen estimator and its parameters.
    """

    search: SearchResult
    result: TrainingResult
    usecase: UseCase


def train_with_search(prepared: Prepared, usecase: UseCase, window: TrainingWindow) -> Searched:
    """Search the candidates on the window's training rows, then train the best on the window.

    The search sees the split's training rows only (the holdout the promotion
    gate judges on stays out) and runs its trials one after the other, under
    the use case's budget by the wall clock. With no scored trial the use
    case's own estimator is trained.

    Raises:
        ValueError: The window leaves no training or holdout rows, or fewer than
            two periods to fold.
    """
    labeled = prepared.labeled_through(window.last_period)
    split = split_window(labeled, usecase, window)
    search = search_candidates(split.train, usecase, clock=time.perf_counter)
    chosen = search.usecase_for_choice(usecase)
    return Searched(
        search, train_model(labeled, chosen, window, with_decay_reference=False), chosen
    )


def search_reasons(search: SearchResult, incumbent: str) -> tuple[Reason, ...]:
    """The search's reasons with ``incumbent`` as the estimator being replaced or kept."""
    choice = choice_reason(search.trials, incumbent, search.metric, len(search.folds))
    return (choice, *search.reasons[1:])


def _train_searched(
    cache: ReplayCache, prepared: Prepared, usecase: UseCase, window: TrainingWindow
) -> Searched:
    return cache.get(
        ("train+search", window.first_period, window.last_period),
        lambda: train_with_search(prepared, usecase, window),
    )


def _decide_cycle(
    prepared: Prepared,
    usecase: UseCase,
    policy: Policy,
    settings: tuple[RetrainPolicy, DriftPolicy],
    state: _Cycle,
    cache: ReplayCache,
    *,
    period: int,
    batch: pd.DataFrame,
    predictions: np.ndarray,
    with_drift: bool,
    seed: int,
) -> tuple[RetrainDecision, _Challenge]:
    """The decision half of the monitor flow's cycle; updates ``state``."""
    retrain_settings, drift_settings = settings
    metric = usecase.metric.primary
    champion = state.champion
    history = DecisionHistory.from_decisions(state.history)
    arrived = _labels_through(prepared, period, usecase.data.label_delay)
    labels_through = arrived if arrived is not None else history.labels_through
    seen_through = history.seen_through(champion.trained_through)
    # Rows whose label is missing never count as new evidence (as in the live flow).
    new_rows = labeled_rows(
        prepared.between(seen_through, labels_through), usecase.data.target_column
    )

    perf = cache.get(
        ("performance", champion.key, period, seen_through, labels_through, seed),
        lambda: assess_performance(
            champion.result.usecase,
            champion.result.model,
            champion.decay_reference(cache, metric),
            champion.result.estimator,
            new_rows,
            batch,
            seed=seed,
        ),
    )
    drift = None
    if with_drift and policy.kind in ("drift", "default"):
        drift = cache.get(
            ("drift", champion.key, period, seed),
            lambda: _drift(usecase, champion, batch, predictions, seed),
        )
    inputs = build_retrain_inputs(
        period=period,
        gate_passed=True,
        champion_trained_period=champion.trained_through,
        has_champion=True,
        history=history,
        budget_window_periods=retrain_settings.budget_window_periods,
        new_labeled_rows=len(new_rows),
        last_labeled_period=labels_through,
        rows_per_period=float(len(batch)),
        performance=perf,
        drift=drift,
        decay_cause=attribute_decay(perf, metric),
    )
    decision = decide_retrain(inputs, retrain_settings, drift_settings, metric)
    state.history.insert(0, PastDecision(period, decision.action, labels_through))

    outcome = _Challenge()
    if decision.action in ("train", "retrain"):
        window = decision.window
        assert window is not None
        try:
            if policy.search:
                searched = _train_searched(cache, prepared, usecase, window)
                challenger = ReplayModel.trained(
                    f"p{period}", searched.result, searched.usecase, variant="search"
                )
                outcome.search_reasons = search_reasons(searched.search, champion.estimator)
            else:
                result = _train(cache, prepared, usecase, window)
                challenger = ReplayModel.trained(f"p{period}", result, usecase)
        except ValueError as exc:
            outcome.error = str(exc)
        else:
            outcome.estimator = challenger.estimator
            outcome.promotion = cache.get(
                ("promotion", challenger.key, champion.key, seed),
                lambda: _approved(_evaluate(usecase, challenger, champion, seed), usecase),
            )
            if outcome.promotion.action == "promote":
                state.champion = challenger
    return decision, outcome


@dataclass(frozen=True)
class _Scored:
    predictions: np.ndarray
    proba: np.ndarray | None
    guardrail_rows: int


def _score(usecase: UseCase, champion: ReplayModel, batch: pd.DataFrame) -> _Scored:
    pred, proba = predict(champion.result.model, batch, champion.result.usecase)
    return _Scored(pred, proba, champion.guard(pred, batch, usecase))


def run_policy(
    prepared: Prepared,
    usecase: UseCase,
    policy: Policy,
    *,
    initial_periods: int,
    with_drift: bool = True,
    seed: int = 0,
    cache: ReplayCache | None = None,
) -> PolicyResult:
    """Replay every period after the first ``initial_periods`` under one policy.

    Each cycle, for period ``p``: the champion predicts the batch of ``p`` and
    the guardrails judge the predictions (with the champion's training ranges);
    the batch's error is measured against its labels; then, unless the policy
    is ``never``, the labels of the periods up to ``p - label_delay`` arrive and
    the monitor flow's decision half runs (performance, drift, decision, and on
    a retrain a challenger through the promotion gate; a promoted challenger
    serves from ``p + 1``). Drift is measured only for the policies whose rules
    read it (``drift``, ``default``) and only with ``with_drift``.

    Args:
        prepared: The prepared data.
        usecase: The use case it was prepared for.
        policy: The policy.
        initial_periods: Periods the bootstrap champion trains on.
        with_drift: Measure drift through Evidently (off: the drift rule never applies).
        seed: Replay seed. Cycle ``p`` seeds its bootstraps and samples with
            ``seed * SEED_STRIDE + p``; with seed 0 that is the live flow's seed.
        cache: Work shared with the other policies of the same backtest (the
            bootstrap champion, trained models, performance, drift); results
            are the same without it.

    Returns:
        Per-period outcomes with every decision and its inputs.

    Raises:
        ValueError: ``initial_periods`` leaves nothing to replay, ``prepared``
            or ``cache`` belong to another use case or frame, or a ``+search``
            policy meets a use case without ``model.candidates``.
        BootstrapError: The first model misses the promotion gate.
    """
    if prepared.usecase_name != usecase.name:
        raise ValueError(
            f"the data was prepared for {prepared.usecase_name!r}, not {usecase.name!r}"
        )
    if policy.search and not usecase.model.candidates:
        raise ValueError(
            f"policy {policy.name!r} searches model.candidates, and {usecase.name!r} has none"
        )
    cache = cache if cache is not None else ReplayCache()
    cache.bind(prepared, usecase)
    boot = cache.get(
        ("bootstrap", initial_periods, seed),
        lambda: bootstrap_champion(
            prepared, usecase, initial_periods=initial_periods, seed=seed, cache=cache
        ),
    )
    settings = policy_settings(
        policy, usecase.retrain, usecase.drift, label_delay=usecase.data.label_delay
    )
    metric = usecase.metric.primary
    target = usecase.data.target_column
    state = _Cycle(
        champion=boot.champion,
        history=[PastDecision(boot.period, boot.decision.action, boot.period)],
    )
    outcomes: list[PeriodOutcome] = []
    for period in prepared.periods[initial_periods:]:
        rows = prepared.rows(period)
        batch = rows.drop(columns=[target])
        champion = state.champion
        scored = cache.get(
            ("score", champion.key, period), partial(_score, usecase, champion, batch)
        )
        decision, challenge = None, _Challenge()
        if settings is not None:
            decision, challenge = _decide_cycle(
                prepared,
                usecase,
                policy,
                settings,
                state,
                cache,
                period=period,
                batch=batch,
                predictions=scored.predictions,
                with_drift=with_drift,
                seed=seed * SEED_STRIDE + period,
            )
        # A row without a target is scored (it is served) but measured by no error.
        labeled = rows[target].notna().to_numpy()
        y = rows[target].to_numpy()[labeled]
        pred = scored.predictions[labeled]
        proba = None if scored.proba is None else scored.proba[labeled]
        value = compute_metric(metric, y, pred, proba)
        outcomes.append(
            PeriodOutcome(
                period=period,
                rows=int(labeled.sum()),
                unlabeled_rows=int(len(rows) - labeled.sum()),
                metric=value if math.isfinite(value) else math.nan,
                error=float(error_units(metric, y, pred).sum()),
                champion=champion.label,
                guardrail_rows=scored.guardrail_rows,
                decision=decision,
                promotion=challenge.promotion,
                challenger_error=challenge.error,
                challenger_estimator=challenge.estimator,
                search_reasons=challenge.search_reasons,
            )
        )
    return PolicyResult(
        policy=policy.name,
        metric=metric,
        periods=tuple(outcomes),
        retrain_cost=usecase.retrain.retrain_cost,
        error_cost_per_unit=usecase.retrain.error_cost_per_unit,
    )


def run_backtest(
    prepared: Prepared,
    usecase: UseCase,
    policies: Sequence[Policy],
    *,
    initial_periods: int,
    with_drift: bool = True,
    seed: int = 0,
) -> list[PolicyResult]:
    """Replay several policies one after the other, sharing one :class:`ReplayCache`.

    The flow runs :func:`run_policy` per policy in parallel instead, with one
    cache passed to all; both give the same results.
    """
    cache = ReplayCache()
    return [
        run_policy(
            prepared,
            usecase,
            policy,
            initial_periods=initial_periods,
            with_drift=with_drift,
            seed=seed,
            cache=cache,
        )
        for policy in policies
    ]

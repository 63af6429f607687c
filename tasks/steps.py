"""The Prefect tasks of a cycle: read, call mlops_core, write.

Tasks are small and typed. DataFrames are passed between tasks in memory, so
every task uses ``NO_CACHE`` (Prefect would otherwise hash each frame on every
call). Retries are set only on tasks whose work is idempotent I/O.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from sklearn.pipeline import Pipeline

from mlops_core.config import DataConfig, UseCase
from mlops_core.decisions import (
    DriftSummary,
    GateDecision,
    PerformanceSummary,
    PromotionInputs,
    TrainingWindow,
)
from mlops_core.estimation import PerformanceEstimator
from mlops_core.features import model_input, segment_maxima
from mlops_core.gate import decide_gate
from mlops_core.guardrails import GuardrailResult, apply_guardrails
from mlops_core.label_gate import LabelGateDecision
from mlops_core.monitoring import assess_performance, challenger_evidence
from mlops_core.periods import batch_periods, period_index
from mlops_core.records import DecisionRecord, EventPayload
from mlops_core.reference_profile import ReferenceProfile, profile_reference
from mlops_core.schema_change import (
    SchemaChangeRefused,
    SchemaDecision,
    compare_contract,
    contract_columns,
    usecase_for_inputs,
)
from mlops_core.search import Mapper, SearchResult
from mlops_core.segmented import SegmentJob, fit_job
from mlops_core.training import (
    Predictions,
    TrainingResult,
    decay_reference_of,
    predict,
    split_window,
    train_model,
)
from tasks import decision_store, mlflow_store, model_registry, storage, training_runs
from tasks.batch_file import read_batch_file
from tasks.drift import compute_drift
from tasks.estimator_store import load_estimator, log_estimator
from tasks.labels import admit_label_files, read_accepted_labels
from tasks.notify import emit
from tasks.remote_folders import FetchedFile, fetch_remote, remote_source
from tasks.runtime import Runtime
from tasks.scored_rows import reviewed_already, scored_rows
from tasks.search import log_search, run_search
from tasks.served_predictions import served_predictions
from tasks.tags import TAG_BATCH, TAG_ESTIMATOR, TAG_PERIOD, TAG_TRIGGER, Event
from tasks.validation import validate_frame

step = partial(task, cache_policy=NO_CACHE)
io_step = partial(task, cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)

CHAMPION = "champion"


@dataclass(frozen=True)
class Champion:
    """The model in production, loaded and verified.

    ``usecase`` is the use case as the champion sees it: its feature columns
    are the champion's own inputs (``mlops_core.schema_change.usecase_for_inputs``),
    so a column added to the contract since it was trained is ignored by it,
    also on older rows that lack the column. ``schema`` is the comparison of
    the contract it was trained under with the current one.
    """

    info: training_runs.ChampionInfo
    model: Pipeline
    reference: pd.DataFrame
    reference_profile: ReferenceProfile
    estimator: PerformanceEstimator | None
    usecase: UseCase
    schema: SchemaDecision

    @property
    def version(self) -> str:
        """Registry version."""
        return self.info.version


def batch_period(frame: pd.DataFrame | None, path: Path, data: DataConfig) -> int | None:
    """The period a batch belongs to: its latest row's period (see :mod:`mlops_core.periods`).

    A batch that could not be read, or has no time value that can be cut, falls
    back to the last number in its file name (a quarantined batch still gets a
    period in its record); None when there is none.
    """
    if frame is not None and data.time_column in frame.columns:
        found = batch_periods(frame[data.time_column], data.period)
        if found is not None:
            return found.period
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


@step(name="validate batch")
def validate_batch(
    rt: Runtime, path: Path, sha256: str | None = None
) -> tuple[pd.DataFrame | None, GateDecision]:
    """Read a landed batch and run the contract's checks; decide the gate.

    Args:
        rt: The use case's runtime.
        path: The batch file.
        sha256: The file's hash, when the caller already has it (``monitor``
            hashes every batch to look it up in the ledger); else it is computed.
    """
    sha = sha256 or storage.file_sha256(path)
    frame, read_results = read_batch_file(path, rt.usecase.data.format)
    results = tuple(read_results)
    if frame is not None:
        results += tuple(validate_frame(frame, rt.usecase))
    rows = 0 if frame is None else len(frame)
    return frame, decide_gate(path.name, sha, rows, results)


@io_step(name="quarantine batch")
def quarantine(rt: Runtime, path: Path, gate: GateDecision) -> Path:
    """Move a failed batch to quarantine with its reasons."""
    return storage.quarantine_batch(path, rt.paths.quarantine, gate.batch_sha256, gate)


def schema_decision(rt: Runtime, info: training_runs.ChampionInfo) -> SchemaDecision:
    """The current contract against the one the version of ``info`` was trained under."""
    return compare_contract(
        rt.usecase.contract,
        info.profile.feature_names,
        info.profile.contract_columns,
        champion_version=info.version,
    )


def check_contract(rt: Runtime) -> SchemaDecision | None:
    """Refuse a contract the champion cannot score under, before any batch is touched.

    Reads only the champion's registry entry and profile (no model, no batch).

    Returns:
        The comparison with the champion's training contract; None before the
        first champion.

    Raises:
        SchemaChangeRefused: The contract dropped or retyped an input the
            champion reads; its message is the one line to show.
    """
    checked = _champion_under_contract(rt)
    return checked[1] if checked is not None else None


def _champion_under_contract(
    rt: Runtime,
) -> tuple[training_runs.ChampionInfo, SchemaDecision] | None:
    """The champion's registry entry and its contract comparison; None before the first.

    Raises:
        SchemaChangeRefused: The contract dropped or retyped one of its inputs.
    """
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias=CHAMPION
    )
    if info is None:
        return None
    decision = schema_decision(rt, info)
    if decision.action == "refused":
        raise SchemaChangeRefused(str(rt.usecase_path), decision)
    return info, decision


@io_step(name="load champion")
def load_champion(rt: Runtime) -> Champion | None:
    """The current champion with its reference profile and sample, or None before the first.

    Raises:
        SchemaChangeRefused: The current contract dropped or retyped one of its
            inputs (flows check that first, with :func:`check_contract`).
    """
    checked = _champion_under_contract(rt)
    if checked is None:
        return None
    info, schema = checked
    sees = usecase_for_inputs(rt.usecase, info.profile.feature_names)
    model = training_runs.load_model(rt.client, info)
    reference = training_runs.load_reference(rt.client, info.run_id)
    profile = training_runs.load_reference_profile(rt.client, info.run_id)
    if profile is None:
        # A champion trained before drift profiles existed: profile its sample.
        profile = profile_reference(
            reference,
            sees,
            predictions=reference["prediction"].to_numpy()
            if rt.usecase.model.task == "regression" and "prediction" in reference
            else None,
        )
    return Champion(
        info=info,
        model=model,
        reference=reference,
        reference_profile=profile,
        estimator=load_estimator(rt.client, info.run_id),
        usecase=sees,
        schema=schema,
    )


@step(name="score and guard")
def score(
    rt: Runtime, frame: pd.DataFrame, champion: Champion
) -> tuple[GuardrailResult, Predictions]:
    """Predict with the champion and pass every prediction through the guardrails.

    Returns:
        The guarded predictions, and the model's own output (predictions and,
        for a classifier, probabilities), which the label-free estimate reuses
        instead of scoring the batch again.
    """
    predicted = predict(champion.model, frame, champion.usecase)
    segment = rt.usecase.data.segment_column
    caps = champion.info.profile.segment_caps
    guarded = apply_guardrails(
        predicted[0],
        frame,
        rt.usecase.guardrails,
        champion.info.profile.training_ranges,
        segment_caps=caps,
        segments=frame[segment] if caps and segment and segment in frame.columns else None,
    )
    return guarded, predicted


@io_step(name="write predictions")
def write_scored(
    rt: Runtime,
    frame: pd.DataFrame,
    gate: GateDecision,
    guarded: GuardrailResult,
    champion_version: str,
    stage: Path | None = None,
    probability: np.ndarray | None = None,
) -> tuple[Path, Path | None]:
    """Accepted predictions go downstream; held rows go to the review queue.

    Args:
        rt: The use case's runtime.
        frame: The batch as read.
        gate: Its gate decision (names the output files).
        guarded: The champion's guarded predictions.
        champion_version: The version that made them.
        stage: The batch's staging folder when the outputs wait for a commit
            (a monitor cycle publishes them with ``storage.publish_staged``);
            None writes them straight to the predictions and review folders.
        probability: A classifier's positive-class probabilities, stored as
            ``raw_probability`` beside ``raw_prediction`` (so the realized
            metric, once labels arrive, need not score the rows again).

    Returns:
        The predictions file and the review file (None when no row is held).
    """
    predictions_folder = rt.paths.predictions if stage is None else stage / "predictions"
    review_folder = rt.paths.review if stage is None else stage / "review"
    held = np.asarray(guarded.held, dtype=bool)
    out, review = scored_rows(
        frame,
        rt.usecase,
        values=guarded.values,
        raw=guarded.raw,
        probability=probability,
        flagged=guarded.flagged,
        violations=guarded.violations,
        held=held,
        champion_version=champion_version,
        batch_sha256=gate.batch_sha256,
    )
    stem = Path(gate.batch).stem
    pred_path = storage.write_parquet(out, predictions_folder / f"{stem}.parquet")
    review_path = None
    if held.any():
        published = rt.paths.review / f"{stem}.parquet"
        if reviewed_already(published):
            review_path = published
        else:
            review_path = storage.write_parquet(review, review_folder / f"{stem}.parquet")
    return pred_path, review_path


@io_step(name="store accepted batch")
def store_accepted(
    rt: Runtime, frame: pd.DataFrame, gate: GateDecision, source: Path | None = None
) -> Path:
    """Keep the accepted batch's contract columns so labels can be joined to it later.

    Args:
        rt: The use case's runtime.
        frame: The batch as read.
        gate: Its gate decision (names the stored file).
        source: The file ``frame`` was read from. A Parquet file that holds
            exactly the contract's columns, in their order and without a stored
            index, is copied instead of written again: the same table, and a
            copy takes a tenth of the time at 100,000 rows.
    """
    cols = [c.name for c in rt.usecase.contract.columns if c.name in frame.columns]
    stem = Path(gate.batch).stem
    target = rt.paths.processed / f"{stem}.{gate.batch_sha256[:12]}.parquet"
    if (
        source is not None
        and rt.usecase.data.format == "parquet"
        and list(frame.columns) == cols
        and isinstance(frame.index, pd.RangeIndex)
        and (frame.index.start, frame.index.step) == (0, 1)
    ):
        return storage.copy_atomic(source, target)
    return storage.write_parquet(frame[cols], target)


def fetch_arrivals(rt: Runtime, kind: str) -> list[FetchedFile]:
    """Move the files waiting in a remote landing or labels folder into the data root.

    Nothing to do, and no task run, when the use case's folder of that kind is
    local. See ``tasks.remote_folders`` for the copy-then-delete steps and a
    crash between them.

    Args:
        rt: The runtime.
        kind: ``"landing"`` or ``"labels"``.
    """
    if remote_source(rt.paths, kind) is None:
        return []
    return _fetch_remote_files(rt, kind)


@io_step(name="fetch arrivals")
def _fetch_remote_files(rt: Runtime, kind: str) -> list[FetchedFile]:
    """:func:`fetch_arrivals` as a task run: retried as I/O, each file logged."""
    fetched = fetch_remote(rt.paths, rt.usecase.data.format, kind)
    for f in fetched:
        get_run_logger().info(
            "fetched %s (%s bytes, sha256 %s) from %s into %s",
            f.name,
            f"{f.size:,}",
            f.sha256[:12],
            remote_source(rt.paths, kind),
            f.local,
        )
    return fetched


#: Longest wait for another cycle of the use case gating label files.
LABEL_GATE_WAIT_SECONDS = 600.0


@step(name="label gate")
def gate_labels(rt: Runtime) -> list[LabelGateDecision]:
    """Gate the label files that arrived since the last call (see ``tasks.labels``).

    A quarantined file raises the event ``mlops.labels.quarantined``; an accepted
    file whose rows were left out or corrected raises ``mlops.labels.findings``.
    Each is logged with its reason; neither stops the cycle. One gate at a time
    per use case (its lock ``labels``, ``Runtime.coordination``): two cycles
    running at once never gate the same file twice.
    """
    fetch_arrivals(rt, "labels")
    with rt.coordination.claims.claim("labels", timeout_seconds=LABEL_GATE_WAIT_SECONDS):
        decisions = admit_label_files(rt.paths, rt.usecase)
    logger = get_run_logger()
    for decision in decisions:
        findings = "; ".join(f.message for f in decision.findings)
        payload = EventPayload(
            file=decision.file,
            sha256=decision.sha256,
            rows=decision.rows,
            accepted_rows=decision.accepted_rows,
            reason=decision.reason,
            findings=findings,
        )
        if decision.action == "quarantine":
            logger.warning("label file %s quarantined: %s", decision.file, decision.reason)
            emit(Event.LABELS_QUARANTINED, rt.name, payload)
        elif decision.findings:
            logger.warning("label file %s accepted with findings: %s", decision.file, findings)
            emit(Event.LABELS_FINDINGS, rt.name, payload)
    return decisions


@step(name="join labels")
def labeled_pool(rt: Runtime, after_period: int | None = None) -> pd.DataFrame:
    """Accepted batches joined with every label that has arrived so far.

    The pool has every column of the current contract: a column added to the
    contract after a batch was stored is missing (NaN) in that batch's rows, so
    a model trained on the pool learns it from the rows that have it (see
    ``mlops_core.training.trained_inputs``) and the champion, which does not
    read it, is unaffected.

    Args:
        rt: The use case's runtime.
        after_period: Only rows of later periods; the accepted batches that hold
            none (known from their Parquet footers) are not read at all, so a
            cycle that only needs the newest rows does not reread the history.
    """
    d = rt.usecase.data
    empty = pd.DataFrame(columns=[*(c.name for c in rt.usecase.contract.columns), d.target_column])
    labels = read_accepted_labels(rt.paths, d.id_column, d.target_column)
    if labels.empty:
        return empty
    labeled = pd.Index(labels[d.id_column])
    after = storage.later_periods_than(d, after_period)
    # Read first: a batch whose labels have not arrived is not read whole.
    keys = [d.id_column] if after_period is None else [d.id_column, d.time_column]
    parts = []
    positions = []  # of each kept row's label: the join is one lookup per row
    for file in storage.parquet_files(rt.paths.processed, after=after):
        head = pd.read_parquet(file, columns=keys)
        ids = head[d.id_column]
        position = storage.label_positions(labeled, ids)
        keep = position >= 0
        if after_period is not None:
            keep &= period_index(head[d.time_column], d.period, d.time_column).to_numpy() > (
                after_period
            )
        if keep.any():
            # Copies are avoided where they are not needed: at a million rows
            # each one is the size of a batch.
            part = pd.read_parquet(file)
            if not keep.all():
                part = part.loc[keep]
            # The pool holds ids as text whatever their type in the files.
            part[d.id_column] = storage.ids_as_text(ids[keep]).to_numpy()
            parts.append(part)
            positions.append(position[keep])
    if not parts:
        return empty
    pool = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    position = positions[0] if len(positions) == 1 else np.concatenate(positions)
    del parts, positions
    for column in rt.usecase.contract.columns:
        if column.name not in pool.columns:
            # Added to the contract after every batch read here was stored.
            pool[column.name] = np.nan
    # Labels hold each id once, so a row's label position stands for its id: an
    # integer is hashed instead of a text (3M text ids took 1.5 s at the 1M bench).
    duplicated = pd.Series(position).duplicated(keep="last").to_numpy()
    if duplicated.any():
        pool = pool.loc[~duplicated]
        position = position[~duplicated]
    # An inner join on the ids (labels hold each id once), in the batches' order.
    pool[d.target_column] = labels[d.target_column].to_numpy()[position]
    # The pool holds each row's integer period in the time column (never a feature).
    pool[d.time_column] = period_index(pool[d.time_column], d.period, d.time_column).to_numpy()
    return _in_pool_order(pool, d.time_column, d.id_column)


def _in_pool_order(pool: pd.DataFrame, time_column: str, id_column: str) -> pd.DataFrame:
    """The pool sorted by period, then id as text, stably: the order every fit sees.

    Arrow sorts the text ids in C++; pandas' ``sort_values`` factorizes them in
    Python objects first (6.2 against 3.1 CPU-s at 2M rows x 27 columns, most
    of the 3.1 moving the rows). UTF-8 byte order is code-point order, so the
    order is the one ``sort_values`` gives.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.table(
        {
            "period": pool[time_column].to_numpy(),
            "id": storage.ids_as_arrow_text(pool[id_column]),
        }
    )
    order = pc.sort_indices(keys, sort_keys=[("period", "ascending"), ("id", "ascending")])
    order = order.to_numpy()
    # The rows move once (take) or not at all; reset_index would copy them again.
    in_order = np.array_equal(order, np.arange(len(pool)))
    ordered = pool.copy(deep=False) if in_order else pool.take(order)
    ordered.index = pd.RangeIndex(len(ordered))
    return ordered


@step(name="performance")
def measure_performance(
    rt: Runtime,
    champion: Champion,
    new_rows: pd.DataFrame,
    current: pd.DataFrame,
    seed: int,
    current_predicted: Predictions | None = None,
) -> PerformanceSummary:
    """Realized metric on newly labeled rows, with the label-free estimates beside it.

    ``current_predicted`` is the champion's output on ``current`` from scoring it.
    The newly labeled rows that this champion version scored are not scored
    again: their output is read back from the predictions and review files
    (``tasks.served_predictions``).
    """
    served = served_predictions(rt.paths, rt.usecase.data, new_rows, champion.version)
    return assess_performance(
        champion.usecase,
        champion.model,
        champion.info.profile.decay_reference_metric,
        champion.estimator,
        new_rows,
        current,
        seed=seed,
        current_predicted=current_predicted,
        new_served=served,
    )


@step(name="data drift")
def measure_drift(
    rt: Runtime,
    champion: Champion,
    frame: pd.DataFrame,
    predictions: np.ndarray | None,
    seed: int,
) -> DriftSummary:
    """Drift of the batch against the champion's reference profile, importance-weighted."""
    if rt.usecase.model.task != "regression":
        # Prediction drift is a distance between numbers; predicted classes have none
        # (their shift shows in the label-free estimate instead).
        predictions = None
    return compute_drift(
        champion.reference_profile,
        model_input(frame, champion.usecase),
        champion.usecase,
        champion.info.profile.importance,
        reference_sample=champion.reference.drop(columns=["prediction"], errors="ignore"),
        current_predictions=predictions,
        seed=seed,
    )


def search_challenger(
    rt: Runtime,
    labeled: pd.DataFrame,
    window: TrainingWindow,
    map_trials: Mapper,
    incumbent: str | None,
) -> tuple[SearchResult, UseCase]:
    """Search ``model.candidates`` on the window's training rows (holdout excluded).

    Not a task: it runs in the flow so ``map_trials`` can submit one ``search
    trial`` task per trial to the flow's task runner.

    Returns:
        The search (every trial, the choice and its reasons) and the use case
        whose model is the chosen candidate.
    """
    split = split_window(labeled, rt.usecase, window)
    search = run_search(split.train, rt.usecase, map_trials=map_trials, incumbent=incumbent)
    return search, search.usecase_for_choice(rt.usecase)


@step(name="train challenger")
def train_challenger(
    rt: Runtime, labeled: pd.DataFrame, window: TrainingWindow, usecase: UseCase | None = None
) -> TrainingResult:
    """Fit the use case's model (or a searched choice's) on the decided window."""
    return train_model(labeled, usecase or rt.usecase, window)


def train_segmented_challenger(
    rt: Runtime,
    labeled: pd.DataFrame,
    window: TrainingWindow,
    map_fits: Callable[[Any, Sequence[SegmentJob]], list[Any]],
) -> TrainingResult:
    """Fit a per-segment model on the decided window, its fits mapped by ``map_fits``.

    Not a task itself: it runs in the flow, so that ``map_fits`` can submit
    :func:`fit_segments` tasks to the flow's task runner (threads, or Dask
    worker processes), one chunk of segments per worker
    (``flows.challenger.fit_segments_on``).
    """
    return train_model(labeled, rt.usecase, window, map_fits=map_fits)


def _segments_run_name() -> str:
    from prefect.runtime import task_run

    jobs = task_run.parameters.get("jobs") or []
    names = [job.segment for job in jobs]
    return f"fit {len(names)} segments ({names[0]}..{names[-1]})" if names else "fit segments"


@task(name="fit segments", cache_policy=NO_CACHE, task_run_name=_segments_run_name)
def fit_segments(template: Any, jobs: list[SegmentJob]) -> list[Any]:
    """A copy of the pipeline fitted per job, in the jobs' order.

    Segments go in chunks, not one task each: a task run costs a few API calls
    (tenths of a second), as much as fitting a small segment's model.
    """
    return [fit_job(template, job) for job in jobs]


@task(name="log challenger", cache_policy=NO_CACHE)
def log_challenger(
    rt: Runtime,
    result: TrainingResult,
    period: int,
    trigger: str,
    batch_sha256: str,
    *,
    usecase: UseCase | None = None,
    search: SearchResult | None = None,
) -> training_runs.TrainedModel:
    """Log the challenger's run and register it as a candidate version.

    ``usecase`` is the use case of the searched choice (its estimator and
    params) and ``search`` the search behind it: every trial is logged as a
    run nested under the training run.
    """
    uc = usecase or rt.usecase
    window = result.split.window
    decay = decay_reference_of(result)
    profile = training_runs.ModelProfile(
        metric=uc.metric.primary,
        reference_metric=result.holdout_metrics[uc.metric.primary],
        trained_first_period=window.first_period,
        trained_last_period=window.last_period,
        train_rows=len(result.split.train),
        importance=result.importance,
        training_ranges=result.training_ranges,
        feature_names=result.inputs,
        estimator=uc.model.estimator,
        decay_reference_metric=decay.metrics[uc.metric.primary],
        decay_reference_basis=decay.basis,
        contract_columns=contract_columns(uc.contract),
        segment_caps=segment_caps(uc, result.split.train),
    )
    params: dict[str, mlflow_store.ParamValue] = {
        f"model.{k}": v for k, v in uc.model.params.items()
    }
    params.update(
        {
            "estimator": uc.model.estimator,
            "window.kind": window.kind,
            "window.first_period": window.first_period,
            "window.last_period": window.last_period,
            "train_rows": len(result.split.train),
            # The fit's row budget and the training rows it was fitted on.
            "training.sample_rows": uc.model.train_sample_rows,
            "training.sample_half_life_periods": (
                uc.model.train_sample_half_life_periods or "none: every period at the same rate"
            ),
            "training.rows": result.fit_rows,
            # The label-free estimator's row budget and the holdout rows it learned from.
            "estimator.sample_rows": uc.model.estimator_sample_rows,
            "estimator.rows": result.estimator_rows,
            "holdout_rows": len(result.split.holdout),
            "decay_reference.basis": decay.basis,
            "decay_reference.fit_rows": decay.fit_rows,
            # The importance's row budget and the holdout rows it shuffled.
            "importance.sample_rows": uc.model.importance_sample_rows,
            "importance.rows": result.importance_rows,
        }
    )
    metrics = {f"holdout_{k}": v for k, v in result.holdout_metrics.items()}
    if decay.basis == "out_of_time":
        metrics.update({f"out_of_time_{k}": v for k, v in decay.metrics.items()})
    metrics.update({f"importance.{k}": v for k, v in result.importance.items()})
    estimator_tag = (
        result.estimator.method if result.estimator else f"none: {result.estimator_error}"[:250]
    )
    trained = training_runs.log_training_run(
        rt.client,
        experiment_id=rt.experiment_id,
        run_name=f"train-p{period}",
        pipeline=result.model,
        params=params,
        metrics=metrics,
        profile=profile,
        train_frame=result.split.train,
        reference_frame=result.reference,
        reference_profile=result.reference_profile,
        source_batch_sha256=batch_sha256,
        input_example=model_input(result.split.holdout.head(5), result.usecase),
        registered_model_name=uc.registered_model_name,
        tags={
            TAG_PERIOD: str(period),
            TAG_TRIGGER: trigger,
            TAG_ESTIMATOR: estimator_tag,
        },
    )
    if result.estimator is not None:
        try:
            log_estimator(rt.client, trained.run_id, result.estimator)
        except BaseException:
            # The version is registered but its estimator is missing or half written
            # (e.g. a full artifact store): tag it failed so nothing ever takes it for
            # a usable candidate; the flow fails and a rerun trains a new one.
            training_runs.fail_training_run(rt.client, uc.registered_model_name, trained)
            raise
    if search is not None:
        log_search(
            rt.client,
            rt.experiment_id,
            trained.run_id,
            search,
            tags={TAG_BATCH: batch_sha256},
        )
    return trained


def segment_caps(usecase: UseCase, train: pd.DataFrame) -> dict[str, float] | None:
    """The ``segment_history_cap`` caps of a model trained on ``train`` (None: no such rule)."""
    segment = usecase.data.segment_column
    if segment and any(r.kind == "segment_history_cap" for r in usecase.guardrails.rules):
        return segment_maxima(train, segment, usecase.data.target_column)
    return None


@step(name="evaluate challenger vs champion")
def evaluate(
    rt: Runtime, result: TrainingResult, champion: Champion | None, seed: int
) -> PromotionInputs:
    """Score both models on the same recent holdout the challenger did not train on."""
    uc = rt.usecase
    caps = segment_caps(uc, result.split.train)
    return challenger_evidence(
        # Each model reads its own inputs: the challenger a feature the contract
        # gained, the champion only what it was trained on.
        result.usecase,
        result.model,
        result.training_ranges,
        result.split.holdout,
        champion.model if champion is not None else None,
        champion_usecase=champion.usecase if champion is not None else None,
        training_target=result.split.train[uc.data.target_column].to_numpy(),
        seed=seed,
        segment_caps=caps,
        # Its own holdout metric, when it was measured in the metric judged now.
        champion_reference=(
            champion.info.profile.reference_metric
            if champion is not None and champion.info.profile.metric == uc.metric.primary
            else None
        ),
    )


#: A process killed while holding the promotion slot never releases it, and the
#: server's lease repossessor does not run everywhere (not on the ephemeral
#: server): the slot decays instead, free again 15 s after a holder died. A live
#: promotion holds it for a second or two; the compare-and-set in
#: ``model_registry.set_champion`` stays the guarantee against a racing move.
PROMOTION_SLOT_DECAY = 1 / 15


def promotion_slot(usecase: str) -> str:
    """Name of the global concurrency limit that serialises promotions of a model."""
    return f"mlops-promote-{usecase}"


@task(name="promote", cache_policy=NO_CACHE)
def promote(rt: Runtime, version: str, expected_current: str | None, reason: str) -> str | None:
    """Move ``champion`` to ``version`` inside the model's single promotion slot.

    The slot keeps two runs from promoting at once; the compare-and-set inside
    ``set_champion`` refuses the move if the champion changed since evaluation.
    """
    name = promotion_slot(rt.name)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(
            name, limit=1, slot_decay_per_second=PROMOTION_SLOT_DECAY
        )
    with concurrency(name, occupy=1, timeout_seconds=600, strict=True):
        return model_registry.set_champion(
            rt.client,
            rt.usecase.registered_model_name,
            version,
            expected_current=expected_current,
            reason=reason,
        )


#: The runs a cycle of a batch makes (``mlops.kind``): the challenger's training
#: run and its search trials, the retrain and promotion decisions.
CYCLE_RUN_KINDS = frozenset({"training", "search_trial", "retrain", "promotion"})


def fail_runs_left_running(rt: Runtime, batch_sha256: str) -> list[str]:
    """End FAILED, with the reason, the runs of the batch's cycle a killed process left open.

    Call only while holding the use case's cycle lock (``tasks.coordination``): no
    other live process is then in a cycle of this batch, so a run of it still
    ``RUNNING`` belongs to a holder that died (SIGKILL, out of memory) or to
    this process's own cycle that failed. Runs other processes make for the
    batch (a review's) are left alone.

    Returns:
        The ids of the runs ended.
    """
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    ended = mlflow_store.fail_runs_left_running(
        rt.client,
        [rt.experiment_id, rt.decisions_experiment_id],
        batch_sha256,
        CYCLE_RUN_KINDS,
        reason=(
            f"the process running the cycle of batch {batch_sha256[:12]} stopped before this "
            f"run ended (killed or failed); marked failed by pid {os.getpid()} on "
            f"{socket.gethostname()} at {when}"
        ),
    )
    if ended:
        get_run_logger().warning(
            "runs %s of batch %s were left running by an interrupted cycle: marked failed",
            ", ".join(ended),
            batch_sha256[:12],
        )
    return ended


@io_step(name="record decision")
def record_decision(
    rt: Runtime,
    *,
    run_name: str,
    kind: str,
    action: str,
    reason_codes: list[str],
    record: DecisionRecord,
    markdown: str,
    metrics: dict[str, float],
    tags: dict[str, str],
) -> str:
    """One MLflow run per decision in the decisions experiment."""
    clean = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    return decision_store.log_decision_run(
        rt.client,
        experiment_id=rt.decisions_experiment_id,
        run_name=run_name,
        kind=kind,
        action=action,
        reason_codes=reason_codes,
        record=record,
        markdown=markdown,
        metrics=clean,
        tags=tags,
    )

"""Candidate search at retrain: trials on the flow's task runner, logged as nested MLflow runs.

The search itself is :func:`mlops_core.search.search_candidates` (pure); this
module gives it the wall clock, a mapper that runs trials as Prefect tasks on a
started task runner, and logs the result under the training run: one nested run
per trial (tag ``mlflow.parentRunId``) with its parameters, its fold scores as
the metric ``fold_<metric>`` at step = fold index, its weighted score and time,
and on the training run the choice, its reason and the budget figures.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from prefect import task
from prefect.cache_policies import NO_CACHE

from mlops_core.config import UseCase
from mlops_core.search import Mapper, SearchResult, TrialResult, search_candidates, sequential_map
from tasks.tags import (
    TAG_KIND,
    TAG_SEARCH_CHOSEN,
    TAG_SEARCH_ERROR,
    TAG_SEARCH_REASON,
    TAG_SEARCH_REASONS,
)

#: Tag MLflow reads to show a run nested under another.
PARENT_TAG = "mlflow.parentRunId"
#: Longest parameter value MLflow stores.
_MAX_PARAM_CHARS = 6000


def _trial_run_name() -> str:
    from prefect.runtime import task_run

    trial = task_run.parameters.get("item")
    number = getattr(trial, "number", None)
    name = getattr(trial, "estimator_name", None)
    return f"search trial {number} ({name})" if name is not None else "search trial"


@task(name="search trial", cache_policy=NO_CACHE, task_run_name=_trial_run_name)
def search_trial(fn: Callable[[Any], Any], item: Any) -> Any:
    """One trial of a candidate search (``fn`` checks the budget, then cross-validates)."""
    return fn(item)


def runner_mapper(runner: Any) -> Mapper:
    """A mapper that submits one ``search trial`` task per trial to a started task runner.

    The flow passes it to :func:`run_search` inside ``with make_task_runner(...) as
    runner``, as ``flows.challenger.fit_segments_on`` does for per-segment fits; with
    a thread pool of N workers, N trials run at once.
    """

    def mapper(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        futures = [
            runner.submit(search_trial, parameters={"fn": fn, "item": item}) for item in items
        ]
        return [future.result() for future in futures]

    return mapper


def run_search(
    train: pd.DataFrame,
    usecase: UseCase,
    *,
    map_trials: Mapper = sequential_map,
    incumbent: str | None = None,
) -> SearchResult:
    """Search the use case's candidates on the training rows, timed by the wall clock.

    Args:
        train: The training window's training rows (``Split.train``: the holdout
            the promotion gate judges on stays out of the search).
        usecase: The use case, with ``model.candidates``.
        map_trials: How trials run: :func:`runner_mapper` in a flow, sequential otherwise.
        incumbent: The champion's estimator import path (default ``model.estimator``).

    Returns:
        The search result; its ``reasons`` go into the retrain's decision record.
    """
    return search_candidates(
        train, usecase, clock=time.perf_counter, map_trials=map_trials, incumbent=incumbent
    )


def _trial_params(result: TrialResult) -> list[Param]:
    trial = result.trial
    params = {"estimator": trial.estimator, "trial": trial.number}
    params |= {f"model.{k}": v for k, v in sorted(trial.params.items())}
    return [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in params.items()]


def log_search(
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    search: SearchResult,
    tags: Mapping[str, str] | None = None,
) -> list[str]:
    """Log every trial as a run nested under ``parent_run_id``; summarise on the parent.

    Each trial run holds the params (``estimator``, ``trial``, ``model.<param>``),
    the metric ``fold_<metric>`` per fold (step = fold index, oldest first),
    ``cv_<metric>`` (fold-weighted) and ``trial_seconds``; tags say whether it
    was chosen and, for a failed fit (run status FAILED), its error. The parent gets
    ``search_*`` metrics, the chosen estimator and the reasons as tags. ``tags``
    go on every trial run too (the cycle's batch: a rerun ends a trial run a
    killed process left running, ``mlflow_store.fail_runs_left_running``).

    Returns:
        Run ids of the trial runs, in trial order. Trials the budget did not let
        start get no run (a 1,000-trial search stopped after 40 would otherwise
        leave 960 empty runs); the parent's ``search_trials_started`` and
        ``search_trials_sampled`` count them.
    """
    now = int(time.time() * 1000)
    metric = search.metric
    chosen = search.chosen.trial.number if search.chosen is not None else None
    run_ids = []
    for result in search.trials:
        if not result.started:
            continue
        trial = result.trial
        run = client.create_run(
            experiment_id,
            run_name=f"trial-{trial.number}-{trial.estimator_name}",
            tags={
                **dict(tags or {}),
                PARENT_TAG: parent_run_id,
                TAG_KIND: "search_trial",
                TAG_SEARCH_CHOSEN: str(trial.number == chosen).lower(),
            },
        )
        run_id = run.info.run_id
        metrics = [
            Metric(f"fold_{metric}", float(score), now, step)
            for step, score in enumerate(result.fold_scores)
        ]
        if math.isfinite(result.score):
            metrics.append(Metric(f"cv_{metric}", result.score, now, 0))
        metrics.append(Metric("trial_seconds", result.seconds, now, 0))
        tags = [RunTag(TAG_SEARCH_ERROR, result.error[:5000])] if result.error else []
        client.log_batch(run_id, metrics=metrics, params=_trial_params(result), tags=tags)
        client.set_terminated(run_id, status="FAILED" if result.error else "FINISHED")
        run_ids.append(run_id)
    summary = [
        Metric("search_elapsed_seconds", search.elapsed_seconds, now, 0),
        Metric("search_budget_seconds", search.budget_seconds, now, 0),
        Metric("search_trials_started", float(search.started), now, 0),
        Metric("search_trials_sampled", float(len(search.trials)), now, 0),
    ]
    tags = [
        RunTag(TAG_SEARCH_REASON, search.reasons[0].message[:5000]),
        RunTag(TAG_SEARCH_REASONS, json.dumps([r.model_dump() for r in search.reasons])),
        RunTag(
            TAG_SEARCH_CHOSEN,
            search.chosen.trial.estimator if search.chosen is not None else "none",
        ),
    ]
    client.log_batch(parent_run_id, metrics=summary, tags=tags)
    return run_ids

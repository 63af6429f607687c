"""The ``backtest`` flow: replay a labeled history under several retraining policies.

Every policy is a setting of the same ``decide_retrain`` the live ``monitor``
flow uses; the replay trains in memory (no registry writes per step). Policies
run in parallel through the flow's task runner. The result is one MLflow run
in the use case's backtests experiment (table, per-period outcomes, a PNG of
the metric over time with retrain markers), a Prefect table artifact, and the
table returned to the caller.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.runners import make_task_runner, parse_runner
from mlops_core.backtest import Policy, PolicyResult, parse_policy, summary_table
from mlops_core.records import BacktestResult
from tasks import mlflow_store, storage, training_runs
from tasks.backtest import Prepared, ReplayCache, prepare, run_policy
from tasks.notify import publish_table
from tasks.plots import plot_policies
from tasks.runtime import open_runtime
from tasks.tags import TAG_KIND, TAG_USECASE

DEFAULT_POLICIES = ("never", "every:1", "drift", "performance", "default")


def default_initial_periods(n_periods: int, holdout_periods: int) -> int:
    """Bootstrap window when none is given: a quarter of the history, at least
    enough for a holdout plus two training periods."""
    return max(holdout_periods + 2, math.ceil(0.25 * n_periods))


@task(name="replay policy", cache_policy=NO_CACHE, task_run_name="replay {policy.name}")
def replay_policy(
    prepared: Prepared,
    usecase: Any,
    policy: Policy,
    initial_periods: int,
    with_drift: bool,
    seed: int,
    cache: ReplayCache | None,
) -> PolicyResult:
    """One policy over the whole history (CPU-bound, in memory)."""
    return run_policy(
        prepared,
        usecase,
        policy,
        initial_periods=initial_periods,
        with_drift=with_drift,
        seed=seed,
        cache=cache,
    )


def _metric_key(policy: str, name: str) -> str:
    # MLflow metric names allow letters, digits, '_', '-', '.', ' ' and '/'.
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', policy)}.{name}"


def _markdown_table(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r[c]) for c in cols) + " |")
    return "\n".join(out)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


@flow(name="backtest", flow_run_name="backtest {usecase_path}")
def backtest(
    usecase_path: str,
    data_path: str,
    policies: list[str] | None = None,
    initial_periods: int | None = None,
    period: str | None = None,
    with_drift: bool = True,
    seed: int = 0,
    data_root: str | None = None,
    task_runner: str | None = None,
) -> BacktestResult:
    """Replay ``data_path`` under each policy and compare error, retrains and cost.

    Args:
        usecase_path: The use-case file.
        data_path: A time-ordered CSV or Parquet file with features and target.
        policies: Policy names: never, every:K, drift, performance, default; any but
            never may end in ``+search`` (each retrain searches ``model.candidates``).
        initial_periods: Periods the first champion trains on (default: a quarter).
        period: day, week or month; overrides the use case's ``data.period``.
        with_drift: Measure data drift (the drift rule needs it).
        seed: Seed of every random step.
        data_root: Data root holding MLflow (default ``$MLOPS_HOME``).
        task_runner: Where policies run: threads, threads:N, dask (a local
            cluster of 2 processes), dask:N or dask:tcp://host:8786 (default
            ``$MLOPS_TASK_RUNNER`` or threads).

    Returns:
        The table (one row per policy), the plot (PNG path), the MLflow run, per
        policy how many challengers each estimator class was, and per ``+search``
        policy each retrain's period label and the sentence saying which
        candidate it chose and why.
    """
    rt = open_runtime(usecase_path, data_root)
    uc = rt.usecase
    parsed = [parse_policy(p) for p in (policies or DEFAULT_POLICIES)]
    source = Path(data_path)
    prepared = prepare(storage.read_table(source), uc, period=period)
    initial = initial_periods or default_initial_periods(
        len(prepared.periods), uc.retrain.holdout_periods
    )
    runner_setting = parse_runner(task_runner)
    # Threads share one cache of trained models; worker processes cannot.
    cache = ReplayCache() if runner_setting.shares_memory else None
    with make_task_runner(runner_setting) as runner:
        futures = [
            runner.submit(
                replay_policy,
                parameters={
                    "prepared": prepared,
                    "usecase": uc,
                    "policy": p,
                    "initial_periods": initial,
                    "with_drift": with_drift,
                    "seed": seed,
                    "cache": cache,
                },
            )
            for p in parsed
        ]
        results: list[PolicyResult] = [f.result() for f in futures]
    table = summary_table(results)
    searches = {
        r.policy: [
            (prepared.period_starts[p.period], p.search_reasons[0].message)
            for p in r.periods
            if p.search_reasons
        ]
        for r in results
        if any(p.search_reasons for p in r.periods)
    }

    experiment_id = mlflow_store.ensure_experiment(
        rt.client, f"{uc.name}-backtests", rt.mlflow.artifact_root
    )
    run = rt.client.create_run(
        experiment_id,
        run_name=f"backtest-{source.stem}",
        tags={TAG_KIND: "backtest", TAG_USECASE: uc.name},
    )
    run_id = run.info.run_id
    try:
        metrics = {}
        for row, result in zip(table, results, strict=True):
            for key in (
                "mean_error",
                "total_error",
                "retrains",
                "total_cost",
                "guardrail_period_share",
            ):
                if key in row and isinstance(row[key], (int, float)):
                    metrics[_metric_key(result.policy, key)] = float(row[key])
        training_runs.log_params_and_metrics(
            rt.client,
            run_id,
            params={
                "usecase": uc.name,
                "data": source.name,
                "data_sha256": storage.file_sha256(source),
                "policies": ",".join(p.name for p in parsed),
                "period_unit": str(prepared.unit),
                "periods": len(prepared.periods),
                "initial_periods": initial,
                "with_drift": with_drift,
                "seed": seed,
                "task_runner": task_runner or runner_setting.kind,
            },
            metrics=metrics,
        )
        with tempfile.TemporaryDirectory(prefix="mlops-backtest-") as tmp:
            out = Path(tmp)
            plot = plot_policies(
                {r.policy: [(p.period, p.metric) for p in r.periods] for r in results},
                {r.policy: list(r.retrain_periods) for r in results},
                metric=uc.metric.primary,
                title=f"{uc.name}: {uc.metric.primary} per {prepared.unit or 'period'} by policy",
                path=out / "metric_over_time.png",
                period_label=prepared.unit or "period",
            )
            (out / "table.json").write_text(json.dumps(table, indent=2, default=str))
            if searches:
                (out / "searches.json").write_text(
                    json.dumps(
                        {
                            r.policy: [
                                [reason.model_dump() for reason in p.search_reasons]
                                for p in r.periods
                                if p.search_reasons
                            ]
                            for r in results
                            if any(p.search_reasons for p in r.periods)
                        },
                        indent=2,
                    )
                )
            (out / "table.md").write_text(_markdown_table(table) + "\n")
            pd.DataFrame(
                [
                    {
                        "policy": r.policy,
                        "period": p.period,
                        "rows": p.rows,
                        "metric": p.metric,
                        "error": p.error,
                        "champion": p.champion,
                        "guardrail_rows": p.guardrail_rows,
                        "decision": p.decision.action if p.decision else None,
                        "trigger": p.trigger,
                        "promoted": p.promoted,
                        "challenger_estimator": p.challenger_estimator,
                        "search_reason": (
                            p.search_reasons[0].message if p.search_reasons else None
                        ),
                    }
                    for r in results
                    for p in r.periods
                ]
            ).to_csv(out / "periods.csv", index=False)
            rt.client.log_artifacts(run_id, str(out))
            # Keep a copy of the plot beside the data root's reports for the CLI to show.
            kept = rt.paths.reports / f"backtest-{source.stem}.png"
            kept.write_bytes(plot.read_bytes())
        rt.client.set_terminated(run_id, "FINISHED")
    except BaseException:
        rt.client.set_terminated(run_id, "FAILED")
        raise
    publish_table(uc.name, "backtest", table, f"Backtest of {source.name}: one row per policy")
    return BacktestResult(
        table=tuple(table),
        plot=str(kept),
        run_id=run_id,
        initial_periods=initial,
        periods=len(prepared.periods),
        markdown=_markdown_table(table),
        estimators={r.policy: r.challenger_estimators for r in results},
        searches={policy: tuple(found) for policy, found in searches.items()},
    )

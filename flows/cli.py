"""The ``mlops`` command line: runs the flows and shows the state of a model.

Heavy imports (Prefect, MLflow, scikit-learn) happen inside the commands, so
``mlops --help`` is instant and environment defaults are set before them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Standard library only at import: starts nothing until called.
from flows.local import start_local_server_early
from tasks.tags import TAG_PERIOD

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tasks.storage import UseCasePaths

app = typer.Typer(
    name="mlops",
    help="Continuous ML for tabular models: validate, monitor, retrain, promote, guard, explain.",
    no_args_is_help=True,
    add_completion=False,
)

UsecaseArg = Annotated[Path, typer.Argument(help="Use-case YAML file.")]
HomeOpt = Annotated[
    str | None,
    typer.Option("--home", help="Data root (default: $MLOPS_HOME or ./.mlops)."),
]


def set_environment_defaults(verbose: bool = False) -> None:
    """Process defaults of every command (thread limits, trusted models, quiet logs).

    Sets environment variables only (each unless already set); a command that
    runs flows then calls :func:`run_flows_here`.

    Args:
        verbose: Show Prefect's logs.
    """
    # Histogram models oversubscribe the 2 cores badly when runs share them.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # MLflow refuses pickle when asked; the product only ever loads skops models.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Arrow buffers (Parquet reads) from the C library's allocator, not Arrow's
    # bundled mimalloc, whose arena's resident pages grew by about 0.25 MiB per
    # cycle in a long-lived process (monitor_landed over many batches; likely
    # the heaps of finished task threads, as Prefect runs tasks in short-lived
    # threads). Read by Arrow when its default pool is first used.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if not verbose:
        # Quiet on the terminal, complete in Prefect: the console handler shows
        # warnings only, while each run's INFO lines (the cycle's decision
        # sentence, promotions) still reach the Prefect API, where the UI shows
        # them. A WARNING logger level would drop them before either handler.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
        # A local Dask cluster (--task-runner dask) otherwise logs every worker's
        # start, connection and shutdown at INFO: dozens of lines around the result.
        # Read by Dask when first imported, here and in its worker processes.
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    # No usage reports from MLflow: its telemetry thread sets and unsets an
    # environment variable, which breaks any other thread reading os.environ at
    # that moment (requests looking for proxies raised KeyError mid-request).
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # No analytics from a closed network; its first write also races the ephemeral
    # server's migrations on SQLite ("database is locked" in the demo's output).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The ephemeral server's first start migrates a fresh database: slow on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def run_flows_here(command: typer.Context) -> None:
    """Flows this command runs go without heartbeats, and a local server ends with it.

    Called once a command's arguments are checked, just before its first flow:
    it imports Prefect's server module (seconds), which a command that stops at
    a bad argument never needs. Call :func:`set_environment_defaults` first:
    Prefect reads those variables when first imported.

    Args:
        command: The command that runs flows in this process: until it ends,
            they run without heartbeats, and a local Prefect server it starts
            ends with the process however the process ends (see ``flows/local.py``).
    """
    from flows.local import local_server_ends_with_process, without_heartbeats

    command.with_resource(without_heartbeats())
    local_server_ends_with_process()


def _batches_may_wait(paths: UseCasePaths, fmt: str) -> bool:
    """Whether ``mlops monitor`` without a batch may find one: the landing folder is
    remote (only a fetch tells), or a local one holds a file of format ``fmt``."""
    from tasks import storage

    if paths.landing_source is not None:
        return True
    return paths.landing.is_dir() and bool(storage.list_files(paths.landing, fmt))


def _check_usecase(path: Path) -> None:
    """Exit 2 with one line naming the file, key and problem when the use case is invalid."""
    from mlops_core.config import UseCaseError
    from tasks.storage import load_usecase_file

    try:
        load_usecase_file(path)
    except UseCaseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _check_contract(usecase: Path, home: str | None) -> None:
    """Exit 2 with one line when the contract drops or retypes an input the champion reads.

    Checked before the flow starts, as the flow itself checks it before it
    touches a batch: the user gets the one line, not a failed flow run.
    """
    from mlops_core.schema_change import SchemaChangeRefused
    from tasks.runtime import open_runtime
    from tasks.steps import check_contract

    try:
        check_contract(open_runtime(usecase, home))
    except SchemaChangeRefused as exc:
        # The file as the user named it, like the use-case errors above.
        typer.echo(f"error: {usecase}: {exc.decision.refusal_message()}", err=True)
        raise typer.Exit(2) from None


def _check_data_file(path: Path) -> None:
    """Exit 2 with one line when the data file does not exist."""
    if not path.is_file():
        typer.echo(f"error: {path}: no such file", err=True)
        raise typer.Exit(2)


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it (shorter to copy)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _print(result: BaseModel | dict[str, object]) -> None:
    """Print a flow's result (or another view) as indented JSON."""
    import json

    from pydantic import BaseModel

    payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command()
def demo(
    command: typer.Context,
    home: Annotated[Path, typer.Option("--home", help="Demo data root (emptied first).")] = Path(
        ".mlops-demo"
    ),
    seed: Annotated[int, typer.Option(help="Simulator seed.")] = 7,
    periods: Annotated[int, typer.Option(min=18, max=200, help="Live weeks to simulate.")] = 26,
    verbose: Annotated[bool, typer.Option(help="Show Prefect logs.")] = False,
) -> None:
    """Simulate a retail business for PERIODS weeks through the real flows."""
    set_environment_defaults(verbose)
    start_local_server_early()
    run_flows_here(command)
    from rich.console import Console

    from flows.cycle_table import results_table
    from flows.demo import SHIPPED_USECASE
    from flows.demo import demo as demo_flow

    started = dt.datetime.now()
    rows = demo_flow(data_root=str(home), seed=seed, live_periods=periods, show_progress=True)
    # Wide enough for the table even when the output is a log file, not a terminal.
    console = Console(width=max(Console().width, 150))
    console.print(results_table(rows))
    root = home.resolve()
    tracking = f"sqlite:///{root}/mlflow.db"
    console.print(
        f"\nDone in {(dt.datetime.now() - started).total_seconds():.0f} s. Data: {root}\n"
        f"MLflow UI:  uv run mlflow ui --backend-store-uri {tracking}\n"
        + _monitoring_links(tracking, SHIPPED_USECASE)
        + f"Status:     uv run mlops status {_shown(SHIPPED_USECASE)} --home {home}"
    )


def _monitoring_links(tracking_uri: str, usecase: Path | str) -> str:
    """Lines linking to a use case's decisions and monitoring history in the MLflow UI.

    The links open MLflow's model-training view (runs table, metric charts); a
    tracking server is linked where it is, a database at ``mlflow ui``'s address.
    Empty when the use case has no monitoring run yet.
    """
    from tasks import monitoring_history, storage
    from tasks.mlflow_store import (
        MLFLOW_UI_DEFAULT_URL,
        MlflowSettings,
        make_client,
        mlflow_ui_link,
    )

    uc = storage.load_usecase_file(usecase)
    client = make_client(MlflowSettings(tracking_uri=tracking_uri, artifact_root=None))
    served = tracking_uri.startswith(("http://", "https://"))
    base = tracking_uri if served else MLFLOW_UI_DEFAULT_URL
    lines = ""
    decisions = client.get_experiment_by_name(uc.decisions_experiment_name)
    if decisions is not None:
        lines += f"Decisions:  {mlflow_ui_link(base, decisions.experiment_id)}\n"
    monitoring = client.get_experiment_by_name(uc.monitoring_experiment_name)
    run_id = (
        monitoring_history.find_monitoring_run(client, monitoring.experiment_id)
        if monitoring is not None
        else None
    )
    if monitoring is not None and run_id is not None:
        lines += f"Monitoring: {mlflow_ui_link(base, monitoring.experiment_id, run_id)}\n"
    return lines


@app.command()
def bootstrap(
    command: typer.Context, usecase: UsecaseArg, home: HomeOpt = None, verbose: bool = False
) -> None:
    """Train the first champion on the labeled batches in landing."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    start_local_server_early()
    _check_contract(usecase, home)
    run_flows_here(command)
    from flows.cycle import bootstrap as flow

    _print(flow(str(usecase), data_root=home))


@app.command()
def score(
    command: typer.Context,
    usecase: UsecaseArg,
    batch: Annotated[str, typer.Argument(help="Batch file name in landing.")],
    home: HomeOpt = None,
    verbose: bool = False,
) -> None:
    """Validate a batch, predict with the champion, apply guardrails."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    _check_contract(usecase, home)
    run_flows_here(command)
    from flows.cycle import score_batch

    _print(score_batch(str(usecase), batch, data_root=home))


@app.command()
def monitor(
    command: typer.Context,
    usecase: UsecaseArg,
    batch: Annotated[
        str | None, typer.Argument(help="Batch file name; all landed when omitted.")
    ] = None,
    home: HomeOpt = None,
    verbose: bool = False,
) -> None:
    """Run the monitoring cycle for one landed batch, or for every landed batch in order."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    from tasks import storage

    uc = storage.load_usecase_file(usecase)
    root = Path(home).resolve() if home else storage.resolve_data_root()
    paths = storage.UseCasePaths.for_usecase(uc, root)
    if batch is not None or _batches_may_wait(paths, uc.data.format):
        start_local_server_early()
    _check_contract(usecase, home)
    run_flows_here(command)
    from flows.cycle import monitor as flow
    from tasks.remote_folders import fetch_remote

    if batch is not None:
        _print(flow(str(usecase), batch, data_root=home))
        return
    try:
        fetch_remote(paths, uc.data.format, "landing")
    except (OSError, ImportError) as exc:  # ImportError: the store's fsspec package is missing
        typer.echo(f"error: cannot move the batches waiting into {paths.landing}: {exc}", err=True)
        raise typer.Exit(1) from None
    landed = storage.list_files(paths.landing, uc.data.format)
    if not landed:
        typer.echo(f"no batch in {paths.landing_source or paths.landing}")
    for path in landed:
        _print(flow(str(usecase), path.name, data_root=home))


@app.command()
def rollback(
    command: typer.Context,
    usecase: UsecaseArg,
    reason: Annotated[
        str, typer.Option(help="Why; kept in the decision record.")
    ] = "manual rollback",
    home: HomeOpt = None,
    from_version: Annotated[
        str | None,
        typer.Option(help="Champion version to roll back from (makes a rerun safe)."),
    ] = None,
    verbose: bool = False,
) -> None:
    """Move alias champion back to the previous version."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    start_local_server_early()
    run_flows_here(command)
    from flows.cycle import rollback as flow

    _print(flow(str(usecase), reason=reason, data_root=home, from_version=from_version))


@app.command()
def backtest(
    command: typer.Context,
    usecase: UsecaseArg,
    data: Annotated[Path, typer.Argument(help="Time-ordered CSV or Parquet with the target.")],
    policies: Annotated[
        str, typer.Option(help="Comma-separated: never, every:K, drift, performance, default.")
    ] = "never,every:1,drift,performance,default",
    initial: Annotated[
        int | None, typer.Option(min=2, help="Periods the first champion trains on.")
    ] = None,
    period: Annotated[
        str | None, typer.Option(help="day, week or month (default: the use case's).")
    ] = None,
    drift: Annotated[bool, typer.Option(help="Measure data drift.")] = True,
    task_runner: Annotated[
        str | None,
        typer.Option(
            help="threads, threads:N, dask, dask:N or dask:tcp://host:8786 "
            "(default: $MLOPS_TASK_RUNNER or threads)."
        ),
    ] = None,
    home: HomeOpt = None,
    verbose: bool = False,
) -> None:
    """Replay a labeled history under several retraining policies and compare them."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    _check_data_file(data)
    start_local_server_early()
    from rich.console import Console
    from rich.table import Table

    from flows.backtest import backtest as flow
    from mlops_core.backtest import parse_policy

    names = [p.strip() for p in policies.split(",") if p.strip()]
    try:
        for name in names:
            parse_policy(name)
    except ValueError as exc:
        typer.echo(f"error: --policies: {exc}", err=True)
        raise typer.Exit(2) from None
    from flows.runners import parse_runner

    try:
        parse_runner(task_runner)
    except ValueError as exc:
        typer.echo(f"error: --task-runner: {exc}", err=True)
        raise typer.Exit(2) from None
    run_flows_here(command)
    out = flow(
        str(usecase),
        str(data),
        policies=names,
        initial_periods=initial,
        period=period,
        with_drift=drift,
        data_root=home,
        task_runner=task_runner,
    )
    table = Table(
        title=f"backtest of {data.name} ({out.periods} periods, "
        f"first champion on {out.initial_periods})"
    )
    rows = out.table
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(f"{v:,.4g}" if isinstance(v, float) else str(v) for v in r.values()))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print(f"plot: {out.plot}\nMLflow run: {out.run_id}")


@app.command()
def replay(
    command: typer.Context,
    usecase: UsecaseArg,
    data: Annotated[
        Path, typer.Argument(help="Labeled history: CSV or Parquet with the target column.")
    ],
    home: HomeOpt = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First period run live (2012-03, 2012-03-05, or an integer period); the "
            "periods before it train the first model. Default: after the first quarter.",
        ),
    ] = None,
    periods: Annotated[
        int | None,
        typer.Option("--periods", min=1, help="Stop after this many live periods."),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Show Prefect logs.")] = False,
) -> None:
    """Feed a labeled history through the real bootstrap and monitor flows, period by period."""
    set_environment_defaults(verbose)
    _check_usecase(usecase)
    _check_data_file(data)
    start_local_server_early()
    run_flows_here(command)
    from rich.console import Console

    from flows.cycle_table import results_table
    from flows.replay import ReplayError
    from flows.replay import replay as replay_flow
    from tasks import storage

    uc = storage.load_usecase_file(usecase)
    started = dt.datetime.now()
    try:
        rows = replay_flow(
            str(usecase),
            str(data),
            data_root=home,
            start=start,
            max_periods=periods,
            show_progress=True,
        )
    except ReplayError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    console = Console(width=max(Console().width, 150))
    title = f"mlops replay {uc.name}: one row per period"
    console.print(results_table(rows, uc.metric.primary, uc.data.period, title=title))
    root = Path(home).resolve() if home else storage.resolve_data_root()
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root}/mlflow.db"
    console.print(
        f"\nDone in {(dt.datetime.now() - started).total_seconds():.0f} s. Data: {root}\n"
        f"MLflow UI:  uv run mlflow ui --backend-store-uri {tracking}\n"
        + _monitoring_links(tracking, usecase)
        + f"Status:     uv run mlops status {usecase}"
        + (f" --home {home}" if home else "")
    )


@app.command()
def status(
    usecase: UsecaseArg,
    home: HomeOpt = None,
    decisions: Annotated[int, typer.Option(help="How many recent decisions to show.")] = 10,
) -> None:
    """Champion, version history (who and why) and the latest decisions."""
    set_environment_defaults()
    _check_usecase(usecase)
    from rich.console import Console
    from rich.table import Table

    from tasks import decision_store, model_registry, training_runs
    from tasks.runtime import open_runtime

    rt = open_runtime(usecase, home)
    unit = rt.usecase.data.period
    console = Console()
    champ = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    if champ is None:
        console.print(f"[bold]{rt.name}[/]: no champion yet (run bootstrap)")
    else:
        p = champ.profile
        console.print(
            f"[bold]{rt.name}[/]: champion is version {champ.version} "
            f"(trained on {_trained_span(p.trained_first_period, p.trained_last_period, unit)}, "
            f"{p.metric} {p.reference_metric:.3f} on its holdout, "
            f"{p.decay_reference_metric:.3f} {_reference_basis_text(p.decay_reference_basis)})"
        )
    versions = Table(title="versions")
    for col in ("version", "status", "aliases", "created", "why"):
        versions.add_column(col)
    for v in model_registry.version_history(rt.client, rt.usecase.registered_model_name):
        versions.add_row(
            v.version,
            v.status or "-",
            ",".join(v.aliases) or "-",
            _ms(v.creation_time),
            (v.promotion_reason or v.description or "")[:100],
        )
    console.print(versions)
    recent = Table(title="latest decisions")
    for col in ("when", "kind", "action", "period", "reasons"):
        recent.add_column(col)
    for run in decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, max_results=decisions
    ):
        recent.add_row(
            _ms(run.start_time),
            run.kind,
            run.action,
            _period_tag(run.tags.get(TAG_PERIOD), unit),
            ", ".join(run.reasons),
        )
    console.print(recent)


def _reference_basis_text(basis: str) -> str:
    """How the decay reference of ``mlops status`` was measured, in words."""
    if basis == "out_of_time":
        return "expected one step after its training (its decay reference)"
    return "as its decay reference (its holdout: no out-of-time fit)"


def _trained_span(first: int | None, last: int | None, unit: Any) -> str:
    from mlops_core.periods import period_label

    if unit is None:
        return f"periods {first if first is not None else 'start'}..{last}"
    start = "the start" if first is None else period_label(first, unit)
    return f"{start} to {period_label(last, unit)}"


def _period_tag(tag: str | None, unit: Any) -> str:
    from mlops_core.periods import period_label

    if tag in (None, "", "None"):
        return "-"
    try:
        return period_label(int(tag), unit) if unit is not None else tag
    except ValueError:
        return tag


def _ms(ms: int | None) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


@app.command("init-usecase")
def init_usecase(
    data: Annotated[Path, typer.Argument(help="Data file to profile (CSV or Parquet).")],
    target: Annotated[str, typer.Option("--target", help="Column the model predicts.")],
    time: Annotated[str, typer.Option("--time", help="Time column: integer periods or dates.")],
    id_column: Annotated[
        str | None,
        typer.Option("--id", help="Unique row id column (default: row_id, added by the replay)."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Segment column (e.g. store).")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="day, week or month for a date time column."),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="regression or classification (default: from the target)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Use-case name (default: from the file name).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="YAML file to write (default: ./NAME.yaml).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starting use-case file profiled from DATA, for you to review and edit."""
    import yaml

    from mlops_core.config import UseCaseError, parse_usecase
    from mlops_core.profiling import profile_frame, render_usecase_yaml, usecase_name_from
    from tasks.storage import read_table

    def fail(message: str) -> typer.Exit:
        typer.echo(f"error: {message}", err=True)
        return typer.Exit(2)

    suffix = data.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise fail(f"{data}: expected a .csv or .parquet file")
    try:
        frame = read_table(data)
    except FileNotFoundError:
        raise fail(f"{data}: no such file") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise fail(f"{data}: cannot be read: {first}") from None
    usecase_name = name or usecase_name_from(data.stem)
    target_file = out if out is not None else Path(f"{usecase_name}.yaml")
    if target_file.exists() and not force:
        raise fail(f"{target_file} exists (use --force to overwrite it)")
    try:
        profile = profile_frame(
            frame,
            name=usecase_name,
            target=target,
            time=time,
            id_column=id_column,
            segment=segment,
            period=period,
            task=task,
            source_name=data.name,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    text = render_usecase_yaml(profile.mapping, source_name=data.name, notes=profile.notes)
    try:
        parse_usecase(yaml.safe_load(text), str(target_file))
    except UseCaseError as exc:
        raise fail(str(exc)) from None
    target_file.parent.mkdir(parents=True, exist_ok=True)
    target_file.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {target_file}: review every value before using it")


@app.command()
def report(
    usecase: UsecaseArg,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="First period to include: a number (e.g. 12) or, for a use case with "
            "data.period, the period's date (e.g. 2012-03); otherwise an ISO date is the "
            "first day the cycles ran (e.g. 2026-01-31). Every cycle when omitted.",
        ),
    ] = None,
    home: HomeOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="HTML file to write (default: in the use case's reports)."),
    ] = None,
) -> None:
    """Write the history report: champion timeline (who and why), decisions, performance."""
    set_environment_defaults()
    _check_usecase(usecase)
    from flows.report_writer import history_report, parse_since
    from tasks.storage import load_usecase_file

    try:
        parse_since(since, load_usecase_file(usecase).data.period)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    path = history_report(usecase, since, home, out)
    typer.echo(f"wrote {path}")


review_app = typer.Typer(
    help="Review predictions held back by guardrails: list, approve, override, reject.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

BatchOpt = Annotated[
    str,
    typer.Option(
        "--batch", help="Batch of the held rows: its file name without suffix (`review list`)."
    ),
]
ReviewerOpt = Annotated[
    str, typer.Option("--reviewer", help="Your name: recorded with every row you decide.")
]
CommentOpt = Annotated[str, typer.Option("--comment", help="Why (kept in the review record).")]
RowsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--rows",
        help="Row ids, comma-separated or repeated; every pending row of the batch when omitted.",
    ),
]


def _review_runtime(usecase: Path, home: str | None) -> Any:
    set_environment_defaults()
    _check_usecase(usecase)
    from tasks.runtime import open_runtime

    return open_runtime(usecase, home)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _apply_review(
    rt: Any,
    batch: str,
    decisions: list[Any],
    reviewer: str,
    comment: str,
    allow_outside_limits: bool = False,
) -> None:
    """Apply one review and print what it did; a refusal exits 2 with one line per problem."""
    from mlops_core.review import ReviewRequest
    from tasks import review

    request = ReviewRequest(
        batch=batch,
        decisions=tuple(decisions),
        reviewer=reviewer.strip(),
        comment=comment.strip(),
        at=dt.datetime.now(dt.UTC),
        allow_outside_limits=allow_outside_limits,
    )
    try:
        result = review.apply_review(rt, request)
    except review.ReviewRefusedError as exc:
        for problem in exc.problems:
            typer.echo(f"refused: {problem}", err=True)
        typer.echo("nothing was changed", err=True)
        raise typer.Exit(2) from None
    except (review.UnknownBatchError, ValueError) as exc:
        raise _fail(str(exc)) from None
    _print(result.summary())


def _decide_rows(
    usecase: Path,
    home: str | None,
    batch: str,
    rows: list[str] | None,
    action: str,
    reviewer: str,
    comment: str,
) -> None:
    """Approve or reject the given rows of a batch, or every pending row when none is given."""
    from mlops_core.review import RowDecision
    from tasks import review

    rt = _review_runtime(usecase, home)
    ids = [part.strip() for given in rows or [] for part in given.split(",") if part.strip()]
    if not ids:
        try:
            ids = [row.row_id for row in review.queue_state(rt, batch).pending]
        except (review.UnknownBatchError, ValueError) as exc:
            raise _fail(str(exc)) from None
        if not ids:
            typer.echo(f"nothing pending in batch {batch}: every held row is reviewed")
            return
    _apply_review(rt, batch, [RowDecision(row_id=i, action=action) for i in ids], reviewer, comment)


@review_app.command("list")
def review_list(
    usecase: UsecaseArg,
    home: HomeOpt = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most rows shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the held predictions waiting for review, with why each was held."""
    from rich.console import Console
    from rich.table import Table

    from tasks import review

    rt = _review_runtime(usecase, home)
    try:
        queues = review.list_queues(rt, batch)
    except (review.UnknownBatchError, ValueError) as exc:
        raise _fail(str(exc)) from None
    pending = [row for q in queues for row in q.pending]
    if as_json:
        _print(
            {
                "pending_rows": len(pending),
                "batches": {q.batch: q.counts for q in queues},
                "rows": [
                    {**row.model_dump(mode="json"), "reasons": row.reasons}
                    for row in pending[:limit]
                ],
            }
        )
        return
    console = Console(width=max(Console().width, 140))
    if not pending:
        console.print(f"[bold]{rt.name}[/]: no held prediction waits for review")
        return
    table = Table(title=f"{rt.name}: {len(pending)} held prediction(s) wait for review")
    for col in ("batch", "row", "segment", "proposed", "raw", "why it was held"):
        table.add_column(col)
    for row in pending[:limit]:
        table.add_row(
            row.batch,
            row.row_id,
            row.segment or "-",
            _value(row.proposed_prediction),
            _value(row.raw_prediction),
            row.reasons,
        )
    console.print(table)
    if len(pending) > limit:
        console.print(f"{len(pending) - limit} more not shown (--limit)")


def _value(value: float | str | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else value


@review_app.command("approve")
def review_approve(
    usecase: UsecaseArg,
    batch: BatchOpt,
    reviewer: ReviewerOpt,
    rows: RowsOpt = None,
    comment: CommentOpt = "",
    home: HomeOpt = None,
) -> None:
    """Release held rows of a batch with their proposed values."""
    _decide_rows(usecase, home, batch, rows, "approve", reviewer, comment)


@review_app.command("reject")
def review_reject(
    usecase: UsecaseArg,
    batch: BatchOpt,
    reviewer: ReviewerOpt,
    rows: RowsOpt = None,
    comment: CommentOpt = "",
    home: HomeOpt = None,
) -> None:
    """Never release held rows of a batch (recorded with who decided and why)."""
    _decide_rows(usecase, home, batch, rows, "reject", reviewer, comment)


@review_app.command("override")
def review_override(
    usecase: UsecaseArg,
    batch: BatchOpt,
    row: Annotated[list[str], typer.Option("--row", help="Row id; repeat with --value.")],
    value: Annotated[
        list[float], typer.Option("--value", help="Value to release for the --row at its place.")
    ],
    reviewer: ReviewerOpt,
    comment: CommentOpt = "",
    allow_outside_limits: Annotated[
        bool,
        typer.Option(
            "--allow-outside-limits",
            help="Release values that break a guardrail limit (recorded as such).",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Release held rows of a batch with your own values instead of the proposed ones."""
    from mlops_core.review import RowDecision

    if len(row) != len(value):
        raise _fail(f"{len(row)} --row but {len(value)} --value: give one value per row")
    rt = _review_runtime(usecase, home)
    _apply_review(
        rt,
        batch,
        [
            RowDecision(row_id=r, action="override", value=v)
            for r, v in zip(row, value, strict=True)
        ],
        reviewer,
        comment,
        allow_outside_limits,
    )


@app.command()
def deploy(
    usecase: UsecaseArg,
    cron: Annotated[
        str | None,
        typer.Option(
            help="When monitor-NAME handles what waits in landing (5-field cron). Default "
            "from the use case's data.period, at 06:00: day -> daily, week -> Mondays, "
            "month -> the 1st of the month, integer periods -> daily.",
        ),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of the cron.")] = "UTC",
    pool: Annotated[
        str | None,
        typer.Option(
            help="Work pool (default: the Prefect setting deployments.default_work_pool_name, "
            "else mlops-process, the pool `mlops up` creates).",
        ),
    ] = None,
    home: Annotated[
        str | None,
        typer.Option(
            "--home", help="Data root the deployed flows use (default: the worker's $MLOPS_HOME)."
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="Prefect API to deploy to (default: $PREFECT_API_URL or your Prefect profile's).",
        ),
    ] = None,
) -> None:
    """Register a use case's deployments on the Prefect server ($PREFECT_API_URL).

    monitor-NAME runs on the cron; monitor-batch-, score-, bootstrap-, rollback- and
    review-NAME run by hand. Running it again updates them in place (same
    deployments, one schedule).
    """
    set_environment_defaults()
    _check_usecase(usecase)
    from flows.deploy import DeployError, ScheduleError, deploy_usecase

    try:
        plan, applied = deploy_usecase(
            usecase, cron=cron, timezone=timezone, work_pool=pool, data_root=home, api_url=api_url
        )
    except ScheduleError as exc:
        raise _fail(str(exc)) from None
    except DeployError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{plan.usecase_name}: {len(applied)} deployments in work pool {plan.work_pool}")
    for deployment in applied:
        when = f"cron {deployment.cron} ({plan.timezone})" if deployment.cron else "manual"
        typer.echo(f"  {deployment.full_name:<48} {when}")


StackHomeOpt = Annotated[
    Path | None,
    typer.Option("--stack-home", help="Stack state folder (default: <data root>/stack)."),
]


def _stack_settings(home: str | None, stack_home: Path | None, **ports: Any) -> Any:
    from flows.stack import StackSettings
    from tasks.storage import resolve_data_root

    data_root = Path(home).resolve() if home else resolve_data_root().resolve()
    return StackSettings(
        home=(stack_home or data_root / "stack").resolve(),
        data_root=data_root,
        **{k: v for k, v in ports.items() if v is not None},
    )


@app.command()
def up(
    home: HomeOpt = None,
    stack_home: StackHomeOpt = None,
    pg_port: Annotated[int, typer.Option(help="PostgreSQL port.")] = 5432,
    prefect_port: Annotated[int, typer.Option(help="Prefect server port.")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow server port.")] = 5000,
    worker: Annotated[bool, typer.Option(help="Start a process worker.")] = True,
    usecases: Annotated[
        list[Path] | None,
        typer.Option(
            "--usecase",
            help="Use-case file to deploy with the stack, like `mlops deploy` with its "
            "default schedule (repeat for several).",
        ),
    ] = None,
) -> None:
    """Start the local stack: PostgreSQL, Prefect and MLflow servers, deployments, a worker."""
    from flows.stack import StackError, coordination_export
    from flows.stack import up as stack_up

    for usecase in usecases or []:
        _check_usecase(usecase)
    settings = _stack_settings(
        home,
        stack_home,
        pg_port=pg_port,
        prefect_port=prefect_port,
        mlflow_port=mlflow_port,
        worker=worker,
        usecases=tuple(u.resolve() for u in usecases) if usecases else None,
    )
    try:
        where = stack_up(settings, echo=typer.echo)
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"\nPrefect UI:  {where['prefect_ui']}\nMLflow UI:   {where['mlflow']}\n"
        f"Logs:        {where['logs']}\n\nPoint the CLI at the stack:\n"
        f"  export PREFECT_API_URL={where['prefect_api']} MLFLOW_TRACKING_URI={where['mlflow']}"
        f" MLOPS_HOME={settings.data_root}\n  {coordination_export(settings)}\n"
        "Stop it with: mlops down"
    )


@app.command()
def down(home: HomeOpt = None, stack_home: StackHomeOpt = None) -> None:
    """Stop the local stack started by ``mlops up``."""
    from flows.stack import StackError
    from flows.stack import down as stack_down

    try:
        stack_down(_stack_settings(home, stack_home), echo=typer.echo)
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    """Entry point for ``python -m flows.cli``."""
    app()


if __name__ == "__main__":
    sys.exit(main())

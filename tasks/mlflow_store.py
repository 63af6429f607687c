"""Where MLflow lives, the client to it, and the run calls every MLflow adapter shares.

Everything that talks to MLflow (``tasks.training_runs``, ``tasks.model_registry``,
``tasks.decision_store`` and the rest) goes through an explicit ``MlflowClient``
and explicit run ids. MLflow's fluent API keeps the active run (and the last
logged model) per thread, and Prefect runs tasks in worker threads, so a fluent
call made from a task can attach data to the wrong run or start a stray one.
Nothing in these modules calls ``mlflow.set_tracking_uri`` or relies on the
active run.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import (
    LoggedModelStatus,
    Metric,
    Param,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    ALREADY_EXISTS,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)

from tasks.relocation import experiment_location
from tasks.tags import (
    EXPERIMENT_KIND_MODEL_DEVELOPMENT,
    TAG_ABANDONED_REASON,
    TAG_BATCH,
    TAG_KIND,
    TAG_MLFLOW_EXPERIMENT_KIND,
)

logger = logging.getLogger(__name__)
# One log_batch call takes at most 100 params and 1000 entities in total.
#: A run parameter as the product logs it (MLflow keeps its text).
ParamValue = str | int | float | bool | None

_MAX_BATCH_PARAMS = 100
_MAX_BATCH_METRICS = 900

EXISTS_CODES = {ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)}
MISSING_CODE = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


@dataclass(frozen=True)
class MlflowSettings:
    """Where MLflow keeps runs, the registry and artifacts.

    Attributes:
        tracking_uri: Tracking and registry store (``sqlite:///...`` or a server URL).
        artifact_root: Root for experiment artifacts when the client writes them itself
            (local store); None lets the server or store choose.
    """

    tracking_uri: str
    artifact_root: str | None


#: The embedded store's files in the data root: MLflow's SQLite database and artifacts.
EMBEDDED_DATABASE_FILE = "mlflow.db"
EMBEDDED_ARTIFACTS_FOLDER = "mlartifacts"


def settings_for_data_root(root: Path) -> MlflowSettings:
    """Embedded default: a SQLite file and an artifact folder under the data root.

    Args:
        root: The product's data root folder.

    Returns:
        Settings pointing at ``<root>/mlflow.db`` and ``<root>/mlartifacts``.
    """
    root = Path(root).expanduser().resolve()
    return MlflowSettings(
        tracking_uri=f"sqlite:///{root / EMBEDDED_DATABASE_FILE}",
        artifact_root=str(root / EMBEDDED_ARTIFACTS_FOLDER),
    )


def resolve_settings(data_root: Path, env: Mapping[str, str]) -> MlflowSettings:
    """Settings from the data root, overridden by ``MLFLOW_TRACKING_URI`` when set.

    A tracking server (http, https, databricks) owns its artifact store, so no
    artifact root is set for it. A database URI used directly (sqlite, postgresql,
    ...) has no server to choose one, so artifacts stay under the data root instead
    of landing in ``./mlruns`` of whatever folder the worker started in.

    Args:
        data_root: The product's data root folder.
        env: Environment variables (passed in by the caller).

    Returns:
        The settings to build a client from.
    """
    default = settings_for_data_root(data_root)
    uri = (env.get("MLFLOW_TRACKING_URI") or "").strip()
    if not uri:
        return default
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("http", "https", "databricks"):
        return MlflowSettings(tracking_uri=uri, artifact_root=None)
    return MlflowSettings(tracking_uri=uri, artifact_root=default.artifact_root)


_CLIENTS: dict[str, MlflowClient] = {}
_CLIENTS_LOCK = threading.Lock()


def make_client(settings: MlflowSettings) -> MlflowClient:
    """Client for the tracking store, with the registry in the same store; cached per URI.

    The first client on a fresh SQLite file creates the schema (about 1.5 s); that
    happens here, under a lock, so two threads never migrate the same file at once.

    Args:
        settings: Where MLflow lives.

    Returns:
        A client whose tracking and registry URIs are both ``settings.tracking_uri``.
    """
    uri = settings.tracking_uri
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(uri)
        if client is None:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            # Touch both stores now so schema creation happens once, under the lock.
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
            _CLIENTS[uri] = client
        return client


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """Return the id of experiment ``name``, creating (or restoring) it when needed.

    Safe when several workers race to create the same experiment: the loser of the
    race reads the winner's experiment. The experiment is marked a model-development
    experiment (MLflow's ``mlflow.experimentKind`` tag, ``custom_model_development``)
    when it is created, and when an existing one is first touched without a kind;
    a kind someone chose in MLflow is left as it is.

    Args:
        client: MLflow client.
        name: Experiment name.
        artifact_root: Root folder or URI for the experiment's artifacts; the
            experiment gets ``<artifact_root>/<name>``. None: the store decides.

    Returns:
        The experiment id.
    """
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        if TAG_MLFLOW_EXPERIMENT_KIND not in existing.tags:
            mark_model_development(client, existing.experiment_id)
        return existing.experiment_id
    location = _join_location(artifact_root, name) if artifact_root else None
    try:
        return client.create_experiment(
            name,
            artifact_location=location,
            tags={TAG_MLFLOW_EXPERIMENT_KIND: EXPERIMENT_KIND_MODEL_DEVELOPMENT},
        )
    except MlflowException as exc:
        if exc.error_code not in EXISTS_CODES:
            raise
        raced = client.get_experiment_by_name(name)
        if raced is None:
            raise
        return raced.experiment_id


def mark_model_development(client: MlflowClient, experiment_id: str) -> None:
    """Tag an experiment as classic model development (MLflow's experiment kind).

    The tag is MLflow's record of what the experiment is (its experiment-type
    selector shows it). Which view MLflow 3.17's browser opens is decided by
    its sidebar switch (GenAI / Model training) or a link's ``workflowType``
    query parameter, not by the tag: the links the product prints carry
    ``workflowType=machine_learning`` (``mlflow_ui_link``).
    """
    client.set_experiment_tag(
        experiment_id, TAG_MLFLOW_EXPERIMENT_KIND, EXPERIMENT_KIND_MODEL_DEVELOPMENT
    )


#: The query parameter that opens a page of MLflow 3.17's browser in its model-training
#: view (runs table, metric charts) rather than its GenAI view (traces, tokens): the
#: view follows the sidebar switch, remembered per browser, unless the link says.
MLFLOW_UI_MODEL_TRAINING = "workflowType=machine_learning"
#: Where ``mlflow ui`` and ``mlflow server`` listen unless told otherwise.
MLFLOW_UI_DEFAULT_URL = "http://127.0.0.1:5000"


def mlflow_ui_link(base_url: str, experiment_id: str, run_id: str | None = None) -> str:
    """A link to an experiment's runs table, or to a run's metric charts, in the model view.

    Args:
        base_url: Where the MLflow UI is served (e.g. ``http://127.0.0.1:5000``).
        experiment_id: The experiment.
        run_id: A run of it: the link opens its metric charts.
    """
    page = f"runs/{run_id}/model-metrics" if run_id else "runs"
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/{page}?{MLFLOW_UI_MODEL_TRAINING}"


def _join_location(root: str, name: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{name}"
    return experiment_location(root, name)


def fail_run_quietly(
    client: MlflowClient,
    run_id: str,
    model_id: str | None = None,
    *,
    then: Sequence[tuple[str, Callable[[], object]]] = (),
) -> None:
    """End a run FAILED (and its logged model, if given), then run ``then``; never raises.

    Best effort: the original error is what the caller must see, so each step
    that fails is logged and the next one still runs.

    Args:
        client: MLflow client.
        run_id: The run to end.
        model_id: Its logged model, finalized FAILED.
        then: More steps, as (what, call) pairs, run after those.
    """
    steps: list[tuple[str, Callable[[], object]]] = [
        ("end run", lambda: client.set_terminated(run_id, "FAILED"))
    ]
    if model_id is not None:
        steps.append(("fail model", lambda: client.finalize_logged_model(model_id, "FAILED")))
    steps.extend(then)
    for what, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - never mask the original error
            logger.warning("could not %s for run %s", what, run_id, exc_info=True)


def log_batch(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, ParamValue],
    metrics: Mapping[str, float],
    model_id: str | None = None,
) -> None:
    """Params and metrics in as few ``log_batch`` calls as MLflow's limits allow."""
    now = int(time.time() * 1000)
    param_list = [Param(str(k), str(v)) for k, v in params.items()]
    metric_list = [Metric(str(k), float(v), now, 0, model_id=model_id) for k, v in metrics.items()]
    calls = max(
        -(-len(param_list) // _MAX_BATCH_PARAMS), -(-len(metric_list) // _MAX_BATCH_METRICS)
    )
    for i in range(calls):
        client.log_batch(
            run_id,
            params=param_list[i * _MAX_BATCH_PARAMS : (i + 1) * _MAX_BATCH_PARAMS],
            metrics=metric_list[i * _MAX_BATCH_METRICS : (i + 1) * _MAX_BATCH_METRICS],
        )


def read_run_text(client: MlflowClient, run_id: str, artifact: str) -> str:
    """The text of one artifact file of a run."""
    with tempfile.TemporaryDirectory(prefix="mlops-art-") as tmp:
        path = client.download_artifacts(run_id, artifact, tmp)
        return Path(path).read_text(encoding="utf-8")


def fail_runs_left_running(
    client: MlflowClient,
    experiment_ids: Sequence[str],
    batch_sha256: str,
    kinds: Collection[str],
    reason: str,
) -> list[str]:
    """End as FAILED, with the reason, the runs of a batch a dead process left running.

    A process killed while a run is open (SIGKILL, the out-of-memory killer, a
    lost machine) never ends it: MLflow shows it ``RUNNING`` for good. Call this
    only where no live process can own such a run, e.g. under the use case's
    cycle lock (``tasks.coordination``): a run of the batch still running then
    belongs to a holder that died. Each run found ends FAILED, gets the reason as tag
    ``mlops.abandoned_reason``, and its logged model, if still pending, is
    finalized FAILED (never loaded).

    Args:
        client: MLflow client.
        experiment_ids: Experiments to look in.
        batch_sha256: The batch (runs tagged ``mlops.batch_sha256``).
        kinds: Only runs of these ``mlops.kind`` values (others tagged with the
            batch, like a review's, are made outside the claim).
        reason: Why the runs are failed, for the tag.

    Returns:
        The ids of the runs ended.
    """
    if "'" in batch_sha256:
        raise ValueError(f"batch hash {batch_sha256!r} contains a quote character")
    runs = client.search_runs(
        list(experiment_ids),
        filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_BATCH}` = '{batch_sha256}'",
        max_results=1000,
    )
    ended = []
    for run in runs:
        if run.data.tags.get(TAG_KIND) not in kinds:
            continue
        run_id = run.info.run_id
        client.set_tag(run_id, TAG_ABANDONED_REASON, reason[:5000])
        client.set_terminated(run_id, "FAILED")
        models = client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        for model in models:
            if model.status == LoggedModelStatus.PENDING:
                client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        ended.append(run_id)
    return ended


__all__ = [
    "EMBEDDED_ARTIFACTS_FOLDER",
    "EMBEDDED_DATABASE_FILE",
    "EXISTS_CODES",
    "MISSING_CODE",
    "MLFLOW_UI_DEFAULT_URL",
    "MLFLOW_UI_MODEL_TRAINING",
    "MlflowSettings",
    "ensure_experiment",
    "fail_run_quietly",
    "fail_runs_left_running",
    "log_batch",
    "make_client",
    "mlflow_ui_link",
    "mark_model_development",
    "read_run_text",
    "resolve_settings",
    "settings_for_data_root",
]

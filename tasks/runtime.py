"""The resolved environment of one flow run: use case, folders, MLflow client.

Built once at the start of a flow from the use-case path and the process
environment, then passed to tasks, so no task reads an environment variable or
re-creates a client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient

from mlops_core.config import UseCase
from tasks.coordination import Coordination, open_coordination
from tasks.mlflow_store import (
    EMBEDDED_DATABASE_FILE,
    MlflowSettings,
    ensure_experiment,
    make_client,
    resolve_settings,
    settings_for_data_root,
)
from tasks.relocation import forget_artifact_repositories_outside, relocate_artifact_locations
from tasks.storage import UseCasePaths, load_usecase_file, resolve_data_root

#: Bounds on MLflow's HTTP client, used when the tracking store is a server.
#: MLflow's own defaults retry a failed request 7 times with exponential backoff
#: (about 4 minutes) and wait up to 120 s for each answer; with the task retries
#: on top (three attempts of the decision record), a cycle whose MLflow server
#: went away would hang for about 12 minutes before failing. These give up on an
#: unreachable server within about 10 s per request (3 retries, 0 + 2 + 4 s of
#: backoff plus jitter) and wait at most 60 s for an answer (per read, not per
#: upload). Any of them set in the environment wins.
MLFLOW_HTTP_DEFAULTS: Mapping[str, str] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}


def bound_mlflow_http(env: Mapping[str, str]) -> None:
    """Put ``MLFLOW_HTTP_DEFAULTS`` in the process environment where ``env`` sets none.

    MLflow reads these from the process environment at every request, so they are
    set there (a value given in ``env`` is copied over as it is).
    """
    for key, default in MLFLOW_HTTP_DEFAULTS.items():
        if key not in os.environ:
            os.environ[key] = env.get(key) or default


@dataclass(frozen=True)
class Runtime:
    """Everything a task needs to touch the outside world for one use case."""

    usecase: UseCase
    usecase_path: Path
    paths: UseCasePaths
    mlflow: MlflowSettings
    client: MlflowClient
    experiment_id: str
    decisions_experiment_id: str
    coordination: Coordination

    @property
    def name(self) -> str:
        """The use case's name."""
        return self.usecase.name


def open_runtime(
    usecase_path: str | os.PathLike[str],
    data_root: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Runtime:
    """Load the use case and connect to its folders and MLflow experiments.

    With the embedded store (MLflow's SQLite file and artifacts both in the data
    root), a data root that was copied or moved since it was last opened has
    its stored artifact locations rewritten to the folder it is in now
    (``tasks.relocation``) before any run or artifact is touched: a copy never
    writes into its original, and a moved root reads the runs and model versions
    made before the move. MLflow's in-process cache of artifact folders, kept
    per run id whatever the store, is cleared of folders outside this root for
    the same reason. A tracking server, or ``MLFLOW_TRACKING_URI`` naming another
    database, is left alone: its locations are its own.

    Args:
        usecase_path: Path of the use-case YAML file.
        data_root: Data root; ``$MLOPS_HOME`` or ``./.mlops`` when None.
        env: Environment to read ``MLOPS_HOME``, ``MLFLOW_TRACKING_URI``,
            ``MLOPS_COORDINATION_URL`` (``tasks.coordination``) and the
            ``MLFLOW_HTTP_REQUEST_*`` bounds from (the process environment by
            default); a tracking server gets ``MLFLOW_HTTP_DEFAULTS`` where unset.

    Raises:
        UseCaseError: The use-case file is invalid.
    """
    env = os.environ if env is None else env
    usecase = load_usecase_file(usecase_path)
    root = Path(data_root).expanduser().resolve() if data_root else resolve_data_root(env)
    root.mkdir(parents=True, exist_ok=True)
    settings = resolve_settings(root, env)
    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        bound_mlflow_http(env)
    client = make_client(settings)
    embedded = settings_for_data_root(root)
    if settings == embedded and embedded.artifact_root is not None:
        relocate_artifact_locations(root / EMBEDDED_DATABASE_FILE, embedded.artifact_root)
        forget_artifact_repositories_outside(embedded.artifact_root)
    paths = UseCasePaths.for_usecase(usecase, root)
    return Runtime(
        usecase=usecase,
        usecase_path=Path(usecase_path).resolve(),
        paths=paths,
        mlflow=settings,
        client=client,
        experiment_id=ensure_experiment(client, usecase.experiment_name, settings.artifact_root),
        decisions_experiment_id=ensure_experiment(
            client, usecase.decisions_experiment_name, settings.artifact_root
        ),
        coordination=open_coordination(paths, usecase.name, env),
    )

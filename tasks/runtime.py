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
from tasks.storage import UseCasePaths, load_usecase_file, resolve_data_root
from tasks.tracking import MlflowSettings, ensure_experiment, make_client, resolve_settings


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

    Args:
        usecase_path: Path of the use-case YAML file.
        data_root: Data root; ``$MLOPS_HOME`` or ``./.mlops`` when None.
        env: Environment to read ``MLOPS_HOME`` and ``MLFLOW_TRACKING_URI`` from
            (the process environment by default).

    Raises:
        UseCaseError: The use-case file is invalid.
    """
    env = os.environ if env is None else env
    usecase = load_usecase_file(usecase_path)
    root = Path(data_root).expanduser().resolve() if data_root else resolve_data_root(env)
    root.mkdir(parents=True, exist_ok=True)
    settings = resolve_settings(root, env)
    client = make_client(settings)
    return Runtime(
        usecase=usecase,
        usecase_path=Path(usecase_path).resolve(),
        paths=UseCasePaths.for_usecase(usecase, root),
        mlflow=settings,
        client=client,
        experiment_id=ensure_experiment(client, usecase.experiment_name, settings.artifact_root),
        decisions_experiment_id=ensure_experiment(
            client, usecase.decisions_experiment_name, settings.artifact_root
        ),
    )

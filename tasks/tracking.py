"""MLflow adapter: training runs, the model registry and decision runs.

Everything here goes through an explicit ``MlflowClient`` and explicit run ids.
MLflow's fluent API keeps the active run (and the last logged model) per thread,
and Prefect runs tasks in worker threads, so a fluent call made from a task can
attach data to the wrong run or start a stray one. Nothing in this module calls
``mlflow.set_tracking_uri`` or relies on the active run.

Models are stored in the skops format, never pickle. The list of types skops must
trust to load the pipeline is computed from the fitted pipeline itself when it is
saved, stored in the model's ``MLmodel`` file, and passed verbatim when loading,
after the model file's sha256 has been checked against the registry tag written
at registration time.

Registry conventions (one registered model per use case):

- alias ``champion``: the version serving predictions; alias ``previous``: the
  version it replaced (the target of a rollback).
- version tags: ``mlops.status`` (candidate, champion, previous, archived,
  rolled_back, rejected; failed: its logging did not complete, never use it;
  abandoned: its cycle died before deciding on it), ``mlops.source_batch_sha256``,
  ``mlops.model_sha256``, ``mlops.run_id``, ``mlops.promoted_at``,
  ``mlops.promotion_reason``, ``mlops.replaced_version`` and ``mlops.history``
  (a JSON list of promotion events), so "which version was champion at time X"
  can be answered from the registry alone (see ``champion_at``).

Aliases are the truth; status tags follow them. Every alias change is written
before the tags that describe it, so a crash in between leaves the champion
either untouched or fully moved, and rerunning the same call finishes the tags.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import tempfile
import threading
import time
import warnings
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import (
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
)
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    ALREADY_EXISTS,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_MODEL_VERSIONS

from mlops_core.records import CycleRecord, DecisionRecord, RecordError, StoredRecord
from mlops_core.reference_profile import ReferenceProfile
from mlops_core.schema_change import KnownColumn
from tasks.relocation import experiment_location
from tasks.tags import (
    TAG_ABANDONED_REASON,
    TAG_ACTION,
    TAG_BATCH,
    TAG_HISTORY,
    TAG_KIND,
    TAG_MODEL_ID,
    TAG_PROMOTED_AT,
    TAG_PROMOTION_REASON,
    TAG_REASONS,
    TAG_REPLACED_VERSION,
    TAG_RUN_ID,
    TAG_SHA256,
    TAG_SOURCE_BATCH,
    TAG_STATUS,
)

#: The model of a decision run's record (see :func:`read_decision_record`).
R = TypeVar("R", bound=StoredRecord)

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
PREVIOUS_ALIAS = "previous"

STATUS_CANDIDATE = "candidate"
STATUS_CHAMPION = "champion"
STATUS_PREVIOUS = "previous"
STATUS_ARCHIVED = "archived"
STATUS_ROLLED_BACK = "rolled_back"
STATUS_REJECTED = "rejected"
STATUS_FAILED = "failed"
STATUS_ABANDONED = "abandoned"


PROFILE_FILE = "profile.json"
REFERENCE_FILE = "reference.parquet"
REFERENCE_PROFILE_FILE = "reference_profile.json"
DECISION_JSON_FILE = "decision.json"
DECISION_MD_FILE = "decision.md"
MODEL_NAME = "model"
SKOPS_FILE = "model.skops"
MLMODEL_FILE = "MLmodel"

# Packages a served model needs, pinned to the versions it was trained with. Passing
# them explicitly skips MLflow's requirement inference, which loads the model in a
# subprocess and costs seconds per model.
_PINNED_PACKAGES = ("scikit-learn", "skops", "pandas", "numpy", "scipy")

# skops refuses unknown types unless they are listed as trusted. The list comes with
# the model, so a tampered artifact could try to trust anything: only types from these
# packages are ever accepted, whatever the model's list says.
_TRUSTABLE_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
# ... and of the product's own code, exactly this class (per-segment models).
_TRUSTABLE_TYPES = frozenset({"mlops_core.segmented.SegmentedModel"})

# Registry tag values are capped by MLflow (100,000 characters); the history of one
# version keeps its newest events within a much smaller budget.
_MAX_HISTORY_EVENTS = 50
# One log_batch call takes at most 100 params and 1000 entities in total.
_MAX_BATCH_PARAMS = 100
_MAX_BATCH_METRICS = 900

_EXISTS_CODES = {ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)}
_MISSING_CODE = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


# ----------------------------------------------------------------------- errors
class ChampionChangedError(RuntimeError):
    """The champion is not the version the caller based its decision on."""

    def __init__(self, name: str, expected: str | None, actual: str | None) -> None:
        super().__init__(
            f"registered model {name!r}: champion is version {actual or 'none'}, "
            f"expected {expected or 'none'}; the promotion decision is stale"
        )
        self.name = name
        self.expected = expected
        self.actual = actual


class NoPreviousVersionError(RuntimeError):
    """A rollback was asked for but there is no ``previous`` version to go back to."""


class ModelIntegrityError(RuntimeError):
    """A stored model does not match what the registry recorded for it."""


# --------------------------------------------------------------------- settings
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
    race reads the winner's experiment.

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
        return existing.experiment_id
    location = _join_location(artifact_root, name) if artifact_root else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as exc:
        if exc.error_code not in _EXISTS_CODES:
            raise
        raced = client.get_experiment_by_name(name)
        if raced is None:
            raise
        return raced.experiment_id


def _join_location(root: str, name: str) -> str:
    if "://" in root:
        return f"{root.rstrip('/')}/{name}"
    return experiment_location(root, name)


# ---------------------------------------------------------------------- profile
@dataclass(frozen=True)
class ModelProfile:
    """What later cycles need to know about a trained model.

    Attributes:
        metric: Name of the primary metric.
        reference_metric: The primary metric on the model's own holdout at training time
            (the model at its best: the promotion gate's plausibility check).
        decay_reference_metric: The primary metric its decay is measured against:
            out of time, one step after its training (see
            ``mlops_core.training.DecayReference``).
        decay_reference_basis: ``"out_of_time"`` or ``"holdout"`` (the fallback).
        trained_first_period: First period of the training window (None: from the start).
        trained_last_period: Last period of the training window.
        train_rows: Rows trained on.
        importance: Normalised permutation importance per feature.
        training_ranges: (min, max) per numeric feature in the training data.
        feature_names: Model inputs, in order.
        estimator: Import path of the estimator class.
        contract_columns: Every contract column as the model was trained under
            it (type, range, categories, feature or not), so a later contract
            change is judged against what the model knows
            (``mlops_core.schema_change``); None for a model logged before
            profiles kept it.
    """

    metric: str
    reference_metric: float
    trained_first_period: int | None
    trained_last_period: int
    train_rows: int
    importance: dict[str, float]
    training_ranges: dict[str, tuple[float, float]]
    feature_names: tuple[str, ...]
    estimator: str
    decay_reference_metric: float
    decay_reference_basis: str
    contract_columns: tuple[KnownColumn, ...] | None = None

    def to_json(self) -> str:
        """Serialise to JSON (tuples become lists; numpy scalars become Python numbers)."""
        first = self.trained_first_period
        raw = {
            "metric": str(self.metric),
            "reference_metric": float(self.reference_metric),
            "trained_first_period": None if first is None else int(first),
            "trained_last_period": int(self.trained_last_period),
            "train_rows": int(self.train_rows),
            "importance": {str(k): float(v) for k, v in self.importance.items()},
            "training_ranges": {
                str(k): [float(lo), float(hi)] for k, (lo, hi) in self.training_ranges.items()
            },
            "feature_names": [str(f) for f in self.feature_names],
            "estimator": str(self.estimator),
            "decay_reference_metric": float(self.decay_reference_metric),
            "decay_reference_basis": str(self.decay_reference_basis),
        }
        if self.contract_columns is not None:
            raw["contract_columns"] = [c.model_dump(mode="json") for c in self.contract_columns]
        return json.dumps(raw, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelProfile:
        """Parse the output of ``to_json``.

        Args:
            text: JSON text.

        Returns:
            The profile, with tuples restored. A profile written before models
            carried an out-of-time reference gets its holdout metric as the decay
            reference (basis ``"holdout"``), which is what it was judged on then.
        """
        raw = json.loads(text)
        first = raw["trained_first_period"]
        return cls(
            metric=str(raw["metric"]),
            reference_metric=float(raw["reference_metric"]),
            trained_first_period=None if first is None else int(first),
            trained_last_period=int(raw["trained_last_period"]),
            train_rows=int(raw["train_rows"]),
            importance={str(k): float(v) for k, v in raw["importance"].items()},
            training_ranges={
                str(k): (float(v[0]), float(v[1])) for k, v in raw["training_ranges"].items()
            },
            feature_names=tuple(str(f) for f in raw["feature_names"]),
            estimator=str(raw["estimator"]),
            decay_reference_metric=float(
                raw.get("decay_reference_metric", raw["reference_metric"])
            ),
            decay_reference_basis=str(raw.get("decay_reference_basis", "holdout")),
            contract_columns=(
                tuple(KnownColumn.model_validate(c) for c in raw["contract_columns"])
                if raw.get("contract_columns") is not None
                else None
            ),
        )


@dataclass(frozen=True)
class TrainedModel:
    """A logged and registered model version (status ``candidate``)."""

    run_id: str
    model_uri: str
    version: str
    model_sha256: str
    profile: ModelProfile


@dataclass(frozen=True)
class ChampionInfo:
    """A registered model version and what is needed to load and judge it."""

    name: str
    version: str
    run_id: str
    model_uri: str
    model_sha256: str
    profile: ModelProfile


@dataclass(frozen=True)
class DecisionRunInfo:
    """One decision run, as found in the decisions experiment."""

    run_id: str
    start_time: int
    action: str
    kind: str
    reasons: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float]


@dataclass(frozen=True)
class VersionEvent:
    """One change in a version's role (promoted, demoted, archived, rolled_back, restored)."""

    event: str
    at: datetime
    reason: str
    counterpart: str | None = None


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version and its place in the promotion history."""

    version: str
    status: str
    aliases: tuple[str, ...]
    creation_time: int
    run_id: str
    description: str
    promotion_reason: str | None
    promoted_at: datetime | None
    model_sha256: str
    events: tuple[VersionEvent, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------- training
def log_training_run(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_name: str,
    pipeline: Any,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    profile: ModelProfile,
    train_frame: pd.DataFrame,
    reference_frame: pd.DataFrame,
    input_example: pd.DataFrame,
    registered_model_name: str,
    tags: Mapping[str, str],
    reference_profile: ReferenceProfile | None = None,
    source_batch_sha256: str | None = None,
) -> TrainedModel:
    """Log one training run and register its model as a ``candidate`` version.

    The run holds params and metrics (batched), the training window as an input
    dataset (context ``training``), ``profile.json``, ``reference_profile.json``
    (what drift checks compare a batch against), ``reference.parquet`` (a sample
    for the domain classifier and the drift report) and the model: skops format, a
    signature, an input example and pinned requirements, as an MLflow logged model.
    The run ends FINISHED; on any error it ends FAILED and the error propagates.

    Args:
        client: MLflow client.
        experiment_id: Experiment of training runs.
        run_name: Display name of the run.
        pipeline: The fitted scikit-learn pipeline.
        params: Estimator and training parameters.
        metrics: Training and holdout metrics.
        profile: The model profile.
        train_frame: The training window (logged as dataset metadata, not as data).
        reference_frame: Reference sample: features plus a ``prediction`` column.
        input_example: A few input rows.
        registered_model_name: Registered model to add a version to.
        tags: Extra run tags (e.g. ``mlops.period``).
        reference_profile: The training window's drift profile.
        source_batch_sha256: The batch whose cycle trained the model; tagged on the
            version so a rerun of that batch can abandon a candidate left behind
            by a crashed attempt (:func:`abandon_candidates`), and on the run
            (``mlops.batch_sha256``) so it can end a run left running
            (:func:`fail_runs_left_running`).

    Returns:
        The run, model URI, registered version, model sha256 and profile.
    """
    import mlflow.data
    import mlflow.sklearn
    from mlflow.models import Model, infer_signature

    run_tags = {TAG_KIND: "training", **dict(tags)}
    if source_batch_sha256:
        run_tags[TAG_BATCH] = source_batch_sha256
    run = client.create_run(experiment_id, run_name=run_name, tags=run_tags)
    run_id = run.info.run_id
    model_id: str | None = None
    version: ModelVersion | None = None
    try:
        logged = client.create_logged_model(
            experiment_id,
            name=MODEL_NAME,
            source_run_id=run_id,
            params={k: str(v) for k, v in params.items()},
            model_type=profile.estimator.rsplit(".", 1)[-1],
        )
        model_id = logged.model_id
        client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
        _log_batch(client, run_id, params=params, metrics=metrics, model_id=model_id)

        with _quiet_mlflow():
            # The schema is inferred lazily, when the entity is built: keep both inside.
            dataset = mlflow.data.from_pandas(
                train_frame, source=_dataset_source(run_id), name=_window_name(profile)
            )
            dataset_entity = dataset._to_mlflow_entity()
        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    dataset_entity,
                    tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value="training")],
                )
            ],
        )

        with tempfile.TemporaryDirectory(prefix="mlops-run-") as tmp:
            run_dir = Path(tmp) / "run"
            run_dir.mkdir()
            (run_dir / PROFILE_FILE).write_text(profile.to_json(), encoding="utf-8")
            reference_frame.to_parquet(run_dir / REFERENCE_FILE, index=False)
            if reference_profile is not None:
                (run_dir / REFERENCE_PROFILE_FILE).write_text(
                    reference_profile.to_json(), encoding="utf-8"
                )
            client.log_artifacts(run_id, str(run_dir))

            trusted = _skops_trusted_types(pipeline)
            untrustable = [t for t in trusted if not _trustable(t)]
            if untrustable:
                # load_model would refuse these; fail now rather than register a dud.
                raise ValueError(
                    f"the pipeline contains types that are not loaded from skops files: "
                    f"{untrustable}; only scikit-learn, numpy, scipy and the per-segment model "
                    "are trusted"
                )
            example = _example_for_signature(input_example)
            signature = infer_signature(example, pipeline.predict(input_example))
            model_dir = Path(tmp) / MODEL_NAME
            with _quiet_mlflow():
                mlflow.sklearn.save_model(
                    pipeline,
                    str(model_dir),
                    mlflow_model=Model(
                        artifact_path=logged.artifact_location,
                        run_id=run_id,
                        model_uuid=model_id,
                        model_id=model_id,
                    ),
                    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                    skops_trusted_types=trusted,
                    signature=signature,
                    input_example=example,
                    pip_requirements=list(_pinned_requirements()),
                )
            sha256 = _sha256_file(model_dir / SKOPS_FILE)
            client.log_model_artifacts(model_id, str(model_dir))
        client.finalize_logged_model(model_id, "READY")

        _ensure_registered_model(client, registered_model_name)
        model_uri = f"models:/{model_id}"
        # The source is the logged model's artifact location, not ``models:/<id>``: the
        # SQL registry resolves a models:/ source through a client on the global
        # tracking URI (which this module never sets), and it does not store the
        # version's model id, hence the mlops.model_id tag.
        version = client.create_model_version(
            registered_model_name,
            source=logged.artifact_location,
            run_id=run_id,
            model_id=model_id,
            tags={
                TAG_STATUS: STATUS_CANDIDATE,
                TAG_SHA256: sha256,
                TAG_RUN_ID: run_id,
                TAG_MODEL_ID: model_id,
                **({TAG_SOURCE_BATCH: source_batch_sha256} if source_batch_sha256 else {}),
            },
            description=(
                f"{profile.estimator.rsplit('.', 1)[-1]} trained on {_window_name(profile)} "
                f"({profile.train_rows} rows); {profile.metric} "
                f"{profile.reference_metric:.6g} on its holdout."
            ),
        )
        client.set_logged_model_tags(
            model_id,
            {
                MLFLOW_MODEL_VERSIONS: json.dumps(
                    [{"name": registered_model_name, "version": version.version}]
                )
            },
        )
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        _fail_quietly(
            client, run_id, model_id, registered_model_name, version and str(version.version)
        )
        raise
    return TrainedModel(
        run_id=run_id,
        model_uri=model_uri,
        version=str(version.version),
        model_sha256=sha256,
        profile=profile,
    )


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence two MLflow messages that say nothing to a user of this product.

    The training window's schema hint about integer columns (the dataset is
    logged for lineage, never enforced), and "Failed to resolve installed pip
    version" (uv environments have no pip; requirements are pinned explicitly).
    """
    env_logger = logging.getLogger("mlflow.utils.environment")
    level = env_logger.level
    env_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*Inferred schema contains integer")
            yield
    finally:
        env_logger.setLevel(level)


def fail_training_run(client: MlflowClient, name: str, trained: TrainedModel) -> None:
    """Mark a registered candidate whose logging did not complete as unusable.

    For a failure after ``log_training_run`` returned (e.g. writing more artifacts
    to its run): the version is tagged ``failed``, its run and logged model end
    FAILED. Best effort, never raises: the original error is what matters.

    Args:
        client: MLflow client.
        name: Registered model name.
        trained: What ``log_training_run`` returned.
    """
    model_id = trained.model_uri.removeprefix("models:/")
    _fail_quietly(client, trained.run_id, model_id or None, name, trained.version)


def _fail_quietly(
    client: MlflowClient,
    run_id: str,
    model_id: str | None,
    name: str,
    version: str | None,
) -> None:
    # Best effort: the original error is what the caller must see.
    steps: list[tuple[str, Any]] = [("end run", lambda: client.set_terminated(run_id, "FAILED"))]
    if model_id is not None:
        steps.append(("fail model", lambda: client.finalize_logged_model(model_id, "FAILED")))
    if version is not None:
        steps.append(
            (
                "mark version",
                lambda: client.set_model_version_tag(name, version, TAG_STATUS, STATUS_FAILED),
            )
        )
    for what, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - never mask the original error
            logger.warning("could not %s for run %s", what, run_id, exc_info=True)


def log_params_and_metrics(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
) -> None:
    """Log params and metrics of a run in as few batched calls as MLflow allows."""
    _log_batch(client, run_id, params=params, metrics=metrics)


def _log_batch(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, object],
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


def _dataset_source(run_id: str) -> Any:
    # Without a source MLflow resolves the calling code's context (script path, user,
    # git) on every call; the training run is the meaningful origin of the window.
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags={TAG_RUN_ID: run_id})


def _window_name(profile: ModelProfile) -> str:
    first = "start" if profile.trained_first_period is None else str(profile.trained_first_period)
    return f"periods {first}-{profile.trained_last_period}"


def _trustable(type_name: str) -> bool:
    return type_name in _TRUSTABLE_TYPES or type_name.startswith(_TRUSTABLE_MODULE_PREFIXES)


def _skops_trusted_types(pipeline: Any) -> list[str]:
    """Types skops must trust to load this pipeline, computed from the pipeline itself."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))


def _example_for_signature(frame: pd.DataFrame) -> pd.DataFrame:
    # MLflow cannot infer a schema for pandas 'category' columns (it only warns and
    # drops the signature); their values are strings to any client anyway.
    example = frame.copy()
    for column in example.columns:
        if isinstance(example[column].dtype, pd.CategoricalDtype):
            example[column] = example[column].astype(str).astype(object)
    return example


@functools.cache
def _pinned_requirements() -> tuple[str, ...]:
    # Reading package metadata costs ~30 ms; installed versions do not change in a process.
    return tuple(f"{name}=={installed_version(name)}" for name in _PINNED_PACKAGES)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in _EXISTS_CODES:
            raise


# ---------------------------------------------------------------------- loading
def get_model_version_info(
    client: MlflowClient,
    name: str,
    *,
    alias: str | None = None,
    version: str | None = None,
) -> ChampionInfo | None:
    """Look up a version by alias or number, with its profile.

    Args:
        client: MLflow client.
        name: Registered model name.
        alias: Alias to resolve (e.g. ``champion``); exactly one of alias/version.
        version: Version number.

    Returns:
        The version's info, or None when the registered model, the alias or the
        version does not exist (an alias whose version was deleted counts as missing).
    """
    if (alias is None) == (version is None):
        raise ValueError("pass exactly one of alias or version")
    mv = _lookup_version(client, name, alias=alias, version=version)
    if mv is None or mv.run_id is None:
        return None
    profile_text = _read_run_text(client, mv.run_id, PROFILE_FILE)
    return ChampionInfo(
        name=name,
        version=str(mv.version),
        run_id=mv.run_id,
        model_uri=_version_model_uri(mv),
        model_sha256=(mv.tags or {}).get(TAG_SHA256, ""),
        profile=ModelProfile.from_json(profile_text),
    )


def _version_model_uri(mv: ModelVersion) -> str:
    model_id = getattr(mv, "model_id", None) or (mv.tags or {}).get(TAG_MODEL_ID)
    return f"models:/{model_id}" if model_id else str(mv.source)


def _lookup_version(
    client: MlflowClient, name: str, *, alias: str | None = None, version: str | None = None
) -> ModelVersion | None:
    if alias is not None:
        # Aliases are read from the registered model: a missing alias is then a plain
        # absence instead of an error whose code differs between stores.
        version = _aliases_of(client, name).get(alias)
        if version is None:
            return None
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        if exc.error_code == _MISSING_CODE:
            return None
        raise
    if str(getattr(mv, "current_stage", "")).lower().startswith("deleted"):
        return None
    return mv


def _aliases_of(client: MlflowClient, name: str) -> dict[str, str]:
    """Alias -> version of a registered model; empty if the model does not exist."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == _MISSING_CODE:
            return {}
        raise
    return {str(alias): str(ver) for alias, ver in (model.aliases or {}).items()}


def load_model(client: MlflowClient, info: ChampionInfo) -> Any:
    """Load a registered skops model after checking its sha256.

    The model file's hash must equal ``info.model_sha256`` (recorded at
    registration) before anything is deserialised; skops then loads it trusting
    exactly the list stored with the model, and only if every listed type comes
    from scikit-learn, numpy or scipy.

    Args:
        client: MLflow client.
        info: The version to load (from ``get_model_version_info``).

    Returns:
        The fitted scikit-learn pipeline.

    Raises:
        ModelIntegrityError: Hash mismatch, not a skops model, or a trusted-types
            list that names types outside the allowed packages.
    """
    import mlflow.artifacts
    import skops.io

    location = client.get_model_version_download_uri(info.name, info.version)
    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        mlmodel_path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location.rstrip('/')}/{MLMODEL_FILE}",
            dst_path=tmp,
            tracking_uri=client.tracking_uri,
            registry_uri=client.tracking_uri,
        )
        flavor = (yaml.safe_load(Path(mlmodel_path).read_text()) or {}).get("flavors", {})
        sklearn_conf = flavor.get("sklearn") or {}
        where = f"model {info.name!r} version {info.version}"
        if sklearn_conf.get("serialization_format") != "skops":
            raise ModelIntegrityError(f"{where} is not stored in the skops format")
        trusted = list(sklearn_conf.get("skops_trusted_types") or [])
        untrustable = [t for t in trusted if not _trustable(t)]
        if untrustable:
            raise ModelIntegrityError(f"{where} asks to trust unexpected types: {untrustable}")
        model_path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{location.rstrip('/')}/{sklearn_conf.get('pickled_model', SKOPS_FILE)}",
            dst_path=tmp,
            tracking_uri=client.tracking_uri,
            registry_uri=client.tracking_uri,
        )
        actual = _sha256_file(Path(model_path))
        if not info.model_sha256 or actual != info.model_sha256:
            raise ModelIntegrityError(
                f"{where}: model file sha256 {actual} does not match the registered "
                f"{info.model_sha256 or '(none)'}; refusing to load it"
            )
        return skops.io.load(model_path, trusted=trusted)


def load_reference(client: MlflowClient, run_id: str) -> pd.DataFrame:
    """Reference sample of a training run (features plus ``prediction``).

    Args:
        client: MLflow client.
        run_id: The training run.

    Returns:
        The reference frame as logged.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-ref-") as tmp:
        path = client.download_artifacts(run_id, REFERENCE_FILE, tmp)
        return pd.read_parquet(path)


def load_reference_profile(client: MlflowClient, run_id: str) -> ReferenceProfile | None:
    """The drift profile of a training run; None for a model logged before profiles existed.

    Args:
        client: MLflow client.
        run_id: The training run.
    """
    names = {Path(f.path).name for f in client.list_artifacts(run_id)}
    if REFERENCE_PROFILE_FILE not in names:
        return None
    return ReferenceProfile.from_json(_read_run_text(client, run_id, REFERENCE_PROFILE_FILE))


def _read_run_text(client: MlflowClient, run_id: str, artifact: str) -> str:
    with tempfile.TemporaryDirectory(prefix="mlops-art-") as tmp:
        path = client.download_artifacts(run_id, artifact, tmp)
        return Path(path).read_text(encoding="utf-8")


# -------------------------------------------------------------------- promotion
_PROMOTION_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_PROMOTION_LOCKS_GUARD = threading.Lock()


@contextmanager
def _promotion_lock(client: MlflowClient, name: str) -> Iterator[None]:
    # Serialises alias moves for one model inside this process. Across processes the
    # flows hold a Prefect concurrency slot per model; the compare-and-set below then
    # catches decisions that went stale while waiting (e.g. made before a rollback).
    key = (str(client.tracking_uri), name)
    with _PROMOTION_LOCKS_GUARD:
        lock = _PROMOTION_LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


def set_champion(
    client: MlflowClient,
    name: str,
    new_version: str,
    *,
    expected_current: str | None,
    reason: str,
) -> str | None:
    """Make ``new_version`` the champion if the champion is still ``expected_current``.

    Moves alias ``previous`` to the old champion and ``champion`` to the new version,
    then updates status tags and appends the promotion to the versions' history.
    Calling it again after a crash part-way through finishes the job: if the
    champion already is ``new_version`` only the tags are completed.

    Args:
        client: MLflow client.
        name: Registered model name.
        new_version: Version to promote.
        expected_current: The champion version the promotion decision was made
            against (None: there was no champion).
        reason: Plain-language reason, stored with the version.

    Returns:
        The version that was champion before (None if there was none).

    Raises:
        ChampionChangedError: The champion is neither ``expected_current`` nor
            ``new_version``.
        MlflowException: ``new_version`` does not exist.
    """
    new_version = str(new_version)
    expected = None if expected_current is None else str(expected_current)
    with _promotion_lock(client, name):
        target = _lookup_version(client, name, version=new_version)
        if target is None:
            raise MlflowException(
                f"registered model {name!r} has no version {new_version}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        current = _alias_version(client, name, CHAMPION_ALIAS)
        if current == new_version:
            # Already moved (a rerun after a crash, or a concurrent identical promotion).
            old = _alias_version(client, name, PREVIOUS_ALIAS)
            if old is None and expected not in (None, new_version):
                old = expected
        elif current != expected:
            raise ChampionChangedError(name, expected, current)
        else:
            old = current
            # Alias order matters for crash safety: 'previous' first, so a crash between
            # the two writes leaves the champion where it was.
            if old is not None:
                client.set_registered_model_alias(name, PREVIOUS_ALIAS, old)
            client.set_registered_model_alias(name, CHAMPION_ALIAS, new_version)

        now = _utc_now()
        appended = _append_event(client, name, new_version, "promoted", now, reason, old)
        if appended or (target.tags or {}).get(TAG_STATUS) != STATUS_CHAMPION:
            # Skipped on a rerun that finds the promotion complete, so the recorded
            # promotion time stays the first one.
            client.set_model_version_tag(name, new_version, TAG_PROMOTED_AT, now.isoformat())
            client.set_model_version_tag(name, new_version, TAG_PROMOTION_REASON, reason)
            client.set_model_version_tag(name, new_version, TAG_REPLACED_VERSION, old or "")
        if old is not None:
            _append_event(client, name, old, "demoted", now, reason, new_version)
        _reconcile_status(client, name, now, reason)
        return old


def rollback_champion(
    client: MlflowClient, name: str, *, reason: str, expected_current: str | None = None
) -> tuple[str, str]:
    """Move ``champion`` back to the ``previous`` version.

    The rolled-back version gets status ``rolled_back``; ``previous`` then points at
    the version the restored champion had replaced when it was promoted (if it still
    exists), otherwise the alias is removed.

    Args:
        client: MLflow client.
        name: Registered model name.
        reason: Plain-language reason, stored with both versions.
        expected_current: The champion the caller wants to roll back from. When given,
            a rerun after an interrupted rollback finishes it instead of rolling back
            a second time, and a champion that changed otherwise is refused.

    Returns:
        (version rolled back from, version now champion).

    Raises:
        NoPreviousVersionError: There is no ``previous`` version (or no champion).
        ChampionChangedError: ``expected_current`` is given, is not the champion and
            was not rolled back already.
    """
    with _promotion_lock(client, name):
        champion = _alias_version(client, name, CHAMPION_ALIAS)
        previous = _alias_version(client, name, PREVIOUS_ALIAS)
        expected = None if expected_current is None else str(expected_current)
        if expected is not None and champion not in (expected, None):
            earlier = _lookup_version(client, name, version=expected)
            events = _parse_events((earlier.tags or {}).get(TAG_HISTORY)) if earlier else []
            if events and events[-1].event == "rolled_back" and events[-1].counterpart == champion:
                # This rollback already moved the aliases; complete the tags only.
                now = _utc_now()
                client.set_model_version_tag(name, expected, TAG_STATUS, STATUS_ROLLED_BACK)
                _append_event(client, name, champion, "restored", now, reason, expected)
                _reconcile_status(client, name, now, reason)
                return expected, champion
            raise ChampionChangedError(name, expected, champion)
        if champion is None or previous is None:
            raise NoPreviousVersionError(
                f"registered model {name!r} has no "
                f"{'champion' if champion is None else 'previous version'} to roll back"
            )
        if champion == previous:
            # A rollback crashed after moving 'champion': finish it. The version rolled
            # back from still carries the champion status tag (tags follow aliases).
            stale = [
                str(v.version)
                for v in _all_versions(client, name)
                if (v.tags or {}).get(TAG_STATUS) == STATUS_CHAMPION and str(v.version) != champion
            ]
            from_version = stale[0] if stale else champion
        else:
            from_version = champion
            # Recorded before the aliases move, so a rerun can tell this rollback happened.
            _append_event(client, name, from_version, "rolled_back", _utc_now(), reason, previous)
            client.set_registered_model_alias(name, CHAMPION_ALIAS, previous)
        to_version = previous

        restored = _lookup_version(client, name, version=to_version)
        predecessor = (restored.tags or {}).get(TAG_REPLACED_VERSION) if restored else None
        if (
            predecessor
            and predecessor not in (from_version, to_version)
            and _lookup_version(client, name, version=predecessor) is not None
        ):
            client.set_registered_model_alias(name, PREVIOUS_ALIAS, predecessor)
        else:
            client.delete_registered_model_alias(name, PREVIOUS_ALIAS)

        now = _utc_now()
        if from_version != to_version:
            client.set_model_version_tag(name, from_version, TAG_STATUS, STATUS_ROLLED_BACK)
            _append_event(client, name, from_version, "rolled_back", now, reason, to_version)
        _append_event(client, name, to_version, "restored", now, reason, from_version)
        client.set_model_version_tag(name, to_version, TAG_PROMOTED_AT, now.isoformat())
        client.set_model_version_tag(name, to_version, TAG_PROMOTION_REASON, reason)
        _reconcile_status(client, name, now, reason)
        return from_version, to_version


def tag_version(client: MlflowClient, name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set tags on a registered model version (e.g. ``mlops.status=rejected``).

    Status tags of the champion and previous versions are owned by ``set_champion``
    and ``rollback_champion``; use this for candidates the gate rejected and for
    extra annotations.

    Args:
        client: MLflow client.
        name: Registered model name.
        version: Version number.
        tags: Tags to set.
    """
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), str(key), str(value))


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    mv = _lookup_version(client, name, alias=alias)
    return None if mv is None else str(mv.version)


def _all_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    escaped = name.replace("'", "''")
    versions: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(
            f"name = '{escaped}'", max_results=1000, page_token=token
        )
        versions.extend(page)
        token = page.token
        if not token:
            return versions


def abandon_candidates(client: MlflowClient, name: str, batch_sha256: str) -> list[str]:
    """Mark the candidates a crashed attempt at this batch left behind as ``abandoned``.

    A cycle registers its challenger as a ``candidate`` and decides on it before
    committing the batch. A process killed in between leaves the candidate
    undecided; a rerun of the same batch trains afresh, so any candidate tagged
    with this batch and holding no alias is an orphan: it gets the status
    ``abandoned`` and the reason, and is never promoted or loaded.

    Args:
        client: MLflow client.
        name: Registered model name.
        batch_sha256: Content hash of the batch being (re)processed.

    Returns:
        The versions abandoned.
    """
    held = {
        _alias_version(client, name, CHAMPION_ALIAS),
        _alias_version(client, name, PREVIOUS_ALIAS),
    }
    abandoned = []
    for mv in _all_versions(client, name):
        tags = mv.tags or {}
        version = str(mv.version)
        if (
            tags.get(TAG_STATUS) == STATUS_CANDIDATE
            and tags.get(TAG_SOURCE_BATCH) == batch_sha256
            and version not in held
        ):
            client.set_model_version_tag(
                name,
                version,
                TAG_ABANDONED_REASON,
                f"the cycle that trained it on batch {batch_sha256[:12]} stopped before "
                "deciding on it (process killed or failed); the rerun trained a new challenger",
            )
            client.set_model_version_tag(name, version, TAG_STATUS, STATUS_ABANDONED)
            abandoned.append(version)
    return abandoned


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
    only where no live process can own such a run, e.g. under the batch's claim
    (``storage.claim_batch``): a run of the batch still running then belongs to
    a holder that died. Each run found ends FAILED, gets the reason as tag
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


def _reconcile_status(client: MlflowClient, name: str, now: datetime, reason: str) -> None:
    """Make status tags follow the aliases; versions that lost their role are archived."""
    champion = _alias_version(client, name, CHAMPION_ALIAS)
    previous = _alias_version(client, name, PREVIOUS_ALIAS)
    for mv in _all_versions(client, name):
        version = str(mv.version)
        status = (mv.tags or {}).get(TAG_STATUS)
        if version == champion:
            wanted = STATUS_CHAMPION
        elif version == previous:
            wanted = STATUS_PREVIOUS
        elif status in (STATUS_CHAMPION, STATUS_PREVIOUS):
            wanted = STATUS_ARCHIVED
            _append_event(client, name, version, "archived", now, reason, champion)
        else:
            continue
        if status != wanted:
            client.set_model_version_tag(name, version, TAG_STATUS, wanted)


def _append_event(
    client: MlflowClient,
    name: str,
    version: str,
    event: str,
    at: datetime,
    reason: str,
    counterpart: str | None,
) -> bool:
    """Append an event to a version's history; False if it is already the last one."""
    mv = client.get_model_version(name, version)
    events = _parse_events((mv.tags or {}).get(TAG_HISTORY))
    if events and events[-1].event == event and events[-1].counterpart == counterpart:
        return False  # idempotent when a crashed call is repeated
    events.append(VersionEvent(event=event, at=at, reason=reason, counterpart=counterpart))
    payload = [
        {"event": e.event, "at": e.at.isoformat(), "reason": e.reason, "counterpart": e.counterpart}
        for e in events[-_MAX_HISTORY_EVENTS:]
    ]
    client.set_model_version_tag(name, version, TAG_HISTORY, json.dumps(payload))
    return True


def _parse_events(text: str | None) -> list[VersionEvent]:
    if not text:
        return []
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        logger.warning("ignoring unreadable %s tag", TAG_HISTORY)
        return []
    return [
        VersionEvent(
            event=str(e["event"]),
            at=datetime.fromisoformat(e["at"]),
            reason=str(e.get("reason", "")),
            counterpart=None if e.get("counterpart") is None else str(e["counterpart"]),
        )
        for e in raw
    ]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def version_history(client: MlflowClient, name: str) -> list[VersionInfo]:
    """Every version of a registered model with its role and promotion history.

    Args:
        client: MLflow client.
        name: Registered model name.

    Returns:
        Versions sorted by version number (oldest first); empty if the model does
        not exist.
    """
    aliases_by_version: dict[str, list[str]] = {}
    for alias, ver in _aliases_of(client, name).items():
        aliases_by_version.setdefault(ver, []).append(alias)
    infos = []
    for mv in _all_versions(client, name):
        tags = mv.tags or {}
        promoted = tags.get(TAG_PROMOTED_AT)
        infos.append(
            VersionInfo(
                version=str(mv.version),
                status=tags.get(TAG_STATUS, ""),
                aliases=tuple(sorted(aliases_by_version.get(str(mv.version), []))),
                creation_time=int(mv.creation_timestamp or 0),
                run_id=mv.run_id or "",
                description=mv.description or "",
                promotion_reason=tags.get(TAG_PROMOTION_REASON),
                promoted_at=datetime.fromisoformat(promoted) if promoted else None,
                model_sha256=tags.get(TAG_SHA256, ""),
                events=tuple(_parse_events(tags.get(TAG_HISTORY))),
            )
        )
    return sorted(infos, key=lambda v: int(v.version))


def champion_at(history: Sequence[VersionInfo], at: datetime) -> str | None:
    """Which version was champion at a given time, from ``version_history``.

    Every change of champion (promotion or rollback) records an event on the version
    that became champion, so the champion at ``at`` is the version with the latest
    such event at or before it.

    Args:
        history: Output of ``version_history``.
        at: Timezone-aware time.

    Returns:
        The version number, or None if no version was champion yet.
    """
    starts = [
        (event.at, info.version)
        for info in history
        for event in info.events
        if event.event in ("promoted", "restored") and event.at <= at
    ]
    return max(starts)[1] if starts else None


# -------------------------------------------------------------------- decisions
def log_decision_run(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_name: str,
    kind: str,
    action: str,
    reason_codes: Sequence[str],
    record: DecisionRecord,
    markdown: str,
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """Record one decision as its own run, so the MLflow UI lists every decision.

    Args:
        client: MLflow client.
        experiment_id: The decisions experiment.
        run_name: Display name of the run.
        kind: Decision kind (gate, retrain, promotion, rollback, ...).
        action: The decision's action.
        reason_codes: Reason codes, deciding reason first.
        record: The full decision (stored as ``decision.json``; read back with
            :func:`read_decision_record`).
        markdown: The plain-language report (stored as ``decision.md``).
        metrics: Numbers worth charting across decisions.
        tags: Extra tags (e.g. ``mlops.batch_sha256``, ``mlops.period``).

    Returns:
        The run id.
    """
    # Serialise first: a record that cannot be written must not leave a half run.
    record_json = _record_json(record)
    run_tags = {
        **{str(k): str(v) for k, v in tags.items()},
        TAG_KIND: kind,
        TAG_ACTION: action,
        TAG_REASONS: ",".join(reason_codes),
    }
    run = client.create_run(experiment_id, run_name=run_name, tags=run_tags)
    run_id = run.info.run_id
    try:
        if metrics:
            _log_batch(client, run_id, params={}, metrics=metrics)
        _log_record_files(client, run_id, record_json, markdown)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        _fail_quietly(client, run_id, None, "", None)
        raise
    return run_id


def amend_decision_record(
    client: MlflowClient, run_id: str, record: CycleRecord, markdown: str
) -> None:
    """Replace a cycle decision run's ``decision.json`` and ``decision.md``.

    Only for what happened after the decision was recorded (a promotion that
    another version superseded): the decisions themselves stay as recorded.
    """
    _log_record_files(client, run_id, _record_json(record), markdown)


def _record_json(record: DecisionRecord) -> str:
    """The text of ``decision.json``: the record's fields in their order, indented."""
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False)


def _log_record_files(client: MlflowClient, run_id: str, record_json: str, markdown: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-decision-") as tmp:
        (Path(tmp) / DECISION_JSON_FILE).write_text(record_json, encoding="utf-8")
        (Path(tmp) / DECISION_MD_FILE).write_text(markdown, encoding="utf-8")
        client.log_artifacts(run_id, tmp)


def read_decision_record(client: MlflowClient, run_id: str, model: type[R]) -> R:
    """The ``decision.json`` record of a decision run, as the model of its kind.

    Args:
        client: MLflow client.
        run_id: The decision run.
        model: The record's model (:class:`~mlops_core.records.CycleRecord` for a
            cycle's retrain and promotion runs, ``RollbackRecord``, ``ReviewRecord``).

    Returns:
        The record; keys another version wrote that this one does not know are dropped.

    Raises:
        RecordError: The file is not JSON, or not a record of that kind.
    """
    text = _read_run_text(client, run_id, DECISION_JSON_FILE)
    where = f"decision.json of run {run_id}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where}: not JSON: {exc}") from None
    return model.read(data, where)


def read_decision_markdown(client: MlflowClient, run_id: str) -> str:
    """The ``decision.md`` report of a decision run."""
    return _read_run_text(client, run_id, DECISION_MD_FILE)


def find_decision_runs(
    client: MlflowClient,
    experiment_id: str,
    *,
    filter_tags: Mapping[str, str] | None = None,
    max_results: int = 100,
) -> list[DecisionRunInfo]:
    """Finished decision runs, newest first, optionally only those with the given tag values.

    A decision run that did not finish (its record could not be written, or the
    process died while writing it) is not a decision: it never counts in the
    history later decisions are based on, nor as the decision of its batch.

    Args:
        client: MLflow client.
        experiment_id: The decisions experiment.
        filter_tags: Exact tag values every returned run must have.
        max_results: Most runs returned.

    Returns:
        The matching runs, newest first.
    """
    clauses = ["attributes.status = 'FINISHED'"]
    for key, value in (filter_tags or {}).items():
        if "`" in key or "'" in str(value):
            raise ValueError(f"tag filter {key}={value!r} contains a quote character")
        clauses.append(f"tags.`{key}` = '{value}'")
    runs = client.search_runs(
        [experiment_id],
        filter_string=" and ".join(clauses),
        max_results=max_results,
        order_by=["attributes.start_time DESC"],
    )
    found = []
    for run in runs:
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        reasons = tags.get(TAG_REASONS, "")
        found.append(
            DecisionRunInfo(
                run_id=run.info.run_id,
                start_time=int(run.info.start_time),
                action=tags.get(TAG_ACTION, ""),
                kind=tags.get(TAG_KIND, ""),
                reasons=tuple(r for r in reasons.split(",") if r),
                tags=tags,
                metrics=dict(run.data.metrics),
            )
        )
    return found


__all__ = [
    "CHAMPION_ALIAS",
    "EMBEDDED_ARTIFACTS_FOLDER",
    "EMBEDDED_DATABASE_FILE",
    "PREVIOUS_ALIAS",
    "ChampionChangedError",
    "ChampionInfo",
    "DecisionRunInfo",
    "MlflowSettings",
    "ModelIntegrityError",
    "ModelProfile",
    "NoPreviousVersionError",
    "TrainedModel",
    "VersionEvent",
    "VersionInfo",
    "champion_at",
    "ensure_experiment",
    "fail_runs_left_running",
    "fail_training_run",
    "read_decision_markdown",
    "read_decision_record",
    "abandon_candidates",
    "find_decision_runs",
    "get_model_version_info",
    "load_model",
    "load_reference",
    "log_decision_run",
    "log_training_run",
    "make_client",
    "resolve_settings",
    "rollback_champion",
    "set_champion",
    "settings_for_data_root",
    "tag_version",
    "version_history",
]

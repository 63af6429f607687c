"""Training runs: a trained model logged, registered as a candidate, and read back.

Models are stored in the skops format, never pickle. The list of types skops must
trust to load the pipeline is computed from the fitted pipeline itself when it is
saved, stored in the model's ``MLmodel`` file, and passed verbatim when loading,
after the model file's sha256 has been checked against the registry tag written
at registration time. A run's ``profile.json`` (``ModelProfile``), reference
sample and reference profile are what later cycles judge the model by.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
)
from mlflow.entities.model_registry import ModelVersion
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_MODEL_VERSIONS

from mlops_core.reference_profile import ReferenceProfile
from mlops_core.schema_change import KnownColumn
from tasks.mlflow_store import ParamValue, fail_run_quietly, log_batch, read_run_text
from tasks.model_registry import (
    STATUS_CANDIDATE,
    STATUS_FAILED,
    ensure_registered_model,
    lookup_version,
)
from tasks.skops_objects import load_skops
from tasks.storage import file_sha256
from tasks.tags import (
    TAG_BATCH,
    TAG_KIND,
    TAG_MODEL_ID,
    TAG_RUN_ID,
    TAG_SHA256,
    TAG_SOURCE_BATCH,
    TAG_STATUS,
)

PROFILE_FILE = "profile.json"
REFERENCE_FILE = "reference.parquet"
REFERENCE_PROFILE_FILE = "reference_profile.json"
MODEL_NAME = "model"
#: Rows, spread over the training window, from which its logged schema's types are inferred.
WINDOW_SCHEMA_SAMPLE_ROWS = 10_000
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


class ModelIntegrityError(RuntimeError):
    """A stored model does not match what the registry recorded for it."""


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
        segment_caps: The highest target per segment in the training rows, the
            caps of the ``segment_history_cap`` guardrail when the model scores
            live; None when the use case has no such rule or a segment column,
            or for a model logged before profiles kept them (the rule then says
            it could not run).
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
    segment_caps: dict[str, float] | None = None

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
        if self.segment_caps is not None:
            raw["segment_caps"] = {str(k): float(v) for k, v in self.segment_caps.items()}
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
            segment_caps=(
                {str(k): float(v) for k, v in raw["segment_caps"].items()}
                if raw.get("segment_caps") is not None
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


def log_training_run(
    client: MlflowClient,
    *,
    experiment_id: str,
    run_name: str,
    pipeline: Any,
    params: Mapping[str, ParamValue],
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
        log_batch(client, run_id, params=params, metrics=metrics, model_id=model_id)

        client.log_inputs(
            run_id,
            datasets=[
                DatasetInput(
                    window_dataset(train_frame, run_id=run_id, name=_window_name(profile)),
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
            sha256 = file_sha256(model_dir / SKOPS_FILE)
            client.log_model_artifacts(model_id, str(model_dir))
        client.finalize_logged_model(model_id, "READY")

        ensure_registered_model(client, registered_model_name)
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
    then: list[tuple[str, Callable[[], object]]] = []
    if version is not None:
        then.append(
            (
                "mark version",
                lambda: client.set_model_version_tag(name, version, TAG_STATUS, STATUS_FAILED),
            )
        )
    fail_run_quietly(client, run_id, model_id, then=then)


def log_params_and_metrics(
    client: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, ParamValue],
    metrics: Mapping[str, float],
) -> None:
    """Log params and metrics of a run in as few batched calls as MLflow allows."""
    log_batch(client, run_id, params=params, metrics=metrics)


def window_dataset(frame: pd.DataFrame, *, run_id: str, name: str) -> Dataset:
    """The training window as an MLflow dataset (metadata, not data), at a bounded cost.

    MLflow's ``PandasDataset`` fields (name, source, schema, profile, digest),
    where MLflow visits every cell in Python for two of them (30 CPU-s on 2M
    rows x 28 columns; with this function, about 1 s):

    - the schema's column types are MLflow's, inferred from at most
      ``WINDOW_SCHEMA_SAMPLE_ROWS`` rows spread evenly over the window; whether
      a column is required (has no missing value) is read from every row. A
      window whose types MLflow cannot infer has no schema, as in MLflow;
    - the digest fingerprints every row (pandas' row hashes, the row count and
      the column names; 8 hexadecimal characters like MLflow's). MLflow's
      hashes only the first 10,000 rows, yet types every cell of the frame.

    Args:
        frame: The rows the model was trained on (features, target, time, id).
        run_id: The training run: the dataset's source (without one MLflow
            resolves the calling code's context, script path, user and git,
            on every call; the run is the meaningful origin of the window).
        name: The window's display name.

    Returns:
        The dataset entity to log as the run's ``training`` input.
    """
    import hashlib

    import mlflow.data
    import numpy as np
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.types.schema import ColSpec, Schema

    rows = len(frame)
    positions = np.unique(
        np.linspace(0, rows - 1, num=min(rows, WINDOW_SCHEMA_SAMPLE_ROWS)).astype(np.int64)
    )
    sample = mlflow.data.from_pandas(
        frame.iloc[positions], source=CodeDatasetSource(tags={TAG_RUN_ID: run_id}), name=name
    )
    with _quiet_mlflow():
        fields = sample.to_dict()
        sampled = sample.schema
    schema = None
    if sampled is not None:
        missing = frame.isna().any()
        required = Schema(
            [
                ColSpec(type=spec.type, name=spec.name, required=not bool(missing[spec.name]))
                for spec in sampled.inputs
            ]
        )
        schema = json.dumps({"mlflow_colspec": required.to_dict()})
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(np.int64(rows).tobytes())
    for column in frame.columns:
        digest.update(str(column).encode())
    return Dataset(
        name=fields["name"],
        digest=digest.hexdigest()[:8],
        source_type=fields["source_type"],
        source=fields["source"],
        schema=schema,
        profile=json.dumps({"num_rows": rows, "num_elements": int(frame.size)}),
    )


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
    mv = lookup_version(client, name, alias=alias, version=version)
    if mv is None or mv.run_id is None:
        return None
    profile_text = read_run_text(client, mv.run_id, PROFILE_FILE)
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
        actual = file_sha256(Path(model_path))
        if not info.model_sha256 or actual != info.model_sha256:
            raise ModelIntegrityError(
                f"{where}: model file sha256 {actual} does not match the registered "
                f"{info.model_sha256 or '(none)'}; refusing to load it"
            )
        return load_skops(Path(model_path), trusted, sha256=actual)


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
    return ReferenceProfile.from_json(read_run_text(client, run_id, REFERENCE_PROFILE_FILE))


__all__ = [
    "ChampionInfo",
    "MLMODEL_FILE",
    "MODEL_NAME",
    "ModelIntegrityError",
    "ModelProfile",
    "PROFILE_FILE",
    "REFERENCE_FILE",
    "REFERENCE_PROFILE_FILE",
    "SKOPS_FILE",
    "TrainedModel",
    "fail_training_run",
    "get_model_version_info",
    "load_model",
    "load_reference",
    "load_reference_profile",
    "log_params_and_metrics",
    "log_training_run",
]

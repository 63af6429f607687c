"""MLflow adapter for performance estimators: stored beside the model, in skops, never pickle.

A run's estimator lives under ``estimator/``:

- ``objects.skops``: the estimator's fitted objects (calibrator, loss model, ...),
  written with skops;
- ``params.json``: its plain parameters;
- ``trusted_types.json``: the types skops must trust to load ``objects.skops``,
  computed from the dumped bytes when it is logged.

As for models (see ``tasks.training_runs``), only scikit-learn, numpy and scipy types
are ever trusted, whatever the stored list says, and the list is passed to skops
verbatim. Everything goes through an explicit ``MlflowClient`` and run id.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlflow import MlflowClient

from mlops_core.estimation import PerformanceEstimator
from tasks.skops_objects import load_skops
from tasks.training_runs import _TRUSTABLE_MODULE_PREFIXES, ModelIntegrityError

ESTIMATOR_DIR = "estimator"
OBJECTS_FILE = "objects.skops"
PARAMS_FILE = "params.json"
TRUSTED_TYPES_FILE = "trusted_types.json"
_FILES = (OBJECTS_FILE, PARAMS_FILE, TRUSTED_TYPES_FILE)


def log_estimator(client: MlflowClient, run_id: str, estimator: PerformanceEstimator) -> None:
    """Store a performance estimator as artifacts of a run.

    Args:
        client: MLflow client.
        run_id: The run to attach it to (usually the champion's training run).
        estimator: The fitted estimator.

    Raises:
        ValueError: When the estimator holds types outside scikit-learn, numpy
            and scipy (``load_estimator`` would refuse to load them).
    """
    import skops.io

    objects, params = estimator.to_state()
    data = skops.io.dumps(objects)
    trusted = sorted(skops.io.get_untrusted_types(data=data))
    untrustable = [t for t in trusted if not t.startswith(_TRUSTABLE_MODULE_PREFIXES)]
    if untrustable:
        raise ValueError(
            f"the estimator holds types that are not loaded from skops files: {untrustable}; "
            "only scikit-learn, numpy and scipy types are trusted"
        )
    params_json = json.dumps(params, indent=2, sort_keys=True)
    with tempfile.TemporaryDirectory(prefix="mlops-estimator-") as tmp:
        folder = Path(tmp) / ESTIMATOR_DIR
        folder.mkdir()
        (folder / OBJECTS_FILE).write_bytes(data)
        (folder / PARAMS_FILE).write_text(params_json, encoding="utf-8")
        (folder / TRUSTED_TYPES_FILE).write_text(json.dumps(trusted, indent=2), encoding="utf-8")
        client.log_artifacts(run_id, str(folder), artifact_path=ESTIMATOR_DIR)


def load_estimator(client: MlflowClient, run_id: str) -> PerformanceEstimator | None:
    """Load the performance estimator stored with a run.

    Args:
        client: MLflow client.
        run_id: The run holding it.

    Returns:
        The estimator, or None when the run has no estimator artifacts.

    Raises:
        ModelIntegrityError: Files missing, or a trusted-types list naming types
            outside scikit-learn, numpy and scipy (nothing is deserialised then).
    """

    stored = {Path(info.path).name for info in client.list_artifacts(run_id, ESTIMATOR_DIR)}
    if not stored:
        return None
    where = f"estimator of run {run_id}"
    missing = [name for name in _FILES if name not in stored]
    if missing:
        raise ModelIntegrityError(f"{where} lacks {missing}")
    with tempfile.TemporaryDirectory(prefix="mlops-estimator-") as tmp:
        folder = Path(client.download_artifacts(run_id, ESTIMATOR_DIR, tmp))
        trusted = json.loads((folder / TRUSTED_TYPES_FILE).read_text(encoding="utf-8"))
        if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
            raise ModelIntegrityError(f"{where}: {TRUSTED_TYPES_FILE} is not a list of type names")
        untrustable = [t for t in trusted if not t.startswith(_TRUSTABLE_MODULE_PREFIXES)]
        if untrustable:
            raise ModelIntegrityError(f"{where} asks to trust unexpected types: {untrustable}")
        objects = load_skops(folder / OBJECTS_FILE, trusted)
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    if not isinstance(objects, dict) or not isinstance(params, dict):
        raise ModelIntegrityError(f"{where} is not an estimator state")
    try:
        return PerformanceEstimator.from_state(objects, params)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelIntegrityError(f"{where} cannot be rebuilt: {exc}") from exc


__all__ = ["ESTIMATOR_DIR", "load_estimator", "log_estimator"]

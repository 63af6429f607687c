"""Performance estimators stored with a run in a real MLflow (SQLite in a temporary folder)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlops_core.estimation import PerformanceEstimator, estimate_performance, fit_estimator
from tasks.estimator_store import ESTIMATOR_DIR, load_estimator, log_estimator
from tasks.training_runs import ModelIntegrityError

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def experiment_id(client: MlflowClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    artifacts = tmp_path_factory.mktemp("artifacts")
    return client.create_experiment("estimators", artifact_location=artifacts.as_uri())


@pytest.fixture(autouse=True)
def _no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading must work with MLflow's pickle deserialisation switched off.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")


def _new_run(client: MlflowClient, experiment_id: str) -> str:
    return client.create_run(experiment_id).info.run_id


def _regression_data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, 1, rows)
    store = rng.choice(np.array(["north", "south", np.nan], dtype=object), size=rows)
    pred = 5.0 + 3.0 * x1
    y = pred + rng.normal(size=rows) * (0.2 + x1)
    return pd.DataFrame({"x1": x1, "store": store}), y, pred


def _classification_data(
    rows: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = np.where(rng.random(rows) < p, "UP", "DOWN")
    proba = 1.0 / (1.0 + np.exp(-3.0 * x))  # over-confident scores: calibration matters
    pred = np.where(proba > 0.5, "UP", "DOWN")
    return pd.DataFrame({"x": x}), y, pred, proba


@pytest.fixture(scope="module")
def regression_estimator() -> PerformanceEstimator:
    x, y, pred = _regression_data(2000, seed=1)
    return fit_estimator("regression", "rmse", x, y, pred, seed=0)


@pytest.fixture(scope="module")
def classification_estimator() -> PerformanceEstimator:
    x, y, pred, proba = _classification_data(2000, seed=2)
    return fit_estimator("classification", "roc_auc", x, y, pred, proba, seed=0)


def test_regression_estimator_round_trip(
    client: MlflowClient, experiment_id: str, regression_estimator: PerformanceEstimator
) -> None:
    run_id = _new_run(client, experiment_id)
    log_estimator(client, run_id, regression_estimator)
    loaded = load_estimator(client, run_id)
    assert loaded == regression_estimator

    x, _, pred = _regression_data(800, seed=3)
    original = estimate_performance(regression_estimator, x, pred, confidence=0.9, seed=5)
    assert estimate_performance(loaded, x, pred, confidence=0.9, seed=5) == original


def test_classification_estimator_round_trip(
    client: MlflowClient, experiment_id: str, classification_estimator: PerformanceEstimator
) -> None:
    run_id = _new_run(client, experiment_id)
    log_estimator(client, run_id, classification_estimator)
    loaded = load_estimator(client, run_id)
    assert loaded == classification_estimator
    assert loaded.classes == ("DOWN", "UP")

    x, _, pred, proba = _classification_data(800, seed=4)
    original = estimate_performance(
        classification_estimator, x, pred, proba, confidence=0.9, seed=6
    )
    assert estimate_performance(loaded, x, pred, proba, confidence=0.9, seed=6) == original


def test_run_without_estimator_gives_none(client: MlflowClient, experiment_id: str) -> None:
    assert load_estimator(client, _new_run(client, experiment_id)) is None


def test_stored_files_are_skops_json_and_the_trusted_types(
    client: MlflowClient,
    experiment_id: str,
    regression_estimator: PerformanceEstimator,
    tmp_path: Path,
) -> None:
    run_id = _new_run(client, experiment_id)
    log_estimator(client, run_id, regression_estimator)
    names = {Path(a.path).name for a in client.list_artifacts(run_id, ESTIMATOR_DIR)}
    assert names == {"objects.skops", "params.json", "trusted_types.json"}

    folder = Path(client.download_artifacts(run_id, ESTIMATOR_DIR, str(tmp_path)))
    objects_file = folder / "objects.skops"
    # A skops file is a zip archive with a JSON schema, not a pickle stream.
    assert zipfile.is_zipfile(objects_file)
    with zipfile.ZipFile(objects_file) as archive:
        assert "schema.json" in archive.namelist()
    assert not objects_file.read_bytes().startswith(b"\x80")
    assert not list(folder.glob("*.pkl"))

    trusted = json.loads((folder / "trusted_types.json").read_text())
    assert trusted, "a histogram gradient-boosting loss model needs trusted types"
    assert all(t.startswith(("sklearn.", "numpy.", "scipy.")) for t in trusted)
    params = json.loads((folder / "params.json").read_text())
    assert params["metric"] == "rmse" and params["method"] == "dle"


def test_tampered_trusted_types_are_refused(
    client: MlflowClient,
    experiment_id: str,
    classification_estimator: PerformanceEstimator,
    tmp_path: Path,
) -> None:
    run_id = _new_run(client, experiment_id)
    log_estimator(client, run_id, classification_estimator)
    # Overwrite the trusted-types list with one that trusts arbitrary code.
    tampered = tmp_path / ESTIMATOR_DIR
    tampered.mkdir()
    (tampered / "trusted_types.json").write_text(json.dumps(["builtins.eval"]))
    client.log_artifacts(run_id, str(tampered), artifact_path=ESTIMATOR_DIR)
    with pytest.raises(ModelIntegrityError, match="unexpected types"):
        load_estimator(client, run_id)


class _NotTrustable:
    """A type skops would need to import from outside scikit-learn, numpy and scipy."""

    def predict(self, values: np.ndarray) -> np.ndarray:
        return values


def test_estimator_with_untrustable_objects_is_not_logged(
    client: MlflowClient, experiment_id: str, classification_estimator: PerformanceEstimator
) -> None:
    run_id = _new_run(client, experiment_id)
    rogue = dataclasses.replace(classification_estimator, calibrator=_NotTrustable())
    with pytest.raises(ValueError, match="only scikit-learn, numpy and scipy"):
        log_estimator(client, run_id, rogue)
    assert load_estimator(client, run_id) is None

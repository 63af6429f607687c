"""Artifact locations of the embedded MLflow store follow a copied or moved data root.

A real MLflow store (SQLite file and artifact folder in a temporary data root)
holds an experiment with a decision run, a logged model and a model version,
as the product writes them; the folder is then copied or moved and the stored
locations are rewritten by ``tasks.relocation``.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.demo import SHIPPED_USECASE
from mlops_core.records import RollbackRecord
from tasks.decision_store import log_decision_run, read_decision_record
from tasks.mlflow_store import ensure_experiment, make_client, settings_for_data_root
from tasks.relocation import (
    artifact_root_uri,
    relocate_artifact_locations,
)
from tasks.runtime import open_runtime
from tasks.tags import TAG_MOVED_AT, TAG_MOVED_FROM

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A decision record to read back after the move.
RECORD = RollbackRecord(from_version="2", to_version="1", reason="moved", requested_by="ops")

#: A name that needs percent-encoding in a ``file:`` URI, as a folder name may.
EXPERIMENT = "retail demand"
MODEL = "retail_demand"


def _locations(database: Path) -> dict[str, list[str]]:
    """Every stored artifact location, read straight from the SQLite file."""
    with sqlite3.connect(database) as db:
        return {
            "experiments": [
                r[0] for r in db.execute("SELECT artifact_location FROM experiments ORDER BY 1")
            ],
            "runs": [r[0] for r in db.execute("SELECT artifact_uri FROM runs ORDER BY 1")],
            "logged_models": [
                r[0] for r in db.execute("SELECT artifact_location FROM logged_models ORDER BY 1")
            ],
            "model_versions": [
                r[0]
                for row in db.execute("SELECT source, storage_location FROM model_versions")
                for r in (row[:1], row[1:])
            ],
        }


def _make_store(root: Path) -> dict[str, str]:
    """A store in ``root`` as the product writes one; returns the ids it made."""
    settings = settings_for_data_root(root)
    client = make_client(settings)
    experiment_id = ensure_experiment(client, EXPERIMENT, settings.artifact_root)
    run_id = log_decision_run(
        client,
        experiment_id=experiment_id,
        run_name="decision",
        kind="retrain",
        action="skip",
        reason_codes=["no_decay"],
        record=RECORD,
        markdown="# skip\n",
        metrics={},
        tags={},
    )
    logged = client.create_logged_model(experiment_id, name="model", source_run_id=run_id)
    folder = root.parent / "model-files"
    folder.mkdir(exist_ok=True)
    (folder / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    client.log_model_artifacts(logged.model_id, str(folder))
    client.create_registered_model(MODEL)
    version = client.create_model_version(
        MODEL, source=logged.artifact_location, run_id=run_id, model_id=logged.model_id
    )
    # An experiment of someone else's under another folder: never ours to move.
    client.create_experiment(
        "elsewhere", artifact_location=(root.parent / "other" / "elsewhere").as_uri()
    )
    return {
        "experiment": experiment_id,
        "run": run_id,
        "model": logged.model_id,
        "version": str(version.version),
    }


@pytest.fixture()
def original(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "data root a"
    root.mkdir()
    return root, _make_store(root)


def test_a_copy_points_at_itself_and_the_original_is_untouched(
    tmp_path: Path, original: tuple[Path, dict[str, str]]
) -> None:
    root, ids = original
    before = _locations(root / "mlflow.db")
    copy = tmp_path / "data root b"
    shutil.copytree(root, copy)

    done = relocate_artifact_locations(copy / "mlflow.db", copy / "mlartifacts")

    assert len(done) == 1
    assert done[0].moved_from == artifact_root_uri(root / "mlartifacts")
    assert done[0].moved_to == artifact_root_uri(copy / "mlartifacts")
    assert done[0].rows == {
        "experiments.artifact_location": 1,
        "runs.artifact_uri": 1,
        "logged_models.artifact_location": 1,
        "model_versions.source": 1,
        "model_versions.storage_location": 1,
        "trace_tags.value": 0,
    }
    after = _locations(copy / "mlflow.db")
    ours = artifact_root_uri(copy / "mlartifacts") + "/"
    assert all(loc.startswith(ours) for loc in after["runs"]), after
    assert all(loc.startswith(ours) for loc in after["logged_models"]), after
    assert all(loc.startswith(ours) for loc in after["model_versions"]), after
    # Ours moved; MLflow's Default and the foreign experiment did not.
    assert sorted(after["experiments"]) == sorted(
        [loc for loc in before["experiments"] if "mlartifacts" not in loc]
        + [artifact_root_uri(copy / "mlartifacts") + "/retail%20demand"]
    )
    assert _locations(root / "mlflow.db") == before

    client = MlflowClient(tracking_uri=f"sqlite:///{copy / 'mlflow.db'}")
    tags = client.get_experiment(ids["experiment"]).tags
    assert tags[TAG_MOVED_FROM] == done[0].moved_from
    assert TAG_MOVED_AT in tags

    # Again: nothing left to do, nothing changed; the original has nothing to do either.
    assert relocate_artifact_locations(copy / "mlflow.db", copy / "mlartifacts") == []
    assert _locations(copy / "mlflow.db") == after
    assert relocate_artifact_locations(root / "mlflow.db", root / "mlartifacts") == []
    assert _locations(root / "mlflow.db") == before


def test_a_moved_root_is_rewritten_once_and_reads_what_was_written_before(
    tmp_path: Path, original: tuple[Path, dict[str, str]]
) -> None:
    root, ids = original
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(root, moved)

    # Four openers at once (as workers starting together would): one rewrite.
    results: list[list] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        start.wait()
        results.append(relocate_artifact_locations(moved / "mlflow.db", moved / "mlartifacts"))

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]

    rt = open_runtime(SHIPPED_USECASE, str(moved), env={})
    assert read_decision_record(rt.client, ids["run"], RollbackRecord) == RECORD
    assert "decision.json" in [f.path for f in rt.client.list_artifacts(ids["run"])]
    source = rt.client.get_model_version_download_uri(MODEL, ids["version"])
    assert source.startswith(artifact_root_uri(moved / "mlartifacts") + "/")
    listed = rt.client.list_logged_model_artifacts(ids["model"])
    assert [f.path for f in listed] == ["MLmodel"]


def test_a_process_that_wrote_to_a_run_writes_to_the_copy_once_it_opens_it(
    tmp_path: Path, original: tuple[Path, dict[str, str]]
) -> None:
    # This process logged the run's artifacts in the original (MLflow then caches
    # the run's artifact repository by its id), so opening the copy must forget it.
    root, ids = original
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)

    rt = open_runtime(SHIPPED_USECASE, str(copy), env={})
    rt.client.log_text(ids["run"], "written after the copy\n", "late.txt")

    below = Path(EXPERIMENT) / ids["run"] / "artifacts" / "late.txt"
    assert (copy / "mlartifacts" / below).is_file()
    assert not (root / "mlartifacts" / below).exists()


def test_another_store_named_by_the_environment_is_never_rewritten(
    tmp_path: Path, original: tuple[Path, dict[str, str]]
) -> None:
    root, _ = original
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    # The store is named explicitly and is not the data root's own: its locations
    # are its owner's business, even though it is this very database.
    elsewhere = tmp_path / "store.db"
    shutil.copyfile(moved / "mlflow.db", elsewhere)
    before = _locations(elsewhere)

    open_runtime(SHIPPED_USECASE, str(moved), env={"MLFLOW_TRACKING_URI": f"sqlite:///{elsewhere}"})

    after = _locations(elsewhere)
    assert after["runs"] == before["runs"]
    assert after["model_versions"] == before["model_versions"]


def test_no_database_yet_is_nothing_to_do(tmp_path: Path) -> None:
    assert relocate_artifact_locations(tmp_path / "mlflow.db", tmp_path / "mlartifacts") == []
    assert not (tmp_path / "mlflow.db").exists()

"""A data root copied or moved to another folder keeps working, through the real flows.

MLflow stores absolute artifact locations (experiments, runs, logged models,
model versions). Before they were rewritten on open, a copied data root wrote
its new runs into the original's folder, and a moved one failed its next
cycle ("Failed to download artifacts from path 'profile.json'"). Here one root
is bootstrapped, copied (a cycle runs in the copy; the original must not change
by a byte or a timestamp), then moved (a cycle, a scoring, a rollback, status
and the history report run there, with the copy and the old folder gone).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows.cli import app
from flows.cycle import monitor, rollback, score_batch
from flows.report_writer import history_report
from mlops_core.records import CycleRecord, CycleResult
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, model_registry, training_runs
from tasks.relocation import artifact_root_uri
from tasks.runtime import open_runtime
from tasks.tags import TAG_MOVED_FROM

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
USECASE_FILE = "retail_demand.yaml"


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: relative path -> (size, mtime in ns)."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        found[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def _land(root: Path, period: int) -> str:
    """Put the simulator's batch of ``period``, and the labels of the week before, in ``root``."""
    rt = open_runtime(root / USECASE_FILE, str(root))
    name = f"period_{period:03d}.csv"
    SIM.batch(period).to_csv(rt.paths.landing / name, index=False)
    if period - 1 >= FIRST_LIVE:
        late = period - 1
        SIM.labels(late).to_csv(rt.paths.labels / f"labels_{late:03d}.csv", index=False)
    return name


def _two_cycles(root: Path) -> CycleResult:
    """Monitor the first two live weeks in ``root``; the second one's outcome.

    The first week's labels arrive with the second week's batch, and the
    champion is then two weeks old, over the limit of one: the second cycle
    trains and registers a challenger, so it writes a model, its version and a
    decision record wherever the store sends them.
    """
    usecase = str(root / USECASE_FILE)
    first = monitor(usecase, _land(root, FIRST_LIVE), str(root))
    assert first.status == "done", first
    return monitor(usecase, _land(root, FIRST_LIVE + 1), str(root))


def _stored_locations(client: MlflowClient, registered_model: str) -> dict[str, list[str]]:
    """Every artifact location the store holds for the product's experiments and model."""
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    ids = [e.experiment_id for e in experiments]
    runs = client.search_runs(ids, max_results=1000)
    models = client.search_logged_models(experiment_ids=ids)
    versions = client.search_model_versions(f"name = '{registered_model}'")
    return {
        "experiments": [e.artifact_location for e in experiments],
        "runs": [r.info.artifact_uri for r in runs],
        "logged models": [m.artifact_location for m in models],
        "model versions": [v.source for v in versions]
        + [client.get_model_version_download_uri(registered_model, v.version) for v in versions],
    }


def _assert_all_under(client: MlflowClient, registered_model: str, root: Path) -> None:
    prefix = artifact_root_uri(root / "mlartifacts") + "/"
    locations = _stored_locations(client, registered_model)
    assert locations["runs"] and locations["model versions"], locations
    outside = {
        kind: [loc for loc in locs if not loc.startswith(prefix)]
        for kind, locs in locations.items()
    }
    assert not any(outside.values()), outside


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    """A bootstrapped data root and the names of its copy and of where it moves."""
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    base = tmp_path_factory.mktemp("data-root-move")
    original = base / "original"
    # A champion older than one period is refreshed, at no cost (see _two_cycles).
    bootstrapped_variant(original, SIM, {"retrain": {"max_age_periods": 1, "retrain_cost": 0.0}})
    yield {
        "original": original,
        "copy": base / "copy",
        "moved": base / "elsewhere" / "moved",
        "original_uri": artifact_root_uri(original / "mlartifacts"),
    }
    mp.undo()


@pytest.fixture(scope="module")
def copied(roots: dict[str, Any]) -> dict[str, Any]:
    """Copy the original root, then run cycles in the copy."""
    original, copy = roots["original"], roots["copy"]
    before = _listing(original)
    shutil.copytree(original, copy, symlinks=True)
    cycle = _two_cycles(copy)
    return {"before": before, "after": _listing(original), "cycle": cycle}


def test_a_cycle_runs_in_a_copy(roots: dict[str, Any], copied: dict[str, Any]) -> None:
    cycle = copied["cycle"]
    assert cycle.status == "done" and cycle.validation == "pass", cycle
    assert cycle.decision in ("retrain", "train"), (cycle.reason, cycle.summary)
    rt = open_runtime(roots["copy"] / USECASE_FILE, str(roots["copy"]))
    record = decision_store.read_decision_record(rt.client, cycle.decision_run_id, CycleRecord)
    assert record.period == cycle.period, "the cycle's decision record reads back from the copy"
    _assert_all_under(rt.client, rt.usecase.registered_model_name, roots["copy"])


def test_a_copy_never_writes_into_its_original(
    roots: dict[str, Any], copied: dict[str, Any]
) -> None:
    before, after = copied["before"], copied["after"]
    assert after.keys() == before.keys(), {
        "new in the original": sorted(after.keys() - before.keys()),
        "gone from the original": sorted(before.keys() - after.keys()),
    }
    changed = sorted(path for path in before if before[path] != after[path])
    assert not changed, changed
    # The copy's own files did grow: the cycle's writes went somewhere.
    grown = _listing(roots["copy"]).keys() - before.keys()
    assert any(p.startswith("mlartifacts/") for p in grown), sorted(grown)


def test_the_copy_records_where_its_store_came_from(
    roots: dict[str, Any], copied: dict[str, Any]
) -> None:
    rt = open_runtime(roots["copy"] / USECASE_FILE, str(roots["copy"]))
    for experiment_id in (rt.experiment_id, rt.decisions_experiment_id):
        tags = rt.client.get_experiment(experiment_id).tags
        assert tags.get(TAG_MOVED_FROM) == roots["original_uri"], tags


@pytest.fixture(scope="module")
def moved(roots: dict[str, Any], copied: dict[str, Any]) -> dict[str, Any]:
    """Move the original root (its copy deleted first), then use it through every flow."""
    original, target = roots["original"], roots["moved"]
    shutil.rmtree(roots["copy"])
    target.parent.mkdir(parents=True)
    shutil.move(original, target)
    assert not original.exists()
    usecase = str(target / USECASE_FILE)
    cycle = _two_cycles(target)
    scored = score_batch(usecase, _land(target, FIRST_LIVE + 2), str(target))
    return {"cycle": cycle, "scored": scored, "usecase": usecase}


def test_a_cycle_runs_after_a_move(roots: dict[str, Any], moved: dict[str, Any]) -> None:
    cycle = moved["cycle"]
    assert cycle.status == "done" and cycle.validation == "pass", cycle
    assert cycle.decision in ("retrain", "train"), (cycle.reason, cycle.summary)
    rt = open_runtime(moved["usecase"], str(roots["moved"]))
    # The version made before the move loads (its file and sha256 from the new folder).
    first = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, version="1"
    )
    assert first is not None
    assert training_runs.load_model(rt.client, first) is not None
    _assert_all_under(rt.client, rt.usecase.registered_model_name, roots["moved"])


def test_scoring_runs_after_a_move(moved: dict[str, Any]) -> None:
    scored = moved["scored"]
    assert scored.validation == "pass", scored
    assert scored.rows == len(SIM.batch(FIRST_LIVE + 2)), scored
    assert scored.guardrails is not None, "the champion from before the move predicted"


def test_status_report_and_rollback_run_after_a_move(
    roots: dict[str, Any], moved: dict[str, Any]
) -> None:
    target = roots["moved"]
    shown = CliRunner().invoke(app, ["status", moved["usecase"], "--home", str(target)])
    assert shown.exit_code == 0, shown.output
    assert "champion is version" in shown.output, shown.output

    written = history_report(moved["usecase"], None, str(target))
    assert written.is_file() and written.is_relative_to(target)

    # Roll back to the version made before the move. When the gate kept it as
    # champion, its challenger (made after the move) is first promoted by hand.
    rt = open_runtime(moved["usecase"], str(target))
    name = rt.usecase.registered_model_name
    latest = max(int(v.version) for v in rt.client.search_model_versions(f"name = '{name}'"))
    assert latest > 1, "the cycle after the move registered a challenger"
    champion = training_runs.get_model_version_info(rt.client, name, alias="champion")
    assert champion is not None
    if champion.version == "1":
        model_registry.set_champion(
            rt.client, name, str(latest), expected_current="1", reason="data root move test"
        )
    back = rollback(moved["usecase"], reason="data root move test", data_root=str(target))
    assert (back.from_version, back.to_version) == (str(latest), "1"), back
    first = training_runs.get_model_version_info(rt.client, name, alias="champion")
    assert first is not None and first.version == "1"
    assert training_runs.load_model(rt.client, first) is not None
    _assert_all_under(rt.client, name, target)

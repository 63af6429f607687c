"""A process killed (SIGKILL) between registering a challenger and moving ``champion``.

The monitor cycles run in a child process that kills itself (a real ``kill -9``:
no cleanup, no ``finally``) at one of two points after the challenger is
registered, the first time a cycle gets there:

- ``record``: as the cycle's decision is about to be recorded. Nothing was
  decided on paper: a rerun abandons the orphan version (status ``abandoned``
  with the reason) and decides afresh;
- ``alias``: as ``champion`` is about to move, the decision recorded. A rerun
  carries out the recorded decision (the same version becomes champion) and
  trains nothing. The child dies as it asks for the model's promotion slot, not
  inside it: a slot a killed holder leaves occupied decays in 15 s
  (``steps.PROMOTION_SLOT_DECAY``), and this server is shared by every flow test
  of the worker. A kill inside the slot, and the rerun that waits for it, is
  ``tests/e2e/test_killed_monitor.py``'s ``alias`` case;
- ``superseded``: the same kill, then another version becomes champion (as
  another batch's promotion would) before the rerun. The recorded promotion is
  stale: the rerun abandons that challenger with the reason, leaves the new
  champion alone and commits the batch.

Either way, right after the kill ``champion`` is unchanged and the batch waits
in landing with no ledger entry; after the rerun the batch is committed once and
no version is left an undecided ``candidate``.

The use case is bootstrapped once; each kill runs in a copy of that data root.
``alias`` and ``superseded`` are one kill (the child is the same): the
``superseded`` case reruns in a copy of the killed root taken right after the kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flows.cycle import monitor
from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, model_registry, storage, training_runs
from tasks.runtime import open_runtime

# Each crashed child process gets up to 600 s after its bootstrap.
pytestmark = [pytest.mark.flows, pytest.mark.timeout(900)]

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
LABEL_DELAY = 2
LIVE_WEEKS = 10
#: What ``bootstrapped_variant`` names the use-case file in the data root.
USECASE_FILE = "retail_demand.yaml"
REPO = Path(__file__).resolve().parents[2]

# The child: cycles through the landed live weeks until the kill point is reached.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from tasks import decision_store, steps, training_runs
    from flows.cycle import monitor

    point, marker_path = sys.argv[3], sys.argv[4]
    log_training_run = training_runs.log_training_run

    def registered(*args, **kwargs):
        trained = log_training_run(*args, **kwargs)
        with open(marker_path, "w") as marker:
            json.dump({"version": trained.version}, marker)
        return trained

    def dies_once_registered(original):
        def call(*args, **kwargs):
            if os.path.exists(marker_path):  # a challenger is registered: die here
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return call

    training_runs.log_training_run = registered
    if point == "record":
        decision_store.log_decision_run = dies_once_registered(decision_store.log_decision_run)
    else:
        steps.promote = dies_once_registered(steps.promote)
    for batch in sys.argv[5:]:
        out = monitor(sys.argv[1], batch, sys.argv[2])
        print(json.dumps({"batch": batch, "decision": out.decision}), flush=True)
    """
)


def _champion(usecase: Path, root: Path) -> str | None:
    rt = open_runtime(usecase, str(root))
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    return info.version if info else None


def _paths(root: Path) -> tuple[Path, storage.UseCasePaths]:
    usecase = root / USECASE_FILE
    return usecase, storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> Path:
    """A bootstrapped data root with ten live weeks and their labels landed."""
    root = tmp_path_factory.mktemp("crash-bootstrapped") / "root"
    # A champion older than 2 weeks is refreshed: a retrain, and so a promotion
    # attempt, comes within a few live weeks whatever the data does.
    _, paths = bootstrapped_variant(root, SIM, {"retrain": {"max_age_periods": 2}})
    for period in range(FIRST_LIVE, FIRST_LIVE + LIVE_WEEKS):
        SIM.batch(period).to_csv(paths.landing / f"period_{period:03d}.csv", index=False)
        SIM.labels(period).to_csv(paths.labels / f"labels_{period:03d}.csv", index=False)
    return root


def _kill(landed: Path, root: Path, child_point: str) -> dict[str, Any]:
    """Copy the landed root to ``root``, run live weeks there in a child until it is killed."""
    from prefect.settings import PREFECT_API_URL

    shutil.copytree(landed, root, symlinks=True)
    usecase, paths = _paths(root)
    batches = [f"period_{period:03d}.csv" for period in range(FIRST_LIVE, FIRST_LIVE + LIVE_WEEKS)]
    marker = root / "killed.json"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(usecase), str(root), child_point, str(marker), *batches],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    done = [json.loads(line)["batch"] for line in child.stdout.splitlines() if line.startswith("{")]
    killed_batch = batches[len(done)] if len(done) < len(batches) else None
    return {
        "point": child_point,
        "root": root,
        "usecase": usecase,
        "returncode": child.returncode,
        "stderr": child.stderr[-3000:],
        "marker": json.loads(marker.read_text()) if marker.exists() else None,
        "done": done,
        "killed_batch": killed_batch,
        "paths": paths,
    }


@pytest.fixture(scope="module")
def killed_at_record(landed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _kill(landed, tmp_path_factory.mktemp("crash-record") / "root", "record")


@pytest.fixture(scope="module")
def killed_at_alias(
    landed: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The ``alias`` kill, and a copy of its root taken at once for the ``superseded`` case."""
    killed = _kill(landed, tmp_path_factory.mktemp("crash-alias") / "root", "alias")
    copy = tmp_path_factory.mktemp("crash-superseded") / "root"
    shutil.copytree(killed["root"], copy, symlinks=True)
    usecase, paths = _paths(copy)
    superseded = {**killed, "point": "superseded", "root": copy, "usecase": usecase}
    return {"alias": killed, "superseded": {**superseded, "paths": paths}}


@pytest.fixture(scope="module", params=["record", "alias", "superseded"])
def crashed(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The killed data root of one case (each case reruns in its own root)."""
    point = request.param
    if point == "record":
        return request.getfixturevalue("killed_at_record")
    return request.getfixturevalue("killed_at_alias")[point]


def test_the_child_was_killed_after_registering_a_challenger(crashed: dict[str, Any]) -> None:
    assert crashed["returncode"] == -signal.SIGKILL, crashed["stderr"]
    assert crashed["marker"] is not None and crashed["killed_batch"] is not None


def _versions(usecase: Path, root: Path) -> dict[str, dict[str, str]]:
    rt = open_runtime(usecase, str(root))
    name = rt.usecase.registered_model_name
    return {
        str(v.version): dict(v.tags) for v in rt.client.search_model_versions(f"name = '{name}'")
    }


def test_after_the_kill_nothing_moved_and_the_batch_waits(crashed: dict[str, Any]) -> None:
    usecase, root, paths = crashed["usecase"], crashed["root"], crashed["paths"]
    assert _champion(usecase, root) == "1", "champion unchanged"
    batch = paths.landing / crashed["killed_batch"]
    assert batch.exists(), "the batch is still in landing: not lost, not committed"
    sha = storage.file_sha256(batch)
    assert storage.ledger_entry(paths.ledger, sha) is None
    rt = open_runtime(usecase, str(root))
    recorded = decision_store.find_decision_runs(
        rt.client,
        rt.decisions_experiment_id,
        filter_tags={"mlops.batch_sha256": sha, "mlops.kind": "retrain"},
    )
    version = crashed["marker"]["version"]
    if crashed["point"] == "record":
        assert recorded == [], "killed before the decision was recorded"
    else:
        assert len(recorded) == 1, "the decision was recorded before the alias move"
        record = decision_store.read_decision_record(rt.client, recorded[0].run_id, CycleRecord)
        assert record.promotion is not None and record.promotion.action == "promote"
        assert str(record.challenger_version) == version
    # The batch was scored, but its predictions wait for the commit.
    assert not (paths.predictions / f"{Path(crashed['killed_batch']).stem}.parquet").exists()
    orphan = _versions(usecase, root)[version]
    assert orphan["mlops.status"] == "candidate"
    assert orphan["mlops.source_batch_sha256"] == sha


def test_a_rerun_finishes_the_job_and_commits_the_batch_once(crashed: dict[str, Any]) -> None:
    usecase, root, paths = crashed["usecase"], crashed["root"], crashed["paths"]
    name = crashed["killed_batch"]
    sha = storage.file_sha256(paths.landing / name)
    version = crashed["marker"]["version"]
    rt = open_runtime(usecase, str(root))
    model = rt.usecase.registered_model_name
    if crashed["point"] == "superseded":
        # Another version becomes champion before the rerun (registered from the
        # champion's own artifacts, as a rollback target or another cycle would be).
        champion = rt.client.get_model_version(model, "1")
        other = rt.client.create_model_version(
            model, source=champion.source, run_id=champion.run_id, tags=champion.tags
        )
        model_registry.set_champion(
            rt.client, model, str(other.version), expected_current="1", reason="test"
        )
    before = _versions(usecase, root)

    out = monitor(str(usecase), name, str(root))

    assert out.status == "done" and out.decision in ("train", "retrain"), out
    after = _versions(usecase, root)
    if crashed["point"] == "record":
        # Nothing was decided: the orphan is abandoned, a new challenger decided.
        assert after[version]["mlops.status"] == "abandoned"
        assert "stopped before deciding" in after[version]["mlops.abandoned_reason"]
        assert _champion(usecase, root) != version, "the orphan is never champion"
        assert len(after) == len(before) + 1
    elif crashed["point"] == "alias":
        # Decided, not carried out: the rerun moves the alias as recorded, trains nothing.
        assert _champion(usecase, root) == version == out.champion_version
        assert after[version]["mlops.status"] == "champion"
        assert len(after) == len(before)
        # The resumed cycle reports the figures the killed run measured and recorded.
        record = decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)
        assert record.performance is not None and record.performance.realized is not None
        assert out.realized == record.performance.realized.value
        assert out.reference == record.performance.reference
    else:
        # Decided against version 1, but the champion moved: never forced through.
        newest = str(max(int(v) for v in before))
        assert _champion(usecase, root) == newest == out.champion_version
        assert after[version]["mlops.status"] == "abandoned"
        assert "superseded" in after[version]["mlops.abandoned_reason"]
        assert len(after) == len(before), "nothing retrained"
        run = rt.client.get_run(out.decision_run_id)
        assert run.data.tags["mlops.promotion_superseded_by"] == newest
        # The output and the record say what happened, not what was decided.
        assert out.promotion == "superseded", out
        assert f"version {newest} became the model in production first" in out.summary
        record = decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)
        assert record.superseded_by == newest and record.summary == out.summary
        assert record.promotion is not None
        assert record.promotion.action == "promote", "the decision itself stays recorded"
    assert (paths.predictions / f"{Path(name).stem}.parquet").exists(), "published at the commit"
    assert not paths.stage_of(sha).exists()
    assert [v for v, tags in after.items() if tags["mlops.status"] == "candidate"] == [], (
        "no version stays ambiguous"
    )

    entries = storage.ledger_entries(paths.ledger)
    assert [e.sha256 for e in entries].count(sha) == 1
    for kind in ("retrain", "promotion"):
        runs = decision_store.find_decision_runs(
            rt.client,
            rt.decisions_experiment_id,
            filter_tags={"mlops.batch_sha256": sha, "mlops.kind": kind},
        )
        assert len(runs) == 1, kind
    assert hashlib.sha256((paths.archive / name).read_bytes()).hexdigest() == sha

"""Two ``mlops monitor`` processes started together on one batch: one cycle, not two.

They run in a copy of the data root ``mlops bootstrap`` trained
(tests/e2e/embedded_commands.py), with a new Prefect home of their own: both
start a local server on its database at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from embedded_commands import MLOPS, SIM, USECASE_FILE, embedded_env

from tasks import decision_store, storage
from tasks.runtime import open_runtime

# Maybe the shared bootstrap (up to 900 s), then both monitor commands (up to 900 s).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def _monitor_run_logs(prefect_home: Path) -> list[str]:
    """What the ``monitor`` flow runs logged to Prefect (its local server's database)."""
    query = (
        "SELECT log.message FROM log JOIN flow_run ON log.flow_run_id = flow_run.id "
        "JOIN flow ON flow_run.flow_id = flow.id WHERE flow.name = 'monitor'"
    )
    with sqlite3.connect(prefect_home / "prefect.db") as db:
        return [message for (message,) in db.execute(query)]


def test_two_monitor_processes_on_one_batch_run_one_cycle(
    tmp_path: Path, bootstrapped_by_the_command: Path
) -> None:
    root = tmp_path / "home"
    shutil.copytree(bootstrapped_by_the_command, root)
    env = embedded_env(tmp_path / "prefect")
    usecase = root / USECASE_FILE
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    first_live = SIM.config.initial_periods
    SIM.labels(first_live - 1).to_csv(paths.labels / "labels_late.csv", index=False)
    data = SIM.batch(first_live).to_csv(index=False).encode("utf-8")
    (paths.landing / "live.csv").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()

    both = [
        subprocess.Popen(
            [str(MLOPS), "monitor", str(usecase), "live.csv", "--home", str(root)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in both]
    for proc, (out, err) in zip(both, outputs, strict=True):
        assert proc.returncode == 0, (out[-2000:], err[-2000:])

    entries = [e for e in storage.ledger_entries(paths.ledger) if e.sha256 == sha]
    assert len(entries) == 1, "one ledger entry for the batch"
    rt = open_runtime(usecase, str(root))
    decisions = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )
    kinds = sorted(r.kind for r in decisions)
    assert kinds.count("retrain") == 1, kinds
    assert (paths.archive / "live.csv").exists() and not (paths.landing / "live.csv").exists()
    # One ran the cycle; the other waited for it, said so, and found it handled.
    statuses = sorted(json.loads(out)["status"] for out, _ in outputs)
    assert statuses == ["done", "duplicate"], statuses
    said = "\n".join(err for _, err in outputs)
    # Both commands started a local server on one new Prefect home: their
    # start-ups (database migrations) took turns instead of colliding.
    assert "Application startup failed" not in said, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert "is being run by pid" in said, said[-3000:]
    # The terminal stays quiet, yet the cycle's decision sentence (INFO) reached
    # Prefect, where the UI shows it: once, from the process that ran the cycle.
    assert "Decision: " not in said, said[-3000:]
    decided = [m for m in _monitor_run_logs(tmp_path / "prefect") if "Decision: " in m]
    assert len(decided) == 1, decided
    retrain = next(r for r in decisions if r.kind == "retrain")
    assert f"Decision: {retrain.action} (reason code " in decided[0], decided

"""An ``mlops monitor`` process killed with SIGKILL in the middle of a retrain.

The command runs on the embedded defaults (no ``PREFECT_API_URL``), so it
starts Prefect's local server as a child process. It runs through the landed
weeks until, at the first retrain, it reaches one of two points, where it is
held until this test kills it with a real ``kill -9`` (no cleanup, no
``finally``, no ``atexit``):

- ``training``: inside the challenger's MLflow training run (the run is open,
  its logged model pending);
- ``alias``: the cycle's decisions recorded, as ``champion`` is about to move,
  inside the model's promotion slot (so the rerun also waits for the slot the
  killed holder left occupied to decay).

Promised: within seconds no process the command started is alive (the local
server's port is closed); a rerun of the batch completes; the killed training
run ends ``FAILED`` with the reason; a resumed cycle reports the figures the
killed one recorded; no traceback reaches the user.

The held command is the ``mlops`` command line itself (``flows.cli.app``, what
the ``mlops`` script runs) with one function replaced to hold it at the point;
the rerun is the installed ``mlops`` script.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from embedded_commands import MLOPS, SIM, USECASE_FILE, embedded_env, prefect_home_of
from held_process import held
from usecase_variant import land_weeks

from mlops_core.records import CycleRecord
from tasks import decision_store, storage
from tasks.runtime import open_runtime
from tasks.tags import TAG_ABANDONED_REASON

# The first test may bootstrap and runs the held command (up to 900 s each).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
FIRST_LIVE = SIM.config.initial_periods
LIVE_WEEKS = 10
#: How long the processes a killed command started get to notice and end.
GRACE_SECONDS = 15.0

# The command line, held at the point until the test kills it.
HELD_MONITOR = textwrap.dedent(
    """
    import json, os, sys, threading
    from mlflow import MlflowClient
    from tasks import decision_store, model_registry
    from flows.cli import app

    point, marker = sys.argv[1], sys.argv[2]

    def hold(what):
        with open(marker + ".part", "w") as out:
            json.dump(what, out)
        os.replace(marker + ".part", marker)
        threading.Event().wait()  # until the kill

    if point == "training":
        # Called inside log_training_run, after the run and its logged model exist.
        MlflowClient.log_inputs = lambda self, run_id, *a, **k: hold({"run_id": run_id})
    else:
        model_registry.set_champion = lambda client, name, version, **k: hold({"version": version})
    sys.argv = ["mlops", "monitor", *sys.argv[3:]]
    app()
    """
)


@pytest.fixture(scope="module")
def bootstrapped(
    tmp_path_factory: pytest.TempPathFactory, bootstrapped_by_the_command: Path
) -> dict[str, Path]:
    """A copy of the data root ``mlops bootstrap`` trained (champion version 1, a
    champion older than 2 weeks refreshed), with ten live weeks (and labels) landed.

    The commands here share a copy of the bootstrap's Prefect home: its database is
    already migrated (about 8 CPU-s a new home costs; a new home's first start-up is
    what tests/e2e/test_two_monitors.py runs).
    """
    base = tmp_path_factory.mktemp("killed-monitor")
    root, prefect_home = base / "home", base / "prefect"
    shutil.copytree(bootstrapped_by_the_command, root)
    shutil.copytree(prefect_home_of(bootstrapped_by_the_command), prefect_home)
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(root / USECASE_FILE), root)
    land_weeks(SIM, paths, range(FIRST_LIVE, FIRST_LIVE + LIVE_WEEKS))
    return {"base": base, "root": root, "prefect_home": prefect_home}


def _listening_ports(processes: list[psutil.Process]) -> list[int]:
    ports = []
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        ports += [c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN]
    return ports


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kill_during_retrain(bootstrapped: dict[str, Path], point: str) -> dict[str, Any]:
    """Copy the bootstrapped root, run the held command in it, kill it at ``point``."""
    root = bootstrapped["base"] / point
    shutil.copytree(bootstrapped["root"], root)
    usecase = root / USECASE_FILE
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    marker = root / "held.json"
    out, err = root / "killed.out", root / "killed.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        command = subprocess.Popen(
            [sys.executable, "-c", HELD_MONITOR, point, str(marker), str(usecase)]
            + ["--home", str(root)],
            cwd=REPO,
            env=embedded_env(bootstrapped["prefect_home"]),
            stdout=stdout,
            stderr=stderr,
        )
    with held(command) as hold:
        deadline = time.monotonic() + 900
        while not marker.exists():
            assert command.poll() is None, f"never reached {point}: " + err.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{point} not reached in time"
            time.sleep(0.2)
        started = hold.children()
        described = [f"{p.pid}: {' '.join(p.cmdline()[:4])}" for p in started]
        ports = _listening_ports(started)
        alive = hold.sigkill(GRACE_SECONDS)
    held_at = json.loads(marker.read_text())
    killed_batch = storage.list_files(paths.landing, "csv")[0].name
    return {
        "point": point,
        "root": root,
        "usecase": usecase,
        "paths": paths,
        "env": embedded_env(bootstrapped["prefect_home"]),
        "returncode": command.returncode,
        "started": described,
        "ports": ports,
        "alive": [p.pid for p in alive],
        "ports_open_after": [port for port in ports if _accepts(port)],
        "output": out.read_text() + err.read_text(),
        "held": held_at,
        "killed_batch": killed_batch,
    }


def _rerun(killed: dict[str, Any]) -> dict[str, Any]:
    """The installed ``mlops monitor`` on the killed batch, as a user reruns it."""
    done = subprocess.run(
        [str(MLOPS), "monitor", str(killed["usecase"]), killed["killed_batch"]]
        + ["--home", str(killed["root"])],
        env=killed["env"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {"result": json.loads(done.stdout), "output": done.stdout + done.stderr}


@pytest.fixture(scope="module")
def killed_in_training(bootstrapped: dict[str, Path]) -> dict[str, Any]:
    return _kill_during_retrain(bootstrapped, "training")


@pytest.fixture(scope="module")
def killed_at_alias(bootstrapped: dict[str, Path]) -> dict[str, Any]:
    return _kill_during_retrain(bootstrapped, "alias")


#: The fixture of each kill point.
KILLED = {"training": "killed_in_training", "alias": "killed_at_alias"}


@pytest.mark.parametrize("point", list(KILLED))
def test_no_process_of_a_killed_monitor_outlives_it(
    request: pytest.FixtureRequest, point: str
) -> None:
    killed = request.getfixturevalue(KILLED[point])
    assert killed["returncode"] == -signal.SIGKILL
    # The command ran Prefect's local server: a child process listening on a port.
    assert killed["started"] and killed["ports"], killed["started"]
    assert killed["alive"] == [], (
        f"still running {GRACE_SECONDS} s after the kill: {killed['started']}"
    )
    assert killed["ports_open_after"] == [], killed["ports"]
    assert "Traceback" not in killed["output"], killed["output"][-3000:]


def test_a_rerun_finishes_the_batch_and_fails_the_killed_training_run(
    killed_in_training: dict[str, Any],
) -> None:
    killed = killed_in_training
    rt = open_runtime(killed["usecase"], str(killed["root"]))
    run_id = killed["held"]["run_id"]
    assert rt.client.get_run(run_id).info.status == "RUNNING", "left open by the kill"

    rerun = _rerun(killed)

    assert rerun["result"]["status"] == "done", rerun["result"]
    assert "Traceback" not in rerun["output"], rerun["output"][-3000:]
    run = rt.client.get_run(run_id)
    assert run.info.status == "FAILED"
    reason = run.data.tags[TAG_ABANDONED_REASON]
    assert "stopped before this run ended (killed or failed)" in reason, reason
    models = rt.client.search_logged_models(
        [rt.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    assert [str(m.status) for m in models] == ["FAILED"]
    sha = storage.file_sha256(killed["paths"].archive / killed["killed_batch"])
    entries = storage.ledger_entries(killed["paths"].ledger)
    assert [e.sha256 for e in entries].count(sha) == 1, "the batch committed once"
    left_open = rt.client.search_runs(
        [rt.experiment_id, rt.decisions_experiment_id], "attributes.status = 'RUNNING'"
    )
    assert left_open == [], "no run stays open"


def test_a_resumed_cycle_reports_the_figures_the_killed_one_recorded(
    killed_at_alias: dict[str, Any],
) -> None:
    killed = killed_at_alias
    rt = open_runtime(killed["usecase"], str(killed["root"]))
    sha = storage.file_sha256(killed["paths"].landing / killed["killed_batch"])
    recorded = decision_store.find_decision_runs(
        rt.client,
        rt.decisions_experiment_id,
        filter_tags={"mlops.batch_sha256": sha, "mlops.kind": "retrain"},
    )
    assert len(recorded) == 1, "the kill came after the decisions were recorded"
    record = decision_store.read_decision_record(rt.client, recorded[0].run_id, CycleRecord)
    assert record.performance is not None and record.performance.realized is not None
    realized = record.performance.realized.value

    rerun = _rerun(killed)

    out = rerun["result"]
    assert "Traceback" not in rerun["output"], rerun["output"][-3000:]
    assert out["status"] == "done" and out["decision_run_id"] == recorded[0].run_id, out
    assert out["realized"] is not None and out["realized"] == realized
    assert out["reference"] == record.performance.reference
    assert out["champion_version"] == str(killed["held"]["version"])

"""A local Dask cluster started by a flow that runs on Prefect's ephemeral server.

This is how ``mlops backtest --task-runner dask`` runs on the embedded defaults:
no ``PREFECT_API_URL`` anywhere, so the command's process starts an ephemeral
API server. Dask's worker processes inherit the environment, not the flow's
settings; they must report to that server rather than each start one of their own.
Without ``--verbose`` the command prints none of Dask's logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from held_process import held

# A command with its local Dask cluster gets up to 300 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, os

# As the mlops command does: its process defaults (among them the ephemeral
# server's start-up timeout, which a busy machine needs) before Prefect is imported.
from flows.cli import set_environment_defaults

set_environment_defaults()

import psutil
from prefect import flow, task
from prefect.client.orchestration import get_client

from flows.runners import make_task_runner, parse_runner


def api_servers(process):
    return [
        p.pid
        for p in process.children(recursive=True)
        if any("uvicorn" in part for part in p.cmdline())
    ]


@task
def where_it_runs():
    return {
        "pid": os.getpid(),
        "api_url": os.environ.get("PREFECT_API_URL"),
        "api_servers": api_servers(psutil.Process()),
    }


@flow
def probe():
    with make_task_runner(parse_runner("dask:1")) as runner:
        future = runner.submit(where_it_runs, parameters={})
        worker = future.result()
        task_run_id = str(future.task_run_id)
        flow_servers = api_servers(psutil.Process())
    return {
        "worker": worker,
        "task_run_id": task_run_id,
        "flow_pid": os.getpid(),
        "flow_api_url": str(get_client(sync_client=True).api_url),
        "flow_servers": flow_servers,
    }


print("PROBE " + json.dumps(probe()))
"""


def test_local_dask_workers_report_to_the_flows_ephemeral_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_", "DASK_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    seen = json.loads(line.removeprefix("PROBE "))
    worker = seen["worker"]
    assert worker["pid"] != seen["flow_pid"], "the task ran in a Dask worker process"
    assert worker["api_url"] == seen["flow_api_url"]
    assert worker["api_servers"] == [], "the worker started an API server of its own"
    # The flow's process runs exactly one: the ephemeral server the worker reported to.
    assert len(seen["flow_servers"]) == 1, seen["flow_servers"]
    # Quiet as a command without --verbose: none of Dask's start and stop chatter.
    assert "distributed." not in done.stderr, done.stderr[-3000:]


# A flow of a command (its local Prefect server tethered as the commands do)
# whose task holds a Dask worker until the test kills the command.
HELD_ON_DASK = """
import sys, time
from flows.cli import set_environment_defaults

set_environment_defaults()

from prefect import flow, task

from flows.local import local_server_ends_with_process
from flows.runners import make_task_runner, parse_runner


@task
def hold():
    time.sleep(600)


@flow
def held():
    with make_task_runner(parse_runner("dask:2")) as runner:
        future = runner.submit(hold, parameters={})
        time.sleep(3)  # the task reaches its worker
        print("HELD", flush=True)
        future.result()


if __name__ == "__main__":
    assert local_server_ends_with_process()
    held()
"""


def test_no_server_or_dask_worker_outlives_a_killed_command(tmp_path: Path) -> None:
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_", "DASK_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    script = tmp_path / "held_on_dask.py"
    script.write_text(HELD_ON_DASK, encoding="utf-8")
    command = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with held(command) as hold:
        assert command.stdout is not None
        assert command.stdout.readline().strip() == "HELD"
        started = hold.children()
        workers = [p for p in started if "spawn_main" in " ".join(p.cmdline())]
        servers = [p for p in started if "flows.local" in p.cmdline()]
        assert len(workers) >= 2 and len(servers) == 1, [p.cmdline() for p in started]
        t0 = time.monotonic()
        alive = hold.sigkill(grace_seconds=15)
        assert alive == [], f"still running {time.monotonic() - t0:.0f} s after the kill"

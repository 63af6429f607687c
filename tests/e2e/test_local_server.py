"""The local Prefect server a command starts serves a port the command holds (flows/local.py).

Prefect picks a random free port for its local server, which binds it seconds
later: two commands started together could pick the same port, and one would
talk to the other's server. Here the port is held by the command from the
moment it is picked, and the server serves that very socket. A command starts
that server before its own imports; the first flow adopts it, and it ends with
the command however far the command got.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from prefect.server.api.server import SubprocessASGIServer

from flows.local import _tethered_server_class

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]

#: The key of the server made here among Prefect's servers (keyed by port):
#: not None, the key of the test process's own local server.
TEST_KEY = -1


@pytest.fixture
def tethered() -> Iterator[SubprocessASGIServer]:
    """A server of the commands' class, apart from this process's own."""
    server = _tethered_server_class()(port=TEST_KEY)
    server.port = None
    try:
        yield server
    finally:
        server.stop()
        SubprocessASGIServer._instances.pop(TEST_KEY, None)


def test_a_picked_port_is_held_and_refuses_connections_until_served(
    tethered: SubprocessASGIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prefect's own pick from a range of one port: every command picks it.
    monkeypatch.setattr(SubprocessASGIServer, "_port_range", range(8765, 8766))
    first = tethered.find_available_port()
    second = tethered.find_available_port()
    assert first != second
    # Another command's check (Prefect's) finds the held port taken ...
    assert not SubprocessASGIServer.is_port_available(second)
    # ... and a health check before the server serves is refused, not left hanging.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", second), timeout=5).close()
    # The port picked before is let go once another is picked.
    assert SubprocessASGIServer.is_port_available(first)


def test_the_server_serves_the_socket_its_command_picked(
    tethered: SubprocessASGIServer,
) -> None:
    tethered.start(timeout=150)
    assert tethered.server_process is not None and tethered.port is not None
    port = tethered.port
    assert httpx.get(f"{tethered.api_url}/health", timeout=10).status_code == 200

    def listens(process: psutil.Process) -> bool:
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            for c in process.net_connections(kind="tcp")
        )

    # The server process alone listens there: the command let its copy go.
    assert listens(psutil.Process(tethered.server_process.pid))
    assert not listens(psutil.Process())
    tethered.stop()
    assert SubprocessASGIServer.is_port_available(port)


# A command's start: its local server started early, then (``flow``) a flow run
# on it, or (``exit``) an exit before any flow, as a command stopped by a check.
EARLY_START = """
import json, sys
from flows.cli import set_environment_defaults

set_environment_defaults()

from flows import local

assert local.start_local_server_early()
early = local._early_servers[0].process.pid
if sys.argv[1] == "exit":
    print(json.dumps({"early": early}), flush=True)
    sys.exit(2)

from prefect import flow
from prefect.server.api.server import SubprocessASGIServer

assert local.local_server_ends_with_process()


@flow
def hello() -> int:
    return 1


hello()
server = SubprocessASGIServer()
print(json.dumps({"early": early, "served_by": server.server_process.pid}), flush=True)
"""


def _command_start(tmp_path: Path, mode: str) -> tuple[dict[str, int], list[psutil.Process]]:
    """Run :data:`EARLY_START`; what it printed, and the processes it left running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    script = tmp_path / "early_start.py"
    script.write_text(EARLY_START, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == (2 if mode == "exit" else 0), done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    pids = json.loads(done.stdout.strip().splitlines()[-1])
    _, alive = psutil.wait_procs(
        [psutil.Process(p) for p in set(pids.values()) if psutil.pid_exists(p)], timeout=15
    )
    return pids, alive


def test_the_server_started_early_is_the_one_the_flows_use(tmp_path: Path) -> None:
    pids, alive = _command_start(tmp_path, "flow")
    assert pids["served_by"] == pids["early"], pids
    assert alive == [], "the server ends with its command"


def test_a_server_started_early_for_a_command_that_stops_first_ends_with_it(
    tmp_path: Path,
) -> None:
    pids, alive = _command_start(tmp_path, "exit")
    assert alive == [], f"the early server {pids['early']} outlived its command"

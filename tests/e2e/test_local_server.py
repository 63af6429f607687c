"""The local Prefect server a command starts serves a port the command holds (flows/local.py).

Prefect picks a random free port for its local server, which binds it seconds
later: two commands started together could pick the same port, and one would
talk to the other's server. Here the port is held by the command from the
moment it is picked, and the server serves that very socket.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import psutil
import pytest
from prefect.server.api.server import SubprocessASGIServer

from flows.local import _tethered_server_class

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

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

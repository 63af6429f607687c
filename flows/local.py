"""Flow runs in this process: commands, the demo, catch-up loops, tests.

Prefect 3.9 starts a heartbeat thread for every flow run
(``flows.heartbeat_frequency``, 180 s by default). Heartbeats serve deployment
runs: an automation marks a run Crashed when its heartbeats stop ("detect
zombie flows" in Prefect's documentation). The thread sleeps in 1 s steps and
is joined when the run ends, so every run returns to its caller up to 1 s after
it completed: at 100,000 rows, up to a third of a monitor cycle outside its
statistics, and a catch-up of 50 batches (50 subflows) idles up to 50 s.

Where a heartbeat detects nothing, runs go without it:

- a command run in a terminal (``mlops monitor``, ``mlops demo``): whoever
  started it sees it end, and the ephemeral server ends with the process;
- a subflow: it runs in the process of its parent, whose own heartbeat
  already says whether that process is alive.

Deployment runs (``prefect.yaml``) keep Prefect's default, so a crashed worker
machine is still detected where an automation watches for it.

Without ``PREFECT_API_URL`` Prefect starts a local server of its own, a
uvicorn child process (``SubprocessASGIServer``), and stops it only from an
``atexit`` hook: a command killed with SIGKILL (or by the out-of-memory killer)
leaves it running for good, with its memory and a listening port.
:func:`local_server_ends_with_process` starts that server through this module
instead, whose ``main`` serves the same app with uvicorn beside a watchdog
thread: when the process that started the server is gone, the server shuts down.

Prefect picks a random free port, which its server binds seconds later. Two
commands started together may pick the same one: one server then fails to
bind (a traceback on the terminal), and its command talks to the other
command's server, which ends with that command. The port is picked here by
binding a socket (the system assigns a free port) that the server inherits
and serves, so no other process can take it in between.

Prefect starts its local server when the first flow needs it, after the
command's own imports, and waits for it. A command starts it first instead
(:func:`start_local_server_early`), so the server's start-up and the
command's imports overlap: about a quarter of a one-batch ``mlops monitor``.

Commands started together on one Prefect home (two monitors, two cron jobs)
each start a local server on the same database. A server migrates the database
as it starts, and two migrations at once collide (SQLite: "duplicate column
name", then "Application startup failed"). The servers this module starts take
turns for their start-up (:func:`create_app`, under a lock file in the Prefect
home); once started they run side by side.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: How often the local server checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5
#: How long a local server whose parent died gets to shut down before it is ended.
SHUTDOWN_GRACE_SECONDS = 10.0


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs started inside the block emit no heartbeats (see the module docstring).

    The setting is Prefect's settings context, so it holds for this thread's
    flow runs and their subflows, and a run already going keeps its own.
    """
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield


def local_server_ends_with_process() -> bool:
    """The local Prefect server this process may start ends with it, however it ends.

    Call before the first flow run. When no Prefect API is configured
    (``PREFECT_API_URL`` unset, in the environment and the profile), Prefect
    starts its local server as a child process on first use. It is made here
    instead: the same app on uvicorn, started as ``python -m flows.local
    <this pid> ...`` (:func:`main`) on a port this process holds, whose
    watchdog ends it once its parent process is gone, even one killed with
    SIGKILL. Stopping it at a normal exit stays Prefect's (its ``atexit``
    hook). A configured API is left alone.

    Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when the *thread* that
    started the child ends, and Prefect may start its server from a
    short-lived thread; the watchdog also works where ``prctl`` does not exist
    (macOS).

    Returns:
        True when the local server, if started, will end with this process.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return False
    server_class = _tethered_server_class()
    # Prefect takes its local server from SubprocessASGIServer._instances (the
    # instance of port None) whenever it needs one: the one made here, when it is
    # made first.
    return isinstance(server_class(), server_class)


def start_local_server_early() -> bool:
    """Start the local Prefect server now, in the background, for this command's flows.

    A command's own imports (MLflow, pandas, the tasks) take seconds, and so
    does its local server's start-up, in another process: started here, before
    those imports, the two overlap instead of following each other. Prefect
    adopts the server when the first flow needs one (:func:`main`'s server, on
    a port held from the start, ending with this process); one that is never
    adopted (the command stopped first) is stopped at exit. Call after
    :func:`flows.cli.set_environment_defaults`; nothing is started when a
    Prefect API is configured or a local server of Prefect's own was made.

    Returns:
        True when a server was started.
    """
    import atexit

    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or _early_servers:
        return False
    prefect_server = sys.modules.get("prefect.server.api.server")
    if prefect_server is not None and None in prefect_server.SubprocessASGIServer._instances:
        return False
    held = _held_port()
    _early_servers.append(_EarlyServer(held.getsockname()[1], _spawn_server(held)))
    atexit.register(_stop_unadopted_servers)
    return True


@dataclass
class _EarlyServer:
    """A local server started before Prefect asked for one."""

    port: int
    process: subprocess.Popen[Any]


#: The server :func:`start_local_server_early` started, until Prefect adopts it.
_early_servers: list[_EarlyServer] = []


def _adopt_early_server() -> _EarlyServer | None:
    """The early server, still running, for Prefect to use; None when there is none."""
    while _early_servers:
        early = _early_servers.pop()
        if early.process.poll() is None:
            return early
    return None


def _stop_unadopted_servers() -> None:
    """At exit: stop an early server Prefect never asked for."""
    for early in _early_servers:
        early.process.terminate()
        try:
            early.process.wait(SHUTDOWN_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            early.process.kill()
    _early_servers.clear()


def _held_port() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1, which the system picks.

    Prefect picks a random free port, which its server binds seconds later, once
    started: two commands started together may pick the same one. The loser's
    server then fails to bind, while its command's health check is answered by
    the winner's server, which ends with the *other* command. The socket bound
    here is handed to the server (:func:`main`), so the port is this command's
    alone from the start. It does not listen until the server serves: a health
    check before then is refused, as Prefect's start-up loop expects.
    """
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    return held


def _spawn_server(held: socket.socket | None, port: int | None = None) -> subprocess.Popen[Any]:
    """Start :func:`main`'s server on ``held`` (closed here: the server holds it now).

    Prefect's own environment for its local server (``SubprocessASGIServer``),
    with this process's pid, for the server to end with it. Without a held
    socket, the server binds ``port`` itself.
    """
    from prefect.settings import get_current_settings

    fd = held.fileno() if held is not None else NO_SOCKET
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
        args=[
            sys.executable,
            "-m",
            __name__,
            str(os.getpid()),
            str(held.getsockname()[1] if held is not None else port),
            str(fd),
        ],
        pass_fds=(fd,) if held is not None else (),
        env={
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        },
    )
    if held is not None:
        # A copy left open here would keep the port accepting connections after
        # the server ended.
        held.close()
    return process


@functools.cache
def _tethered_server_class() -> type:
    """``SubprocessASGIServer`` started through :func:`main` (imported when first needed)."""
    from prefect.server.api.server import SubprocessASGIServer

    class TetheredServer(SubprocessASGIServer):
        """Prefect's local server, started so that it ends with the process that started it,
        on a port this process holds from the moment it picks it (:func:`_held_port`)."""

        _held_socket: socket.socket | None = None
        _adopted: subprocess.Popen[Any] | None = None

        def find_available_port(self) -> int:
            early = _adopt_early_server()
            if early is not None:
                self._adopted = early.process
                return early.port
            if self._held_socket is not None:
                self._held_socket.close()
            self._held_socket = _held_port()
            return int(self._held_socket.getsockname()[1])

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            if self._adopted is not None:
                adopted, self._adopted = self._adopted, None
                return adopted
            held, self._held_socket = self._held_socket, None
            if held is not None and held.getsockname()[1] != self.port:
                # A port given to the constructor: bound by the server itself.
                held.close()
                held = None
            return _spawn_server(held, self.port)

    return TetheredServer


def _end_with_parent(parent: int) -> None:
    """Shut this process down once ``parent`` is no longer its parent (it died).

    A process whose parent dies is adopted by another (init, or a subreaper),
    so its parent pid changes: that is the signal, on Linux and macOS alike.
    SIGTERM first (uvicorn then shuts the server down cleanly); if it is still
    running after the grace period, it exits at once.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(SHUTDOWN_GRACE_SECONDS)
    os._exit(1)


#: The lock file, in the Prefect home, the local servers take turns on to start.
STARTUP_LOCK_FILE = "local-server-startup.lock"


def create_app() -> Any:
    """Prefect's server app, whose start-up (database migrations) holds the Prefect
    home's start-up lock: the uvicorn factory of :func:`main`'s servers.

    A failed shutdown is logged as a warning, not raised: a server stopped just
    after it started (its command ended first) may stop Prefect's services
    before they ran ("Reactive triggers not started"), and uvicorn would print
    that traceback on the command's terminal for a server that is going away.
    """
    import fcntl
    import logging
    from contextlib import AsyncExitStack, asynccontextmanager
    from pathlib import Path

    from prefect.server.api.server import create_app as prefect_app
    from prefect.settings import get_current_settings

    app = prefect_app()
    startup_and_shutdown = app.router.lifespan_context
    lock_path = Path(get_current_settings().home) / STARTUP_LOCK_FILE

    @asynccontextmanager
    async def one_startup_at_a_time(app: Any) -> Any:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        running = AsyncExitStack()
        with lock_path.open("a") as lock:
            # Blocks this server's event loop, which serves nothing yet.
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = await running.enter_async_context(startup_and_shutdown(app))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        try:
            yield state
        finally:
            try:
                await running.aclose()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                logging.getLogger("uvicorn.error").warning(
                    "the local server did not shut down cleanly: %s", exc
                )

    app.router.lifespan_context = one_startup_at_a_time
    return app


#: The socket argument of :func:`main` when the server binds its port itself.
NO_SOCKET = -1
#: uvicorn's exit code for a server that did not start (Prefect retries on another port).
STARTUP_FAILURE = 3


def main(argv: list[str] | None = None) -> None:
    """The local server process: ``python -m flows.local <parent pid> <port> <socket fd>``.

    Serves Prefect's server app (:func:`create_app`) with uvicorn, as Prefect's
    own ``python -m uvicorn`` command does (127.0.0.1, errors only, lifespan on),
    beside the watchdog thread of :func:`_end_with_parent`. The socket, bound
    to the port by the parent and inherited, is served as it is, so the port
    is never lost between being picked and being served; with ``-1`` uvicorn
    binds the port. A server that did not start exits with uvicorn's code 3,
    on which Prefect starts another on a new port.
    """
    import socket

    args = sys.argv[1:] if argv is None else argv
    parent, port, fd = (int(a) for a in args)
    threading.Thread(
        target=_end_with_parent, args=(parent,), name="end with parent", daemon=True
    ).start()
    import uvicorn

    config = uvicorn.Config(
        f"{__name__}:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="error",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run(sockets=[socket.socket(fileno=fd)] if fd != NO_SOCKET else None)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()

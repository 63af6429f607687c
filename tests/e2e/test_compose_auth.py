"""The docker compose stack's auth, proved on real servers without a docker daemon.

docker/compose.yaml cannot run here (no daemon), so this module runs the same
server processes with the configuration compose gives them, on free loopback
ports, under one temporary folder:

- PostgreSQL (flows/stack.py's helpers) with the databases compose creates:
  ``prefect`` (POSTGRES_DB) and then docker/postgres-init.sql, executed with psql
  as the image's entrypoint does, all owned by the stack's superuser;
- the MLflow server, started by executing docker/mlflow-server.sh itself, with
  compose's environment for it (only addresses and paths overridden);
- the Prefect server, ``prefect server start`` with compose's environment for it.

Every secret is generated here. The test asserts that both servers refuse
requests without or with wrong credentials (401), that requests and real clients
with the credentials work, and that no secret reaches the servers' logs, the
process command lines, the MLflow run data and artifacts, or any file of the
temporary folder except the auth config the script writes (mode 0600).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from flows import stack as local_stack

# The first test starts PostgreSQL and both servers (STARTUP_SECONDS each).
pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
POSTGRES_INIT = DOCKER / "postgres-init.sql"
HOST = "127.0.0.1"
# The stack's databases: POSTGRES_DB of the postgres service, then the init script's.
POSTGRES_DB = "prefect"
STARTUP_SECONDS = 75
# Per request: a loaded machine hashes a basic-auth password slowly.
TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _basic(credentials: str) -> dict[str, str]:
    token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {token}"}


@dataclass
class ComposeStack:
    """The running servers, their secrets and where their traces are."""

    home: Path
    settings: local_stack.StackSettings
    pg_password: str
    prefect_auth: str
    mlflow_user: str
    mlflow_password: str
    flask_secret_key: str
    auth_ini: Path
    artifacts: Path
    services: dict[str, _Child] = field(default_factory=dict)

    @property
    def prefect_api(self) -> str:
        return self.settings.prefect_api_url

    @property
    def mlflow(self) -> str:
        return self.settings.mlflow_url

    def secrets(self) -> dict[str, bytes]:
        """Every secret, also in the forms a leak would take (basic-auth header tokens)."""
        mlflow_basic = f"{self.mlflow_user}:{self.mlflow_password}"
        values = {
            "POSTGRES_PASSWORD": self.pg_password,
            "PREFECT_AUTH_STRING": self.prefect_auth,
            "PREFECT_AUTH_STRING (base64)": base64.b64encode(self.prefect_auth.encode()).decode(),
            "MLFLOW_ADMIN_PASSWORD": self.mlflow_password,
            "MLFLOW_ADMIN (base64)": base64.b64encode(mlflow_basic.encode()).decode(),
            "MLFLOW_FLASK_SECRET_KEY": self.flask_secret_key,
        }
        return {name: value.encode() for name, value in values.items()}

    def logs(self) -> str:
        """Tails of the servers' logs, for failure messages."""
        out = []
        for log in sorted(self.home.rglob("*.log")):
            out.append(f"\n--- {log.name}\n{log.read_text(errors='replace')[-2500:]}")
        return "".join(out)


@dataclass(frozen=True)
class _Child(local_stack.Service):
    """A server this process started. Its exit is reaped at once: an unreaped
    group leader is a zombie that ``Service.alive`` and ``_stop_groups`` (signals
    to the group) would count as running."""

    reaped: threading.Event = field(default_factory=threading.Event, compare=False)

    def alive(self) -> bool:
        return not self.reaped.is_set() and super().alive()


def _spawn(name: str, command: list[str], env: dict[str, str], home: Path) -> _Child:
    child = _Child(**local_stack._spawn(name, command, env, home).__dict__)

    def reap() -> None:
        try:
            os.waitpid(child.pid, 0)
        except ChildProcessError:  # already reaped by subprocess's own clean-up
            pass
        child.reaped.set()

    threading.Thread(target=reap, name=f"reap-{name}", daemon=True).start()
    return child


def _image_env(home: Path) -> dict[str, str]:
    """What every process of the runtime image starts with (docker/Dockerfile's ENV).

    Nothing of the test's own environment (PREFECT_*, MLFLOW_*) leaks in; HOME and
    TMPDIR are in the temporary folder so whatever the servers write is scanned.
    """
    for folder in ("home", "tmp"):
        (home / folder).mkdir(exist_ok=True)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{path}",
        "HOME": str(home / "home"),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
        # The image sets PYTHONDONTWRITEBYTECODE over bytecode compiled at build;
        # this environment's bytecode is written as modules are first imported
        # (Makefile), so the servers here may write it.
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def _start_postgres(s: ComposeStack) -> None:
    """PostgreSQL with compose's databases, the test's password, on loopback."""
    home = s.settings.home
    home.mkdir(parents=True)
    # flows/stack.py takes the password from its private secrets file; hand it the
    # test's one, then remove the file: afterwards the only file holding the
    # password must be the auth config the MLflow script writes.
    handover = home / "secrets.env"
    fd = os.open(handover, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"POSTGRES_PASSWORD={s.pg_password}\n")
    try:
        # Like the postgres image: only POSTGRES_DB at initialisation, the rest by
        # docker/postgres-init.sql (run as is, below).
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(local_stack, "DATABASES", (POSTGRES_DB,))
            local_stack.start_postgres(s.settings)
    finally:
        handover.unlink(missing_ok=True)
    bin_dir = local_stack.find_postgres_bin()
    assert bin_dir is not None
    psql = [
        str(bin_dir / "psql"),
        "-v",
        "ON_ERROR_STOP=1",
        "--no-psqlrc",
        "--no-password",
        "-h",
        HOST,
        "-p",
        str(s.settings.pg_port),
        "-U",
        local_stack.DB_USER,
        "-d",
        POSTGRES_DB,
    ]
    env = {**_image_env(s.home), "PGPASSWORD": s.pg_password}
    local_stack._run([*psql, "-f", str(POSTGRES_INIT)], "docker/postgres-init.sql", env)
    listed = local_stack._run([*psql, "-Atc", "SELECT datname FROM pg_database"], "psql", env)
    created = re.findall(r"CREATE DATABASE (\w+)", POSTGRES_INIT.read_text(), re.IGNORECASE)
    assert set(created) == {"mlflow", "mlflow_auth", "mlops"}, created
    assert {POSTGRES_DB, *created} <= set(listed.split()), listed


def _start_mlflow(s: ComposeStack) -> _Child:
    """docker/mlflow-server.sh itself, with compose's environment for mlflow-server."""
    env = _image_env(s.home)
    env.update(
        {
            # compose.yaml, services.mlflow-server.environment
            "POSTGRES_USER": local_stack.DB_USER,
            "POSTGRES_PASSWORD": s.pg_password,
            "MLFLOW_AUTH_ADMIN_USERNAME": s.mlflow_user,
            "MLFLOW_AUTH_ADMIN_PASSWORD": s.mlflow_password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": s.flask_secret_key,
            # What the container's network and volume give, here on loopback. The
            # allowed hosts are left to the script's default (derived from the port).
            "POSTGRES_HOST": HOST,
            "POSTGRES_PORT": str(s.settings.pg_port),
            "MLFLOW_HOST": HOST,
            "MLFLOW_PORT": str(s.settings.mlflow_port),
            "MLFLOW_ARTIFACTS_DIR": str(s.artifacts),
            "MLFLOW_AUTH_CONFIG_PATH": str(s.auth_ini),
            # Lighter than compose on purpose, nothing of it about auth: one
            # uvicorn worker instead of four, and no job runner (huey consumers):
            # each is one more Python process importing MLflow on a 2-core machine.
            "MLFLOW_WORKERS": "1",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    command = ["sh", str(DOCKER / "mlflow-server.sh")]
    return _spawn("mlflow-server", command, env, s.home)


def _start_prefect(s: ComposeStack) -> _Child:
    """``prefect server start`` with compose's environment for prefect-server.

    On the PostgreSQL ``prefect`` database, as compose configures it (not SQLite):
    the server's environment then holds the database password too, so the leak
    checks cover the Prefect server's logs for it as well.
    """
    env = _image_env(s.home)
    env.update(
        {
            # compose.yaml, services.prefect-server.environment
            "PREFECT_API_DATABASE_CONNECTION_URL": (
                f"postgresql+asyncpg://{local_stack.DB_USER}:{s.pg_password}"
                f"@{HOST}:{s.settings.pg_port}/{POSTGRES_DB}"
            ),
            "PREFECT_SERVER_API_AUTH_STRING": s.prefect_auth,
            "PREFECT_UI_API_URL": s.prefect_api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    command = [
        local_stack._bin("prefect"),
        "server",
        "start",
        "--host",
        HOST,
        "--port",
        str(s.settings.prefect_port),
    ]
    return _spawn("prefect-server", command, env, s.home)


@pytest.fixture(scope="module")
def compose_stack() -> Iterator[ComposeStack]:
    # The servers run from this very environment, as they do from the image's.
    if importlib.util.find_spec("flask_wtf") is None:
        pytest.fail(
            "Flask-WTF is not installed: MLflow's basic-auth app (`--app-name basic-auth` in "
            "docker/mlflow-server.sh) refuses to start without it, so the compose stack's "
            "mlflow-server would crash. The project must depend on `mlflow[auth]`."
        )
    # PostgreSQL runs as an unprivileged user when the tests run as root: the
    # folder must be reachable by it (pytest's tmp folders are private).
    home = Path(tempfile.mkdtemp(prefix="mlops-compose-"))
    home.chmod(0o755)
    settings = local_stack.StackSettings(
        home=home / "postgres-home",
        data_root=home / "data",
        host=HOST,
        pg_port=_free_port(),
        prefect_port=_free_port(),
        mlflow_port=_free_port(),
        deploy=False,
        worker=False,
    )
    s = ComposeStack(
        home=home,
        settings=settings,
        pg_password=secrets.token_urlsafe(24),
        prefect_auth=f"admin:{secrets.token_urlsafe(24)}",
        mlflow_user="admin",
        mlflow_password=secrets.token_urlsafe(24),
        flask_secret_key=secrets.token_urlsafe(32),
        auth_ini=home / "mlflow-auth.ini",
        artifacts=home / "mlartifacts",
    )
    s.artifacts.mkdir()
    try:
        _start_postgres(s)
        s.services["mlflow-server"] = _start_mlflow(s)
        s.services["prefect-server"] = _start_prefect(s)
        # Both start at once; each health route answers without credentials (the
        # compose healthcheck of prefect-server relies on that).
        try:
            local_stack._wait_http(
                f"{s.mlflow}/health", STARTUP_SECONDS, s.services["mlflow-server"]
            )
            local_stack._wait_http(
                f"{s.prefect_api}/health", STARTUP_SECONDS, s.services["prefect-server"]
            )
        except local_stack.StackError as exc:
            pytest.fail(f"{exc}{s.logs()}")
        yield s
    finally:
        # Both servers at once (SIGTERM, SIGKILL after the grace), then PostgreSQL.
        local_stack._stop_groups([service.pid for service in s.services.values()], grace=10)
        local_stack.stop_postgres(settings)
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------- helpers
def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if len(raw) == 4:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _group_command_lines(pgid: int) -> list[bytes]:
    """Command lines of every live process of a process group."""
    lines = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # after the command: state, ppid, pgrp
                lines.append((proc / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return lines


def _leaks(s: ComposeStack, blobs: dict[str, bytes]) -> list[str]:
    found = []
    for where, blob in blobs.items():
        found.extend(f"{name} in {where}" for name, v in s.secrets().items() if v in blob)
    return found


# ----------------------------------------------------------------------- tests
def test_mlflow_script_defaults_are_the_compose_values(tmp_path: Path) -> None:
    """Unset, the script's overrides fall back to what compose.yaml's network and volume give."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "mlflow"  # records what the script would start
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$OUT/argv"\nenv > "$OUT/env"\n')
    stub.chmod(0o755)
    ini = tmp_path / "auth.ini"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "OUT": str(tmp_path),
        "POSTGRES_USER": "mlops",
        "POSTGRES_PASSWORD": "pw",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        # The one override: the default, /tmp/mlflow-auth.ini, is checked in the text.
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
    }
    done = subprocess.run(
        ["sh", str(DOCKER / "mlflow-server.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "argv").read_text().splitlines() == [
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
        "--app-name",
        "basic-auth",
        "--artifacts-destination",
        "/mlartifacts",
        "--allowed-hosts",
        "mlflow-server:5000,127.0.0.1:5000,localhost:5000",
    ]
    started = dict(
        line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line
    )
    assert (
        started["MLFLOW_BACKEND_STORE_URI"] == "postgresql+psycopg2://mlops:pw@postgres:5432/mlflow"
    )
    assert started["MLFLOW_AUTH_CONFIG_PATH"] == str(ini)
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600
    assert "database_uri = postgresql+psycopg2://mlops:pw@postgres:5432/mlflow_auth" in (
        ini.read_text().splitlines()
    )
    script = (DOCKER / "mlflow-server.sh").read_text()
    assert 'MLFLOW_AUTH_CONFIG_PATH="${MLFLOW_AUTH_CONFIG_PATH:-/tmp/mlflow-auth.ini}"' in script
    # The compose service's port and volume match those defaults.
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["mlflow-server"]
    assert compose["ports"] == ["127.0.0.1:5000:5000"]
    assert compose["volumes"] == ["mlartifacts:/mlartifacts"]


def test_servers_listen_on_loopback_only(compose_stack: ComposeStack) -> None:
    s = compose_stack
    for name, port in {
        "postgres": s.settings.pg_port,
        "prefect-server": s.settings.prefect_port,
        "mlflow-server": s.settings.mlflow_port,
    }.items():
        assert _listening_addresses(port) == {HOST}, (name, _listening_addresses(port))


def _check_prefect(s: ComposeStack) -> dict[str, bytes]:
    """401 without or with wrong credentials; requests and the real client with them work."""
    # httpx's module functions: one connection per request, none left open to
    # hold up the servers' shutdown.
    requests = [
        ("POST", "/flows/filter", {}),
        ("POST", "/deployments/filter", {}),
        ("GET", f"/deployments/{uuid.uuid4()}", None),
        ("POST", "/flow_runs/", {"flow_id": str(uuid.uuid4())}),
        ("GET", "/admin/settings", None),
    ]
    user = s.prefect_auth.split(":", 1)[0]
    refused = {
        "none": {},
        "wrong password": _basic(f"{user}:not-the-password"),
        "the auth string as a bearer token": {"Authorization": f"Bearer {s.prefect_auth}"},
        "malformed": {"Authorization": "Basic %%%"},
    }
    for method, path, body in requests:
        for why, headers in refused.items():
            r = httpx.request(
                method, f"{s.prefect_api}{path}", json=body, headers=headers, timeout=TIMEOUT
            )
            assert r.status_code == 401, (method, path, why, r.status_code, r.text[:300])
    # The compose healthcheck's probe needs none.
    assert httpx.get(f"{s.prefect_api}/health", timeout=TIMEOUT).status_code == 200

    granted = _basic(s.prefect_auth)
    for path in ("/flows/filter", "/deployments/filter"):
        r = httpx.post(f"{s.prefect_api}{path}", json={}, headers=granted, timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
    missing = httpx.get(
        f"{s.prefect_api}/deployments/{uuid.uuid4()}", headers=granted, timeout=TIMEOUT
    )
    assert missing.status_code == 404, missing.text[:300]  # past the auth check
    server_settings = httpx.get(f"{s.prefect_api}/admin/settings", headers=granted, timeout=TIMEOUT)
    assert server_settings.status_code == 200

    # The real client, configured as compose configures deploy and worker.
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    flow_name = f"compose-auth-{uuid.uuid4().hex[:8]}"
    with temporary_settings(
        {PREFECT_API_URL: s.prefect_api, PREFECT_API_AUTH_STRING: s.prefect_auth}
    ):
        with get_client(sync_client=True) as client:
            flow_id = client.create_flow_from_name(flow_name)
            assert client.read_flow(flow_id).name == flow_name
            assert flow_name in {f.name for f in client.read_flows()}
    wrong = {PREFECT_API_URL: s.prefect_api, PREFECT_API_AUTH_STRING: f"{user}:wrong"}
    with temporary_settings(wrong), get_client(sync_client=True) as client:
        with pytest.raises(httpx.HTTPStatusError) as refused_client:
            client.read_flows()
    assert refused_client.value.response.status_code == 401
    return {"Prefect /admin/settings": server_settings.content}


def _check_mlflow(
    s: ComposeStack, monkeypatch: pytest.MonkeyPatch, downloads: Path
) -> dict[str, bytes]:
    """401 without or with wrong credentials; requests and the real client with them work."""
    search = "/2.0/mlflow/experiments/search?max_results=1"
    requests = [
        ("GET", f"/api{search}", None),
        ("GET", f"/ajax-api{search}", None),  # what the UI calls
        ("POST", "/api/2.0/mlflow/experiments/create", {"name": "intruder"}),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts", None),
        ("GET", f"/api/2.0/mlflow/users/get?username={s.mlflow_user}", None),
    ]
    refused = [(method, path, body, "none", {}) for method, path, body in requests]
    # Each wrong password costs the server a password hash: two routes suffice.
    for path in (f"/api{search}", f"/ajax-api{search}"):
        refused += [
            ("GET", path, None, "wrong password", _basic(f"{s.mlflow_user}:not-the-password")),
            ("GET", path, None, "unknown user", _basic(f"intruder:{s.mlflow_password}")),
        ]
    for method, path, body, why, headers in refused:
        r = httpx.request(method, f"{s.mlflow}{path}", json=body, headers=headers, timeout=TIMEOUT)
        assert r.status_code == 401, (method, path, why, r.status_code, r.text[:300])
        assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), (path, why)

    granted = _basic(f"{s.mlflow_user}:{s.mlflow_password}")
    for path in (f"/api{search}", f"/ajax-api{search}", requests[-1][1]):
        r = httpx.get(f"{s.mlflow}{path}", headers=granted, timeout=TIMEOUT)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])

    # The real client, with the credentials compose gives deploy and worker.
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(tracking_uri=s.mlflow).search_experiments(max_results=1)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", s.mlflow_user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(tracking_uri=s.mlflow).search_experiments(max_results=1)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", s.mlflow_password)
    client = MlflowClient(tracking_uri=s.mlflow)
    experiment_id = client.create_experiment(f"compose-auth-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_text(run_id, "hello from the compose auth test", "note.txt")
    client.set_terminated(run_id)
    stored = client.get_run(run_id)
    assert stored.data.params == {"alpha": "0.5"}
    assert stored.info.status == "FINISHED"
    # The artifact went through the server's proxy into MLFLOW_ARTIFACTS_DIR.
    assert [p.name for p in s.artifacts.rglob("*") if p.is_file()] == ["note.txt"]
    downloaded = Path(client.download_artifacts(run_id, "note.txt", str(downloads)))
    assert downloaded.read_text() == "hello from the compose auth test"
    return {
        "MLflow run data": json.dumps(stored.to_dictionary()).encode(),
        "MLflow experiment": json.dumps(dict(client.get_experiment(experiment_id))).encode(),
        "MLflow artifact list": repr(client.list_artifacts(run_id)).encode(),
        "MLflow artifact, downloaded": downloaded.read_bytes(),
    }


def _check_no_secret_leaks(s: ComposeStack, blobs: dict[str, bytes]) -> None:
    """Only the auth config (mode 0600) holds a secret, and only the database password."""
    ini = s.auth_ini
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600, oct(ini.stat().st_mode)
    ini_text = ini.read_bytes()
    assert s.pg_password.encode() in ini_text
    assert _leaks(s, {"the auth config": ini_text.replace(s.pg_password.encode(), b"")}) == []

    blobs = dict(blobs)
    for name, service in s.services.items():
        lines = _group_command_lines(service.pid)
        assert lines, f"{name}: no process left in its group"
        blobs.update({f"{name} command line {i}": line for i, line in enumerate(lines)})
    # Every file of the temporary folder: the servers' stdout/stderr logs,
    # PostgreSQL's data and log, the artifacts, the servers' HOME and TMPDIR.
    for path in s.home.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != ini:
            blobs[str(path.relative_to(s.home))] = path.read_bytes()
    logs = sorted(p for p in blobs if p.startswith("logs/"))
    assert logs == ["logs/mlflow-server.log", "logs/prefect-server.log"], logs
    assert b"Uvicorn running" in blobs["logs/mlflow-server.log"]  # really captured
    assert not (s.settings.home / "secrets.env").exists()
    assert _leaks(s, blobs) == []


def test_compose_auth_refuses_requests_without_valid_credentials_and_leaks_no_secret(
    compose_stack: ComposeStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blobs = _check_prefect(compose_stack)
    blobs |= _check_mlflow(compose_stack, monkeypatch, tmp_path)
    _check_no_secret_leaks(compose_stack, blobs)

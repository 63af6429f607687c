"""The local production stack without docker: PostgreSQL, Prefect server, MLflow server, a worker.

``mlops up`` starts, on loopback and under one state folder:

1. PostgreSQL (found on the machine, or installed from Debian's ``postgresql``
   package when missing and allowed), initialised once with a generated
   password, with one database for Prefect, one for MLflow and one for the
   product's batch ledger and locks (``tasks.coordination``; every process of
   the stack gets ``MLOPS_COORDINATION_URL``);
2. the Prefect server on PostgreSQL (http://127.0.0.1:4200 by default);
3. the MLflow tracking server on PostgreSQL, artifacts in the state folder
   (http://127.0.0.1:5000 by default);
4. the process work pool, the deployments of ``prefect.yaml`` (``prefect
   deploy --all``), the alert automations (:mod:`flows.alerts`) and the
   deployments of the use-case files given (:mod:`flows.deploy`);
5. a process worker that runs the deployments' flow runs with the stack's
   MLflow and data root.

The two servers start side by side, and step 4 runs while MLflow is still
starting (it needs only Prefect); the worker starts once MLflow answers. The
MLflow server runs without its job runner (MLflow's GenAI jobs, which a tabular
use case never submits).

``mlops down`` stops them in the reverse order. Each server is a process group
of its own, recorded in ``stack.json`` with its log file, so ``down`` works from
any shell and a second ``up`` reuses what is already running. The generated
database password lives in ``secrets.env`` (mode 0600) in the state folder and
is never printed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flows.deploy import WORK_POOL, DeployError
from flows.deploy import deploy_usecase as deploy_to_pool
from mlops_core.records import RecordError, StoredRecord
from tasks.coordination import COORDINATION_URL_ENV

PROJECT_DIR = Path(__file__).resolve().parent.parent
DB_USER = "mlops"
#: The stack's databases: Prefect's, MLflow's, and the product's ledger and locks
#: (``tasks.coordination``).
DATABASES = ("prefect", "mlflow", "mlops")
#: The database of the ledger and the locks of every use case on the stack.
COORDINATION_DATABASE = "mlops"
# PostgreSQL refuses to run as root; a root user runs it as this system user.
PG_SYSTEM_USER = "postgres"


class StackError(RuntimeError):
    """The stack cannot be started or stopped; the message says what to do."""


class StackSettings(BaseModel):
    """Where the local stack lives and listens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(description="State folder: databases, logs, artifacts, stack.json.")
    data_root: Path = Field(description="The product's data root the worker's flows use.")
    host: str = Field("127.0.0.1", description="Address every server binds to.")
    pg_port: int = Field(5432, ge=1024, le=65535, description="PostgreSQL port.")
    prefect_port: int = Field(4200, ge=1024, le=65535, description="Prefect server port.")
    mlflow_port: int = Field(5000, ge=1024, le=65535, description="MLflow server port.")
    install_postgres: bool = Field(
        True,
        description="Install Debian's postgresql package when no PostgreSQL is found "
        "(needs root and apt-get).",
    )
    deploy: bool = Field(True, description="Apply prefect.yaml's deployments and the automations.")
    usecases: tuple[Path, ...] = Field(
        (),
        description="Use-case files whose deployments (`mlops deploy`, default schedule) are "
        "applied after prefect.yaml's; only when `deploy` is on.",
    )
    worker: bool = Field(True, description="Start a process worker.")

    @property
    def prefect_api_url(self) -> str:
        """The Prefect API address clients and the worker use."""
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def prefect_ui_url(self) -> str:
        """The Prefect UI address."""
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking server address (UI and API)."""
        return f"http://{self.host}:{self.mlflow_port}"


@dataclass(frozen=True)
class Service:
    """A started server process, as recorded in ``stack.json``."""

    name: str
    pid: int
    log: str

    def alive(self) -> bool:
        """The process group still exists."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


# ----------------------------------------------------------------- PostgreSQL
def find_postgres_bin(extra: Sequence[Path] = ()) -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    Looks in ``extra``, then next to ``pg_ctl`` on the PATH, then in Debian's
    ``/usr/lib/postgresql/<version>/bin`` (newest version first).
    """
    candidates = list(extra)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.split(".")[0].isdigit()),
            key=lambda p: float(p.name) if p.name.replace(".", "", 1).isdigit() else 0.0,
            reverse=True,
        )
        candidates.extend(v / "bin" for v in versions)
    for folder in candidates:
        if all((folder / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def install_postgres() -> Path:
    """Install Debian's ``postgresql`` package and return its binary folder.

    Raises:
        StackError: Not root, no apt-get, or the install failed.
    """
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise StackError(
            "PostgreSQL was not found. Install it (Debian/Ubuntu: `sudo apt-get install "
            "postgresql`; macOS: `brew install postgresql`) or put pg_ctl on the PATH."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
    found = find_postgres_bin()
    if found is None:
        raise StackError("postgresql was installed but initdb/pg_ctl were not found")
    return found


def _pg_user_command(command: list[str]) -> list[str]:
    """Run PostgreSQL tools as an unprivileged user when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return command
    try:
        import pwd

        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    runner = shutil.which("runuser")
    if runner:
        return [runner, "-u", PG_SYSTEM_USER, "--", *command]
    return ["su", PG_SYSTEM_USER, "-s", "/bin/sh", "-c", " ".join(command)]


def _check_reachable_by_postgres(folder: Path) -> None:
    """As root, PostgreSQL runs as ``postgres``, which must be able to reach ``folder``."""
    if os.geteuid() != 0:
        return
    done = subprocess.run(
        _pg_user_command(["test", "-x", str(folder)]), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise StackError(
            f"PostgreSQL runs as user {PG_SYSTEM_USER!r}, which cannot reach {folder}: a parent "
            "folder is private. Choose a --stack-home it can reach (e.g. under /srv or /tmp)."
        )


def _chown_for_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd

    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for folder in (path, *path.rglob("*")):
        os.chown(folder, entry.pw_uid, entry.pw_gid)


def _run(command: list[str], what: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=dict(env or os.environ)
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-800:]
        raise StackError(f"{what} failed ({done.returncode}): {detail}")
    return done.stdout


def read_secrets(home: Path) -> dict[str, str]:
    """The stack's generated secrets (``KEY=value`` lines of ``secrets.env``)."""
    path = home / "secrets.env"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _ensure_secrets(home: Path) -> dict[str, str]:
    existing = read_secrets(home)
    if "POSTGRES_PASSWORD" in existing:
        return existing
    values = {"POSTGRES_PASSWORD": secrets.token_urlsafe(24)}
    path = home / "secrets.env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Generated by `mlops up`; never commit this file.\n")
        handle.writelines(f"{k}={v}\n" for k, v in values.items())
    return values


def database_url(settings: StackSettings, database: str, driver: str) -> str:
    """SQLAlchemy URL of one of the stack's databases (``driver``: asyncpg or psycopg2)."""
    password = read_secrets(settings.home)["POSTGRES_PASSWORD"]
    return (
        f"postgresql+{driver}://{DB_USER}:{password}@{settings.host}:{settings.pg_port}/{database}"
    )


def start_postgres(settings: StackSettings) -> None:
    """Initialise (once) and start PostgreSQL; create the Prefect and MLflow databases.

    Raises:
        StackError: PostgreSQL is missing and cannot be installed, or fails to start.
    """
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        if not settings.install_postgres:
            raise StackError("PostgreSQL was not found and installing it is switched off")
        bin_dir = install_postgres()
    home = settings.home
    data = home / "postgres" / "data"
    secrets_ = _ensure_secrets(home)
    data.mkdir(parents=True, exist_ok=True)
    _check_reachable_by_postgres(data.parent)
    if not (data / "PG_VERSION").exists():
        pwfile = home / "postgres" / "pwfile"
        pwfile.write_text(secrets_["POSTGRES_PASSWORD"] + "\n")
        pwfile.chmod(0o600)
        _chown_for_postgres(home / "postgres")
        try:
            _run(
                _pg_user_command(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        DB_USER,
                        "--pwfile",
                        str(pwfile),
                        "--auth-host=scram-sha-256",
                        "--auth-local=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ]
                ),
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
    if not _pg_running(bin_dir, data):
        _check_port_free(settings.host, settings.pg_port, "PostgreSQL")
        log = home / "logs" / "postgres.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()
        _chown_for_postgres(log.parent)
        options = f"-h {settings.host} -p {settings.pg_port} -k {data}"
        _run(
            _pg_user_command(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "pg_ctl start",
        )
    _create_databases(settings)


def _pg_running(bin_dir: Path, data: Path) -> bool:
    if not (data / "postmaster.pid").exists():
        return False
    done = subprocess.run(
        _pg_user_command([str(bin_dir / "pg_ctl"), "-D", str(data), "status"]),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _create_databases(settings: StackSettings) -> None:
    import asyncio

    import asyncpg

    password = read_secrets(settings.home)["POSTGRES_PASSWORD"]

    async def create() -> None:
        conn = await asyncpg.connect(
            host=settings.host,
            port=settings.pg_port,
            user=DB_USER,
            password=password,
            database="postgres",
        )
        try:
            for name in DATABASES:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}" OWNER "{DB_USER}"')
        finally:
            await conn.close()

    asyncio.run(create())


def stop_postgres(settings: StackSettings) -> None:
    """Stop PostgreSQL (fast shutdown) when it runs."""
    bin_dir = find_postgres_bin()
    data = settings.home / "postgres" / "data"
    if bin_dir is None or not _pg_running(bin_dir, data):
        return
    _run(
        _pg_user_command([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        "pg_ctl stop",
    )


# --------------------------------------------------------------- the servers
def _check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            raise StackError(
                f"{what} cannot listen on {host}:{port}: the port is taken. Stop what uses it "
                "or choose another port (see `mlops up --help`)."
            )


#: How long a server of the stack gets to answer its health check.
SERVER_START_SECONDS = 180.0


def _wait_http(url: str, seconds: float, service: Service | None = None) -> None:
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        if service is not None and not service.alive():
            raise StackError(f"{service.name} exited while starting; see {service.log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.5)
    where = f"; see {service.log}" if service is not None else ""
    raise StackError(f"{url} did not answer within {seconds:.0f} s ({last}){where}")


def _bin(name: str) -> str:
    """A console script of this environment (prefect, mlflow)."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def _spawn(name: str, command: list[str], env: Mapping[str, str], home: Path) -> Service:
    log = home / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (our own console scripts)
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=str(PROJECT_DIR),
            start_new_session=True,
        )
    return Service(name=name, pid=process.pid, log=str(log))


def base_env(settings: StackSettings) -> dict[str, str]:
    """Environment of every process of the stack (and of flows run against it)."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_API_URL": settings.prefect_api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "MLFLOW_TRACKING_URI": settings.mlflow_url,
            "MLOPS_HOME": str(settings.data_root),
            "MLOPS_PROJECT_DIR": str(PROJECT_DIR),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            # No usage reports (and no telemetry thread editing os.environ).
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
    if "POSTGRES_PASSWORD" in read_secrets(settings.home):
        # Every worker and flow run of the stack keeps its ledger and locks in
        # the stack's PostgreSQL, so workers on other machines agree with it.
        env[COORDINATION_URL_ENV] = database_url(settings, COORDINATION_DATABASE, "psycopg2")
    # A stray PREFECT_HOME or profile must not point the stack at another database.
    env.pop("PREFECT_API_KEY", None)
    return env


def coordination_export(settings: StackSettings) -> str:
    """A shell line that sets ``MLOPS_COORDINATION_URL`` for the stack without showing
    its password (read from ``secrets.env`` when the line runs)."""
    secrets_file = settings.home / "secrets.env"
    return (
        f'export {COORDINATION_URL_ENV}="postgresql://{DB_USER}:'
        f"$(sed -n 's/^POSTGRES_PASSWORD=//p' {secrets_file})"
        f'@{settings.host}:{settings.pg_port}/{COORDINATION_DATABASE}"'
    )


def _start_prefect(settings: StackSettings) -> Service:
    env = base_env(settings)
    env.update(
        {
            "PREFECT_HOME": str(settings.home / "prefect"),
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url(settings, "prefect", "asyncpg"),
            "PREFECT_UI_API_URL": settings.prefect_api_url,
            "PREFECT_SERVER_API_HOST": settings.host,
            "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        }
    )
    env.pop("PREFECT_API_URL")  # the server itself must not call itself at start
    _check_port_free(settings.host, settings.prefect_port, "The Prefect server")
    command = [
        _bin("prefect"),
        "server",
        "start",
        "--host",
        settings.host,
        "--port",
        str(settings.prefect_port),
    ]
    return _launch(settings, "prefect-server", command, env)


def _start_mlflow(settings: StackSettings) -> Service:
    env = base_env(settings)
    env.pop("MLFLOW_TRACKING_URI")
    # No job runner: its five huey consumer processes (each importing MLflow,
    # about 150 MB apiece) serve MLflow's GenAI jobs (scorers, evaluations, trace
    # rollups), which a tabular use case never submits.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    _check_port_free(settings.host, settings.mlflow_port, "The MLflow server")
    artifacts = settings.home / "mlflow-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [
        _bin("mlflow"),
        "server",
        "--host",
        settings.host,
        "--port",
        str(settings.mlflow_port),
        "--backend-store-uri",
        database_url(settings, "mlflow", "psycopg2"),
        "--artifacts-destination",
        artifacts.as_uri(),
        "--workers",
        "1",
    ]
    return _launch(settings, "mlflow-server", command, env)


def _start_worker(settings: StackSettings) -> Service:
    command = [
        _bin("prefect"),
        "worker",
        "start",
        "--pool",
        WORK_POOL,
        "--type",
        "process",
        "--limit",
        "2",
    ]
    env = base_env(settings)
    # A run started from the UI or by `mlops` starts within 2 s, not up to 10 s
    # (Prefect's default poll); on a local PostgreSQL the queries cost nothing.
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "2")
    return _launch(settings, "worker", command, env)


def _launch(
    settings: StackSettings, name: str, command: list[str], env: Mapping[str, str]
) -> Service:
    """Start a service in its own process group and record it (``up`` waits for it)."""
    service = _spawn(name, command, env, settings.home)
    state = load_state(settings)
    _save_state(settings, state.model_copy(update={"services": {**state.services, name: service}}))
    return service


def apply_deployments(settings: StackSettings) -> None:
    """Create the process work pool and apply every deployment of ``prefect.yaml``."""
    env = base_env(settings)
    _run(
        [_bin("prefect"), "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"],
        "prefect work-pool create",
        env,
    )
    done = subprocess.run(
        [_bin("prefect"), "--no-prompt", "deploy", "--all"],
        cwd=str(PROJECT_DIR),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"prefect deploy --all failed: {(done.stdout + done.stderr)[-1500:]}")


def deploy_usecase(usecase: Path, api_url: str) -> str:
    """Apply a use case's deployments (``mlops deploy``) to the stack's pool; say what was done.

    Raises:
        StackError: The use-case file is invalid or the deployments were refused.
    """
    from mlops_core.config import UseCaseError

    try:
        plan, applied = deploy_to_pool(usecase, work_pool=WORK_POOL, api_url=api_url)
    except UseCaseError as exc:
        raise StackError(str(exc)) from None
    except DeployError as exc:
        raise StackError(f"cannot deploy {usecase}: {exc}") from None
    scheduled = [f"{a.full_name} cron {a.cron} ({plan.timezone})" for a in applied if a.cron]
    return f"{plan.usecase_name}: {len(applied)} deployments; " + ", ".join(scheduled)


# -------------------------------------------------------------------- state
def _state_path(settings: StackSettings) -> Path:
    return settings.home / "stack.json"


class StackState(StoredRecord):
    """What ``up`` recorded in ``stack.json``: the services it started and its settings.

    Its one writer is :func:`_save_state`, its one reader :func:`load_state`.
    """

    services: dict[str, Service] = Field(
        default_factory=dict, description="The started server processes, by service name."
    )
    settings: StackSettings | None = Field(
        None, description="The settings of the last ``up``; None before the first."
    )


def load_state(settings: StackSettings) -> StackState:
    """What ``up`` recorded: the services' process groups and the settings.

    Raises:
        StackError: ``stack.json`` is not a state any version of ``up`` wrote.
    """
    path = _state_path(settings)
    if not path.exists():
        return StackState()
    hint = "fix or remove it (the processes it names may still run)"
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StackError(f"{path} is not JSON ({exc}): {hint}") from None
    try:
        return StackState.read(data, str(path))
    except RecordError as exc:
        raise StackError(f"{exc}: {hint}") from None


def _save_state(settings: StackSettings, state: StackState) -> None:
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.model_dump(mode="json"), indent=2, default=str))
    tmp.replace(path)


def _running(state: StackState, name: str) -> Service | None:
    service = state.services.get(name)
    return service if service is not None and service.alive() else None


# ------------------------------------------------------------------ commands
def up(settings: StackSettings, echo: Any = print) -> dict[str, str]:
    """Start the stack (idempotent: running parts are kept) and return its addresses.

    Raises:
        StackError: A part could not start; what did start keeps running (``down``
            stops it).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.data_root.mkdir(parents=True, exist_ok=True)
    state = load_state(settings).model_copy(update={"settings": settings})
    _save_state(settings, state)

    echo(f"PostgreSQL      {settings.host}:{settings.pg_port}")
    start_postgres(settings)
    # The two servers start side by side (neither needs the other), and the
    # deployments, which need only Prefect, are applied while MLflow starts:
    # each start is seconds of imports and database migrations.
    prefect = mlflow = None
    if _running(state, "prefect-server") is None:
        echo(f"Prefect server  {settings.prefect_ui_url} (starting)")
        prefect = _start_prefect(settings)
    if _running(state, "mlflow-server") is None:
        echo(f"MLflow server   {settings.mlflow_url} (starting)")
        mlflow = _start_mlflow(settings)
    if prefect is not None:
        _wait_http(f"{settings.prefect_api_url}/health", SERVER_START_SECONDS, prefect)
    if settings.deploy:
        echo("Deployments     prefect deploy --all, alert automations")
        apply_deployments(settings)
        from flows.alerts import apply_automations

        apply_automations(settings.prefect_api_url)
        for usecase in settings.usecases:
            deployed = deploy_usecase(usecase, settings.prefect_api_url)
            echo(f"Use case        {deployed}")
    if mlflow is not None:
        # The worker's flow runs log to MLflow from their first task.
        _wait_http(f"{settings.mlflow_url}/health", SERVER_START_SECONDS, mlflow)
    if settings.worker and _running(state, "worker") is None:
        echo(f"Worker          pool {WORK_POOL}")
        _start_worker(settings)
    return {
        "prefect_ui": settings.prefect_ui_url,
        "prefect_api": settings.prefect_api_url,
        "mlflow": settings.mlflow_url,
        "postgres": f"{settings.host}:{settings.pg_port}",
        "logs": str(settings.home / "logs"),
    }


def down(settings: StackSettings, echo: Any = print) -> None:
    """Stop the worker, the servers and PostgreSQL (whatever of them runs).

    The worker goes first, while the servers it reports to still answer; then
    the two servers together (neither needs the other to stop); then PostgreSQL.
    """
    state = load_state(settings)
    for names in (("worker",), ("mlflow-server", "prefect-server")):
        running = {name: service for name in names if (service := _running(state, name))}
        if not running:
            continue
        for name in running:
            echo(f"stopping {name}")
        _stop_groups([service.pid for service in running.values()])
        remaining = {k: v for k, v in state.services.items() if k not in running}
        state = state.model_copy(update={"services": remaining})
        _save_state(settings, state)
    echo("stopping PostgreSQL")
    stop_postgres(settings)


def _stop_groups(pids: Sequence[int], grace: float = 20.0) -> None:
    """SIGTERM each process group, then SIGKILL those still there after ``grace`` seconds.

    The groups stop side by side: the wait is the slowest group's, not their sum.
    """
    waiting = set()
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
            waiting.add(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                waiting.discard(pid)
        if waiting:
            time.sleep(0.2)
    for pid in waiting:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def status(settings: StackSettings) -> dict[str, bool]:
    """Which parts of the stack run now."""
    state = load_state(settings)
    bin_dir = find_postgres_bin()
    return {
        "postgres": bool(bin_dir and _pg_running(bin_dir, settings.home / "postgres" / "data")),
        **{
            name: _running(state, name) is not None
            for name in ("prefect-server", "mlflow-server", "worker")
        },
    }

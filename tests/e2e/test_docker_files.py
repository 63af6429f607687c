"""The docker stack's files: compose config, auth, secrets, build context, work pool.

Everything that can be checked without a docker daemon is checked here on every
run; only building the image needs the daemon, and only that test skips (with
the reason) when there is none.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
SERVICES = {"postgres", "prefect-server", "mlflow-server", "deploy", "worker"}
# ${NAME}, ${NAME:-default}, ${NAME:?error}; $$ is a literal dollar.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation; a required variable that is unset fails."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op and op.endswith("?") and not value:
            raise AssertionError(f"required variable {name} is unset: {arg}")
        if op and op.endswith("-") and not value:
            return arg
        if value is None:
            raise AssertionError(f"variable {name} is not defined in .env.example")
        return value

    return _VARIABLE.sub(one, text.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(_interpolate(COMPOSE.read_text(), _env_example()))


def test_compose_file_parses_with_every_variable_from_the_env_template(compose) -> None:
    assert SERVICES <= set(compose["services"])
    raw = COMPOSE.read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(raw)}
    assert used <= set(_env_example()), used - set(_env_example())


def test_published_ports_bind_loopback_only(compose) -> None:
    published = [
        (name, port) for name, svc in compose["services"].items() for port in svc.get("ports", [])
    ]
    assert {name for name, _ in published} == {"prefect-server", "mlflow-server"}
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)


def test_auth_is_on_for_both_servers_and_every_client_carries_credentials(compose) -> None:
    services = compose["services"]
    prefect = services["prefect-server"]["environment"]
    assert prefect["PREFECT_SERVER_API_AUTH_STRING"] == _env_example()["PREFECT_AUTH_STRING"]
    mlflow_script = (DOCKER / "mlflow-server.sh").read_text()
    assert "--app-name basic-auth" in mlflow_script
    assert services["mlflow-server"]["command"] == ["sh", "docker/mlflow-server.sh"]
    for client in ("deploy", "worker"):
        env = services[client]["environment"]
        assert env["PREFECT_API_AUTH_STRING"] == prefect["PREFECT_SERVER_API_AUTH_STRING"]
        assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"]


def test_flow_runs_get_the_stacks_ledger_and_locks_database(compose) -> None:
    """Every flow-run container keeps its ledger and locks in the stack's PostgreSQL."""
    example = _env_example()
    url = compose["services"]["deploy"]["environment"]["MLOPS_COORDINATION_URL"]
    user, password = example["POSTGRES_USER"], example["POSTGRES_PASSWORD"]
    assert url == f"postgresql://{user}:{password}@postgres:5432/mlops"
    # Created with the stack's other databases, on the first start of its volume.
    assert "CREATE DATABASE mlops;" in (DOCKER / "postgres-init.sql").read_text()
    # The deploy job copies it into the work pool's env, as the other secrets,
    # from its environment (never from a file).
    assert '"MLOPS_COORDINATION_URL"' in (DOCKER / "deploy.sh").read_text()


def test_no_secret_is_written_in_a_committed_file() -> None:
    secret_key = re.compile(r"(PASSWORD|AUTH_STRING|SECRET)", re.IGNORECASE)
    raw = yaml.safe_load(COMPOSE.read_text())
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if secret_key.search(key):
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"
    # The auth config with its database password is written at start, not shipped.
    assert not (DOCKER / "mlflow-auth.ini").exists()
    work_pool = json.loads((DOCKER / "work-pool.json").read_text())
    defaults = work_pool["variables"]["properties"]["env"]["default"]
    assert not any(secret_key.search(k) for k in defaults), defaults
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, "docker/.env (the secrets) must be git-ignored"


def test_build_context_holds_every_file_the_dockerfile_copies() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    sources = []
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            parts = line.split()[1:]
            sources.extend(p for p in parts[:-1] if not p.startswith("--"))
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: missing from the build context"
    # The worker's docker work-pool type comes from the image's extra.
    assert "--extra docker" in dockerfile
    assert 'name = "prefect-docker"' in (REPO / "uv.lock").read_text()


def test_docker_work_pool_template_runs_flows_in_the_runtime_image() -> None:
    template = json.loads((DOCKER / "work-pool.json").read_text())
    assert set(template) == {"job_configuration", "variables"}
    props = template["variables"]["properties"]
    assert props["image"]["default"] == "mlops-pipeline:latest"
    assert props["networks"]["default"] == ["mlops"]
    assert props["volumes"]["default"] == ["mlops-data:/data"]
    env = props["env"]["default"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow-server:5000"
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"


@pytest.mark.parametrize("script", ["deploy.sh", "mlflow-server.sh"])
def test_shell_scripts_parse(script: str) -> None:
    done = subprocess.run(["sh", "-n", str(DOCKER / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _docker_daemon() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no docker daemon on this machine")
@pytest.mark.timeout(2100)  # the image build alone gets 1800 s
def test_runtime_image_builds_and_runs_the_cli() -> None:
    tag = "mlops-pipeline:test"
    build = subprocess.run(
        ["docker", "build", "-f", "docker/Dockerfile", "-t", tag, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(
        ["docker", "run", "--rm", tag, "mlops", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0 and "backtest" in run.stdout

"""The production stack, for real: ``mlops up`` on loopback, deployments run by a worker.

One module-scoped stack (PostgreSQL, Prefect server and MLflow server on
PostgreSQL, the deployments of prefect.yaml and of one use-case file given to
``--usecase``, the alert automations, a process worker) is started through the
``mlops up`` command on free ports and stopped with ``mlops down``. Flow runs
are created through the Prefect API from the deployments; everything is
asserted through the servers' APIs and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from mlops_core.records import CycleRecord

# The first test starts the stack (`mlops up` gets 900 s), each waits up to 420 s for a run.
pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
MLOPS = Path(sys.executable).parent / "mlops"
SHIPPED = REPO / "usecases" / "retail_demand.yaml"
UP_USECASE = "stack_up_usecase"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Addresses of the running stack and helpers to talk to it."""

    def __init__(self, home: Path, ports: dict[str, int]) -> None:
        self.home = home
        self.data_root = home / "data"
        self.stack_home = home / "stack"
        self.ports = ports
        self.prefect_api = f"http://127.0.0.1:{ports['prefect']}/api"
        self.mlflow = f"http://127.0.0.1:{ports['mlflow']}"
        self.up_output = ""

    def env(self) -> dict[str, str]:
        """What ``mlops up`` tells a shell to set to use the stack."""
        return {
            **os.environ,
            "PREFECT_API_URL": self.prefect_api,
            "MLFLOW_TRACKING_URI": self.mlflow,
            "MLOPS_HOME": str(self.data_root),
            "MLOPS_COORDINATION_URL": self.coordination_url(),
        }

    def coordination_url(self) -> str:
        """The stack's database of ledgers and locks (``tasks.coordination``)."""
        from flows import stack

        settings = stack.StackSettings(
            home=self.stack_home, data_root=self.data_root, pg_port=self.ports["pg"]
        )
        return stack.database_url(settings, stack.COORDINATION_DATABASE, "psycopg2")

    def prefect(self):
        """A synchronous Prefect client on the stack's API."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.prefect_api)

    def mlflow_client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.mlflow, registry_uri=self.mlflow)

    def run_deployment(self, name: str, parameters: dict[str, Any]) -> Any:
        """Create a flow run of a deployment through the API; the worker picks it up."""
        with self.prefect() as client:
            deployment = client.read_deployment_by_name(name)
            return client.create_flow_run_from_deployment(deployment.id, parameters=parameters)

    def wait(self, flow_run_id: Any, until: set[str], timeout: float = 420) -> Any:
        """Poll a flow run until its state type is one of ``until`` (or it ends)."""
        deadline = time.monotonic() + timeout
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
        with self.prefect() as client:
            while time.monotonic() < deadline:
                run = client.read_flow_run(flow_run_id)
                kind = run.state.type.value if run.state else "NONE"
                if kind in until or kind in final:
                    return run
                time.sleep(1.0)
        raise AssertionError(f"flow run {flow_run_id} still {kind} after {timeout} s")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # PostgreSQL runs as an unprivileged user when the tests run as root: the
    # stack's folder must be reachable by it (pytest's tmp folders are private).
    home = Path(tempfile.mkdtemp(prefix="mlops-stack-"))
    home.chmod(0o755)
    ports = {"pg": _free_port(), "prefect": _free_port(), "mlflow": _free_port()}
    s = Stack(home, ports)
    # A use case of one's own, deployed with the stack (`mlops up --usecase`).
    up_usecase = _usecase_variant(s, UP_USECASE)
    args = [
        str(MLOPS),
        "up",
        "--home",
        str(s.data_root),
        "--stack-home",
        str(s.stack_home),
        "--pg-port",
        str(ports["pg"]),
        "--prefect-port",
        str(ports["prefect"]),
        "--mlflow-port",
        str(ports["mlflow"]),
        "--usecase",
        str(up_usecase),
    ]
    up = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=900)
    s.up_output = up.stdout + up.stderr
    try:
        assert up.returncode == 0, up.stdout + up.stderr + _logs(s)
        assert f"http://127.0.0.1:{ports['prefect']}" in up.stdout
        assert f"http://127.0.0.1:{ports['mlflow']}" in up.stdout
        yield s
    finally:
        subprocess.run(
            [str(MLOPS), "down", "--home", str(s.data_root), "--stack-home", str(s.stack_home)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
        shutil.rmtree(home, ignore_errors=True)


def _logs(s: Stack) -> str:
    out = []
    for log in sorted((s.stack_home / "logs").glob("*.log")):
        out.append(f"\n--- {log.name}\n" + log.read_text(errors="replace")[-3000:])
    return "".join(out)


def _usecase_variant(s: Stack, name: str, **promotion: Any) -> Path:
    """The shipped retail use case under another name (own folders, model and experiments).

    Without the HTML cycle report, which no test here reads (docs/design.md
    section 8: tests write it only where they read it).
    """
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["name"] = name
    raw["data"]["landing"] = f"{name}/landing"
    raw["data"]["labels"] = f"{name}/labels"
    raw["promotion"].update(promotion)
    raw["report"] = {**raw.get("report", {}), "cycle_report": False}
    path = s.home / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _land(s: Stack, usecase_path: Path, periods: range, corrupt: int | None = None) -> None:
    """Land simulator batches and their labels; batch ``corrupt`` has a renamed column."""
    from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
    from tasks import storage

    usecase = storage.load_usecase_file(usecase_path)
    paths = storage.UseCasePaths.for_usecase(usecase, s.data_root)
    sim = RetailDemandSimulator(SimulatorConfig(seed=7))
    for p in periods:
        batch = sim.batch(p)
        if p == corrupt:
            batch = batch.rename(columns={"price": "Price"})
        batch.to_csv(paths.landing / f"period_{p:03d}.csv", index=False)
        sim.labels(p).to_csv(paths.labels / f"labels_{p:03d}.csv", index=False)


def _history() -> range:
    from mlops_core.simulator import SimulatorConfig

    return range(SimulatorConfig(seed=7).initial_periods)


def _champion(s: Stack, model: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return s.mlflow_client().get_model_version_by_alias(model, "champion")
    except MlflowException:
        return None


def _decision_rows(s: Stack, usecase: str) -> list[tuple[str, str, str]]:
    """Decision runs (id, kind, action) of a use case, read straight from MLflow's PostgreSQL."""
    import asyncpg

    from flows.stack import DB_USER, read_secrets

    password = read_secrets(s.stack_home)["POSTGRES_PASSWORD"]

    async def query() -> list[tuple[str, str, str]]:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=s.ports["pg"],
            user=DB_USER,
            password=password,
            database="mlflow",
        )
        try:
            rows = await conn.fetch(
                """
                SELECT r.run_uuid, k.value, a.value FROM runs r
                JOIN experiments e ON e.experiment_id = r.experiment_id
                JOIN tags k ON k.run_uuid = r.run_uuid AND k.key = 'mlops.kind'
                JOIN tags a ON a.run_uuid = r.run_uuid AND a.key = 'mlops.action'
                WHERE e.name = $1
                """,
                f"{usecase}-decisions",
            )
        finally:
            await conn.close()
        return [(r[0], r[1], r[2]) for r in rows]

    return asyncio.run(query())


def _decision_record(s: Stack, run_id: str) -> CycleRecord:
    from mlops_core.records import CycleRecord
    from tasks import decision_store

    return decision_store.read_decision_record(s.mlflow_client(), run_id, CycleRecord)


# --------------------------------------------------------------------- tests
def test_deployments_are_applied_with_described_parameters_and_a_schedule(stack: Stack) -> None:
    with stack.prefect() as client:
        deployments = {
            f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()
        }
        pools = {p.name: p for p in client.read_work_pools()}
    expected = {
        "monitor_landed/monitor-retail-demand",
        "monitor/monitor-batch-retail-demand",
        "score_batch/score-retail-demand",
        "bootstrap/bootstrap-retail-demand",
        "rollback/rollback-retail-demand",
        "backtest/backtest",
        "demo/demo",
        "alert/alert",
        "review_held_predictions/review-retail-demand",
    }
    assert expected <= set(deployments)
    assert pools["mlops-process"].type == "process"
    monitor = deployments["monitor_landed/monitor-retail-demand"]
    assert [s.schedule.cron for s in monitor.schedules] == ["0 6 * * 1"]
    for name in expected:
        properties = deployments[name].parameter_openapi_schema["properties"]
        assert properties and all(p.get("description") for p in properties.values()), name


VERBS_AND_FLOWS = {
    "monitor": "monitor_landed",
    "monitor-batch": "monitor",
    "score": "score_batch",
    "bootstrap": "bootstrap",
    "rollback": "rollback",
    "review": "review_held_predictions",
}


def _usecase_deployments(s: Stack, name: str) -> dict[str, dict[str, Any]]:
    """The deployments of one use case as the server holds them, by full name."""
    out = {}
    with s.prefect() as client:
        for verb, flow in VERBS_AND_FLOWS.items():
            d = client.read_deployment_by_name(f"{flow}/{verb}-{name}")
            out[f"{flow}/{verb}-{name}"] = {
                "id": d.id,
                "entrypoint": d.entrypoint,
                "pull_steps": d.pull_steps,
                "parameters": d.parameters,
                "tags": d.tags,
                "work_pool": d.work_pool_name,
                "schema": d.parameter_openapi_schema,
                "enforced": d.enforce_parameter_schema,
                "schedules": [
                    (sch.id, sch.slug, sch.schedule.cron, sch.schedule.timezone, sch.active)
                    for sch in d.schedules
                ],
            }
    return out


def _mlops_deploy(s: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    # From another folder than the project: the deployments must not depend on it.
    return subprocess.run(
        [str(MLOPS), "deploy", *args],
        cwd=s.home,
        env=s.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_usecase_deployed(
    deployed: dict[str, dict[str, Any]], name: str, usecase: Path, cron: str, timezone: str
) -> None:
    for full_name, d in deployed.items():
        assert d["parameters"]["usecase_path"] == str(usecase.resolve()), full_name
        assert d["tags"] == ["mlops", name]
        assert d["work_pool"] == "mlops-process"
        assert d["pull_steps"] == [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ $MLOPS_PROJECT_DIR }}"
                }
            }
        ]
        assert d["entrypoint"].startswith("flows/"), d["entrypoint"]
        assert d["enforced"]
        properties = d["schema"]["properties"]
        assert "usecase_path" in properties, full_name
        assert all(p.get("description") for p in properties.values()), full_name
        scheduled = full_name == f"monitor_landed/monitor-{name}"
        assert len(d["schedules"]) == (1 if scheduled else 0), (full_name, d["schedules"])
    [(_, _, got_cron, got_timezone, active)] = deployed[f"monitor_landed/monitor-{name}"][
        "schedules"
    ]
    assert (got_cron, got_timezone, active) == (cron, timezone, True)


def test_up_deploys_the_usecase_files_it_is_given(stack: Stack) -> None:
    deployed = _usecase_deployments(stack, UP_USECASE)
    # Integer periods: daily at 06:00 UTC by default.
    _assert_usecase_deployed(
        deployed, UP_USECASE, stack.home / f"{UP_USECASE}.yaml", "0 6 * * *", "UTC"
    )
    assert f"monitor_landed/monitor-{UP_USECASE} cron 0 6 * * *" in stack.up_output


#: The use case ``mlops deploy`` registers; its own bootstrap deployment trains it,
#: and the later tests (two workers, the browser, the secrets) build on it.
DEPLOYED = "stack_retail"


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A use case of one's own after its first ``mlops deploy``: (use-case file, the command)."""
    usecase = _usecase_variant(stack, DEPLOYED)
    first = _mlops_deploy(stack, str(usecase))
    assert first.returncode == 0, first.stdout + first.stderr
    return usecase, first


@pytest.fixture(scope="module")
def retail_bootstrap(
    stack: Stack, deployed: tuple[Path, subprocess.CompletedProcess[str]]
) -> tuple[Path, Any]:
    """The deployed use case bootstrapped by the worker, through its deployment run with
    nothing but its own parameters: (use-case file, the flow run)."""
    usecase, _ = deployed
    _land(stack, usecase, _history())
    run = stack.run_deployment(f"bootstrap/bootstrap-{DEPLOYED}", {})
    done = stack.wait(run.id, {"COMPLETED"})
    assert done.state.type.value == "COMPLETED", _logs(stack)
    return usecase, done


def test_mlops_deploy_registers_a_usecase_once_and_its_deployments_run(
    stack: Stack,
    deployed: tuple[Path, subprocess.CompletedProcess[str]],
    retail_bootstrap: tuple[Path, Any],
) -> None:
    name = DEPLOYED
    usecase, first = deployed
    assert f"monitor_landed/monitor-{name}" in first.stdout and "cron 0 6 * * *" in first.stdout
    deployed_now = _usecase_deployments(stack, name)
    _assert_usecase_deployed(deployed_now, name, usecase, "0 6 * * *", "UTC")
    rollback = deployed_now[f"rollback/rollback-{name}"]["parameters"]
    assert rollback["reason"] == "manual rollback from the Prefect UI"

    # Again: nothing changes (same deployments, the same single schedule).
    second = _mlops_deploy(stack, str(usecase))
    assert second.returncode == 0, second.stdout + second.stderr
    assert _usecase_deployments(stack, name) == deployed_now

    # Another schedule replaces the one there, in place.
    third = _mlops_deploy(stack, str(usecase), "--cron", "15 7 * * 2", "--timezone", "Europe/Paris")
    assert third.returncode == 0, third.stdout + third.stderr
    moved = _usecase_deployments(stack, name)
    _assert_usecase_deployed(moved, name, usecase, "15 7 * * 2", "Europe/Paris")
    assert {k: d["id"] for k, d in moved.items()} == {k: d["id"] for k, d in deployed_now.items()}
    monitor = f"monitor_landed/monitor-{name}"
    assert moved[monitor]["schedules"][0][0] == deployed_now[monitor]["schedules"][0][0]

    # The worker ran the bootstrap deployment with nothing but its own parameters.
    _, boot = retail_bootstrap
    assert boot.parameters["usecase_path"] == str(usecase.resolve())


def test_deployment_runs_train_register_and_record_through_the_servers(
    stack: Stack, retail_bootstrap: tuple[Path, Any]
) -> None:
    _, boot = retail_bootstrap
    champion = _champion(stack, DEPLOYED)
    assert champion is not None and champion.version == "1"
    with stack.prefect() as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[boot.id]))
        )
    assert any(a.type == "markdown" for a in artifacts)
    # The bootstrap's decisions are recorded in MLflow's PostgreSQL (the live weeks'
    # are checked by the two-worker test below).
    decisions = _decision_rows(stack, DEPLOYED)
    assert [action for _, kind, action in decisions if kind == "retrain"] == ["train"], decisions
    assert [action for _, kind, action in decisions if kind == "promotion"] == ["promote"]


def test_a_product_event_fires_its_alert_automation(
    stack: Stack, retail_bootstrap: tuple[Path, Any]
) -> None:
    """A corrupt week of the deployed use case, run by the worker through its deployment."""
    usecase, _ = retail_bootstrap
    corrupt = _history().stop
    _land(stack, usecase, range(corrupt, corrupt + 1), corrupt=corrupt)
    flow_run = stack.run_deployment(
        f"monitor/monitor-batch-{DEPLOYED}", {"batch": f"period_{corrupt:03d}.csv"}
    )
    assert stack.wait(flow_run.id, {"COMPLETED"}).state.type.value == "COMPLETED", _logs(stack)

    # The corrupt batch emitted mlops.batch.quarantined; its automation runs the alert deployment.
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    deadline = time.monotonic() + 180
    alerts: list[Any] = []
    while time.monotonic() < deadline:
        with stack.prefect() as client:
            alerts = [
                r
                for r in client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=["alert"]))
                )
                if r.parameters.get("event") == "mlops.batch.quarantined"
                and r.parameters.get("resource") == f"mlops.usecase.{DEPLOYED}"
            ]
        if alerts and alerts[0].state and alerts[0].state.is_final():
            break
        time.sleep(2)
    assert alerts, "no alert flow run for the quarantined batch" + _logs(stack)
    assert alerts[0].state.type.value == "COMPLETED"
    lines = (stack.data_root / "alerts.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert any(
        r["event"] == "mlops.batch.quarantined"
        and DEPLOYED in r["message"]
        and r["payload"].get("batch") == f"period_{corrupt:03d}.csv"
        for r in records
    ), records


#: The work pool of the two-worker test, and the queue each of its workers serves.
PAIR_POOL = "mlops-pair"
PAIR_QUEUES = ("machine-a", "machine-b")


def _project_copy(folder: Path) -> Path:
    """The product's code as another machine has it: a copy, no shared folder."""
    for part in ("flows", "tasks", "mlops_core", "usecases"):
        shutil.copytree(REPO / part, folder / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("prefect.yaml", "prefect.toml", "pyproject.toml"):
        shutil.copy2(REPO / name, folder / name)
    return folder


def _start_pair_worker(s: Stack, queue: str, machine: Path, project: Path) -> subprocess.Popen:
    """A process worker of ``queue`` whose flow runs run in ``project``, from ``machine``."""
    work = machine / "work"
    work.mkdir(parents=True)
    env = {
        **s.env(),
        "MLOPS_PROJECT_DIR": str(project),
        "PREFECT_HOME": str(machine / "prefect"),
        "TMPDIR": str(machine),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    log = (machine / "worker.log").open("w")
    return subprocess.Popen(
        [
            str(MLOPS.parent / "prefect"),
            "worker",
            "start",
            "--pool",
            PAIR_POOL,
            "--work-queue",
            queue,
            "--limit",
            "1",
            "--name",
            queue,
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _ledger_rows(s: Stack, usecase: str) -> list[tuple[str, str]]:
    """(sha256, batch) of every ledger entry of a use case, from the stack's PostgreSQL."""
    import psycopg2

    with psycopg2.connect(s.coordination_url().replace("+psycopg2", "")) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT sha256, entry->>'batch' FROM mlops_ledger WHERE usecase LIKE %s "
                "ORDER BY position",
                (f"%#{usecase}",),
            )
            return [(sha, batch) for sha, batch in cur.fetchall()]


def test_two_workers_without_a_shared_folder_handle_each_batch_once(
    stack: Stack, retail_bootstrap: tuple[Path, Any], tmp_path: Path
) -> None:
    """Two workers, as on two machines, share only the stack and the data root.

    Each has its own copy of the code, its own working folder and Prefect home,
    and serves a queue of its own, so each takes one of the runs started at
    once. Their ledger and locks are the stack's PostgreSQL.
    """
    import hashlib

    from tasks import storage
    from tasks.tags import TAG_BATCH, TAG_KIND

    usecase_file, _ = retail_bootstrap
    usecase = storage.load_usecase_file(usecase_file)
    paths = storage.UseCasePaths.for_usecase(usecase, stack.data_root)
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.workers.process import ProcessWorker

    from flows.deploy import deploy_usecase

    with stack.prefect() as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=PAIR_POOL,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
    deploy_usecase(usecase_file, work_pool=PAIR_POOL, api_url=stack.prefect_api)
    workers = [
        _start_pair_worker(
            stack,
            queue,
            tmp_path / queue,
            _project_copy(tmp_path / queue / "project") if queue == "machine-b" else REPO,
        )
        for queue in PAIR_QUEUES
    ]
    try:
        # Many batches waiting; the scheduled flow started on both machines at once.
        before = len(_ledger_rows(stack, usecase.name))
        decided_before = {run_id for run_id, _, _ in _decision_rows(stack, usecase.name)}
        # After the corrupt week of the alert test.
        first = _history().stop + 1
        _land(stack, usecase_file, range(first, first + 3))
        runs = []
        with stack.prefect() as client:
            deployment = client.read_deployment_by_name(f"monitor_landed/monitor-{usecase.name}")
            for queue in PAIR_QUEUES:
                runs.append(
                    client.create_flow_run_from_deployment(deployment.id, work_queue_name=queue)
                )
        for run in runs:
            ended = stack.wait(run.id, {"COMPLETED"})
            assert ended.state.type.value == "COMPLETED", _logs(stack)
        rows = _ledger_rows(stack, usecase.name)[before:]
        assert sorted(batch for _, batch in rows) == [
            f"period_{p:03d}.csv" for p in range(first, first + 3)
        ]
        assert len({sha for sha, _ in rows}) == 3  # each batch once
        assert list(paths.landing.iterdir()) == []

        # One batch delivered twice, under two names, each name to another machine.
        _land(stack, usecase_file, range(first + 3, first + 4))
        again = paths.landing / f"period_{first + 3:03d}.csv"
        (paths.landing / "resent.csv").write_bytes(again.read_bytes())
        rows.append((hashlib.sha256(again.read_bytes()).hexdigest(), again.name))
        with stack.prefect() as client:
            deployment = client.read_deployment_by_name(f"monitor/monitor-batch-{usecase.name}")
            runs = [
                client.create_flow_run_from_deployment(
                    deployment.id, parameters={"batch": name}, work_queue_name=queue
                )
                for name, queue in zip((again.name, "resent.csv"), PAIR_QUEUES, strict=True)
            ]
        for run in runs:
            ended = stack.wait(run.id, {"COMPLETED"})
            assert ended.state.type.value == "COMPLETED", _logs(stack)
        assert list(paths.landing.iterdir()) == []
        # One commit, and one decided cycle, per batch content, whichever name and machine.
        assert [sha for sha, _ in _ledger_rows(stack, usecase.name)[before:]] == [
            sha for sha, _ in rows
        ]
        client = stack.mlflow_client()
        experiment = client.get_experiment_by_name(f"{usecase.name}-decisions")
        for sha, batch in rows:
            cycles = client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`{TAG_BATCH}` = '{sha}' and tags.`{TAG_KIND}` = 'retrain'",
            )
            assert len(cycles) == 1, (batch, [c.info.run_id for c in cycles])
        # The workers' decisions are in MLflow's PostgreSQL, one retrain decision per
        # batch, and every decision of the use case is a run of its decisions experiment.
        decisions = _decision_rows(stack, usecase.name)
        new = [kind for run_id, kind, _ in decisions if run_id not in decided_before]
        assert new.count("retrain") == len(rows), decisions
        runs_there = client.search_runs([experiment.experiment_id], max_results=1000)
        assert {r.info.run_id for r in runs_there} == {run_id for run_id, _, _ in decisions}
    finally:
        # Every run they took has ended. A Prefect worker asked to stop can take
        # a minute to (it forwards SIGINT and finishes its poll loop); neither
        # may outlive the test, and with it the stack it polls.
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)
        for worker in workers:
            worker.wait(timeout=30)


#: Approval answers given through the API, by the approval they lead to (None: none
#: comes before the deadline).
APPROVAL_ANSWERS: dict[str, dict[str, Any] | None] = {
    "approved": {"approve": True, "reviewer": "alice", "comment": "looks right"},
    "rejected": {"approve": False, "reviewer": "bob", "comment": "wait for the audit"},
    "timeout": None,
}


@pytest.fixture(scope="module")
def approval_runs(stack: Stack) -> dict[str, Any]:
    """A bootstrap run asking for approval per answer, all started at once.

    The worker runs two at a time; each test answers its own run. A run waiting
    for an answer holds a worker slot. The run no answer comes to is started
    first: it ends at its 5 s deadline by itself, so the third run never waits
    behind two that wait for their tests.
    """
    runs = {}
    for approval in sorted(APPROVAL_ANSWERS, key=lambda a: APPROVAL_ANSWERS[a] is not None):
        answer = APPROVAL_ANSWERS[approval]
        name = f"stack_approval_{approval}"
        timeout = 600 if answer is not None else 5
        usecase = _usecase_variant(
            stack, name, require_approval=True, approval_timeout_seconds=timeout
        )
        _land(stack, usecase, _history())
        runs[approval] = stack.run_deployment(
            "bootstrap/bootstrap-retail-demand",
            {"usecase_path": str(usecase), "data_root": str(stack.data_root)},
        )
    return runs


@pytest.mark.parametrize(
    "approval", list(APPROVAL_ANSWERS), ids=["approved", "refused", "no-answer"]
)
def test_promotion_waits_for_a_human_answer_given_through_the_api(
    stack: Stack, approval_runs: dict[str, Any], approval: str
) -> None:
    name = f"stack_approval_{approval}"
    answer = APPROVAL_ANSWERS[approval]
    flow_run = approval_runs[approval]
    if answer is not None:
        paused = stack.wait(flow_run.id, {"PAUSED"})
        assert paused.state.type.value == "PAUSED", _logs(stack)
        assert _champion(stack, name) is None, "nothing is promoted while the answer is pending"
        with stack.prefect() as client:
            client.resume_flow_run(flow_run.id, run_input=answer)
    done = stack.wait(flow_run.id, {"COMPLETED"})
    with stack.prefect() as client:
        states = client.read_flow_run_states(flow_run.id)
    history = [f"{state.type.value}: {state.message}" for state in states]
    assert done.state.type.value == "COMPLETED", history
    assert any(h.startswith("PAUSED") for h in history), history

    champion = _champion(stack, name)
    assert (champion is not None) is (approval == "approved")
    promotions = [run_id for run_id, kind, _ in _decision_rows(stack, name) if kind == "promotion"]
    assert len(promotions) == 1
    promotion = _decision_record(stack, promotions[0]).promotion
    assert promotion is not None
    assert promotion.action == ("promote" if approval == "approved" else "reject")
    assert promotion.inputs.approval == approval
    assert promotion.inputs.approver == (answer["reviewer"] if answer else None)
    assert promotion.inputs.approval_comment == (answer["comment"] if answer else None)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("chromium is not installed: `make test` installs Debian's chromium package")


def _rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium."""
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_browser_shows_the_flow_run_and_the_champion_alias(
    stack: Stack, retail_bootstrap: tuple[Path, Any], tmp_path: Path
) -> None:
    _, boot = retail_bootstrap
    prefect_ui = stack.prefect_api.removesuffix("/api")
    page = _rendered_dom(f"{prefect_ui}/runs/flow-run/{boot.id}", tmp_path / "prefect")
    assert boot.name in page, page[-2000:]
    assert "bootstrap" in page

    page = _rendered_dom(f"{stack.mlflow}/#/models/{DEPLOYED}", tmp_path / "mlflow")
    assert DEPLOYED in page, page[-2000:]
    # The alias chip of version 1 (the "mlops.status: champion" tag does not count).
    alias_chip = re.compile(r'title="champion"[^>]*data-component-id="[^"]*alias', re.IGNORECASE)
    assert alias_chip.search(page), page[-3000:]


def _page_text(dom: str) -> str:
    """The visible text of a dumped page (scripts and styles dropped)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_browser_opens_the_decisions_on_runs_and_the_monitoring_run_on_its_charts(
    stack: Stack, retail_bootstrap: tuple[Path, Any], tmp_path: Path
) -> None:
    """The links the product prints open MLflow's model-training view, not its GenAI one."""
    from tasks import monitoring_history
    from tasks.mlflow_store import mlflow_ui_link
    from tasks.tags import (
        EXPERIMENT_KIND_MODEL_DEVELOPMENT,
        TAG_KIND,
        TAG_MLFLOW_EXPERIMENT_KIND,
        TAG_MONITORING_RUN,
    )

    client = stack.mlflow_client()
    decisions = client.get_experiment_by_name(f"{DEPLOYED}-decisions")
    monitoring = client.get_experiment_by_name(f"{DEPLOYED}-monitoring")
    assert decisions is not None and monitoring is not None
    for experiment in (decisions, monitoring):
        assert experiment.tags[TAG_MLFLOW_EXPERIMENT_KIND] == EXPERIMENT_KIND_MODEL_DEVELOPMENT
    cycles = client.search_runs(
        [decisions.experiment_id], filter_string=f"tags.`{TAG_KIND}` = 'retrain'"
    )
    run_id = monitoring_history.find_monitoring_run(client, monitoring.experiment_id)
    assert cycles and run_id is not None
    assert {c.data.tags[TAG_MONITORING_RUN] for c in cycles} == {run_id}

    # The decisions experiment opens on its runs table, listing the decision runs.
    page = _page_text(
        _rendered_dom(mlflow_ui_link(stack.mlflow, decisions.experiment_id), tmp_path / "runs")
    )
    assert "Run Name" in page and "Token Usage" not in page, page[:2000]
    assert all(c.info.run_name in page for c in cycles), page[:2000]

    # The monitoring run opens on its metric charts: one chart per metric it logged.
    run = client.get_run(run_id)
    page = _page_text(
        _rendered_dom(
            mlflow_ui_link(stack.mlflow, monitoring.experiment_id, run_id), tmp_path / "charts"
        )
    )
    assert "monitoring" in page and f"Model metrics ({len(run.data.metrics)})" in page, page[:2000]
    # What those charts draw: one point per cycle of the use case, from the same API.
    points = client.get_metric_history(run_id, "gate_passed")
    assert sorted(p.step for p in points) == sorted(
        int(c.data.tags["mlops.period"]) for c in cycles
    )


def test_the_database_password_never_leaves_the_secrets_file(
    stack: Stack, retail_bootstrap: tuple[Path, Any]
) -> None:
    """No secret in output, logs, state, data or artifacts; the secrets file is private."""
    from flows.stack import read_secrets

    secrets_file = stack.stack_home / "secrets.env"
    assert secrets_file.stat().st_mode & 0o077 == 0, "secrets.env is readable by others"
    password = read_secrets(stack.stack_home)["POSTGRES_PASSWORD"].encode()
    assert len(password) >= 24
    assert password not in stack.up_output.encode()
    # The line `mlops up` prints for a shell sets the stack's ledger and locks
    # database, reading the password from the secrets file when it runs.
    [line] = [
        x.strip() for x in stack.up_output.splitlines() if "export MLOPS_COORDINATION_URL" in x
    ]
    shown = subprocess.run(
        ["sh", "-c", f'{line}; printf %s "$MLOPS_COORDINATION_URL"'],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.stdout == stack.coordination_url().replace("+psycopg2", "")
    skipped = {secrets_file, stack.stack_home / "postgres"}
    leaks = []
    for folder in (stack.stack_home, stack.data_root):
        for path in folder.rglob("*"):
            if any(path == s or s in path.parents for s in skipped) or not path.is_file():
                continue
            if password in path.read_bytes():
                leaks.append(path)
    assert leaks == [], leaks
    # The flows' Prefect artifacts do not carry it either.
    with stack.prefect() as client:
        artifacts = client.read_artifacts()
    assert artifacts and not any(password.decode() in str(a.data) for a in artifacts)

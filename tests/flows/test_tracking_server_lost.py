"""The MLflow tracking server killed in the middle of a monitor cycle.

A real ``mlflow server`` (SQLite backend, proxied artifact store, both in a
temporary folder, on a free loopback port: the same proxying as the project's
stack) is started as a subprocess and the runtime points at it through
``MLFLOW_TRACKING_URI``. A champion is bootstrapped through it. Then a monitor
cycle runs and the server's process group gets SIGKILL right after the batch
is scored, before the cycle's decision is recorded (the drift step is wrapped to
do it). The promised outcome: the flow fails within a bounded time (the
product bounds MLflow's HTTP retries, see ``tasks.runtime.MLFLOW_HTTP_DEFAULTS``)
with an error naming the server's address and the refused connection; the
batch waits in landing with no ledger entry and no decision run; the champion
is unchanged. The server is restarted on the same port with the same stores
and the cycle rerun on the same batch: it completes with exactly one ledger
entry and one decision run for the batch, and the same champion.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from usecase_variant import land_weeks, write_shipped_variant

from flows.cycle import bootstrap, monitor
from flows.stack import _bin, _wait_http
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, steps, storage, training_runs
from tasks.runtime import MLFLOW_HTTP_DEFAULTS, Runtime, open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
HOST = "127.0.0.1"
#: How long a cycle may take to give up once the server is gone: three attempts
#: of the decision record (task retries), each bounded by the HTTP defaults.
FAIL_WITHIN_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


class TrackingServer:
    """``mlflow server`` on a fixed port and fixed stores, which can be killed and restarted."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.store = folder / "mlflow.db"
        self.artifacts = folder / "mlflow-artifacts"
        self.log = folder / "mlflow-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.artifacts.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, seconds: float = 120) -> None:
        assert not _port_open(self.port), f"port {self.port} is taken"
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        # As `mlops up` starts it: no job runner (five more processes importing MLflow).
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (the environment's own console script)
                [
                    _bin("mlflow"),
                    "server",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--backend-store-uri",
                    f"sqlite:///{self.store}",
                    "--artifacts-destination",
                    self.artifacts.as_uri(),
                    "--workers",
                    "1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            _wait_http(f"{self.url}/health", seconds)
        except Exception as exc:
            self.kill()
            raise AssertionError(f"{exc}\n{self.tail()}") from exc

    def kill(self) -> None:
        """SIGKILL the server's whole process group and wait until the port is closed."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None
        deadline = time.monotonic() + 30
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _port_open(self.port), "the killed server still answers"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TrackingServer]:
    """A running server the runtime points at; MLflow's HTTP settings are the product's."""
    srv = TrackingServer(tmp_path / "server")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
    for key in MLFLOW_HTTP_DEFAULTS:
        # Unset for the test (the product's defaults apply) and unset again after it.
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def _champion(rt: Runtime) -> str | None:
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    return info.version if info else None


def _ledger(rt: Runtime, sha: str) -> list[str]:
    if not rt.paths.ledger.exists():
        return []
    return [line for line in rt.paths.ledger.read_text().splitlines() if sha in line]


def _decision_runs(rt: Runtime, sha: str) -> list[decision_store.DecisionRunInfo]:
    return decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )


def test_a_cycle_whose_tracking_server_dies_fails_fast_and_a_rerun_finishes_it(
    server: TrackingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "home"
    # The shipped use case without cycle reports (no part of what a lost server does
    # to a cycle).
    usecase = write_shipped_variant(tmp_path / "usecase")
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    land_weeks(SIM, paths, range(FIRST_LIVE))
    assert bootstrap(str(usecase), str(root)).champion_version == "1"
    rt = open_runtime(usecase, str(root))
    assert rt.mlflow.tracking_uri == server.url and rt.mlflow.artifact_root is None
    for key, value in MLFLOW_HTTP_DEFAULTS.items():
        assert os.environ[key] == value, key

    name = f"period_{FIRST_LIVE:03d}.csv"
    data = SIM.batch(FIRST_LIVE).to_csv(index=False).encode("utf-8")
    (paths.landing / name).write_bytes(data)
    sha = storage.file_sha256(paths.landing / name)

    killed_at: list[float] = []
    measure_drift = steps.measure_drift

    def kill_then_measure(*args, **kwargs):
        server.kill()
        killed_at.append(time.monotonic())
        return measure_drift(*args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(steps, "measure_drift", kill_then_measure)
        with pytest.raises(MlflowException) as failed:
            monitor(str(usecase), name, str(root))
    gave_up_after = time.monotonic() - killed_at[0]

    message = str(failed.value)
    assert f"{HOST}:{server.port}" in message, message
    assert "Connection refused" in message or "Failed to establish" in message, message
    assert gave_up_after < FAIL_WITHIN_SECONDS, f"failed only after {gave_up_after:.0f} s"
    # Nothing committed, nothing lost, nothing of the failed cycle published: the
    # batch was scored before the server died, but its predictions wait for a commit.
    assert (paths.landing / name).read_bytes() == data
    assert _ledger(rt, sha) == []
    published = paths.predictions / f"{Path(name).stem}.parquet"
    # (They stay staged: with the server down nobody can tell whether a decision was
    # recorded, and a recorded one would publish them at its rerun.)
    assert not published.exists()

    server.start()
    assert _decision_runs(rt, sha) == []
    assert _champion(rt) == "1"

    out = monitor(str(usecase), name, str(root))

    assert out.status == "done", out
    assert len(_ledger(rt, sha)) == 1
    runs = _decision_runs(rt, sha)
    assert [r.run_id for r in runs] == [out.decision_run_id]
    assert not (paths.landing / name).exists()
    assert (paths.archive / name).read_bytes() == data
    assert published.exists() and not paths.stage_of(sha).exists()
    champion = steps.load_champion.fn(rt)
    assert champion is not None
    assert champion.version == out.champion_version == _champion(rt) == "1"
    print(f"\ngave up {gave_up_after:.1f} s after the server was killed")

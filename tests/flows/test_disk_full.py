"""A full artifact volume: a cycle that logs a model fails cleanly and a rerun finishes it.

MLflow's artifact folder under the data root is put on a small tmpfs (the data
root, the SQLite store and the ledger stay on the normal disk, as when the
artifact store is a separate volume). One use case is bootstrapped there with a
retrain policy that refreshes the champion whenever it is two periods old, so
every live batch below is a monitor cycle that trains, logs and registers a
challenger. Each case fills the volume to the last byte at one moment of that
cycle (a filler file), so a real write gets ENOSPC, then asserts the promised
outcome: the flow fails with an error naming "No space left on device" and the
path; the champion is unchanged; no registered version is left looking usable
(a version created before the failure is tagged ``failed`` and has no alias);
the batch is still in landing with no ledger entry and no finished decision
run; and once the filler is deleted a rerun completes with a loadable champion,
exactly one ledger entry and one retrain decision for the batch. A failed
bootstrap is checked the same way on a volume full from the start.

A failure while the decision is recorded comes before any alias move (the
cycle records its decision, then carries it out), and a failed bootstrap leaves
its batches in landing, where its rerun finds and commits them.

Mounting needs root. Without it, the whole module is run again inside a user
and mount namespace (``unshare -Urm``), where mounting a tmpfs is allowed, and
each test here reports its twin's outcome; a machine that allows neither fails
the tests with the reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from usecase_variant import write_shipped_variant

from flows.cycle import bootstrap, monitor
from mlops_core.records import LedgerEntry
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, mlflow_store, model_registry, steps, storage, training_runs
from tasks.runtime import Runtime, open_runtime

# Without root the module runs again in a mount namespace (NAMESPACED_RUN_SECONDS).
pytestmark = [pytest.mark.flows, pytest.mark.timeout(1200)]

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
VOLUME_SIZE = "64m"

#: Set inside the namespace the module re-runs itself in (never mount-probe twice).
INSIDE_NAMESPACE_ENV = "MLOPS_TEST_IN_MOUNT_NAMESPACE"
#: Set to 1 to take the namespace path even as root (to test that path).
FORCE_NAMESPACE_ENV = "MLOPS_TEST_FORCE_MOUNT_NAMESPACE"
NAMESPACED_RUN_SECONDS = 900


# ------------------------------------------------------------ tmpfs helpers
def _mount_tmpfs(target: Path, size: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(target)],
        check=True,
        capture_output=True,
        text=True,
    )


def _unmount(target: Path) -> None:
    done = subprocess.run(["umount", str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:  # something still holds a file open: detach it anyway
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _why_no_mount(probe: Path) -> str | None:
    """None when this process can mount a tmpfs, else what went wrong."""
    if os.environ.get(FORCE_NAMESPACE_ENV) == "1" and not os.environ.get(INSIDE_NAMESPACE_ENV):
        return f"{FORCE_NAMESPACE_ENV}=1"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "no mount/umount command"
    try:
        _mount_tmpfs(probe, "1m")
    except subprocess.CalledProcessError as exc:
        return (exc.stderr or str(exc)).strip()
    _unmount(probe)
    return None


def _run_module_in_namespace(report: Path, why: str) -> dict[str, tuple[str, str]]:
    """Run this module under ``unshare -Urm``; (outcome, message) per test name."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail(
            f"cannot mount a tmpfs here ({why}) and there is no unshare command to get a "
            "private mount namespace: run as root or install util-linux"
        )
    probe = subprocess.run([unshare, "-Urm", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs here ({why}) and unshare -Urm is refused "
            f"({probe.stderr.strip()}): unprivileged user namespaces are disabled; run as root"
        )
    try:
        done = subprocess.run(
            [unshare, "-Urm", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            + [f"--junitxml={report}", __file__],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, INSIDE_NAMESPACE_ENV: "1"},
            capture_output=True,
            text=True,
            check=False,
            timeout=NAMESPACED_RUN_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the namespaced run took over {exc.timeout:.0f} s")
    if not report.exists():
        pytest.fail(
            f"the namespaced run left no report:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                kind = "xfailed" if found.get("type") == "pytest.xfail" else tag
                text = f"{found.get('message')}\n{found.text or ''}".strip()
                outcomes[name] = (kind, text)
                break
        else:
            outcomes[name] = ("passed", "")
    return outcomes


@dataclass(frozen=True)
class Delegated:
    """The module ran in a private mount namespace: (outcome, message) per test name."""

    outcomes: dict[str, tuple[str, str]]

    def report(self, request: pytest.FixtureRequest) -> None:
        """Give this test the outcome its twin had in the namespace."""
        kind, message = self.outcomes.get(request.node.name, ("missing", "not run there"))
        if kind == "xfailed":
            pytest.xfail(message)
        if kind != "passed":
            pytest.fail(f"in the private mount namespace: {kind}: {message}")


@pytest.fixture(scope="module")
def mounts(tmp_path_factory: pytest.TempPathFactory) -> Delegated | None:
    """None when this process mounts; else the outcomes of the module run in a namespace."""
    base = tmp_path_factory.mktemp("mount_probe")
    why = _why_no_mount(base / "probe")
    if why is None:
        return None
    if os.environ.get(INSIDE_NAMESPACE_ENV):
        pytest.fail(f"cannot mount a tmpfs even inside a user and mount namespace: {why}")
    return Delegated(_run_module_in_namespace(base / "namespaced.xml", why))


@dataclass(frozen=True)
class Home:
    """A data root whose MLflow artifact folder (``volume``) is a small tmpfs."""

    root: Path
    usecase: Path
    volume: Path

    def runtime(self) -> Runtime:
        return open_runtime(self.usecase, str(self.root))

    def land(self, period: int) -> tuple[str, bytes]:
        """Land the batch and the labels of a period; return the batch's name and bytes."""
        rt = self.runtime()
        name = f"period_{period:03d}.csv"
        data = SIM.batch(period).to_csv(index=False).encode("utf-8")
        (rt.paths.landing / name).write_bytes(data)
        SIM.labels(period).to_csv(rt.paths.labels / f"labels_{period:03d}.csv", index=False)
        return name, data


def _retrain_often_usecase(folder: Path) -> Path:
    """The shipped use case with a policy that refreshes a champion two periods old
    (its cycle reports written, without Evidently's part: every file a cycle writes
    meets the full volume)."""
    return write_shipped_variant(
        folder,
        {"retrain": {"max_age_periods": 1, "min_periods_between": 0, "retrain_cost": 0}},
        cycle_report=True,
    )


@contextmanager
def artifact_volume(base: Path) -> Iterator[Home]:
    """A fresh data root under ``base`` with MLflow's artifact folder on a tmpfs."""
    root = base / "home"
    usecase = _retrain_often_usecase(base)
    volume = Path(str(mlflow_store.settings_for_data_root(root).artifact_root))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # the embedded store under the root
        _mount_tmpfs(volume, VOLUME_SIZE)
        try:
            yield Home(root=root, usecase=usecase, volume=volume)
        finally:
            _unmount(volume)


@pytest.fixture(scope="module")
def home(
    mounts: Delegated | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Home | Delegated]:
    """A bootstrapped champion (version 1) with its artifacts on the volume."""
    if mounts is not None:
        yield mounts
        return
    with artifact_volume(tmp_path_factory.mktemp("disk_full")) as h:
        for p in range(FIRST_LIVE):
            h.land(p)
        out = bootstrap(str(h.usecase), str(h.root))
        assert out.champion_version == "1", out
        yield h


def fill(volume: Path) -> Path:
    """Fill the volume to the last byte with a filler file; return the filler."""
    filler = volume / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    chunk = 1 << 20
    try:
        while chunk:
            try:
                os.write(fd, bytes(chunk))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2
    finally:
        os.close(fd)
    assert os.statvfs(volume).f_bavail == 0, "the volume still has room"
    return filler


# ------------------------------------------------------------------ cases
def _fill_first(home: Home, mp: pytest.MonkeyPatch) -> None:
    """The volume is already full when the cycle starts."""
    fill(home.volume)


def _fill_after_registration(home: Home, mp: pytest.MonkeyPatch) -> None:
    """The volume fills up after the challenger is registered, before its estimator is written."""
    original = steps.log_estimator

    def full_then_log(*args, **kwargs):
        fill(home.volume)
        return original(*args, **kwargs)

    mp.setattr(steps, "log_estimator", full_then_log)


def _fill_before_the_record(home: Home, mp: pytest.MonkeyPatch) -> None:
    """The volume fills up after the promotion gate, when the decision record is written."""
    original = steps.record_decision

    def full_then_record(*args, **kwargs):
        fill(home.volume)
        return original(*args, **kwargs)

    mp.setattr(steps, "record_decision", full_then_record)


# name -> (live period of the batch, how the volume fills up)
CASES: dict[str, tuple[int, Callable[[Home, pytest.MonkeyPatch], None]]] = {
    "full before the cycle": (FIRST_LIVE + 1, _fill_first),
    "full after the version is registered": (FIRST_LIVE + 3, _fill_after_registration),
    "full when the decision is recorded": (FIRST_LIVE + 5, _fill_before_the_record),
}


def _champion(rt: Runtime) -> str | None:
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    return info.version if info else None


def _ledger_lines(rt: Runtime, sha: str | None = None) -> list[LedgerEntry]:
    entries = storage.ledger_entries(rt.paths.ledger)
    return [e for e in entries if sha is None or e.sha256 == sha]


def _decisions(rt: Runtime, sha: str) -> list[decision_store.DecisionRunInfo]:
    return decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )


def _assert_no_space_error(error: BaseException, volume: Path) -> None:
    message = str(error)
    assert "No space left on device" in message, message
    assert str(volume) in message, f"the error does not name the volume {volume}: {message}"


def _assert_versions_unambiguous(rt: Runtime, before: set[str]) -> None:
    """No new version is left a candidate; one whose logging failed has no alias."""
    for v in model_registry.version_history(rt.client, rt.usecase.registered_model_name):
        if v.version in before:
            continue
        assert v.status != model_registry.STATUS_CANDIDATE, f"version {v.version} left a candidate"
        if v.status == model_registry.STATUS_FAILED:
            assert not v.aliases, v


@pytest.mark.parametrize("case", list(CASES))
def test_a_full_artifact_volume_fails_the_cycle_cleanly_and_a_rerun_finishes_it(
    home: Home | Delegated, case: str, request: pytest.FixtureRequest
) -> None:
    if isinstance(home, Delegated):
        home.report(request)
        return
    period, make_full = CASES[case]
    rt = home.runtime()
    name, data = home.land(period)
    sha = storage.file_sha256(rt.paths.landing / name)
    model = rt.usecase.registered_model_name
    champion_before = _champion(rt)
    versions_before = {v.version for v in model_registry.version_history(rt.client, model)}
    assert champion_before is not None

    with pytest.MonkeyPatch.context() as mp:
        make_full(home, mp)
        with pytest.raises(OSError) as failed:
            monitor(str(home.usecase), name, str(home.root))

    _assert_no_space_error(failed.value, home.volume)
    _assert_versions_unambiguous(rt, versions_before)
    # Nothing is committed and nothing is lost: the batch waits in landing, byte for byte.
    assert (rt.paths.landing / name).read_bytes() == data
    assert not any(p.name == name for p in rt.paths.archive.iterdir())
    assert _ledger_lines(rt, sha) == []
    assert _decisions(rt, sha) == [], "a decision that was not fully written counts"
    # The champion is untouched and still loads.
    assert _champion(rt) == champion_before
    assert steps.load_champion.fn(rt).version == champion_before

    (home.volume / "filler.bin").unlink()
    out = monitor(str(home.usecase), name, str(home.root))

    assert out.status == "done" and out.decision == "retrain", out
    assert [e.decision for e in _ledger_lines(rt, sha)] == ["retrain"]
    retrain_runs = [d for d in _decisions(rt, sha) if d.kind == "retrain"]
    assert [d.run_id for d in retrain_runs] == [out.decision_run_id]
    assert not (rt.paths.landing / name).exists()
    assert (rt.paths.archive / name).read_bytes() == data
    champion = steps.load_champion.fn(rt)
    assert champion is not None and champion.version == out.champion_version == _champion(rt)
    _assert_versions_unambiguous(rt, versions_before)


def test_a_full_artifact_volume_fails_the_bootstrap_cleanly_and_a_rerun_finishes_it(
    mounts: Delegated | None, tmp_path_factory: pytest.TempPathFactory, request
) -> None:
    if mounts is not None:
        mounts.report(request)
        return
    with artifact_volume(tmp_path_factory.mktemp("bootstrap_full")) as h:
        landed = dict(h.land(p) for p in range(FIRST_LIVE))
        shas = {storage.file_sha256(h.runtime().paths.landing / n): n for n in landed}
        fill(h.volume)

        with pytest.raises(OSError) as failed:
            bootstrap(str(h.usecase), str(h.root))

        rt = h.runtime()
        _assert_no_space_error(failed.value, h.volume)
        assert _champion(rt) is None
        _assert_versions_unambiguous(rt, set())
        for name, data in landed.items():  # every batch in landing or the archive, intact
            kept = [rt.paths.landing / name, rt.paths.archive / name]
            assert any(p.exists() and p.read_bytes() == data for p in kept), name
        assert _ledger_lines(rt) == []

        (h.volume / "filler.bin").unlink()
        out = bootstrap(str(h.usecase), str(h.root))

        assert out.champion_version is not None, out
        champion = steps.load_champion.fn(rt)
        assert champion is not None and champion.version == out.champion_version
        _assert_versions_unambiguous(rt, set())
        for sha in shas:
            assert len(_ledger_lines(rt, sha)) == 1, shas[sha]
        assert not list(rt.paths.landing.iterdir())

"""The shipped use case with its landing and labels folders on S3 (moto's server, loopback).

The producers put batches and label files in a bucket; each flow run moves them
into the data root first (``tasks.remote_folders``) and handles them as any
arrival. One data root is bootstrapped from the bucket (module fixture); the
tests then land live weeks, faulty files, a duplicate, and a cycle killed
between its decision record and its ledger commit, all through the bucket,
and check what the local-folder tests check: byte for byte, once, with reasons.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from faulty_files import latin1_csv, truncated_csv
from usecase_variant import write_shipped_variant

from flows.cycle import bootstrap, monitor, monitor_landed
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, storage
from tasks.runtime import open_runtime

pytestmark = [pytest.mark.flows, pytest.mark.timeout(600)]

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))
FIRST_LIVE = SIM.config.initial_periods
BUCKET = "shop-data"
LANDING = f"s3://{BUCKET}/retail/landing"
LABELS = f"s3://{BUCKET}/retail/labels"
REPO = Path(__file__).resolve().parents[2]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _put(url: str, data: bytes) -> str:
    """Upload ``data`` as a producer would; its SHA-256."""
    with fsspec.open(url, "wb") as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest()


def _waiting(url: str) -> list[str]:
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    try:
        return sorted(Path(p).name for p in fs.ls(url, detail=False))
    except FileNotFoundError:
        return []


def _land_week(period: int) -> tuple[str, bytes]:
    """Upload a live week's batch and its labels; the batch's name and bytes."""
    name = f"period_{period:03d}.csv"
    data = _csv(SIM.batch(period))
    _put(f"{LANDING}/{name}", data)
    _put(f"{LABELS}/labels_{period:03d}.csv", _csv(SIM.labels(period)))
    return name, data


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: dict[str, str]) -> Path:
    """A data root bootstrapped from the history weeks put in the bucket."""
    fsspec.filesystem("s3").mkdir(BUCKET)
    root = tmp_path_factory.mktemp("s3-landing")
    write_shipped_variant(root, {"data": {"landing": LANDING, "labels": LABELS}})
    history = {}
    for period in range(FIRST_LIVE):
        name = f"period_{period:03d}.csv"
        history[name] = _put(f"{LANDING}/{name}", _csv(SIM.batch(period)))
        _put(f"{LABELS}/labels_{period:03d}.csv", _csv(SIM.labels(period)))

    out = bootstrap(str(_usecase(root)), str(root))

    assert out.champion_version == "1", out
    assert out.committed_batches == FIRST_LIVE
    rt = open_runtime(_usecase(root), str(root))
    assert _waiting(LANDING) == [] and _waiting(LABELS) == [], "the bucket's files moved"
    for name, sha in history.items():
        assert hashlib.sha256((rt.paths.archive / name).read_bytes()).hexdigest() == sha
        assert rt.coordination.ledger.entry(sha) is not None
    return root


def _usecase(root: Path) -> Path:
    return root / "retail_demand.yaml"


def test_live_weeks_in_the_bucket_are_each_handled_once(root: Path) -> None:
    rt = open_runtime(_usecase(root), str(root))
    landed = dict(_land_week(p) for p in range(FIRST_LIVE, FIRST_LIVE + 3))

    out = monitor_landed(str(_usecase(root)), str(root))

    assert [c.batch for c in out.cycles] == sorted(landed)
    assert all(c.status == "done" and c.validation == "pass" for c in out.cycles), out
    assert _waiting(LANDING) == [] and _waiting(LABELS) == []
    for name, data in landed.items():
        assert (rt.paths.archive / name).read_bytes() == data
        entry = rt.coordination.ledger.entry(hashlib.sha256(data).hexdigest())
        assert entry is not None and entry.batch == name
    # The labels came from the bucket too: the first live weeks' realized error is measured.
    assert out.cycles[-1].realized is not None, out.cycles[-1]
    assert monitor_landed(str(_usecase(root)), str(root)).handled == 0


def _truncated() -> bytes:
    return truncated_csv(SIM.batch(FIRST_LIVE + 3))


def _latin1() -> bytes:
    return latin1_csv(SIM.batch(FIRST_LIVE + 3), "store")


@pytest.mark.parametrize(
    ("make", "words"),
    [(_truncated, ("truncated",)), (_latin1, ("utf-8",))],
    ids=["truncated", "latin1"],
)
def test_a_faulty_file_in_the_bucket_is_quarantined_byte_for_byte(
    root: Path, make, words: tuple[str, ...]
) -> None:
    rt = open_runtime(_usecase(root), str(root))
    name = f"fault_{make.__name__.strip('_')}.csv"
    data = make()
    sha = _put(f"{LANDING}/{name}", data)

    out = monitor(str(_usecase(root)), name, str(root))  # fetches the named batch first

    assert out.validation == "fail" and out.decision == "block", out
    assert (rt.paths.quarantine / name).read_bytes() == data
    reason = (rt.paths.quarantine / f"{name}.reason.json").read_text(encoding="utf-8")
    for word in words:
        assert word.lower() in reason.lower(), reason
    entry = rt.coordination.ledger.entry(sha)
    assert entry is not None and entry.gate == "fail"
    assert name not in _waiting(LANDING) and not (rt.paths.landing / name).exists()


def test_a_batch_put_twice_under_two_names_is_handled_once(root: Path) -> None:
    rt = open_runtime(_usecase(root), str(root))
    data = _csv(SIM.batch(FIRST_LIVE + 4))
    sha = _put(f"{LANDING}/period_{FIRST_LIVE + 4:03d}.csv", data)
    _put(f"{LANDING}/resent_{FIRST_LIVE + 4:03d}.csv", data)

    out = monitor_landed(str(_usecase(root)), str(root))

    assert sorted(c.status for c in out.cycles) == ["done", "duplicate"], out
    first, again = sorted(out.cycles, key=lambda c: c.status)
    assert again.decision_run_id == first.decision_run_id
    runs = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )
    assert len(runs) == 1
    assert _waiting(LANDING) == [] and list(rt.paths.landing.iterdir()) == []


# Runs one monitor cycle on a batch of the bucket and kills itself (SIGKILL: no
# cleanup) as the batch's ledger entry is about to be appended: the decision is
# recorded, the batch fetched and archived, the commit not made.
KILLED_AT_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from tasks import storage
    from flows.cycle import monitor

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    storage.ledger_append = killed
    monitor(sys.argv[1], sys.argv[2], sys.argv[3])
    """
)


def test_a_cycle_killed_between_its_record_and_its_commit_is_committed_once_by_the_rerun(
    root: Path,
) -> None:
    from prefect.settings import PREFECT_API_URL

    rt = open_runtime(_usecase(root), str(root))
    name, data = _land_week(FIRST_LIVE + 5)
    sha = hashlib.sha256(data).hexdigest()
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    child = subprocess.run(
        [sys.executable, "-c", KILLED_AT_COMMIT, str(_usecase(root)), name, str(root)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert _waiting(LANDING) == [], "fetched before the kill"
    assert (rt.paths.archive / name).read_bytes() == data, "archived before the commit"
    assert rt.coordination.ledger.entry(sha) is None
    recorded = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )
    assert len(recorded) == 1, "the decision was recorded"

    rerun = monitor(str(_usecase(root)), name, str(root))

    assert rerun.status == "done" and rerun.decision_run_id == recorded[0].run_id, rerun
    assert [e.batch for e in storage.ledger_entries(rt.paths.ledger) if e.sha256 == sha] == [name]
    after = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )
    assert [r.run_id for r in after] == [r.run_id for r in recorded], "no second decision"
    assert monitor_landed(str(_usecase(root)), str(root)).handled == 0

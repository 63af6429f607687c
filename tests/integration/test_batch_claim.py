"""A lock of a use case holds across real processes and dies with its holder.

Both ways of keeping locks (``tasks.coordination``): files in the data root
(``flock``), and a real PostgreSQL (advisory locks, ``coordination_url``). The
holder is another Python process, killed with SIGKILL.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from usecase_variant import usecase_paths

from tasks.coordination import COORDINATION_URL_ENV, Coordination, open_coordination
from tasks.storage import BatchClaimedError

# slow (left out of `make test-fast`): each test runs and kills a second Python process.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHA = "ab" * 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["files", "postgresql"])
def coordination_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of each way: nothing set, or the URL of a real PostgreSQL."""
    if request.param == "files":
        return {}
    return {COORDINATION_URL_ENV: request.getfixturevalue("coordination_url")}


def _coordination(root: Path, env: dict[str, str]) -> Coordination:
    return open_coordination(usecase_paths(root), "demo", env)


def _holder(root: Path, env: dict[str, str], ready: Path) -> subprocess.Popen:
    """Another process that takes the lock and keeps it until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]
        from test_batch_claim import _coordination
        coordination = _coordination(Path({str(root)!r}), {env!r})
        with coordination.claims.claim({SHA!r}, timeout_seconds=5):
            Path({str(ready)!r}).write_text("held")
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "the holder died before taking the lock"
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.05)
    return proc


def test_a_held_lock_makes_the_second_process_wait_and_names_the_holder(
    tmp_path: Path, coordination_env: dict[str, str]
) -> None:
    proc = _holder(tmp_path, coordination_env, tmp_path / "ready")
    coordination = _coordination(tmp_path, coordination_env)
    try:
        waited: list[str] = []
        with pytest.raises(BatchClaimedError, match=f"pid {proc.pid}"):
            with coordination.claims.claim(SHA, timeout_seconds=0.5, on_wait=waited.append):
                pytest.fail("two holders of one lock")
        assert len(waited) == 1 and f"pid {proc.pid}" in waited[0]
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_releases_the_lock_and_the_waiter_goes_on(
    tmp_path: Path, coordination_env: dict[str, str]
) -> None:
    proc = _holder(tmp_path, coordination_env, tmp_path / "ready")
    proc.kill()  # SIGKILL: no cleanup code runs in the holder
    proc.wait()
    coordination = _coordination(tmp_path, coordination_env)
    entered = False
    # The kernel closes its file; the database ends its session.
    with coordination.claims.claim(SHA, timeout_seconds=10):
        entered = True
    assert entered
    # Another lock was never blocked by this one.
    with coordination.claims.claim("cd" * 32, timeout_seconds=0.1):
        pass

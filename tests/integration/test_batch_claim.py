"""The batch claim holds across real processes and dies with its holder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tasks.storage import BatchClaimedError, claim_batch

# slow (left out of `make test-fast`): each test runs and kills a second Python process.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHA = "ab" * 32


def _holder(folder: Path, ready: Path) -> subprocess.Popen:
    """Another process that takes the claim and keeps it until killed."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from tasks.storage import claim_batch
        with claim_batch(Path({str(folder)!r}), {SHA!r}, timeout_seconds=5):
            Path({str(ready)!r}).write_text("held")
            time.sleep(600)
        """
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "the holder died before taking the claim"
        assert time.monotonic() < deadline, "the holder never took the claim"
        time.sleep(0.05)
    return proc


def test_a_held_claim_makes_the_second_process_wait_and_names_the_holder(
    tmp_path: Path,
) -> None:
    proc = _holder(tmp_path / "claims", tmp_path / "ready")
    try:
        waited: list[str] = []
        with pytest.raises(BatchClaimedError, match=f"pid {proc.pid}"):
            with claim_batch(tmp_path / "claims", SHA, timeout_seconds=0.5, on_wait=waited.append):
                pytest.fail("two holders of one claim")
        assert len(waited) == 1 and f"pid {proc.pid}" in waited[0]
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_releases_the_claim_and_the_waiter_goes_on(tmp_path: Path) -> None:
    proc = _holder(tmp_path / "claims", tmp_path / "ready")
    proc.kill()  # SIGKILL: no cleanup code runs in the holder
    proc.wait()
    entered = False
    with claim_batch(tmp_path / "claims", SHA, timeout_seconds=5):
        entered = True
    assert entered
    # Another batch was never blocked by this one's claim.
    with claim_batch(tmp_path / "claims", "cd" * 32, timeout_seconds=0.1):
        pass

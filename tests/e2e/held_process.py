"""A command the test holds at a point, then kills with SIGKILL, never leaving a child behind."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psutil


class HeldCommand:
    """A running command and the processes it started, as seen before the kill."""

    def __init__(self, command: subprocess.Popen) -> None:
        self.command = command
        self.started: list[psutil.Process] = []

    def children(self) -> list[psutil.Process]:
        """Every process the command has started so far (recorded for the cleanup)."""
        self.started = psutil.Process(self.command.pid).children(recursive=True)
        return self.started

    def sigkill(self, grace_seconds: float) -> list[psutil.Process]:
        """``kill -9`` the command (no cleanup of its own can run).

        Returns:
            The processes it had started that are still alive ``grace_seconds`` later.
        """
        self.command.send_signal(signal.SIGKILL)
        self.command.wait(timeout=30)
        _, alive = psutil.wait_procs(self.started, timeout=grace_seconds)
        return alive


@contextmanager
def held(command: subprocess.Popen) -> Iterator[HeldCommand]:
    """Hold ``command``; on leaving, end it and whatever it started if still running.

    The product promises that nothing outlives a killed command; should that
    promise break, the test fails on it, but no process is left running on the
    machine after the test either way.
    """
    hold = HeldCommand(command)
    try:
        yield hold
    finally:
        for leftover in hold.started:
            if leftover.is_running():
                leftover.kill()
        if command.poll() is None:
            command.kill()

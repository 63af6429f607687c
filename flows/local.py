"""Flow runs in this process: commands, the demo, catch-up loops, tests.

Prefect 3.9 starts a heartbeat thread for every flow run
(``flows.heartbeat_frequency``, 180 s by default). Heartbeats serve deployment
runs: an automation marks a run Crashed when its heartbeats stop ("detect
zombie flows" in Prefect's documentation). The thread sleeps in 1 s steps and
is joined when the run ends, so every run returns to its caller up to 1 s after
it completed: at 100,000 rows, up to a third of a monitor cycle outside its
statistics, and a catch-up of 50 batches (50 subflows) idles up to 50 s.

Where a heartbeat detects nothing, runs go without it:

- a command run in a terminal (``mlops monitor``, ``mlops demo``): whoever
  started it sees it end, and the ephemeral server ends with the process;
- a subflow: it runs in the process of its parent, whose own heartbeat
  already says whether that process is alive.

Deployment runs (``prefect.yaml``) keep Prefect's default, so a crashed worker
machine is still detected where an automation watches for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs started inside the block emit no heartbeats (see the module docstring).

    The setting is Prefect's settings context, so it holds for this thread's
    flow runs and their subflows, and a run already going keeps its own.
    """
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield

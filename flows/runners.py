"""Task runners by configuration: threads on one machine, Dask to scale out.

A setting is a short string, given as a flow parameter, a CLI option or the
``MLOPS_TASK_RUNNER`` environment variable:

- ``threads`` (default) or ``threads:N``: Prefect's thread pool, N workers
  (default: one per core). Policies share work through an in-memory cache.
- ``dask`` or ``dask:N``: a local Dask cluster of N worker processes (default
  2), one thread each, started for the flow run and closed after it.
- ``dask:tcp://host:8786`` (or ``dask:tls://...``): an existing Dask cluster;
  its workers must have this project installed.

Process-based runners cannot share in-memory caches across workers; flows ask
:func:`shares_memory` before passing one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

ENV_VAR = "MLOPS_TASK_RUNNER"
DEFAULT = "threads"


@dataclass(frozen=True)
class RunnerSetting:
    """A parsed task-runner setting."""

    kind: Literal["threads", "dask"]
    workers: int | None = None
    address: str | None = None

    @property
    def shares_memory(self) -> bool:
        """Tasks run in this process and can share Python objects."""
        return self.kind == "threads"


def parse_runner(setting: str | None = None) -> RunnerSetting:
    """Parse a setting (None: ``$MLOPS_TASK_RUNNER`` or ``threads``).

    Raises:
        ValueError: An unknown kind, a worker count below 1, or an address
            that is not tcp:// or tls://.
    """
    text = (setting or os.environ.get(ENV_VAR) or DEFAULT).strip()
    kind, _, arg = text.partition(":")
    if kind not in ("threads", "dask"):
        raise ValueError(
            f"task runner {text!r}: use threads, threads:N, dask, dask:N or dask:ADDRESS"
        )
    if kind == "dask" and arg.startswith(("tcp", "tls")):
        if "://" not in arg:
            raise ValueError(f"task runner {text!r}: a Dask address looks like tcp://host:8786")
        return RunnerSetting("dask", address=arg)
    workers = None
    if arg:
        if not arg.isdigit() or int(arg) < 1:
            raise ValueError(f"task runner {text!r}: the worker count must be a positive integer")
        workers = int(arg)
    return RunnerSetting(kind, workers=workers if kind == "threads" else (workers or 2))  # type: ignore[arg-type]


def make_task_runner(setting: RunnerSetting) -> Any:
    """The Prefect task runner for a setting (not started; use it as a context manager)."""
    if setting.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=setting.workers)
    from prefect_dask import DaskTaskRunner

    if setting.address:
        return DaskTaskRunner(address=setting.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": setting.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            # The workers' statistical profiler feeds the dashboard, which is off: it
            # samples every 10 ms, half an idle worker's CPU, and takes the GIL from fits.
            "config": {"distributed.worker.profile.enabled": False},
        },
    )

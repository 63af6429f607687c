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

import logging
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


#: Dask settings of the local clusters this module starts. Every Dask server (the
#: scheduler, each nanny, each worker) by default measures its event loop every
#: 20 ms, its host every 0.5 s and its worker's memory every 0.1 s; for a few
#: long CPU-bound tasks that is a tenth of a core of bookkeeping, and each wake-up
#: takes the GIL from the fit running beside it. The workers' statistical profiler
#: (every 10 ms) only feeds the dashboard, which is off. The memory limits still
#: hold, checked twice a second.
LOCAL_DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


#: What a Dask worker logs, with a traceback, when a heartbeat to its scheduler
#: fails. ``Worker.close`` closes the worker's connections while a heartbeat may
#: still be in flight; that heartbeat then fails and logs this ERROR, printed after
#: a run that succeeded (a known race of Dask's shutdown, most often seen on a busy
#: machine).
CLOSING_HEARTBEAT_MESSAGE = "Failed to communicate with scheduler during heartbeat."
#: The states of a worker that is shutting down (``distributed.core.Status`` names).
_WORKER_CLOSING = frozenset({"closing", "closing_gracefully", "closed"})


class ClosingHeartbeatFilter(logging.Filter):
    """Drops the heartbeat failure a worker logs while it closes itself.

    A heartbeat that fails while the worker runs is still logged: only the one the
    worker's own shutdown breaks is dropped.
    """

    def __init__(self, worker: Any) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but the heartbeat failure of a closing worker."""
        if record.getMessage() != CLOSING_HEARTBEAT_MESSAGE:
            return True
        return getattr(self._worker.status, "name", None) not in _WORKER_CLOSING


def dask_setup(worker: Any) -> None:
    """Dask's preload hook, run in each worker process of the local clusters.

    Args:
        worker: The ``distributed.Worker`` starting in this process.
    """
    logging.getLogger("distributed.worker").addFilter(ClosingHeartbeatFilter(worker))


def local_dask_cluster(**cluster_kwargs: Any) -> Any:
    """A local Dask cluster whose workers report to this process's Prefect API.

    Called by the task runner when a flow run first submits to it. Worker
    processes do not inherit the flow's settings, only its environment: without
    ``PREFECT_API_URL`` there, each worker would start an ephemeral API server of
    its own (a uvicorn process per worker) when the flow itself runs on one.

    Args:
        cluster_kwargs: Passed on to ``distributed.LocalCluster``.

    Returns:
        The started cluster.
    """
    import dask
    from distributed import LocalCluster
    from prefect.client.orchestration import get_client

    # The URL of the configured server, or of the ephemeral one this process runs.
    api_url = str(get_client(sync_client=True).api_url)
    env = {**cluster_kwargs.pop("env", {}), "PREFECT_API_URL": api_url}
    # The scheduler and the nannies run in this process and read the settings when
    # they start; the workers get them through their nannies. Each worker process
    # runs this module's ``dask_setup`` as it starts.
    with dask.config.set(LOCAL_DASK_CONFIG):
        return LocalCluster(**cluster_kwargs, env=env, config=LOCAL_DASK_CONFIG, preload=[__name__])


def make_task_runner(setting: RunnerSetting) -> Any:
    """The Prefect task runner for a setting (not started; use it as a context manager)."""
    if setting.kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=setting.workers)
    from prefect_dask import DaskTaskRunner

    if setting.address:
        return DaskTaskRunner(address=setting.address)
    return DaskTaskRunner(
        cluster_class=local_dask_cluster,
        cluster_kwargs={
            "n_workers": setting.workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        },
    )

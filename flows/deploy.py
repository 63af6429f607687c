"""Deployments of a use case of your own on a Prefect server (``mlops deploy``).

``prefect.yaml`` declares the shipped retail demo's deployments. A use-case
file of your own gets the same set, registered from the file, without editing
``prefect.yaml``:

========================  ==========================================  ============
deployment                flow                                        when
========================  ==========================================  ============
``monitor-NAME``          ``monitor_landed``: every batch in landing  cron schedule
``monitor-batch-NAME``    ``monitor``: one named batch                manual
``score-NAME``            ``score_batch``                             manual
``bootstrap-NAME``        ``bootstrap``                               manual
``rollback-NAME``         ``rollback``                                manual
``review-NAME``           ``review_held_predictions``                 manual
========================  ==========================================  ============

NAME is the use case's ``name``. Every deployment's ``usecase_path``
parameter is the file (relative to the project folder when it lies inside it,
absolute otherwise) and its parameter form is built from the flow's signature
and docstring, as ``prefect deploy`` does.

They are registered like ``prefect deploy`` registers ``prefect.yaml``'s:
entrypoints relative to the project folder and the same pull step
(``set_working_directory`` to ``$MLOPS_PROJECT_DIR``), so the process worker
``mlops up`` starts runs them from the project folder. Applying again updates
in place: a deployment is keyed by its flow and name (same id), and the
schedule carries a slug, so the server patches it (same schedule id) instead of
deleting it and creating it again.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The process work pool ``mlops up`` creates, and where deployments go when
#: Prefect's ``deployments.default_work_pool_name`` names none.
WORK_POOL = "mlops-process"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The pull step of prefect.yaml (a unit test keeps the two equal): the worker
# changes to the project folder it was given before it loads the entrypoint.
PULL_STEPS: tuple[dict[str, dict[str, str]], ...] = (
    {
        "prefect.deployments.steps.set_working_directory": {
            "directory": "{{ $MLOPS_PROJECT_DIR }}",
        }
    },
)
TAG = "mlops"
SCHEDULE_SLUG = "monitor-landed"
# 06:00, like the retail demo's schedule. A batch is complete only once its
# period is over, so the run is placed at the start of the next period.
CRON_BY_PERIOD: Mapping[str | None, str] = {
    "day": "0 6 * * *",
    "week": "0 6 * * 1",
    "month": "0 6 1 * *",
    # Integer periods: their length is unknown. Daily, because a run that finds
    # landing empty costs a few seconds, while a batch that waits for a weekly
    # run can wait six days.
    None: "0 6 * * *",
}


class DeployError(RuntimeError):
    """The use case cannot be deployed; the message says what to do."""


class ScheduleError(DeployError, ValueError):
    """The given cron or time zone is invalid (a usage error: nothing was contacted)."""


@dataclass(frozen=True)
class FlowDeployment:
    """One deployment every use case gets: which flow, how it is named, what it does."""

    verb: str
    entrypoint: str
    description: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    scheduled: bool = False

    def name(self, usecase_name: str) -> str:
        """The deployment's name for one use case: ``<verb>-<use-case name>``."""
        return deployment_name(self.verb, usecase_name)

    def load_flow(self) -> Any:
        """The flow object behind the entrypoint (imported as a module of the project)."""
        file, function = self.entrypoint.split(":")
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        return getattr(module, function)


DEPLOYMENTS: tuple[FlowDeployment, ...] = (
    FlowDeployment(
        "monitor",
        "flows/cycle.py:monitor_landed",
        "Scheduled monitoring: each batch waiting in landing is validated, scored, "
        "guarded and monitored, oldest first; retraining and promotion happen when "
        "the decisions say so.",
        scheduled=True,
    ),
    FlowDeployment(
        "monitor-batch",
        "flows/cycle.py:monitor",
        "One monitoring cycle for one named batch in landing (manual trigger).",
    ),
    FlowDeployment(
        "score",
        "flows/cycle.py:score_batch",
        "Validate, predict and guard one landed batch without monitoring.",
    ),
    FlowDeployment(
        "bootstrap",
        "flows/cycle.py:bootstrap",
        "Train the first champion on the labeled batches in landing.",
    ),
    FlowDeployment(
        "rollback",
        "flows/cycle.py:rollback",
        "Move alias champion back to the previous version, recording why and who asked.",
        parameters={"reason": "manual rollback from the Prefect UI"},
    ),
    FlowDeployment(
        "review",
        "flows/review.py:review_held_predictions",
        "Review the predictions guardrails held back: the run pauses with a form listing "
        "them and why; approved and overridden rows are released beside the batch's "
        "predictions, every review is recorded.",
    ),
)


def deployment_name(verb: str, usecase_name: str) -> str:
    """``<verb>-<use-case name>``; the name is kept as written (names differ by ``-``/``_``)."""
    return f"{verb}-{usecase_name}"


def default_cron(period: str | None) -> str:
    """When ``monitor-NAME`` runs by default, from the use case's ``data.period``.

    Args:
        period: ``day``, ``week``, ``month``, or None for integer periods.

    Returns:
        A cron at 06:00: daily for days and integer periods, Mondays for weeks,
        the 1st for months.
    """
    try:
        return CRON_BY_PERIOD[period]
    except KeyError:
        raise ValueError(f"unknown period {period!r}: expected day, week or month") from None


def usecase_parameter(path: Path, project_dir: Path = PROJECT_DIR) -> str:
    """The ``usecase_path`` a worker running in the project folder opens.

    Relative to the project folder when the file lies inside it (the same path
    on every machine with a checkout), absolute otherwise.
    """
    resolved = path.resolve()
    try:
        return resolved.relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return str(resolved)


@dataclass(frozen=True)
class DeployPlan:
    """What ``mlops deploy`` registers for one use case."""

    usecase_name: str
    usecase_path: str
    cron: str
    timezone: str
    work_pool: str
    data_root: str | None = None

    def parameters(self, spec: FlowDeployment) -> dict[str, str]:
        """The deployment's default parameters: the use-case file, the data root if given."""
        values = {"usecase_path": self.usecase_path, **spec.parameters}
        if self.data_root is not None:
            values["data_root"] = self.data_root
        return values

    @property
    def tags(self) -> list[str]:
        """Tags of every deployment of the use case (filter on the name in the UI)."""
        return [TAG, self.usecase_name]


@dataclass(frozen=True)
class AppliedDeployment:
    """A deployment as registered: full name (``flow/deployment``), id, schedule."""

    full_name: str
    id: str
    cron: str | None


def plan_deployments(
    usecase_file: Path,
    *,
    cron: str | None = None,
    timezone: str = "UTC",
    work_pool: str | None = None,
    data_root: str | Path | None = None,
) -> DeployPlan:
    """Validate the use-case file and the schedule; nothing is contacted.

    Args:
        usecase_file: The use-case YAML file.
        cron: When ``monitor-NAME`` runs; None derives it from ``data.period``.
        timezone: IANA time zone of the cron.
        work_pool: Work pool; None is the setting ``deployments.default_work_pool_name``,
            else the pool ``mlops up`` creates.
        data_root: Data root the flows use; None leaves it to the worker's ``$MLOPS_HOME``.

    Raises:
        UseCaseError: The use-case file is invalid (one line naming file and key).
        ScheduleError: The cron or the time zone is invalid.
    """
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    from tasks.storage import load_usecase_file

    usecase = load_usecase_file(usecase_file)
    chosen = cron if cron is not None else default_cron(usecase.data.period)
    try:
        CronSchedule(cron=chosen, timezone=timezone)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = "--timezone" if problem["loc"][:1] == ("timezone",) else "--cron"
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise ScheduleError(f"{where}: {message}") from None
    return DeployPlan(
        usecase_name=usecase.name,
        usecase_path=usecase_parameter(usecase_file),
        cron=chosen,
        timezone=timezone,
        work_pool=work_pool or _default_work_pool(),
        data_root=str(Path(data_root).expanduser().resolve()) if data_root is not None else None,
    )


def _default_work_pool() -> str:
    from prefect.settings import get_current_settings

    return get_current_settings().deployments.default_work_pool_name or WORK_POOL


def resolve_api_url(api_url: str | None) -> str:
    """The Prefect API to deploy to: ``api_url``, else ``PREFECT_API_URL`` (env or profile).

    Raises:
        DeployError: None is set: a command's own ephemeral server ends with the
            command, so it is no place for deployments.
    """
    from prefect.settings import get_current_settings

    url = api_url or get_current_settings().api.url
    if not url:
        raise DeployError(
            "no Prefect server to deploy to: PREFECT_API_URL is not set (the temporary "
            "server a command starts for itself stops with it). Start the stack with "
            "`mlops up` and export the PREFECT_API_URL it prints, or set PREFECT_API_URL "
            "to your Prefect server."
        )
    return url


def apply_plan(plan: DeployPlan, api_url: str) -> list[AppliedDeployment]:
    """Register (or update in place) the use case's deployments on the server at ``api_url``.

    Raises:
        DeployError: No server answers there, the work pool does not exist, or
            the server refused a deployment.
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments.runner import DeploymentApplyError
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
            if failure is not None:
                detail = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
                raise DeployError(
                    f"no Prefect server answers at {api_url} ({detail}): start the stack "
                    "with `mlops up`, or set PREFECT_API_URL to a running Prefect server"
                )
            try:
                client.read_work_pool(plan.work_pool)
            except ObjectNotFound:
                raise DeployError(
                    f"work pool {plan.work_pool!r} does not exist on {api_url}: `mlops up` "
                    f"creates {WORK_POOL!r}; choose an existing one with --pool"
                ) from None
        applied = []
        for spec in DEPLOYMENTS:
            deployment = _runner_deployment(plan, spec)
            try:
                deployment_id = deployment.apply()
            except (DeploymentApplyError, PrefectHTTPStatusError) as exc:
                raise DeployError(
                    f"the Prefect server at {api_url} refused {deployment.full_name}: "
                    f"{_refusal(exc)}"
                ) from None
            applied.append(
                AppliedDeployment(
                    full_name=deployment.full_name,
                    id=str(deployment_id),
                    cron=plan.cron if spec.scheduled else None,
                )
            )
    return applied


def _refusal(exc: Exception) -> str:
    """The server's own words (the ``detail`` of its answer) when it gave any."""
    response = getattr(exc, "response", None)
    try:
        detail = response.json().get("detail") if response is not None else None
    except ValueError:
        detail = None
    return str(detail or exc).strip().splitlines()[0]


class _ProjectFolder:
    """Flow code in the project folder the worker runs in: no download, only the pull step."""

    def __init__(self) -> None:
        self._base_path = PROJECT_DIR

    def set_base_path(self, path: Path) -> None:
        self._base_path = path

    @property
    def destination(self) -> Path:
        return self._base_path

    @property
    def pull_interval(self) -> int | None:
        return None

    async def pull_code(self) -> None:
        return None

    def to_pull_step(self) -> list[dict[str, dict[str, str]]]:
        return [dict(step) for step in PULL_STEPS]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ProjectFolder)

    def __hash__(self) -> int:
        return hash(_ProjectFolder)


def _runner_deployment(plan: DeployPlan, spec: FlowDeployment) -> Any:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.deployments.runner import RunnerDeployment

    schedules = None
    if spec.scheduled:
        schedules = [
            DeploymentScheduleCreate(
                schedule=CronSchedule(cron=plan.cron, timezone=plan.timezone),
                slug=SCHEDULE_SLUG,
                active=True,
            )
        ]
    deployment = RunnerDeployment.from_flow(
        spec.load_flow(),
        name=spec.name(plan.usecase_name),
        schedules=schedules,
        parameters=plan.parameters(spec),
        description=spec.description,
        tags=plan.tags,
        work_pool_name=plan.work_pool,
        enforce_parameter_schema=True,
    )
    # from_flow takes the entrypoint relative to the current folder; the worker
    # resolves it in the project folder.
    deployment.entrypoint = spec.entrypoint
    deployment.storage = _ProjectFolder()
    return deployment


def deploy_usecase(
    usecase_file: Path,
    *,
    cron: str | None = None,
    timezone: str = "UTC",
    work_pool: str | None = None,
    data_root: str | Path | None = None,
    api_url: str | None = None,
) -> tuple[DeployPlan, list[AppliedDeployment]]:
    """Validate a use case and register its deployments (see the module docstring).

    Args:
        usecase_file: The use-case YAML file.
        cron: When ``monitor-NAME`` runs; None derives it from ``data.period``.
        timezone: IANA time zone of the cron.
        work_pool: Work pool (default: ``deployments.default_work_pool_name``, else
            the pool ``mlops up`` creates).
        data_root: Data root the flows use; None leaves it to the worker's ``$MLOPS_HOME``.
        api_url: The Prefect API (default: ``PREFECT_API_URL``).

    Returns:
        The plan and the deployments as registered.

    Raises:
        UseCaseError: The use-case file is invalid.
        DeployError: Bad schedule, no server, no such work pool, or a refusal.
    """
    plan = plan_deployments(
        usecase_file, cron=cron, timezone=timezone, work_pool=work_pool, data_root=data_root
    )
    return plan, apply_plan(plan, resolve_api_url(api_url))

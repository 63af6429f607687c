"""``mlops deploy``'s plan: schedule from the period, names, parameters; no server needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.deploy import (
    DEPLOYMENTS,
    PROJECT_DIR,
    PULL_STEPS,
    ScheduleError,
    default_cron,
    deployment_name,
    plan_deployments,
    usecase_parameter,
)
from mlops_core.config import UseCaseError

pytestmark = pytest.mark.unit

USECASES = PROJECT_DIR / "usecases"


@pytest.mark.parametrize(
    ("period", "cron"),
    [("day", "0 6 * * *"), ("week", "0 6 * * 1"), ("month", "0 6 1 * *"), (None, "0 6 * * *")],
)
def test_default_cron_follows_the_period(period: str | None, cron: str) -> None:
    assert default_cron(period) == cron


def test_an_unknown_period_has_no_default_cron() -> None:
    with pytest.raises(ValueError, match="quarter"):
        default_cron("quarter")


@pytest.mark.parametrize(
    ("file", "cron"),
    [
        ("bike_sharing.yaml", "0 6 1 * *"),  # monthly batches
        ("walmart_sales.yaml", "0 6 * * 1"),  # weekly batches
        ("retail_demand.yaml", "0 6 * * *"),  # integer periods
    ],
)
def test_plan_of_a_shipped_usecase(file: str, cron: str) -> None:
    plan = plan_deployments(USECASES / file)
    name = yaml.safe_load((USECASES / file).read_text(encoding="utf-8"))["name"]
    assert plan.usecase_name == name
    assert plan.cron == cron and plan.timezone == "UTC"
    assert plan.usecase_path == f"usecases/{file}"
    assert plan.tags == ["mlops", name]
    assert plan.data_root is None
    for spec in DEPLOYMENTS:
        params = plan.parameters(spec)
        assert params["usecase_path"] == f"usecases/{file}"
        assert "data_root" not in params, "the worker's MLOPS_HOME applies"


def test_names_are_verb_dash_usecase_name_one_scheduled() -> None:
    names = {spec.name("my_case") for spec in DEPLOYMENTS}
    assert names == {
        "monitor-my_case",
        "monitor-batch-my_case",
        "score-my_case",
        "bootstrap-my_case",
        "rollback-my_case",
        "review-my_case",
    }
    # Use-case names may hold "-" and "_": kept as written, two names never share deployments.
    assert deployment_name("score", "a-b") != deployment_name("score", "a_b")
    assert [spec.verb for spec in DEPLOYMENTS if spec.scheduled] == ["monitor"]


def test_same_flows_and_pull_step_as_prefect_yaml() -> None:
    """Every deployment prefect.yaml gives the retail demo, a deployed use case gets too."""
    config = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text(encoding="utf-8"))
    assert [dict(step) for step in PULL_STEPS] == config["pull"]
    retail = {
        d["name"].removesuffix("-retail-demand"): d["entrypoint"]
        for d in config["deployments"]
        if d["name"].endswith("-retail-demand")
    }
    assert retail == {spec.verb: spec.entrypoint for spec in DEPLOYMENTS}
    rollback = next(d for d in config["deployments"] if d["name"] == "rollback-retail-demand")
    ours = next(spec for spec in DEPLOYMENTS if spec.verb == "rollback")
    assert ours.parameters["reason"] == rollback["parameters"]["reason"]


def test_every_deployed_flow_has_a_described_form_with_the_usecase_path() -> None:
    from prefect.utilities.callables import parameter_schema

    for spec in DEPLOYMENTS:
        flow = spec.load_flow()
        schema = parameter_schema(flow).model_dump()
        properties = schema["properties"]
        assert "usecase_path" in properties and "data_root" in properties, spec.entrypoint
        missing = [name for name, p in properties.items() if not p.get("description")]
        assert missing == [], (spec.entrypoint, missing)
        assert set(spec.parameters) <= set(properties), spec.entrypoint


def test_usecase_path_is_relative_inside_the_project_absolute_outside(tmp_path: Path) -> None:
    assert usecase_parameter(USECASES / "elec2.yaml") == "usecases/elec2.yaml"
    outside = tmp_path / "mine.yaml"
    assert usecase_parameter(outside) == str(outside.resolve())
    assert Path(usecase_parameter(Path("usecases/../usecases/elec2.yaml"))) == Path(
        "usecases/elec2.yaml"
    )


def test_given_schedule_pool_and_data_root(tmp_path: Path) -> None:
    plan = plan_deployments(
        USECASES / "elec2.yaml",
        cron="15 7 * * 2",
        timezone="Europe/Paris",
        work_pool="other-pool",
        data_root=tmp_path / "data",
    )
    assert (plan.cron, plan.timezone) == ("15 7 * * 2", "Europe/Paris")
    assert plan.work_pool == "other-pool"
    rollback = next(spec for spec in DEPLOYMENTS if spec.verb == "rollback")
    assert plan.parameters(rollback) == {
        "usecase_path": "usecases/elec2.yaml",
        "reason": "manual rollback from the Prefect UI",
        "data_root": str((tmp_path / "data").resolve()),
    }


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"cron": "61 * * * *"}, "--cron"),
        ({"cron": "every monday"}, "--cron"),
        ({"timezone": "Mars/Olympus"}, "--timezone"),
    ],
)
def test_a_bad_schedule_is_refused_before_any_server(options: dict[str, str], where: str) -> None:
    with pytest.raises(ScheduleError, match=f"^{where}: "):
        plan_deployments(USECASES / "elec2.yaml", **options)


def test_a_bad_usecase_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Not A Name\n", encoding="utf-8")
    with pytest.raises(UseCaseError, match="name"):
        plan_deployments(bad)

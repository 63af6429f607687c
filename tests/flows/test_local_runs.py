"""Flows run from a command, the demo or a catch-up loop emit no heartbeats (flows/local.py).

Prefect's flow engine reads ``flows.heartbeat_frequency`` from the settings
context when a run starts; None starts no heartbeat thread, so nothing is
joined when the run ends. The tests read what a flow run sees.
"""

from __future__ import annotations

import pytest
import typer
from prefect import flow
from prefect.settings import get_current_settings, temporary_settings
from typer.testing import CliRunner

from flows.cli import run_flows_here, set_environment_defaults
from flows.local import without_heartbeats

pytestmark = pytest.mark.flows


@flow
def seen_heartbeat_frequency() -> int | None:
    """The heartbeat setting a flow run starts with."""
    return get_current_settings().flows.heartbeat_frequency


@flow
def parent_of_subflows() -> list[int | None]:
    """A flow that starts subflows as the catch-up loop and the demo do."""
    own = get_current_settings().flows.heartbeat_frequency
    with without_heartbeats():
        return [own, seen_heartbeat_frequency(), seen_heartbeat_frequency()]


def test_runs_inside_the_block_have_no_heartbeat_and_prefects_default_returns_after() -> None:
    with temporary_settings(restore_defaults={"flows.heartbeat_frequency"}):
        default = seen_heartbeat_frequency()
        with without_heartbeats():
            inside = seen_heartbeat_frequency()
        after = seen_heartbeat_frequency()
    assert default == after == 180  # Prefect 3.9's default: deployment runs keep it
    assert inside is None


def test_subflows_go_without_while_their_parent_keeps_its_own() -> None:
    with temporary_settings(restore_defaults={"flows.heartbeat_frequency"}):
        own, *subflows = parent_of_subflows()
    assert own == 180
    assert subflows == [None, None]


def test_a_command_runs_its_flows_without_heartbeats_until_it_ends() -> None:
    app = typer.Typer()
    seen: list[int | None] = []

    @app.command()
    def run(command: typer.Context) -> None:
        set_environment_defaults()
        run_flows_here(command)
        seen.append(seen_heartbeat_frequency())

    @app.command()
    def other() -> None:  # a second command makes "run" a subcommand, as in mlops
        pass

    with temporary_settings(restore_defaults={"flows.heartbeat_frequency"}):
        result = CliRunner().invoke(app, ["run"])
        seen.append(seen_heartbeat_frequency())
    assert result.exit_code == 0, result.output
    assert seen == [None, 180]

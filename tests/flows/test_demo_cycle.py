"""The demo, run through the real flows, produces the outcomes the product promises.

One demo run (module fixture) on the shipped simulator and use case (its cycle
reports without Evidently's part); each test checks one outcome against the
simulator's exported ground truth and against what MLflow and the data root
actually hold.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from usecase_variant import write_shipped_variant

from flows.cycle import monitor, rollback
from flows.demo import SHIPPED_USECASE, demo
from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, storage, training_runs
from tasks.runtime import open_runtime

# The first test runs the whole demo (26 live weeks through the flows) as its set-up:
# past 300 s on a loaded 2-core machine.
pytestmark = [pytest.mark.flows, pytest.mark.timeout(900)]

SEED = 7
LIVE_PERIODS = 26


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    base = tmp_path_factory.mktemp("demo")
    root = base / "home"
    monkeypatch_module.delenv("MLFLOW_TRACKING_URI", raising=False)
    # The shipped use case, with its cycle reports written (tests below read them)
    # without Evidently's part (1.5 s a week, no part of any decision): the same
    # name, folders, model and decisions.
    usecase = write_shipped_variant(base, cycle_report=True)
    rows = demo(
        data_root=str(root), seed=SEED, live_periods=LIVE_PERIODS, usecase_path=str(usecase)
    )
    rt = open_runtime(SHIPPED_USECASE, str(root))
    sim = RetailDemandSimulator(SimulatorConfig(seed=SEED, live_periods=LIVE_PERIODS))
    return root, rows, rt, sim


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _event_period(sim: RetailDemandSimulator, kind: str) -> int:
    return min(e.period for e in sim.events() if e.kind == kind)


def _decisions(rt, **tags):
    return decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags=tags or None, max_results=500
    )


def test_every_period_has_a_row(demo_run):
    _, rows, _, sim = demo_run
    assert rows[0].decision == "train"
    assert [r.period for r in rows[1:]] == list(
        range(sim.config.initial_periods, sim.total_periods)
    )


def test_champion_is_a_later_version_promoted_through_the_gate(demo_run):
    _, _, rt, _ = demo_run
    champ = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    assert champ is not None and int(champ.version) > 1
    promoted = [r for r in _decisions(rt, **{"mlops.kind": "promotion"}) if r.action == "promote"]
    versions = {r.tags.get("mlops.challenger_version") for r in promoted}
    assert champ.version in versions


def test_skip_with_no_decay_reason(demo_run):
    _, _, rt, _ = demo_run
    skips = [r for r in _decisions(rt, **{"mlops.kind": "retrain"}) if r.action == "skip"]
    assert any("no_decay" in r.reasons for r in skips)


def test_concept_drift_causes_a_retrain(demo_run):
    _, _, rt, sim = demo_run
    drift_at = _event_period(sim, "concept_drift")
    labels_seen = drift_at + sim.config.label_delay
    retrains = [r for r in _decisions(rt, **{"mlops.kind": "retrain"}) if r.action == "retrain"]
    caused = [
        r
        for r in retrains
        if labels_seen <= int(r.tags["mlops.period"]) <= labels_seen + 2
        and r.reasons[0] in ("realized_decay", "important_feature_drift")
    ]
    assert caused, [(r.tags["mlops.period"], r.reasons) for r in retrains]


def test_corrupt_batch_blocked_and_quarantined_byte_for_byte(demo_run):
    root, rows, rt, sim = demo_run
    corrupt_at = _event_period(sim, "corrupt_batch")
    row = next(r for r in rows if r.period == corrupt_at)
    assert row.validation == "fail" and row.decision == "block"
    quarantined = rt.paths.quarantine / f"period_{corrupt_at:03d}.csv"
    expected = sim.batch(corrupt_at).to_csv(index=False).encode("utf-8")
    assert hashlib.sha256(quarantined.read_bytes()).digest() == hashlib.sha256(expected).digest()
    assert (rt.paths.quarantine / f"{quarantined.name}.reason.json").exists()
    blocks = [r for r in _decisions(rt, **{"mlops.kind": "retrain"}) if r.action == "block"]
    assert any(r.tags["mlops.period"] == str(corrupt_at) for r in blocks)


def test_capacity_guardrail_acted(demo_run):
    _, rows, rt, _ = demo_run
    acted = {
        k: v for r in rows for k, v in r.guardrail_actions.items() if k.startswith("store_capacity")
    }
    assert sum(acted.values()) > 0
    preds = storage.read_frames(rt.paths.predictions)
    over = preds["raw_prediction"] > preds["prediction"] + 1e-9
    assert over.any(), "some raw forecast above capacity was clipped"


def test_landed_equals_accepted_plus_quarantined(demo_run):
    _, _, rt, sim = demo_run
    archived = storage.list_files(rt.paths.archive, "csv")
    quarantined = storage.list_files(rt.paths.quarantine, "csv")
    assert len(archived) + len(quarantined) == sim.total_periods
    assert not storage.list_files(rt.paths.landing, "csv")


def test_same_batch_under_a_new_name_is_processed_once(demo_run):
    root, _, rt, _ = demo_run
    before = len(_decisions(rt))
    source = sorted(storage.list_files(rt.paths.archive, "csv"))[-1]
    shutil.copyfile(source, rt.paths.landing / "redelivered.csv")
    result = monitor(str(SHIPPED_USECASE), "redelivered.csv", data_root=str(root))
    assert result.status == "duplicate"
    assert len(_decisions(rt)) == before


def test_rollback_moves_champion_back_and_is_recorded(demo_run):
    root, _, rt, _ = demo_run
    name = rt.usecase.registered_model_name
    champ = training_runs.get_model_version_info(rt.client, name, alias="champion")
    prev = training_runs.get_model_version_info(rt.client, name, alias="previous")
    assert champ is not None and prev is not None
    out = rollback(str(SHIPPED_USECASE), reason="test rollback", data_root=str(root))
    assert (out.from_version, out.to_version) == (champ.version, prev.version)
    now = training_runs.get_model_version_info(rt.client, name, alias="champion")
    assert now is not None and now.version == prev.version
    recorded = [r for r in _decisions(rt, **{"mlops.kind": "rollback"}) if r.action == "rollback"]
    assert recorded


def test_decision_records_are_json_and_markdown(demo_run):
    _, _, rt, _ = demo_run
    run = _decisions(rt, **{"mlops.kind": "retrain"})[0]
    files = {a.path for a in rt.client.list_artifacts(run.run_id)}
    assert {"decision.json", "decision.md"} <= files


def test_predictions_and_review_queue_are_consistent(demo_run):
    _, _, rt, _ = demo_run
    preds = storage.read_frames(rt.paths.predictions)
    review = storage.read_frames(rt.paths.review)
    assert not preds.empty
    if not review.empty:
        assert set(review["review_status"]) == {"pending"}
        assert (review["violations"].str.len() > 0).all()
        assert not set(review["row_id"]) & set(preds["row_id"])
    assert pd.api.types.is_float_dtype(preds["prediction"])


def test_events_reach_prefect(demo_run):
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter

    wanted = {
        "mlops.batch.quarantined",
        "mlops.model.retrained",
        "mlops.model.promoted",
        "mlops.guardrail.breach",
        "mlops.drift.detected",
    }
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        # Events are persisted asynchronously by the server: poll briefly.
        while time.monotonic() < deadline and not wanted <= seen:
            for name in wanted - seen:
                page = client.read_events(
                    filter=EventFilter(event=EventNameFilter(name=[name])), limit=1
                )
                if page.events:
                    assert page.events[0].resource.id == "mlops.usecase.retail_demand"
                    seen.add(name)
            time.sleep(0.5)
    assert wanted <= seen, sorted(seen)


def test_cycle_markdown_artifact_holds_the_summary(demo_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["retail-demand-cycle"]))
        )
    assert len(arts) >= 20
    assert any(
        "**Summary.**" in str(a.data) and "We kept the current model" in str(a.data) for a in arts
    )


def test_status_command_shows_champion_history_and_decisions(demo_run):
    from typer.testing import CliRunner

    from flows.cli import app

    root, _, rt, _ = demo_run
    result = CliRunner().invoke(
        app, ["status", str(SHIPPED_USECASE), "--home", str(root)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    champ = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    assert f"champion is version {champ.version}" in result.output
    # Its decay reference, measured out of time when it was trained.
    assert champ.profile.decay_reference_basis == "out_of_time"
    assert f"{champ.profile.decay_reference_metric:.3f} expected one step after" in " ".join(
        result.output.split()
    )
    assert "latest decisions" in result.output and "versions" in result.output


def test_records_show_drift_estimates_and_attribution(demo_run):
    _, _, rt, _ = demo_run
    runs = [r for r in _decisions(rt, **{"mlops.kind": "retrain"}) if "realized" in r.metrics]
    assert runs, "cycles with newly labeled rows"
    assert all("estimated" in r.metrics for r in runs), "label-free estimate beside realized"
    assert all("importance_weighted_drift" in r.metrics for r in runs)
    markdowns = [
        Path(rt.client.download_artifacts(r.run_id, "decision.md")).read_text() for r in runs
    ]
    assert all(
        "estimated on the same rows" in md and "importance-weighted" in md for md in markdowns
    )
    decayed = [
        md
        for r, md in zip(runs, markdowns, strict=True)
        if r.reasons and r.reasons[0] == "realized_decay"
    ]
    assert decayed and all("**Attribution.**" in md for md in decayed)


def test_backtest_default_policy_decides_as_the_live_flow_did(demo_run):
    """The backtester's ``default`` policy is the live decision, not a copy of it."""
    from mlops_core.backtest import parse_policy, policy_settings
    from mlops_core.retrain import decide_retrain

    _, _, rt, _ = demo_run
    uc = rt.usecase
    settings = policy_settings(
        parse_policy("default"), uc.retrain, uc.drift, label_delay=uc.data.label_delay
    )
    assert settings is not None
    compared = 0
    for run in _decisions(rt, **{"mlops.kind": "retrain"}):
        live = decision_store.read_decision_record(rt.client, run.run_id, CycleRecord).retrain
        assert live is not None
        replayed = decide_retrain(live.inputs, *settings, uc.metric.primary)
        assert replayed.action == live.action
        assert [r.code for r in live.reasons] == [r.code for r in replayed.reasons]
        compared += 1
    assert compared >= 20


def test_each_cycle_report_is_logged_with_its_decision_and_linked_from_prefect(demo_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    _, _, rt, _ = demo_run
    latest = _decisions(rt, **{"mlops.kind": "retrain"})[0]
    logged = [a.path for a in rt.client.list_artifacts(latest.run_id)]
    reports = [p for p in logged if p.endswith(".html")]
    assert len(reports) == 1, logged
    html = Path(rt.client.download_artifacts(latest.run_id, reports[0])).read_text()
    assert html.startswith("<!DOCTYPE html>") and latest.run_id in html
    with get_client(sync_client=True) as client:
        links = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["retail-demand-cycle-report"])
            )
        )
    assert any(reports[0] in str(a.data) and latest.run_id in str(a.data) for a in links)


def test_the_champion_carries_its_model_card(demo_run):
    _, _, rt, _ = demo_run
    champion = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    version = rt.client.get_model_version(rt.usecase.registered_model_name, champion.version)
    assert version.description.startswith(f"# Model card: {rt.usecase.registered_model_name}")
    card = Path(rt.client.download_artifacts(champion.run_id, "model_card.md")).read_text()
    assert "## Known limits" in card and "## Promotion gate: `promote`" in card


def test_the_monitoring_run_charts_every_week_of_the_demo(demo_run):
    """One point per cycle (the bootstrap and each live week) in the monitoring run."""
    from tasks import monitoring_history
    from tasks.tags import TAG_MONITORING_RUN

    _, rows, rt, _ = demo_run
    monitoring = rt.client.get_experiment_by_name(rt.usecase.monitoring_experiment_name)
    run_id = monitoring_history.find_monitoring_run(rt.client, monitoring.experiment_id)
    assert run_id is not None
    periods = [r.period for r in rows]
    assert len(periods) >= 20
    for key in ("gate_passed", "retrain", "promoted", "champion_version"):
        steps = [m.step for m in rt.client.get_metric_history(run_id, key)]
        assert sorted(steps) == sorted(periods), key
    realized = {m.step: m.value for m in rt.client.get_metric_history(run_id, "realized")}
    assert realized == {r.period: r.realized for r in rows if r.realized is not None}
    promoted = {m.step for m in rt.client.get_metric_history(run_id, "promoted") if m.value}
    assert promoted == {r.period for r in rows if r.promotion == "promote"}
    assert all(
        rt.client.get_run(r.decision_run_id).data.tags[TAG_MONITORING_RUN] == run_id for r in rows
    )


def test_each_monitor_run_of_the_demo_logs_its_decision_sentence_to_prefect(demo_run):
    """The Prefect UI's log of every weekly ``monitor`` run says what was decided and why."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )

    root, rows, _, _ = demo_run
    weeks = {r.batch: r for r in rows[1:]}
    with get_client(sync_client=True) as client:
        # Page through every monitor run of the session's Prefect database (other
        # modules' runs are there too) and keep this demo's.
        runs, offset, page_size = [], 0, 200
        while True:
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["monitor"])),
                limit=page_size,
                offset=offset,
            )
            runs += [
                run
                for run in page
                if Path(run.parameters.get("data_root", "")).resolve() == root.resolve()
            ]
            if len(page) < page_size:
                break
            offset += page_size
        # The demo's run of each week is the first of that batch: later tests of
        # this module run more batches (and reruns) on the same data root.
        first: dict[str, Any] = {}
        for run in sorted(runs, key=lambda r: r.start_time or r.expected_start_time):
            first.setdefault(run.parameters["batch"], run)
        assert set(weeks) <= set(first), sorted(set(weeks) - set(first))
        for batch, week in weeks.items():
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[first[batch].id]))
            )
            said = [log.message for log in logs if "Decision: " in log.message]
            assert len(said) == 1, (week.batch, said)
            assert week.summary in said[0], (week.summary, said[0])
            assert f"Decision: {week.decision} (reason code {week.reason})" in said[0], said[0]


def test_the_browser_draws_the_monitoring_charts_with_every_point_of_the_run(
    demo_run, screenshots, tmp_path
):
    """MLflow's own UI, served on the demo's store, charts the monitoring run week by week.

    The page is opened in headless Chromium (bench/screenshots.py's driver) and
    read back from what it drew: the markers in each chart's SVG and the steps
    and values Plotly was given, compared with the run's metric history.
    """
    from tasks import monitoring_history
    from tasks.mlflow_store import mlflow_ui_link

    if shutil.which(screenshots.CHROMIUM) is None:
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium package")
    root, _, rt, _ = demo_run
    monitoring = rt.client.get_experiment_by_name(rt.usecase.monitoring_experiment_name)
    run_id = monitoring_history.find_monitoring_run(rt.client, monitoring.experiment_id)
    keys = ("realized", "estimated", "drift_share")
    stored = {
        key: sorted((m.step, m.value) for m in rt.client.get_metric_history(run_id, key))
        for key in keys
    }
    assert all(len(points) >= 20 for points in stored.values()), stored
    with screenshots.mlflow_ui(root, tmp_path / "mlflow-server.log") as url:
        capture = screenshots.capture_page(
            mlflow_ui_link(url, monitoring.experiment_id, run_id),
            network="loopback",
            width=1440,
            height=1000,
            full_page=False,
            ready=screenshots.MLFLOW_CHART_SEARCH,
            # Drawn once every stored point is: a chart still loading its history fails.
            steps=[
                (
                    screenshots.mlflow_show_only(keys),
                    screenshots.mlflow_charts_drawn(keys, min(map(len, stored.values()))),
                )
            ],
            evaluate={"charts": screenshots.MLFLOW_CHARTS},
            timeout=240,
        )
    (tmp_path / "charts.png").write_bytes(capture.png)
    assert capture.off_loopback_requests == []
    charts = {chart["title"]: chart for chart in capture.values["charts"]}
    assert set(charts) == set(keys), sorted(charts)
    for key in keys:
        [series] = charts[key]["series"]
        drawn = sorted(zip(series["x"], series["y"], strict=True))
        assert charts[key]["markers"] == len(drawn) >= 20, (key, charts[key]["markers"])
        assert [step for step, _ in drawn] == [step for step, _ in stored[key]], key
        assert [value for _, value in drawn] == pytest.approx(
            [value for _, value in stored[key]]
        ), key


def _expected_breach_alerts(records: list[CycleRecord], rule) -> list[tuple[int, list[str]]]:
    """Per measured week, the causes the configured threshold rule raises on the recorded
    conditions: written here from the rule's description, apart from the policy's code."""
    is_open: dict[str, bool] = {}
    last: dict[str, int] = {}  # last alert of any level
    last_over: dict[str, int] = {}  # last alert over the threshold
    clear: dict[str, int] = {}
    expected = []
    for rec in records:
        g = rec.guardrails
        if g is None:  # not measured: no evidence either way
            continue
        present = {cause: n for cause, n in g.actions.items() if n > 0}
        raised = []
        for cause, n in sorted(present.items()):
            crossed = n / g.rows >= rule.min_rate or (
                rule.min_count is not None and n >= rule.min_count
            )
            new = not is_open.get(cause, False)
            since = last_over if crossed else last
            quiet = cause not in since or rec.period - since[cause] >= rule.min_periods_between
            if g.breaker_tripped or ((crossed or (new and rule.new_cause)) and quiet):
                raised.append(cause)
                is_open[cause], last[cause] = True, rec.period
                if crossed or g.breaker_tripped:
                    last_over[cause] = rec.period
            clear[cause] = 0
        for cause, opened in is_open.items():
            if cause not in present:
                clear[cause] = clear.get(cause, 0) + 1
                if opened and clear[cause] >= rule.resolve_after:
                    is_open[cause] = False
        expected.append((rec.period, raised))
    return expected


def test_guardrail_alerts_fire_where_the_policy_says_and_every_muted_breach_is_counted(
    demo_run, prefect_events
):
    _, _, rt, _ = demo_run
    rule = rt.usecase.alerts.guardrail_breach
    assert rule.mode == "threshold", "the shipped use case keeps the default rule"
    records = sorted(
        (
            decision_store.read_decision_record(rt.client, run.run_id, CycleRecord)
            for run in _decisions(rt, **{"mlops.kind": "retrain"})
        ),
        key=lambda r: r.period,
    )
    measured = [r for r in records if r.guardrails is not None]
    assert len(measured) >= 20

    def breach(rec: CycleRecord, *actions: str):
        return [d for d in rec.alerts if d.kind == "guardrail_breach" and d.action in actions]

    actual = [(r.period, sorted(d.cause for d in breach(r, "raise"))) for r in measured]
    assert actual == _expected_breach_alerts(records, rule)

    breach_weeks = [r for r in measured if r.guardrails.violating_rows]
    alert_weeks = [r for r in measured if breach(r, "raise")]
    # The demo clips or flags rows on most weeks; the alert fires on far fewer of them.
    assert len(breach_weeks) >= len(measured) // 2
    assert 1 <= len(alert_weeks) < len(breach_weeks) // 2, (len(alert_weeks), len(breach_weeks))

    conditions = raised = muted = 0
    for r in measured:
        # Every condition of the week has exactly one decision, with its numbers.
        present = {c: n for c, n in r.guardrails.actions.items() if n > 0}
        assert {d.cause: d.count for d in breach(r, "raise", "mute")} == present, r.period
        conditions += len(present)
        raised += len(breach(r, "raise"))
        muted += len(breach(r, "mute"))
        if breach(r, "mute"):
            assert "muted (counted, no alert)" in r.summary, r.summary
    assert muted == conditions - raised and muted > 0, (conditions, raised, muted)

    # What was raised reached Prefect as the event the alert automation listens to.
    for r in alert_weeks:
        sha = r.gate.batch_sha256
        sent = prefect_events("mlops.guardrail.breach", lambda p, sha=sha: p.get("sha256") == sha)
        assert sent, f"no breach event for week {r.period}"
        assert sent[0].payload["causes"] == ", ".join(sorted(d.cause for d in breach(r, "raise")))

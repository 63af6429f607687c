"""The flows of one model in production: bootstrap, score_batch, monitor, rollback.

Flows compose tasks and branch only on decision values from mlops_core. How a
batch's decisions are recorded, carried out and committed (the ledger entry is
the commit marker), and what a rerun does after a crash, is the commit protocol
in ``tasks/commit_protocol.py``; these flows decide and hand it the outcome.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.challenger import challenge
from flows.cycle_table import recent_period_rows
from flows.local import without_heartbeats
from flows.report_writer import write_cycle_report
from mlops_core.alerting import AlertDecision, AlertKind, guardrail_conditions
from mlops_core.cycle import (
    DecisionHistory,
    bootstrap_inputs,
    build_retrain_inputs,
)
from mlops_core.decisions import (
    GateDecision,
    RetrainInputs,
)
from mlops_core.guardrails import GuardrailResult
from mlops_core.periods import period_label
from mlops_core.records import (
    BootstrapResult,
    CycleResult,
    EventPayload,
    LedgerEntry,
    MonitorLandedResult,
    RollbackRecord,
    RollbackResult,
    ScoreResult,
)
from mlops_core.report import CycleOutcome
from mlops_core.retrain import decide_retrain
from mlops_core.sentences import input_range_finding_sentence
from mlops_core.stats import attribute_decay
from mlops_core.training import Predictions, labeled_rows
from tasks import (
    alert_state,
    commit_protocol,
    decision_store,
    model_registry,
    steps,
    storage,
)
from tasks.commit_adapters import commit_ports
from tasks.history import read_decision_history
from tasks.notify import emit, publish_markdown, publish_table
from tasks.runtime import Runtime, open_runtime
from tasks.tags import (
    TAG_CHAMPION_VERSION,
    TAG_KIND,
    TAG_PREVIOUS_VERSION,
    Event,
)

#: Periods in the per-use-case table artifact a cycle publishes (``periods``).
RECENT_PERIODS = 20

#: Stands for the batch of a bootstrap (it trains on every landed batch at once).
BOOTSTRAP_SHA = "-" * 64


# ---------------------------------------------------------------- helpers
def _decision_history(rt: Runtime) -> DecisionHistory:
    """What earlier retrain-kind decisions of this use case say about the next one."""
    return read_decision_history(
        rt.client, rt.decisions_experiment_id, rt.usecase.retrain.budget_window_periods
    )


def _earliest(*periods: int | None) -> int | None:
    """The earliest of the periods; None (nothing known) when any is None."""
    return None if any(p is None for p in periods) else min(p for p in periods if p is not None)


def _latest(*periods: int | None) -> int | None:
    """The latest of the known periods; None when none is known."""
    known = [p for p in periods if p is not None]
    return max(known) if known else None


def _locate(rt: Runtime, batch: str) -> Path:
    """A batch by name: in landing, or in quarantine or the archive after an interrupted run.

    With a remote landing folder, a batch not fetched yet is fetched first.
    """
    path = storage.landed_batch(rt.paths.landing, batch)
    if path.exists():
        return path
    if rt.paths.landing_source is not None:
        steps.fetch_arrivals(rt, "landing")
        if path.exists():
            return path
    quarantined = storage.landed_batch(rt.paths.quarantine, batch)
    if quarantined.exists():
        return quarantined
    archived = storage.landed_batch(rt.paths.archive, batch)
    if archived.exists():
        # Archived by a run that died before its ledger entry: the rerun commits it.
        return archived
    raise FileNotFoundError(f"batch {batch!r} is not in {rt.paths.landing}")


@dataclass(frozen=True)
class Scored:
    """Outcome of validating and scoring one batch."""

    path: Path
    frame: pd.DataFrame | None
    gate: GateDecision
    period: int | None
    champion: steps.Champion | None
    guarded: GuardrailResult | None
    predicted: Predictions | None = None  # the champion's own output, before guardrails


def _validate_and_score(
    rt: Runtime, path: Path, sha256: str | None = None, stage: Path | None = None
) -> Scored:
    """Validate; quarantine a failure; score and guard a pass (shared by two flows).

    ``stage`` is the batch's staging folder when its outputs wait for the
    cycle's commit (``monitor``); ``score_batch`` writes them straight away.
    """
    frame, gate = steps.validate_batch(rt, path, sha256)
    period = steps.batch_period(frame, path, rt.usecase.data)
    champion = steps.load_champion(rt)
    if gate.action == "fail":
        if path.parent.resolve() != rt.paths.quarantine.resolve():
            steps.quarantine(rt, path, gate)
        emit(
            Event.BATCH_QUARANTINED,
            rt.name,
            EventPayload(
                batch=gate.batch,
                sha256=gate.batch_sha256,
                period=period,
                failed_rules=tuple(f"{r.column or '-'}:{r.rule}" for r in gate.failed_rules),
                reason=gate.reasons[0].message if gate.reasons else "",
            ),
        )
        return Scored(path, frame, gate, period, champion, None)
    assert frame is not None
    guarded = predicted = None
    if champion is not None:
        guarded, predicted = steps.score(rt, frame, champion)
        steps.write_scored(
            rt, frame, gate, guarded, champion.version, stage, probability=predicted[1]
        )
    # The guardrail events are sent by the alert policy (_alert_on_guardrails).
    return Scored(path, frame, gate, period, champion, guarded, predicted)


def _alert_on_guardrails(
    rt: Runtime, scored: Scored, period: int | None
) -> tuple[AlertDecision, ...]:
    """Put the batch's guardrail conditions through the alert policy; send what it raises.

    Every condition is decided (raised, muted and counted, collected for a
    digest) and the decisions go into the cycle's record; only a raised kind
    sends its event (``mlops.guardrail.breach`` or ``.finding``, which the
    alert automations listen to), once per batch. A resolved cause and a due
    digest send their own events. A batch decided before (a rerun) sends nothing.
    """
    if scored.guarded is None or scored.champion is None:
        return ()
    g, gate, version = scored.guarded.summary, scored.gate, scored.champion.version
    decided = alert_state.decide_round(
        rt.paths,
        rt.coordination.claims,
        rt.usecase.alerts,
        guardrail_conditions(g),
        measured=tuple(AlertKind),
        period=period,
        batch_sha256=gate.batch_sha256,
    )
    if decided.replayed:
        return decided.decisions
    facts = {
        AlertKind.GUARDRAIL_BREACH: (
            Event.GUARDRAIL_BREACH,
            EventPayload(
                violating_rows=g.violating_rows,
                held_rows=g.held_rows,
                breaker_tripped=g.breaker_tripped,
                actions=g.actions,
            ),
        ),
        AlertKind.GUARDRAIL_FINDING: (
            Event.GUARDRAIL_FINDING,
            EventPayload(
                columns=", ".join(f.column for f in g.findings),
                findings=" ".join(input_range_finding_sentence(f) for f in g.findings),
            ),
        ),
    }
    for kind, (event, facts_of_kind) in facts.items():
        raised = decided.of(kind, "raise")
        if raised:
            emit(
                event,
                rt.name,
                EventPayload(
                    batch=gate.batch,
                    sha256=gate.batch_sha256,
                    period=period,
                    rows=g.rows,
                    **{k: getattr(facts_of_kind, k) for k in facts_of_kind.model_fields_set},
                    causes=", ".join(d.cause for d in raised),
                    muted_since_last_alert=sum(d.muted_since_raised for d in raised),
                    alert_reasons=tuple(d.reason.code for d in raised),
                    reason=" ".join(d.reason.message for d in raised),
                ),
                related_version=version,
            )
    for d in decided.decisions:
        if d.action in ("resolve", "send_digest"):
            emit(
                Event.ALERT_RESOLVED if d.action == "resolve" else Event.ALERT_DIGEST,
                rt.name,
                EventPayload(
                    kind=d.kind,
                    causes=d.cause,
                    period=period,
                    conditions=d.count,
                    reason=d.reason.message,
                ),
                related_version=version,
            )
    return decided.decisions


@task(name="cycle report", cache_policy=NO_CACHE)
def publish_cycle_report(rt: Runtime, run_id: str, period: int) -> None:
    """Render the cycle report from the recorded decision; log it and link it.

    After the commit: the report explains a decision, it is never part of
    making one, and a report that cannot be written only warns.
    """
    report = write_cycle_report(rt, run_id, with_drift_report=rt.usecase.report.evidently)
    if report is None:
        return
    rt.client.log_artifact(run_id, str(report))
    when = period_label(period, rt.usecase.data.period)
    publish_markdown(
        rt.usecase.name,
        "cycle-report",
        f"[Cycle report, {when}]({report.as_uri()}) (MLflow run `{run_id}`, "
        f"artifact `{report.name}`)",
        f"Cycle report, {when}",
    )


def publish_recent_periods(rt: Runtime) -> None:
    """Publish the table of the use case's last cycles (artifact ``<use case>-periods``).

    One key per use case, so the Prefect UI keeps each cycle's table as a
    version of the same artifact. After the commit and best effort: a table
    that cannot be published only warns.
    """
    try:
        cycles = decision_store.find_decision_runs(
            rt.client,
            rt.decisions_experiment_id,
            filter_tags={TAG_KIND: "retrain"},
            max_results=RECENT_PERIODS,
        )
        promotions = decision_store.find_decision_runs(
            rt.client,
            rt.decisions_experiment_id,
            filter_tags={TAG_KIND: "promotion"},
            max_results=RECENT_PERIODS,
        )
        rows = recent_period_rows(cycles, promotions, rt.usecase.data.period)
        publish_table(
            rt.name,
            "periods",
            rows,
            f"{rt.name}: the last {len(rows)} cycles, one row per period",
        )
    except Exception:  # noqa: BLE001 - the table explains, it never decides
        get_run_logger().warning("could not publish the table of recent periods", exc_info=True)


def _finish(
    rt: Runtime,
    outcome: CycleOutcome,
    *,
    labels_through: int | None,
    decay_cause: str,
    trigger: str,
    landed: Path | None,
    champion_before: str | None = None,
) -> CycleResult:
    """Record the decisions, carry them out, commit the batch (``commit_protocol.finish``).

    The cycle report comes after, once the cycle lock is released (``_report``).
    """
    return commit_protocol.finish(
        commit_ports(rt),
        outcome,
        labels_through=labels_through,
        decay_cause=decay_cause,
        trigger=trigger,
        landed=landed,
        champion_before=champion_before,
    )


def _report(rt: Runtime, result: CycleResult) -> None:
    """The cycle report of a cycle this run decided, once the cycle lock is released.

    It explains, it never decides, and it is best effort: a later cycle of the
    use case (another worker's) does not wait for it.
    """
    if rt.usecase.report.cycle_report and result.decision_run_id and result.period is not None:
        publish_cycle_report(rt, result.decision_run_id, result.period)


# ------------------------------------------------------------------ flows
@flow(name="score_batch", flow_run_name="score {batch}")
def score_batch(usecase_path: str, batch: str, data_root: str | None = None) -> ScoreResult:
    """Validate a landed batch, predict with the champion, apply guardrails, write results.

    Accepted predictions go to the predictions folder, held rows (with their
    reasons) to the review queue; a failed batch is quarantined.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        batch: File name of the batch in the use case's landing folder.
        data_root: Data root (default ``$MLOPS_HOME``).
    """
    rt = open_runtime(usecase_path, data_root)
    steps.check_contract(rt)  # a contract the champion cannot score under touches no batch
    scored = _validate_and_score(rt, _locate(rt, batch))
    _alert_on_guardrails(rt, scored, scored.period)
    if scored.gate.action == "pass" and scored.champion is None:
        raise RuntimeError(f"{rt.name} has no champion yet: run the bootstrap flow first")
    return ScoreResult(
        batch=batch,
        period=scored.period,
        validation=scored.gate.action,
        rows=scored.gate.rows,
        guardrails=scored.guarded.summary if scored.guarded else None,
    )


#: Longest a monitor or bootstrap waits for another cycle of its use case.
CLAIM_WAIT_SECONDS = 3600.0

#: The use case's lock held by every cycle (``monitor`` and ``bootstrap``):
#: cycles of one model decide on each other's outcomes (the decision history,
#: the champion, the labeled pool), so they run one at a time, whichever
#: process or machine runs them.
CYCLE_LOCK = "cycle"


@flow(name="monitor", flow_run_name="monitor {batch}")
def monitor(usecase_path: str, batch: str, data_root: str | None = None) -> CycleResult:
    """One cycle for one landed batch (docs/design.md, section 3).

    Validate, score and guard; join newly arrived labels; measure realized
    performance and drift; decide whether to retrain; if so train a challenger
    and take it through the promotion gate; record every decision. Cycles of
    a use case run one at a time (lock ``CYCLE_LOCK``, ``tasks.coordination``):
    a second process monitoring the same batch (same content, any name) waits
    for the first and then returns it as a duplicate.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        batch: File name of the batch in the use case's landing folder.
        data_root: Data root (default ``$MLOPS_HOME``).
    """
    rt = open_runtime(usecase_path, data_root)
    steps.check_contract(rt)  # a contract the champion cannot score under touches no batch
    path = _locate(rt, batch)
    sha = storage.file_sha256(path)
    logger = get_run_logger()
    # One cycle at a time across processes: a second monitor of the same batch
    # waits here for the first, then finds its ledger entry.
    with rt.coordination.claims.claim(
        CYCLE_LOCK,
        timeout_seconds=CLAIM_WAIT_SECONDS,
        on_wait=lambda holder: logger.warning(
            "batch %s waits: a cycle of %s is being run by %s", batch, rt.name, holder
        ),
    ):
        result, decided_now = _claimed_cycle(rt, batch, path, sha)
    if decided_now:
        _report(rt, result)
    if result.status == "done":  # decided now, or finished after an interrupted run
        publish_recent_periods(rt)
    return result


def _claimed_cycle(rt: Runtime, batch: str, path: Path, sha: str) -> tuple[CycleResult, bool]:
    """``monitor`` under the use case's cycle lock (see ``handle_claimed``).

    Returns:
        The result, and whether this run decided the cycle (not a duplicate,
        nor an interrupted run's decision carried out).
    """
    landed = path if path.parent.resolve() == rt.paths.landing.resolve() else None
    decided: list[CycleResult] = []

    def run_cycle() -> CycleResult:
        decided.append(_cycle(rt, batch, path, sha))
        return decided[-1]

    result = commit_protocol.handle_claimed(commit_ports(rt), batch, sha, landed, run_cycle)
    return result, bool(decided)


def _cycle(rt: Runtime, batch: str, path: Path, sha: str) -> CycleResult:
    """The body of ``monitor`` for a batch (of hash ``sha``) neither committed nor decided."""
    uc = rt.usecase
    # Staged outputs of this batch can only be a killed run's (no decision
    # covers them, or this batch would be resumed): this run stages its own,
    # and a file it does not write (no rows held this time) must not be
    # published from the killed run's.
    storage.discard_staged(rt.paths.stage_of(sha))
    scored = _validate_and_score(rt, path, sha, rt.paths.stage_of(sha))
    gate, champion, period = scored.gate, scored.champion, scored.period
    history = _decision_history(rt)
    if period is None:
        period = (history.labels_through or 0) + uc.data.label_delay
    alerts = _alert_on_guardrails(rt, scored, period)
    champion_version = champion.version if champion else None

    if gate.action == "fail":
        retrain = decide_retrain(
            RetrainInputs(period=period, gate_passed=False, has_champion=champion is not None),
            uc.retrain,
            uc.drift,
            uc.metric.primary,
        )
        outcome = CycleOutcome(
            period=period,
            batch=batch,
            gate=gate,
            retrain=retrain,
            champion_version=champion_version,
            champion_before=champion_version,
            schema=champion.schema if champion else None,
        )
        return _finish(
            rt,
            outcome,
            labels_through=history.labels_through,
            decay_cause="unknown",
            trigger="batch",
            landed=None,
        )

    assert scored.frame is not None
    steps.store_accepted(rt, scored.frame, gate, source=path)
    time_col = uc.data.time_column
    trained_through = champion.info.profile.trained_last_period if champion else None
    seen_through = history.seen_through(trained_through)
    # Only rows after both marks can be new or raise the labeled-through mark:
    # older periods were labeled through history.labels_through already, so the
    # history of accepted batches is read only when a retrain needs it.
    # Label files that arrived since the last cycle pass the label gate first.
    label_decisions = tuple(steps.gate_labels(rt))
    recent = steps.labeled_pool(rt, after_period=_earliest(seen_through, history.labels_through))
    labels_through = _latest(
        int(recent[time_col].max()) if not recent.empty else None, history.labels_through
    )
    new_rows = recent if seen_through is None else recent[recent[time_col] > seen_through]
    # A label that arrived blank is no evidence: it neither counts nor scores.
    new_rows = labeled_rows(new_rows, uc.data.target_column)

    perf = drift = None
    if champion is not None and scored.guarded is not None:
        perf = steps.measure_performance(
            rt, champion, new_rows, scored.frame, seed=period, current_predicted=scored.predicted
        )
        drift = steps.measure_drift(rt, champion, scored.frame, scored.guarded.raw, seed=period)
        if drift.drifted_features:
            emit(
                Event.DRIFT_DETECTED,
                uc.name,
                EventPayload(
                    period=period,
                    drift_share=drift.drift_share,
                    importance_weighted_share=drift.importance_weighted_share,
                    features=drift.drifted_features,
                ),
                related_version=champion.version,
            )
    cause = attribute_decay(perf, uc.metric.primary) if perf is not None else "unknown"
    inputs = build_retrain_inputs(
        period=period,
        gate_passed=True,
        champion_trained_period=trained_through,
        has_champion=champion is not None,
        history=history,
        budget_window_periods=uc.retrain.budget_window_periods,
        new_labeled_rows=len(new_rows),
        last_labeled_period=labels_through,
        rows_per_period=float(gate.rows),
        performance=perf,
        drift=drift,
        decay_cause=cause,
    )
    retrain = decide_retrain(inputs, uc.retrain, uc.drift, uc.metric.primary)
    promotion = challenger = None
    champion_before = champion_version
    if retrain.action in ("train", "retrain"):
        pool = steps.labeled_pool(rt)
        promotion, challenger = challenge(rt, pool, retrain, champion, period, gate.batch_sha256)
        if promotion.action == "promote":
            champion_version = challenger
    outcome = CycleOutcome(
        period=period,
        batch=batch,
        gate=gate,
        retrain=retrain,
        performance=perf,
        drift=drift,
        guardrails=scored.guarded.summary if scored.guarded else None,
        promotion=promotion,
        champion_version=champion_version,
        challenger_version=challenger,
        champion_before=champion_before,
        labels=label_decisions,
        schema=champion.schema if champion else None,
        alerts=alerts,
    )
    return _finish(
        rt,
        outcome,
        labels_through=labels_through,
        decay_cause=cause,
        trigger=retrain.reasons[0].code,
        landed=path,
        champion_before=champion_before,
    )


@flow(name="monitor_landed", flow_run_name="monitor landed batches of {usecase_path}")
def monitor_landed(
    usecase_path: str, data_root: str | None = None, max_batches: int = 50
) -> MonitorLandedResult:
    """Run one ``monitor`` cycle per batch waiting in landing, oldest name first.

    This is what the scheduled deployment runs: whatever landed since the last
    run is validated, scored and monitored in order (batches are named so that
    names sort by period). A batch already handled (same content) is recorded
    as a duplicate, never processed twice.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        data_root: Data root (default ``$MLOPS_HOME``).
        max_batches: Most batches handled in one run; the rest wait for the next.
    """
    rt = open_runtime(usecase_path, data_root)
    steps.fetch_arrivals(rt, "landing")
    waiting = storage.list_files(rt.paths.landing, rt.usecase.data.format)
    with without_heartbeats():  # subflows: this run's own heartbeat covers the process
        cycles = [
            monitor(usecase_path, path.name, data_root) for path in waiting[: max(0, max_batches)]
        ]
    return MonitorLandedResult(
        handled=len(cycles), waiting=max(0, len(waiting) - len(cycles)), cycles=tuple(cycles)
    )


@flow(name="bootstrap")
def bootstrap(usecase_path: str, data_root: str | None = None) -> BootstrapResult:
    """Train the first champion on the labeled batches already landed.

    Every landed batch is validated (failures are quarantined); accepted ones are
    joined with their labels; the first model still has to pass the promotion
    gate (the naive baseline, the floor if set, the leak check) before it
    becomes champion.

    Args:
        usecase_path: The use-case file, relative to the project folder or absolute.
        data_root: Data root (default ``$MLOPS_HOME``).
    """
    rt = open_runtime(usecase_path, data_root)
    # A cycle like any other: a second bootstrap waits, then finds the first's champion.
    with rt.coordination.claims.claim(CYCLE_LOCK, timeout_seconds=CLAIM_WAIT_SECONDS):
        result, decided_now = _bootstrap(rt)
    if decided_now:
        _report(rt, result)
    return result


def _bootstrap(rt: Runtime) -> tuple[BootstrapResult, bool]:
    """``bootstrap`` under the use case's cycle lock; True when this run decided it."""
    uc = rt.usecase
    ports = commit_ports(rt)
    recorded = commit_protocol.recorded(ports, BOOTSTRAP_SHA, "retrain")
    if recorded is not None and ports.ledger.entry(BOOTSTRAP_SHA) is None:
        # A bootstrap decided but died before committing: finish it (idempotent).
        done = commit_protocol.resume(
            ports, rt.paths.landing / "bootstrap", BOOTSTRAP_SHA, recorded
        )
        publish_recent_periods(rt)
        committed = _commit_bootstrap_batches(rt)
        resumed = BootstrapResult(
            **done.model_dump(exclude={"status"}), status="exists", committed_batches=committed
        )
        return resumed, False
    existing = steps.load_champion(rt)
    if existing is not None:
        there = BootstrapResult(
            batch="bootstrap", period=None, status="exists", champion_version=existing.version
        )
        return there, False
    accepted = quarantined = 0
    steps.fetch_arrivals(rt, "landing")
    for path in storage.list_files(rt.paths.landing, uc.data.format):
        frame, gate = steps.validate_batch(rt, path)
        if gate.action == "fail":
            steps.quarantine(rt, path, gate)
            emit(
                Event.BATCH_QUARANTINED,
                uc.name,
                EventPayload(batch=gate.batch, sha256=gate.batch_sha256),
            )
            quarantined += 1
            continue
        assert frame is not None
        steps.store_accepted(rt, frame, gate, source=path)
        accepted += 1
    steps.gate_labels(rt)
    pool = steps.labeled_pool(rt)
    last = int(pool[uc.data.time_column].max()) if not pool.empty else None
    inputs = bootstrap_inputs(last_labeled_period=last, labeled_rows=len(pool))
    period = inputs.period
    retrain = decide_retrain(inputs, uc.retrain, uc.drift, uc.metric.primary)
    promotion = challenger = version = None
    if retrain.action == "train":
        promotion, challenger = challenge(rt, pool, retrain, None, period, BOOTSTRAP_SHA)
        version = challenger if promotion.action == "promote" else None
    gate = GateDecision(
        action="pass",
        batch="bootstrap",
        batch_sha256=BOOTSTRAP_SHA,
        rows=len(pool),
        reasons=(),
        results=(),
    )
    outcome = CycleOutcome(
        period=period,
        batch="bootstrap",
        gate=gate,
        retrain=retrain,
        promotion=promotion,
        champion_version=version,
        challenger_version=challenger,
    )
    result = _finish(
        rt, outcome, labels_through=last, decay_cause="unknown", trigger="bootstrap", landed=None
    )
    publish_recent_periods(rt)
    # The history batches are committed after the bootstrap's decision: a crash
    # before leaves them in landing for the rerun, a crash after is finished by it.
    committed = _commit_bootstrap_batches(rt)
    decided = BootstrapResult(
        **result.model_dump(),
        accepted_batches=accepted,
        quarantined_batches=quarantined,
        committed_batches=committed,
    )
    return decided, True


def _commit_bootstrap_batches(rt: Runtime) -> int:
    """Archive and commit every landed batch the bootstrap accepted (stored as processed).

    Returns:
        How many batches were committed.
    """
    stored = {p.name.rsplit(".", 2)[-2] for p in rt.paths.processed.glob("*.parquet")}
    committed = 0
    for path in storage.list_files(rt.paths.landing, rt.usecase.data.format):
        sha = storage.file_sha256(path)
        if sha[:12] not in stored or rt.coordination.ledger.entry(sha) is not None:
            continue
        frame = storage.read_table(path)
        period = steps.batch_period(frame, path, rt.usecase.data)
        storage.move_verified(path, rt.paths.archive, sha)
        rt.coordination.ledger.append(
            LedgerEntry(
                sha256=sha, batch=path.name, period=period, gate="pass", decision="bootstrap"
            ),
        )
        committed += 1
    return committed


@flow(name="rollback")
def rollback(
    usecase_path: str,
    reason: str = "manual rollback",
    data_root: str | None = None,
    from_version: str | None = None,
    requested_by: str | None = None,
) -> RollbackResult:
    """Move alias ``champion`` back to ``previous`` and record why and who asked.

    Args:
        usecase_path: The use-case file.
        reason: Why; kept in the decision record and the version history.
        data_root: Data root (default ``$MLOPS_HOME``).
        from_version: The champion to roll back from. Given, a rerun of an
            interrupted rollback finishes it instead of rolling back twice.
        requested_by: Who asked (default: the OS user running the flow).
    """
    rt = open_runtime(usecase_path, data_root)
    uc = rt.usecase
    who = requested_by or os.environ.get("USER") or "unknown"
    from_v, to_v = model_registry.rollback_champion(
        rt.client,
        uc.registered_model_name,
        reason=f"rollback by {who}: {reason}",
        expected_current=from_version,
    )
    md = (
        f"# {uc.name}: rollback\n\nChampion moved back from version {from_v} to version "
        f"{to_v} at the request of {who}. Reason given: {reason}\n"
    )
    run_id = steps.record_decision(
        rt,
        run_name=f"rollback-v{from_v}-to-v{to_v}",
        kind="rollback",
        action="rollback",
        reason_codes=["manual_rollback"],
        record=RollbackRecord(
            from_version=from_v, to_version=to_v, reason=reason, requested_by=who
        ),
        markdown=md,
        metrics={},
        tags={TAG_CHAMPION_VERSION: to_v, TAG_PREVIOUS_VERSION: from_v},
    )
    emit(
        Event.MODEL_ROLLED_BACK,
        uc.name,
        EventPayload(from_version=from_v, to_version=to_v, reason=reason),
        related_version=to_v,
    )
    publish_markdown(uc.name, "rollback", md, f"Rollback to version {to_v}")
    return RollbackResult(from_version=from_v, to_version=to_v, decision_run_id=run_id)

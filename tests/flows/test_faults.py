"""Fault injection through the ``monitor`` flow: bad input never changes the champion.

One use case is bootstrapped on the simulator's labeled history (module fixture).
Each case lands one faulty batch under a new name and runs a monitor cycle, then
asserts the promised outcome: the batch is quarantined byte for byte with a
reason naming the file, the column and the rule; the champion is unchanged; the
ledger reconciles (every landed batch is either scored or quarantined); the
quarantine event reaches Prefect.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from faulty_files import latin1_csv, truncated_csv
from usecase_variant import land_weeks, write_shipped_variant

from flows.cycle import bootstrap, monitor
from flows.demo import SHIPPED_USECASE
from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, storage, training_runs
from tasks.runtime import open_runtime
from tasks.tags import Event

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods


def _usecase(root: Path) -> Path:
    """The use case file the ``root`` fixture keeps in its data root."""
    return root / SHIPPED_USECASE.name


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with a bootstrapped champion and the first live labels landed."""
    root = tmp_path_factory.mktemp("faults")
    # The shipped use case without cycle reports (no fault here concerns the report).
    usecase = write_shipped_variant(root)
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    land_weeks(SIM, paths, range(FIRST_LIVE))
    out = bootstrap(str(usecase), str(root))
    assert out.champion_version == "1"
    return root


def _champion_version(root: Path) -> str | None:
    rt = open_runtime(_usecase(root), str(root))
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    return info.version if info else None


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _live() -> pd.DataFrame:
    return SIM.batch(FIRST_LIVE)


def _renamed(_: Path) -> bytes:
    return _csv_bytes(_live().rename(columns={"price": "Price"}))


def _missing(_: Path) -> bytes:
    return _csv_bytes(_live().drop(columns=["temperature"]))


def _all_null(_: Path) -> bytes:
    return _csv_bytes(_live().assign(temperature=np.nan))


def _decimal_comma(_: Path) -> bytes:
    frame = _live().astype({"price": object})
    frame.loc[frame.index[3], "price"] = "12,5"
    return _csv_bytes(frame)


def _empty(_: Path) -> bytes:
    return b""


def _header_only(_: Path) -> bytes:
    return (",".join(_live().columns) + "\n").encode("utf-8")


def _truncated(_: Path) -> bytes:
    return truncated_csv(_live())


def _latin1(_: Path) -> bytes:
    return latin1_csv(_live(), "store")


def _target_leak(_: Path) -> bytes:
    labels = SIM.labels(FIRST_LIVE).set_index("row_id")["units_sold"]
    frame = _live()
    return _csv_bytes(frame.assign(units_sold=frame["row_id"].map(labels)))


def _infinite(_: Path) -> bytes:
    frame = _live()
    frame.loc[frame.index[:3], "temperature"] = [np.inf, -np.inf, 1e308]
    return _csv_bytes(frame)


def _broken_parquet(tmp: Path) -> bytes:
    path = tmp / "whole.parquet"
    _live().to_parquet(path)
    data = path.read_bytes()
    return data[: len(data) - 40]  # the footer is gone


# name -> (file suffix, bytes of the faulty batch, words the reason must hold)
CASES: dict[str, tuple[str, Callable[[Path], bytes], tuple[str, ...]]] = {
    "renamed column": (".csv", _renamed, ("price",)),
    "missing column": (".csv", _missing, ("temperature",)),
    "all-null column": (".csv", _all_null, ("temperature",)),
    "decimal comma as text": (".csv", _decimal_comma, ("price", "12,5")),
    "empty file": (".csv", _empty, ("empty",)),
    "header-only file": (".csv", _header_only, ("no rows",)),
    "truncated csv": (".csv", _truncated, ("truncated",)),
    "wrong encoding": (".csv", _latin1, ("utf-8",)),
    "leaked target column": (".csv", _target_leak, ("units_sold",)),
    "infinite feature values": (".csv", _infinite, ("temperature", "infinite")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_faulty_batch_is_quarantined_with_a_named_reason_and_changes_nothing(
    root: Path, tmp_path: Path, case: str
) -> None:
    suffix, make, words = CASES[case]
    rt = open_runtime(_usecase(root), str(root))
    name = f"fault_{case.replace(' ', '_').replace('-', '_')}{suffix}"
    data = make(tmp_path)
    (rt.paths.landing / name).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    champion_before = _champion_version(root)

    out = monitor(str(_usecase(root)), name, str(root))

    assert out.validation == "fail" and out.decision == "block", out
    assert _champion_version(root) == champion_before
    kept = rt.paths.quarantine / name
    assert kept.read_bytes() == data, "quarantined byte for byte"
    assert not (rt.paths.landing / name).exists()
    reason = json.loads((rt.paths.quarantine / f"{name}.reason.json").read_text())
    failed = [r for r in reason["results"] if not r["success"] and r["severity"] == "error"]
    text = json.dumps(failed + list(reason.get("reasons", [])))
    assert name in text or any(r.get("column") for r in failed), text
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    entry = storage.ledger_entry(rt.paths.ledger, sha)
    assert entry is not None and entry.gate == "fail" and entry.decision == "block"


def test_a_parquet_batch_with_a_broken_footer_is_quarantined(root: Path, tmp_path: Path) -> None:
    # The shipped use case takes CSV; a Parquet twin of it reads the broken file.
    rt = open_runtime(_usecase(root), str(root))
    data = _broken_parquet(tmp_path)
    frame, problems = _read_as_parquet(tmp_path, data)
    assert frame is None and problems[0].rule == "readable" and not problems[0].success
    assert "parquet" in problems[0].message.lower()
    assert rt.usecase.data.format == "csv"


def _read_as_parquet(tmp: Path, data: bytes) -> tuple[Any, Any]:
    from tasks.batch_file import read_batch_file

    path = tmp / "broken.parquet"
    path.write_bytes(data)
    return read_batch_file(path, "parquet")


def test_the_same_batch_under_a_new_name_is_handled_once(root: Path) -> None:
    rt = open_runtime(_usecase(root), str(root))
    data = _csv_bytes(_live())
    sha = hashlib.sha256(data).hexdigest()
    (rt.paths.landing / "live_week.csv").write_bytes(data)
    first = monitor(str(_usecase(root)), "live_week.csv", str(root))
    assert first.status == "done" and first.validation == "pass"
    predictions = sorted(rt.paths.predictions.iterdir())
    decisions = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )

    (rt.paths.landing / "live_week_copy.csv").write_bytes(data)
    again = monitor(str(_usecase(root)), "live_week_copy.csv", str(root))

    assert again.status == "duplicate" and again.decision_run_id == first.decision_run_id
    assert sorted(rt.paths.predictions.iterdir()) == predictions, "no second set of predictions"
    after = decision_store.find_decision_runs(
        rt.client, rt.decisions_experiment_id, filter_tags={"mlops.batch_sha256": sha}
    )
    assert len(after) == len(decisions) >= 1, "no second decision run"
    assert not (rt.paths.landing / "live_week_copy.csv").exists()


def test_a_cycle_that_fails_after_scoring_publishes_nothing_and_its_rerun_does(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Predictions wait for the commit: a failure leaves none for a reader."""
    from tasks import steps

    rt = open_runtime(_usecase(root), str(root))
    data = _csv_bytes(SIM.batch(FIRST_LIVE + 3))
    sha = hashlib.sha256(data).hexdigest()
    (rt.paths.landing / "fails_after_scoring.csv").write_bytes(data)
    predictions = rt.paths.predictions / "fails_after_scoring.parquet"
    drift = steps.measure_drift

    def fails(*args: Any, **kwargs: Any) -> Any:
        assert (rt.paths.stage_of(sha) / "predictions" / predictions.name).exists()
        raise OSError("the drift store is unreachable")

    with monkeypatch.context() as mp:
        mp.setattr(steps, "measure_drift", fails)
        with pytest.raises(OSError, match="drift store"):
            monitor(str(_usecase(root)), "fails_after_scoring.csv", str(root))

    assert not predictions.exists()
    assert not rt.paths.stage_of(sha).exists(), "the undecided cycle's outputs are removed"
    assert storage.ledger_entry(rt.paths.ledger, sha) is None
    assert (rt.paths.landing / "fails_after_scoring.csv").read_bytes() == data

    assert steps.measure_drift is drift
    out = monitor(str(_usecase(root)), "fails_after_scoring.csv", str(root))

    assert out.status == "done" and out.validation == "pass", out
    assert len(pd.read_parquet(predictions)) == len(SIM.batch(FIRST_LIVE + 3))
    assert not rt.paths.stage_of(sha).exists()


def test_a_rerun_publishes_none_of_what_a_killed_undecided_run_staged(root: Path) -> None:
    """A run killed after scoring leaves its staging folder; the rerun starts afresh.

    Here the killed run had held rows for review (under the champion of its
    time); the rerun holds none, so it writes no review file, and the stale one
    must not be published beside its predictions.
    """
    rt = open_runtime(_usecase(root), str(root))
    frame = SIM.batch(FIRST_LIVE + 4)
    data = _csv_bytes(frame)
    sha = hashlib.sha256(data).hexdigest()
    (rt.paths.landing / "killed_after_scoring.csv").write_bytes(data)
    stale = rt.paths.stage_of(sha) / "review" / "killed_after_scoring.parquet"
    stale.parent.mkdir(parents=True)
    frame.head(3).assign(review_status="pending").to_parquet(stale)

    out = monitor(str(_usecase(root)), "killed_after_scoring.csv", str(root))

    assert out.status == "done" and out.validation == "pass", out
    published = rt.paths.review / "killed_after_scoring.parquet"
    if published.exists():  # rows this run held, never the killed run's three
        review = pd.read_parquet(published)
        assert "raw_prediction" in review.columns and "model_version" in review.columns
    assert not rt.paths.stage_of(sha).exists()


def _corrupting(
    monkeypatch: pytest.MonkeyPatch, corrupt: Callable[[np.ndarray], np.ndarray]
) -> None:
    """The champion's scoring call returns what ``corrupt`` makes of its true predictions."""
    from tasks import steps

    honest = steps.predict

    def predict(model: Any, frame: pd.DataFrame, usecase: Any) -> Any:
        pred, proba = honest(model, frame, usecase)
        return corrupt(np.asarray(pred, dtype=float).copy()), proba

    monkeypatch.setattr(steps, "predict", predict)


def test_nan_inf_and_out_of_range_predictions_are_replaced_clipped_counted_and_alerted(
    root: Path, monkeypatch: pytest.MonkeyPatch, prefect_events
) -> None:
    rt = open_runtime(_usecase(root), str(root))
    frame = SIM.batch(FIRST_LIVE + 1)
    name = "bad_predictions.csv"
    (rt.paths.landing / name).write_bytes(_csv_bytes(frame))
    bad = {0: np.nan, 1: np.inf, 2: -np.inf, 3: -50.0, 4: 1e9}

    def corrupt(pred: np.ndarray) -> np.ndarray:
        for row, value in bad.items():
            pred[row] = value
        return pred

    _corrupting(monkeypatch, corrupt)
    champion_before = _champion_version(root)
    out = monitor(str(_usecase(root)), name, str(root))

    assert out.validation == "pass" and out.held_rows == 0, out
    assert _champion_version(root) == champion_before
    written = pd.read_parquet(rt.paths.predictions / "bad_predictions.parquet")
    assert len(written) == len(frame), "every row delivered, none lost"
    by_id = written.set_index("row_id")
    ids = frame["row_id"].tolist()
    for row in (0, 1, 2):  # not finite: last week's units instead
        assert by_id.loc[ids[row], "prediction"] == frame["units_last_week"].iloc[row]
    assert by_id.loc[ids[3], "prediction"] == 0.0  # negative units: clipped to zero
    assert by_id.loc[ids[4], "prediction"] == frame["store_capacity"].iloc[4]  # capped
    assert np.isfinite(written["prediction"]).all()
    assert (written["prediction"] >= 0).all()
    cap = frame.set_index("row_id").loc[written["row_id"], "store_capacity"].to_numpy()
    assert (written["prediction"].to_numpy() <= cap).all()
    actions = out.guardrail_actions
    assert actions.get("finite:fallback") == 3, actions
    assert actions.get("range:clip", 0) >= 1 and actions.get("store_capacity:clip", 0) >= 1
    events = prefect_events("mlops.guardrail.breach", lambda p: p.get("batch") == name)
    assert events and events[0].payload["violating_rows"] >= len(bad)


def test_a_model_that_only_returns_nan_trips_the_breaker_and_holds_the_batch(
    root: Path, monkeypatch: pytest.MonkeyPatch, prefect_events
) -> None:
    rt = open_runtime(_usecase(root), str(root))
    frame = SIM.batch(FIRST_LIVE + 2)
    name = "all_nan_predictions.csv"
    (rt.paths.landing / name).write_bytes(_csv_bytes(frame))
    _corrupting(monkeypatch, lambda pred: np.full_like(pred, np.nan))
    champion_before = _champion_version(root)
    out = monitor(str(_usecase(root)), name, str(root))

    assert _champion_version(root) == champion_before
    # The finite rule proposes last week's units for every row, but every row broke a
    # rule: over the 30% limit, the whole batch waits for a person instead.
    assert out.held_rows == len(frame), out
    sent = rt.paths.predictions / "all_nan_predictions.parquet"
    assert not sent.exists() or pd.read_parquet(sent).empty, "nothing is sent downstream"
    review = pd.read_parquet(rt.paths.review / "all_nan_predictions.parquet")
    assert len(review) == len(frame) and set(review["review_status"]) == {"pending"}
    assert review["raw_prediction"].isna().all()
    proposed = review.set_index("row_id")["proposed_prediction"]
    expected = frame.set_index("row_id")["units_last_week"]
    assert (proposed == expected.loc[proposed.index]).all()
    events = prefect_events("mlops.guardrail.breach", lambda p: p.get("batch") == name)
    assert events and events[0].payload["breaker_tripped"] is True


def test_extreme_finite_outliers_pass_with_a_warning_and_their_forecasts_are_flagged(
    root: Path,
) -> None:
    # Temperature glitches are warn-level in the contract: the week's forecast must
    # still go out, but a forecast made from a reading far outside the training
    # data is flagged for a planner, never silently trusted.
    rt = open_runtime(_usecase(root), str(root))
    frame = SIM.batch(FIRST_LIVE + 3)
    frame.loc[frame.index[:4], "temperature"] = [1e6, -1e6, 9999.0, 1e300]
    name = "temperature_glitches.csv"
    (rt.paths.landing / name).write_bytes(_csv_bytes(frame))
    champion_before = _champion_version(root)

    out = monitor(str(_usecase(root)), name, str(root))

    assert out.validation == "pass", out
    assert _champion_version(root) == champion_before
    record = decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)
    warned = [
        r
        for r in record.gate.results
        if r.column == "temperature" and r.rule == "range" and not r.success
    ]
    assert warned and warned[0].severity == "warn", record.gate.results
    written = pd.read_parquet(rt.paths.predictions / "temperature_glitches.parquet")
    by_id = written.set_index("row_id")
    for row_id in frame["row_id"].iloc[:4]:
        assert by_id.loc[row_id, "flagged"], row_id
        assert "input_out_of_range" in by_id.loc[row_id, "violations"]
        assert np.isfinite(by_id.loc[row_id, "prediction"])
    assert out.guardrail_actions.get("input_out_of_range:flag", 0) >= 4


def test_a_week_hotter_than_any_in_training_is_one_finding_and_is_delivered(
    root: Path, prefect_events
) -> None:
    # Every store's reading far above anything the champion was trained on: being out
    # of range is a fact about the week, not about any one forecast. One finding with
    # its sentence reaches the record and Prefect; no row is flagged for it and the
    # circuit breaker (which counts flags in this use case) does not hold the week.
    rt = open_runtime(_usecase(root), str(root))
    frame = SIM.batch(FIRST_LIVE + 4)
    frame["temperature"] = 1e4
    name = "heatwave.csv"
    (rt.paths.landing / name).write_bytes(_csv_bytes(frame))

    out = monitor(str(_usecase(root)), name, str(root))

    assert out.validation == "pass" and out.held_rows == 0, out
    record = decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)
    guardrails = record.guardrails
    assert guardrails is not None and not guardrails.breaker_tripped
    (finding,) = [f for f in guardrails.findings if f.column == "temperature"]
    assert finding.code == "inputs_outside_training_range"
    assert finding.rows_out == finding.rows == len(frame)
    assert finding.batch_min == finding.batch_max == 1e4
    written = pd.read_parquet(rt.paths.predictions / "heatwave.parquet")
    assert len(written) == len(frame), "every forecast delivered"
    assert not written["violations"].str.contains("input_out_of_range").any()
    events = prefect_events("mlops.guardrail.finding", lambda p: p.get("batch") == name)
    assert len(events) == 1, "raised once for the batch"
    assert "temperature" in events[0].payload["columns"]
    assert (
        "temperature is outside the training range for every row" in (events[0].payload["findings"])
    )


def test_landed_batches_reconcile_with_scored_plus_quarantined(root: Path) -> None:
    """Run last in this module: every batch landed here was scored or quarantined."""
    rt = open_runtime(_usecase(root), str(root))
    entries = storage.ledger_entries(rt.paths.ledger)
    passed = {e.sha256 for e in entries if e.gate == "pass"}
    failed = {e.sha256 for e in entries if e.gate == "fail"}
    quarantined = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in rt.paths.quarantine.iterdir()
        if not p.name.endswith(".reason.json")
    }
    assert failed == quarantined
    assert not (passed & failed)
    assert list(rt.paths.landing.iterdir()) == [], "nothing left behind in landing"


def test_quarantine_events_reach_prefect(root: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter

    wanted = {f"fault_{c.replace(' ', '_').replace('-', '_')}.csv" for c in CASES}
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and not wanted <= seen:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=[Event.BATCH_QUARANTINED])),
                limit=50,
            )
            # Every page: the session's Prefect server also holds the quarantine
            # events of the other modules its worker ran.
            while True:
                seen |= {e.payload.get("batch") for e in page.events}
                if page.next_page is None or wanted <= seen:
                    break
                page = client.read_events_page(page.next_page)
            time.sleep(0.5)
    assert wanted <= seen, sorted(wanted - seen)

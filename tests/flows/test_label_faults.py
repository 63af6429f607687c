"""Label faults through the ``monitor`` flow: labels are gated like batches.

One use case (the shipped one, without cycle reports) is
bootstrapped on the simulator's history and its first live week scored, once
per module; each case works in its own copy of that data root (a copied root is
a supported move: tests/flows/test_data_root_move.py). Each case lands a faulty
label file for the first live week, then the next batch, and runs a monitor
cycle; it asserts what the label gate did (quarantine with its reason, or the
bad rows left out and counted), that the cycle still ran, and that the realized
error was measured on the good labels only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from flows.cycle import monitor
from flows.demo import SHIPPED_USECASE
from mlops_core.label_gate import LabelGateDecision
from mlops_core.records import CycleRecord, CycleResult
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, storage
from tasks.labels import label_ledger_decisions, read_accepted_labels
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))
FIRST_LIVE = SIM.config.initial_periods
#: What ``bootstrapped_variant`` names the use-case file in the data root.
USECASE_FILE = "retail_demand.yaml"


@pytest.fixture(scope="module")
def scored_root(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> Path:
    """A bootstrapped data root whose first live week was scored (no labels yet)."""
    root = tmp_path_factory.mktemp("label-faults") / "root"
    usecase, paths = bootstrapped_variant(root, SIM, {})
    SIM.batch(FIRST_LIVE).to_csv(paths.landing / "live_0.csv", index=False)
    assert monitor(str(usecase), "live_0.csv", str(root)).status == "done"
    return root


@pytest.fixture
def root(scored_root: Path, tmp_path: Path) -> Path:
    """This case's own copy of the scored data root."""
    copy = tmp_path / "root"
    shutil.copytree(scored_root, copy, symlinks=True)
    return copy


def _usecase(root: Path) -> Path:
    return root / USECASE_FILE


def _paths(root: Path) -> storage.UseCasePaths:
    return storage.UseCasePaths.for_usecase(storage.load_usecase_file(_usecase(root)), root)


def _next_cycle(root: Path, labels: pd.DataFrame | bytes) -> dict:
    paths = _paths(root)
    target = paths.labels / "labels_live_0.csv"
    if isinstance(labels, bytes):
        target.write_bytes(labels)
    else:
        labels.to_csv(target, index=False)
    SIM.batch(FIRST_LIVE + 1).to_csv(paths.landing / "live_1.csv", index=False)
    return monitor(str(_usecase(root)), "live_1.csv", str(root))


def _mae(root: Path, labels: pd.DataFrame, drop: set) -> float:
    """The champion's MAE on the first live week's labels, without the ``drop`` ids."""
    served = pd.concat(
        pd.read_parquet(f) for f in sorted(_paths(root).predictions.glob("live_0*.parquet"))
    )
    joined = served.merge(labels[~labels["row_id"].isin(drop)], on="row_id")
    assert len(joined) == len(labels) - len(drop)
    # Performance judges the model itself: its raw output, before any guardrail.
    return float((joined["raw_prediction"] - joined["units_sold"]).abs().mean())


def _last_decision(root: Path):
    return label_ledger_decisions(_paths(root))[-1]


def _recorded_labels(root: Path, out: CycleResult) -> tuple[LabelGateDecision, ...]:
    """The label gate's decisions as the cycle's decision record holds them."""
    rt = open_runtime(_usecase(root), str(root))
    assert out.decision_run_id is not None
    return decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord).labels


def test_conflicting_duplicate_ids_are_left_out_not_last_row_wins(root: Path) -> None:
    good = SIM.labels(FIRST_LIVE)
    conflicting = good.iloc[:20].assign(units_sold=lambda f: f["units_sold"] * 10 + 100)
    out = _next_cycle(root, pd.concat([good, conflicting], ignore_index=True))
    decision = _last_decision(root)
    assert decision.action == "accept" and decision.file == "labels_live_0.csv"
    assert {f.rule: f.rows for f in decision.findings} == {"conflicting_duplicates": 40}
    accepted = read_accepted_labels(_paths(root), "row_id", "units_sold")
    assert not set(conflicting["row_id"]) & set(accepted["row_id"])
    # The realized error is the champion's on the week's other rows, not on the
    # conflicting targets (last row wins would have used those).
    assert out.realized == pytest.approx(_mae(root, good, drop=set(conflicting["row_id"])))
    # The cycle's record and summary say what the gate left out.
    [recorded] = _recorded_labels(root, out)
    assert recorded == decision
    assert (
        f"40 rows of the {len(good) + 20:,} in the label file labels_live_0.csv were left out "
        "(conflicting duplicates: 40)" in out.summary
    ), out.summary


def test_a_text_target_is_left_out_with_its_rule_and_the_cycle_runs(root: Path) -> None:
    labels = SIM.labels(FIRST_LIVE).astype({"units_sold": object})
    labels.loc[labels.index[7], "units_sold"] = "abc"
    out = _next_cycle(root, labels)
    decision = _last_decision(root)
    finding = {f.rule: f for f in decision.findings}["target_not_numeric"]
    assert finding.rows == 1 and "'abc'" in finding.message
    good = SIM.labels(FIRST_LIVE)
    bad_id = labels.loc[labels.index[7], "row_id"]
    assert out.realized == pytest.approx(_mae(root, good, drop={bad_id}))


def test_blank_targets_are_left_out_and_the_rest_measure_the_champion(root: Path) -> None:
    good = SIM.labels(FIRST_LIVE)
    labels = good.copy()
    blank = labels.index[::7]  # about one in seven, as a sensor gap would leave
    labels.loc[blank, "units_sold"] = None
    out = _next_cycle(root, labels)
    decision = _last_decision(root)
    assert decision.action == "accept"
    assert {f.rule: f.rows for f in decision.findings} == {"target_missing": len(blank)}
    # Measured on the labels that are known, never null, never "no decay" by default.
    blank_ids = set(labels.loc[blank, "row_id"])
    assert out.realized == pytest.approx(_mae(root, good, drop=blank_ids))


def test_a_label_file_of_blank_targets_is_no_evidence_and_never_reads_as_no_decay(
    root: Path,
) -> None:
    labels = SIM.labels(FIRST_LIVE).assign(units_sold=None)
    out = _next_cycle(root, labels)
    decision = _last_decision(root)
    assert decision.action == "accept" and decision.accepted_rows == 0
    assert out.realized is None
    assert out.decision == "skip" and out.reason != "no_decay", out
    assert "no reason to retrain" not in out.summary, out.summary


def test_targets_outside_the_target_rules_are_left_out_and_the_cycle_runs(root: Path) -> None:
    # The shipped use case's label contract: units sold are never negative.
    assert storage.load_usecase_file(SHIPPED_USECASE).labels.target_min == 0
    assert storage.load_usecase_file(_usecase(root)).labels.target_min == 0
    good = SIM.labels(FIRST_LIVE)
    labels = good.copy()
    bad = labels.index[[3, 50, 51]]
    labels.loc[bad, "units_sold"] = -labels.loc[bad, "units_sold"] - 1  # a sign flipped
    out = _next_cycle(root, labels)
    decision = _last_decision(root)
    assert decision.action == "accept"
    finding = {f.rule: f for f in decision.findings}["target_out_of_range"]
    assert finding.rows == 3 and finding.dropped and "at least 0" in finding.message
    accepted = read_accepted_labels(_paths(root), "row_id", "units_sold")
    bad_ids = set(labels.loc[bad, "row_id"])
    assert not bad_ids & set(accepted["row_id"]) and (accepted["units_sold"] >= 0).all()
    # The realized error is measured on the week's other rows only.
    assert out.realized == pytest.approx(_mae(root, good, drop=bad_ids))


def test_a_wrong_header_quarantines_the_label_file_and_later_cycles_go_on(
    root: Path, prefect_events
) -> None:
    labels = SIM.labels(FIRST_LIVE).rename(columns={"units_sold": "count"})
    data = labels.to_csv(index=False).encode("utf-8")
    out = _next_cycle(root, data)
    decision = _last_decision(root)
    assert decision.action == "quarantine" and "no column 'units_sold'" in decision.reason
    paths = _paths(root)
    quarantined = paths.quarantine / "labels" / "labels_live_0.csv"
    assert quarantined.read_bytes() == data, "quarantined byte for byte"
    assert not (paths.labels / "labels_live_0.csv").exists()
    assert quarantined.with_name(quarantined.name + ".reason.json").exists()
    # The batch itself was scored and decided: no labels is no evidence.
    assert out.validation == "pass" and out.realized is None
    assert out.reason == "not_enough_labels", out
    assert [d.action for d in _recorded_labels(root, out)] == ["quarantine"]
    assert "The label file labels_live_0.csv was set aside unused" in out.summary, out
    events = prefect_events("mlops.labels.quarantined", lambda p: p.get("file") == quarantined.name)
    assert events and "units_sold" in events[0].payload["reason"]

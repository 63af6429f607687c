"""``mlops replay`` drives the real flows and decides what the backtester's ``default`` decides.

The use-case files are the ones ``mlops init-usecase`` writes for the real
datasets (bike sharing cut into months from dates, Elec2 into weeks from
timestamps). The replay lands real batch and label files and runs the real
``bootstrap`` and ``monitor`` flows; the backtester replays the same history in
memory. Period by period, both must take the same action for the same reason
and reach the same promotion outcome.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from flows.replay import ReplayError, parse_start, plan_replay, replay
from mlops_core.backtest import parse_policy
from mlops_core.periods import period_index, period_label, short_label
from mlops_core.profiling import profile_frame, render_usecase_yaml
from tasks import storage
from tasks.backtest import prepare, run_policy

pytestmark = pytest.mark.flows

# dataset -> (file, columns dropped, target, time, period, id, live periods replayed)
CASES = {
    "bike_sharing": (
        "bike_sharing/hour.csv",
        ["casual", "registered"],
        "cnt",
        "dteday",
        "month",
        "instant",
        12,
    ),
    "elec2": ("elec2/elec2.csv", [], "class", "timestamp", "week", None, 8),
}


def _generated_usecase(frame: pd.DataFrame, name: str, folder: Path, case: tuple) -> Path:
    """The file ``mlops init-usecase`` writes, unedited but for the cycle report, left
    out (no part of a decision; tests/flows/test_cycle_report.py checks it)."""
    _, _, target, time, period, id_column, _ = case
    profile = profile_frame(
        frame,
        name=name,
        target=target,
        time=time,
        id_column=id_column,
        period=period,
        source_name=f"{name}.csv",
    )
    doc = yaml.safe_load(
        render_usecase_yaml(profile.mapping, source_name=f"{name}.csv", notes=profile.notes)
    )
    doc["report"] = {"cycle_report": False}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_replay_through_the_flows_decides_as_the_backtest(name, real_data_of, tmp_path):
    case = CASES[name]
    _, dropped, _, time, period, _, live_periods = case
    frame = pd.read_csv(real_data_of(name)).drop(columns=dropped)
    data = tmp_path / f"{name}.csv"
    frame.to_csv(data, index=False)
    usecase_path = _generated_usecase(frame, name, tmp_path, case)
    usecase = storage.load_usecase_file(usecase_path)
    assert usecase.data.period == period

    rows = replay(
        str(usecase_path), str(data), data_root=str(tmp_path / "home"), max_periods=live_periods
    )

    periods = sorted(set(period_index(frame[time], period, time)))  # type: ignore[arg-type]
    plan = plan_replay(
        periods, usecase.data.label_delay, usecase.retrain.holdout_periods, max_periods=live_periods
    )
    assert [r.period for r in rows] == [plan.bootstrap_periods[-1], *plan.live]
    assert all(r.validation == "pass" for r in rows[1:])
    # The backtest of the same periods (decisions at a period never read later data).
    cut = period_index(frame[time], period, time) <= plan.live[-1]  # type: ignore[arg-type]
    prepared = prepare(frame.loc[cut], usecase)
    result = run_policy(prepared, usecase, parse_policy("default"), initial_periods=plan.initial)
    live = [(r.period, r.decision, r.reason, r.promotion) for r in rows[1:]]
    replayed = [
        (
            o.period,
            o.decision.action,
            o.decision.reasons[0].code,
            o.promotion.action if o.promotion else None,
        )
        for o in result.periods
        if o.decision is not None
    ]
    labels = [period_label(p, period) for p in plan.live]  # type: ignore[arg-type]
    assert live == replayed, labels
    # The replay exercised more than one kind of decision.
    assert len({d for _, d, _, _ in live}) >= 2, live

    # Batches and labels landed as files and were handled by the live flows.
    paths = storage.UseCasePaths.for_usecase(usecase, tmp_path / "home")
    archived = sorted(p.name for p in paths.archive.glob("batch_*"))
    assert len(archived) == plan.initial + len(plan.live)
    assert archived[0] == f"batch_{short_label(plan.periods[0], period)}.csv"  # type: ignore[arg-type]


def test_the_plan_lands_labels_label_delay_periods_after_their_batch():
    plan = plan_replay([10, 11, 12, 14, 15, 16], label_delay=1, holdout_periods=1)
    assert (
        plan.initial == 3 and plan.bootstrap_periods == (10, 11, 12) and plan.live == (14, 15, 16)
    )
    assert plan.labels_due(14, [10, 11, 12]) == ()  # period 13 holds no rows
    assert plan.labels_due(15, [10, 11, 12]) == (14,)
    assert plan_replay([1, 2, 3, 4, 5], 2, 1, start=3, max_periods=1).live == (3,)
    assert plan_replay([1, 2, 3, 4, 5], 2, 1, start=3).labels_due(5, [1, 2]) == (3,)
    with pytest.raises(ReplayError, match="no earlier period"):
        plan_replay([1, 2, 3], 1, 1, start=1)
    with pytest.raises(ReplayError, match="nothing to replay"):
        plan_replay([1, 2, 3], 1, 1, start=9)
    assert parse_start("2012-03", "month") == (2012 - 1970) * 12 + 2
    assert parse_start("17", None) == 17
    with pytest.raises(ReplayError, match="--start holds 'March'"):
        parse_start("March", "month")


def test_a_replay_refuses_a_data_root_that_holds_the_use_case(tmp_path):
    from flows.demo import SHIPPED_USECASE

    usecase = storage.load_usecase_file(SHIPPED_USECASE)
    paths = storage.UseCasePaths.for_usecase(usecase, tmp_path)
    (paths.landing / "period_000.csv").write_text("x\n1\n", encoding="utf-8")
    history = tmp_path / "history.csv"
    pd.DataFrame({"period": range(12), "store": "S1", "units_sold": 1.0}).to_csv(history)
    with pytest.raises(ReplayError, match="already holds batches"):
        replay(str(SHIPPED_USECASE), str(history), data_root=str(tmp_path))

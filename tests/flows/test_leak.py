"""A target leaking into a feature through the ``monitor`` flow: never promoted, alert raised.

The upstream export gets an off-by-one join: from the first live week on,
``units_last_week`` carries this week's units sold (the target) instead of last
week's. Every batch still passes the data contract (the values are plausible
sales figures). The labels arrive two weeks later as usual. When the next
retrain comes, the challenger has learnt the leak: the promotion gate must
reject it, name the leaking column, keep the champion, and emit the
``mlops.model.leak_suspected`` event that the alert automation listens to.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows.alerts import ALERT_EVENTS
from flows.cycle import monitor
from mlops_core.records import CycleRecord
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, training_runs
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
LABEL_DELAY = 2


def _leaky_batch(period: int) -> Any:
    """The week's batch with ``units_last_week`` filled from this week's sales."""
    sold = SIM.labels(period).set_index("row_id")["units_sold"]
    batch = SIM.batch(period)
    return batch.assign(units_last_week=batch["row_id"].map(sold).astype(float))


@pytest.fixture(scope="module")
def leaked(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    """Bootstrap on clean history, then run leaky live weeks until a challenger is judged."""
    root = tmp_path_factory.mktemp("leak")
    # Refresh the champion after 5 weeks whatever happens, so that a retrain
    # comes soon after the leak; what triggers it is not under test.
    usecase, paths = bootstrapped_variant(root, SIM, {"retrain": {"max_age_periods": 5}})

    cycles = []
    for period in range(FIRST_LIVE, FIRST_LIVE + 10):
        _leaky_batch(period).to_csv(paths.landing / f"period_{period:03d}.csv", index=False)
        if period - LABEL_DELAY >= FIRST_LIVE:
            late = period - LABEL_DELAY
            SIM.labels(late).to_csv(paths.labels / f"labels_{late:03d}.csv", index=False)
        cycles.append(monitor(str(usecase), f"period_{period:03d}.csv", str(root)))
        if cycles[-1].promotion is not None:
            break
    return {"root": root, "usecase": usecase, "cycles": cycles}


def test_every_leaky_batch_passes_the_contract(leaked: dict[str, Any]) -> None:
    # The leak is not a contract breach: only the gate can catch it.
    assert all(c.validation == "pass" for c in leaked["cycles"])


def test_the_challenger_that_learnt_the_leak_is_rejected(leaked: dict[str, Any]) -> None:
    judged = leaked["cycles"][-1]
    assert judged.promotion == "reject", [c.decision for c in leaked["cycles"]]
    assert judged.champion_version == "1"
    rt = open_runtime(leaked["usecase"], str(leaked["root"]))
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    assert info is not None and info.version == "1", "the champion did not move"

    record = decision_store.read_decision_record(rt.client, judged.decision_run_id, CycleRecord)
    assert record.promotion is not None
    failed = {r.code: r for r in record.promotion.reasons if r.passed is False}
    assert "target_leak_suspected" in failed, sorted(failed)
    leak = failed["target_leak_suspected"]
    assert "units_last_week" in leak.message
    units_last_week = leak.numbers["units_last_week"]
    assert isinstance(units_last_week, int | float) and units_last_week >= 0.99
    # The honest lag it replaced correlates far less: the check is not a hair trigger.
    honest = SIM.batch(FIRST_LIVE).merge(SIM.labels(FIRST_LIVE), on="row_id")
    assert honest["units_last_week"].corr(honest["units_sold"]) < 0.95

    challenger = record.challenger_version
    tags = rt.client.get_model_version(rt.usecase.registered_model_name, challenger).tags
    assert tags.get("mlops.status") == "rejected"


def test_a_leak_raises_the_alert_event(leaked: dict[str, Any], prefect_events) -> None:
    assert "mlops.model.leak_suspected" in ALERT_EVENTS, "an automation is applied for it"
    period = leaked["cycles"][-1].period
    found = prefect_events("mlops.model.leak_suspected", lambda p: p.get("period") == period)
    assert found, "no mlops.model.leak_suspected event"
    assert "target_leak_suspected" in found[0].payload["reasons"]
    assert "units_last_week" in found[0].payload["reason"]

"""Model cards published to a real MLflow (SQLite in a temporary folder).

Two versions are trained on simulator weeks by the product's own training,
logging and evaluation steps: the first becomes champion on the floor alone,
the second is judged against it on the shared holdout. Each card is built from
what the registry and the training run hold, and published.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from flows.demo import SHIPPED_USECASE
from mlops_core.decisions import DriftSummary, PromotionDecision, TrainingWindow
from mlops_core.model_card import model_card_markdown
from mlops_core.promotion import decide_promotion
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from mlops_core.training import predict, train_model
from tasks import model_registry, steps, training_runs
from tasks.model_card import (
    DESCRIPTION_LIMIT,
    MODEL_CARD_FILE,
    card_description,
    model_card_inputs,
    publish_card_for_promotion,
    publish_model_card,
)
from tasks.runtime import Runtime, open_runtime

# slow (left out of `make test-fast`): trains and registers champions in MLflow.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))


def labeled(periods: range) -> pd.DataFrame:
    frames = [SIM.batch(p).merge(SIM.labels(p), on="row_id") for p in periods]
    pool = pd.concat(frames, ignore_index=True)
    pool["row_id"] = pool["row_id"].astype(str)
    return pool


@dataclass(frozen=True)
class Promoted:
    version: str
    run_id: str
    decision: PromotionDecision
    previous: str | None
    drift: DriftSummary | None
    card: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, Promoted, Promoted]:
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    rt = open_runtime(SHIPPED_USECASE, str(tmp_path_factory.mktemp("cards")))
    uc = rt.usecase
    name = uc.registered_model_name

    first = train_model(labeled(range(0, 8)), uc, TrainingWindow(kind="expanding", last_period=7))
    trained = steps.log_challenger.fn(rt, first, 7, "bootstrap", "-" * 64)
    decision = decide_promotion(steps.evaluate.fn(rt, first, None, seed=7), uc.promotion)
    assert decision.action == "promote", decision.reasons
    model_registry.set_champion(
        rt.client, name, trained.version, expected_current=None, reason="gate"
    )
    card = publish_card_for_promotion(
        rt.client, uc, trained.version, decision, previous_version=None, drift=None
    )
    v1 = Promoted(trained.version, trained.run_id, decision, None, None, card)

    champion = steps.load_champion.fn(rt)
    batch = SIM.batch(11)
    pred, _ = predict(champion.model, batch, uc)
    drift = steps.measure_drift.fn(rt, champion, batch, pred, seed=11)
    second = train_model(
        labeled(range(0, 11)), uc, TrainingWindow(kind="sliding", first_period=3, last_period=10)
    )
    trained = steps.log_challenger.fn(rt, second, 11, "realized_decay", "b" * 64)
    # The second version gains about 1% on the holdout (p about 0.35): a gate that takes
    # any gain at the 40% level promotes it, so its card compares two real models.
    lenient = uc.promotion.model_copy(update={"min_improvement": 0.0, "significance": 0.4})
    decision = decide_promotion(steps.evaluate.fn(rt, second, champion, seed=11), lenient)
    assert decision.action == "promote", decision.reasons
    model_registry.set_champion(
        rt.client, name, trained.version, expected_current="1", reason="gate"
    )
    card = publish_card_for_promotion(
        rt.client, uc, trained.version, decision, previous_version="1", drift=drift
    )
    v2 = Promoted(trained.version, trained.run_id, decision, "1", drift, card)
    yield rt, v1, v2
    mp.undo()


def _artifact(rt: Runtime, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        return Path(rt.client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")


@pytest.mark.parametrize("which", [1, 2], ids=["first-champion", "second-champion"])
def test_the_card_is_the_version_description_and_an_artifact_of_its_run(registry, which):
    rt, *promoted = registry
    p = promoted[which - 1]
    mv = rt.client.get_model_version(rt.usecase.registered_model_name, p.version)
    assert mv.description == card_description(p.card, p.run_id)
    assert len(mv.description) <= DESCRIPTION_LIMIT
    assert _artifact(rt, p.run_id, MODEL_CARD_FILE) == p.card


def test_the_cards_hold_the_registry_facts(registry) -> None:
    rt, v1, v2 = registry
    name = rt.usecase.registered_model_name
    for p in (v1, v2):
        info = training_runs.get_model_version_info(rt.client, name, version=p.version)
        assert f"# Model card: {name} version {p.version}" in p.card
        assert f"| training rows | {info.profile.train_rows:,} |" in p.card
        assert f"`{p.run_id}`" in p.card
        assert "metric_direction**: mae is the mean absolute error: lower is better" in p.card
    assert "| training window | periods the first to 7 (expanding window) |" in v1.card
    assert "| replaced | none (first champion) |" in v1.card
    assert "- **first_champion**:" in v1.card
    assert "| training window | periods 3 to 10 (sliding window) |" in v2.card
    assert "| replaced | version 1 |" in v2.card
    mae = v2.decision.inputs
    assert (
        f"| mae | lower is better | {mae.challenger_metric:.4g} | {mae.champion_metric:.4g} |"
        in (v2.card)
    )
    assert f"## Promotion gate: `{v2.decision.action}`" in v2.card


def test_the_card_counts_training_rows_per_store_from_the_reference_profile(registry) -> None:
    rt, v1, _ = registry
    inputs = model_card_inputs(
        rt.client, rt.usecase, v1.version, v1.decision, previous_version=None, drift=None
    )
    train = labeled(range(0, 8))
    holdout_share = inputs.promotion.inputs.holdout_rows
    assert sum(inputs.segment_rows.values()) == len(train) - holdout_share
    assert set(inputs.segment_rows) == set(train["store"])
    assert inputs.holdout_metrics.keys() == {"mae", "rmse"}
    assert inputs.promoted_at is not None and inputs.estimator_note is not None
    assert model_card_markdown(inputs) == v1.card, "the same facts give the same card"


def test_the_drift_seen_at_training_is_a_known_limit(registry) -> None:
    _, v1, v2 = registry
    # Week 11 is warmer than the first champion's winter weeks, among other changes.
    assert "temperature" in v2.drift.drifted_features
    limit = next(line for line in v2.card.splitlines() if "**drifted_at_training**" in line)
    assert all(feature in limit for feature in v2.drift.drifted_features)
    assert "drifted_at_training" not in v1.card


def test_publishing_again_replaces_the_card(registry) -> None:
    rt, v1, _ = registry
    name = rt.usecase.registered_model_name
    publish_card_for_promotion(
        rt.client, rt.usecase, v1.version, v1.decision, previous_version=None, drift=None
    )
    cards = [f.path for f in rt.client.list_artifacts(v1.run_id) if f.path == MODEL_CARD_FILE]
    assert cards == [MODEL_CARD_FILE]
    assert rt.client.get_model_version(name, v1.version).description == card_description(
        v1.card, v1.run_id
    )


def test_a_card_longer_than_a_description_is_cut_with_a_pointer(registry) -> None:
    rt, _, v2 = registry
    name = rt.usecase.registered_model_name
    long = v2.card + "\n".join(f"| extra line {i} | {'x' * 60} |" for i in range(120))
    assert len(long) > DESCRIPTION_LIMIT
    publish_model_card(rt.client, name, v2.version, v2.run_id, long)
    description = rt.client.get_model_version(name, v2.version).description
    assert len(description) <= DESCRIPTION_LIMIT
    assert description.startswith(v2.card)
    assert description.rstrip().endswith(
        f"the full card is `{MODEL_CARD_FILE}` in run `{v2.run_id}`.)"
    )
    assert _artifact(rt, v2.run_id, MODEL_CARD_FILE) == long
    publish_model_card(rt.client, name, v2.version, v2.run_id, v2.card)  # as it was


def test_an_unknown_version_has_no_card(registry) -> None:
    rt, v1, _ = registry
    with pytest.raises(LookupError, match="no version 99"):
        model_card_inputs(
            rt.client, rt.usecase, "99", v1.decision, previous_version=None, drift=None
        )


def test_the_training_run_records_the_row_budgets_and_the_rows_used(
    registry: tuple[Runtime, Promoted, Promoted],
) -> None:
    rt, first, _ = registry
    params = rt.client.get_run(first.run_id).data.params
    budget = rt.usecase.model.importance_sample_rows
    assert params["importance.sample_rows"] == str(budget)
    assert params["importance.rows"] == str(min(int(params["holdout_rows"]), budget))
    budget = rt.usecase.model.train_sample_rows
    assert params["training.sample_rows"] == str(budget)
    assert params["training.rows"] == str(min(int(params["train_rows"]), budget))
    budget = rt.usecase.model.estimator_sample_rows
    assert params["estimator.sample_rows"] == str(budget)
    assert params["estimator.rows"] == str(min(int(params["holdout_rows"]), budget))
    assert rt.usecase.model.train_sample_half_life_periods is None
    assert params["training.sample_half_life_periods"] == "none: every period at the same rate"

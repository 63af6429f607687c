"""The segment_history_cap guardrail runs live: the champion's caps come with its profile.

A champion's training profile keeps the highest target per segment of its
training rows (``ModelProfile.segment_caps``), and ``steps.score`` (what
``monitor`` and ``score_batch`` run) hands them to the guardrails with the
batch's segment column. A champion logged before profiles kept caps scores as
before: the rule says it could not run.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import UseCase
from mlops_core.features import build_pipeline, model_input, training_ranges
from mlops_core.reasons import ReasonCode
from tasks import steps
from tasks.training_runs import ModelProfile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def usecase(shop_usecase: Callable[..., UseCase]) -> UseCase:
    shop = shop_usecase()
    policy = shop.guardrails.model_validate(
        {
            "rules": [{"kind": "segment_history_cap", "multiple": 1.5, "action": "quarantine"}],
            "max_violation_rate": 1.0,
        }
    )
    return shop.model_copy(update={"guardrails": policy})


def _champion(usecase: UseCase, shop_batch: Callable[..., pd.DataFrame], *, caps: bool) -> object:
    train = shop_batch(2_000, seed=1)
    train["sales"] = 0.5 * train["price"] + np.where(train["store"] == "s1", 20.0, 0.0)
    model = build_pipeline(usecase).fit(model_input(train, usecase), train["sales"].to_numpy())
    profile = SimpleNamespace(
        training_ranges=training_ranges(train, usecase),
        segment_caps=steps.segment_caps(usecase, train) if caps else None,
    )
    return SimpleNamespace(model=model, usecase=usecase, info=SimpleNamespace(profile=profile))


def test_the_caps_travel_with_the_training_profile(
    usecase: UseCase, shop_batch: Callable[..., pd.DataFrame]
) -> None:
    champion = _champion(usecase, shop_batch, caps=True)
    caps = champion.info.profile.segment_caps  # type: ignore[attr-defined]
    assert set(caps) == {"s1", "s2", "s3"} and caps["s1"] > caps["s2"]
    stored = ModelProfile(
        metric="mae",
        reference_metric=1.0,
        trained_first_period=None,
        trained_last_period=7,
        train_rows=2_000,
        importance={},
        training_ranges={},
        feature_names=(),
        estimator="sklearn.linear_model.Ridge",
        decay_reference_metric=1.0,
        decay_reference_basis="holdout",
        segment_caps=caps,
    )
    assert ModelProfile.from_json(stored.to_json()).segment_caps == caps
    # A profile written before it kept caps reads as None.
    old = stored.to_json().replace('"segment_caps"', '"ignored_caps"')
    assert ModelProfile.from_json(old).segment_caps is None


def test_a_live_prediction_above_its_segment_cap_is_held(
    usecase: UseCase, shop_batch: Callable[..., pd.DataFrame]
) -> None:
    champion = _champion(usecase, shop_batch, caps=True)
    batch = shop_batch(300, seed=2)
    batch.loc[[4, 250], "price"] = 1_000.0  # far above any week the stores sold
    guarded, _ = steps.score.fn(SimpleNamespace(usecase=usecase), batch, champion)

    assert list(np.flatnonzero(guarded.held)) == [4, 250]
    assert guarded.violations[4] == "segment_history_cap:quarantine"
    codes = [r.code for r in guarded.summary.reasons]
    assert ReasonCode.SEGMENT_CAPS_UNAVAILABLE not in codes


def test_a_champion_without_caps_says_the_rule_could_not_run(
    usecase: UseCase, shop_batch: Callable[..., pd.DataFrame]
) -> None:
    champion = _champion(usecase, shop_batch, caps=False)
    batch = shop_batch(300, seed=2)
    batch.loc[[4, 250], "price"] = 1_000.0
    guarded, _ = steps.score.fn(SimpleNamespace(usecase=usecase), batch, champion)

    assert not guarded.held.any()
    codes = [r.code for r in guarded.summary.reasons]
    assert ReasonCode.SEGMENT_CAPS_UNAVAILABLE in codes

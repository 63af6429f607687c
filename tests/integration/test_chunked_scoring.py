"""A batch scored chunk by chunk writes what the batch scored whole writes.

The shop's model scores a batch held whole (``apply_guardrails`` and the files
``write_scored`` writes, rebuilt here from the same pieces the cycle uses) and
the same batch in uneven chunks (``score_in_chunks``). Read back, the
predictions file and the review file are equal frames, and the guardrail
summaries are equal, in three cases: rows held by a rule, an input column out of
range on a share of the whole batch that no single chunk decides alone (a batch
finding), and a circuit breaker tripped by the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import UseCase
from mlops_core.features import build_pipeline, model_input, training_ranges
from mlops_core.guardrails import apply_guardrails
from mlops_core.training import predict
from tasks.chunked_scoring import ScoredInChunks, score_in_chunks

pytestmark = pytest.mark.integration

ROWS = 3_000
CUTS = [0, 1, 1_000, 1_000, 2_500, ROWS]


def _usecase(shop_usecase: Callable[..., UseCase], breaker: float) -> UseCase:
    usecase = shop_usecase()
    policy = usecase.guardrails.model_validate(
        {
            "rules": [
                {"kind": "range", "min": 0, "max": 60, "action": "quarantine"},
                {"kind": "input_out_of_range", "action": "flag", "batch_share": 0.2},
                {"kind": "finite", "action": "quarantine"},
            ],
            "max_violation_rate": breaker,
        }
    )
    return usecase.model_copy(update={"guardrails": policy})


def _model(usecase: UseCase, shop_batch: Callable[..., pd.DataFrame]) -> tuple[Any, dict]:
    train = shop_batch(2_000, seed=1)
    target = 0.4 * train["price"] + np.where(train["promo"], 5.0, 0.0)
    model = build_pipeline(usecase).fit(model_input(train, usecase), target.to_numpy())
    return model, training_ranges(train, usecase)


def _scored_whole(
    batch: pd.DataFrame, model: Any, usecase: UseCase, ranges: dict
) -> tuple[pd.DataFrame, pd.DataFrame | None, Any]:
    """What ``steps.score`` and ``steps.write_scored`` make of the batch held whole."""
    predicted, _ = predict(model, batch, usecase)
    guarded = apply_guardrails(predicted, batch, usecase.guardrails, ranges)
    out = batch[["id", "week", "store"]].copy()
    out["prediction"] = guarded.values
    out["raw_prediction"] = guarded.raw
    out["flagged"] = guarded.flagged
    out["violations"] = list(guarded.violations)
    out["model_version"] = "3"
    out["batch_sha256"] = "abc"
    held = np.asarray(guarded.held, dtype=bool)
    review = None
    if held.any():
        review = batch.loc[held].copy()
        review["raw_prediction"] = guarded.raw[held]
        review["proposed_prediction"] = guarded.values[held]
        review["violations"] = [v for v, h in zip(guarded.violations, held, strict=True) if h]
        review["review_status"] = "pending"
        review["model_version"] = "3"
    return out.loc[~held].reset_index(drop=True), review, guarded.summary


def _score(
    pieces: list[pd.DataFrame], model: Any, usecase: UseCase, ranges: dict, folder: Path
) -> ScoredInChunks:
    """``score_in_chunks`` of the chunks ``pieces``, its files and work folder in ``folder``."""
    return score_in_chunks(
        lambda: iter(pieces),
        model,
        usecase,
        usecase,
        ranges,
        batch="week-7.parquet",
        batch_sha256="abc",
        champion_version="3",
        folders=(folder / "predictions", folder / "review"),
        work=folder / "work",
    )


def _batch(case: str, shop_batch: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    batch = shop_batch(ROWS, seed=2)
    batch.loc[[5, 2_900], "price"] = 400.0  # two predictions above the range: held
    if case == "finding":
        # temp out of its training range on 25% of the rows, all in the last chunk:
        # a finding for the batch (over batch_share), so those rows are not flagged.
        batch.loc[2_250:, "temp"] = 80.0
    return batch


@pytest.mark.parametrize(
    ("case", "breaker"), [("held", 1.0), ("finding", 1.0), ("breaker", 0.0005)]
)
def test_chunks_write_what_the_whole_batch_writes(
    case: str,
    breaker: float,
    tmp_path: Path,
    shop_usecase: Callable[..., UseCase],
    shop_batch: Callable[..., pd.DataFrame],
) -> None:
    usecase = _usecase(shop_usecase, breaker)
    model, ranges = _model(usecase, shop_batch)
    batch = _batch(case, shop_batch)
    pieces = [batch.iloc[a:b] for a, b in zip(CUTS, CUTS[1:], strict=False)]
    out, review, summary = _scored_whole(batch, model, usecase, ranges)

    scored = _score(pieces, model, usecase, ranges, tmp_path)

    assert scored.rows == ROWS and scored.summary == summary
    pd.testing.assert_frame_equal(pd.read_parquet(scored.predictions), out)
    assert review is not None and scored.review is not None
    pd.testing.assert_frame_equal(pd.read_parquet(scored.review), review.reset_index(drop=True))
    assert not (tmp_path / "work").exists()
    # The cases are what they say.
    assert bool(summary.findings) == (case == "finding")
    assert summary.breaker_tripped == (case == "breaker")
    if case == "finding":
        assert not out["flagged"].any()  # the finding's rows are not flagged one by one


def test_a_classifier_in_chunks_writes_its_labels_and_probabilities_as_whole(
    tmp_path: Path,
    shop_usecase: Callable[..., UseCase],
    shop_batch: Callable[..., pd.DataFrame],
) -> None:
    # Class labels are judged on missing labels and inputs only; the positive
    # class's probability is stored beside each label.
    regression = _usecase(shop_usecase, 1.0)
    policy = regression.guardrails.model_validate(
        {"rules": [{"kind": "input_out_of_range", "action": "quarantine"}]}
    )
    usecase = regression.model_copy(
        update={
            "model": regression.model.model_copy(
                update={
                    "task": "classification",
                    "estimator": "sklearn.linear_model.LogisticRegression",
                }
            ),
            "guardrails": policy,
        }
    )
    train = shop_batch(2_000, seed=1)
    target = np.where(train["price"] > 50, "high", "low")
    model = build_pipeline(usecase).fit(model_input(train, usecase), target)
    ranges = training_ranges(train, usecase)
    batch = shop_batch(ROWS, seed=2)
    batch.loc[[10, 2_990], "temp"] = 90.0  # held, in different chunks: inputs out of range
    predicted, probability = predict(model, batch, usecase)
    whole = apply_guardrails(predicted, batch, policy, ranges)

    scored = _score([batch.iloc[:1_000], batch.iloc[1_000:]], model, usecase, ranges, tmp_path)

    assert scored.summary == whole.summary
    written = pd.read_parquet(scored.predictions)
    kept = ~whole.held
    assert written["prediction"].tolist() == list(predicted[kept])
    np.testing.assert_array_equal(written["raw_probability"].to_numpy(), probability[kept])
    held = pd.read_parquet(scored.review)
    assert {10, 2_990} <= set(held["id"])
    assert held["id"].tolist() == batch.loc[whole.held, "id"].tolist()
    np.testing.assert_array_equal(held["raw_probability"].to_numpy(), probability[whole.held])


def test_a_column_typed_differently_by_chunks_takes_its_widest_type(
    tmp_path: Path,
    shop_usecase: Callable[..., UseCase],
    shop_batch: Callable[..., pd.DataFrame],
) -> None:
    # A CSV chunk with a gap in a whole-number column reads it as floats; the
    # others as integers. The file holds floats, as the whole batch would.
    usecase = _usecase(shop_usecase, 1.0)
    model, ranges = _model(usecase, shop_batch)
    batch = shop_batch(ROWS, seed=2)
    first = batch.iloc[:1_000]
    second = batch.iloc[1_000:].astype({"id": "float64"})
    scored = _score([first, second], model, usecase, ranges, tmp_path)
    written = pd.read_parquet(scored.predictions)
    assert written["id"].dtype == np.float64
    assert written["id"].tolist() == [float(i) for i in range(ROWS)]
    assert scored.review is None
